//! The stats store's latency histogram against `hdrhistogram`: record, merge and quantile, and size.
//!
//! The stats store's histogram is private to `spyglass-core`; this bench drives it through the
//! store (one key, so it is record + lock + bucket) and compares the raw data structures' costs with
//! an identical log-linear layout reimplemented here (8 sub-buckets per power of two up to 2^46 ns,
//! 352 counters and one for the values past them).
//!
//! Run: `cargo bench -p spyglass-benches-core --bench histogram`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

const SUB_BITS: u32 = 3;
const MAX_EXP: u32 = 45;
const SLOTS: usize = (MAX_EXP as usize - SUB_BITS as usize + 1) * 8 + 8 + 1;

#[inline]
fn index(v: u64) -> usize {
    if v < 8 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros();
    if e > MAX_EXP {
        return SLOTS - 1;
    }
    (e - SUB_BITS + 1) as usize * 8 + ((v >> (e - SUB_BITS)) as usize & 7)
}

fn hist(c: &mut Criterion) {
    let mut g = c.benchmark_group("histogram");
    let values: Vec<u64> = (0..4096u64).map(|i| 50_000 + i * 997 % 5_000_000).collect();

    let mut ours = vec![0u32; SLOTS];
    let mut i = 0;
    g.bench_function("log-linear record", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            ours[index(black_box(values[i]))] += 1;
        })
    });
    let mut hdr =
        hdrhistogram::Histogram::<u32>::new_with_bounds(1, 70_368_744_177_664, 2).unwrap();
    g.bench_function("hdrhistogram record (2 sig. digits)", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            hdr.saturating_record(black_box(values[i]));
        })
    });

    // A 15-minute window of a busy key: 90 bucket histograms merged.
    let buckets: Vec<Vec<u32>> = (0..90).map(|_| ours.clone()).collect();
    g.bench_function("log-linear merge 90 buckets", |b| {
        b.iter(|| {
            let mut acc = vec![0u64; SLOTS];
            for bk in &buckets {
                for (a, &v) in acc.iter_mut().zip(bk.iter()) {
                    *a += v as u64;
                }
            }
            black_box(acc)
        })
    });
    let hdr_buckets: Vec<_> = (0..90).map(|_| hdr.clone()).collect();
    g.bench_function("hdrhistogram merge 90 buckets", |b| {
        b.iter(|| {
            let mut acc =
                hdrhistogram::Histogram::<u32>::new_with_bounds(1, 70_368_744_177_664, 2).unwrap();
            for bk in &hdr_buckets {
                acc.add(bk).unwrap();
            }
            black_box(acc.value_at_quantile(0.99))
        })
    });
    eprintln!(
        "sizes: log-linear {} bytes, hdrhistogram(2 digits, u32) ~{} bytes",
        SLOTS * 4,
        hdr.distinct_values() * 4
    );

    // Through the store: one key's record and a snapshot of 1000 routes.
    let sg = spyglass_core::Spyglass::builder().build().unwrap();
    let em = sg.emitter();
    g.bench_function("stats store: emit_req (record + queue)", |b| {
        b.iter(|| em.emit_req("GET", "/a", 200, Duration::from_micros(black_box(1500))))
    });
    for r in 0..1000 {
        for k in 0..20u64 {
            em.emit_req(
                "GET",
                format!("/route/{r}"),
                200,
                Duration::from_micros(100 + k * 37),
            );
        }
    }
    g.bench_function("snapshot of 1000 routes (15 min window)", |b| {
        b.iter(|| black_box(sg.stats().snapshot(Duration::from_secs(900))))
    });
    g.bench_function("snapshot of 1000 routes (1 min window)", |b| {
        b.iter(|| black_box(sg.stats().snapshot(Duration::from_secs(60))))
    });
    g.finish();
}

criterion_group!(benches, hist);
criterion_main!(benches);
