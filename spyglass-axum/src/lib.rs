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
//! # Where `.layer()` goes
//!
//! axum applies `Router::layer` to the routes and the fallback that exist *when it is called*. Put
//! `.layer(SpyglassLayer::new())` last, after every `.route()`, `.nest()`, `.merge()` and
//! `.fallback()`:
//!
//! - routes added after it are not recorded;
//! - a `.fallback()` added after it replaces the wrapped fallback, so requests that match no route are
//!   not recorded as `<unmatched>` and **`/_spyglass` answers 404** (the dashboard is served through the
//!   fallback, since no route of the application matches it). A 404 at `/_spyglass` therefore always
//!   means "the layer was added too early".
//!
//! The layer also works around a whole service, independent of order:
//! `tower::ServiceBuilder::new().layer(SpyglassLayer::new()).service(router)` (then the route
//! template comes from `MatchedPath` only when an inner axum `Router` inserts it, so prefer
//! `Router::layer`).
//!
//! # Access to the dashboard
//!
//! Loopback peers may open it; others need `SPYGLASS_DASHBOARD_TOKEN` (see
//! [`spyglass_dashboard`]). The peer address comes from axum's `ConnectInfo<SocketAddr>` (or a plain
//! `SocketAddr` request extension); without it every peer counts as non-loopback and the dashboard
//! answers 403 with a message saying so. `SPYGLASS_DASHBOARD=off` lets `/_spyglass` through to the
//! application.
//!
//! # Cost
//!
//! No boxed future and no lock per request: the response future and body are
//! `pin-project-lite` wrappers, route names are interned per thread, and the response's
//! `traceparent` header value is cut from a per-thread shared buffer. Driven directly as a tower
//! `Service` the layer allocates nothing per request. Under axum's `Router::layer` it costs one
//! allocation more than a no-op layer: axum boxes the wrapped response body (and any layer costs
//! axum two: it boxes the cloned service and its future). `tests/allocations.rs` counts both over
//! real loopback HTTP.
//!
//! Request bytes are taken from the request body's exact size (its `Content-Length`, which hyper
//! enforces frame by frame) so the request body type is left alone; for chunked uploads of unknown
//! length the count is the body's lower size bound. Response bytes are counted as frames pass.

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod middleware;

pub use middleware::{
    DefaultOnRequest, DefaultOnResponse, OnRequest, OnResponse, ResponseBody, ResponseFuture,
    Spyglass, SpyglassLayer,
};
pub use spyglass_dashboard as dashboard;

/// The route recorded for requests that match no route (axum's fallback).
pub const UNMATCHED: &str = "<unmatched>";
