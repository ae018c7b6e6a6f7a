//! The command line's shape.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Output;

mod crypto;
mod iam;
mod keys;
mod secrets;

pub(crate) use self::crypto::*;
pub(crate) use self::iam::*;
pub(crate) use self::keys::*;
pub(crate) use self::secrets::*;

/// Lakeseal: envelope encryption for streams into a data lake, and its key core.
#[derive(Debug, Parser)]
#[command(name = "lakeseal", version)]
pub(crate) struct Cli {
    /// The key core's data directory.
    #[arg(long, global = true, env = "LAKESEAL_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// How to print results: json (AWS member names) or text (one field a line).
    #[arg(long, global = true, value_enum, default_value = "json")]
    pub(crate) output: Output,
    /// How to write logs (to stderr; filter with RUST_LOG): text, or json (one object a line).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "LAKESEAL_LOG_FORMAT"
    )]
    pub(crate) log_format: LogFormat,
    /// The PEM file of the CA that signed a remote key core's certificate (its tls/ca.pem),
    /// for commands given an https:// endpoint; default the system's roots.
    #[arg(long, global = true, env = "AWS_CA_BUNDLE")]
    pub(crate) ca_file: Option<PathBuf>,
    /// The key core server's TOML configuration, for commands that open the data directory
    /// themselves: its [[key_stores]] (HSM keys) and [alerts].
    #[arg(long, global = true, env = "LAKESEAL_KEYCORE_CONFIG")]
    pub(crate) keycore_config: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Set up a key core.
    #[command(subcommand)]
    Keycore(KeycoreCmd),
    /// Manage customer master keys.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Manage aliases.
    #[command(subcommand)]
    Alias(AliasCmd),
    /// Cryptographic operations, for scripts (plaintext in and out as base64).
    #[command(subcommand)]
    Crypto(CryptoCmd),
    /// Check and search the audit trail.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Manage users, access keys, roles and identity policies: offline in the data directory,
    /// or through a running key core with --endpoint-url.
    Iam(IamArgs),
    /// Manage secrets (the AWS Secrets Manager API): offline in the data directory, or through
    /// a running key core with --endpoint-url.
    Secret(SecretArgs),
    /// Find likely plaintext credentials in config and script files (file, line and rule; never
    /// the value); exit 1 when any is found. With --data-dir or --endpoint-url, an access key id
    /// the key core holds is marked confirmed.
    ScanConfig(ScanConfigArgs),
    /// The stream stage: Kafka to encrypted Parquet.
    #[command(subcommand)]
    Stage(StageCmd),
    /// Read and check the encrypted lake.
    #[command(subcommand)]
    Lake(LakeCmd),
    /// Produce simulated IoT telemetry into a topic.
    Simulate(SimulateArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ScanConfigArgs {
    /// Files (scanned whatever their name) and directories (walked for config and script files).
    #[arg(required = true)]
    pub(crate) paths: Vec<PathBuf>,
    /// Confirm access key ids with the key core serving at this URL (IAM's
    /// GetAccessKeyLastUsed, signed with --profile's access key from AWS_SHARED_CREDENTIALS_FILE
    /// or ~/.aws/credentials) rather than the one in --data-dir.
    #[arg(long)]
    pub(crate) endpoint_url: Option<String>,
    /// The profile of the credentials file that signs requests to --endpoint-url.
    #[arg(long, default_value = "default", env = "AWS_PROFILE")]
    pub(crate) profile: String,
}

#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// Kafka bootstrap servers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub(crate) brokers: String,
    /// The topic.
    #[arg(long, default_value = "telemetry")]
    pub(crate) topic: String,
    /// Devices in the fleet.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) devices: usize,
    /// Records to send.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) records: u64,
    /// Records a second at most (0: as fast as the broker takes them).
    #[arg(long, default_value_t = 0)]
    pub(crate) rate: u64,
    /// The share of records made malformed on purpose (0–1).
    #[arg(long, default_value_t = 0.01)]
    pub(crate) malformed: f64,
    /// Seed of the fleet (the same seed sends the same records).
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// A librdkafka property for the producer, NAME=VALUE, repeatable: TLS and SASL
    /// (`security.protocol=SASL_SSL`, `ssl.ca.location=…`, `sasl.mechanism=…`), or a codec
    /// (`compression.type=zstd`). A secret one (`sasl.password`, …) only as a reference,
    /// `file:///path` (mode 0600) or `env:NAME`, never the value (argv is for every account on
    /// the host to read).
    #[arg(short = 'X', long = "kafka", value_name = "NAME=VALUE")]
    pub(crate) kafka: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line, for log collectors.
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum StageCmd {
    /// Run until SIGTERM or SIGINT, then write and commit every window and exit.
    Run {
        /// The stage's TOML configuration.
        #[arg(long)]
        config: PathBuf,
        /// Serve Prometheus metrics at http://ADDR/metrics.
        #[arg(long)]
        metrics_listen: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum LakeCmd {
    /// Decrypt files (or every file under directories or s3://bucket/prefix) and print their
    /// rows.
    Read {
        /// Files, directories or s3://bucket/prefix URLs (endpoint from AWS_ENDPOINT_URL).
        #[arg(required = true)]
        paths: Vec<String>,
        /// JSON lines, or a table.
        #[arg(long, value_enum, default_value = "json-lines")]
        format: ReadFormat,
        #[command(flatten)]
        keys: KeySource,
    },
    /// Check that every file of a table decrypts and that each partition's files cover its
    /// offsets with no gap and no overlap (and, with --brokers, all of the topic's offsets).
    Verify {
        /// The table (a directory under PATH).
        #[arg(long)]
        table: String,
        /// The lake's root: a directory or s3://bucket/prefix.
        path: String,
        /// Compare with the topics' offsets on these brokers.
        #[arg(long, requires = "topic")]
        brokers: Option<String>,
        /// A topic whose every offset must be in the lake (with --brokers; repeatable).
        #[arg(long)]
        topic: Vec<String>,
        #[command(flatten)]
        keys: KeySource,
    },
    /// Print a file's data key in base64 (an audited Decrypt), for readers such as DuckDB.
    UnwrapKey {
        /// The file: a path or s3://bucket/key.
        file: String,
        #[command(flatten)]
        keys: KeySource,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ReadFormat {
    /// One JSON object a row.
    JsonLines,
    /// An aligned table.
    Table,
}

/// Which key core unwraps the files' keys: a stage's `[keycore]`, a remote endpoint, or the
/// embedded one at --data-dir.
#[derive(Debug, Args)]
pub(crate) struct KeySource {
    /// Use the [keycore] section of this stage.toml.
    #[arg(long, conflicts_with = "endpoint")]
    pub(crate) config: Option<PathBuf>,
    /// A key core (or KMS) endpoint, https://host:port (its CA: --ca-file).
    #[arg(long, requires = "region")]
    pub(crate) endpoint: Option<String>,
    /// The region to sign for.
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// An AWS credentials file; without it, the container-credentials endpoint that
    /// AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE name.
    #[arg(long)]
    pub(crate) credentials_file: Option<PathBuf>,
    /// Its profile.
    #[arg(long, default_value = "default")]
    pub(crate) profile: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeycoreCmd {
    /// Create a data directory: root key, store, region and account, and an `admin` user whose
    /// access key is written to DATA_DIR/admin-credentials (mode 0600).
    Init(InitArgs),
    /// Serve the AWS KMS protocol (SigV4) until SIGTERM or SIGINT.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7070")]
    pub(crate) listen: String,
    /// The server's TOML configuration (rate limits, body limit); defaults when absent.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long)]
    pub(crate) metrics_listen: Option<String>,
    /// Serve the credentials endpoint (the ECS container-credentials protocol, for workload
    /// identities) at http://ADDR/v1/credentials. A loopback address unless
    /// --credentials-allow-remote.
    #[arg(long)]
    pub(crate) credentials_listen: Option<String>,
    /// Let the credentials endpoint listen on, and answer, addresses other than loopback (a
    /// sidecar network). Forwarded requests are refused all the same.
    #[arg(long, requires = "credentials_listen")]
    pub(crate) credentials_allow_remote: bool,
    /// The server's certificate chain (PEM) for TLS on both listeners; default
    /// DATA_DIR/tls/server.pem, which `keycore init --tls-name` writes.
    #[arg(long, requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The server's private key (PEM), with --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Serve plain HTTP instead of TLS: on loopback addresses only, for a key core and its
    /// callers on one host.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub(crate) insecure_http: bool,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The key core's one region, e.g. eu-west-1.
    #[arg(long)]
    pub(crate) region: String,
    /// The 12-digit account id that owns the keys (random when absent).
    #[arg(long)]
    pub(crate) account_id: Option<String>,
    /// The ARN partition.
    #[arg(long, default_value = "aws")]
    pub(crate) partition: String,
    /// Make a private CA and, under it, the server's TLS certificate for this DNS name or IP
    /// address (repeat for more) in DATA_DIR/tls; clients verify with DATA_DIR/tls/ca.pem.
    #[arg(long = "tls-name", value_name = "NAME")]
    pub(crate) tls_names: Vec<String>,
    /// Seal the root key inside the token of this [[key_stores]] id of --keycore-config: the
    /// data directory then opens only with that token (and its PIN) present.
    #[arg(long, value_name = "KEY_STORE_ID")]
    pub(crate) root_key_store: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCmd {
    /// Walk the hash chain; name the first record that does not fit.
    Verify,
    /// Print matching records.
    Query(QueryArgs),
    /// Anomalies in the trail: a principal's data-key rate far above its baseline, a source
    /// address or a secret new to a principal, a read of a secret pending deletion, a burst of
    /// AccessDenied. Exits 1 when there is one.
    Alerts(AlertsArgs),
    /// Acknowledge a broken trail (emptied, cut short, replaced): keep it beside a new chain
    /// whose first record says what was broken. The key core refuses to run until then.
    Reset(ResetArgs),
}

#[derive(Debug, Args)]
pub(crate) struct AlertsArgs {
    /// Alerts at or after this RFC 3339 time (the records before still set the baselines).
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// The server's TOML configuration, for its [alerts] thresholds; defaults when absent.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ResetArgs {
    /// Required: says that you have seen the break and keep the broken file as evidence.
    #[arg(long, required = true)]
    pub(crate) acknowledge_break: bool,
}

#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    /// Records at or after this RFC 3339 time.
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Records of this operation, e.g. GenerateDataKey.
    #[arg(long)]
    pub(crate) operation: Option<String>,
    /// Records of this caller (ARN).
    #[arg(long)]
    pub(crate) principal: Option<String>,
    /// Records naming this key (id or ARN).
    #[arg(long)]
    pub(crate) key: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
