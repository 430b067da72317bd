//! JSON Lines files: one JSON object per sampled event, with rotation, retention and gzip.
//!
//! Each line is an [`EventRecord`] (SPEC §7). Files are named after [`filename_template`]
//! (default `spyglass-{timestamp}.jsonl`) in the directory given to [`JsonlExporter::new`], which is
//! created when missing.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use spyglass_exporters::JsonlExporter;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let jsonl = JsonlExporter::new(dir.path())
//!     .rotate_bytes(16 << 20)                  // a new file every 16 MiB…
//!     .rotate_secs(3600)                       // …or every hour, whichever comes first
//!     .max_files(24)                           // keep the 24 newest files
//!     .max_age(Duration::from_secs(7 * 86_400))
//!     .gzip(true);                             // compress closed files
//! let stats = jsonl.stats();
//!
//! let sg = spyglass_core::Spyglass::builder().service_name("shop").exporter(jsonl).build().unwrap();
//! sg.emitter().emit_req("GET", "/users/{id}", 200, Duration::from_millis(15));
//! sg.shutdown(); // writes, flushes and fsyncs the current file
//! assert_eq!(stats.written(), 1);
//! ```
//!
//! # Guarantees
//!
//! - **Whole lines.** A line goes entirely into one file: rotation happens between lines, never
//!   inside one, and a closed file ends with a newline. If a write fails half-way (disk full), the
//!   partial line is cut off again before the file is closed.
//! - **Exact accounting.** Every sampled event handed to the exporter is either written once or
//!   counted as lost in [`JsonlStats::lost`]. A failed write is returned to the collector as
//!   [`ExportError::Lost`] (counted in `collector.export_errors`, logged at most once per interval);
//!   the application never sees it.
//! - **Recovery.** After a write error the file is closed and a new one is opened on the next
//!   batch. A file whose directory was removed is noticed before the next write (its link count
//!   is zero) and replaced by a new file in a re-created directory.
//! - **Durability.** [`Exporter::shutdown`] writes everything and fsyncs the current file.
//!
//! Lines are serialized into one reusable buffer and written with one `write` per batch (the
//! buffer plays the part of a `BufWriter` whose contents are known line by line, which is what
//! exact accounting after a partial write needs). Gzip and retention run on a housekeeping thread
//! of their own, so compressing a large file never holds up the collector.
//!
//! [`filename_template`]: JsonlExporter::filename_template

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use spyglass_core::event::EventRecord;
use spyglass_core::export::{Batch, ExportError, Exporter, Resource};

use crate::time::Utc;

/// Default file name template.
pub const DEFAULT_TEMPLATE: &str = "spyglass-{timestamp}.jsonl";
/// Default size at which a file is rotated: 64 MiB.
pub const DEFAULT_ROTATE_BYTES: u64 = 64 << 20;

/// Writes sampled events as JSON Lines into rotated files. See the [module docs](self).
#[derive(Debug)]
pub struct JsonlExporter {
    cfg: Config,
    stats: JsonlStats,
    shared: Arc<Shared>,
    file: Option<Current>,
    /// Complete lines not yet written.
    buf: Vec<u8>,
    /// How many lines `buf` holds.
    buf_lines: u64,
    /// The last file name base and collision counter, so rotations within one second do not probe
    /// every taken name again.
    last_name: Option<(String, u32)>,
    housekeeper: Option<Housekeeper>,
}

#[derive(Debug, Clone)]
struct Config {
    dir: PathBuf,
    rotate_bytes: u64,
    rotate_after: Option<Duration>,
    template: String,
    max_files: Option<usize>,
    max_age: Option<Duration>,
    gzip: bool,
}

/// State shared with the housekeeping thread.
#[derive(Debug, Default)]
struct Shared {
    /// The file being written; retention never deletes it. Held while a new file is created so
    /// that a sweep never sees a file that is open but not yet marked current.
    current: Mutex<Option<PathBuf>>,
}

#[derive(Debug)]
struct Current {
    file: File,
    path: PathBuf,
    bytes: u64,
    opened: Instant,
}

/// Counters of a [`JsonlExporter`], readable from any thread. Clones share the counters.
#[derive(Debug, Clone, Default)]
pub struct JsonlStats {
    inner: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    written: AtomicU64,
    lost: AtomicU64,
    write_errors: AtomicU64,
    files_opened: AtomicU64,
    rotations: AtomicU64,
    files_compressed: AtomicU64,
    files_deleted: AtomicU64,
    housekeeping_errors: AtomicU64,
}

