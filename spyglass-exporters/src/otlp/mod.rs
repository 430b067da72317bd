//! OTLP exporter (being built: issue 5).

/// Exports spans and metrics over OTLP (being built: issue 5).
#[derive(Debug)]
pub struct OtlpExporter {}
