//! `DescribeSecret`, `ListSecrets`, `ListSecretVersionIds`: metadata, never values.

use lakeseal_kms_types::secrets::SecretIdRequest;
use lakeseal_kms_types::secrets::describe::{
    Filter, ListSecretVersionIdsRequest, ListSecretVersionIdsResponse, ListSecretsRequest,
    ListSecretsResponse, SecretMetadata, VersionListEntry,
};

use super::max_results;
use crate::core::{Call, SecretTarget};
use crate::ops::page;
use crate::secrets::SecretRecord;
use crate::{Error, KeyCore, Principal, RequestContext, Result};

impl KeyCore {
    /// A secret's metadata and every labelled version.
    pub async fn describe_secret(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: SecretIdRequest,
    ) -> Result<SecretMetadata> {
        let mut call = self.secrets_call("DescribeSecret", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let state = self.read();
            let entry = self.authorized_secret(
                &state,
                &req.secret_id,
                "secretsmanager:DescribeSecret",
                None,
                &mut call,
            )?;
            let mut metadata = metadata(&entry.record);
            metadata.version_ids_to_stages = Some(entry.record.version_stages());
            Ok(metadata)
        });
        self.finish(call, result).await
    }

    /// The account's secrets, oldest first (or newest, `SortOrder: desc`), filtered.
    pub async fn list_secrets(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: ListSecretsRequest,
    ) -> Result<ListSecretsResponse> {
        let mut call = self.secrets_call("ListSecrets", who, ctx);
        let result = match self.admit(who, ctx).await {
            Ok(()) => self.list_secrets_page(&req, &mut call),
            Err(e) => Err(e),
        };
        self.finish(call, result).await
    }

    pub(crate) fn list_secrets_page(
        &self,
        req: &ListSecretsRequest,
        call: &mut Call<'_>,
    ) -> Result<ListSecretsResponse> {
        let limit = max_results(req.max_results)?;
        let descending = match req.sort_order.as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(Error::InvalidParameter(format!(
                    "SortOrder {other:?} is not asc or desc"
                )));
            }
        };
        for filter in &req.filters {
            check_filter(filter)?;
        }
        let state = self.read();
        self.authorize_secret(
            &state,
            call,
            "secretsmanager:ListSecrets",
            SecretTarget::account(),
            None,
        )?;
        let now = self.now_ms();
        let mut found: Vec<(String, &SecretRecord)> = state
            .secrets
            .values()
            .map(|e| &e.record)
            .filter(|r| match r.deletion_date {
                Some(due) => req.include_planned_deletion && due > now,
                None => true,
            })
            .filter(|r| req.filters.iter().all(|f| matches(f, r)))
            .map(|r| {
                let created = if descending {
                    i64::MAX - r.created
                } else {
                    r.created
                };
                (format!("{created:020}/{}", r.arn), r)
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        let (secrets, next) = page(
            found.iter().map(|(k, r)| (k, *r)),
            req.next_token.as_deref(),
            Some(limit.unwrap_or(100)),
        )
        .map_err(|_| Error::InvalidNextToken)?;
        Ok(ListSecretsResponse {
            secret_list: secrets
                .into_iter()
                .map(|r| {
                    let mut m = metadata(r);
                    m.secret_versions_to_stages = Some(r.version_stages());
                    m
                })
                .collect(),
            next_token: next,
        })
    }

    /// A secret's versions, labelled ones only unless `IncludeDeprecated`.
    pub async fn list_secret_version_ids(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: ListSecretVersionIdsRequest,
    ) -> Result<ListSecretVersionIdsResponse> {
        let mut call = self.secrets_call("ListSecretVersionIds", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let limit = max_results(req.max_results)?;
            let state = self.read();
            let entry = self.authorized_secret(
                &state,
                &req.secret_id,
                "secretsmanager:ListSecretVersionIds",
                None,
                &mut call,
            )?;
            let record = &entry.record;
            let (versions, next_token) = page(
                record
                    .versions
                    .iter()
                    .filter(|(_, v)| req.include_deprecated || !v.stages.is_empty())
                    .map(|(id, v)| (id, (id, v))),
                req.next_token.as_deref(),
                Some(limit.unwrap_or(100)),
            )
            .map_err(|_| Error::InvalidNextToken)?;
            let versions = versions
                .into_iter()
                .map(|(id, v)| VersionListEntry {
                    version_id: id.clone(),
                    version_stages: v.stages.clone(),
                    last_accessed_date: v.last_accessed,
                    created_date: v.created,
                    kms_key_ids: vec![v.key_arn.clone()],
                })
                .collect();
            Ok(ListSecretVersionIdsResponse {
                versions,
                next_token,
                arn: record.arn.clone(),
                name: record.name.clone(),
            })
        });
        self.finish(call, result).await
    }
}

/// A secret's metadata as `DescribeSecret` and `ListSecrets` show it (without versions).
pub(crate) fn metadata(record: &SecretRecord) -> SecretMetadata {
    let rotation = record.rotation.as_ref();
    SecretMetadata {
        arn: record.arn.clone(),
        name: record.name.clone(),
        description: record.description.clone(),
        kms_key_id: record.kms_key_id.clone(),
        rotation_enabled: rotation.is_some_and(|r| r.enabled),
        rotation_lambda_arn: rotation.map(|r| r.rotator_arn.clone()),
        rotation_rules: rotation.map(|r| r.rules.clone()),
        last_rotated_date: record.last_rotated,
        last_changed_date: Some(record.last_changed),
        last_accessed_date: record.last_accessed,
        deleted_date: record.deletion_date,
        next_rotation_date: rotation.filter(|r| r.enabled).and_then(|r| r.next_rotation),
        tags: record.tags.clone(),
        version_ids_to_stages: None,
        secret_versions_to_stages: None,
        created_date: Some(record.created),
    }
}

const FILTER_KEYS: &[&str] = &["name", "description", "tag-key", "tag-value", "all"];

fn check_filter(filter: &Filter) -> Result<()> {
    if !FILTER_KEYS.contains(&filter.key.as_str()) {
        return Err(Error::InvalidParameter(format!(
            "filter key {:?} is not one of {}",
            crate::secrets::names::shown(&filter.key),
            FILTER_KEYS.join(", ")
        )));
    }
    if filter.values.is_empty() || filter.values.len() > 10 {
        return Err(Error::InvalidParameter("a filter takes 1-10 values".into()));
    }
    Ok(())
}

/// Whether a secret passes a filter: any of its values is a prefix of the field (a value
/// starting with `!` passes when none of the field's texts starts with the rest).
fn matches(filter: &Filter, record: &SecretRecord) -> bool {
    let texts: Vec<&str> = match filter.key.as_str() {
        "name" => vec![record.name.as_str()],
        "description" => record.description.as_deref().into_iter().collect(),
        "tag-key" => record.tags.iter().map(|t| t.key.as_str()).collect(),
        "tag-value" => record.tags.iter().map(|t| t.value.as_str()).collect(),
        _ => std::iter::once(record.name.as_str())
            .chain(record.description.as_deref())
            .chain(
                record
                    .tags
                    .iter()
                    .flat_map(|t| [t.key.as_str(), t.value.as_str()]),
            )
            .collect(),
    };
    filter
        .values
        .iter()
        .any(|value| match value.strip_prefix('!') {
            Some(negated) => !texts.iter().any(|t| t.starts_with(negated)),
            None => texts.iter().any(|t| t.starts_with(value.as_str())),
        })
}
