//! The middleware: [`Spyglass`] (`Transform`) → [`SpyglassMiddleware`] (`Service`) →
//! [`ResponseFuture`] → [`ResponseBody`]. Its options, with an example, are in the crate docs
//! (`docs/actix.md`, "Options").

mod body;
mod dashboard;
mod future;
mod header;
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
