//! Spyglass exporters: JSONL files, console, Prometheus and OTLP, each behind its own feature.
//!
//! | feature | exporter | what it writes |
//! | --- | --- | --- |
//! | `jsonl` | [`JsonlExporter`] | one JSON object per sampled event, in rotated (optionally gzipped) files |
//! | `console` | [`ConsoleExporter`] | one human-readable line per sampled event on stdout |
//! | `prometheus` | [`PrometheusExporter`] | every event counted into histograms, served at `/_spyglass/metrics` |
//! | `otlp` | `OtlpExporter` | spans and metrics over OTLP |
//!
//! Exporters run on the collector's thread, fed by batches: nothing here runs on a request's thread.
//! Trace and log exporters (JSONL, console) write only the events chosen by sampling
//! ([`Batch::sampled`](spyglass_core::Batch::sampled)); metric exporters (Prometheus) count all of
//! them.
//!
//! # In an application
//!
//! Add exporters to the builder, or set the environment variables read by [`from_env`]
//! (`SPYGLASS_JSONL_DIR`, `SPYGLASS_CONSOLE`, `SPYGLASS_PROMETHEUS=1`, `OTEL_EXPORTER_OTLP_ENDPOINT`):
//!
//! ```
//! # #[cfg(all(feature = "jsonl", feature = "console"))] {
//! use spyglass_exporters::{ConsoleExporter, JsonlExporter};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let sg = spyglass_core::Spyglass::builder()
//!     .service_name("shop")
//!     .exporter(JsonlExporter::new(dir.path()).rotate_bytes(1 << 20).rotate_secs(3600))
//!     .exporter(ConsoleExporter::compact().writer(std::io::sink()))
//!     .build()
//!     .unwrap();
//! sg.emitter().emit_fn("checkout", std::time::Duration::from_millis(3), false);
//! sg.shutdown();
//! # }
//! ```
//!
//! # In a library
//!
//! Libraries emit events and never choose exporters: depend on `spyglass` (or `spyglass-core`)
//! without any exporter feature.

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

use std::sync::Once;

use spyglass_core::config::{register_env_exporters, EnvExporters};
use spyglass_core::{ConfigError, Exporter};

#[cfg(any(feature = "jsonl", feature = "console"))]
mod time;

#[cfg(feature = "jsonl")]
pub mod jsonl;
#[cfg(feature = "jsonl")]
pub use jsonl::{JsonlExporter, JsonlStats};

#[cfg(feature = "console")]
pub mod console;
#[cfg(feature = "console")]
pub use console::ConsoleExporter;

#[cfg(feature = "prometheus")]
pub mod prometheus;
#[cfg(feature = "prometheus")]
pub use prometheus::{PrometheusExporter, PrometheusHandle};

/// Registers the factory that turns `SPYGLASS_JSONL_DIR`, `SPYGLASS_CONSOLE`, `SPYGLASS_PROMETHEUS` and
/// `OTEL_EXPORTER_OTLP_ENDPOINT` into exporters. Idempotent and cheap after the first call.
pub fn register_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| register_env_exporters(from_env));
}

/// Builds the exporters the environment asks for.
///
/// An exporter whose feature is not compiled in is an error naming the variable and the feature to
/// enable, never a silent no-op.
pub fn from_env(env: &EnvExporters) -> Result<Vec<Box<dyn Exporter>>, ConfigError> {
    #[allow(unused_mut)]
    let mut out: Vec<Box<dyn Exporter>> = Vec::new();
    if let Some(dir) = &env.jsonl_dir {
        #[cfg(feature = "jsonl")]
        out.push(Box::new(JsonlExporter::new(dir)));
        #[cfg(not(feature = "jsonl"))]
        {
            let _ = dir;
            return Err(not_built("jsonl", "SPYGLASS_JSONL_DIR"));
        }
    }
    if let Some(style) = env.console {
        #[cfg(feature = "console")]
        out.push(Box::new(match style {
            spyglass_core::config::ConsoleStyle::Pretty => ConsoleExporter::pretty(),
            spyglass_core::config::ConsoleStyle::Compact => ConsoleExporter::compact(),
        }));
        #[cfg(not(feature = "console"))]
        {
            let _ = style;
            return Err(not_built("console", "SPYGLASS_CONSOLE"));
        }
    }
    if env.prometheus {
        #[cfg(feature = "prometheus")]
        out.push(Box::new(PrometheusExporter::new()));
        #[cfg(not(feature = "prometheus"))]
        return Err(not_built("prometheus", "SPYGLASS_PROMETHEUS"));
    }
    if env.otlp_endpoint.is_some() {
        #[cfg(feature = "otlp")]
        out.push(Box::new(otlp::OtlpExporter::from_env(env)?));
        #[cfg(not(feature = "otlp"))]
        return Err(not_built("otlp", "OTEL_EXPORTER_OTLP_ENDPOINT"));
    }
    Ok(out)
}

#[allow(dead_code)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_requested_nothing_built() {
        assert!(from_env(&EnvExporters::default()).unwrap().is_empty());
    }

    #[cfg(not(feature = "jsonl"))]
    #[test]
    fn a_feature_that_is_off_is_a_clear_error() {
        let mut env = EnvExporters::default();
        env.jsonl_dir = Some("/tmp/x".into());
        let msg = from_env(&env).unwrap_err().to_string();
        assert_eq!(
            msg,
            "exporter 'jsonl': SPYGLASS_JSONL_DIR is set but the `jsonl` feature of spyglass is not enabled"
        );
    }
}
