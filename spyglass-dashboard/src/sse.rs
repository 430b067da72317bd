//! `/api/stream`: Server-Sent Events carrying a live update per interval.
//!
//! Each update is one `event: update` whose data is a JSON object: `stats` (as `/api/stats`),
//! `timeseries` (as `/api/timeseries`, overall only: the page charts that, and the busiest routes'
//! series would be most of every update), `events` and `errors` (the newest 50 of those that
//! reached the flight recorder since the previous update, newest first), `traces` (the newest,
//! failed and slowest of the kept traces), and `max_window_secs` (the longest window the instance
//! keeps: the page offers no longer one). The first update is sent at once.
//!
//! "Since the previous update" is by the recorder's arrival order, not by timestamps: events reach
//! it in the order they were queued, which is not quite that of their end times, and a cut by time
//! would skip an event stamped before one the previous update sent but queued after it.
//!
//! An update is made on the server's executor thread, so it never waits for the collector's
//! worker: it asks the worker to catch up and reads what the stats already hold; what the worker
//! counts meanwhile is in the next update.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::StatusCode;
use serde_json::{json, Value};
use spyglass_core::Spyglass;

use crate::api::{event_json, TraceSummary};
use crate::body::DashboardBody;
use crate::query::Query;
use crate::DashboardResponse;

pub(crate) fn stream(sg: &Spyglass, q: &Query) -> Result<DashboardResponse, String> {
    let window = q.window(sg.stats().max_window())?;
    let period = Duration::from_millis(q.uint("interval_ms", 1000, 100, 60_000)?);
    let mut resp = DashboardResponse::new(StatusCode::OK, "text/event-stream", Bytes::new());
    resp.headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    resp.headers.insert(
        http::header::HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    resp.body = DashboardBody::Stream(DashboardStream::new(sg.clone(), window, period));
    Ok(resp)
}

/// The live update stream of one dashboard client (see the module docs). It ends when its instance
/// is told to end its streams ([`Spyglass::end_streams`], at a graceful shutdown) or shuts down;
/// otherwise it runs until dropped.
///
/// Its timer is tokio's: poll it inside a tokio runtime (axum and actix-web both run on one).
pub struct DashboardStream {
    sg: Spyglass,
    window: Duration,
    period: Duration,
    interval: Option<tokio::time::Interval>,
    /// The flight recorder's cursor after the previous update ([`Recent::since`]).
    ///
    /// [`Recent::since`]: spyglass_core::recent::Recent::since
    cursor: u64,
    started: bool,
    epoch: u64,
}

impl std::fmt::Debug for DashboardStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashboardStream")
            .field("window", &self.window)
            .field("period", &self.period)
            .finish()
    }
}

/// Events and errors an update carries at most.
const NEW_EVENTS: usize = 50;

impl DashboardStream {
    /// A stream of updates of `sg` over `window`, one per `period`.
    pub fn new(sg: Spyglass, window: Duration, period: Duration) -> Self {
        DashboardStream {
            epoch: sg.streams_epoch(),
            sg,
            window,
            period,
            interval: None,
            cursor: 0,
            started: false,
        }
    }

    fn update(&mut self) -> Bytes {
        let sg = &self.sg;
        let stats = sg.stats();
        // Only asks: this runs on the executor thread (see the module docs).
        stats.sync_within(Duration::ZERO);
        let recent = sg.recent();
        let new = recent.since(self.cursor, NEW_EVENTS);
        self.cursor = new.cursor;
        let json_of = |list: &[spyglass_core::Event]| -> Vec<Value> {
            list.iter().map(|e| event_json(sg, e)).collect()
        };
        let traces = balanced(recent.traces().iter().map(TraceSummary::of).collect());
        let body = json!({
            "stats": stats.snapshot_unsynced(self.window),
            "timeseries": stats.timeseries_unsynced(self.window, 0),
            "events": json_of(&new.events),
            "errors": json_of(&new.errors),
            "traces": traces,
            "max_window_secs": stats.max_window().as_secs(),
        });
        let mut out = Vec::with_capacity(4096);
        if !self.started {
            out.extend_from_slice(b"retry: 2000\n\n");
        }
        out.extend_from_slice(b"event: update\ndata: ");
        // serde_json never writes a raw newline inside a value, so one data line is enough.
        if serde_json::to_writer(&mut out, &body).is_err() {
            out.extend_from_slice(b"{}");
        }
        out.extend_from_slice(b"\n\n");
        Bytes::from(out)
    }
}

/// How many of the newest, failed and slowest kept traces an update carries.
const NEWEST: usize = 20;
const FAILED: usize = 10;
const SLOWEST: usize = 10;

/// The kept traces an update carries, so that each of the page's views (recent, failed, slowest)
/// has rows: the [`NEWEST`], then the [`FAILED`] newest failed ones and the [`SLOWEST`] of the
/// rest.
fn balanced(mut all: Vec<TraceSummary>) -> Vec<TraceSummary> {
    let end = |t: &TraceSummary| t.ts_ms + t.dur_ms;
    all.sort_by(|a, b| end(b).total_cmp(&end(a)));
    let rest = all.split_off(all.len().min(NEWEST));
    let (mut failed, mut others): (Vec<_>, Vec<_>) = rest.into_iter().partition(|t| t.error);
    others.extend(failed.drain(failed.len().min(FAILED)..));
    others.sort_by(|a, b| b.dur_ms.total_cmp(&a.dur_ms));
    others.truncate(SLOWEST);
    all.append(&mut failed);
    all.append(&mut others);
    all
}

impl Stream for DashboardStream {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self.get_mut();
        if !this.started {
            let first = this.update();
            this.started = true;
            return Poll::Ready(Some(first));
        }
        let period = this.period;
        let iv = this.interval.get_or_insert_with(|| {
            let mut iv = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            iv
        });
        match iv.poll_tick(cx) {
            // Told to end: the response finishes and the browser's EventSource reconnects (to a
            // new stream, or to nothing once the server has stopped listening).
            Poll::Ready(_) if this.sg.streams_epoch() != this.epoch => Poll::Ready(None),
            Poll::Ready(_) => Poll::Ready(Some(this.update())),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_carries_newest_failed_and_slowest_traces() {
        // As the recorder lists them: failed first, then the slowest, then the newest.
        let mut all: Vec<TraceSummary> = (0..32)
            .map(|i| TraceSummary::at(1_000.0 + i as f64, 1.0, true))
            .collect();
        all.extend((0..32).map(|i| TraceSummary::at(2_000.0 + i as f64, 900.0 - i as f64, false)));
        all.extend((0..64).map(|i| TraceSummary::at(100_000.0 + i as f64, 2.0, false)));
        let got = balanced(all);
        assert_eq!(got.len(), NEWEST + FAILED + SLOWEST);
        assert!(got[..NEWEST].iter().all(|t| t.ts_ms >= 100_044.0));
        let failed = &got[NEWEST..NEWEST + FAILED];
        assert!(failed.iter().all(|t| t.error));
        assert_eq!(failed[0].ts_ms, 1_031.0, "the newest failed first");
        let slowest: Vec<f64> = got[NEWEST + FAILED..].iter().map(|t| t.dur_ms).collect();
        assert_eq!(slowest[0], 900.0);
        assert_eq!(slowest[SLOWEST - 1], 891.0);
    }
}
