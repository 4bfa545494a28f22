//! `ops-gen runbook [TOPIC]`: recovery procedures for 3 a.m.
//!
//! The pages are Markdown under `docs/runbooks/` in the repository, where
//! alert `runbook_url`s point, and are compiled into the binary so they are
//! there when the network or the repository is not. A leaf: alert rules,
//! dashboards, the exporter's `/runbooks/` pages and the CLI all name these
//! topics, so they live below every one of them.

/// One recovery procedure.
#[derive(Debug, Clone, Copy)]
pub struct Runbook {
    /// The file name without `.md`, as `ops-gen runbook TOPIC` takes it.
    pub topic: &'static str,
    /// The whole page, Markdown.
    pub text: &'static str,
}

macro_rules! runbooks {
    ($($topic:literal),+ $(,)?) => {
        &[$(Runbook { topic: $topic, text: include_str!(concat!("../docs/runbooks/", $topic, ".md")) }),+]
    };
}

/// Every runbook, in the order people need them.
pub const ALL: &[Runbook] = runbooks![
    "check-failing",
    "smoke-failing",
    "restart-service",
    "drift",
    "warm-up",
    "backup-stale",
    "backup-unverified",
    "backup-retention-blocked",
    "drill-failed",
    "job-failed",
    "job-never-succeeded",
    "job-overdue",
    "restore-from-backup",
    "s3-failing",
    "canary-lost",
    "redis-save-failing",
    "disk-full",
    "exporter-down",
    "config-reload-failed",
    "full-reset",
];

impl Runbook {
    /// The page's title (its first heading).
    #[must_use]
    pub fn title(&self) -> &'static str {
        self.text.lines().next().and_then(|l| l.strip_prefix("# ")).unwrap_or(self.topic)
    }

    /// When to use it: the page's `**When:**` sentence, on one line.
    #[must_use]
    pub fn when(&self) -> String {
        let Some(start) = self.text.find("**When:**") else { return String::new() };
        let paragraph = self.text[start + "**When:**".len()..].split("\n\n").next().unwrap_or("");
        paragraph.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// The runbook for `topic`, or an error that suggests the nearest topic.
pub fn find(topic: &str) -> Result<&'static Runbook, String> {
    ALL.iter().find(|r| r.topic == topic).ok_or_else(|| {
        let topics = ALL.iter().map(|r| r.topic).collect::<Vec<_>>();
        let by_prefix = topics.iter().copied().find(|t| !topic.is_empty() && t.starts_with(topic));
        match by_prefix.or_else(|| crate::config::nearest(topic, topics.iter().copied())) {
            Some(near) => format!("no runbook `{topic}`; did you mean `{near}`? (topics: {})", topics.join(", ")),
            None => format!("no runbook `{topic}`; topics: {}", topics.join(", ")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_in_docs_is_a_runbook_and_back() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/runbooks");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(".md").to_owned())
            .collect();
        files.sort();
        let mut topics: Vec<&str> = ALL.iter().map(|r| r.topic).collect();
        topics.sort_unstable();
        assert_eq!(files, topics);
    }

    #[test]
    fn pages_have_a_title_a_when_and_only_known_cross_references() {
        for runbook in ALL {
            assert!(runbook.text.starts_with("# "), "{}: starts with its title", runbook.topic);
            assert!(!runbook.when().is_empty(), "{}: says when to use it", runbook.topic);
            // Cross-references are written **topic**.
            for (i, part) in runbook.text.split("**").enumerate() {
                let looks_like_topic = i % 2 == 1 && part.chars().all(|c| c.is_ascii_lowercase() || c == '-');
                if looks_like_topic && !part.is_empty() {
                    assert!(find(part).is_ok(), "{} refers to an unknown runbook **{part}**", runbook.topic);
                }
            }
        }
    }

    #[test]
    fn unknown_topics_suggest_the_nearest() {
        assert!(find("disk-ful").unwrap_err().contains("did you mean `disk-full`?"));
        assert!(find("restore").unwrap_err().contains("did you mean `restore-from-backup`?"));
        assert_eq!(find("warm-up").unwrap().title(), "Warm up dependencies");
    }
}
