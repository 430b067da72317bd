//! Two services, one trace.
//!
//! `frontend` serves `GET /checkout/{id}` and calls `backend`'s `GET /prices/{id}` with reqwest,
//! carrying the current `traceparent` ([`spyglass::context::inject`]). Both record requests with
//! `spyglass::axum::SpyglassLayer`, which continues an incoming `traceparent`; so an OpenTelemetry
//! backend shows one trace across both services:
//!
//! ```text
//! frontend  SERVER   GET /checkout/{id}         (continues the caller's traceparent, if any)
//! frontend  INTERNAL fetch_price                (#[spyglass::instrument])
//! backend   SERVER   GET /prices/{id}           (parent: fetch_price, received in traceparent)
//! backend   INTERNAL lookup_price
//! backend   CLIENT   SELECT prices              (db.query.text redacted: WHERE id = ?)
//! ```
//!
//! Run each service in its own terminal, pointing both at an OTLP receiver (an OpenTelemetry
//! Collector, Jaeger `all-in-one`, …):
//!
//! ```text
//! export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 OTEL_EXPORTER_OTLP_PROTOCOL=grpc
//! cargo run -p spyglass-example-two-services -- backend --listen 127.0.0.1:3001
//! cargo run -p spyglass-example-two-services -- frontend --listen 127.0.0.1:3000 --backend http://127.0.0.1:3001
//! curl http://127.0.0.1:3000/checkout/7
//! ```
//!
//! # Example
//!
//! ```
//! let backend: axum::Router = spyglass_example_two_services::backend();
//! let frontend: axum::Router =
//!     spyglass_example_two_services::frontend("http://127.0.0.1:3001".to_string());
//! # drop((backend, frontend));
//! ```

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use spyglass::axum::SpyglassLayer;
use spyglass::{ConfigError, Spyglass, SpyglassGuard};

/// Installs the global Spyglass instance of `service`. Exporters come from the environment:
/// `OTEL_EXPORTER_OTLP_ENDPOINT` turns OTLP export on (protocol, headers and timeout from the other
/// `OTEL_*` variables).
pub fn install(service: &str) -> Result<SpyglassGuard, ConfigError> {
    spyglass::exporters::register_env();
    Spyglass::builder()
        .service_name(service)
        .from_env()
        .install()
}

#[derive(Clone)]
struct Frontend {
    client: reqwest::Client,
    backend: Arc<str>,
}

/// The `frontend` service: `GET /checkout/{id}` asks `backend_url` for the price.
pub fn frontend(backend_url: String) -> Router {
    let state = Frontend {
        client: reqwest::Client::new(),
        backend: backend_url.trim_end_matches('/').into(),
    };
    Router::new()
        .route("/checkout/{id}", get(checkout))
        .with_state(state)
        .layer(SpyglassLayer::new())
}

async fn checkout(State(app): State<Frontend>, Path(id): Path<u64>) -> Result<String, StatusCode> {
    let price = fetch_price(&app.client, &app.backend, id)
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?;
    Ok(format!("checkout {id}: {price}\n"))
}

/// Calls the backend with the current trace context in `traceparent`: the backend's request span
/// becomes a child of this function's span.
#[spyglass::instrument]
async fn fetch_price(
    client: &reqwest::Client,
    backend: &str,
    id: u64,
) -> Result<String, reqwest::Error> {
    let mut headers = HeaderMap::new();
    spyglass::context::inject(&mut headers);
    client
        .get(format!("{backend}/prices/{id}"))
        .headers(headers)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await
}

/// The `backend` service: `GET /prices/{id}`.
pub fn backend() -> Router {
    Router::new()
        .route("/prices/{id}", get(price))
        .layer(SpyglassLayer::new())
}

async fn price(Path(id): Path<u64>) -> String {
    format!("{}", lookup_price(id))
}

#[spyglass::instrument]
fn lookup_price(id: u64) -> u64 {
    let started = Instant::now();
    let price = 100 + id % 7;
    // A real service runs this through spyglass-sqlx or spyglass-diesel; the event is the same.
    spyglass::emitter().emit_db_with(
        "sqlite",
        &format!("SELECT price FROM prices WHERE id = {id}"),
        started.elapsed(),
        Some(1),
        None,
    );
    price
}
