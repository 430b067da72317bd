//! Property tests of the SQL redactor: total on any input, and no literal survives.

use proptest::prelude::*;
use spyglass_core::redact::redact;

/// A literal whose text is distinctive enough to search for in the output, and its SQL spelling.
#[derive(Debug, Clone)]
enum Lit {
    Int(u64),
    Float(u64, u32),
    Str(String),
    Dollar(String),
    EStr(String),
}

impl Lit {
    /// The secret text that must not appear in the output.
    fn secret(&self) -> String {
        match self {
            Lit::Int(n) => n.to_string(),
            Lit::Float(a, b) => format!("{a}.{b}"),
            Lit::Str(s) | Lit::Dollar(s) | Lit::EStr(s) => s.clone(),
        }
    }

    fn sql(&self) -> String {
        match self {
            Lit::Int(n) => n.to_string(),
            Lit::Float(a, b) => format!("{a}.{b}"),
            Lit::Str(s) => format!("'{}'", s.replace('\'', "''")),
            Lit::Dollar(s) => format!("$q${s}$q$"),
            Lit::EStr(s) => format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        }
    }
}

fn secret_text() -> impl Strategy<Value = String> {
    // A marker that no SQL keyword or identifier of the templates contains, plus arbitrary text
    // with quotes, backslashes, unicode and SQL-looking fragments inside.
    (
        "[a-z]{0,6}",
        prop::sample::select(vec![
            "", "'", "''", "\\", "--", "/*", "*/", "$", "$$", "é🦀", " OR 1=1 ", "\n", ")", "(",
            ",",
        ]),
        "[A-Za-z0-9 ]{0,6}",
    )
        .prop_map(|(a, mid, b)| format!("SECRET{a}{mid}{b}"))
}

fn lit() -> impl Strategy<Value = Lit> {
    prop_oneof![
        (1_000_000u64..u64::MAX).prop_map(Lit::Int),
        (100_000u64..10_000_000u64, 100_000u32..999_999u32).prop_map(|(a, b)| Lit::Float(a, b)),
        secret_text().prop_map(Lit::Str),
        secret_text()
            .prop_filter("no dollar tag inside", |s| !s.contains("$q$"))
            .prop_map(Lit::Dollar),
        secret_text().prop_map(Lit::EStr),
    ]
}

fn statement() -> impl Strategy<Value = (String, Vec<Lit>)> {
    let templates = vec![
        "SELECT * FROM users WHERE id = {} AND name = {}",
        "select a, b from t1 where x in ({}, {}, {}) -- trailing SECRET 12345678\n and y = {}",
        "INSERT INTO t (a, b) VALUES ({}, {}), ({}, {})",
        "UPDATE t SET a = {}::text, b = {} /* c 'SECRET' /* nested */ 1234 */ WHERE id = {} AND z = {}",
        "SELECT {}, {} FROM dual WHERE ünïcode = {}",
        "DELETE FROM t WHERE a BETWEEN {} AND {}",
    ];
    (
        prop::sample::select(templates),
        prop::collection::vec(lit(), 4),
    )
        .prop_map(|(tpl, lits)| {
            let mut out = String::new();
            let mut used = Vec::new();
            let mut it = lits.into_iter().cycle();
            for (i, part) in tpl.split("{}").enumerate() {
                if i > 0 {
                    let l = it.next().expect("cycle");
                    out.push_str(&l.sql());
                    used.push(l);
                }
                out.push_str(part);
            }
            (out, used)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn no_literal_survives((sql, lits) in statement()) {
        let out = redact(&sql);
        for l in &lits {
            let secret = l.secret();
            prop_assert!(!out.contains(&secret), "{secret:?} survived in {out:?} (from {sql:?})");
            prop_assert!(!out.contains("SECRET"), "part of a literal survived in {out:?} (from {sql:?})");
        }
        // The same shape with other literals gives the same fingerprint.
        prop_assert_eq!(redact(&out), out.clone(), "fingerprints are fixed points");
    }

    #[test]
    fn never_panics_on_arbitrary_input(s in any::<String>()) {
        let _ = redact(&s);
    }

    #[test]
    fn never_panics_on_sql_like_junk(s in "[-'\"$/*()?,:;.0-9a-zA-Zé \\\\\n]{0,80}") {
        let out = redact(&s);
        prop_assert!(out.len() <= s.len() + 8);
    }
}
