//! HTTP handlers: thin wrappers that call [`crate::domain`] and map its errors to status codes.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::domain::{self, NewOrder, ShopError};

impl IntoResponse for ShopError {
    fn into_response(self) -> Response {
        let status = match self {
            ShopError::NotFound(_) => StatusCode::NOT_FOUND,
            ShopError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ShopError::Upstream(_) => StatusCode::BAD_GATEWAY,
        };
        (status, self.to_string()).into_response()
    }
}

/// Every route, with `SpyglassLayer` added last (after the routes and the fallback).
pub(crate) fn router() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/health", get(|| async { "ok" }))
        .route("/users/{id}", get(user))
        .route("/users/{id}/orders", get(orders))
        .route("/orders", post(create_order))
        .route("/search", get(search))
        .route("/reports/slow", get(slow))
        .route("/slow", get(slow))
        .route("/error", get(error))
        .route("/panic", get(panic))
        .layer(spyglass::axum::SpyglassLayer::new())
}

async fn index() -> &'static str {
    "Spyglass example shop. The dashboard is at /_spyglass\n"
}

async fn user(Path(id): Path<u64>) -> Result<Json<domain::User>, ShopError> {
    domain::load_user(id).await.map(Json)
}

async fn orders(Path(id): Path<u64>) -> Result<Json<Vec<domain::Order>>, ShopError> {
    let user = domain::load_user(id).await?;
    Ok(Json(domain::load_orders(&user).await))
}

async fn create_order(
    Json(new): Json<NewOrder>,
) -> Result<(StatusCode, Json<domain::Order>), ShopError> {
    domain::place_order(new)
        .await
        .map(|o| (StatusCode::CREATED, Json(o)))
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

async fn search(Query(q): Query<SearchQuery>) -> Json<Vec<(&'static str, u32)>> {
    Json(domain::rank(q.q.as_deref().unwrap_or("")))
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
    // Slot 9 does not exist: indexing panics, SpyglassLayer answers 500 and records the message.
    format!("slot {}", domain::inventory_slot(9))
}
