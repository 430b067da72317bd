//! The in-process app of `benches/middleware.rs` and `benches/interleaved.rs`: one route with a
//! path extractor and a formatted answer, and one request of it served with its body sent to the
//! end.

use std::future::poll_fn;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use actix_web::web;

/// The app's routes.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/users/{id}",
        web::get().to(|id: web::Path<u64>| async move {
            let id = id.into_inner();
            format!(r#"{{"id":{id},"name":"user-{id}"}}"#)
        }),
    )
    .route("/health", web::get().to(|| async { "ok" }));
}

/// Serves `GET /users/42` on `app`, its body sent to the end.
pub(crate) async fn one<S, B>(app: &S)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let resp = app
        .call(TestRequest::get().uri("/users/42").to_request())
        .await
        .expect("the app answers");
    let mut body = std::pin::pin!(resp.into_body());
    while let Some(chunk) = poll_fn(|cx| body.as_mut().poll_next(cx)).await {
        std::hint::black_box(chunk.is_ok());
    }
}
