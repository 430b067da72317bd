//! Time for event timestamps: one monotonic clock read per event.
//!
//! Wall-clock time is taken once, with a monotonic reading beside it; an event's Unix timestamp is
//! that base plus the monotonic time elapsed, so stamping an event costs one `Instant` and no second
//! clock call, and timestamps never go backwards within a process.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

static BASE: OnceLock<(Instant, u64)> = OnceLock::new();

fn base() -> (Instant, u64) {
    *BASE.get_or_init(|| {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        (Instant::now(), unix)
    })
}

/// Nanoseconds since the Unix epoch at `t`.
#[inline]
pub fn unix_nanos_at(t: Instant) -> u64 {
    let (i0, u0) = base();
    match t.checked_duration_since(i0) {
        Some(d) => u0 + d.as_nanos() as u64,
        None => u0.saturating_sub(i0.duration_since(t).as_nanos() as u64),
    }
}

/// Nanoseconds since the Unix epoch, now.
#[inline]
pub fn unix_nanos() -> u64 {
    unix_nanos_at(Instant::now())
}
