//! Benchmarks only: see `benches/db.rs` (`cargo bench -p spyglass-benches-db`).
