//! SQL redaction: statement fingerprints with every literal replaced by `?`.
//!
//! Single-pass, byte-oriented and total: any input, valid SQL or not, gives a fingerprint, and no
//! literal survives it. Handled: quoted strings with `''` escapes (backslash escapes in `E'…'`
//! strings; plain strings follow standard SQL, as PostgreSQL and SQLite do) and their `E`, `N`, `B`,
//! `X` prefixes, dollar-quoted strings (`$tag$…$tag$`), numbers (integers, decimals, exponents, hex),
//! comments (`--`, `#` is left alone as it is an operator in PostgreSQL, nested `/* */`), casts (`?::int`
//! keeps its type). Parenthesized lists of placeholders collapse to `(?)`, and repeated tuples
//! (`VALUES (?), (?)`) to one, so `IN (1, 2, 3)` and `IN (4)` share a fingerprint. Whitespace is
//! normalized. Bind placeholders (`?`, `$1`, `:name`, `@p1`) are kept.
//!
//! # Example
//!
//! ```
//! use spyglass_core::redact::redact;
//!
//! assert_eq!(
//!     redact("SELECT * FROM users WHERE id = 42 AND name = 'O''Brien' -- look up"),
//!     "SELECT * FROM users WHERE id = ? AND name = ?"
//! );
//! assert_eq!(redact("select 1 where x in (1,2, 3)"), "select ? where x in (?)");
//! ```

/// Returns the fingerprint of `sql`: literals replaced by `?`, comments removed, lists collapsed,
/// whitespace normalized.
pub fn redact(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let b = sql.as_bytes();
    let mut i = 0;
    let mut pending_space = false;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => {
                pending_space = true;
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                pending_space = true;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = skip_block_comment(b, i);
                pending_space = true;
            }
            b'\'' => {
                // A string prefix letter (E'..', N'..', X'..', B'..') glued to the quote is part of the
                // literal: drop it. Only E'..' strings take backslash escapes (standard SQL, as
                // PostgreSQL and SQLite read plain strings).
                let mut escapes = false;
                if let Some(&last) = out.as_bytes().last() {
                    if !pending_space
                        && matches!(last, b'e' | b'E' | b'n' | b'N' | b'x' | b'X' | b'b' | b'B')
                        && !out
                            .as_bytes()
                            .get(out.len().wrapping_sub(2))
                            .is_some_and(|p| is_ident(*p))
                    {
                        escapes = matches!(last, b'e' | b'E');
                        out.pop();
                    }
                }
                i = skip_quoted(b, i, b'\'', escapes);
                push_token(&mut out, "?", &mut pending_space);
            }
            b'"' | b'`' => {
                // Quoted identifiers are kept verbatim (they name tables and columns, not data).
                let end = skip_quoted(b, i, c, false);
                push_token(&mut out, &sql[i..end], &mut pending_space);
                i = end;
            }
            b'[' => {
                // SQL Server style identifier [name]; an unclosed one is kept as a bracket.
                let end = b[i..]
                    .iter()
                    .position(|&x| x == b']')
                    .map_or(i + 1, |p| i + p + 1);
                push_token(&mut out, &sql[i..end], &mut pending_space);
                i = end;
            }
            b'$' => {
                if let Some(end) = dollar_quote_end(b, i) {
                    push_token(&mut out, "?", &mut pending_space);
                    i = end;
                } else {
                    // Positional parameter `$1` or a lone dollar: keep.
                    let mut j = i + 1;
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                    push_token(&mut out, &sql[i..j], &mut pending_space);
                    i = j;
                }
            }
            b'0'..=b'9' => {
                i = skip_number(b, i);
                push_token(&mut out, "?", &mut pending_space);
            }
            b'.' if b.get(i + 1).is_some_and(u8::is_ascii_digit)
                && !out.as_bytes().last().is_some_and(|p| is_ident(*p)) =>
            {
                i = skip_number(b, i);
                push_token(&mut out, "?", &mut pending_space);
            }
            _ if is_ident(c) => {
                // Identifiers and keywords, including ones with digits (`t1`, `col_2`) and non-ASCII
                // letters, copied whole so their digits are not taken for numbers.
                let start = i;
                while i < b.len() && (is_ident(b[i]) || b[i] >= 0x80) {
                    i += 1;
                }
                push_token(&mut out, &sql[start..i], &mut pending_space);
            }
            _ if c >= 0x80 => {
                // A non-ASCII character outside quotes: copy the whole UTF-8 sequence.
                let start = i;
                i += 1;
                while i < b.len() && (b[i] & 0xC0) == 0x80 {
                    i += 1;
                }
                push_token(&mut out, &sql[start..i], &mut pending_space);
            }
            _ => {
                push_punct(&mut out, c, &mut pending_space);
                i += 1;
            }
        }
    }
    collapse_lists(&out)
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

