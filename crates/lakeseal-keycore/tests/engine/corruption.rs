//! A damaged data directory: one corrupt row stops its own key only, and every error names the
//! file, table and key it is about.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use lakeseal_keycore::clock::ManualClock;
use lakeseal_keycore::ops::generate_random::GenerateRandomRequest;
use lakeseal_keycore::{Durability, Error, KeyCore, Options};

use lakeseal_keycore::ops::encrypt::EncryptRequest;

use crate::common::{Fixture, context, ctx, fixture};

fn reopen(dir: &std::path::Path) -> lakeseal_keycore::Result<KeyCore> {
    KeyCore::open(
        dir,
        Options {
            clock: Arc::new(ManualClock::starting_now()),
            audit: Durability::Durable,
            ..Options::default()
        },
    )
}

fn sql(dir: &std::path::Path, statement: &str, key: &str) {
    let conn = rusqlite::Connection::open(dir.join("keycore.db")).unwrap();
    assert_eq!(conn.execute(statement, [key]).unwrap(), 1, "{statement}");
}

#[tokio::test]
async fn a_corrupt_row_stops_its_key_only() {
    let f = fixture();
    let (bad, good, also_bad) = (f.new_key().await, f.new_key().await, f.new_key().await);
    let Fixture {
        dir, core, admin, ..
    } = f;
    drop(core);
    let dir_path = dir.path().to_owned();
    let dir_ref = &dir_path;
    sql(
        dir_ref,
        "UPDATE key_versions SET sealed_material = x'00' WHERE key_id = ?1",
        &bad,
    );
    sql(
        dir_ref,
        "UPDATE keys SET record = '{' WHERE key_id = ?1",
        &also_bad,
    );

    let core = reopen(dir_ref).unwrap();
    let random = core
        .generate_random(&admin, &ctx(), GenerateRandomRequest { number_of_bytes: 8 })
        .await;
    assert!(random.is_ok(), "{:?}", random.err());
    let request = ctx();
    let encrypt = |key: &str| {
        core.encrypt(
            &admin,
            &request,
            EncryptRequest {
                encryption_algorithm: None,
                key_id: key.into(),
                plaintext: b"still works".to_vec().into(),
                encryption_context: context(&[]),
            },
        )
    };
    assert!(encrypt(&good).await.is_ok());
    for (key, names) in [(&bad, "key_versions"), (&also_bad, "table keys")] {
        let e = encrypt(key).await.unwrap_err();
        assert_eq!(e.code(), "KMSInternalException");
        let message = e.to_string();
        assert!(
            message.contains(key.as_str()) && message.contains(names),
            "{message}"
        );
        assert!(!message.contains("root key this store"), "{message}");
    }
}

#[tokio::test]
async fn the_wrong_root_key_is_named_as_such() {
    let f = fixture();
    f.new_key().await;
    let dir = f.dir.path().to_owned();
    drop(f.core);
    let root = dir.join("root.key");
    std::fs::write(&root, [7u8; 32]).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o600)).unwrap();
    let Err(e) = reopen(&dir) else {
        panic!("opened under another root key")
    };
    assert!(matches!(e, Error::DataDir(_)), "{e:?}");
    assert!(e.to_string().contains("root.key"), "{e}");
}

#[tokio::test]
async fn io_errors_name_the_file_once() {
    let f = fixture();
    let dir = f.dir.path().to_owned();
    drop(f.core);
    // A directory where the audit log should be: it cannot be opened for appending.
    std::fs::remove_file(dir.join("audit.log")).unwrap();
    std::fs::create_dir(dir.join("audit.log")).unwrap();
    let Err(e) = reopen(&dir) else {
        panic!("opened with a directory for an audit log")
    };
    let mut message = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        message = format!("{message}: {c}");
        cause = c.source();
    }
    assert!(message.contains("audit.log"), "{message}");
    assert_eq!(message.matches("directory").count(), 1, "{message}");
}