impl JsonlStats {
    /// Events written completely (their whole line, newline included).
    pub fn written(&self) -> u64 {
        self.inner.written.load(Ordering::Acquire)
    }

    /// Events that could not be written (no file could be opened, a write failed).
    pub fn lost(&self) -> u64 {
        self.inner.lost.load(Ordering::Acquire)
    }

    /// Failed opens and writes.
    pub fn write_errors(&self) -> u64 {
        self.inner.write_errors.load(Ordering::Relaxed)
    }

    /// Files created.
    pub fn files_opened(&self) -> u64 {
        self.inner.files_opened.load(Ordering::Relaxed)
    }

    /// Files closed by rotation (size or age).
    pub fn rotations(&self) -> u64 {
        self.inner.rotations.load(Ordering::Relaxed)
    }

    /// Closed files compressed to `.gz`.
    pub fn files_compressed(&self) -> u64 {
        self.inner.files_compressed.load(Ordering::Relaxed)
    }

    /// Files deleted by retention (`max_files`, `max_age`).
    pub fn files_deleted(&self) -> u64 {
        self.inner.files_deleted.load(Ordering::Relaxed)
    }

    /// Compressions or deletions that failed.
    pub fn housekeeping_errors(&self) -> u64 {
        self.inner.housekeeping_errors.load(Ordering::Relaxed)
    }

    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::AcqRel);
    }
}

impl JsonlExporter {
    /// Writes into `dir` (created when missing), rotating every [`DEFAULT_ROTATE_BYTES`].
    pub fn new(dir: impl AsRef<Path>) -> Self {
        JsonlExporter {
            cfg: Config {
                dir: dir.as_ref().to_path_buf(),
                rotate_bytes: DEFAULT_ROTATE_BYTES,
                rotate_after: None,
                template: DEFAULT_TEMPLATE.to_string(),
                max_files: None,
                max_age: None,
                gzip: false,
            },
            stats: JsonlStats::default(),
            shared: Arc::new(Shared::default()),
            file: None,
            buf: Vec::with_capacity(64 << 10),
            buf_lines: 0,
            last_name: None,
            housekeeper: None,
        }
    }

    /// Starts a new file before a line would take the current one past `bytes` (`0`: never rotate
    /// by size). A single line longer than `bytes` gets a file of its own.
    pub fn rotate_bytes(mut self, bytes: u64) -> Self {
        self.cfg.rotate_bytes = bytes;
        self
    }

    /// Starts a new file once the current one is `secs` seconds old (`0`: never rotate by age).
    /// Checked whenever events arrive: an idle exporter creates no empty files.
    pub fn rotate_secs(mut self, secs: u64) -> Self {
        self.cfg.rotate_after = (secs > 0).then(|| Duration::from_secs(secs));
        self
    }

    /// File name template; `{timestamp}` becomes the UTC time the file was opened
    /// (`20261122T054248Z`) and `{pid}` the process id. Default `spyglass-{timestamp}.jsonl`.
    ///
    /// When the name is taken (two rotations in one second) `-1`, `-2`, … is inserted before the
    /// text that follows the last placeholder (`spyglass-20261122T054248Z-1.jsonl`). The template
    /// must be a file name, not a path: a template containing `/` makes every write fail with an
    /// error saying so.
    pub fn filename_template(mut self, template: impl Into<String>) -> Self {
        self.cfg.template = template.into();
        self
    }

    /// Keeps at most `n` files (the one being written included), deleting the oldest closed ones
    /// after each rotation. Files are those whose names fit the template, gzipped or not.
    pub fn max_files(mut self, n: usize) -> Self {
        self.cfg.max_files = Some(n.max(1));
        self
    }

    /// Deletes closed files last modified more than `age` ago (checked at start and after each
    /// rotation).
    pub fn max_age(mut self, age: Duration) -> Self {
        self.cfg.max_age = Some(age);
        self
    }

    /// Compresses closed files to `<name>.gz` (gzip, fast level) on a background thread. The `.gz`
    /// appears complete or not at all (written as `.gz.tmp`, then renamed), and the original is
    /// removed only after the rename.
    pub fn gzip(mut self, on: bool) -> Self {
        self.cfg.gzip = on;
        self
    }

