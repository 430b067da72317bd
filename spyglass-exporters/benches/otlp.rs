//! OTLP export cost on the collector side (being written).
fn main() {}
