//! The middleware: [`Spyglass`] (`Transform`) → [`SpyglassMiddleware`] (`Service`) →
//! [`ResponseFuture`] → [`ResponseBody`].
//!
//! # Example
//!
//! ```
//! use actix_web::{web, App, HttpResponse};
//! use spyglass_actix::Spyglass;
//!
//! let sg = spyglass_core::Spyglass::builder().build().unwrap();
//! let app = App::new()
//!     .route("/health", web::get().to(HttpResponse::Ok))
//!     .route("/users/{id}", web::get().to(|| async { "user" }))
//!     .wrap(
//!         Spyglass::with_instance(sg)
//!             .exclude(["/health"])
//!             .sample(0.25)
//!             .on_response(
//!                 |res: &actix_web::dev::ServiceResponse<_>,
//!                  latency: std::time::Duration,
//!                  _ctx: &spyglass_core::TraceContext| {
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
