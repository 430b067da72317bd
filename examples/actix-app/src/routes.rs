//! HTTP handlers: thin wrappers that call [`crate::store`] (the SQLite-backed data) and
//! [`crate::domain`] (the business logic), and map their errors to status codes. The same route
//! table as the axum example's `routes.rs`, entry for entry.

use actix_web::http::StatusCode;
use actix_web::{guard, web, App, HttpResponse, ResponseError};
use serde::Deserialize;

use crate::domain::{self, NewOrder, ShopError};
use crate::store::{self, NewUser, RegisterError, Store};

impl ResponseError for ShopError {
    fn status_code(&self) -> StatusCode {
        match self {
            ShopError::NotFound(_) => StatusCode::NOT_FOUND,
            ShopError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ShopError::Upstream(_) => StatusCode::BAD_GATEWAY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        text_response(self.status_code(), self)
    }
}

impl ResponseError for RegisterError {
    fn status_code(&self) -> StatusCode {
        match self {
            RegisterError::Taken(_) => StatusCode::CONFLICT,
            RegisterError::Shop(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        text_response(self.status_code(), self)
    }
}

fn text_response(status: StatusCode, message: &impl std::fmt::Display) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(message.to_string())
}

/// Every route, over the shop's [`Store`], wrapped in the Spyglass middleware.
pub(crate) fn app(
    store: Store,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    // One resource per path, its methods on it (axum's `get(..).post(..)`): another method on a
    // known path answers 405, as in the axum example, rather than falling through to a 404. A GET
    // route answers HEAD too, as axum's `get` does (actix's `web::get()` would not: its guard
    // matches GET only), hence `get_or_head()`.
    App::new()
        .app_data(web::Data::new(store))
        .service(web::resource("/").route(get_or_head().to(index)))
        .service(web::resource("/health").route(get_or_head().to(|| async { "ok" })))
        .service(web::resource("/users/{id}").route(get_or_head().to(user)))
        .service(web::resource("/users/{id}/orders").route(get_or_head().to(orders)))
        .service(web::resource("/users").post(create_user))
        .service(
            web::resource("/orders")
                .route(get_or_head().to(recent_orders))
                .post(create_order),
        )
        .service(web::resource("/search").route(get_or_head().to(search)))
        .service(web::resource("/reports/slow").route(get_or_head().to(slow)))
        .service(web::resource("/slow").route(get_or_head().to(slow)))
        .service(web::resource("/error").route(get_or_head().to(error)))
        .service(web::resource("/panic").route(get_or_head().to(panic)))
        .wrap(spyglass::actix::Spyglass::new().on_request(label_tenant))
}

/// A route for `GET` and `HEAD`: actix answers a `HEAD` with the handler's headers and no body.
fn get_or_head() -> actix_web::Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// Labels each request with its tenant, from the `x-tenant` header: the label shows with the
/// request on the dashboard (errors, request detail) and in every export.
fn label_tenant(
    req: &actix_web::dev::ServiceRequest,
    _: &spyglass::TraceContext,
    labels: &mut spyglass::Labels,
) {
    if let Some(t) = req.headers().get("x-tenant").and_then(|v| v.to_str().ok()) {
        labels.insert("tenant", t.to_owned());
    }
}

async fn index() -> &'static str {
    "Spyglass example shop (actix-web). The dashboard is at /_spyglass\n"
}

async fn user(
    store: web::Data<Store>,
    id: web::Path<u64>,
) -> Result<web::Json<domain::User>, ShopError> {
    store::load_user(&store, id.into_inner())
        .await
        .map(web::Json)
}

async fn orders(
    store: web::Data<Store>,
    id: web::Path<u64>,
) -> Result<web::Json<Vec<domain::Order>>, ShopError> {
    let user = store::load_user(&store, id.into_inner()).await?;
    store::load_orders(&store, &user).await.map(web::Json)
}

#[derive(Deserialize)]
struct RecentQuery {
    limit: Option<u32>,
}

/// `GET /orders?limit=N` (default 10, at most 50): the N+1 route.
async fn recent_orders(
    store: web::Data<Store>,
    q: web::Query<RecentQuery>,
) -> Result<web::Json<Vec<store::OrderSummary>>, ShopError> {
    let limit = q.limit.unwrap_or(10).clamp(1, 50);
    store::recent_orders(&store, limit).await.map(web::Json)
}

async fn create_order(
    store: web::Data<Store>,
    new: web::Json<NewOrder>,
) -> Result<HttpResponse, ShopError> {
    let order = store::place_order(&store, new.into_inner()).await?;
    Ok(HttpResponse::Created().json(order))
}

async fn create_user(
    store: web::Data<Store>,
    new: web::Json<NewUser>,
) -> Result<HttpResponse, RegisterError> {
    let user = store::register_user(&store, new.into_inner()).await?;
    Ok(HttpResponse::Created().json(user))
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

async fn search(q: web::Query<SearchQuery>) -> web::Json<Vec<(&'static str, u32)>> {
    web::Json(domain::rank(q.q.as_deref().unwrap_or("")))
}

async fn slow(store: web::Data<Store>) -> Result<String, ShopError> {
    store::slow_report(&store).await
}

async fn error() -> Result<&'static str, ShopError> {
    // A failing dependency: 502 is a server error, so it counts in the error rate.
    domain::check_inventory()
}

async fn panic() -> String {
    // Slot 9 does not exist: indexing panics, the middleware answers 500 and records the message.
    format!("slot {}", domain::inventory_slot(9))
}
