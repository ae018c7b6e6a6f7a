//! IAM in the AWS query protocol (what boto3's `iam` client speaks): a form-encoded `POST /`
//! signed for service `iam`, answered in XML. Users, their access keys, roles, and the inline
//! policies of both; each action authorised and audited by the engine like every operation.

use std::collections::BTreeMap;
use std::fmt::Write;

use lakeseal_keycore::clock::rfc3339;
use lakeseal_keycore::iam::{Role, User, WorkloadIdentity};
use lakeseal_keycore::{Holder, KeyCore, Principal, RequestContext};

use crate::ApiError;
use crate::xml::{Escaped, SecretText};

/// Every IAM action served: for routing, and the bounded `operation` label of metrics.
pub(crate) const ACTIONS: &[&str] = &[
    "CreateUser",
    "GetUser",
    "ListUsers",
    "DeleteUser",
    "CreateAccessKey",
    "ListAccessKeys",
    "DeleteAccessKey",
    "GetAccessKeyLastUsed",
    "CreateRole",
    "GetRole",
    "ListRoles",
    "DeleteRole",
    "PutUserPolicy",
    "GetUserPolicy",
    "ListUserPolicies",
    "DeleteUserPolicy",
    "PutRolePolicy",
    "GetRolePolicy",
    "ListRolePolicies",
    "DeleteRolePolicy",
    "CreateWorkloadIdentity",
    "RotateWorkloadIdentityToken",
    "DeleteWorkloadIdentity",
    "ListWorkloadIdentities",
];

const NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// The parameters of one request.
struct Params(BTreeMap<String, String>);

impl Params {
    fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.0
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| ApiError::Serialization(format!("{name} is required")))
    }
}

