//! OTLP metrics: every event (sampled or not) is recorded into OpenTelemetry instruments named after
//! the semantic conventions (HTTP, DB) and autometrics (functions), the OTLP forms of SPEC §8.
//!
//! The SDK's `PeriodicReader` exports them from its own thread. The OTLP clients need a Tokio
//! context, so the exporter handed to the reader enters the exporter's runtime while it is polled.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use spyglass_core::event::{Event, EventKind};
use tokio::runtime::Handle;

use super::convert::AttrCache;
use super::Counters;

/// Bucket boundaries (seconds) recommended by the HTTP and DB semantic conventions.
const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The instruments fed by the collector thread.
#[derive(Debug)]
pub(crate) struct Instruments {
    http_duration: Histogram<f64>,
    fn_calls: Counter<u64>,
    fn_duration: Histogram<f64>,
    db_duration: Histogram<f64>,
}

impl Instruments {
    pub(crate) fn new(meter: &Meter, counters: &Arc<Counters>) -> Self {
        let hist = |name: &'static str, description: &'static str| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(description)
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build()
        };
        let exported = counters.clone();
        meter
            .u64_observable_counter("spyglass.otlp.spans.exported")
            .with_description("Spans accepted by the OTLP receiver")
            .with_callback(move |o| o.observe(exported.spans_exported.load(Ordering::Relaxed), &[]))
            .build();
        let dropped = counters.clone();
        meter
            .u64_observable_counter("spyglass.otlp.spans.dropped")
            .with_description(
                "Spans dropped: receiver unreachable or refusing after retries, or queue full",
            )
            .with_callback(move |o| o.observe(dropped.spans_dropped.load(Ordering::Relaxed), &[]))
            .build();
        Instruments {
            http_duration: hist(
                "http.server.request.duration",
                "Duration of HTTP server requests",
            ),
            fn_calls: meter
                .u64_counter("function.calls")
                .with_description("Calls of instrumented functions")
                .build(),
            fn_duration: hist(
                "function.calls.duration",
                "Duration of instrumented function calls",
            ),
            db_duration: hist(
                "db.client.operation.duration",
                "Duration of database client operations",
            ),
        }
    }

    /// Records one event.
    pub(crate) fn record(&self, ev: &Event, cache: &mut AttrCache) {
        let secs = ev.dur_ns as f64 / 1e9;
        match &ev.kind {
            EventKind::Req(r) => self.http_duration.record(secs, &cache.req(r).attrs),
            EventKind::Fn(f) => {
                let a = cache.func(f);
                let calls = if f.error { &a.calls_err } else { &a.calls_ok };
                self.fn_calls.add(1, calls);
                self.fn_duration.record(secs, &a.metric);
            }
            EventKind::Db(d) => self.db_duration.record(secs, &cache.db(d).metric),
        }
    }
}

/// The OTLP metric exporter, polled inside the exporter's Tokio runtime and counting failures.
#[derive(Debug)]
pub(crate) struct OnRuntime {
    pub(crate) inner: opentelemetry_otlp::MetricExporter,
    pub(crate) handle: Handle,
    pub(crate) counters: Arc<Counters>,
}

impl PushMetricExporter for OnRuntime {
    fn export(&self, metrics: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
        let fut = async move {
            let r = self.inner.export(metrics).await;
            let c = match r {
                Ok(()) => &self.counters.metric_exports,
                Err(_) => &self.counters.metric_export_failures,
            };
            c.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = &r {
                self.counters.set_last_error(format!("metrics: {e}"));
            }
            r
        };
        InRuntime {
            handle: self.handle.clone(),
            fut: Box::pin(fut),
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

/// Polls `fut` with `handle`'s runtime entered, so timers and sockets register with that runtime
/// (whose worker thread drives them) although the poller is a plain thread.
struct InRuntime<F> {
    handle: Handle,
    fut: Pin<Box<F>>,
}

impl<F: Future> Future for InRuntime<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let _entered = this.handle.enter();
        this.fut.as_mut().poll(cx)
    }
}
