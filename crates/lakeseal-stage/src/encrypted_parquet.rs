//! One window as an encrypted Parquet file: Parquet Modular Encryption (`AES_GCM_V1`) with one
//! 256-bit data key for the footer and every column, so that DuckDB reads it too, and footer key
//! metadata in the PKMT1 key-material JSON that pyarrow and parquet-mr write.
//!
//! Why not the `parquet-key-management` crate: it supports only older parquet, and AES-256 keys
//! need parquet 59 or later; the PKMT1 JSON is small enough to write here, field for field.
//!
//! `wrappedDEK` must let a reader unwrap the key knowing only that string and the master key id
//! (that is all pyarrow's `KmsClient.unwrap_key` receives), so it carries the key core's ciphertext
//! blob *and* the encryption context bound to it: [`WrappedDek`], base64 of a small JSON.

use arrow_array::RecordBatch;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lakeseal_envelope::{DataKey, EncryptionContext};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::encryption::encrypt::FileEncryptionProperties;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The wrapped data key as `wrappedDEK` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrappedDek {
    /// Format version, 1.
    pub v: u32,
    /// The key core's ciphertext blob, base64.
    pub blob: String,
    /// The encryption context the blob is bound to.
    pub context: EncryptionContext,
}

impl WrappedDek {
    /// Wraps a blob and its context.
    pub fn new(blob: &[u8], context: &EncryptionContext) -> Self {
        Self {
            v: 1,
            blob: STANDARD.encode(blob),
            context: context.clone(),
        }
    }

    /// The `wrappedDEK` string: base64 of the JSON.
    pub fn encode(&self) -> String {
        // Serializing a struct of strings cannot fail.
        STANDARD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Parses an untrusted `wrappedDEK` string.
    pub fn decode(text: &str) -> Result<Self> {
        let json = STANDARD
            .decode(text)
            .map_err(|_| Error::KeyMetadata("wrappedDEK is not base64".into()))?;
        let wrapped: Self = serde_json::from_slice(&json)
            .map_err(|e| Error::KeyMetadata(format!("wrappedDEK: {e}")))?;
        if wrapped.v != 1 {
            return Err(Error::KeyMetadata(format!(
                "wrappedDEK version {} is not 1",
                wrapped.v
            )));
        }
        Ok(wrapped)
    }

    /// The ciphertext blob.
    pub fn blob(&self) -> Result<Vec<u8>> {
        STANDARD
            .decode(&self.blob)
            .map_err(|_| Error::KeyMetadata("wrappedDEK blob is not base64".into()))
    }
}

/// The PKMT1 key material of the footer key, as pyarrow and parquet-mr write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMaterial {
    #[serde(rename = "keyMaterialType")]
    key_material_type: String,
    #[serde(rename = "internalStorage")]
    internal_storage: bool,
    #[serde(rename = "isFooterKey")]
    is_footer_key: bool,
    #[serde(rename = "kmsInstanceID")]
    kms_instance_id: String,
    #[serde(rename = "kmsInstanceURL")]
    kms_instance_url: String,
    /// The master key's ARN.
    #[serde(rename = "masterKeyID")]
    pub master_key_id: String,
    /// [`WrappedDek::encode`].
    #[serde(rename = "wrappedDEK")]
    pub wrapped_dek: String,
    #[serde(rename = "doubleWrapping")]
    double_wrapping: bool,
}

impl KeyMaterial {
    /// Key material for a footer key wrapped by `master_key_arn`.
    pub fn new(master_key_arn: &str, wrapped: &WrappedDek) -> Self {
        Self {
            key_material_type: "PKMT1".into(),
            internal_storage: true,
            is_footer_key: true,
            kms_instance_id: "DEFAULT".into(),
            kms_instance_url: "DEFAULT".into(),
            master_key_id: master_key_arn.to_owned(),
            wrapped_dek: wrapped.encode(),
            double_wrapping: false,
        }
    }

    /// Parses untrusted footer key metadata; refuses what this reader does not handle.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let material: Self = serde_json::from_slice(bytes)
            .map_err(|e| Error::KeyMetadata(format!("footer key metadata: {e}")))?;
        if material.key_material_type != "PKMT1"
            || !material.is_footer_key
            || material.double_wrapping
        {
            return Err(Error::KeyMetadata(
                "footer key metadata is not single-wrapped PKMT1 footer key material".into(),
            ));
        }
        Ok(material)
    }

    /// The wrapped key inside.
    pub fn wrapped(&self) -> Result<WrappedDek> {
        WrappedDek::decode(&self.wrapped_dek)
    }
}