    /// A handle on this exporter's counters, to keep before handing the exporter to the builder.
    pub fn stats(&self) -> JsonlStats {
        self.stats.clone()
    }

    /// The directory written into.
    pub fn dir(&self) -> &Path {
        &self.cfg.dir
    }

    fn template_error(&self) -> Option<String> {
        let t = &self.cfg.template;
        if t.is_empty() {
            Some("filename_template is empty".into())
        } else if t.contains('/') || t.contains('\\') {
            Some(format!(
                "filename_template must be a file name without '/', got '{t}' (put directories in JsonlExporter::new)"
            ))
        } else {
            None
        }
    }

    /// Serializes and writes one batch; see the module docs for what happens on errors.
    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
        let mut first_err = self.rotate_if_old().err();
        let service: &str = &batch.resource.service_name;
        let limit = self.cfg.rotate_bytes;
        for ev in batch.sampled() {
            let start = self.buf.len();
            let rec = EventRecord { service, event: ev };
            if let Err(e) = serde_json::to_writer(&mut self.buf, &rec) {
                self.buf.truncate(start);
                JsonlStats::add(&self.stats.inner.lost, 1);
                first_err.get_or_insert(ExportError::Lost {
                    count: 1,
                    reason: format!("cannot serialize an event: {e}"),
                });
                continue;
            }
            self.buf.push(b'\n');
            if limit > 0 {
                let in_file = self.file.as_ref().map_or(0, |f| f.bytes);
                if in_file + self.buf.len() as u64 > limit && in_file + start as u64 > 0 {
                    // This line would cross the limit: finish the current file with the lines
                    // before it, and start the next file with this one.
                    if let Err(e) = self.write_out(start) {
                        first_err.get_or_insert(e);
                    }
                    self.rotate();
                }
            }
            self.buf_lines += 1;
        }
        if let Err(e) = self.write_out(self.buf.len()) {
            first_err.get_or_insert(e);
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Writes the first `n` bytes of the buffer (the `buf_lines` complete lines before the line being
    /// added, or all of them) and removes them from it, counting each line as written or lost.
    fn write_out(&mut self, n: usize) -> Result<(), ExportError> {
        let lines = std::mem::take(&mut self.buf_lines);
        if n == 0 {
            return Ok(());
        }
        let r = self.write_prefix(n, lines);
        self.buf.drain(..n);
        r
    }

    fn write_prefix(&mut self, n: usize, lines: u64) -> Result<(), ExportError> {
        let c = self.stats.inner.clone();
        if let Err(e) = self.ensure_open() {
            JsonlStats::add(&c.lost, lines);
            JsonlStats::add(&c.write_errors, 1);
            return Err(ExportError::Lost {
                count: lines,
                reason: format!(
                    "cannot open a new file in {}: {e}; retrying on the next batch",
                    self.cfg.dir.display()
                ),
            });
        }
        let cur = self.file.as_mut().expect("opened above");
        let data = &self.buf[..n];
        let mut done = 0;
        let mut error = None;
        while done < n {
            match cur.file.write(&data[done..]) {
                Ok(0) => {
                    error = Some(io::Error::from(io::ErrorKind::WriteZero));
                    break;
                }
                Ok(k) => done += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let Some(error) = error else {
            cur.bytes += n as u64;
            JsonlStats::add(&c.written, lines);
            return Ok(());
        };
        // Keep the complete lines that made it, cut off a partial one, and close the file.
        let whole = data[..done]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let whole_lines = data[..whole].iter().filter(|&&b| b == b'\n').count() as u64;
        let mut note = String::new();
        if done > whole {
            if let Err(e) = cur.file.set_len(cur.bytes + whole as u64) {
                note = format!(" (and cutting off the partial line failed: {e})");
            }
        }
        cur.bytes += whole as u64;
        let path = cur.path.clone();
        JsonlStats::add(&c.written, whole_lines);
        JsonlStats::add(&c.lost, lines - whole_lines);
        JsonlStats::add(&c.write_errors, 1);
        self.close_current(false);
        Err(ExportError::Lost {
            count: lines - whole_lines,
            reason: format!(
                "writing {}: {error}{note}; a new file is opened on the next batch",
                path.display()
            ),
        })
    }

    /// Makes sure a file is open, replacing one whose directory entry is gone.
    fn ensure_open(&mut self) -> io::Result<()> {
        if let Some(cur) = &self.file {
            if is_unlinked(&cur.file) {
                // Removed from under us (directory deleted, file moved away by hand): what is
                // written to it now would vanish. Start a new one.
                self.file = None;
                *self.shared.current.lock() = None;
            }
        }
        if self.file.is_none() {
            self.open_new()?;
        }
        Ok(())
    }

    fn open_new(&mut self) -> io::Result<()> {
        if let Some(msg) = self.template_error() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        }
        let ts = Utc::now().compact();
        let base = self
            .cfg
            .template
            .replace("{timestamp}", &ts)
            .replace("{pid}", &std::process::id().to_string());
        let mut n = match &self.last_name {
            Some((b, n)) if *b == base => n + 1,
            _ => 0,
        };
        fs::create_dir_all(&self.cfg.dir)?;
        let (_, suffix) = split_template(&self.cfg.template);
        // Held while creating the file: a sweep never sees it open but not yet current.
        let mut current = self.shared.current.lock();
        loop {
            let name = if n == 0 {
                base.clone()
            } else {
                let stem = base.strip_suffix(suffix).unwrap_or(&base);
                format!("{stem}-{n}{}", &base[stem.len()..])
            };
            let path = self.cfg.dir.join(&name);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    *current = Some(path.clone());
                    self.file = Some(Current {
                        file,
                        path,
                        bytes: 0,
                        opened: Instant::now(),
                    });
                    self.last_name = Some((base, n));
                    JsonlStats::add(&self.stats.inner.files_opened, 1);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1_000_000 => n += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Closes the current file (an empty one is removed) and hands it to the housekeeper.
    fn close_current(&mut self, rotation: bool) {
        let Some(cur) = self.file.take() else {
            return;
        };
        *self.shared.current.lock() = None;
        let Current {
            file, path, bytes, ..
        } = cur;
        drop(file);
        if rotation {
            JsonlStats::add(&self.stats.inner.rotations, 1);
        }
        if bytes == 0 {
            let _ = fs::remove_file(&path);
            return;
        }
        if let Some(h) = &self.housekeeper {
            let _ = h.tx.send(Job::Closed(path));
        }
    }

    fn rotate(&mut self) {
        self.close_current(true);
    }

    fn rotate_if_old(&mut self) -> Result<(), ExportError> {
        let old = match (&self.file, self.cfg.rotate_after) {
            (Some(f), Some(after)) => f.bytes > 0 && f.opened.elapsed() >= after,
            _ => false,
        };
        if old {
            let r = self.write_out(self.buf.len());
            self.rotate();
            return r;
        }
        Ok(())
    }

    fn start_housekeeper(&mut self) {
        if self.housekeeper.is_some()
            || !(self.cfg.gzip || self.cfg.max_files.is_some() || self.cfg.max_age.is_some())
        {
            return;
        }
        let (tx, rx) = mpsc::channel();
        let hk = HousekeeperThread {
            cfg: self.cfg.clone(),
            shared: self.shared.clone(),
            stats: self.stats.clone(),
        };
        match std::thread::Builder::new()
            .name("spyglass-jsonl-housekeeper".into())
            .spawn(move || hk.run(rx))
        {
            Ok(handle) => {
                let _ = tx.send(Job::Sweep);
                self.housekeeper = Some(Housekeeper {
                    tx,
                    handle: Some(handle),
                });
            }
            Err(e) => {
                JsonlStats::add(&self.stats.inner.housekeeping_errors, 1);
                eprintln!("spyglass: jsonl: cannot start the housekeeping thread ({e}): closed files will not be compressed or deleted");
            }
        }
    }
}

impl Exporter for JsonlExporter {
    fn name(&self) -> &'static str {
        "jsonl"
    }

    fn start(&mut self, _resource: &Resource) -> Result<(), ExportError> {
        self.start_housekeeper();
        if let Some(msg) = self.template_error() {
            return Err(ExportError::Other(msg));
        }
        fs::create_dir_all(&self.cfg.dir).map_err(|e| {
            ExportError::Other(format!(
                "cannot create {}: {e}; retrying on every batch",
                self.cfg.dir.display()
            ))
        })
    }

    fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
        self.write_batch(batch)
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        self.rotate_if_old()?;
        self.write_out(self.buf.len())
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        let mut r = self.write_out(self.buf.len());
        if let Some(cur) = &mut self.file {
            if let Err(e) = cur.file.sync_all() {
                r = r.and(Err(ExportError::Io(e)));
            }
            if cur.bytes == 0 {
                self.close_current(false);
            }
        }
        if let Some(mut h) = self.housekeeper.take() {
            drop(h.tx);
            if let Some(t) = h.handle.take() {
                let _ = t.join();
            }
        }
        r
    }
}

#[cfg(unix)]
fn is_unlinked(f: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    f.metadata().map(|m| m.nlink() == 0).unwrap_or(true)
}

#[cfg(not(unix))]
fn is_unlinked(_f: &File) -> bool {
    false
}

/// The literal text before the first placeholder and after the last one (for a template without
/// placeholders: the name up to its last `.`, and the extension).
fn split_template(t: &str) -> (&str, &str) {
    let first = [t.find("{timestamp}"), t.find("{pid}")]
        .into_iter()
        .flatten()
        .min();
    let last_end = [
        t.rfind("{timestamp}").map(|i| i + "{timestamp}".len()),
        t.rfind("{pid}").map(|i| i + "{pid}".len()),
    ]
    .into_iter()
    .flatten()
    .max();
    match (first, last_end) {
        (Some(a), Some(b)) => (&t[..a], &t[b..]),
        _ => match t.rfind('.') {
            Some(i) if i > 0 => (&t[..i], &t[i..]),
            _ => (t, ""),
        },
    }
}

/// Whether `name` is one of the exporter's files (plain or gzipped, not a temporary).
fn matches_template(name: &str, prefix: &str, suffix: &str) -> bool {
    if name.ends_with(".tmp") || !name.starts_with(prefix) {
        return false;
    }
    let rest = &name[prefix.len()..];
    let rest = rest.strip_suffix(".gz").unwrap_or(rest);
    rest.ends_with(suffix)
}

/// Sort key of a file name in creation order within one timestamp: `x-TS.jsonl` < `x-TS-1.jsonl` <
/// `x-TS-2.jsonl` < `x-TS-10.jsonl`.
fn creation_order(name: &str, suffix: &str) -> (String, u64) {
    let name = name.strip_suffix(".gz").unwrap_or(name);
    let stem = name.strip_suffix(suffix).unwrap_or(name);
    match stem.rsplit_once('-') {
        Some((head, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            (head.to_string(), n.parse().unwrap_or(u64::MAX))
        }
        _ => (stem.to_string(), 0),
    }
}

#[derive(Debug)]
struct Housekeeper {
    tx: mpsc::Sender<Job>,
    handle: Option<JoinHandle<()>>,
}

#[derive(Debug)]
enum Job {
    /// A file was closed: compress it (if asked), then apply retention.
    Closed(PathBuf),
    /// Apply retention.
    Sweep,
}

struct HousekeeperThread {
    cfg: Config,
    shared: Arc<Shared>,
    stats: JsonlStats,
}

impl HousekeeperThread {
    fn run(self, rx: mpsc::Receiver<Job>) {
        // Ends when the exporter drops its sender (shutdown), after the jobs already queued.
        while let Ok(job) = rx.recv() {
            if let Job::Closed(path) = job {
                if self.cfg.gzip {
                    match compress(&path) {
                        Ok(()) => JsonlStats::add(&self.stats.inner.files_compressed, 1),
                        // Deleted by retention in the meantime: nothing to do.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => {
                            JsonlStats::add(&self.stats.inner.housekeeping_errors, 1);
                            eprintln!("spyglass: jsonl: cannot gzip {}: {e}", path.display());
                        }
                    }
                }
            }
            if self.cfg.max_files.is_some() || self.cfg.max_age.is_some() {
                self.sweep();
            }
        }
    }

    fn sweep(&self) {
        let (prefix, suffix) = split_template(&self.cfg.template);
        // Held for the whole sweep: the exporter cannot open a file we have not seen as current.
        let current = self.shared.current.lock();
        let Ok(entries) = fs::read_dir(&self.cfg.dir) else {
            return;
        };
        let mut files: Vec<(SystemTime, (String, u64), PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                if !matches_template(&name, prefix, suffix) {
                    return None;
                }
                let path = e.path();
                if current.as_deref() == Some(path.as_path()) {
                    return None;
                }
                let meta = e.metadata().ok()?;
                meta.is_file().then(|| {
                    let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                    (mtime, creation_order(&name, suffix), path)
                })
            })
            .collect();
        // Newest first. File times are only as fine as the kernel's clock tick, so files closed in
        // the same tick are ordered by name, reading the collision counter as a number.
        files.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
        let keep_closed = self.cfg.max_files.map(|m| m.saturating_sub(1));
        let now = SystemTime::now();
        for (i, (mtime, _, path)) in files.iter().enumerate() {
            let too_many = keep_closed.is_some_and(|k| i >= k);
            let too_old = self
                .cfg
                .max_age
                .is_some_and(|age| now.duration_since(*mtime).unwrap_or_default() > age);
            if too_many || too_old {
                match fs::remove_file(path) {
                    Ok(()) => JsonlStats::add(&self.stats.inner.files_deleted, 1),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(_) => JsonlStats::add(&self.stats.inner.housekeeping_errors, 1),
                }
            }
        }
    }
}

/// `x.jsonl` → `x.jsonl.gz` through `x.jsonl.gz.tmp`, with the original's modification time; the
/// original is removed after the rename.
fn compress(path: &Path) -> io::Result<()> {
    let mut gz = path.as_os_str().to_owned();
    gz.push(".gz");
    let gz = PathBuf::from(gz);
    let mut tmp = gz.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let r = (|| {
        let mut input = File::open(path)?;
        let modified = input.metadata()?.modified()?;
        let out = io::BufWriter::with_capacity(256 << 10, File::create(&tmp)?);
        let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
        io::copy(&mut input, &mut enc)?;
        let out = enc.finish()?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        // Keep the time of the last event: retention orders and ages files by it.
        file.set_modified(modified)?;
        file.sync_all()?;
        fs::rename(&tmp, &gz)?;
        fs::remove_file(path)
    })();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parts() {
        assert_eq!(split_template(DEFAULT_TEMPLATE), ("spyglass-", ".jsonl"));
        assert_eq!(
            split_template("app-{pid}-{timestamp}.log"),
            ("app-", ".log")
        );
        assert_eq!(split_template("events.jsonl"), ("events", ".jsonl"));
        assert!(matches_template(
            "spyglass-20261122T054248Z.jsonl",
            "spyglass-",
            ".jsonl"
        ));
        assert!(matches_template(
            "spyglass-20261122T054248Z-3.jsonl.gz",
            "spyglass-",
            ".jsonl"
        ));
        assert!(!matches_template(
            "spyglass-20261122T054248Z.jsonl.gz.tmp",
            "spyglass-",
            ".jsonl"
        ));
        assert!(!matches_template("other.jsonl", "spyglass-", ".jsonl"));
    }

    #[test]
    fn creation_order_reads_the_counter_as_a_number() {
        let mut names = [
            "spyglass-20261122T054248Z-10.jsonl",
            "spyglass-20261122T054248Z-2.jsonl.gz",
            "spyglass-20261122T054249Z.jsonl",
            "spyglass-20261122T054248Z.jsonl",
            "spyglass-20261122T054248Z-1.jsonl",
        ];
        names.sort_by_key(|n| creation_order(n, ".jsonl"));
        assert_eq!(
            names,
            [
                "spyglass-20261122T054248Z.jsonl",
                "spyglass-20261122T054248Z-1.jsonl",
                "spyglass-20261122T054248Z-2.jsonl.gz",
                "spyglass-20261122T054248Z-10.jsonl",
                "spyglass-20261122T054249Z.jsonl",
            ]
        );
    }

    #[test]
    fn bad_template_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = JsonlExporter::new(dir.path()).filename_template("a/b.jsonl");
        let sg = spyglass_core::Spyglass::builder()
            .service_name("s")
            .build()
            .unwrap();
        let res = sg.resource().clone();
        let err = e.start(&res).unwrap_err().to_string();
        assert!(err.contains("filename_template"), "{err}");
        let events = [spyglass_core::Event::function("f", "m", 1, false)];
        let err = e
            .export(&Batch {
                events: &events,
                resource: &res,
            })
            .unwrap_err();
        assert!(matches!(err, ExportError::Lost { count: 1, .. }), "{err}");
        assert_eq!(e.stats().lost(), 1);
    }
}
