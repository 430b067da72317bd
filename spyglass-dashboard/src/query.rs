//! Query-string parameters of the JSON API, validated with messages that say what is accepted.

use std::time::Duration;

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

    /// Every pair except `key`, re-encoded (to drop `token` from a redirect target).
    pub(crate) fn without(&self, key: &str) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.pairs.iter().filter(|(k, _)| k != key) {
            ser.append_pair(k, v);
        }
        ser.finish()
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

    /// `window` in seconds, `1..=max` (the stats store's longest window), default `max`.
    pub(crate) fn window(&self, max: Duration) -> Result<Duration, String> {
        let max = max.as_secs().max(1);
        self.uint("window", max, 1, max).map(Duration::from_secs)
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
        assert_eq!(q.without("token"), "window=60&limit=abc");
        let q = Query::parse(Some("window=0")).unwrap();
        assert!(q.window(Duration::from_secs(900)).is_err());
        let q = Query::parse(None).unwrap();
        assert_eq!(q.window(Duration::from_secs(900)).unwrap().as_secs(), 900);
    }
}
