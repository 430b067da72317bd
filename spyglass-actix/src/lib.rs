//! Spyglass for actix-web: a [`Spyglass`] middleware that records every request (method, route
//! template, status, duration until the body is sent, bytes in and out), turns handler panics into
//! 500s, carries the W3C trace context in and out, and serves the live dashboard at `/_spyglass` —
//! the same dashboard, stats and exporters as the axum layer.
//!
//! # Example
//!
//! ```no_run
//! use actix_web::{web, App, HttpServer};
//! use spyglass_actix::Spyglass;
//!
//! #[spyglass::instrument]
//! async fn load_user(id: u64) -> String {
//!     format!("user {id}")
//! }
//!
//! async fn user(id: web::Path<u64>) -> String {
//!     load_user(id.into_inner()).await // recorded as a child span of the request
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! HttpServer::new(|| {
//!     App::new()
//!         .route("/users/{id}", web::get().to(user))
//!         .wrap(Spyglass::new())
//! })
//! .bind(("127.0.0.1", 8080))?
//! .run()
//! .await
//! # }
//! ```
//!
//! Then open <http://127.0.0.1:8080/_spyglass>.
//!
#![doc = include_str!("../../docs/actix.md")]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod middleware;

pub use middleware::{
    DefaultOnRequest, DefaultOnResponse, OnRequest, OnResponse, ResponseBody, ResponseFuture,
    Spyglass, SpyglassMiddleware,
};
pub use spyglass_dashboard as dashboard;

/// The route recorded for requests that match no route (actix's default service).
pub const UNMATCHED: &str = "<unmatched>";
