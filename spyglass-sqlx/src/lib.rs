//! Spyglass sqlx query instrumentation
//!
//! Not yet built: see the open issue for this crate.
