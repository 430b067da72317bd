//! A small mergeable log-linear latency histogram.
//!
//! Values are nanoseconds. Each power of two is split into 8 linear sub-buckets, so a recorded value
//! is known to within 12.5% of itself and a reported quantile (the bucket midpoint) to within ±6.25%.
//! 352 `u32` counters cover 1 ns to 2^46 ns (70 368 s, about 19.5 hours), and one more counts the
//! values past that range: 353 counters, 1412 bytes. A quantile that falls past the range reads the
//! exact maximum, which the caller tracks beside the histogram, and so does the highest rank (the
//! quantile 1, or the 99th percentile of fewer than 100 values). Recording is an index computation
//! and an add; merging is an element-wise add the compiler vectorizes.
//!
//! Why not `hdrhistogram`: at 2 significant digits one of its histograms over the same range has
//! ~5,000 counters (~20 KiB), which a merge walks, and the stats store keeps one histogram per key
//! per 10-second bucket and merges 90 of them per key for a 15-minute snapshot.
//! `benches/core/benches/histogram.rs` measures both.

const SUB_BITS: u32 = 3;
const SUB: usize = 1 << SUB_BITS;
/// The highest power of two with its own sub-buckets: values up to `2^(MAX_EXP + 1)` ns.
const MAX_EXP: u32 = 45;
/// The counter of the values past the range.
const OVERFLOW: usize = (MAX_EXP as usize - SUB_BITS as usize + 1) * SUB + SUB;
/// Number of counters.
pub(crate) const SLOTS: usize = OVERFLOW + 1;

#[inline]
fn index(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros();
    if e > MAX_EXP {
        return OVERFLOW;
    }
    let sub = ((v >> (e - SUB_BITS)) as usize) & (SUB - 1);
    (e - SUB_BITS + 1) as usize * SUB + sub
}

/// Lowest value of a slot and its width.
fn slot_range(i: usize) -> (u64, u64) {
    if i < SUB {
        return (i as u64, 1);
    }
    let e = (i / SUB) as u32 + SUB_BITS - 1;
    let sub = (i % SUB) as u64;
    let width = 1u64 << (e - SUB_BITS);
    ((1u64 << e) + sub * width, width)
}

/// Latency histogram (see the module docs).
#[derive(Clone)]
pub(crate) struct Histogram {
    counts: Box<[u32; SLOTS]>,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count())
            .finish()
    }
}

impl Histogram {
    pub(crate) fn new() -> Self {
        Histogram {
            counts: Box::new([0; SLOTS]),
        }
    }

    #[inline]
    pub(crate) fn record(&mut self, v: u64) {
        let c = &mut self.counts[index(v)];
        *c = c.saturating_add(1);
    }

    pub(crate) fn clear(&mut self) {
        self.counts.fill(0);
    }

    pub(crate) fn count(&self) -> u64 {
        self.counts.iter().map(|&c| c as u64).sum()
    }
}

/// A merge target with wide counters, for snapshots.
#[derive(Debug, Clone)]
pub(crate) struct Merged {
    counts: Box<[u64; SLOTS]>,
    total: u64,
}

impl Merged {
    pub(crate) fn new() -> Self {
        Merged {
            counts: Box::new([0; SLOTS]),
            total: 0,
        }
    }

    pub(crate) fn add(&mut self, h: &Histogram) {
        let mut n = 0u64;
        for (a, &b) in self.counts.iter_mut().zip(h.counts.iter()) {
            *a += b as u64;
            n += b as u64;
        }
        self.total += n;
    }

    pub(crate) fn clear(&mut self) {
        self.counts.fill(0);
        self.total = 0;
    }

    #[inline]
    pub(crate) fn record_one(&mut self, v: u64) {
        self.counts[index(v)] += 1;
        self.total += 1;
    }

    /// Removes a bucket's histogram that was added before (as it expires from the window).
    pub(crate) fn sub(&mut self, h: &Histogram) {
        let mut n = 0u64;
        for (a, &b) in self.counts.iter_mut().zip(h.counts.iter()) {
            *a -= b as u64;
            n += b as u64;
        }
        self.total -= n;
    }

    pub(crate) fn add_merged(&mut self, o: &Merged) {
        for (a, &b) in self.counts.iter_mut().zip(o.counts.iter()) {
            *a += b;
        }
        self.total += o.total;
    }