/// How a lake file's pages are compressed (`[sink] compression`).
///
/// Snappy is the default, as in Kafka Connect's S3 sink, Firehose and pyarrow: the stage is on the
/// hot path, and on the throughput bench's telemetry zstd (level 1) costs about twice Snappy's
/// writing CPU for files about a quarter smaller (BENCHMARKS.md). A lake compacted later, or
/// billed by the byte, may rather have zstd.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// Snappy.
    #[default]
    Snappy,
    /// Zstandard, level 1.
    Zstd,
    /// Uncompressed.
    None,
}

impl Codec {
    fn parquet(self) -> Compression {
        match self {
            Codec::Snappy => Compression::SNAPPY,
            Codec::Zstd => Compression::ZSTD(ZstdLevel::default()),
            Codec::None => Compression::UNCOMPRESSED,
        }
    }
}

/// The layout of every lake file of `schema`, before encryption: `codec`, and one data page per
/// column chunk. DuckDB 2.0 cannot decrypt a column chunk's second and later data pages of files
/// that pyarrow reads (its page-ordinal AAD differs), so every column chunk is at most one
/// dictionary page and one data page. A window is bounded (`max_bytes`) and wholly in memory
/// already, so large pages cost nothing extra. Only text columns get a dictionary: device ids,
/// types and versions repeat, while readings and times rarely do; hashing each of those into a
/// dictionary showed in the stage's profile (about 3 % of samples) and the files of the
/// throughput bench are about 7 % smaller without. Public so that benchmarks compare against
/// the same layout unencrypted.
pub fn layout(
    schema: &arrow_schema::Schema,
    codec: Codec,
) -> parquet::file::properties::WriterPropertiesBuilder {
    let builder = WriterProperties::builder()
        .set_compression(codec.parquet())
        .set_data_page_row_count_limit(usize::MAX)
        .set_data_page_size_limit(usize::MAX)
        .set_dictionary_page_size_limit(usize::MAX)
        .set_dictionary_enabled(false);
    schema
        .fields()
        .iter()
        .filter(|f| f.data_type() == &arrow_schema::DataType::Utf8)
        .fold(builder, |b, f| {
            b.set_column_dictionary_enabled(ColumnPath::from(f.name().as_str()), true)
        })
}

