//! The HTTP behaviour suite shared by the axum and actix adapters (being built: issue 3).
