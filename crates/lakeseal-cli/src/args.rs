//! The command line's shape.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use lakeseal_envelope::EncryptionContext;
use lakeseal_keycore::model::Tag;

use crate::input::{self, Source};
use crate::output::Output;

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
    /// A key core (or KMS) endpoint, http://host:port.
    #[arg(long, requires_all = ["region", "credentials_file"])]
    pub(crate) endpoint: Option<String>,
    /// The region to sign for.
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// An AWS credentials file.
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
}

#[derive(Debug, Args)]
pub(crate) struct IamArgs {
    /// Act through the key core serving at this URL (the IAM API, signed with --profile's
    /// access key from AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials) instead of opening the
    /// data directory, which a running key core holds.
    #[arg(long, global = true)]
    pub(crate) endpoint_url: Option<String>,
    /// The profile of the credentials file that signs requests to --endpoint-url.
    #[arg(long, global = true, default_value = "default", env = "AWS_PROFILE")]
    pub(crate) profile: String,
    #[command(subcommand)]
    pub(crate) cmd: IamCmd,
}

#[derive(Debug, Subcommand)]
pub(crate) enum IamCmd {
    /// Create a user in the key core's account (or --account-id).
    CreateUser(UserArgs),
    /// Make an access key for a user and write it to --credentials-file (mode 0600, a new
    /// file): the key exists only once the file holds it.
    CreateAccessKey(AccessKeyArgs),
    /// Delete an access key: requests signed with it are refused from now on.
    DeleteAccessKey(DeleteAccessKeyArgs),
    /// List a user's access keys (ids and dates; secrets are never shown again).
    ListAccessKeys(UserNameArg),
    /// Set an inline identity policy of a user.
    PutUserPolicy(PutPolicyArgs),
    /// Create a role that the principals of its trust policy may assume (sts:AssumeRole).
    CreateRole(RoleArgs),
    /// Set an inline identity policy of a role.
    PutRolePolicy(PutRolePolicyArgs),
    /// List users and roles.
    List,
}

#[derive(Debug, Args)]
pub(crate) struct RoleArgs {
    /// The role's name.
    #[arg(long)]
    pub(crate) role_name: String,
    /// Who may assume it: inline JSON, file://PATH, fileb://PATH or - (standard input).
    #[arg(long, value_parser = input::source)]
    pub(crate) assume_role_policy_document: Source,
}

#[derive(Debug, Args)]
pub(crate) struct PutRolePolicyArgs {
    /// The role's name or ARN.
    #[arg(long)]
    pub(crate) role_name: String,
    /// The policy's name.
    #[arg(long)]
    pub(crate) policy_name: String,
    /// The policy document: inline JSON, file://PATH, fileb://PATH or - (standard input).
    #[arg(long, value_parser = input::source)]
    pub(crate) policy_document: Source,
}