fn push_token(out: &mut String, tok: &str, pending_space: &mut bool) {
    if *pending_space && !out.is_empty() && !out.ends_with('(') {
        out.push(' ');
    }
    *pending_space = false;
    out.push_str(tok);
}

fn push_punct(out: &mut String, c: u8, pending_space: &mut bool) {
    match c {
        b',' => {
            out.push(',');
            *pending_space = true;
        }
        b')' => {
            out.push(')');
            *pending_space = false;
        }
        b'(' => {
            if *pending_space && !out.is_empty() && !out.ends_with('(') {
                out.push(' ');
            }
            out.push('(');
            *pending_space = false;
        }
        _ => {
            if *pending_space && !out.is_empty() && !out.ends_with('(') {
                out.push(' ');
            }
            *pending_space = false;
            out.push(c as char);
        }
    }
}

fn skip_block_comment(b: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// End (exclusive) of a quoted run starting at `start` with quote `q`; doubled quotes (and, with
/// `escapes`, backslash escapes) stay inside. An unterminated quote runs to the end of the input.
fn skip_quoted(b: &[u8], start: usize, q: u8, escapes: bool) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        if escapes && b[i] == b'\\' {
            i += 2;
        } else if b[i] == q {
            if b.get(i + 1) == Some(&q) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// If a dollar-quoted string starts at `start` (`$$` or `$tag$`), its end (exclusive).
fn dollar_quote_end(b: &[u8], start: usize) -> Option<usize> {
    let mut j = start + 1;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] >= 0x80) {
        j += 1;
    }
    if b.get(j) != Some(&b'$') {
        return None;
    }
    let tag = &b[start..=j];
    // A tag cannot start with a digit ($1$ is not a dollar quote).
    if tag.len() > 2 && tag[1].is_ascii_digit() {
        return None;
    }
    let body = j + 1;
    let end = b[body..]
        .windows(tag.len())
        .position(|w| w == tag)
        .map_or(b.len(), |p| body + p + tag.len());
    Some(end)
}

fn skip_number(b: &[u8], start: usize) -> usize {
    let mut i = start;
    if b[i] == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X')) {
        i += 2;
        while i < b.len() && b[i].is_ascii_hexdigit() {
            i += 1;
        }
        return i;
    }
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.' || b[i] == b'_') {
        i += 1;
    }
    if i < b.len() && matches!(b[i], b'e' | b'E') {
        let mut j = i + 1;
        if j < b.len() && matches!(b[j], b'+' | b'-') {
            j += 1;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            i = j;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    // Trailing identifier characters glued to a number (`1abc`) are swallowed with it.
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
        i += 1;
    }
    i
}

fn is_placeholder(item: &str) -> bool {
    item == "?"
        || (item.len() > 1
            && item.starts_with('$')
            && item[1..].bytes().all(|c| c.is_ascii_digit()))
}

