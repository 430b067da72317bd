//! Sampling: which traces are exported.
//!
//! The decision is made once per trace from its trace id, like OpenTelemetry's `TraceIdRatioBased`
//! sampler: the same trace id gets the same decision in every service using the same rate, and every
//! span of a trace shares it. Stats count every event whatever the decision, and errors are always
//! exported.
//!
//! # Example
//!
//! ```
//! use spyglass_core::sample::Sampler;
//! use spyglass_core::context::TraceId;
//!
//! let all = Sampler::new(1.0);
//! let none = Sampler::new(0.0);
//! let id = TraceId::random();
//! assert!(all.sample(id));
//! assert!(!none.sample(id));
//! ```

use crate::context::TraceId;

/// A trace-id ratio sampler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampler {
    /// Traces whose low 64 id bits fall below this are sampled; `u64::MAX` with `all` means all.
    threshold: u64,
    all: bool,
}

impl Sampler {
    /// A sampler keeping `rate` of traces (clamped to 0..=1; NaN keeps none).
    pub fn new(rate: f64) -> Self {
        let rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        Sampler {
            threshold: (rate * (u64::MAX as f64)) as u64,
            all: rate >= 1.0,
        }
    }

    /// The rate this sampler keeps.
    pub fn rate(&self) -> f64 {
        if self.all {
            1.0
        } else {
            self.threshold as f64 / u64::MAX as f64
        }
    }

    /// Whether the trace with this id is exported.
    #[inline]
    pub fn sample(&self, trace_id: TraceId) -> bool {
        self.all || (trace_id.to_u128() as u64) < self.threshold
    }
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::new(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_respected() {
        let s = Sampler::new(0.25);
        let n = 100_000;
        let kept = (0..n).filter(|_| s.sample(TraceId::random())).count();
        let share = kept as f64 / n as f64;
        assert!((share - 0.25).abs() < 0.01, "{share}");
        assert_eq!(Sampler::new(f64::NAN).rate(), 0.0);
        assert_eq!(Sampler::new(7.0).rate(), 1.0);
    }
}
