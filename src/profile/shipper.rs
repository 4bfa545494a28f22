//! The log shipper's config: Grafana Alloy (`alloy/config.alloy`, the
//! default) or Promtail (`promtail/promtail.yml`, when
//! `profile.log_shipper: promtail`; Promtail reached end of life in March
//! 2026 and stays only for hosts that already run it).
//!
//! Both discover containers through the read-only socket proxy, read their
//! logs through the Docker API and push them to Loki with the same stream
//! labels, which the Logs dashboard and `ops-gen smoke` rely on:
//! `compose_project`, `compose_service`, `container` and `stream`.
//!
//! Alloy's configuration language is not YAML or JSON, so it gets a small
//! typed syntax tree (`Block`, `Value`) with one printer, rather than
//! text pasted together: strings are always escaped, references are never
//! quoted, and the output is deterministic.

use std::fmt::{self, Write as _};

use serde::Serialize;

use super::compose::DOCKER_PROXY;
use super::{Artifact, Component, Context, LogShipper};

/// The stream labels every shipped log line carries, with the Docker
/// discovery meta label each comes from and the regex that extracts it.
pub const STREAM_LABELS: [(&str, &str, &str); 4] = [
    ("compose_project", "__meta_docker_container_label_com_docker_compose_project", "(.*)"),
    ("compose_service", "__meta_docker_container_label_com_docker_compose_service", "(.*)"),
    ("container", "__meta_docker_container_name", "/?(.*)"),
    ("stream", "__meta_docker_container_log_stream", "(.*)"),
];

#[must_use]
pub fn artifacts(ctx: &Context<'_>) -> Vec<Artifact> {
    let push = format!("{}/loki/api/v1/push", ctx.internal_url(Component::Loki));
    match ctx.profile.log_shipper {
        LogShipper::Alloy => vec![Artifact { path: "alloy/config.alloy".into(), contents: alloy(&push) }],
        LogShipper::Promtail => vec![Artifact::yaml("promtail/promtail.yml", &promtail(&push))],
    }
}

/// A value in Alloy's configuration language.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    String(String),
    /// A reference to another component's export, printed as is.
    Reference(String),
    List(Vec<Value>),
}

/// A block: `name "label" { attributes and blocks }`.
#[derive(Debug, Clone, PartialEq, Default)]
struct Block {
    name: String,
    label: Option<String>,
    body: Vec<Item>,
}

/// One line of a block's body.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Attribute(String, Value),
    Block(Block),
}

impl Block {
    fn new(name: &str, label: Option<&str>) -> Self {
        Self { name: name.to_owned(), label: label.map(str::to_owned), body: Vec::new() }
    }

    fn attr(mut self, key: &str, value: Value) -> Self {
        self.body.push(Item::Attribute(key.to_owned(), value));
        self
    }

    fn block(mut self, block: Block) -> Self {
        self.body.push(Item::Block(block));
        self
    }

