//! `loki/loki.yml`: Loki 3.x as a single binary on the local filesystem.
//!
//! Retention is the compactor's job in Loki 3 (the table manager is gone):
//! `compactor.retention_enabled` with a `delete_request_store`, and
//! `limits_config.retention_period` from `profile.retention.logs`, which
//! config loading keeps at 24 h or more (the index period). Samples older
//! than the retention are refused at ingestion, so a shipper replaying old
//! files cannot refill the disk.

use serde::Serialize;

use super::{Artifact, Component, Context};

/// Where the compose file mounts the `loki/` folder.
pub const CONFIG_DIR: &str = "/etc/loki";
/// The config file inside the container.
pub const CONFIG_PATH: &str = "/etc/loki/loki.yml";
/// Loki's data folder (a named volume).
const DATA: &str = "/loki";

#[must_use]
pub fn artifacts(ctx: &Context<'_>) -> Vec<Artifact> {
    vec![Artifact::yaml("loki/loki.yml", &config(ctx))]
}

#[derive(Debug, Serialize)]
struct Loki {
    auth_enabled: bool,
    server: Server,
    common: Common,
    schema_config: SchemaConfig,
    limits_config: Limits,
    compactor: Compactor,
    query_range: QueryRange,
    analytics: Analytics,
}

#[derive(Debug, Serialize)]
struct Server {
    http_listen_port: u16,
    grpc_listen_port: u16,
    log_level: &'static str,
}

#[derive(Debug, Serialize)]
struct Common {
    instance_addr: &'static str,
    path_prefix: &'static str,
    storage: Storage,
    replication_factor: u8,
    ring: Ring,
}

#[derive(Debug, Serialize)]
struct Storage {
    filesystem: Filesystem,
}

#[derive(Debug, Serialize)]
struct Filesystem {
    chunks_directory: String,
    rules_directory: String,
}

#[derive(Debug, Serialize)]
struct Ring {
    kvstore: KvStore,
}

#[derive(Debug, Serialize)]
struct KvStore {
    store: &'static str,
}

#[derive(Debug, Serialize)]
struct SchemaConfig {
    configs: Vec<PeriodConfig>,
}

#[derive(Debug, Serialize)]
struct PeriodConfig {
    from: &'static str,
    store: &'static str,
    object_store: &'static str,
    schema: &'static str,
    index: Index,
}

#[derive(Debug, Serialize)]
struct Index {
    prefix: &'static str,
    period: &'static str,
}

#[derive(Debug, Serialize)]
struct Limits {
    retention_period: String,
    reject_old_samples: bool,
    reject_old_samples_max_age: String,
    allow_structured_metadata: bool,
    volume_enabled: bool,
    ingestion_rate_mb: u32,
    ingestion_burst_size_mb: u32,
}

#[derive(Debug, Serialize)]
struct Compactor {
    working_directory: String,
    compaction_interval: &'static str,
    retention_enabled: bool,
    retention_delete_delay: &'static str,
    delete_request_store: &'static str,
}

#[derive(Debug, Serialize)]
struct QueryRange {
    results_cache: ResultsCache,
}

#[derive(Debug, Serialize)]
struct ResultsCache {
    cache: Cache,
}

#[derive(Debug, Serialize)]
struct Cache {
    embedded_cache: EmbeddedCache,
}

#[derive(Debug, Serialize)]
struct EmbeddedCache {
    enabled: bool,
    max_size_mb: u32,
}

#[derive(Debug, Serialize)]
struct Analytics {
    reporting_enabled: bool,
}

fn config(ctx: &Context<'_>) -> Loki {
    // Whole hours: every Loki version parses `168h`.
    let retention = format!("{}h", ctx.profile.retention.logs.get().as_secs().div_ceil(3600));
    Loki {
        auth_enabled: false,
        server: Server {
            http_listen_port: Component::Loki.container_port(),
            grpc_listen_port: 9096,
            log_level: "warn",
        },
        common: Common {
            instance_addr: "127.0.0.1",
            path_prefix: DATA,
            storage: Storage {
                filesystem: Filesystem {
                    chunks_directory: format!("{DATA}/chunks"),
                    rules_directory: format!("{DATA}/rules"),
                },
            },
            replication_factor: 1,
            ring: Ring { kvstore: KvStore { store: "inmemory" } },
        },
        schema_config: SchemaConfig {
            configs: vec![PeriodConfig {
                from: "2024-01-01",
                store: "tsdb",
                object_store: "filesystem",
                schema: "v13",
                index: Index { prefix: "index_", period: "24h" },
            }],
        },
        limits_config: Limits {
            reject_old_samples_max_age: retention.clone(),
            retention_period: retention,
            reject_old_samples: true,
            allow_structured_metadata: true,
            volume_enabled: true,
            ingestion_rate_mb: 8,
            ingestion_burst_size_mb: 16,
        },
        compactor: Compactor {
            working_directory: format!("{DATA}/compactor"),
            compaction_interval: "10m",
            retention_enabled: true,
            retention_delete_delay: "2h",
            delete_request_store: "filesystem",
        },
        query_range: QueryRange {
            results_cache: ResultsCache {
                cache: Cache { embedded_cache: EmbeddedCache { enabled: true, max_size_mb: 100 } },
            },
        },
        analytics: Analytics { reporting_enabled: false },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HumanDuration;
    use crate::profile::{App, Settings};

    fn yaml(settings: &Settings) -> serde_norway::Value {
        let config = crate::config::Config::default();
        let app = App::default();
        let ctx = Context::for_tests(&config, settings, &app);
        serde_norway::from_str(&artifacts(&ctx)[0].contents).unwrap()
    }

    #[test]
    fn retention_runs_through_the_compactor() {
        let mut settings = Settings::default();
        let v = yaml(&settings);
        assert_eq!(v["compactor"]["retention_enabled"], true);
        assert_eq!(v["compactor"]["delete_request_store"], "filesystem");
        assert_eq!(v["limits_config"]["retention_period"], "168h");
        settings.retention.logs = HumanDuration::from_secs(36 * 3600);
        assert_eq!(yaml(&settings)["limits_config"]["retention_period"], "36h");
    }
}
