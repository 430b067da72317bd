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

#[inline]
fn clock() -> &'static quanta::Clock {
    // Our own clock rather than `quanta::Instant::now`, which first looks for a per-thread mock
    // clock on every call.
    CLOCK.get_or_init(quanta::Clock::new)
}

impl Instant {
    /// Now.
    #[inline]
    pub fn now() -> Self {
        Instant(clock().raw())
    }

    /// Nanoseconds from `self` to now (0 if `self` is later).
    #[inline]
    pub fn elapsed_nanos(&self) -> u64 {
        Instant::now().nanos_since(*self)
    }

    /// Time from `self` to now (zero if `self` is later).
    #[inline]
    pub fn elapsed(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.elapsed_nanos())
    }

    /// Nanoseconds from `earlier` to `self` (0 if `earlier` is later).
    #[inline]
    pub fn nanos_since(&self, earlier: Instant) -> u64 {
        clock().delta_as_nanos(earlier.0, self.0)
    }

    /// This reading as nanoseconds since the Unix epoch.
    #[inline]
    pub fn unix_nanos(&self) -> u64 {
        let (i0, u0) = base();
        if *self >= i0 {
            u0.saturating_add(self.nanos_since(i0))
        } else {
            u0.saturating_sub(i0.nanos_since(*self))
        }
    }
}

#[inline]
fn duration_nanos(d: std::time::Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();

static BASE: OnceLock<(Instant, u64)> = OnceLock::new();

fn base() -> (Instant, u64) {
    *BASE.get_or_init(|| {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(duration_nanos)
            .unwrap_or(0);
        (Instant::now(), unix)
    })
}

/// Reads the clock once so its calibration (a few milliseconds, once per process) happens here
/// rather than in the first request. Called when an instance is built.
pub(crate) fn warm_up() {
    let _ = base();
}

/// Nanoseconds since the Unix epoch at `t`.
#[inline]
pub fn unix_nanos_at(t: Instant) -> u64 {
    t.unix_nanos()
}

/// Nanoseconds since the Unix epoch, now.
#[inline]
pub fn unix_nanos() -> u64 {
    Instant::now().unix_nanos()
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