    fn write(&self, out: &mut String, depth: usize) -> fmt::Result {
        let pad = "  ".repeat(depth);
        write!(out, "{pad}{}", self.name)?;
        if let Some(label) = &self.label {
            write!(out, " {}", quote(label))?;
        }
        if self.body.is_empty() {
            return writeln!(out, " {{ }}");
        }
        writeln!(out, " {{")?;
        let width = self
            .body
            .iter()
            .filter_map(|i| match i {
                Item::Attribute(k, _) => Some(k.len()),
                Item::Block(_) => None,
            })
            .max()
            .unwrap_or(0);
        for item in &self.body {
            match item {
                Item::Attribute(key, value) => writeln!(out, "{pad}  {key:width$} = {value}")?,
                Item::Block(block) => block.write(out, depth + 1)?,
            }
        }
        writeln!(out, "{pad}}}")
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String(s) => f.write_str(&quote(s)),
            Self::Reference(r) => f.write_str(r),
            Self::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// A string literal: Alloy strings use Go's escapes.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn string(s: &str) -> Value {
    Value::String(s.to_owned())
}

/// The Alloy pipeline: Docker discovery → relabel → Docker log source → Loki.
fn alloy(push_url: &str) -> String {
    let relabel = STREAM_LABELS.iter().fold(
        Block::new("discovery.relabel", Some("containers"))
            .attr("targets", Value::Reference("discovery.docker.containers.targets".to_owned())),
        |block, (target, source, regex)| {
            block.block(
                Block::new("rule", None)
                    .attr("source_labels", Value::List(vec![string(source)]))
                    .attr("regex", string(regex))
                    .attr("target_label", string(target)),
            )
        },
    );
    let blocks = [
        Block::new("logging", None).attr("level", string("warn")).attr("format", string("logfmt")),
        Block::new("discovery.docker", Some("containers"))
            .attr("host", string(DOCKER_PROXY))
            .attr("refresh_interval", string("15s")),
        relabel,
        Block::new("loki.source.docker", Some("containers"))
            .attr("host", string(DOCKER_PROXY))
            .attr("targets", Value::Reference("discovery.docker.containers.targets".to_owned()))
            .attr("relabel_rules", Value::Reference("discovery.relabel.containers.rules".to_owned()))
            .attr("forward_to", Value::List(vec![Value::Reference("loki.write.local.receiver".to_owned())])),
        Block::new("loki.write", Some("local")).block(Block::new("endpoint", None).attr("url", string(push_url))),
    ];
    let mut out = String::from(
        "// Generated by `ops-gen compose generate` from ops-gen.yml. Do not edit: change the config and regenerate.\n",
    );
    for block in &blocks {
        out.push('\n');
        block.write(&mut out, 0).expect("writing to a String cannot fail");
    }
    out
}

#[derive(Debug, Serialize)]
struct Promtail {
    server: PromtailServer,
    positions: Positions,
    clients: Vec<Client>,
    scrape_configs: Vec<ScrapeConfig>,
}

#[derive(Debug, Serialize)]
struct PromtailServer {
    http_listen_port: u16,
    grpc_listen_port: u16,
    log_level: &'static str,
}

#[derive(Debug, Serialize)]
struct Positions {
    filename: &'static str,
}

#[derive(Debug, Serialize)]
struct Client {
    url: String,
}

#[derive(Debug, Serialize)]
struct ScrapeConfig {
    job_name: &'static str,
    docker_sd_configs: Vec<DockerSd>,
    relabel_configs: Vec<Relabel>,
}

#[derive(Debug, Serialize)]
struct DockerSd {
    host: &'static str,
    refresh_interval: &'static str,
}

#[derive(Debug, Serialize)]
struct Relabel {
    source_labels: Vec<&'static str>,
    regex: &'static str,
    target_label: &'static str,
}

fn promtail(push_url: &str) -> Promtail {
    Promtail {
        server: PromtailServer {
            http_listen_port: Component::Promtail.container_port(),
            grpc_listen_port: 0,
            log_level: "warn",
        },
        positions: Positions { filename: "/var/lib/promtail/positions.yaml" },
        clients: vec![Client { url: push_url.to_owned() }],
        scrape_configs: vec![ScrapeConfig {
            job_name: "docker",
            docker_sd_configs: vec![DockerSd { host: DOCKER_PROXY, refresh_interval: "15s" }],
            relabel_configs: STREAM_LABELS
                .iter()
                .map(|(target, source, regex)| Relabel { source_labels: vec![source], regex, target_label: target })
                .collect(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloy_strings_are_escaped_and_references_bare() {
        let out = alloy("http://loki:3100/loki/api/v1/push");
        assert!(out.contains("  targets       = discovery.docker.containers.targets\n"), "{out}");
        assert!(out.contains("  forward_to    = [loki.write.local.receiver]\n"), "{out}");
        assert!(out.contains("regex         = \"/?(.*)\""), "{out}");
        assert_eq!(quote("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
        // Blocks balance.
        assert_eq!(out.matches('{').count(), out.matches('}').count());
    }

    #[test]
    fn both_shippers_set_the_same_stream_labels() {
        let alloy = alloy("u");
        let promtail = serde_norway::to_string(&promtail("u")).unwrap();
        for (label, source, _) in STREAM_LABELS {
            assert!(alloy.contains(label) && alloy.contains(source), "{label}");
            assert!(promtail.contains(label) && promtail.contains(source), "{label}");
        }
    }
}
