//! HTTP handlers: thin wrappers that call [`crate::domain`] and map its errors to status codes. The
//! same routes as the axum example's `routes.rs`.

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, ResponseError};
use serde::Deserialize;

use crate::domain::{self, NewOrder, ShopError};

impl ResponseError for ShopError {
    fn status_code(&self) -> StatusCode {
        match self {
            ShopError::NotFound(_) => StatusCode::NOT_FOUND,
            ShopError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ShopError::Upstream(_) => StatusCode::BAD_GATEWAY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .content_type("text/plain; charset=utf-8")
            .body(self.to_string())
    }
}

/// Every route, wrapped in the Spyglass middleware.
pub(crate) fn app() -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .route("/", web::get().to(index))
        .route("/health", web::get().to(|| async { "ok" }))
        .route("/users/{id}", web::get().to(user))
        .route("/users/{id}/orders", web::get().to(orders))
        .route("/orders", web::post().to(create_order))
        .route("/search", web::get().to(search))
        .route("/reports/slow", web::get().to(slow))
        .route("/slow", web::get().to(slow))
        .route("/error", web::get().to(error))
        .route("/panic", web::get().to(panic))
        .wrap(spyglass::actix::Spyglass::new())
}

async fn index() -> &'static str {
    "Spyglass example shop (actix-web). The dashboard is at /_spyglass\n"
}

async fn user(id: web::Path<u64>) -> Result<web::Json<domain::User>, ShopError> {
    domain::load_user(id.into_inner()).await.map(web::Json)
}

async fn orders(id: web::Path<u64>) -> Result<web::Json<Vec<domain::Order>>, ShopError> {
    let user = domain::load_user(id.into_inner()).await?;
    Ok(web::Json(domain::load_orders(&user).await))
}

async fn create_order(new: web::Json<NewOrder>) -> Result<HttpResponse, ShopError> {
    let order = domain::place_order(new.into_inner()).await?;
    Ok(HttpResponse::Created().json(order))
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

async fn search(q: web::Query<SearchQuery>) -> web::Json<Vec<(&'static str, u32)>> {
    web::Json(domain::rank(q.q.as_deref().unwrap_or("")))
}

async fn slow() -> String {
    format!("report with {} rows\n", domain::build_report().await)
}

async fn error() -> Result<&'static str, ShopError> {
    // A failing dependency: 502 is a server error, so it counts in the error rate.
    Err(ShopError::Upstream(
        "upstream inventory service unavailable".into(),
    ))
}

async fn panic() -> String {
    // Slot 9 does not exist: indexing panics, the middleware answers 500 and records the message.
    format!("slot {}", domain::inventory_slot(9))
}
