//! Spyglass for axum and any tower HTTP service: a [`SpyglassLayer`] that records every request
//! (method, route template, status, duration until the body is sent, bytes in and out), turns handler
//! panics into 500s, carries the W3C trace context in and out, and serves the live dashboard at
//! `/_spyglass`.
//!
//! # Example
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use axum::{routing::get, Router};
//! use spyglass_axum::SpyglassLayer;
//!
//! #[spyglass::instrument]
//! async fn load_user(id: u64) -> String {
//!     format!("user {id}")
//! }
//!
//! async fn user(axum::extract::Path(id): axum::extract::Path<u64>) -> String {
//!     load_user(id).await // recorded as a child span of the request
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let app = Router::new()
//!     .route("/users/{id}", get(user))
//!     .layer(SpyglassLayer::new()); // last: after every route and the fallback
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! // Connect info tells the dashboard who is asking: loopback peers may open it.
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
//! # }
//! ```
//!
//! Then open <http://127.0.0.1:3000/_spyglass>.
//!
#![doc = include_str!("../../docs/axum.md")]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod middleware;

pub use middleware::{
    DefaultOnRequest, DefaultOnResponse, OnRequest, OnResponse, ResponseBody, ResponseFuture,
    Spyglass, SpyglassLayer,
};
pub use spyglass_dashboard as dashboard;

/// The route recorded for requests that match no route (axum's fallback).
pub const UNMATCHED: &str = "<unmatched>";