    /// The `q` quantile (0..=1) in nanoseconds: the midpoint of the bucket holding it, capped by
    /// `max` (the exact maximum of the values counted) so no quantile exceeds the largest value
    /// seen. The highest rank is the maximum itself, and so is a rank past the histogram's range.
    pub(crate) fn quantile(&self, q: f64, max: u64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        if rank == self.total {
            return max;
        }
        let mut seen = 0;
        for (i, &c) in self.counts[..OVERFLOW].iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, w) = slot_range(i);
                return (lo + w / 2).min(max);
            }
        }
        max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_monotonic_and_in_range() {
        // The sizes the module docs (and the stats store's memory bound) give.
        assert_eq!(SLOTS, 353);
        assert_eq!(std::mem::size_of::<[u32; SLOTS]>(), 1412);
        assert_eq!(index((1 << (MAX_EXP + 1)) - 1), OVERFLOW - 1);
        assert_eq!(index(1 << (MAX_EXP + 1)), OVERFLOW);
        let mut last = 0;
        for v in 0..5000u64 {
            assert!(index(v) >= last);
            last = index(v);
        }
        for v in (0..5000u64)
            .chain((1..64).map(|s| 1u64 << s))
            .chain([u64::MAX])
        {
            let i = index(v);
            assert!(i < SLOTS);
            let (lo, w) = slot_range(i);
            if i < OVERFLOW {
                assert!(v >= lo && v < lo + w, "v={v} i={i} lo={lo} w={w}");
            } else {
                assert!(v >= 1 << (MAX_EXP + 1), "v={v}");
            }
        }
    }

    #[test]
    fn quantiles_of_uniform_within_error() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v * 1000);
        }
        let mut m = Merged::new();
        m.add(&h);
        for (q, want) in [
            (0.5, 50_000_000.0),
            (0.9, 90_000_000.0),
            (0.99, 99_000_000.0),
        ] {
            let got = m.quantile(q, 100_000_000) as f64;
            assert!((got - want).abs() / want < 0.0625, "q={q} got={got}");
        }
    }

    #[test]
    fn durations_of_minutes_keep_their_percentiles() {
        // 300 s, 600 s, 600 s: the median is 600 s. With the range ending at 275 s, every
        // quantile read the last slot's midpoint, 266 s.
        let mut m = Merged::new();
        for s in [300u64, 600, 600] {
            m.record_one(s * 1_000_000_000);
        }
        let max = 600_000_000_000;
        let p50 = m.quantile(0.5, max) as f64;
        assert!((p50 - 6e11).abs() / 6e11 < 0.0625, "p50 {p50}");
        assert_eq!(m.quantile(0.99, max), max);
        let p10 = m.quantile(0.1, max) as f64;
        assert!((p10 - 3e11).abs() / 3e11 < 0.0625, "p10 {p10}");
    }

    #[test]
    fn the_range_covers_hours_and_beyond_it_quantiles_read_the_maximum() {
        // 19 hours is still within ±6.25 %.
        let hour = 3_600_000_000_000u64;
        let mut m = Merged::new();
        for _ in 0..10 {
            m.record_one(19 * hour);
        }
        let got = m.quantile(0.5, 19 * hour) as f64;
        let want = (19 * hour) as f64;
        assert!((got - want).abs() / want < 0.0625, "got {got}");
        // Past the range, a quantile that falls beyond it is the maximum, not a slot's midpoint.
        let mut m = Merged::new();
        m.record_one(1_000);
        for _ in 0..10 {
            m.record_one(30 * hour);
        }
        assert_eq!(m.quantile(0.5, 30 * hour), 30 * hour);
        let low = m.quantile(0.05, 30 * hour) as f64;
        assert!((low - 1e3).abs() / 1e3 < 0.0625, "low {low}");
    }

    #[test]
    fn the_highest_rank_is_the_exact_maximum() {
        let mut h = Histogram::new();
        for v in [1_000u64, 2_000, 123_456_789] {
            h.record(v);
        }
        let mut m = Merged::new();
        m.add(&h);
        assert_eq!(m.quantile(1.0, 123_456_789), 123_456_789);
        // Fewer than 100 values: the 99th percentile's rank is the highest.
        assert_eq!(m.quantile(0.99, 123_456_789), 123_456_789);
    }
}
