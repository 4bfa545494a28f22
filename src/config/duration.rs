//! Human durations in config: `30s`, `5m`, `26h`, `1h 30m`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A [`Duration`] that reads and prints the way people write it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// How long ago `unix_seconds` was at `now`, to the second: `4m ago`.
    #[must_use]
    pub fn ago(unix_seconds: f64, now: std::time::SystemTime) -> String {
        let now = now.duration_since(std::time::SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        let secs = Duration::try_from_secs_f64((now - unix_seconds).max(0.0)).unwrap_or_default().as_secs();
        format!("{} ago", Self(Duration::from_secs(secs)))
    }

    #[must_use]
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    #[must_use]
    pub const fn from_millis(millis: u64) -> Self {
        Self(Duration::from_millis(millis))
    }

    #[must_use]
    pub const fn get(self) -> Duration {
        self.0
    }
}

impl fmt::Debug for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for HumanDuration {
    /// Whole hours, minutes or seconds print as `26h`, `5m`, `30s` (the way
    /// people write them in config); anything else as humantime does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let secs = d.as_secs();
        if d.subsec_nanos() != 0 || secs == 0 {
            write!(f, "{}", humantime::format_duration(d))
        } else if secs.is_multiple_of(3600) {
            write!(f, "{}h", secs / 3600)
        } else if secs.is_multiple_of(60) {
            write!(f, "{}m", secs / 60)
        } else {
            write!(f, "{secs}s")
        }
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = HumanDuration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as `30s`, `5m` or `26h`")
            }

            fn visit_str<E: serde::de::Error>(self, raw: &str) -> Result<HumanDuration, E> {
                humantime::parse_duration(raw.trim()).map(HumanDuration).map_err(|e| {
                    E::custom(format!("`{raw}` is not a duration ({e}); write it like `30s`, `5m` or `26h`"))
                })
            }

            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<HumanDuration, E> {
                Err(E::custom(format!("`{n}` has no unit; write it like `{n}s`, `{n}m` or `{n}h`")))
            }

            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<HumanDuration, E> {
                Err(E::custom(format!("`{n}` is not a duration; write it like `30s`, `5m` or `26h`")))
            }

            fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<HumanDuration, E> {
                Err(E::custom(format!("`{n}` has no unit; write it like `{n}s`")))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_round_trip() {
        let d: HumanDuration = serde_json::from_str("\"26h\"").unwrap();
        assert_eq!(d.get(), Duration::from_secs(26 * 3600));
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"26h\"");
        assert_eq!(HumanDuration::from_secs(90).to_string(), "90s");
        assert_eq!(HumanDuration::from_secs(300).to_string(), "5m");
        let ms: HumanDuration = serde_json::from_str("\"250ms\"").unwrap();
        assert_eq!(ms.get(), Duration::from_millis(250));
    }

    #[test]
    fn rejects_bare_numbers_with_a_hint() {
        let err = serde_json::from_str::<HumanDuration>("\"30\"").unwrap_err().to_string();
        assert!(err.contains("write it like `30s`"), "{err}");
    }
}
