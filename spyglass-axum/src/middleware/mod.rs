//! The middleware: [`SpyglassLayer`] → [`Spyglass`] → [`ResponseFuture`] → [`ResponseBody`].
//!
//! # Example
//!
//! ```
//! use axum::{routing::get, Router};
//! use spyglass_axum::SpyglassLayer;
//!
//! let sg = spyglass_core::Spyglass::builder().build().unwrap();
//! let app: Router = Router::new()
//!     .route("/health", get(|| async { "ok" }))
//!     .route("/users/{id}", get(|| async { "user" }))
//!     .layer(
//!         SpyglassLayer::with_instance(sg)
//!             .exclude(["/health"])
//!             .sample(0.25)
//!             .on_response(|res: &http::Response<_>, latency: std::time::Duration, _ctx: &spyglass_core::TraceContext| {
//!                 if latency.as_secs() > 1 {
//!                     eprintln!("slow response: {}", res.status());
//!                 }
//!             }),
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