#[derive(Debug, Args)]
pub(crate) struct UserArgs {
    /// The user's name.
    #[arg(long)]
    pub(crate) user_name: String,
    /// Another 12-digit account, for callers from outside.
    #[arg(long)]
    pub(crate) account_id: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct AccessKeyArgs {
    /// The user's name or ARN.
    #[arg(long)]
    pub(crate) user_name: String,
    /// Where to write the key, in the AWS credentials-file format.
    #[arg(long)]
    pub(crate) credentials_file: PathBuf,
    /// The profile name in that file.
    #[arg(long, default_value = "default")]
    pub(crate) profile: String,
}

#[derive(Debug, Args)]
pub(crate) struct DeleteAccessKeyArgs {
    /// The user's name or ARN.
    #[arg(long)]
    pub(crate) user_name: String,
    /// The access key id (AKIA...).
    #[arg(long)]
    pub(crate) access_key_id: String,
}

#[derive(Debug, Args)]
pub(crate) struct UserNameArg {
    /// The user's name or ARN.
    #[arg(long)]
    pub(crate) user_name: String,
}

#[derive(Debug, Args)]
pub(crate) struct PutPolicyArgs {
    /// The user's name or ARN.
    #[arg(long)]
    pub(crate) user_name: String,
    /// The policy's name.
    #[arg(long)]
    pub(crate) policy_name: String,
    /// The policy document: inline JSON, file://PATH, fileb://PATH or - (standard input).
    #[arg(long, value_parser = input::source)]
    pub(crate) policy_document: Source,
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
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCmd {
    /// Create a symmetric key (SYMMETRIC_DEFAULT).
    Create(CreateArgs),
    /// Describe a key.
    Describe(KeyIdArg),
    /// List keys.
    List(PageArgs),
    /// Enable a disabled key.
    Enable(KeyIdArg),
    /// Disable a key: it refuses every cryptographic operation until enabled.
    Disable(KeyIdArg),
    /// Make a new primary key version now.
    Rotate(KeyIdArg),
    /// Rotate automatically every --rotation-period-in-days (90-2560, default 90).
    EnableRotation(EnableRotationArgs),
    /// Stop automatic rotation.
    DisableRotation(KeyIdArg),
    /// Whether automatic rotation is on.
    RotationStatus(KeyIdArg),
    /// The rotations a key has had.
    ListRotations(ListRotationsArgs),
    /// Destroy the key after --pending-window-in-days (7-30, default 30).
    ScheduleDeletion(ScheduleDeletionArgs),
    /// Cancel a scheduled deletion; the key comes back disabled.
    CancelDeletion(KeyIdArg),
    /// Add or overwrite tags.
    Tag(TagArgs),
    /// Remove tags.
    Untag(UntagArgs),
    /// List a key's tags.
    ListTags(KeyIdArg),
    /// Print a key's policy document.
    GetPolicy(KeyIdArg),
    /// Replace a key's policy document.
    PutPolicy(PutKeyPolicyArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PutKeyPolicyArgs {
    /// Key id, key ARN, alias name or alias ARN.
    #[arg(long)]
    pub(crate) key_id: String,
    /// The policy document: inline JSON, file://PATH, fileb://PATH or - (standard input).
    #[arg(long, value_parser = input::source)]
    pub(crate) policy: Source,
    /// Accept a policy that would not let you change it again (AWS's lockout safety check).
    #[arg(long)]
    pub(crate) bypass_policy_lockout_safety_check: bool,
}

#[derive(Debug, Args)]
pub(crate) struct KeyIdArg {
    /// Key id, key ARN, alias name or alias ARN.
    #[arg(long)]
    pub(crate) key_id: String,
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// Free text.
    #[arg(long)]
    pub(crate) description: Option<String>,
    /// The key policy: inline JSON, file://PATH, fileb://PATH or - (standard input); default:
    /// the account root may do anything.
    #[arg(long, value_parser = input::source)]
    pub(crate) policy: Option<Source>,
    /// Accept a policy that would not let you change it again (AWS's lockout safety check).
    #[arg(long)]
    pub(crate) bypass_policy_lockout_safety_check: bool,
    /// Tags as TagKey=k,TagValue=v (repeat for more).
    #[arg(long, num_args = 1.., value_parser = parse_tag)]
    pub(crate) tags: Vec<Tag>,
}

#[derive(Debug, Args)]
pub(crate) struct PageArgs {
    /// Page size, 1-1000.
    #[arg(long)]
    pub(crate) limit: Option<u32>,
    /// NextMarker of the previous page.
    #[arg(long)]
    pub(crate) marker: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct EnableRotationArgs {
    /// Key id, key ARN, alias name or alias ARN.
    #[arg(long)]
    pub(crate) key_id: String,
    /// 90-2560 days; 90 when absent.
    #[arg(long)]
    pub(crate) rotation_period_in_days: Option<u32>,
}

#[derive(Debug, Args)]
pub(crate) struct ListRotationsArgs {
    /// Key id, key ARN, alias name or alias ARN.
    #[arg(long)]
    pub(crate) key_id: String,
    /// Page size, 1-1000.
    #[arg(long)]
    pub(crate) limit: Option<u32>,
    /// NextMarker of the previous page.
    #[arg(long)]
    pub(crate) marker: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ScheduleDeletionArgs {
    /// Key id, key ARN, alias name or alias ARN.
    #[arg(long)]
    pub(crate) key_id: String,
    /// 7-30 days; 30 when absent.
    #[arg(long)]
    pub(crate) pending_window_in_days: Option<u32>,
}

#[derive(Debug, Args)]
pub(crate) struct TagArgs {
    /// Key id, key ARN, alias name or alias ARN.
    #[arg(long)]
    pub(crate) key_id: String,
    /// Tags as TagKey=k,TagValue=v (repeat for more).
    #[arg(long, required = true, num_args = 1.., value_parser = parse_tag)]
    pub(crate) tags: Vec<Tag>,
}

#[derive(Debug, Args)]
pub(crate) struct UntagArgs {
    /// Key id, key ARN, alias name or alias ARN.
    #[arg(long)]
    pub(crate) key_id: String,
    /// Keys of the tags to remove.
    #[arg(long, required = true, num_args = 1..)]
    pub(crate) tag_keys: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AliasCmd {
    /// Create an alias for a key.
    Create(AliasArgs),
    /// Point an alias at another key.
    Update(AliasArgs),
    /// Delete an alias (the key is untouched).
    Delete(AliasNameArg),
    /// List aliases.
    List(ListAliasesArgs),
}

#[derive(Debug, Args)]
pub(crate) struct AliasArgs {
    /// alias/...
    #[arg(long)]
    pub(crate) alias_name: String,
    /// Key id or key ARN.
    #[arg(long)]
    pub(crate) target_key_id: String,
}

#[derive(Debug, Args)]
pub(crate) struct AliasNameArg {
    /// alias/...
    #[arg(long)]
    pub(crate) alias_name: String,
}

#[derive(Debug, Args)]
pub(crate) struct ListAliasesArgs {
    /// Only this key's aliases.
    #[arg(long)]
    pub(crate) key_id: Option<String>,
    /// Page size, 1-1000.
    #[arg(long)]
    pub(crate) limit: Option<u32>,
    /// NextMarker of the previous page.
    #[arg(long)]
    pub(crate) marker: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CryptoCmd {
    /// A data key, in plain (base64) and wrapped.
    GenerateDataKey(DataKeyArgs),
    /// A data key, wrapped only.
    GenerateDataKeyWithoutPlaintext(DataKeyArgs),
    /// Encrypt up to 4096 bytes.
    Encrypt(EncryptArgs),
    /// Decrypt a ciphertext blob.
    Decrypt(DecryptArgs),
    /// Move a ciphertext blob to another key without revealing the plaintext.
    ReEncrypt(ReEncryptArgs),
    /// Random bytes.
    GenerateRandom(RandomArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DataKeyArgs {
    /// The key that wraps the data key.
    #[arg(long)]
    pub(crate) key_id: String,
    /// AES_256 or AES_128 (give this or --number-of-bytes).
    #[arg(long, required_unless_present = "number_of_bytes")]
    pub(crate) key_spec: Option<String>,
    /// 1-1024.
    #[arg(long, conflicts_with = "key_spec")]
    pub(crate) number_of_bytes: Option<u32>,
    /// k=v,k2=v2 or a JSON object.
    #[arg(long, value_parser = parse_context)]
    pub(crate) encryption_context: Option<EncryptionContext>,
}

#[derive(Debug, Args)]
pub(crate) struct EncryptArgs {
    /// The key to encrypt under.
    #[arg(long)]
    pub(crate) key_id: String,
    /// The plaintext: base64 (line breaks allowed), fileb://PATH (raw bytes), file://PATH
    /// (base64 text) or - (raw bytes from standard input).
    #[arg(long, value_parser = input::source)]
    pub(crate) plaintext: Source,
    /// k=v,k2=v2 or a JSON object.
    #[arg(long, value_parser = parse_context)]
    pub(crate) encryption_context: Option<EncryptionContext>,
}

#[derive(Debug, Args)]
pub(crate) struct DecryptArgs {
    /// The ciphertext blob: base64, fileb://PATH (raw bytes), file://PATH (base64 text) or -
    /// (raw bytes from standard input).
    #[arg(long, value_parser = input::source)]
    pub(crate) ciphertext_blob: Source,
    /// k=v,k2=v2 or a JSON object: exactly the context it was encrypted with.
    #[arg(long, value_parser = parse_context)]
    pub(crate) encryption_context: Option<EncryptionContext>,
    /// Refuse unless the blob was made under this key.
    #[arg(long)]
    pub(crate) key_id: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ReEncryptArgs {
    /// The ciphertext blob: base64, fileb://PATH (raw bytes), file://PATH (base64 text) or -
    /// (raw bytes from standard input).
    #[arg(long, value_parser = input::source)]
    pub(crate) ciphertext_blob: Source,
    /// The context it was encrypted with.
    #[arg(long, value_parser = parse_context)]
    pub(crate) source_encryption_context: Option<EncryptionContext>,
    /// Refuse unless the blob was made under this key.
    #[arg(long)]
    pub(crate) source_key_id: Option<String>,
    /// The key to move it to.
    #[arg(long)]
    pub(crate) destination_key_id: String,
    /// The context to bind under the new key.
    #[arg(long, value_parser = parse_context)]
    pub(crate) destination_encryption_context: Option<EncryptionContext>,
}

#[derive(Debug, Args)]
pub(crate) struct RandomArgs {
    /// 1-1024.
    #[arg(long)]
    pub(crate) number_of_bytes: u32,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCmd {
    /// Walk the hash chain; name the first record that does not fit.
    Verify,
    /// Print matching records.
    Query(QueryArgs),
    /// Acknowledge a broken trail (emptied, cut short, replaced): keep it beside a new chain
    /// whose first record says what was broken. The key core refuses to run until then.
    Reset(ResetArgs),
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

/// `k=v,k2=v2` (the AWS CLI shorthand) or a JSON object; a key given twice is refused.
pub(crate) fn parse_context(text: &str) -> Result<EncryptionContext, String> {
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text)
            .map_err(|e| format!("not a JSON object of strings: {e}"));
    }
    let mut context = EncryptionContext::new();
    for pair in text.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} is not key=value"))?;
        if context.get(k).is_some() {
            return Err(format!("the key {k:?} is given twice"));
        }
        context.insert(k, v);
    }
    Ok(context)
}

/// `TagKey=k,TagValue=v`.
fn parse_tag(text: &str) -> Result<Tag, String> {
    let (mut key, mut value) = (None, None);
    for part in text.split(',') {
        match part.split_once('=') {
            Some(("TagKey", k)) => key = Some(k.to_owned()),
            Some(("TagValue", v)) => value = Some(v.to_owned()),
            _ => return Err(format!("{part:?}: expected TagKey=k,TagValue=v")),
        }
    }
    Ok(Tag {
        tag_key: key.ok_or("TagKey is missing")?,
        tag_value: value.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_parse_both_ways() {
        let a = parse_context("table=telemetry,topic=iot").unwrap();
        let b = parse_context(r#"{"topic":"iot","table":"telemetry"}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.get("table"), Some("telemetry"));
        assert!(parse_context("novalue").is_err());
        let twice = parse_context("a=b,a=c").unwrap_err();
        assert!(twice.contains("twice"), "{twice}");
        let twice = parse_context(r#"{"a":"b","a":"c"}"#).unwrap_err();
        assert!(twice.contains("twice"), "{twice}");
    }

    #[test]
    fn tags_parse() {
        let t = parse_tag("TagKey=team,TagValue=iot").unwrap();
        assert_eq!((t.tag_key.as_str(), t.tag_value.as_str()), ("team", "iot"));
        assert!(parse_tag("team=iot").is_err());
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
