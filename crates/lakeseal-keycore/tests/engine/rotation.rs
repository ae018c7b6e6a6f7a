//! Secret rotation run by the key core: the scheduler on the manual clock, the staging labels
//! through a failed, resumed and retried rotation, and the built-in rotators.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lakeseal_envelope::SecretBytes;
use lakeseal_keycore::clock::{Clock, ManualClock};
use lakeseal_keycore::rotation::{Rotating, RotationError, Rotator, Rotators};
use lakeseal_keycore::{Durability, Error, KeyCore, Options};
use lakeseal_kms_types::secrets::read::GetSecretValueRequest;
use lakeseal_kms_types::secrets::rotate::RotateSecretRequest;
use lakeseal_kms_types::secrets::write::{CreateSecretRequest, PutSecretValueRequest};
use lakeseal_kms_types::secrets::{RotationRules, SecretIdRequest, SecretTag, SecretValue};

use crate::common::{ACCOUNT, REGION, ctx, init};

fn rotator_arn(name: &str) -> String {
    format!("arn:aws:lakeseal:{REGION}:{ACCOUNT}:rotator/{name}")
}

fn daily() -> Option<RotationRules> {
    Some(RotationRules {
        automatically_after_days: Some(1),
        ..Default::default()
    })
}

/// A rotator whose steps can be made to fail, and which remembers what it discarded.
#[derive(Debug, Default)]
struct Flaky {
    fail_test: AtomicBool,
    made: AtomicUsize,
    discarded: Mutex<Vec<Vec<u8>>>,
}

#[async_trait::async_trait]
impl Rotator for Flaky {
    fn name(&self) -> &'static str {
        "flaky"
    }
    async fn create_secret(
        &self,
        _: &Rotating<'_>,
        _: &SecretValue,
    ) -> Result<SecretValue, RotationError> {
        let n = self.made.fetch_add(1, Ordering::SeqCst);
        Ok(SecretValue::String(SecretBytes::new(
            format!("value-{n}").into_bytes(),
        )))
    }
    async fn set_secret(
        &self,
        _: &Rotating<'_>,
        _: &SecretValue,
        _: &SecretValue,
    ) -> Result<(), RotationError> {
        Ok(())
    }
    async fn test_secret(&self, _: &Rotating<'_>, _: &SecretValue) -> Result<(), RotationError> {
        if self.fail_test.load(Ordering::SeqCst) {
            return Err(RotationError::new("the new value does not log in"));
        }
        Ok(())
    }
    async fn discard(&self, _: &Rotating<'_>, stale: &SecretValue) -> Result<(), RotationError> {
        self.discarded
            .lock()
            .unwrap()
            .push(stale.expose_secret().to_vec());
        Ok(())
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    core: KeyCore,
    clock: Arc<ManualClock>,
    flaky: Arc<Flaky>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let clock = Arc::new(ManualClock::starting_now());
    let flaky = Arc::new(Flaky::default());
    let core = KeyCore::open(
        dir.path(),
        Options {
            clock: clock.clone(),
            audit: Durability::Durable,
            rotators: Rotators::builtin().with(flaky.clone()),
            ..Options::default()
        },
    )
    .unwrap();
    Setup {
        _dir: dir,
        core,
        clock,
        flaky,
    }
}