/// Runs the IAM action of an authenticated caller; returns the XML response body.
pub(crate) async fn dispatch(
    core: &KeyCore,
    who: &Principal,
    ctx: &RequestContext,
    action: &str,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let params = Params(
        serde_urlencoded::from_bytes(body)
            .map_err(|e| ApiError::Serialization(format!("malformed form body: {e}")))?,
    );
    let user = || params.required("UserName");
    let role = || params.required("RoleName");
    let policy = || params.required("PolicyName");
    let result = match action {
        "CreateUser" => {
            let account = core.location().account_id.clone();
            let u = core.create_user_in(who, ctx, &account, user()?).await?;
            format!("<User>{}</User>", user_xml(&u))
        }
        "GetUser" => {
            // Without a name, the caller itself (as IAM answers).
            let name = params
                .0
                .get("UserName")
                .map_or(who.arn.as_str(), String::as_str);
            format!(
                "<User>{}</User>",
                user_xml(&core.get_user(who, ctx, name).await?)
            )
        }
        "ListUsers" => {
            let users = core.list_users_of(who, ctx).await?;
            let members: String = users
                .iter()
                .map(|u| format!("<member>{}</member>", user_xml(u)))
                .collect();
            format!("<Users>{members}</Users><IsTruncated>false</IsTruncated>")
        }
        "DeleteUser" => {
            core.delete_user(who, ctx, user()?).await?;
            String::new()
        }
        "CreateAccessKey" => {
            let name = user()?;
            let key = core.create_access_key(who, ctx, name).await?;
            // The one copy of the secret outside the key core: this response body.
            let secret = std::str::from_utf8(key.secret_access_key.expose_secret())
                .map_err(|_| ApiError::Serialization("the new secret is not UTF-8".into()))?;
            let mut result = SecretText::with_capacity(512 + 6 * secret.len());
            write!(
                result,
                "<AccessKey><UserName>{}</UserName><AccessKeyId>{}</AccessKeyId>\
                 <Status>Active</Status><SecretAccessKey>{}</SecretAccessKey>\
                 <CreateDate>{}</CreateDate></AccessKey>",
                Escaped(name),
                Escaped(&key.access_key_id),
                Escaped(secret),
                rfc3339(core.now_ms()),
            )
            .map_err(|_| ApiError::Serialization("cannot write the answer".into()))?;
            return envelope(action, ctx, result.as_str());
        }
        "ListAccessKeys" => {
            let keys = core.list_access_keys(who, ctx, user()?).await?;
            let mut members = String::new();
            for k in &keys {
                let _ = write!(
                    members,
                    "<member><UserName>{}</UserName><AccessKeyId>{}</AccessKeyId>\
                     <Status>{}</Status><CreateDate>{}</CreateDate></member>",
                    Escaped(&k.user_name),
                    Escaped(&k.access_key_id),
                    Escaped(&k.status),
                    Escaped(&k.create_date)
                );
            }
            format!(
                "<AccessKeyMetadata>{members}</AccessKeyMetadata><IsTruncated>false</IsTruncated>"
            )
        }
        "DeleteAccessKey" => {
            let id = params.required("AccessKeyId")?;
            core.delete_access_key(who, ctx, user()?, id).await?;
            String::new()
        }
        "GetAccessKeyLastUsed" => {
            let id = params.required("AccessKeyId")?;
            let user = match core.get_access_key_last_used(who, ctx, id).await? {
                Some(name) => format!("<UserName>{}</UserName>", Escaped(&name)),
                None => String::new(),
            };
            // Last use is not tracked: IAM's answer for a key never used.
            format!(
                "{user}<AccessKeyLastUsed><ServiceName>N/A</ServiceName><Region>N/A</Region>\
                 </AccessKeyLastUsed>"
            )
        }
        "CreateRole" => {
            let trust = params.required("AssumeRolePolicyDocument")?;
            let r = core.create_role(who, ctx, role()?, trust).await?;
            format!("<Role>{}</Role>", role_xml(&r))
        }
        "GetRole" => format!(
            "<Role>{}</Role>",
            role_xml(&core.get_role(who, ctx, role()?).await?)
        ),
        "ListRoles" => {
            let roles = core.list_roles_of(who, ctx).await?;
            let members: String = roles
                .iter()
                .map(|r| format!("<member>{}</member>", role_xml(r)))
                .collect();
            format!("<Roles>{members}</Roles><IsTruncated>false</IsTruncated>")
        }
        "DeleteRole" => {
            core.delete_role(who, ctx, role()?).await?;
            String::new()
        }
        "PutUserPolicy" => {
            let document = params.required("PolicyDocument")?;
            core.put_user_policy(who, ctx, user()?, policy()?, document)
                .await?;
            String::new()
        }
        "PutRolePolicy" => {
            let document = params.required("PolicyDocument")?;
            core.put_role_policy(who, ctx, role()?, policy()?, document)
                .await?;
            String::new()
        }
        "GetUserPolicy" | "GetRolePolicy" => {
            let (holder, tag, name) = holder(action, &params)?;
            let document = core
                .get_inline_policy(who, ctx, holder, name, policy()?)
                .await?;
            format!(
                "<{tag}>{}</{tag}><PolicyName>{}</PolicyName><PolicyDocument>{}</PolicyDocument>",
                Escaped(name),
                Escaped(policy()?),
                // IAM returns the document URL-encoded; SDKs decode it.
                Escaped(&url_encode(&document)),
            )
        }
        "ListUserPolicies" | "ListRolePolicies" => {
            let (holder, _, name) = holder(action, &params)?;
            let names = core.list_inline_policies(who, ctx, holder, name).await?;
            let members: String = names
                .iter()
                .map(|n| format!("<member>{}</member>", Escaped(n)))
                .collect();
            format!("<PolicyNames>{members}</PolicyNames><IsTruncated>false</IsTruncated>")
        }
        "DeleteUserPolicy" | "DeleteRolePolicy" => {
            let (holder, _, name) = holder(action, &params)?;
            core.delete_inline_policy(who, ctx, holder, name, policy()?)
                .await?;
            String::new()
        }
        // Lakeseal's own: the credentials endpoint's workload identities.
        "CreateWorkloadIdentity" => {
            let duration = crate::sts::duration_seconds(&params.0)?;
            let name = params.required("WorkloadIdentityName")?;
            let (workload, token) = core
                .create_workload_identity(who, ctx, name, role()?, duration)
                .await?;
            let described = format!(
                "<WorkloadIdentity>{}</WorkloadIdentity>",
                workload_xml(&workload)
            );
            return token_answer(action, ctx, &described, &token);
        }
        "RotateWorkloadIdentityToken" => {
            let name = params.required("WorkloadIdentityName")?;
            let token = core.rotate_workload_token(who, ctx, name).await?;
            return token_answer(action, ctx, "", &token);
        }
        "DeleteWorkloadIdentity" => {
            let name = params.required("WorkloadIdentityName")?;
            core.delete_workload_identity(who, ctx, name).await?;
            String::new()
        }
        "ListWorkloadIdentities" => {
            let all = core.list_workload_identities(who, ctx).await?;
            let members: String = all
                .iter()
                .map(|w| format!("<member>{}</member>", workload_xml(w)))
                .collect();
            format!(
                "<WorkloadIdentities>{members}</WorkloadIdentities><IsTruncated>false</IsTruncated>"
            )
        }
        other => {
            return Err(ApiError::UnknownOperation(format!(
                "{other:?} is not an IAM action of this key core"
            )));
        }
    };
    envelope(action, ctx, &result)
}

