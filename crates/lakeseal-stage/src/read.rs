//! Reading the lake back: a file's key material, its data key through the key core, its rows; and
//! the check that a table's files cover each partition's offsets with no gap and no overlap.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use arrow_array::RecordBatch;
use bytes::Bytes;
use lakeseal_envelope::DataKey;
use lakeseal_keyclient::{DekCache, KeyService};
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::encryption::decrypt::{FileDecryptionProperties, KeyRetriever};

use crate::encrypted_parquet::KeyMaterial;
use crate::lake::LakeFile;
use crate::{Error, Result};

/// Hands parquet no key; keeps the key metadata it was asked about.
#[derive(Default)]
struct Capture(Mutex<Option<Vec<u8>>>);

impl KeyRetriever for Capture {
    fn retrieve_key(&self, key_metadata: &[u8]) -> parquet::errors::Result<Vec<u8>> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(key_metadata.to_vec());
        Err(parquet::errors::ParquetError::General(
            "reading key metadata only".into(),
        ))
    }
}

/// Runs a parquet read of untrusted bytes. parquet 60's AES-GCM module decryptor subtracts the
/// nonce and length sizes from a module's length before checking it (`ciphers.rs`), so a module
/// shorter than 16 bytes panics; a tampered or foreign file must be an error here, not a crash.
/// Found by `fuzz/fuzz_targets/lake_file.rs`; the input is a test below.
fn guarded<T>(read: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|_| {
        Err(Error::Malformed(
            "a malformed encrypted Parquet module".into(),
        ))
    })
}

/// The footer key material of an encrypted file, read without any key.
pub fn key_material(file: &Bytes) -> Result<KeyMaterial> {
    guarded(|| key_material_unguarded(file))
}

fn key_material_unguarded(file: &Bytes) -> Result<KeyMaterial> {
    let capture = Arc::new(Capture::default());
    let decryption = FileDecryptionProperties::with_key_retriever(capture.clone()).build()?;
    let options = ArrowReaderOptions::new().with_file_decryption_properties(decryption);
    // Fails by design once the key is asked for; the metadata is what we came for.
    let _ = ParquetRecordBatchReaderBuilder::try_new_with_options(file.clone(), options);
    let metadata = capture
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .ok_or_else(|| {
            Error::KeyMetadata(
                "not a Parquet file with an encrypted footer and key metadata".into(),
            )
        })?;
    KeyMaterial::parse(&metadata)
}

/// Unwraps a file's data key through the key core (an audited `Decrypt`), cached per key.
pub async fn unwrap_key<K: KeyService>(
    keys: &DekCache<K>,
    material: &KeyMaterial,
) -> Result<Arc<DataKey>> {
    let wrapped = material.wrapped()?;
    Ok(keys.unwrap(&wrapped.blob()?, &wrapped.context).await?)
}

/// Decrypts a whole file with its data key.
pub fn decrypt(file: Bytes, key: &DataKey) -> Result<Vec<RecordBatch>> {
    guarded(|| decrypt_unguarded(file, key))
}

fn decrypt_unguarded(file: Bytes, key: &DataKey) -> Result<Vec<RecordBatch>> {
    let decryption = FileDecryptionProperties::builder(key.expose_secret().to_vec()).build()?;
    let options = ArrowReaderOptions::new().with_file_decryption_properties(decryption);
    let batches = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)?
        .build()?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Arrow(e.to_string()))?;
    Ok(batches)
}

/// What a partition's files cover, and what is wrong with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Coverage {
    /// The first offset covered.
    pub first: Option<i64>,
    /// The last offset covered.
    pub last: Option<i64>,
    /// Files.
    pub files: usize,
    /// Gaps and overlaps between files, in offset order.
    pub problems: Vec<String>,
}

/// Per (topic, partition): the offsets the files cover, and every gap or overlap between them.
pub fn coverage(files: &[LakeFile]) -> BTreeMap<(String, i32), Coverage> {
    let mut by_partition: BTreeMap<(String, i32), Vec<&LakeFile>> = BTreeMap::new();
    for f in files {
        by_partition
            .entry((f.topic.clone(), f.partition))
            .or_default()
            .push(f);
    }
    by_partition
        .into_iter()
        .map(|(tp, mut files)| {
            files.sort_by_key(|f| (f.first, f.last));
            let mut c = Coverage {
                files: files.len(),
                ..Coverage::default()
            };
            for f in files {
                match c.last {
                    None => c.first = Some(f.first),
                    Some(last) if f.first > last + 1 => c.problems.push(format!(
                        "gap: offsets {}..={} are in no file",
                        last + 1,
                        f.first - 1
                    )),
                    Some(last) if f.first <= last => c.problems.push(format!(
                        "overlap: {} covers offsets {}..={} again",
                        f.path.display(),
                        f.first,
                        last.min(f.last)
                    )),
                    Some(_) => {}
                }
                c.last = Some(c.last.map_or(f.last, |l| l.max(f.last)));
            }
            (tp, c)
        })
        .collect()
}

