use std::sync::Mutex;

use lakeseal_envelope::SecretBytes;
use lakeseal_keyclient::CurrentSecret;

use super::*;

/// A secrets manager of one secret, whose versions the test sets; counts the value reads.
#[derive(Default)]
struct Versions {
    current: Mutex<(String, String)>,
    reads: Mutex<u32>,
}

impl Versions {
    fn new(version: &str, value: &str) -> Arc<Self> {
        let versions = Arc::new(Self::default());
        versions.set(version, value);
        versions
    }

    fn set(&self, version: &str, value: &str) {
        *self.current.lock().unwrap() = (version.to_owned(), value.to_owned());
    }
}

impl SecretReader for Versions {
    async fn current_version(&self, _secret_id: &str) -> lakeseal_keyclient::Result<String> {
        Ok(self.current.lock().unwrap().0.clone())
    }

    async fn current_value(&self, _secret_id: &str) -> lakeseal_keyclient::Result<CurrentSecret> {
        *self.reads.lock().unwrap() += 1;
        let (version, value) = self.current.lock().unwrap().clone();
        Ok(CurrentSecret {
            version_id: version,
            value: SecretBytes::new(value.into_bytes()),
        })
    }
}

fn config(password: &str) -> StageConfig {
    config_with(password, "")
}

fn config_with(password: &str, sink: &str) -> StageConfig {
    StageConfig::from_toml(&toml_with(password, sink)).unwrap()
}

/// A stage.toml whose `sasl.password` is `password`, with `sink` lines added.
fn toml_with(password: &str, sink: &str) -> String {
    format!(
        r#"
[source]
topics = ["t"]
secret_refresh_seconds = 60
[source.kafka]
"bootstrap.servers" = "b:9092"
"group.id" = "g"
"sasl.username" = "stage"
"sasl.password" = "{password}"
"client.id" = "secret://kafka#client"
[schema]
table = "t"
event_time = "event_time"
columns = [{{ name = "event_time", type = "timestamp_ms" }}]
[encryption]
key_id = "alias/k"
[sink]
{sink}
[dlq]
topic = "dlq"
[keycore]
data_dir = "/tmp/x"
user = "stage"
"#
    )
}

const EVERY: Duration = Duration::from_secs(60);

/// The password a test broker refuses.
const REFUSED: &str = "refused-password";

