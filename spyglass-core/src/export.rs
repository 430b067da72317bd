//! The [`Exporter`] trait: where batches of events go.
//!
//! Exporters run on the collector's own thread, never on a request's: they may block, do I/O or run
//! their own runtime. A failing exporter is counted in `collector.export_errors`, logged at most once
//! per interval, and never reaches the application.
//!
//! # Example
//!
//! ```
//! use spyglass_core::export::{Batch, ExportError, Exporter};
//!
//! #[derive(Debug, Default)]
//! struct CountingExporter(usize);
//!
//! impl Exporter for CountingExporter {
//!     fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
//!         self.0 += batch.sampled().count();
//!         Ok(())
//!     }
//! }
//!
//! let sg = spyglass_core::Spyglass::builder().exporter(CountingExporter::default()).build().unwrap();
//! # drop(sg);
//! ```

use std::fmt;
use std::sync::Arc;

use crate::event::Event;

/// Who is exporting: service identity, sent along with every batch.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Resource {
    /// `service.name` (`OTEL_SERVICE_NAME` or the builder's).
    pub service_name: Arc<str>,
    /// `service.version`, if set.
    pub service_version: Option<Arc<str>>,
    pub(crate) collector: Option<Arc<crate::collector::CollectorStats>>,
}

impl Resource {
    /// A resource for `service_name`, not tied to any instance (for tests and benches of exporters).
    pub fn new(service_name: impl Into<Arc<str>>) -> Self {
        Resource {
            service_name: service_name.into(),
            service_version: None,
            collector: None,
        }
    }

    /// The same resource with a `service.version`.
    pub fn with_version(mut self, version: impl Into<Arc<str>>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// The collector counters of the instance this resource belongs to, read now; `None` for a
    /// resource made with [`Resource::new`]. Exporters that publish health metrics read them here.
    pub fn collector(&self) -> Option<crate::stats::CollectorSnapshot> {
        self.collector.as_ref().map(|c| c.snapshot())
    }
}

/// A batch of events handed to every exporter.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// The events, oldest first. Metric exporters count all of them.
    pub events: &'a [Event],
    /// The service they belong to.
    pub resource: &'a Resource,
}

impl<'a> Batch<'a> {
    /// The events chosen for export by sampling (errors always are): what trace and log exporters
    /// write.
    pub fn sampled(&self) -> impl Iterator<Item = &'a Event> + 'a {
        self.events.iter().filter(|e| e.sampled)
    }
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// An I/O error (file, socket).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Events were lost (e.g. a batch dropped after retries).
    #[error("{count} events lost: {reason}")]
    Lost {
        /// How many events.
        count: u64,
        /// Why.
        reason: String,
    },
    /// Any other failure.
    #[error("{0}")]
    Other(String),
}

/// A sink for batches of events. See the module docs.
pub trait Exporter: Send + 'static {
    /// A short name for logs (`"jsonl"`, `"otlp"`, …).
    fn name(&self) -> &'static str {
        std::any::type_name::<Self>()
    }

    /// A renderer of the Prometheus text exposition, if this exporter offers one; the instance serves
    /// it at `/_spyglass/metrics`. Called once when the instance is built.
    fn metrics_renderer(&mut self) -> Option<crate::MetricsRenderer> {
        None
    }

    /// Called once on the collector thread before the first batch.
    fn start(&mut self, _resource: &Resource) -> Result<(), ExportError> {
        Ok(())
    }

    /// Exports one batch. Must not panic; errors are counted and logged by the collector.
    fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError>;

    /// Pushes out anything buffered.
    fn flush(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Flushes and releases resources; called once at shutdown.
    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.flush()
    }
}

impl fmt::Debug for dyn Exporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Exporter({})", self.name())
    }
}

#[cfg(any(test, feature = "testing"))]
pub use memory::InMemoryExporter;

#[cfg(any(test, feature = "testing"))]
mod memory {
    use super::*;
    use parking_lot::Mutex;

    /// Keeps every exported event in memory, for tests that assert on exact events.
    ///
    /// Clones share the same storage: keep one clone, give the other to the builder.
    #[derive(Debug, Clone, Default)]
    pub struct InMemoryExporter {
        inner: Arc<Mutex<State>>,
    }

    #[derive(Debug, Default)]
    struct State {
        events: Vec<Event>,
        batch_sizes: Vec<usize>,
        flushes: usize,
        shut_down: bool,
    }

    impl InMemoryExporter {
        /// An empty exporter.
        pub fn new() -> Self {
            Self::default()
        }

        /// Every event received so far (sampled or not), oldest first.
        pub fn events(&self) -> Vec<Event> {
            self.inner.lock().events.clone()
        }

        /// Sizes of the batches received.
        pub fn batch_sizes(&self) -> Vec<usize> {
            self.inner.lock().batch_sizes.clone()
        }

        /// How many times `flush` was called.
        pub fn flushes(&self) -> usize {
            self.inner.lock().flushes
        }

        /// Whether `shutdown` was called.
        pub fn is_shut_down(&self) -> bool {
            self.inner.lock().shut_down
        }
    }

    impl Exporter for InMemoryExporter {
        fn name(&self) -> &'static str {
            "memory"
        }

        fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
            let mut s = self.inner.lock();
            s.events.extend_from_slice(batch.events);
            s.batch_sizes.push(batch.events.len());
            Ok(())
        }

        fn flush(&mut self) -> Result<(), ExportError> {
            self.inner.lock().flushes += 1;
            Ok(())
        }

        fn shutdown(&mut self) -> Result<(), ExportError> {
            let mut s = self.inner.lock();
            s.flushes += 1;
            s.shut_down = true;
            Ok(())
        }
    }
}
