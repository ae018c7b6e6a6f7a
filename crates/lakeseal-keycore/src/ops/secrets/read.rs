//! `GetSecretValue` and `BatchGetSecretValue`: the only operations that answer with a value.

use lakeseal_kms_types::secrets::AWSCURRENT;
use lakeseal_kms_types::secrets::describe::ListSecretsRequest;
use lakeseal_kms_types::secrets::read::{
    BatchError, BatchGetSecretValueRequest, BatchGetSecretValueResponse, GetSecretValueRequest,
    GetSecretValueResponse,
};

use super::write::refuse_if_deleted;
use crate::core::Call;
use crate::secrets::names;
use crate::{Error, KeyCore, Principal, RequestContext, Result};

/// The most secrets one `BatchGetSecretValue` reads.
const MAX_BATCH: usize = 20;

impl KeyCore {
    /// Reads a version's value: by id, by label, or `AWSCURRENT`.
    pub async fn get_secret_value(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: GetSecretValueRequest,
    ) -> Result<GetSecretValueResponse> {
        let mut call = self.secrets_call("GetSecretValue", who, ctx);
        let result = match self.admit(who, ctx).await {
            Ok(()) => self.get_secret_value_apply(&req, &mut call),
            Err(e) => Err(e),
        };
        self.finish(call, result).await
    }

    fn get_secret_value_apply(
        &self,
        req: &GetSecretValueRequest,
        call: &mut Call<'_>,
    ) -> Result<GetSecretValueResponse> {
        for id in req.version_id.iter() {
            names::check_token(id)?;
        }
        let stage = match (&req.version_id, &req.version_stage) {
            (None, None) => Some(AWSCURRENT),
            (_, stage) => stage.as_deref(),
        };
        call.event.version_stage = stage.map(str::to_owned);
        let response = {
            let state = self.read();
            let entry = self.authorized_secret(
                &state,
                &req.secret_id,
                "secretsmanager:GetSecretValue",
                stage,
                call,
            )?;
            refuse_if_deleted(&entry.record)?;
            let (version_id, version) = entry
                .record
                .find_version(req.version_id.as_deref(), stage)
                .ok_or_else(|| {
                    Error::NotFound(format!(
                        "Secrets Manager can't find the specified secret value for {}",
                        match (&req.version_id, stage) {
                            (Some(id), _) => format!("VersionId: {}", names::shown(id)),
                            (None, stage) => format!(
                                "staging label: {}",
                                names::shown(stage.unwrap_or(AWSCURRENT))
                            ),
                        }
                    ))
                })?;
            call.event.version_id = Some(version_id.to_owned());
            let value = self.open_secret_value(&state, entry, version_id, call)?;
            let (secret_string, secret_binary) = if version.binary {
                (None, Some(value))
            } else {
                (Some(value), None)
            };
            GetSecretValueResponse {
                arn: entry.record.arn.clone(),
                name: entry.record.name.clone(),
                version_id: version_id.to_owned(),
                secret_string,
                secret_binary,
                version_stages: version.stages.clone(),
                created_date: version.created,
            }
        };
        self.note_secret_read(&response.arn, &response.version_id)?;
        Ok(response)
    }

    /// Reads the current values of up to 20 secrets, named or found by filters; each read is
    /// authorised and audited as a `GetSecretValue` of its own, and a refused one is reported
    /// in `Errors` rather than failing the batch.
    pub async fn batch_get_secret_value(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: BatchGetSecretValueRequest,
    ) -> Result<BatchGetSecretValueResponse> {
        let mut call = self.secrets_call("BatchGetSecretValue", who, ctx);
        let ids = match self.admit(who, ctx).await {
            Ok(()) => self.batch_ids(req, &mut call),
            Err(e) => Err(e),
        };
        let (ids, next_token) = match ids {
            Ok(found) => found,
            Err(e) => return self.finish(call, Err(e)).await,
        };
        let mut response = BatchGetSecretValueResponse {
            next_token,
            ..Default::default()
        };
        for id in ids {
            let one = GetSecretValueRequest {
                secret_id: id.clone(),
                version_id: None,
                version_stage: None,
            };
            match self.get_secret_value(who, ctx, one).await {
                Ok(value) => response.secret_values.push(value),
                Err(e) if e.code().is_server_fault() => {
                    return self.finish(call, Err(e)).await;
                }
                Err(e) => response.errors.push(BatchError {
                    secret_id: id,
                    error_code: e.code_in(crate::Service::SecretsManager).to_string(),
                    message: e.to_string(),
                }),
            }
        }
        self.finish(call, Ok(response)).await
    }

    /// The secrets a batch names: its list, or a page of what its filters match.
    fn batch_ids(
        &self,
        req: BatchGetSecretValueRequest,
        call: &mut Call<'_>,
    ) -> Result<(Vec<String>, Option<String>)> {
        match (req.secret_id_list, req.filters) {
            (Some(ids), None) => {
                if ids.is_empty() || ids.len() > MAX_BATCH {
                    return Err(Error::InvalidParameter(format!(
                        "SecretIdList must name 1-{MAX_BATCH} secrets"
                    )));
                }
                if req.next_token.is_some() || req.max_results.is_some() {
                    return Err(Error::InvalidParameter(
                        "MaxResults and NextToken go with Filters, not SecretIdList".into(),
                    ));
                }
                Ok((ids, None))
            }
            (None, Some(filters)) => {
                if req.max_results.is_some_and(|n| n as usize > MAX_BATCH) {
                    return Err(Error::InvalidParameter(format!(
                        "MaxResults is at most {MAX_BATCH} with Filters"
                    )));
                }
                let list = ListSecretsRequest {
                    filters,
                    max_results: Some(req.max_results.unwrap_or(MAX_BATCH as u32)),
                    next_token: req.next_token,
                    ..Default::default()
                };
                let page = self.list_secrets_page(&list, call)?;
                Ok((
                    page.secret_list.into_iter().map(|s| s.arn).collect(),
                    page.next_token,
                ))
            }
            _ => Err(Error::InvalidParameter(
                "give either SecretIdList or Filters".into(),
            )),
        }
    }
}
