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
//! # Where `.wrap()` goes
//!
//! Anywhere on the `App`: actix applies `App::wrap` to the whole app, routes and default service
//! alike, whatever the order of `.route()` and `.wrap()` calls. Wrap the `App` (not a `Scope` or
//! `Resource`) so that requests matching no route are recorded as `<unmatched>` and `/_spyglass` is
//! answered. With several middlewares, the one added last runs first: add `Spyglass` last to time
//! the others too.
//!
//! # What is recorded
//!
//! - The route is actix's `match_pattern()` (`/users/{id}`, never the raw path), read after routing,
//!   so paths rewritten by an inner middleware (`NormalizePath`) and resources chosen by guards are
//!   named as routed; requests that match no resource share the route `<unmatched>`. A request
//!   routed to an excluded route is not recorded (see [`Spyglass::exclude`]).
//! - The duration runs until the response body has been sent (or dropped), so streamed bodies count
//!   whole. An upgrade (`101 Switching Protocols`, e.g. a WebSocket handshake) is recorded at its
//!   response head, with no bytes out: its body is the upgraded connection's, for the whole
//!   session.
//! - Bytes in: the declared `Content-Length` when the request has one (actix's decoder holds the
//!   body to exactly that length, as hyper does for the axum layer), none when the request has no
//!   body; for bodies of unknown length (chunked uploads, HTTP/2 bodies without `Content-Length`)
//!   the payload is counted as the handler reads it, never buffered. Bytes out are counted as body
//!   chunks pass, none for `HEAD` (whose body is not sent).
//! - A request is an error when its status is 5xx or its handler panicked. The error text of a 5xx
//!   is that of the error it was made from: a handler's or extractor's `Err` (its
//!   `ResponseError`'s `Display`), an inner middleware's `Err`, or a panic. A panic becomes a `500`
//!   with the request's `traceparent`, the panic message is recorded as the error, and the worker
//!   keeps serving. (actix needs the request to build a response, and a panicking handler takes it
//!   down with it, so the 500 travels as an `actix_web::Error` the server turns into the response;
//!   middlewares wrapped *around* `Spyglass` see an `Err`.) A response body that panics while
//!   streaming is cut short (actix drops the connection) and recorded with the panic as its error.
//! - Handlers run inside the request's trace context, so `#[spyglass::instrument]`ed functions and
//!   database queries nest under the request. An incoming `traceparent` continues its trace; a
//!   malformed one starts a new trace. Every recorded response carries a `traceparent` header.
//!
//! # Access to the dashboard
//!
//! Loopback peers may open it; others need `SPYGLASS_DASHBOARD_TOKEN` (see
//! [`spyglass_dashboard`]). The peer address is actix's `peer_addr()`, the socket's. A loopback
//! peer is exempt from the token only when its request names the server as `localhost` or by an IP
//! address (a page of another site whose DNS name was rebound to 127.0.0.1 is not) and carries no
//! proxy's forwarding header (`Forwarded`, `X-Forwarded-*`, `X-Real-IP`, `Via`, …). Behind a
//! reverse proxy on the same host every request comes from the proxy's loopback address: set the
//! token and have the proxy send `X-Forwarded-For`, or keep it from forwarding `/_spyglass`; a proxy
//! that sends none of these headers (nginx's plain `proxy_pass`) makes every visitor local. The
//! axum guide (`docs/axum.md`, "Access to the dashboard") lists the headers.
//! `SPYGLASS_DASHBOARD=off` (or [`Spyglass::dashboard`]`(false)`) lets `/_spyglass` through to the
//! application. The dashboard's own traffic is not recorded. `/_spyglass/metrics` serves the
//! Prometheus exposition when the Prometheus exporter is enabled (`SPYGLASS_PROMETHEUS=1`).
//!
//! # Cost
//!
//! No boxed future and no lock per request: the response future and body are `pin-project-lite`
//! wrappers, route names are interned per worker thread, and the response's `traceparent` value is
//! cut from a per-thread buffer. actix's `match_pattern()` builds the route as a `String`: one
//! allocation per request, freed at once (`tests/allocations.rs` counts). Exclusions add none to
//! the other routes' requests (see [`Spyglass::exclude`]). A body of unknown length (a chunked
//! upload, or an HTTP/2 body without `Content-Length`) adds two for the payload counter (actix
//! takes payload streams boxed); an HTTP/2 request without a body (a GET) adds none.

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod middleware;

pub use middleware::{
    DefaultOnRequest, DefaultOnResponse, OnRequest, OnResponse, ResponseBody, ResponseFuture,
    Spyglass, SpyglassMiddleware,
};
pub use spyglass_dashboard as dashboard;

/// The route recorded for requests that match no route (actix's default service).
pub const UNMATCHED: &str = "<unmatched>";
