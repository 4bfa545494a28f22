//! Settings of an `s3` target: endpoint, bucket, credentials and schedules.

use serde::{Deserialize, Serialize};

use crate::config::{HumanDuration, Secret, env_string};

/// Config of an `s3` target.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// `http(s)://HOST:PORT` of the S3 API.
    pub endpoint: super::http::HttpUrl,
    #[serde(deserialize_with = "env_string")]
    pub bucket: String,
    pub access_key: Secret,
    pub secret_key: Secret,
    #[serde(default = "Spec::default_region", deserialize_with = "env_string")]
    pub region: String,
    /// Path-style addressing (`endpoint/bucket/key`), what MinIO, Garage and
    /// SeaweedFS expect; `false` for virtual-hosted style.
    #[serde(default = "Spec::default_path_style")]
    pub path_style: bool,
    /// Round-trip objects are written under this prefix only.
    #[serde(default = "Spec::default_prefix")]
    pub prefix: String,
    #[serde(default = "Spec::default_listing_interval")]
    pub listing_interval: HumanDuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    /// The round trip's schedule (default 5m).
    #[serde(default = "Spec::default_interval")]
    pub interval: HumanDuration,
}

impl Spec {
    fn default_region() -> String {
        "us-east-1".to_owned()
    }
    fn default_path_style() -> bool {
        true
    }
    fn default_prefix() -> String {
        "ops-gen/".to_owned()
    }
    fn default_listing_interval() -> HumanDuration {
        HumanDuration::from_secs(3600)
    }
    fn default_interval() -> HumanDuration {
        HumanDuration::from_secs(300)
    }
}
