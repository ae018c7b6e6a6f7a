//! `lakeseal key …` and `lakeseal alias …` against a data directory: each command builds the
//! KMS request from the `aws kms`-style flags, calls the opened key core as the local operator,
//! and prints the response.

use anyhow::bail;
use lakeseal_keycore::ops::KeyIdRequest;
use lakeseal_keycore::ops::aliases::{AliasRequest, DeleteAliasRequest, ListAliasesRequest};
use lakeseal_keycore::ops::create_key::CreateKeyRequest;
use lakeseal_keycore::ops::custom_key_stores::DescribeCustomKeyStoresRequest;
use lakeseal_keycore::ops::import::{GetParametersForImportRequest, ImportKeyMaterialRequest};
use lakeseal_keycore::ops::key_deletion::ScheduleKeyDeletionRequest;
use lakeseal_keycore::ops::key_policy::{GetKeyPolicyRequest, PutKeyPolicyRequest};
use lakeseal_keycore::ops::list_keys::ListKeysRequest;
use lakeseal_keycore::ops::rotation::{EnableKeyRotationRequest, ListKeyRotationsRequest};
use lakeseal_keycore::ops::tags::{TagResourceRequest, UntagResourceRequest};

use crate::args::{self, AliasCmd, KeyCmd};
use crate::output::Output;
use crate::{Session, emit};

