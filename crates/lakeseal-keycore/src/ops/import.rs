//! `GetParametersForImport`, `ImportKeyMaterial` and `DeleteImportedKeyMaterial`: bring your
//! own key material into a key of origin `EXTERNAL`, and take it away again.

use super::{Empty, KeyIdRequest};
use crate::import::{self, WrappingAlgorithm};
use crate::state::KeyOperation;
use crate::{Error, KeyCore, Principal, RequestContext, Result};

pub use lakeseal_kms_types::import::{
    GetParametersForImportRequest, GetParametersForImportResponse, ImportKeyMaterialRequest,
};

impl KeyCore {
    /// A fresh RSA wrapping key and an import token for it, valid 24 hours.
    pub async fn get_parameters_for_import(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: GetParametersForImportRequest,
    ) -> Result<GetParametersForImportResponse> {
        let mut call = self.call("GetParametersForImport", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let algorithm = WrappingAlgorithm::parse(&req.wrapping_algorithm)?;
            let key_id = {
                let state = self.read();
                let op = KeyOperation::GetParametersForImport;
                let entry = self.resolve_for(&state, &req.key_id, op, &mut call)?;
                entry.record.key_id.clone()
            };
            // RSA key generation takes a while; no lock is held for it.
            let parameters = import::parameters(
                self.root(),
                &key_id,
                algorithm,
                &req.wrapping_key_spec,
                self.now_ms(),
            )?;
            Ok(GetParametersForImportResponse {
                key_id: self.arn(&key_id),
                import_token: parameters.import_token,
                public_key: parameters.public_key,
                parameters_valid_to: parameters.valid_to,
            })
        });
        self.finish(call, result).await
    }

    /// Unwraps key material with the token's wrapping key and makes it the key's material.
    pub async fn import_key_material(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: ImportKeyMaterialRequest,
    ) -> Result<Empty> {
        let mut call = self.call("ImportKeyMaterial", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let now = self.now_ms();
            let valid_to = match (req.expiration_model.as_deref(), req.valid_to) {
                (Some("KEY_MATERIAL_DOES_NOT_EXPIRE"), None) => None,
                (Some("KEY_MATERIAL_DOES_NOT_EXPIRE"), Some(_)) => {
                    return Err(Error::Validation(
                        "ValidTo is only for ExpirationModel KEY_MATERIAL_EXPIRES".into(),
                    ));
                }
                (None | Some("KEY_MATERIAL_EXPIRES"), Some(t)) if t > now => Some(t),
                (None | Some("KEY_MATERIAL_EXPIRES"), Some(_)) => {
                    return Err(Error::Validation("ValidTo is in the past".into()));
                }
                (None | Some("KEY_MATERIAL_EXPIRES"), None) => {
                    return Err(Error::Validation(
                        "KEY_MATERIAL_EXPIRES (the default ExpirationModel) needs ValidTo".into(),
                    ));
                }
                (Some(other), _) => {
                    return Err(Error::Validation(format!(
                        "ExpirationModel {other} is not known; use KEY_MATERIAL_EXPIRES or \
                         KEY_MATERIAL_DOES_NOT_EXPIRE"
                    )));
                }
            };
            // Unwrap first, without the write lock (an RSA private-key operation).
            let key_id = {
                let state = self.read();
                let op = KeyOperation::ImportKeyMaterial;
                let entry = self.resolve_for(&state, &req.key_id, op, &mut call)?;
                entry.record.key_id.clone()
            };
            let token = import::open_token(self.root(), &key_id, &req.import_token, now)?;
            let material = token.unwrap(&req.encrypted_key_material)?;
            self.install_imported(&key_id, &material, valid_to, &mut call)?;
            Ok(Empty {})
        });
        self.finish(call, result).await
    }

    /// Deletes a key's imported material: the key is `PendingImport` until the same material is
    /// imported again.
    pub async fn delete_imported_key_material(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: KeyIdRequest,
    ) -> Result<Empty> {
        let mut call = self.call("DeleteImportedKeyMaterial", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            self.remove_imported(&req.key_id, &mut call)?;
            Ok(Empty {})
        });
        self.finish(call, result).await
    }
}