/// `(?, ?, $3)` → `(?)`, then `(?), (?)` → `(?)`.
fn collapse_lists(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('(') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find(')');
        let is_list = close.is_some_and(|c| {
            let inner = &after[..c];
            !inner.contains('(') && inner.split(',').all(|it| is_placeholder(it.trim()))
        });
        if let (true, Some(c)) = (is_list, close) {
            if !(out.ends_with("(?), ") || out.ends_with("(?),")) {
                out.push_str("(?)");
            } else {
                // A repeated tuple: drop it together with the separating comma.
                let trimmed = out.trim_end_matches(' ').trim_end_matches(',').len();
                out.truncate(trimmed);
            }
            rest = &after[c + 1..];
        } else {
            out.push('(');
            rest = after;
        }
    }
    out.push_str(rest);
    out.truncate(out.trim_end().len());
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn cases() {
        let cases = [
            (
                "SELECT * FROM users WHERE id = 42",
                "SELECT * FROM users WHERE id = ?",
            ),
            (
                "select a from t where x in (1, 2, 3)",
                "select a from t where x in (?)",
            ),
            (
                "select a from t where x IN ('a','b')",
                "select a from t where x IN (?)",
            ),
            (
                "select * from t where id in ($1, $2, $3)",
                "select * from t where id in (?)",
            ),
            (
                "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')",
                "INSERT INTO t (a, b) VALUES (?)",
            ),
            ("select 'it''s' , E'a\\'b', 'C:\\'", "select ?, ?, ?"),
            ("select $$secret$$, $tag$ a $ b $tag$", "select ?, ?"),
            ("select 1 -- comment 123\n from t", "select ? from t"),
            ("select /* a /* nested */ 99 */ 2", "select ?"),
            (
                "select '5'::int, 3.14e-2::float8",
                "select ?::int, ?::float8",
            ),
            (
                "select * from t1 join t2 on t1.c3 = t2.c3",
                "select * from t1 join t2 on t1.c3 = t2.c3",
            ),
            ("select E'\\x41', x'DEAD', N'ünï'", "select ?, ?, ?"),
            ("select 0xFF, -7, .5", "select ?, -?, ?"),
            ("  select\n\t  1  ", "select ?"),
            (
                "select \"Weird Col\" from \"T\" where a = 'x'",
                "select \"Weird Col\" from \"T\" where a = ?",
            ),
            ("select 'unterminated", "select ?"),
            ("select 'héllo wörld' as ünïcode", "select ? as ünïcode"),
            (
                "update t set a = :a where b = @p1",
                "update t set a = :a where b = @p1",
            ),
            ("select $1, $2", "select $1, $2"),
            ("select count(*) from t", "select count(*) from t"),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "input: {input:?}");
        }
    }

    #[test]
    fn error_texts_are_masked() {
        use super::mask_error_text as mask;
        assert_eq!(
            mask(r#"syntax error at or near "'s3cret'""#),
            r#"syntax error at or near "?""#
        );
        assert_eq!(
            mask("near 'it''s': 12.5e3 and t1.c2"),
            "near '?': ? and t1.c2"
        );
        assert_eq!(
            mask("UNIQUE constraint failed: users.email"),
            "UNIQUE constraint failed: users.email"
        );
        assert_eq!(mask("unterminated \"abc"), "unterminated \"?");
        assert_eq!(mask("ünï 'x'"), "ünï '?'");
    }

    #[test]
    fn distinct_literals_share_a_fingerprint() {
        assert_eq!(
            redact("SELECT * FROM users WHERE id = 1"),
            redact("SELECT * FROM users WHERE id = 99999")
        );
        assert_eq!(redact("x IN (1)"), redact("x IN (1,2,3,4,5)"));
    }
}

/// An error text safe to record: every quoted run (`"…"`, `'…'`) and free-standing number of a
/// database's message becomes `?`, since such messages may quote a bind value
/// (`invalid input syntax for type integer: "abc"`). Identifiers with digits (`t1.c2`) are kept.
///
/// ```
/// use spyglass_core::redact::mask_error_text;
///
/// assert_eq!(
///     mask_error_text(r#"invalid input syntax for type integer: "abc""#),
///     r#"invalid input syntax for type integer: "?""#
/// );
/// ```
pub fn mask_error_text(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut chars = msg.char_indices().peekable();
    let mut prev_ident = false;
    while let Some((_, c)) = chars.next() {
        match c {
            '"' | '\'' => {
                out.push(c);
                out.push('?');
                // Skip to the closing quote (a doubled quote stays inside); unterminated: to the end.
                while let Some((_, d)) = chars.next() {
                    if d == c {
                        if chars.peek().is_some_and(|&(_, n)| n == c) {
                            chars.next();
                            continue;
                        }
                        out.push(c);
                        break;
                    }
                }
                prev_ident = false;
            }
            '0'..='9' if !prev_ident => {
                while chars
                    .peek()
                    .is_some_and(|&(_, n)| n.is_ascii_alphanumeric() || n == '.' || n == '_')
                {
                    chars.next();
                }
                out.push('?');
                prev_ident = false;
            }
            _ => {
                out.push(c);
                prev_ident = c.is_alphanumeric() || c == '_';
            }
        }
    }
    out
}