pub(crate) async fn key(s: &Session, cmd: KeyCmd, out: Output) -> anyhow::Result<()> {
    let (c, w, x) = (&s.core, &s.who, &s.ctx);
    match cmd {
        KeyCmd::Create(a) => {
            let policy = a.policy.map(|p| p.text("--policy")).transpose()?;
            let req = CreateKeyRequest {
                description: a.description,
                key_spec: a.key_spec,
                key_usage: a.key_usage,
                origin: match a.protection_level.as_deref() {
                    None | Some("SOFTWARE") => a.origin,
                    Some("HSM") if a.origin.as_deref().is_none_or(|o| o == "AWS_CLOUDHSM") => {
                        Some("AWS_CLOUDHSM".into())
                    }
                    Some("HSM") => bail!("--protection-level HSM goes with --origin AWS_CLOUDHSM"),
                    Some(other) => bail!("--protection-level is SOFTWARE or HSM, not {other}"),
                },
                custom_key_store_id: a.custom_key_store_id,
                policy,
                tags: a.tags,
                bypass_policy_lockout_safety_check: a.bypass_policy_lockout_safety_check,
                ..Default::default()
            };
            emit(out, c.create_key(w, x, req).await)
        }
        KeyCmd::GetParametersForImport(a) => {
            let req = GetParametersForImportRequest {
                key_id: a.key_id,
                wrapping_algorithm: a.wrapping_algorithm,
                wrapping_key_spec: a.wrapping_key_spec,
            };
            emit(out, c.get_parameters_for_import(w, x, req).await)
        }
        KeyCmd::ImportKeyMaterial(a) => {
            let valid_to = a
                .valid_to
                .map(|t| {
                    time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339)
                        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                        .map_err(|e| anyhow::anyhow!("--valid-to is not an RFC 3339 time: {e}"))
                })
                .transpose()?;
            let req = ImportKeyMaterialRequest {
                key_id: a.key_id,
                import_token: a
                    .import_token
                    .bytes("--import-token")?
                    .expose_secret()
                    .to_vec(),
                encrypted_key_material: a
                    .encrypted_key_material
                    .secret("--encrypted-key-material")?
                    .expose_secret()
                    .to_vec(),
                expiration_model: a.expiration_model,
                valid_to,
            };
            emit(out, c.import_key_material(w, x, req).await)
        }
        KeyCmd::DeleteImportedKeyMaterial(k) => {
            let req = KeyIdRequest::new(k.key_id);
            emit(out, c.delete_imported_key_material(w, x, req).await)
        }
        KeyCmd::GetPolicy(k) => {
            let req = GetKeyPolicyRequest {
                key_id: k.key_id,
                policy_name: None,
            };
            emit(out, c.get_key_policy(w, x, req).await)
        }
        KeyCmd::PutPolicy(a) => {
            let req = PutKeyPolicyRequest {
                key_id: a.key_id,
                policy_name: None,
                policy: a.policy.text("--policy")?,
                bypass_policy_lockout_safety_check: a.bypass_policy_lockout_safety_check,
            };
            emit(out, c.put_key_policy(w, x, req).await)
        }
        KeyCmd::Describe(k) => emit(out, c.describe_key(w, x, k.into()).await),
        KeyCmd::List(p) => {
            let req = ListKeysRequest {
                limit: p.limit,
                marker: p.marker,
            };
            emit(out, c.list_keys(w, x, req).await)
        }
        KeyCmd::DescribeKeyStores(p) => {
            let req = DescribeCustomKeyStoresRequest {
                limit: p.limit,
                marker: p.marker,
                ..Default::default()
            };
            emit(out, c.describe_custom_key_stores(w, x, req).await)
        }
        KeyCmd::Enable(k) => emit(out, c.enable_key(w, x, k.into()).await),
        KeyCmd::Disable(k) => emit(out, c.disable_key(w, x, k.into()).await),
        KeyCmd::Rotate(k) => emit(out, c.rotate_key_on_demand(w, x, k.into()).await),
        KeyCmd::EnableRotation(a) => {
            let req = EnableKeyRotationRequest {
                key_id: a.key_id,
                rotation_period_in_days: a.rotation_period_in_days,
            };
            emit(out, c.enable_key_rotation(w, x, req).await)
        }
        KeyCmd::DisableRotation(k) => emit(out, c.disable_key_rotation(w, x, k.into()).await),
        KeyCmd::RotationStatus(k) => emit(out, c.get_key_rotation_status(w, x, k.into()).await),
        KeyCmd::ListRotations(a) => {
            let req = ListKeyRotationsRequest {
                key_id: a.key_id,
                limit: a.limit,
                marker: a.marker,
            };
            emit(out, c.list_key_rotations(w, x, req).await)
        }
        KeyCmd::ScheduleDeletion(a) => {
            let req = ScheduleKeyDeletionRequest {
                key_id: a.key_id,
                pending_window_in_days: a.pending_window_in_days,
            };
            emit(out, c.schedule_key_deletion(w, x, req).await)
        }
        KeyCmd::CancelDeletion(k) => emit(out, c.cancel_key_deletion(w, x, k.into()).await),
        KeyCmd::Tag(a) => {
            let req = TagResourceRequest {
                key_id: a.key_id,
                tags: a.tags,
            };
            emit(out, c.tag_resource(w, x, req).await)
        }
        KeyCmd::Untag(a) => {
            let req = UntagResourceRequest {
                key_id: a.key_id,
                tag_keys: a.tag_keys,
            };
            emit(out, c.untag_resource(w, x, req).await)
        }
        KeyCmd::ListTags(k) => emit(out, c.list_resource_tags(w, x, k.into()).await),
    }
}

pub(crate) async fn alias(s: &Session, cmd: AliasCmd, out: Output) -> anyhow::Result<()> {
    let (c, w, x) = (&s.core, &s.who, &s.ctx);
    match cmd {
        AliasCmd::Create(a) => emit(out, c.create_alias(w, x, a.into()).await),
        AliasCmd::Update(a) => emit(out, c.update_alias(w, x, a.into()).await),
        AliasCmd::Delete(a) => {
            let req = DeleteAliasRequest {
                alias_name: a.alias_name,
            };
            emit(out, c.delete_alias(w, x, req).await)
        }
        AliasCmd::List(a) => {
            let req = ListAliasesRequest {
                key_id: a.key_id,
                limit: a.limit,
                marker: a.marker,
            };
            emit(out, c.list_aliases(w, x, req).await)
        }
    }
}

impl From<args::KeyIdArg> for KeyIdRequest {
    fn from(a: args::KeyIdArg) -> Self {
        KeyIdRequest::new(a.key_id)
    }
}

impl From<args::AliasArgs> for AliasRequest {
    fn from(a: args::AliasArgs) -> Self {
        AliasRequest {
            alias_name: a.alias_name,
            target_key_id: a.target_key_id,
        }
    }
}
