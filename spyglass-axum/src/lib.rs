//! Spyglass tower Layer/Service for axum and any tower HTTP service
//!
//! Not yet built: see the open issue for this crate.
