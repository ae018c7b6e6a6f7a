//! [`InProcess`]: the embedded key core as a [`KeyService`].

use lakeseal_envelope::{DataKey, EncryptionContext};
use lakeseal_keycore::ops::decrypt::DecryptRequest;
use lakeseal_keycore::ops::generate_data_key::GenerateDataKeyRequest;
use lakeseal_keycore::{KeyCore, Principal, RequestContext};

use crate::{Error, KeyService, NewDataKey, Result, data_key};

/// The key core in this process, called as `who`. Every call is authorised and audited by the
/// engine exactly as over the network.
#[derive(Debug, Clone)]
pub struct InProcess {
    core: KeyCore,
    who: Principal,
}

impl InProcess {
    /// Calls `core` as `who`.
    pub fn new(core: KeyCore, who: Principal) -> Self {
        Self { core, who }
    }
}

fn from_core(e: lakeseal_keycore::Error) -> Error {
    match e.code() {
        code if code.is_server_fault() => Error::Unavailable(e.to_string()),
        code => Error::Refused {
            code: code.to_string(),
            message: e.to_string(),
        },
    }
}

impl KeyService for InProcess {
    async fn generate_data_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> Result<NewDataKey> {
        let ctx = RequestContext::local("lakeseal-keyclient");
        let req = GenerateDataKeyRequest::aes_256(key_id, context.clone());
        self.core
            .generate_data_key(&self.who, &ctx, req)
            .await
            .map_err(from_core)?
            .try_into()
    }

    async fn decrypt(&self, wrapped: &[u8], context: &EncryptionContext) -> Result<DataKey> {
        let ctx = RequestContext::local("lakeseal-keyclient");
        let req = DecryptRequest {
            encryption_algorithm: None,
            ciphertext_blob: wrapped.to_vec(),
            encryption_context: context.clone(),
            key_id: None,
        };
        let answer = self
            .core
            .decrypt(&self.who, &ctx, req)
            .await
            .map_err(from_core)?;
        data_key(&answer.plaintext)
    }

    async fn check_key(&self, key_id: &str, context: &EncryptionContext) -> Result<()> {
        let ctx = RequestContext::local("lakeseal-keyclient");
        let req = GenerateDataKeyRequest::aes_256(key_id, context.clone());
        self.core
            .generate_data_key_without_plaintext(&self.who, &ctx, req)
            .await
            .map(drop)
            .map_err(from_core)
    }
}

impl crate::SecretReader for InProcess {
    async fn current_version(&self, secret_id: &str) -> Result<String> {
        let ctx = RequestContext::local("lakeseal-keyclient");
        let answer = self
            .core
            .describe_secret(
                &self.who,
                &ctx,
                lakeseal_kms_types::secrets::SecretIdRequest::new(secret_id),
            )
            .await
            .map_err(from_core)?;
        crate::secrets::current_of(secret_id, answer)
    }

    async fn current_value(&self, secret_id: &str) -> Result<crate::CurrentSecret> {
        let ctx = RequestContext::local("lakeseal-keyclient");
        let answer = self
            .core
            .get_secret_value(&self.who, &ctx, crate::secrets::value_request(secret_id))
            .await
            .map_err(from_core)?;
        crate::secrets::value_of(secret_id, answer)
    }
}
