//! `CreateAlias`, `UpdateAlias`, `DeleteAlias`, `ListAliases`.
//!
//! An alias is `alias/` followed by 1 to 250 of `a-zA-Z0-9/_-`; `alias/aws/` is reserved, as in
//! AWS KMS. It points at a key id; operations that take a key accept it in its place.

use super::{Empty, page};
use crate::model::{AliasRecord, KeyName};
use crate::state::KeyOperation;
use crate::{Error, KeyCore, Principal, RequestContext, Result};

pub use lakeseal_kms_types::aliases::{
    AliasListEntry, AliasRequest, DeleteAliasRequest, ListAliasesRequest, ListAliasesResponse,
};

fn check_alias_name(name: &str) -> Result<()> {
    let rest = name.strip_prefix("alias/").ok_or_else(|| {
        Error::InvalidAliasName(format!("alias name {name:?} must begin with alias/"))
    })?;
    if name.starts_with("alias/aws/") {
        return Err(Error::InvalidAliasName(format!(
            "alias name {name:?} is reserved for AWS managed keys"
        )));
    }
    if rest.is_empty()
        || rest.len() > 250
        || !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
    {
        return Err(Error::InvalidAliasName(format!(
            "alias name {name:?} must be alias/ and 1-250 of a-z A-Z 0-9 / _ -"
        )));
    }
    Ok(())
}

impl KeyCore {
    /// Creates an alias for a key.
    pub async fn create_alias(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: AliasRequest,
    ) -> Result<Empty> {
        self.point_alias(who, ctx, req, true).await
    }

    /// Points an existing alias at another key.
    pub async fn update_alias(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: AliasRequest,
    ) -> Result<Empty> {
        self.point_alias(who, ctx, req, false).await
    }

    async fn point_alias(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: AliasRequest,
        create: bool,
    ) -> Result<Empty> {
        let (name, op) = if create {
            ("CreateAlias", KeyOperation::CreateAlias)
        } else {
            ("UpdateAlias", KeyOperation::UpdateAlias)
        };
        let mut call = self.call(name, who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            check_alias_name(&req.alias_name)?;
            if !matches!(
                self.location().parse(&req.target_key_id),
                Some(KeyName::Key(_))
            ) {
                return Err(Error::Validation(format!(
                    "TargetKeyId {:?} must be a key id or key ARN, not an alias",
                    req.target_key_id
                )));
            }
            let mut state = self.write();
            let target = self.resolve_for(&state, &req.target_key_id, op, &mut call)?;
            let target_key_id = target.record.key_id.clone();
            let now = self.now_ms();
            let alias = match (state.aliases.get(&req.alias_name), create) {
                (Some(_), true) => {
                    return Err(Error::AlreadyExists(format!(
                        "alias {} already exists",
                        req.alias_name
                    )));
                }
                (None, false) => {
                    return Err(Error::NotFound(format!(
                        "alias {} does not exist",
                        req.alias_name
                    )));
                }
                (None, true) => AliasRecord {
                    name: req.alias_name.clone(),
                    target_key_id,
                    creation_date: now,
                    last_updated_date: now,
                },
                (Some(old), false) => AliasRecord {
                    target_key_id,
                    last_updated_date: now,
                    ..old.clone()
                },
            };
            self.store().put_alias(&alias)?;
            state.aliases.insert(alias.name.clone(), alias);
            Ok(Empty {})
        });
        self.finish(call, result).await
    }

    /// Deletes an alias; the key is untouched.
    pub async fn delete_alias(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: DeleteAliasRequest,
    ) -> Result<Empty> {
        let mut call = self.call("DeleteAlias", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let mut state = self.write();
            self.authorize_account(&state, &call, "kms:DeleteAlias")?;
            let alias = state.aliases.get(&req.alias_name).ok_or_else(|| {
                Error::NotFound(format!("alias {} does not exist", req.alias_name))
            })?;
            call.event.key_arn = Some(self.arn(&alias.target_key_id));
            self.store().delete_alias(&req.alias_name)?;
            state.aliases.remove(&req.alias_name);
            Ok(Empty {})
        });
        self.finish(call, result).await
    }

    /// Lists aliases in name order, optionally only those of one key.
    pub async fn list_aliases(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: ListAliasesRequest,
    ) -> Result<ListAliasesResponse> {
        let mut call = self.call("ListAliases", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let state = self.read();
            self.authorize_account(&state, &call, "kms:ListAliases")?;
            let only = match &req.key_id {
                Some(id) => {
                    let entry = self.resolve(&state, id)?;
                    call.event.key_arn = Some(self.arn(&entry.record.key_id));
                    Some(entry.record.key_id.clone())
                }
                None => None,
            };
            let entries = state
                .aliases
                .iter()
                .filter(|(_, a)| only.as_ref().is_none_or(|id| a.target_key_id == *id))
                .map(|(name, a)| {
                    (
                        name,
                        AliasListEntry {
                            alias_name: a.name.clone(),
                            alias_arn: self.location().alias_arn(&a.name),
                            target_key_id: a.target_key_id.clone(),
                            creation_date: a.creation_date,
                            last_updated_date: a.last_updated_date,
                        },
                    )
                });
            let (aliases, next_marker) = page(entries, req.marker.as_deref(), req.limit)?;
            Ok(ListAliasesResponse {
                aliases,
                truncated: next_marker.is_some(),
                next_marker,
            })
        });
        self.finish(call, result).await
    }
}

#[cfg(test)]
mod tests {
    use super::check_alias_name;

    #[test]
    fn alias_names() {
        assert!(check_alias_name("alias/telemetry-key_1/eu").is_ok());
        for bad in [
            "telemetry",
            "alias/",
            "alias/aws/s3",
            "alias/sp ace",
            "alias/ü",
        ] {
            assert!(check_alias_name(bad).is_err(), "{bad}");
        }
        assert!(check_alias_name(&format!("alias/{}", "a".repeat(251))).is_err());
    }
}
