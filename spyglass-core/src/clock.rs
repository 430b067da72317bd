//! Spyglass's clock: one cheap monotonic reading per timestamp.
//!
//! Readings come from [`quanta`], which reads the CPU's time-stamp counter where it is invariant and
//! calibrated (about 10 ns on x86-64, against about 25 ns for `std::time::Instant::now`) and falls
//! back to the operating system's monotonic clock elsewhere. Wall-clock time is taken once, with a
//! monotonic reading beside it; an event's Unix timestamp is that base plus the monotonic time
//! elapsed, so stamping an event costs one reading and timestamps never go backwards within a
//! process.
//!
//! # Example
//!
//! ```
//! use spyglass_core::clock::{self, Instant};
//!
//! let start = Instant::now();
//! let took = start.elapsed_nanos();
//! assert!(start.unix_nanos() <= clock::unix_nanos());
//! # let _ = took;
//! ```

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// A monotonic reading of Spyglass's clock: what middlewares and `#[instrument]` take when work
/// starts, and hand to [`Emitter::emit_since`](crate::Emitter::emit_since) when it ends.
///
/// It holds the clock's raw count (the TSC where it is used); converting to nanoseconds is a
/// multiply and a shift, done only when a duration or a timestamp is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

/// The clock and the wall-clock base it converts from, made once per process.
struct Clock {
    clock: quanta::Clock,
    /// A raw reading and the Unix time (ns) taken beside it.
    base_raw: u64,
    base_unix: u64,
}

static CLOCK: OnceLock<Clock> = OnceLock::new();

#[inline]
fn clock() -> &'static Clock {
    CLOCK.get_or_init(Clock::new)
}

impl Clock {
    // Our own clock rather than `quanta::Instant::now`, which first looks for a per-thread mock
    // clock on every call.
    #[cold]
    fn new() -> Self {
        let clock = quanta::Clock::new();
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(duration_nanos)
            .unwrap_or(0);
        let base_raw = clock.raw();
        Clock {
            clock,
            base_raw,
            base_unix: unix,
        }
    }

    #[inline]
    fn unix_nanos(&self, raw: u64) -> u64 {
        if raw >= self.base_raw {
            self.base_unix
                .saturating_add(self.clock.delta_as_nanos(self.base_raw, raw))
        } else {
            self.base_unix
                .saturating_sub(self.clock.delta_as_nanos(raw, self.base_raw))
        }
    }
}

// A reading and the single-value conversions are out of line: one copy serves every call site
// (a request takes several readings) instead of each carrying its own. `since`, which the
// emitter's stamping runs, is inlined there.

impl Instant {
    /// Now.
    #[inline(never)]
    pub fn now() -> Self {
        Instant(clock().clock.raw())
    }

    /// Nanoseconds from `self` to now (0 if `self` is later).
    #[inline]
    pub fn elapsed_nanos(&self) -> u64 {
        let c = clock();
        c.clock.delta_as_nanos(self.0, c.clock.raw())
    }

    /// Time from `self` to now (zero if `self` is later).
    #[inline]
    pub fn elapsed(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.elapsed_nanos())
    }

    /// Nanoseconds from `earlier` to `self` (0 if `earlier` is later).
    #[inline(never)]
    pub fn nanos_since(&self, earlier: Instant) -> u64 {
        clock().clock.delta_as_nanos(earlier.0, self.0)
    }

    /// This reading as nanoseconds since the Unix epoch.
    #[inline(never)]
    pub fn unix_nanos(&self) -> u64 {
        clock().unix_nanos(self.0)
    }
}

/// A span that started at `start` and ends now: its start as Unix nanoseconds and its duration in
/// nanoseconds, from one reading of the clock.
#[inline]
pub(crate) fn since(start: Instant) -> (u64, u64) {
    let c = clock();
    let now = c.clock.raw();
    (c.unix_nanos(start.0), c.clock.delta_as_nanos(start.0, now))
}

#[inline]
fn duration_nanos(d: std::time::Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

/// Reads the clock once so its calibration (a few milliseconds, once per process) happens here
/// rather than in the first request. Called when an instance is built.
pub(crate) fn warm_up() {
    let _ = clock();
}

/// Nanoseconds since the Unix epoch at `t`.
#[inline]
pub fn unix_nanos_at(t: Instant) -> u64 {
    t.unix_nanos()
}

/// Nanoseconds since the Unix epoch, now.
#[inline(never)]
pub fn unix_nanos() -> u64 {
    let c = clock();
    c.unix_nanos(c.clock.raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_time_follows_the_system_clock() {
        let sys = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let ours = unix_nanos();
        // Both clocks read within this test; allow for scheduling and calibration error.
        assert!(
            ours.abs_diff(sys) < 50_000_000,
            "ours {ours} vs system {sys}"
        );
    }

    #[test]
    fn readings_are_monotonic_and_measure_durations() {
        let a = Instant::now();
        // Spin (not sleep) 20 ms by the standard clock, then compare what ours measured.
        let t0 = std::time::Instant::now();
        while t0.elapsed() < std::time::Duration::from_millis(20) {
            std::hint::spin_loop();
        }
        let b = Instant::now();
        assert!(b >= a);
        let d = b.nanos_since(a);
        assert!((15_000_000..2_000_000_000).contains(&d), "{d}");
        assert_eq!(a.nanos_since(b), 0);
        assert!(b.unix_nanos() >= a.unix_nanos());
    }
}