/// A bounded cache from raw statements to their fingerprints, so a statement seen before is
/// fingerprinted with a hash lookup and no allocation.
///
/// Each thread keeps a small direct-mapped cache in front, keyed by where the statement's text lives
/// and checked against the text itself: a statement that comes from the same string (a literal, a
/// prepared query) is found with one comparison, no hashing and no lock. Fingerprints are interned
/// as `'static` names while the process-wide table has room, so copying one costs no atomic
/// operation.
#[derive(Debug)]
pub struct Fingerprints {
    id: usize,
    map: parking_lot::RwLock<hashbrown::HashMap<Box<str>, crate::Name>>,
    cap: usize,
}

static NEXT_FINGERPRINTS_ID: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(1);

mod near {
    use crate::Name;
    use std::cell::RefCell;

    const SLOTS: usize = 64;
    /// Statements longer than this are not kept per thread (the shared map still has them).
    pub(super) const MAX_LEN: usize = 4096;

    pub(super) struct Entry {
        owner: usize,
        addr: usize,
        raw: Box<str>,
        name: Name,
    }

    thread_local! {
        static NEAR: RefCell<[Option<Entry>; SLOTS]> = const { RefCell::new([const { None }; SLOTS]) };
    }

    #[inline]
    fn slot(addr: usize, len: usize) -> usize {
        (((addr ^ len.rotate_left(32)) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize
            % SLOTS
    }

    #[inline]
    pub(super) fn get(owner: usize, sql: &str) -> Option<Name> {
        let addr = sql.as_ptr() as usize;
        NEAR.try_with(|c| {
            let c = c.try_borrow().ok()?;
            match &c[slot(addr, sql.len())] {
                Some(e) if e.owner == owner && e.addr == addr && &*e.raw == sql => {
                    Some(e.name.clone())
                }
                _ => None,
            }
        })
        .ok()
        .flatten()
    }

    pub(super) fn put(owner: usize, sql: &str, name: &Name) {
        if sql.len() > MAX_LEN {
            return;
        }
        let addr = sql.as_ptr() as usize;
        let _ = NEAR.try_with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                c[slot(addr, sql.len())] = Some(Entry {
                    owner,
                    addr,
                    raw: sql.into(),
                    name: name.clone(),
                });
            }
        });
    }
}

impl Fingerprints {
    /// A cache holding at most `cap` raw statements.
    pub fn new(cap: usize) -> Self {
        Fingerprints {
            id: NEXT_FINGERPRINTS_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            map: Default::default(),
            cap,
        }
    }

    /// The fingerprint of `sql`, shared with every other statement of the same shape.
    #[inline]
    pub fn get(&self, sql: &str) -> crate::Name {
        match near::get(self.id, sql) {
            Some(n) => n,
            None => self.get_and_keep_near(sql),
        }
    }

    /// A statement not in this thread's cache: looked up (or fingerprinted) and kept near. Out of
    /// line, so the common path stays short.
    #[cold]
    #[inline(never)]
    fn get_and_keep_near(&self, sql: &str) -> crate::Name {
        let n = self.get_shared(sql);
        near::put(self.id, sql, &n);
        n
    }

    fn get_shared(&self, sql: &str) -> crate::Name {
        if let Some(n) = self.map.read().get(sql) {
            return n.clone();
        }
        let name = crate::name::intern_static(&redact(sql));
        let mut map = self.map.write();
        if map.len() < self.cap {
            map.insert(sql.into(), name.clone());
        }
        name
    }
}