impl Setup {
    async fn create(&self, name: &str, value: &str, tags: Vec<SecretTag>) {
        let root = lakeseal_keycore::Principal::account_root(ACCOUNT);
        self.core
            .create_secret(
                &root,
                &ctx(),
                CreateSecretRequest {
                    name: name.into(),
                    secret_string: Some(SecretBytes::new(value.as_bytes().to_vec())),
                    tags,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }

    async fn rotate(
        &self,
        name: &str,
        rotator: &str,
        token: Option<&str>,
        immediately: bool,
    ) -> Result<Option<String>, Error> {
        let root = lakeseal_keycore::Principal::account_root(ACCOUNT);
        self.core
            .rotate_secret(
                &root,
                &ctx(),
                RotateSecretRequest {
                    secret_id: name.into(),
                    client_request_token: token.map(str::to_owned),
                    rotation_lambda_arn: Some(rotator_arn(rotator)),
                    rotation_rules: daily(),
                    rotate_immediately: Some(immediately),
                },
            )
            .await
            .map(|r| r.version_id)
    }

    async fn value(&self, name: &str, stage: &str) -> Option<String> {
        let root = lakeseal_keycore::Principal::account_root(ACCOUNT);
        let got = self
            .core
            .get_secret_value(
                &root,
                &ctx(),
                GetSecretValueRequest {
                    secret_id: name.into(),
                    version_id: None,
                    version_stage: Some(stage.into()),
                },
            )
            .await
            .ok()?;
        Some(String::from_utf8(got.secret_string?.expose_secret().to_vec()).unwrap())
    }

    async fn describe(&self, name: &str) -> lakeseal_kms_types::secrets::describe::SecretMetadata {
        let root = lakeseal_keycore::Principal::account_root(ACCOUNT);
        self.core
            .describe_secret(&root, &ctx(), SecretIdRequest::new(name))
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn the_scheduler_fires_a_due_rotation_on_the_injected_clock_and_not_before() {
    let s = setup();
    s.create("api-token", "initial", Vec::new()).await;
    assert_eq!(
        s.rotate("api-token", "random-token", None, false)
            .await
            .unwrap(),
        None
    );
    let described = s.describe("api-token").await;
    assert!(described.rotation_enabled);
    let due = described.next_rotation_date.unwrap();
    assert!(due > s.clock.now_ms());

    // A minute before it is due: nothing happens.
    let early = due - 60_000 - s.clock.now_ms();
    s.clock.advance(Duration::from_millis(early as u64));
    assert_eq!(s.core.rotate_due_secrets().await, 0);
    assert_eq!(s.value("api-token", "AWSCURRENT").await.unwrap(), "initial");

    // Two minutes later it is due, and rotates once.
    s.clock.advance(Duration::from_secs(120));
    assert_eq!(s.core.rotate_due_secrets().await, 1);
    assert_eq!(s.core.rotate_due_secrets().await, 0);
    let token = s.value("api-token", "AWSCURRENT").await.unwrap();
    assert_eq!(token.len(), 32);
    assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(
        s.value("api-token", "AWSPREVIOUS").await.unwrap(),
        "initial"
    );
    assert_eq!(s.value("api-token", "AWSPENDING").await, None);
    let described = s.describe("api-token").await;
    assert_eq!(described.last_rotated_date, Some(s.clock.now_ms()));
    assert!(described.next_rotation_date.unwrap() > s.clock.now_ms());
}

#[tokio::test]
async fn a_failed_rotation_keeps_current_and_the_next_attempt_resumes_or_starts_afresh() {
    let s = setup();
    s.create("db", "v0", Vec::new()).await;

    // testSecret fails: AWSCURRENT is untouched, the new value waits as AWSPENDING.
    s.flaky.fail_test.store(true, Ordering::SeqCst);
    let e = s
        .rotate(
            "db",
            "flaky",
            Some("aaaaaaaa-0000-4000-8000-000000000001"),
            true,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidRequest(_)), "{e}");
    assert!(e.to_string().contains("testSecret"), "{e}");
    assert_eq!(s.value("db", "AWSCURRENT").await.unwrap(), "v0");
    assert_eq!(s.value("db", "AWSPENDING").await.unwrap(), "value-0");

    // The same token resumes: the value made is kept, not made again.
    s.flaky.fail_test.store(false, Ordering::SeqCst);
    let token = "aaaaaaaa-0000-4000-8000-000000000001";
    assert_eq!(
        s.rotate("db", "flaky", Some(token), true)
            .await
            .unwrap()
            .as_deref(),
        Some(token)
    );
    assert_eq!(s.value("db", "AWSCURRENT").await.unwrap(), "value-0");
    assert_eq!(s.value("db", "AWSPREVIOUS").await.unwrap(), "v0");
    assert_eq!(s.flaky.made.load(Ordering::SeqCst), 1);
    // Asking again with that token is answered as done.
    s.rotate("db", "flaky", Some(token), true).await.unwrap();
    assert_eq!(s.flaky.made.load(Ordering::SeqCst), 1);

    // Fails again; a new token discards the half-made value and makes a new one.
    s.flaky.fail_test.store(true, Ordering::SeqCst);
    s.rotate("db", "flaky", None, true).await.unwrap_err();
    assert_eq!(s.value("db", "AWSPENDING").await.unwrap(), "value-1");
    s.flaky.fail_test.store(false, Ordering::SeqCst);
    s.rotate("db", "flaky", None, true).await.unwrap();
    assert_eq!(s.value("db", "AWSCURRENT").await.unwrap(), "value-2");
    assert_eq!(s.value("db", "AWSPREVIOUS").await.unwrap(), "value-0");
    assert_eq!(s.value("db", "AWSPENDING").await, None);
    assert_eq!(
        *s.flaky.discarded.lock().unwrap(),
        vec![b"value-1".to_vec()]
    );
}

#[tokio::test]
async fn rotation_is_refused_while_someone_elses_pending_version_waits() {
    let s = setup();
    s.create("manual", "v0", Vec::new()).await;
    let root = lakeseal_keycore::Principal::account_root(ACCOUNT);
    s.core
        .put_secret_value(
            &root,
            &ctx(),
            PutSecretValueRequest {
                secret_id: "manual".into(),
                secret_string: Some(SecretBytes::new(b"staged".to_vec())),
                version_stages: Some(vec!["AWSPENDING".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let e = s
        .rotate("manual", "random-token", None, true)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidRequest(_)), "{e}");
    assert_eq!(s.value("manual", "AWSCURRENT").await.unwrap(), "v0");
}

#[tokio::test]
async fn bad_rotators_and_schedules_are_invalid_parameters() {
    let s = setup();
    s.create("x", "v0", Vec::new()).await;
    for arn in [
        "arn:aws:lambda:eu-west-1:111122223333:function:rotate".to_owned(),
        rotator_arn("no-such-rotator"),
        format!("arn:aws:lakeseal:us-east-1:{ACCOUNT}:rotator/random-token"),
    ] {
        let root = lakeseal_keycore::Principal::account_root(ACCOUNT);
        let e = s
            .core
            .rotate_secret(
                &root,
                &ctx(),
                RotateSecretRequest {
                    secret_id: "x".into(),
                    rotation_lambda_arn: Some(arn.clone()),
                    rotation_rules: daily(),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidParameter(_)), "{arn}: {e}");
    }
    let tags = vec![SecretTag {
        key: "lakeseal:rotation:length".into(),
        value: "8".into(),
    }];
    s.create("short", "v0", tags).await;
    let e = s
        .rotate("short", "random-token", None, true)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("lakeseal:rotation:length"), "{e}");
    assert_eq!(s.value("short", "AWSCURRENT").await.unwrap(), "v0");
}

#[tokio::test]
async fn an_access_key_rotation_keeps_the_old_key_for_the_overlap_then_deletes_it() {
    let s = setup();
    let root = lakeseal_keycore::Principal::account_root(ACCOUNT);
    s.core.create_user(&root, &ctx(), "svc").await.unwrap();
    let old = s
        .core
        .create_access_key(&root, &ctx(), "svc")
        .await
        .unwrap();
    let value = serde_json::json!({
        "UserName": "svc",
        "AccessKeyId": old.access_key_id,
        "SecretAccessKey": String::from_utf8(old.secret_access_key.expose_secret().to_vec()).unwrap(),
    })
    .to_string();
    let tags = vec![SecretTag {
        key: "lakeseal:rotation:overlap".into(),
        value: "1h".into(),
    }];
    s.create("svc-key", &value, tags).await;
    s.rotate("svc-key", "keycore-access-key", None, true)
        .await
        .unwrap();

    let current: serde_json::Value =
        serde_json::from_str(&s.value("svc-key", "AWSCURRENT").await.unwrap()).unwrap();
    let new_id = current["AccessKeyId"].as_str().unwrap();
    assert_ne!(new_id, old.access_key_id);
    let new = s.core.signing_identity(new_id).unwrap().unwrap();
    assert_eq!(
        new.secret.expose_secret(),
        current["SecretAccessKey"].as_str().unwrap().as_bytes()
    );
    assert_eq!(new.expires, None);
    // The old key works for the overlap ...
    let still = s
        .core
        .signing_identity(&old.access_key_id)
        .unwrap()
        .unwrap();
    assert_eq!(still.expires, Some(s.clock.now_ms() + 3_600_000));
    // ... and is deleted once it is over.
    s.clock.advance(Duration::from_secs(3601));
    s.core.maintain().await.unwrap();
    assert!(
        s.core
            .signing_identity(&old.access_key_id)
            .unwrap()
            .is_none()
    );
    assert!(s.core.signing_identity(new_id).unwrap().is_some());
}
