//! HTTP handlers: thin wrappers that call [`crate::store`] (the SQLite-backed data) and
//! [`crate::domain`] (the business logic), and map their errors to status codes.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::domain::{self, NewOrder, ShopError};
use crate::store::{self, NewUser, RegisterError, Store};

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

impl IntoResponse for RegisterError {
    fn into_response(self) -> Response {
        match self {
            RegisterError::Taken(_) => (StatusCode::CONFLICT, self.to_string()).into_response(),
            RegisterError::Shop(e) => e.into_response(),
        }
    }
}

/// Every route, with `SpyglassLayer` added last (after the routes and the fallback), labelling each
/// request with its tenant.
pub(crate) fn router(store: Store) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/health", get(|| async { "ok" }))
        .route("/users/{id}", get(user))
        .route("/users/{id}/orders", get(orders))
        .route("/users", post(create_user))
        .route("/orders", get(recent_orders).post(create_order))
        .route("/search", get(search))
        .route("/reports/slow", get(slow))
        .route("/slow", get(slow))
        .route("/error", get(error))
        .route("/panic", get(panic))
        .with_state(store)
        .layer(spyglass::axum::SpyglassLayer::new().on_request(label_tenant))
}

/// Labels each request with its tenant, from the `x-tenant` header: the label shows with the
/// request on the dashboard (errors, request detail) and in every export.
fn label_tenant(req: &Request<Body>, _: &spyglass::TraceContext, labels: &mut spyglass::Labels) {
    if let Some(t) = req.headers().get("x-tenant").and_then(|v| v.to_str().ok()) {
        labels.insert("tenant", t.to_owned());
    }
}

async fn index() -> &'static str {
    "Spyglass example shop. The dashboard is at /_spyglass\n"
}

async fn user(
    State(store): State<Store>,
    Path(id): Path<u64>,
) -> Result<Json<domain::User>, ShopError> {
    store::load_user(&store, id).await.map(Json)
}

async fn orders(
    State(store): State<Store>,
    Path(id): Path<u64>,
) -> Result<Json<Vec<domain::Order>>, ShopError> {
    let user = store::load_user(&store, id).await?;
    store::load_orders(&store, &user).await.map(Json)
}

#[derive(Deserialize)]
struct RecentQuery {
    limit: Option<u32>,
}

/// `GET /orders?limit=N` (default 10, at most 50): the N+1 route.
async fn recent_orders(
    State(store): State<Store>,
    Query(q): Query<RecentQuery>,
) -> Result<Json<Vec<store::OrderSummary>>, ShopError> {
    let limit = q.limit.unwrap_or(10).clamp(1, 50);
    store::recent_orders(&store, limit).await.map(Json)
}

async fn create_order(
    State(store): State<Store>,
    Json(new): Json<NewOrder>,
) -> Result<(StatusCode, Json<domain::Order>), ShopError> {
    store::place_order(&store, new)
        .await
        .map(|o| (StatusCode::CREATED, Json(o)))
}

async fn create_user(
    State(store): State<Store>,
    Json(new): Json<NewUser>,
) -> Result<(StatusCode, Json<domain::User>), RegisterError> {
    store::register_user(&store, new)
        .await
        .map(|u| (StatusCode::CREATED, Json(u)))
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

async fn search(Query(q): Query<SearchQuery>) -> Json<Vec<(&'static str, u32)>> {
    Json(domain::rank(q.q.as_deref().unwrap_or("")))
}

async fn slow(State(store): State<Store>) -> Result<String, ShopError> {
    store::slow_report(&store).await
}

async fn error() -> Result<&'static str, ShopError> {
    // A failing dependency: 502 is a server error, so it counts in the error rate.
    domain::check_inventory()
}

async fn panic() -> String {
    // Slot 9 does not exist: indexing panics, SpyglassLayer answers 500 and records the message.
    format!("slot {}", domain::inventory_slot(9))
}
