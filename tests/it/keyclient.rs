//! The key client against the real key core server: the remote service over SigV4, retries
//! through throttling, refusals not retried, and keys that interoperate with the in-process path.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use lakeseal_envelope::{EncryptionContext, SecretBytes};
use lakeseal_keyclient::{
    CredentialSource, DekCache, DekCacheConfig, InProcess, KeyService, Remote, RemoteCredentials,
    Resilient, RetryPolicy,
};
use lakeseal_keycore::audit::{self, Query};
use lakeseal_keycore::{Principal, RequestContext};
use lakeseal_keycore_server::{Limit, RateLimits, ServerConfig};

use crate::support::{REGION, RunningKeyCore};

fn context() -> EncryptionContext {
    EncryptionContext::from_iter([("table", "telemetry"), ("topic", "iot")])
}

async fn telemetry_key(kc: &RunningKeyCore) -> String {
    let root = Principal::account_root("111122223333");
    kc.core
        .create_key(&root, &RequestContext::local("test"), Default::default())
        .await
        .unwrap()
        .key_metadata
        .arn
}

fn remote(kc: &RunningKeyCore) -> Remote {
    let creds = RemoteCredentials::from_file(&kc.credentials, "default").unwrap();
    Remote::new(&kc.endpoint, REGION, creds).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_data_keys_round_trip_and_match_the_in_process_path() {
    let kc = RunningKeyCore::start().await;
    let key = telemetry_key(&kc).await;
    let cache = DekCache::new(remote(&kc), DekCacheConfig::default());
    let dek = cache.data_key(&key, &context(), 1, 1).await.unwrap();
    assert_eq!(dek.key_arn(), key);
    let unwrapped = cache.unwrap(dek.wrapped(), &context()).await.unwrap();
    assert_eq!(unwrapped.expose_secret(), dek.key().expose_secret());
    // The same blob opens in process: one key core, two paths.
    let local = InProcess::new(kc.core.clone(), Principal::account_root("111122223333"));
    let opened = local.decrypt(dek.wrapped(), &context()).await.unwrap();
    assert_eq!(opened.expose_secret(), dek.key().expose_secret());
    // The wrong context is refused, not retried.
    let err = remote(&kc)
        .decrypt(dek.wrapped(), &EncryptionContext::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidCiphertextException"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_until_it_gets_through() {
    let two = NonZeroU32::new(2).unwrap();
    let config = ServerConfig {
        rate_limits: RateLimits {
            cryptographic: Limit::per_second(two),
            ..Default::default()
        },
        ..Default::default()
    };
    let kc = RunningKeyCore::start_with(config).await;
    let key = telemetry_key(&kc).await;
    let many = NonZeroU32::new(1000).unwrap();
    // The last of eight requests at 2 a second gets through after about 3 s. The default
    // policy's eight attempts wait a random 0-50, 0-100, … 0-3,200 ms (full jitter), which can
    // add up to less than that (this test failed that way once, in a loaded run): enough attempts,
    // each waiting up to a second, that the waits cannot run out first.
    let patient = RetryPolicy {
        max_attempts: 40,
        cap: Duration::from_secs(1),
        ..RetryPolicy::default()
    };
    let client = Resilient::new(remote(&kc), many, many, patient);
    let cache = Arc::new(DekCache::new(client, DekCacheConfig::default()));
    // Eight windows close at once: far over 2 requests/s.
    let tasks: Vec<_> = (0..8)
        .map(|window| {
            let (cache, key) = (cache.clone(), key.clone());
            tokio::spawn(async move {
                cache
                    .data_key(&key, &context(), window, 1)
                    .await
                    .map(|d| d.wrapped().to_vec())
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let throttled = audit::query(
        &kc.core.audit_path(),
        &Query {
            operation: Some("GenerateDataKey".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        throttled
            .iter()
            .any(|r| r.event.result == "ThrottlingException"),
        "the quota never bit"
    );
    assert_eq!(
        throttled
            .iter()
            .filter(|r| r.event.result == "Success")
            .count(),
        8
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_refused_at_once() {
    let kc = RunningKeyCore::start().await;
    let key = telemetry_key(&kc).await;
    let mut creds = RemoteCredentials::from_file(&kc.credentials, "default").unwrap();
    creds.secret_access_key = SecretBytes::from(vec![b'x'; 40]);
    let many = NonZeroU32::new(1000).unwrap();
    let client = Resilient::new(
        Remote::new(&kc.endpoint, REGION, creds).unwrap(),
        many,
        many,
        RetryPolicy::default(),
    );
    let err = client
        .generate_data_key(&key, &context())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidSignatureException"));
    assert!(!err.is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assumed_role_is_renewed_before_each_session_expires() {
    let kc = RunningKeyCore::start_with(ServerConfig {
        min_session_seconds: 4,
        ..ServerConfig::default()
    })
    .await;
    let key = telemetry_key(&kc).await;
    let root = Principal::account_root("111122223333");
    let ctx = RequestContext::local("test");
    let trust = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}}"#;
    let role_arn = kc
        .core
        .create_role(&root, &ctx, "worker", trust)
        .await
        .unwrap()
        .arn;
    let policy =
        r#"{"Statement":{"Effect":"Allow","Action":"kms:GenerateDataKey","Resource":"*"}}"#;
    kc.core
        .put_role_policy(&root, &ctx, "worker", "data-keys", policy)
        .await
        .unwrap();
    let admin = RemoteCredentials::from_file(&kc.credentials, "default").unwrap();
    let client = Remote::new(
        &kc.endpoint,
        REGION,
        CredentialSource::AssumeRole {
            source: Box::new(admin.into()),
            endpoint: kc.endpoint.clone(),
            region: REGION.into(),
            role_arn,
            session_name: "renewing".into(),
            duration_seconds: Some(4),
        },
    )
    .unwrap();
    let audited = |operation: &str| {
        audit::query(
            &kc.core.audit_path(),
            &Query {
                operation: Some(operation.into()),
                ..Query::default()
            },
        )
        .unwrap()
    };
    // Steady calls through three lifetimes of 4-second sessions: not one fails.
    let start = std::time::Instant::now();
    while audited("AssumeRole").len() < 4 {
        client.generate_data_key(&key, &context()).await.unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the session was never renewed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let calls = audited("GenerateDataKey");
    assert!(!calls.is_empty());
    for call in &calls {
        assert_eq!(call.event.result, "Success", "{:?}", call.event);
        assert!(
            call.event
                .principal
                .ends_with("assumed-role/worker/renewing"),
            "{}",
            call.event.principal
        );
    }
}