/// `StageSecrets::resolve` with a broker that takes any password but [`REFUSED`].
async fn resolve(config: &StageConfig, versions: Arc<Versions>) -> Result<StageSecrets> {
    StageSecrets::resolve_with(config, versions, |_| {
        let probe: LoginProbe = Arc::new(|_: &str, password: &str| {
            if password == REFUSED {
                Err("SASL authentication failed".to_owned())
            } else {
                Ok(())
            }
        });
        Ok(Some(probe))
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn references_resolve_at_start_and_a_new_version_reaches_the_clients() {
    let versions = Versions::new("v1", r#"{"password":"first","client":"c1"}"#);
    let mut secrets = resolve(&config("secret://kafka#password"), versions.clone())
        .await
        .unwrap();
    assert_eq!(secrets.kafka["sasl.password"].as_str(), "first");
    assert_eq!(secrets.kafka["client.id"].as_str(), "c1");
    assert_eq!(secrets.kafka["sasl.username"].as_str(), "stage");
    let updates = secrets.updates.as_mut().unwrap();

    // Nothing new: no update, and no value read (DescribeSecret only).
    tokio::time::sleep(EVERY * 3).await;
    assert!(updates.try_recv().is_err());
    assert_eq!(*versions.reads.lock().unwrap(), 1);

    versions.set("v2", r#"{"password":"second","client":"c1"}"#);
    let update = updates.recv().await.unwrap();
    assert_eq!(update.username.as_str(), "stage");
    assert_eq!(update.password.as_str(), "second");
    assert_eq!(update.versions, "kafka@v2");
    assert!(!format!("{update:?}").contains("second"));
}

#[tokio::test(start_paused = true)]
async fn a_new_version_that_lacks_the_field_leaves_the_old_value_in_use() {
    let versions = Versions::new("v1", r#"{"password":"first","client":"c1"}"#);
    let mut secrets = resolve(&config("secret://kafka#password"), versions.clone())
        .await
        .unwrap();
    let updates = secrets.updates.as_mut().unwrap();
    versions.set("v2", r#"{"client":"c1"}"#);
    tokio::time::sleep(EVERY * 2).await;
    assert!(updates.try_recv().is_err(), "a broken version is not used");
    versions.set("v3", r#"{"password":"third","client":"c1"}"#);
    assert_eq!(updates.recv().await.unwrap().password.as_str(), "third");
}

#[tokio::test(start_paused = true)]
async fn a_refused_login_checks_at_once() {
    let versions = Versions::new("v1", r#"{"password":"first","client":"c1"}"#);
    let mut secrets = resolve(&config("secret://kafka#password"), versions.clone())
        .await
        .unwrap();
    versions.set("v2", r#"{"password":"second","client":"c1"}"#);
    let started = tokio::time::Instant::now();
    secrets.refused.as_ref().unwrap().notify_one();
    let update = secrets.updates.as_mut().unwrap().recv().await.unwrap();
    assert_eq!(update.password.as_str(), "second");
    assert!(started.elapsed() < EVERY / 2, "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_missing_field_at_start_is_a_config_error_naming_it_without_the_value() {
    let versions = Versions::new("v1", r#"{"pass":"hunter2","client":"c1"}"#);
    let err = resolve(&config("secret://kafka#password"), versions)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("secret://kafka#password"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[tokio::test]
async fn without_a_sasl_reference_no_credentials_are_followed() {
    let versions = Versions::new("v1", r#"{"client":"c1"}"#);
    let password = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(password.path(), "pw").unwrap();
    let secrets = resolve(
        &config(&format!("file://{}", password.path().display())),
        versions,
    )
    .await
    .unwrap();
    assert!(secrets.refused.is_none(), "no login to follow");
    assert_eq!(secrets.kafka["client.id"].as_str(), "c1");
    assert_eq!(secrets.kafka["sasl.password"].as_str(), "pw");
    assert!(secrets.sink_keys.is_none());
}

#[test]
fn json_fields_are_strings_numbers_or_booleans() {
    assert_eq!(json_field(r#"{"a":"x"}"#, "a").unwrap().as_str(), "x");
    assert_eq!(json_field(r#"{"a":9093}"#, "a").unwrap().as_str(), "9093");
    assert!(json_field(r#"{"a":{}}"#, "a").is_err());
    assert!(json_field(r#"["a"]"#, "a").is_err());
    assert!(json_field(r#"{"a":"x"}"#, "b").is_err());
}

#[tokio::test(start_paused = true)]
async fn the_sinks_key_follows_its_secret() {
    use object_store::CredentialProvider;

    let versions = Versions::new(
        "v1",
        r#"{"password":"p","client":"c1","id":"AKID1","key":"first-key"}"#,
    );
    let sink = r#"url = "s3://lake/t"
access_key_id = "secret://kafka#id"
secret_access_key = "secret://kafka#key""#;
    let mut secrets = resolve(
        &config_with("secret://kafka#password", sink),
        versions.clone(),
    )
    .await
    .unwrap();
    let keys = secrets.sink_keys.clone().unwrap();
    assert_eq!(keys.get_credential().await.unwrap().secret_key, "first-key");
    assert!(!format!("{keys:?}").contains("first-key"));

    versions.set(
        "v2",
        r#"{"password":"p","client":"c1","id":"AKID2","key":"second-key"}"#,
    );
    tokio::time::sleep(EVERY * 2).await;
    let credential = keys.get_credential().await.unwrap();
    assert_eq!(
        (credential.key_id.as_str(), credential.secret_key.as_str()),
        ("AKID2", "second-key")
    );
    // The password did not change: no new SASL credentials.
    assert!(secrets.updates.as_mut().unwrap().try_recv().is_err());
}

#[test]
fn a_sink_secret_written_inline_is_refused() {
    let sink = r#"url = "s3://lake/t"
access_key_id = "AKID"
secret_access_key = "inline-secret-value""#;
    let err = StageConfig::from_toml(&toml_with("env:X", sink))
        .unwrap_err()
        .to_string();
    assert!(err.contains("sink.secret_access_key"), "{err}");
    assert!(!err.contains("inline-secret-value"), "{err}");
    let file = r#"url = "file://./lake"
access_key_id = "AKID"
secret_access_key = "env:S3_SECRET""#;
    let err = StageConfig::from_toml(&toml_with("env:X", file))
        .unwrap_err()
        .to_string();
    assert!(err.contains("s3:// sink only"), "{err}");
}

#[test]
fn a_reference_where_no_credential_goes_is_refused() {
    let toml =
        toml_with("env:X", "").replace(r#"key_id = "alias/k""#, r#"key_id = "secret://keys#id""#);
    let err = StageConfig::from_toml(&toml).unwrap_err().to_string();
    assert!(err.contains("encryption.key_id"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_password_the_broker_refuses_is_not_taken_and_the_old_one_stays() {
    let versions = Versions::new("v1", r#"{"password":"first","client":"c1"}"#);
    let mut secrets = resolve(&config("secret://kafka#password"), versions.clone())
        .await
        .unwrap();
    let updates = secrets.updates.as_mut().unwrap();
    versions.set(
        "v2",
        &format!(r#"{{"password":"{REFUSED}","client":"c1"}}"#),
    );
    tokio::time::sleep(EVERY * 3).await;
    assert!(
        updates.try_recv().is_err(),
        "a refused password was handed over"
    );
    // Tried again at each check, and taken once the secret holds one that logs in.
    versions.set("v3", r#"{"password":"third","client":"c1"}"#);
    assert_eq!(updates.recv().await.unwrap().password.as_str(), "third");
}
