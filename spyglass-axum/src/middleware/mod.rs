//! The middleware: [`SpyglassLayer`] → [`Spyglass`] → [`ResponseFuture`] → [`ResponseBody`].
//!
//! # Example
//!
//! ```
//! use axum::body::Body;
//! use axum::{routing::get, Router};
//! use http::{Request, Response};
//! use spyglass_axum::SpyglassLayer;
//! use spyglass_core::{Labels, TraceContext};
//!
//! let sg = spyglass_core::Spyglass::builder().build().unwrap();
//! let app: Router = Router::new()
//!     .route("/health", get(|| async { "ok" }))
//!     .route("/users/{id}", get(|| async { "user" }))
//!     .layer(
//!         SpyglassLayer::with_instance(sg)
//!             .exclude(["/health"])
//!             .sample(0.25)
//!             // Labels travel with the request's event: JSONL, OTLP, console, dashboard.
//!             .on_request(|req: &Request<Body>, _: &TraceContext, labels: &mut Labels| {
//!                 if let Some(t) = req.headers().get("x-tenant").and_then(|v| v.to_str().ok()) {
//!                     labels.insert("tenant", t.to_owned());
//!                 }
//!             })
//!             .on_response(
//!                 |res: &Response<Body>, latency: std::time::Duration, _: &TraceContext, labels: &mut Labels| {
//!                     if let Some(c) = res.headers().get("x-cache") {
//!                         labels.insert("cache", if c == "hit" { "hit" } else { "miss" });
//!                     }
//!                     if latency.as_secs() > 1 {
//!                         eprintln!("slow response: {}", res.status());
//!                     }
//!                 },
//!             ),
//!     );
//! # drop(app);
//! ```

mod body;
mod future;
mod hooks;
mod layer;
mod record;
mod service;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use hooks::{DefaultOnRequest, DefaultOnResponse, OnRequest, OnResponse};
pub use layer::SpyglassLayer;
pub use service::Spyglass;
