//! Serving `/_spyglass` from the framework-agnostic [`spyglass_dashboard`] crate: the actix request is
//! described to [`Dashboard::handle`] and its answer written back. No dashboard logic lives here.
//!
//! actix-web 4 is built on `http` 0.2 while the dashboard speaks `http` 1, so method, headers and
//! status are carried over by their wire form (only on dashboard requests, never on the app's).

use actix_web::body::BoxBody;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use spyglass_core::Spyglass;
use spyglass_dashboard::{Dashboard, DashboardBody, DashboardRequest};

/// Answers a dashboard request; `sub` is the path below `/_spyglass`.
pub(crate) fn answer(
    sg: &Spyglass,
    req: &actix_web::dev::ServiceRequest,
    sub: &str,
) -> HttpResponse {
    let method =
        http::Method::from_bytes(req.method().as_str().as_bytes()).unwrap_or(http::Method::GET);
    let mut headers = http::HeaderMap::with_capacity(req.headers().len());
    for (name, value) in req.headers() {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(n, v);
        }
    }
    let query = req.query_string();
    let resp = Dashboard::new(sg.clone()).handle(DashboardRequest {
        method: &method,
        path: sub,
        query: (!query.is_empty()).then_some(query),
        headers: &headers,
        authority: req.uri().authority().map(|a| a.as_str()),
        peer: req.peer_addr(),
    });
    let status =
        StatusCode::from_u16(resp.status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = HttpResponse::build(status);
    for (name, value) in &resp.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            out.append_header((n, v));
        }
    }
    match resp.body {
        DashboardBody::Full(b) => out.body(b.unwrap_or_default()),
        stream @ DashboardBody::Stream(_) => {
            out.body(BoxBody::new(actix_web::body::BodyStream::new(stream)))
        }
    }
}
