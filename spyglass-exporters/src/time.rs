//! UTC calendar arithmetic for file names and console timestamps (no time-zone database needed).

/// A UTC date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Utc {
    pub(crate) year: i64,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    pub(crate) millis: u32,
}

impl Utc {
    /// The date and time `ns` nanoseconds after the Unix epoch.
    pub(crate) fn from_unix_nanos(ns: u64) -> Utc {
        let secs = (ns / 1_000_000_000) as i64;
        let millis = ((ns % 1_000_000_000) / 1_000_000) as u32;
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Utc {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem % 3600 / 60,
            second: rem % 60,
            millis,
        }
    }

    /// Now.
    #[cfg(feature = "jsonl")]
    pub(crate) fn now() -> Utc {
        Utc::from_unix_nanos(spyglass_core::clock::unix_nanos())
    }

    /// `20261122T054248Z`: sortable, and valid in file names on every platform.
    #[cfg(feature = "jsonl")]
    pub(crate) fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        let t = Utc::from_unix_nanos(0);
        assert_eq!((t.year, t.month, t.day, t.hour), (1970, 1, 1, 0));
        // 2024-02-29T23:59:59.250Z
        let t = Utc::from_unix_nanos(1_709_251_199_250_000_000);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis),
            (2024, 2, 29, 23, 59, 59, 250)
        );
        // 2000-03-01T00:00:00Z
        let t = Utc::from_unix_nanos(951_868_800_000_000_000);
        assert_eq!((t.year, t.month, t.day), (2000, 3, 1));
    }

    #[cfg(feature = "jsonl")]
    #[test]
    fn compact_format() {
        let t = Utc::from_unix_nanos(1_732_000_000_000_000_000);
        assert_eq!(t.compact(), "20241119T070640Z");
    }
}
