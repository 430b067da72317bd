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
pub(crate) fn mask(msg: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn masks_quoted_runs_and_numbers() {
        assert_eq!(
            mask(r#"invalid input syntax for type integer: "abc""#),
            r#"invalid input syntax for type integer: "?""#
        );
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
}
