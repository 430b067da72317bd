//! Spyglass exporters: JSONL, console, Prometheus, OTLP, each behind its own feature.

use std::sync::Once;

use spyglass_core::config::{EnvExporters, register_env_exporters};
use spyglass_core::{ConfigError, Exporter};

/// Registers the factory that turns `SPYGLASS_JSONL_DIR`, `SPYGLASS_CONSOLE`, `SPYGLASS_PROMETHEUS` and
/// `OTEL_EXPORTER_OTLP_ENDPOINT` into exporters. Idempotent and cheap after the first call.
pub fn register_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| register_env_exporters(from_env));
}

/// Builds the exporters the environment asks for.
pub fn from_env(env: &EnvExporters) -> Result<Vec<Box<dyn Exporter>>, ConfigError> {
    let out: Vec<Box<dyn Exporter>> = Vec::new();
    if env.jsonl_dir.is_some() {
        return Err(not_built("jsonl", "SPYGLASS_JSONL_DIR"));
    }
    if env.console.is_some() {
        return Err(not_built("console", "SPYGLASS_CONSOLE"));
    }
    if env.prometheus {
        return Err(not_built("prometheus", "SPYGLASS_PROMETHEUS"));
    }
    if env.otlp_endpoint.is_some() {
        return Err(not_built("otlp", "OTEL_EXPORTER_OTLP_ENDPOINT"));
    }
    Ok(out)
}

fn not_built(name: &'static str, var: &str) -> ConfigError {
    ConfigError::Exporter {
        name,
        message: format!("{var} is set but the `{name}` feature of spyglass is not enabled"),
    }
}

#[cfg(feature = "otlp")]
pub mod otlp;
#[cfg(feature = "otlp")]
pub use otlp::OtlpExporter;
