//! The bounded drop-oldest queue: crossbeam's `ArrayQueue::force_push` against `flume` made
//! drop-oldest by popping from the producer side when full.
//!
//! Run: `cargo bench -p spyglass-benches-core --bench queue`

use std::hint::black_box;
use std::sync::Barrier;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;

const CAP: usize = 1024;

/// A payload of the size of a Spyglass event.
#[derive(Clone, Copy)]
struct Ev(#[allow(dead_code)] [u64; 14]);

trait DropOldest: Sync {
    fn push(&self, v: Ev);
}

impl DropOldest for ArrayQueue<Ev> {
    #[inline]
    fn push(&self, v: Ev) {
        black_box(self.force_push(v));
    }
}

struct Flume(flume::Sender<Ev>, flume::Receiver<Ev>);

impl DropOldest for Flume {
    #[inline]
    fn push(&self, v: Ev) {
        let mut v = v;
        loop {
            match self.0.try_send(v) {
                Ok(()) => return,
                Err(flume::TrySendError::Full(back)) => {
                    black_box(self.1.try_recv().ok());
                    v = back;
                }
                Err(flume::TrySendError::Disconnected(_)) => return,
            }
        }
    }
}

fn full_queue(c: &mut Criterion) {
    let mut g = c.benchmark_group("drop-oldest push into a full queue");
    g.throughput(Throughput::Elements(1));
    let ev = Ev([7; 14]);
    let aq = ArrayQueue::new(CAP);
    let (tx, rx) = flume::bounded(CAP);
    let fl = Flume(tx, rx);
    for _ in 0..CAP {
        DropOldest::push(&aq, ev);
        fl.push(ev);
    }
    g.bench_function("crossbeam ArrayQueue::force_push, 1 producer", |b| {
        b.iter(|| DropOldest::push(&aq, black_box(ev)))
    });
    g.bench_function("flume try_send/try_recv, 1 producer", |b| {
        b.iter(|| fl.push(black_box(ev)))
    });
    for (name, q) in [
        (
            "crossbeam ArrayQueue::force_push, 2 producers",
            &aq as &dyn DropOldest,
        ),
        (
            "flume try_send/try_recv, 2 producers",
            &fl as &dyn DropOldest,
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let barrier = Barrier::new(2);
                std::thread::scope(|s| {
                    let other = s.spawn(|| {
                        barrier.wait();
                        let t = Instant::now();
                        for _ in 0..iters / 2 {
                            q.push(ev);
                        }
                        t.elapsed()
                    });
                    barrier.wait();
                    let t = Instant::now();
                    for _ in 0..iters / 2 {
                        q.push(ev);
                    }
                    t.elapsed().max(other.join().unwrap())
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, full_queue);
criterion_main!(benches);
