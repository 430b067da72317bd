//! Query-string parameters of the JSON API, validated with messages that say what is accepted.

use std::time::Duration;

/// The window when a request names none (SPEC §6): 15 minutes.
pub(crate) const DEFAULT_WINDOW_SECS: u64 = 900;

/// The parsed query string.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub(crate) fn parse(raw: Option<&str>) -> Result<Self, String> {
        let raw = raw.unwrap_or("");
        if raw.len() > 4096 {
            return Err("query string too long (over 4096 bytes)".into());
        }
        Ok(Query {
            pairs: form_urlencoded::parse(raw.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        })
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// An integer parameter in `min..=max`, `default` when absent.
    pub(crate) fn uint(&self, key: &str, default: u64, min: u64, max: u64) -> Result<u64, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(format!(
                    "{key} must be a whole number between {min} and {max}, got '{v}'"
                )),
            },
        }
    }

    /// `window` in seconds, at least 1, default [`DEFAULT_WINDOW_SECS`] or `max` (the stats
    /// store's longest window) if shorter. A longer one is read as `max`, not refused: a client
    /// asking for more than an instance keeps (the page's 15-minute default, where the window is
    /// shorter) gets all there is, and the answer's `window_secs` says what it covers.
    pub(crate) fn window(&self, max: Duration) -> Result<Duration, String> {
        let max = max.as_secs().max(1);
        match self.get("window") {
            None => Ok(Duration::from_secs(DEFAULT_WINDOW_SECS.min(max))),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if n >= 1 => Ok(Duration::from_secs(n.min(max))),
                // Past u64: a number all the same, so the longest window.
                Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => {
                    Ok(Duration::from_secs(max))
                }
                _ => Err(format!(
                    "window must be a whole number of seconds, at least 1 (more than {max} reads as \
                     {max}), got '{v}'"
                )),
            },
        }
    }

    /// `limit`, `1..=1000`, default 100.
    pub(crate) fn limit(&self) -> Result<usize, String> {
        self.uint("limit", 100, 1, 1000).map(|n| n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_values() {
        let q = Query::parse(Some("window=60&limit=abc&token=a%20b")).unwrap();
        assert_eq!(q.window(Duration::from_secs(900)).unwrap().as_secs(), 60);
        assert_eq!(
            q.limit().unwrap_err(),
            "limit must be a whole number between 1 and 1000, got 'abc'"
        );
        assert_eq!(q.get("token"), Some("a b"));
        let q = Query::parse(Some("window=0")).unwrap();
        assert!(q.window(Duration::from_secs(900)).is_err());
        let q = Query::parse(None).unwrap();
        assert_eq!(q.window(Duration::from_secs(900)).unwrap().as_secs(), 900);
        assert_eq!(q.window(Duration::from_secs(3600)).unwrap().as_secs(), 900);
        assert_eq!(q.window(Duration::from_secs(300)).unwrap().as_secs(), 300);
    }

    #[test]
    fn a_window_past_the_longest_is_the_longest() {
        let max = Duration::from_secs(300);
        let window = |raw: &str| Query::parse(Some(raw)).unwrap().window(max);
        assert_eq!(window("window=900").unwrap().as_secs(), 300);
        assert_eq!(window("window=300").unwrap().as_secs(), 300);
        assert_eq!(window("window=60").unwrap().as_secs(), 60);
        assert_eq!(
            window("window=99999999999999999999999").unwrap().as_secs(),
            300
        );
        for bad in ["window=0", "window=-5", "window=abc", "window="] {
            assert_eq!(
                window(bad).unwrap_err(),
                format!(
                    "window must be a whole number of seconds, at least 1 (more than 300 reads as \
                     300), got '{}'",
                    &bad["window=".len()..]
                )
            );
        }
    }
}
