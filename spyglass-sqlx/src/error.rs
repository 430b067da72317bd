//! Error texts safe to record: the database's message with every quoted run and number masked.
//!
//! Database messages may quote the offending value (`invalid input syntax for type integer: "abc"`,
//! `syntax error at or near "'secret'"`), and that value may be a bind parameter. Spyglass never
//! records bind values, so every quoted run (`"…"`, `'…'`) and every free-standing number in the
//! message becomes `?`. The structured parts that hold no data are kept: the SQLSTATE code and the
//! constraint name.

use std::fmt::Write as _;

use sqlx_core::error::{Error, ErrorKind};

/// The text recorded for a failed query: `[SQLSTATE] message (constraint name)` for database errors,
/// the error's kind and masked text otherwise.
pub(crate) fn error_text(e: &Error) -> String {
    let mut out = String::new();
    match e {
        Error::Database(db) => {
            if let Some(code) = db.code() {
                let _ = write!(out, "[{}] ", mask(&code));
            }
            out.push_str(&mask(db.message()));
            if let Some(c) = db.constraint() {
                let _ = write!(out, " (constraint {c})");
            }
            if out.is_empty() {
                out.push_str(kind_name(db.kind()));
            }
        }
        other => out.push_str(&mask(&other.to_string())),
    }
    out
}

fn kind_name(k: ErrorKind) -> &'static str {
    match k {
        ErrorKind::UniqueViolation => "unique violation",
        ErrorKind::ForeignKeyViolation => "foreign key violation",
        ErrorKind::NotNullViolation => "not-null violation",
        ErrorKind::CheckViolation => "check violation",
        ErrorKind::ExclusionViolation => "exclusion violation",
        _ => "database error",
    }
}

/// Replaces the contents of quoted runs and free-standing numbers by `?`.
pub(crate) use spyglass_core::redact::mask_error_text as mask;
