//! The middleware: [`Spyglass`] (`Transform`) → [`SpyglassMiddleware`] (`Service`) →
//! [`ResponseFuture`] → [`ResponseBody`].
//!
//! # Example
//!
//! ```
//! use actix_web::dev::{ServiceRequest, ServiceResponse};
//! use actix_web::{web, App, HttpResponse};
//! use spyglass_actix::Spyglass;
//! use spyglass_core::{Labels, TraceContext};
//!
//! let sg = spyglass_core::Spyglass::builder().build().unwrap();
//! let app = App::new()
//!     .route("/health", web::get().to(HttpResponse::Ok))
//!     .route("/users/{id}", web::get().to(|| async { "user" }))
//!     .wrap(
//!         Spyglass::with_instance(sg)
//!             .exclude(["/health"])
//!             .sample(0.25)
//!             // Labels travel with the request's event: JSONL, OTLP, console, dashboard.
//!             .on_request(|req: &ServiceRequest, _: &TraceContext, labels: &mut Labels| {
//!                 if let Some(t) = req.headers().get("x-tenant").and_then(|v| v.to_str().ok()) {
//!                     labels.insert("tenant", t.to_owned());
//!                 }
//!             })
//!             .on_response(
//!                 |res: &ServiceResponse<_>,
//!                  latency: std::time::Duration,
//!                  _: &TraceContext,
//!                  labels: &mut Labels| {
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
mod dashboard;
mod future;
mod hooks;
mod payload;
mod record;
mod service;
mod transform;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use hooks::{DefaultOnRequest, DefaultOnResponse, OnRequest, OnResponse};
pub use service::SpyglassMiddleware;
pub use transform::Spyglass;