/// Keeps each partition's high watermark as librdkafka's statistics report it (from fetch
/// responses).
#[derive(Default)]
struct HighWatermarks(Mutex<BTreeMap<i32, i64>>);

impl rdkafka::ClientContext for HighWatermarks {
    fn stats(&self, statistics: rdkafka::Statistics) {
        let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for topic in statistics.topics.values() {
            for (p, partition) in &topic.partitions {
                if *p >= 0 && partition.hi_offset >= 0 {
                    seen.insert(*p, partition.hi_offset);
                }
            }
        }
    }
}

impl rdkafka::consumer::ConsumerContext for HighWatermarks {}

/// Per partition of `topic`: the low and high watermarks (the first offset still held, and one
/// past the last), from the brokers at `bootstrap`.
///
/// The high watermark is the larger of `ListOffsets`' answer and a fetch response's: some
/// Kafka-compatible brokers answer `ListOffsets` for the latest offset loosely, while every
/// fetch response carries the partition's high watermark.
pub fn watermarks(bootstrap: &str, topic: &str) -> Result<BTreeMap<i32, (i64, i64)>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let timeout = std::time::Duration::from_secs(10);
    let kafka = |e: rdkafka::error::KafkaError| Error::Kafka(e.to_string());
    let consumer: BaseConsumer<HighWatermarks> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "lakeseal-watermarks")
        .set("enable.auto.commit", "false")
        .set("max.partition.fetch.bytes", "1024")
        .set("statistics.interval.ms", "100")
        .create_with_context(HighWatermarks::default())
        .map_err(kafka)?;
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(kafka)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(Error::Kafka(format!("topic {topic:?} has no partitions")));
    }
    let mut marks = BTreeMap::new();
    let mut assignment = TopicPartitionList::new();
    for p in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, timeout)
            .map_err(kafka)?;
        assignment
            .add_partition_offset(topic, p, Offset::Offset(low))
            .map_err(kafka)?;
        marks.insert(p, (low, high));
    }
    consumer.assign(&assignment).map_err(kafka)?;
    let start = std::time::Instant::now();
    loop {
        let _ = consumer.poll(std::time::Duration::from_millis(100));
        let fetched = consumer
            .context()
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if fetched.len() >= marks.len() || start.elapsed() >= timeout {
            for (p, high) in fetched {
                if let Some(mark) = marks.get_mut(&p) {
                    mark.1 = mark.1.max(high);
                }
            }
            return Ok(marks);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn file(partition: i32, first: i64, last: i64) -> LakeFile {
        LakeFile {
            path: PathBuf::from(format!("t-{partition}-{first}-{last}.parquet")),
            topic: "t".into(),
            partition,
            first,
            last,
        }
    }

    #[test]
    fn contiguous_files_have_no_problem() {
        let c = coverage(&[file(0, 10, 19), file(0, 0, 9), file(1, 5, 5)]);
        assert_eq!(c[&("t".into(), 0)].problems, Vec::<String>::new());
        assert_eq!(
            (c[&("t".into(), 0)].first, c[&("t".into(), 0)].last),
            (Some(0), Some(19))
        );
        assert_eq!(c[&("t".into(), 1)].files, 1);
    }

    #[test]
    fn gaps_and_overlaps_are_named() {
        let c = coverage(&[file(0, 0, 9), file(0, 12, 20), file(0, 20, 25)]);
        let problems = &c[&("t".into(), 0)].problems;
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("gap: offsets 10..=11"));
        assert!(problems[1].starts_with("overlap:") && problems[1].contains("20..=20"));
    }

    #[test]
    fn a_footer_module_shorter_than_its_nonce_is_an_error_not_a_panic() {
        use base64::Engine;
        // fuzz/artifacts/lake_file/crash-257e9726…: parquet 60 panicked on it.
        let file = base64::engine::general_purpose::STANDARD
            .decode(
                "v1L/////////ADL29vb29vb29vb/////////////V1dXV1dXKysrKysrKysrKysqKwAAAFBBUjIr2Csr\
                 KwAAAKFRUjErKysrKytBBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEAgIC5FI5AAQEBAQEBAQE\
                 BAQEAQAAAAAAAAAAUEFSMTArKyoAAABQQVJF",
            )
            .unwrap();
        let file = Bytes::from(file);
        assert!(key_material(&file).is_err());
        assert!(matches!(
            decrypt(file, &DataKey::from_bytes([7; 32])),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn a_plain_file_has_no_key_material() {
        assert!(matches!(
            key_material(&Bytes::from_static(b"PAR1 not really")),
            Err(Error::KeyMetadata(_))
        ));
    }
}
