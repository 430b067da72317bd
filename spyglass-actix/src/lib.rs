//! Spyglass actix-web middleware
//!
//! Not yet built: see the open issue for this crate.
