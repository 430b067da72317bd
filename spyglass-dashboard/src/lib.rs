//! Framework-agnostic Spyglass dashboard: embedded assets, JSON API, live stream
//!
//! Not yet built: see the open issue for this crate.
