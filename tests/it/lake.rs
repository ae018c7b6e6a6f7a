//! A window written by the stage's Parquet encryption, read by tools nobody here wrote: pyarrow
//! (its KmsClient asks the key core to unwrap the file key over SigV4) and DuckDB.

use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use lakeseal_envelope::EncryptionContext;
use lakeseal_keyclient::{CachedDek, DekCache, DekCacheConfig, Remote, RemoteCredentials};
use lakeseal_keycore::{Principal, RequestContext};
use lakeseal_stage::encrypted_parquet::{self, Codec, WrappedDek};

use crate::support::{REGION, RunningKeyCore};

/// A fresh key in `kc` and a data key under it, made over the network as the stage makes one.
async fn data_key(kc: &RunningKeyCore) -> (CachedDek, EncryptionContext) {
    let root = Principal::account_root("111122223333");
    let key = kc
        .core
        .create_key(&root, &RequestContext::local("test"), Default::default())
        .await
        .unwrap()
        .key_metadata
        .arn;
    let creds = RemoteCredentials::from_file(&kc.credentials, "default").unwrap();
    let cache = DekCache::new(
        Remote::new(&kc.endpoint, REGION, creds).unwrap(),
        DekCacheConfig::default(),
    );
    let context = EncryptionContext::from_iter([("table", "telemetry"), ("topic", "iot")]);
    (cache.data_key(&key, &context, 1, 1).await.unwrap(), context)
}

/// Written with zstd; the large window below and the stage's own files use the default, Snappy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyarrow_and_duckdb_read_an_encrypted_window() {
    let kc = RunningKeyCore::start().await;
    let (dek, context) = data_key(&kc).await;

    let schema = Arc::new(Schema::new(vec![
        Field::new("device_id", DataType::Utf8, false),
        Field::new("reading", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["dev-1", "dev-2", "dev-3"])),
            Arc::new(Int64Array::from(vec![Some(21), None, Some(23)])),
        ],
    )
    .unwrap();
    let file = encrypted_parquet::write(
        &[batch],
        schema,
        Codec::Zstd,
        dek.key(),
        dek.key_arn(),
        &WrappedDek::new(dek.wrapped(), &context),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("telemetry-0-0-2.parquet");
    std::fs::write(&path, &file).unwrap();

    let out = kc
        .python("read_lake.py", &[("FILE", path.to_str().unwrap())])
        .await;
    assert!(
        out.contains("pyarrow rows=3 sum=44 devices=['dev-1', 'dev-2', 'dev-3']"),
        "{out}"
    );
    assert!(out.contains("duckdb rows=3 sum=44"), "{out}");
}

/// A window large enough that parquet's defaults would split each column into several data pages
/// (20,000 rows a page): DuckDB 2.0 cannot decrypt the second and later pages of such a file, so
/// the writer keeps one data page per column chunk. Both readers must get every row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_and_pyarrow_read_a_large_window() {
    let kc = RunningKeyCore::start().await;
    let (dek, context) = data_key(&kc).await;
    let rows = 70_000;
    let schema = Arc::new(Schema::new(vec![
        Field::new("device_id", DataType::Utf8, false),
        Field::new("reading", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(
                (0..rows).map(|i| format!("dev-{i:06}")),
            )),
            Arc::new(Int64Array::from_iter_values(0..rows as i64)),
        ],
    )
    .unwrap();
    let file = encrypted_parquet::write(
        &[batch],
        schema,
        Codec::default(),
        dek.key(),
        dek.key_arn(),
        &WrappedDek::new(dek.wrapped(), &context),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("telemetry-0-0-69999.parquet");
    std::fs::write(&path, &file).unwrap();
    let key_b64 = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        dek.key().expose_secret(),
    );
    let out = kc
        .python(
            "read_stage_file.py",
            &[("FILE", path.to_str().unwrap()), ("KEY", &key_b64)],
        )
        .await;
    assert!(out.contains(&format!("pyarrow rows={rows}")), "{out}");
    assert!(out.contains(&format!("duckdb rows={rows}")), "{out}");
}