/// Writes `batches` as one Parquet file encrypted under `key`, compressed with `codec`, with an
/// encrypted footer whose key metadata names `master_key_arn` and carries `wrapped`.
pub fn write(
    batches: &[RecordBatch],
    schema: arrow_schema::SchemaRef,
    codec: Codec,
    key: &DataKey,
    master_key_arn: &str,
    wrapped: &WrappedDek,
) -> Result<Vec<u8>> {
    let metadata = serde_json::to_vec(&KeyMaterial::new(master_key_arn, wrapped))
        .map_err(|e| Error::KeyMetadata(e.to_string()))?;
    // Built here and dropped at the end of this function: it derives Debug over its keys.
    let encryption = FileEncryptionProperties::builder(key.expose_secret().to_vec())
        .with_footer_key_metadata(metadata)
        .build()?;
    let properties = layout(&schema, codec)
        .with_file_encryption_properties(encryption)
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema, Some(properties))?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.close()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use bytes::Bytes;
    use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
    use parquet::encryption::decrypt::{FileDecryptionProperties, KeyRetriever};

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("device_id", DataType::Utf8, false),
            Field::new("reading", DataType::Int64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["dev-1", "dev-2", "dev-3"])),
                Arc::new(Int64Array::from(vec![Some(21), None, Some(23)])),
            ],
        )
        .unwrap()
    }

    fn context() -> EncryptionContext {
        EncryptionContext::from_iter([("table", "telemetry")])
    }

    /// Hands out the key and remembers the metadata it was asked about.
    struct Retriever {
        key: Vec<u8>,
        seen: std::sync::Mutex<Option<Vec<u8>>>,
    }

    impl KeyRetriever for Retriever {
        fn retrieve_key(&self, key_metadata: &[u8]) -> parquet::errors::Result<Vec<u8>> {
            *self.seen.lock().unwrap() = Some(key_metadata.to_vec());
            Ok(self.key.clone())
        }
    }

    fn read(file: Vec<u8>, retriever: Arc<Retriever>) -> parquet::errors::Result<Vec<RecordBatch>> {
        let decryption = FileDecryptionProperties::with_key_retriever(retriever).build()?;
        let options = ArrowReaderOptions::new().with_file_decryption_properties(decryption);
        ParquetRecordBatchReaderBuilder::try_new_with_options(Bytes::from(file), options)?
            .build()?
            .collect::<Result<Vec<_>, _>>()
            .map_err(Into::into)
    }

    #[test]
    fn every_codec_round_trips() {
        let key = DataKey::from_bytes([7; 32]);
        let wrapped = WrappedDek::new(b"blob", &context());
        for codec in [Codec::Snappy, Codec::Zstd, Codec::None] {
            let file = write(&[batch()], batch().schema(), codec, &key, "arn", &wrapped).unwrap();
            let retriever = Arc::new(Retriever {
                key: key.expose_secret().to_vec(),
                seen: Default::default(),
            });
            assert_eq!(read(file, retriever).unwrap(), vec![batch()], "{codec:?}");
        }
    }

    #[test]
    fn round_trip_with_pkmt1_footer_metadata() {
        let key = DataKey::from_bytes([7; 32]);
        let wrapped = WrappedDek::new(b"blob-from-the-key-core", &context());
        let arn = "arn:aws:kms:eu-west-1:111122223333:key/k";
        let file = write(
            &[batch()],
            batch().schema(),
            Codec::default(),
            &key,
            arn,
            &wrapped,
        )
        .unwrap();
        assert!(
            !file.windows(5).any(|w| w == b"dev-1"),
            "plaintext in the file"
        );

        let retriever = Arc::new(Retriever {
            key: key.expose_secret().to_vec(),
            seen: Default::default(),
        });
        let back = read(file, retriever.clone()).unwrap();
        assert_eq!(back, vec![batch()]);

        let seen = retriever.seen.lock().unwrap().clone().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&seen).unwrap();
        assert_eq!(json["keyMaterialType"], "PKMT1");
        assert_eq!(json["internalStorage"], true);
        assert_eq!(json["isFooterKey"], true);
        assert_eq!(json["kmsInstanceID"], "DEFAULT");
        assert_eq!(json["kmsInstanceURL"], "DEFAULT");
        assert_eq!(json["masterKeyID"], arn);
        assert_eq!(json["doubleWrapping"], false);
        let material = KeyMaterial::parse(&seen).unwrap();
        let inner = material.wrapped().unwrap();
        assert_eq!(inner.blob().unwrap(), b"blob-from-the-key-core");
        assert_eq!(inner.context, context());
    }

    #[test]
    fn another_key_cannot_read_it() {
        let key = DataKey::from_bytes([7; 32]);
        let wrapped = WrappedDek::new(b"b", &context());
        let file = write(
            &[batch()],
            batch().schema(),
            Codec::default(),
            &key,
            "arn",
            &wrapped,
        )
        .unwrap();
        let wrong = Arc::new(Retriever {
            key: vec![8; 32],
            seen: Default::default(),
        });
        assert!(read(file, wrong).is_err());
    }

    #[test]
    fn malformed_key_metadata_is_a_typed_error() {
        for bad in [
            &b"not json"[..],
            br#"{"keyMaterialType":"PKMT1","internalStorage":true,"isFooterKey":true,"kmsInstanceID":"DEFAULT","kmsInstanceURL":"DEFAULT","masterKeyID":"k","wrappedDEK":"x","doubleWrapping":true}"#,
            br#"{"keyMaterialType":"OTHER","internalStorage":true,"isFooterKey":true,"kmsInstanceID":"DEFAULT","kmsInstanceURL":"DEFAULT","masterKeyID":"k","wrappedDEK":"x","doubleWrapping":false}"#,
        ] {
            assert!(matches!(KeyMaterial::parse(bad), Err(Error::KeyMetadata(_))));
        }
        for bad in [
            "***",
            "e30=",
            &STANDARD.encode(br#"{"v":2,"blob":"","context":{}}"#),
        ] {
            assert!(
                matches!(WrappedDek::decode(bad), Err(Error::KeyMetadata(_))),
                "{bad}"
            );
        }
    }
}
