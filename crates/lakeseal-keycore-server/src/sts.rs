//! STS `AssumeRole` in the AWS query protocol: a form-encoded `POST /` signed for service `sts`,
//! answered in XML.

use std::collections::BTreeMap;
use std::fmt::Write;

use lakeseal_keycore::clock::rfc3339;
use lakeseal_keycore::{KeyCore, Principal, RequestContext};

use crate::ApiError;
use crate::xml::{Escaped, SecretText};

/// The action a form body names (`Action=AssumeRole`), for routing and the audit trail.
pub(crate) fn action(body: &[u8]) -> Option<String> {
    form(body).ok()?.remove("Action")
}

fn form(body: &[u8]) -> Result<BTreeMap<String, String>, ApiError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|e| ApiError::Serialization(format!("malformed form body: {e}")))
}

/// Runs the STS action of an authenticated caller; returns the XML response body.
pub(crate) async fn dispatch(
    core: &KeyCore,
    who: &Principal,
    ctx: &RequestContext,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let mut params = form(body)?;
    let action = params.remove("Action").unwrap_or_default();
    if action != "AssumeRole" {
        // Audited by the caller, like every refusal of the protocol layer.
        return Err(ApiError::UnknownOperation(format!(
            "{action:?} is not an STS action of this key core"
        )));
    }
    let (role_arn, session_name, duration) = parse_assume_role(&params)?;
    let creds = core
        .assume_role(who, ctx, &role_arn, &session_name, duration)
        .await?;
    let role_name = role_arn.rsplit('/').next().unwrap_or_default();
    let secret = utf8(creds.secret_access_key.expose_secret(), "secret")?;
    let token = utf8(creds.session_token.expose_secret(), "session token")?;
    // Room for the answer with every character of the secret and token escaped, so that the
    // buffer holding them need not grow.
    let mut xml = SecretText::with_capacity(1024 + 6 * (secret.len() + token.len()));
    write!(
        xml,
        concat!(
            r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">"#,
            "<AssumeRoleResult><Credentials>",
            "<AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey>",
            "<SessionToken>{}</SessionToken><Expiration>{}</Expiration>",
            "</Credentials><AssumedRoleUser><AssumedRoleId>{}:{}</AssumedRoleId><Arn>{}</Arn>",
            "</AssumedRoleUser></AssumeRoleResult>",
            "<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></AssumeRoleResponse>"
        ),
        Escaped(&creds.access_key_id),
        Escaped(secret),
        Escaped(token),
        rfc3339(creds.expiration),
        Escaped(role_name),
        Escaped(&session_name),
        Escaped(&creds.assumed_role_arn),
        Escaped(&ctx.request_id),
    )
    .map_err(|_| ApiError::Serialization("cannot write the answer".into()))?;
    Ok(xml.into_body())
}

fn parse_assume_role(
    params: &BTreeMap<String, String>,
) -> Result<(String, String, Option<u32>), ApiError> {
    let required = |name: &str| {
        params
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::Serialization(format!("{name} is required")))
    };
    let duration = duration_seconds(params)?;
    Ok((required("RoleArn")?, required("RoleSessionName")?, duration))
}

/// The optional `DurationSeconds` of a query request (`AssumeRole`, `CreateWorkloadIdentity`).
pub(crate) fn duration_seconds(params: &BTreeMap<String, String>) -> Result<Option<u32>, ApiError> {
    params
        .get("DurationSeconds")
        .map(|d| {
            d.parse::<u32>().map_err(|_| {
                ApiError::Serialization(format!("DurationSeconds {d:?} is not a number"))
            })
        })
        .transpose()
}

/// A new credential's `what` as text.
fn utf8<'a>(secret: &'a [u8], what: &str) -> Result<&'a str, ApiError> {
    std::str::from_utf8(secret)
        .map_err(|_| ApiError::Serialization(format!("the new {what} is not UTF-8")))
}
