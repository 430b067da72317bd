//! Error texts safe to record: the database's message with every quoted run and number masked.
//!
//! Database messages may quote the offending value (`invalid input syntax for type integer: "abc"`,
//! `near "'secret'": syntax error`), and that value may be a bind parameter. Spyglass never records
//! bind values, so every quoted run (`"…"`, `'…'`) and every free-standing number in the message
//! becomes `?`. The constraint name, which holds no data, is kept.

use std::fmt::Write as _;

use diesel::result::{DatabaseErrorKind, Error};

/// The text recorded for a failed query: `message (constraint name)` for database errors, the
/// error's masked text otherwise.
pub(crate) fn error_text(e: &Error) -> String {
    match e {
        Error::DatabaseError(kind, info) => {
            let mut out = mask(info.message());
            if let Some(c) = info.constraint_name() {
                let _ = write!(out, " (constraint {c})");
            }
            if out.is_empty() {
                out.push_str(kind_name(kind));
            }
            out
        }
        other => mask(&other.to_string()),
    }
}

fn kind_name(k: &DatabaseErrorKind) -> &'static str {
    match k {
        DatabaseErrorKind::UniqueViolation => "unique violation",
        DatabaseErrorKind::ForeignKeyViolation => "foreign key violation",
        DatabaseErrorKind::NotNullViolation => "not-null violation",
        DatabaseErrorKind::CheckViolation => "check violation",
        DatabaseErrorKind::SerializationFailure => "serialization failure",
        DatabaseErrorKind::ReadOnlyTransaction => "read-only transaction",
        DatabaseErrorKind::RestrictViolation => "restrict violation",
        DatabaseErrorKind::ExclusionViolation => "exclusion violation",
        _ => "database error",
    }
}

/// Replaces the contents of quoted runs and free-standing numbers by `?`.
pub(crate) use spyglass_core::redact::mask_error_text as mask;
