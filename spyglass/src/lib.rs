#![doc = include_str!("../../README.md")]
//!
//! # Crate map
//!
//! | module | what |
//! | --- | --- |
//! | [`context`] | trace context: current span, `traceparent`, carrying context into tasks ([`context::FutureExt`]) and closures for other threads ([`context::in_current_context`]) |
//! | [`emitter()`] | emitting events by hand |
//! | [`stats()`] | the rolling stats store and its JSON snapshot |
//! | [`exporters`] | JSONL, console, Prometheus, OTLP (features `jsonl`, `console`, `prometheus`, `otlp`) |
//! | `axum`, `actix` | middlewares (features `axum`, `actix`; `tonic` for the layer on a tonic server) |
//! | `sqlx`, `diesel` | database instrumentation (features `sqlx`, `diesel`) |

pub use spyglass_core::stats::{self};
pub use spyglass_core::{
    config, context, event, export, recent, redact, sample, Builder, ConfigError, Emitter, Event,
    ExportError, Exporter, Labels, Name, Spyglass, SpyglassGuard, StatsSnapshot, TraceContext,
};
pub use spyglass_macros::instrument;

/// Exporters (each behind its feature).
pub mod exporters {
    pub use spyglass_exporters::*;
}

#[cfg(feature = "axum")]
pub use spyglass_axum as axum;

#[cfg(feature = "actix")]
pub use spyglass_actix as actix;

#[cfg(feature = "sqlx")]
pub use spyglass_sqlx as sqlx;

#[cfg(feature = "diesel")]
pub use spyglass_diesel as diesel;

/// The global instance, created with defaults and the environment on first use if none was
/// installed (see [`Builder::install`]).
#[inline]
pub fn global() -> &'static Spyglass {
    spyglass_exporters::register_env();
    spyglass_core::global()
}

/// The global instance's emitter.
///
/// ```
/// use std::time::Duration;
///
/// let em = spyglass::emitter();
/// em.emit_req("GET", "/api/users", 200, Duration::from_millis(15));
/// em.emit_fn("expensive_calculation", Duration::from_millis(5), false);
/// em.emit_db("SELECT * FROM users WHERE id = 42", Duration::from_millis(8), Some(100));
/// ```
#[inline]
pub fn emitter() -> Emitter<'static> {
    global().emitter()
}

/// The global instance's stats store.
///
/// ```
/// use std::time::Duration;
///
/// let snap = spyglass::stats().snapshot(Duration::from_secs(900));
/// let json = serde_json::to_value(&snap).unwrap();
/// assert!(json["requests"].is_array());
/// ```
pub fn stats() -> &'static spyglass_core::StatsStore {
    global().stats()
}

/// Flushes and stops the global instance: after it returns, every event emitted before it has been
/// handed to the exporters.
pub fn shutdown() {
    spyglass_core::shutdown()
}

#[doc(hidden)]
pub mod __private {
    pub use spyglass_core::instrument::{
        call_once, AsyncCall, Callsite, ErrText, SyncCall, ViaDisplay, ViaNothing,
    };

    #[inline]
    pub fn enter(cs: &'static Callsite) -> SyncCall {
        spyglass_exporters::register_env();
        spyglass_core::instrument::enter(cs)
    }

    #[inline]
    pub fn enter_async<F, C>(cs: &'static Callsite, inner: F, classify: C) -> AsyncCall<F, C>
    where
        F: core::future::Future,
        C: FnMut(&F::Output) -> (bool, Option<std::sync::Arc<str>>),
    {
        spyglass_exporters::register_env();
        spyglass_core::instrument::enter_async(cs, inner, classify)
    }
}