/// The answer to `action` around its `result`, in a buffer that wipes itself (`result` may hold
/// a secret).
fn envelope(action: &str, ctx: &RequestContext, result: &str) -> Result<Vec<u8>, ApiError> {
    let mut xml = SecretText::with_capacity(256 + 2 * action.len() + result.len());
    write!(
        xml,
        r#"<{action}Response xmlns="{NAMESPACE}"><{action}Result>{result}</{action}Result><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>"#,
        Escaped(&ctx.request_id)
    )
    .map_err(|_| ApiError::Serialization("cannot write the answer".into()))?;
    Ok(xml.into_body())
}

/// An answer carrying a workload identity's new token (after `before`): the token's one copy
/// outside the key core is this response body.
fn token_answer(
    action: &str,
    ctx: &RequestContext,
    before: &str,
    token: &lakeseal_envelope::SecretBytes,
) -> Result<Vec<u8>, ApiError> {
    let token = std::str::from_utf8(token.expose_secret())
        .map_err(|_| ApiError::Serialization("the new token is not UTF-8".into()))?;
    let mut result = SecretText::with_capacity(before.len() + 64 + 6 * token.len());
    write!(result, "{before}<Token>{}</Token>", Escaped(token))
        .map_err(|_| ApiError::Serialization("cannot write the answer".into()))?;
    envelope(action, ctx, result.as_str())
}

fn workload_xml(w: &WorkloadIdentity) -> String {
    format!(
        "<WorkloadIdentityName>{}</WorkloadIdentityName><Arn>{}</Arn><RoleArn>{}</RoleArn>\
         <DurationSeconds>{}</DurationSeconds><CreateDate>{}</CreateDate>\
         <TokenIssueDate>{}</TokenIssueDate>",
        Escaped(&w.name),
        Escaped(&w.arn),
        Escaped(&w.role_arn),
        w.duration_seconds,
        rfc3339(w.created),
        rfc3339(w.token_issued),
    )
}

/// Whose inline policy an action names, the XML element that names it, and the name.
fn holder<'p>(
    action: &str,
    params: &'p Params,
) -> Result<(Holder, &'static str, &'p str), ApiError> {
    if action.contains("User") {
        Ok((Holder::User, "UserName", params.required("UserName")?))
    } else {
        Ok((Holder::Role, "RoleName", params.required("RoleName")?))
    }
}

fn user_xml(u: &User) -> String {
    format!(
        "<Path>/</Path><UserName>{}</UserName><UserId>{}</UserId><Arn>{}</Arn>\
         <CreateDate>{}</CreateDate>",
        Escaped(&u.name),
        unique_id("AIDA", &u.arn),
        Escaped(&u.arn),
        rfc3339(u.created)
    )
}

fn role_xml(r: &Role) -> String {
    format!(
        "<Path>/</Path><RoleName>{}</RoleName><RoleId>{}</RoleId><Arn>{}</Arn>\
         <CreateDate>{}</CreateDate><AssumeRolePolicyDocument>{}</AssumeRolePolicyDocument>",
        Escaped(&r.name),
        unique_id("AROA", &r.arn),
        Escaped(&r.arn),
        rfc3339(r.created),
        Escaped(&url_encode(&r.trust_policy))
    )
}

/// A stable id in IAM's shape (`AIDA…`, `AROA…`), derived from the ARN: the key core keys
/// identities by ARN and needs no other.
fn unique_id(prefix: &str, arn: &str) -> String {
    let digest = lakeseal_keycore::iam::sha256_hex(arn.as_bytes());
    format!("{prefix}{}", digest[..17].to_ascii_uppercase())
}

/// Percent-encoding of a policy document, as IAM returns documents.
fn url_encode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)])
        .map(|s| s.trim_start_matches('=').replace('+', "%20"))
        .unwrap_or_default()
}
