//! `stage.toml` as serde reads it: every field declared here with its meaning, unit and default,
//! unknown fields refused. `docs/stage-config.md` is the reference page; a test checks that it
//! names exactly the fields declared here (and `schema::RawSchema`'s). The typed layer
//! (`super`) checks ranges and relations between fields.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::PathBuf;

use serde::Deserialize;

use crate::encrypted_parquet::Codec;
use crate::schema::RawSchema;
use crate::window::WindowLimits;

/// The whole file: one table per section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    /// `[source]`: what to consume.
    pub(super) source: RawSource,
    /// `[schema]`: the table (`schema::RawSchema`).
    pub(super) schema: RawSchema,
    /// `[window]`: when a partition's window closes.
    #[serde(default)]
    pub(super) window: RawWindow,
    /// `[encryption]`: the master key and encryption context.
    pub(super) encryption: RawEncryption,
    /// `[sink]`: where the lake is.
    #[serde(default)]
    pub(super) sink: RawSink,
    /// `[dlq]`: where refused records go.
    pub(super) dlq: RawDlq,
    /// `[keycore]`: how to reach the key core.
    pub(super) keycore: RawKeycore,
}

/// `[source]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    /// The topics to consume; at least one, required.
    pub(super) topics: Vec<String>,
    /// librdkafka properties under their own names; `bootstrap.servers` and `group.id` are
    /// required. Secret properties only as references (`file:///path`, `env:NAME`,
    /// `secret://name[#field]`); any property may be a `secret://` one.
    pub(super) kafka: BTreeMap<String, String>,
    /// How often the stage asks the key core whether a `secret://` value has a new version,
    /// seconds; default 60; 1 to 86,400.
    #[serde(default = "default_secret_refresh_seconds")]
    pub(super) secret_refresh_seconds: u64,
}

fn default_secret_refresh_seconds() -> u64 {
    60
}

/// `[window]`: a partition's window closes at whichever limit it reaches first.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWindow {
    /// Records; default 100,000; at least 1.
    #[serde(default = "default_max_records")]
    pub(super) max_records: usize,
    /// Bytes of record payloads; default 67,108,864 (64 MiB); 1 to 1 GiB.
    #[serde(default = "default_max_bytes")]
    pub(super) max_bytes: usize,
    /// Seconds after the window's first record; default 60; 1 to 604,800 (7 days).
    #[serde(default = "default_max_age_seconds")]
    pub(super) max_age_seconds: u64,
}

impl Default for RawWindow {
    fn default() -> Self {
        Self {
            max_records: default_max_records(),
            max_bytes: default_max_bytes(),
            max_age_seconds: default_max_age_seconds(),
        }
    }
}

// The window's defaults are `WindowLimits`' own, so that a stage made without a file agrees.
fn default_max_records() -> usize {
    WindowLimits::default().max_records.get()
}

fn default_max_bytes() -> usize {
    WindowLimits::default().max_bytes.get()
}

fn default_max_age_seconds() -> u64 {
    WindowLimits::default().max_age.as_secs()
}

/// `[encryption]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEncryption {
    /// The master key that wraps every window's data key: key id, ARN, alias or alias ARN;
    /// required.
    pub(super) key_id: String,
    /// The encryption context bound to each data key; values may hold `{table}` and `{topic}`,
    /// filled in per file; default empty.
    #[serde(default)]
    pub(super) context: BTreeMap<String, String>,
}

/// `[sink]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSink {
    /// `file://<path>` or `s3://<bucket>[/<prefix>]`; default `file://./lake`.
    #[serde(default = "default_sink_url")]
    pub(super) url: String,
    /// S3 only: an S3-compatible endpoint (`http://host:port`); default AWS's.
    pub(super) endpoint: Option<String>,
    /// S3 only: the bucket's region; default `AWS_REGION`, else us-east-1.
    pub(super) region: Option<String>,
    /// S3 only, with `secret_access_key`: the access key to sign with (as written or a
    /// reference); default the environment's credentials.
    pub(super) access_key_id: Option<String>,
    /// S3 only: the access key's secret, only as a reference (`secret://`, `env:`, `file://`).
    pub(super) secret_access_key: Option<String>,
    /// The pages' compression: `snappy`, `zstd` or `none`; default `snappy`.
    #[serde(default)]
    pub(super) compression: Codec,
}

impl Default for RawSink {
    fn default() -> Self {
        Self {
            url: default_sink_url(),
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            compression: Codec::default(),
        }
    }
}

fn default_sink_url() -> String {
    "file://./lake".into()
}

/// `[dlq]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDlq {
    /// The dead-letter topic: not a source topic; required.
    pub(super) topic: String,
}

/// `[keycore]`: embedded (`data_dir` and `user`) or remote (`endpoint`, `region`, and
/// `credentials_file` and `profile` or `container_credentials_uri` and
/// `container_authorization_token_file`, or neither for the environment's endpoint).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKeycore {
    /// Embedded: the key core's data directory, opened in this process.
    pub(super) data_dir: Option<PathBuf>,
    /// Embedded, required there: the IAM user of the key core's account the stage calls as.
    pub(super) user: Option<String>,
    /// Remote: the key core's (or a KMS's) URL, `https://host:port`.
    pub(super) endpoint: Option<String>,
    /// Remote: the PEM file of the CA that signed the key core's certificate (its
    /// `tls/ca.pem`); default the system's roots. Also verifies the credentials endpoint.
    pub(super) ca_file: Option<PathBuf>,
    /// Remote, required there: the region to sign requests for.
    pub(super) region: Option<String>,
    /// Remote: an AWS credentials file (read again when it changes).
    pub(super) credentials_file: Option<PathBuf>,
    /// Remote: a container-credentials endpoint instead,
    /// `https://127.0.0.1:PORT/v1/credentials`.
    /// Neither this nor `credentials_file`: the endpoint `AWS_CONTAINER_CREDENTIALS_FULL_URI`
    /// names.
    pub(super) container_credentials_uri: Option<String>,
    /// Remote, with `container_credentials_uri`: the file holding the workload identity's token.
    pub(super) container_authorization_token_file: Option<PathBuf>,
    /// Remote: a role to assume (STS `AssumeRole` at `endpoint`) with the credentials above;
    /// the stage then calls as the role, renewing its session before it expires.
    pub(super) role_arn: Option<String>,
    /// Remote, with `role_arn`: the session's name; default `lakeseal-stage`.
    #[serde(default = "default_role_session_name")]
    pub(super) role_session_name: String,
    /// Remote, with `role_arn`: how long each session lives, seconds; default the key core's,
    /// an hour.
    pub(super) role_duration_seconds: Option<NonZeroU32>,
    /// Remote: the profile in that file; default `default`.
    #[serde(default = "default_profile")]
    pub(super) profile: String,
    /// The key client's own request limit, requests a second; default 50.
    #[serde(default = "default_requests_per_second")]
    pub(super) requests_per_second: NonZeroU32,
    /// Requests the key client may send at once above that rate; default 20.
    #[serde(default = "default_burst")]
    pub(super) burst: NonZeroU32,
}

fn default_role_session_name() -> String {
    "lakeseal-stage".to_owned()
}

fn default_profile() -> String {
    "default".into()
}

fn default_requests_per_second() -> NonZeroU32 {
    NonZeroU32::new(50).unwrap_or(NonZeroU32::MIN)
}

fn default_burst() -> NonZeroU32 {
    NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN)
}
