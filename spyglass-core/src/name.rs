//! [`Name`]: a cheaply cloned string for route templates, function names and query fingerprints.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// A route template, function name or query fingerprint.
///
/// Either a `&'static str` (names fixed at compile time) or a shared `Arc<str>` (route templates handed
/// out by the router, interned fingerprints). Cloning never allocates: it copies a pointer or bumps a
/// reference count.
#[derive(Clone)]
pub struct Name(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Name {
    /// A name from a string literal or other `'static` string.
    pub const fn from_static(s: &'static str) -> Self {
        Name(Repr::Static(s))
    }

    /// Address and length of the text: equal for two names that share their storage.
    #[inline]
    pub(crate) fn addr(&self) -> (usize, usize) {
        let s = self.as_str();
        (s.as_ptr() as usize, s.len())
    }

    /// The text.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for Name {}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Name {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&'static str> for Name {
    fn from(s: &'static str) -> Self {
        Name(Repr::Static(s))
    }
}

impl From<Arc<str>> for Name {
    fn from(s: Arc<str>) -> Self {
        Name(Repr::Shared(s))
    }
}

impl From<String> for Name {
    fn from(s: String) -> Self {
        Name(Repr::Shared(s.into()))
    }
}

impl From<&Arc<str>> for Name {
    fn from(s: &Arc<str>) -> Self {
        Name(Repr::Shared(s.clone()))
    }
}

impl serde::Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

const INTERN_MAX: usize = 1024;

/// Distinct texts the process-wide table keeps for the life of the process, and their total size.
const STATIC_MAX: usize = 8192;
const STATIC_MAX_BYTES: usize = 1 << 20;

#[derive(Default)]
struct StaticTable {
    set: hashbrown::HashSet<&'static str>,
    bytes: usize,
}

static STATIC: parking_lot::Mutex<Option<StaticTable>> = parking_lot::const_mutex(None);

/// `s` as a `'static` name from a process-wide table that keeps each distinct text for the life of
/// the process, so copies of the name carry no reference count between threads. The table is
/// bounded (8192 texts, 1 MiB); past that the name is a shared `Arc` instead.
pub(crate) fn intern_static(s: &str) -> Name {
    let mut g = STATIC.lock();
    let t = g.get_or_insert_with(StaticTable::default);
    if let Some(&k) = t.set.get(s) {
        return Name::from_static(k);
    }
    if t.set.len() >= STATIC_MAX || t.bytes + s.len() > STATIC_MAX_BYTES {
        return Name::from(Arc::<str>::from(s));
    }
    let k: &'static str = Box::leak(Box::<str>::from(s));
    t.set.insert(k);
    t.bytes += k.len();
    Name::from_static(k)
}

thread_local! {
    static INTERNED: std::cell::RefCell<hashbrown::HashMap<Box<str>, Name>> =
        std::cell::RefCell::new(hashbrown::HashMap::new());
}

/// `s` as a [`Name`], interned: the same text gives the same storage, so a middleware turning its
/// router's route template into a name allocates only the first time. Each thread keeps its own
/// lookup table (up to 1024 names) in front of a bounded process-wide one; the names themselves
/// are `'static` while the process-wide table has room (8192 texts, 1 MiB), so copying one costs no
/// atomic operation.
pub fn intern(s: &str) -> Name {
    // The same text from the same place (a router's template, a literal) is found by its address,
    // checked against the text, without hashing it.
    let slot = (((s.as_ptr() as usize ^ s.len()) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 59)
        as usize;
    if let Ok(Some(n)) = NEAR.try_with(|near| match &near.borrow()[slot] {
        Some((addr, n)) if *addr == s.as_ptr() as usize && n.as_str() == s => Some(n.clone()),
        _ => None,
    }) {
        return n;
    }
    let n = intern_hashed(s);
    let _ = NEAR.try_with(|near| near.borrow_mut()[slot] = Some((s.as_ptr() as usize, n.clone())));
    n
}

thread_local! {
    static NEAR: std::cell::RefCell<[Option<(usize, Name)>; 32]> =
        const { std::cell::RefCell::new([const { None }; 32]) };
}

fn intern_hashed(s: &str) -> Name {
    INTERNED
        .try_with(|cache| {
            if let Some(n) = cache.borrow().get(s) {
                return n.clone();
            }
            let n = intern_static(s);
            let mut cache = cache.borrow_mut();
            if cache.len() < INTERN_MAX {
                cache.insert(s.into(), n.clone());
            }
            n
        })
        .unwrap_or_else(|_| intern_static(s))
}

/// The HTTP method as a `'static` name, with OpenTelemetry's `_OTHER` for non-standard methods so the
/// set of values stays bounded.
pub fn method_name(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "_OTHER",
    }
}
