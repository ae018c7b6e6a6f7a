//! Reading the lake back: a file's key material, its data key through the key core, its rows.

use std::sync::{Arc, Mutex, PoisonError};

use arrow_array::RecordBatch;
use bytes::Bytes;
use lakeseal_envelope::DataKey;
use lakeseal_keyclient::{DekCache, KeyService};
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::encryption::decrypt::{FileDecryptionProperties, KeyRetriever};

use crate::encrypted_parquet::KeyMaterial;
use crate::lake::{Lake, LakeFile};
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

/// A lake file's rows: its key material, its data key through the key core, its decryption.
pub async fn read_file<K: KeyService>(
    keys: &DekCache<K>,
    lake: &Lake,
    file: &LakeFile,
) -> Result<Vec<RecordBatch>> {
    let bytes = lake
        .get(file)
        .await
        .map_err(|e| Error::Lake(format!("reading {}: {e}", file.path.display())))?;
    let key = unwrap_key(keys, &key_material(&bytes)?).await?;
    decrypt(bytes, &key)
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

#[cfg(test)]
mod tests {
    use super::*;

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
