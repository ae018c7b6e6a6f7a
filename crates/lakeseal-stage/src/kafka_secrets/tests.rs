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

fn kafka(password: &str) -> KafkaProperties {
    crate::config::StageConfig::from_toml(&format!(
        r#"
[source]
topics = ["t"]
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
[dlq]
topic = "dlq"
[keycore]
data_dir = "/tmp/x"
user = "stage"
"#
    ))
    .unwrap()
    .kafka
}

const EVERY: Duration = Duration::from_secs(60);

#[tokio::test(start_paused = true)]
async fn references_resolve_at_start_and_a_new_version_reaches_the_clients() {
    let versions = Versions::new("v1", r#"{"password":"first","client":"c1"}"#);
    let mut secrets =
        KafkaSecrets::resolve(&kafka("secret://kafka#password"), versions.clone(), EVERY)
            .await
            .unwrap();
    assert_eq!(secrets.values["sasl.password"].as_str(), "first");
    assert_eq!(secrets.values["client.id"].as_str(), "c1");
    assert!(!secrets.values.contains_key("sasl.username"));
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
    let mut secrets =
        KafkaSecrets::resolve(&kafka("secret://kafka#password"), versions.clone(), EVERY)
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
    let mut secrets =
        KafkaSecrets::resolve(&kafka("secret://kafka#password"), versions.clone(), EVERY)
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
    let err = KafkaSecrets::resolve(&kafka("secret://kafka#password"), versions, EVERY)
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
    let secrets = KafkaSecrets::resolve(
        &kafka(&format!("file://{}", password.path().display())),
        versions,
        EVERY,
    )
    .await
    .unwrap();
    assert!(secrets.updates.is_none() && secrets.refused.is_none());
    assert_eq!(secrets.values["client.id"].as_str(), "c1");
}

#[test]
fn json_fields_are_strings_numbers_or_booleans() {
    assert_eq!(json_field(r#"{"a":"x"}"#, "a").unwrap().as_str(), "x");
    assert_eq!(json_field(r#"{"a":9093}"#, "a").unwrap().as_str(), "9093");
    assert!(json_field(r#"{"a":{}}"#, "a").is_err());
    assert!(json_field(r#"["a"]"#, "a").is_err());
    assert!(json_field(r#"{"a":"x"}"#, "b").is_err());
}
