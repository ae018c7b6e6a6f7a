//! STS `AssumeRole` in the AWS query protocol: a form-encoded `POST /` signed for service `sts`,
//! answered in XML.

use std::collections::BTreeMap;

use lakeseal_keycore::clock::rfc3339;
use lakeseal_keycore::{KeyCore, Principal, RequestContext};

use crate::ApiError;

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
    let secret = String::from_utf8_lossy(creds.secret_access_key.expose_secret()).into_owned();
    let token = String::from_utf8_lossy(creds.session_token.expose_secret()).into_owned();
    let xml = format!(
        concat!(
            r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">"#,
            "<AssumeRoleResult><Credentials>",
            "<AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey>",
            "<SessionToken>{}</SessionToken><Expiration>{}</Expiration>",
            "</Credentials><AssumedRoleUser><AssumedRoleId>{}:{}</AssumedRoleId><Arn>{}</Arn>",
            "</AssumedRoleUser></AssumeRoleResult>",
            "<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></AssumeRoleResponse>"
        ),
        escape(&creds.access_key_id),
        escape(&secret),
        escape(&token),
        rfc3339(creds.expiration),
        escape(role_name),
        escape(&session_name),
        escape(&creds.assumed_role_arn),
        escape(&ctx.request_id),
    );
    // The XML holds the secret: hand it over and let the copies above go.
    drop((secret, token));
    Ok(xml.into_bytes())
}

/// XML character data.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
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
    let duration = params
        .get("DurationSeconds")
        .map(|d| {
            d.parse::<u32>().map_err(|_| {
                ApiError::Serialization(format!("DurationSeconds {d:?} is not a number"))
            })
        })
        .transpose()?;
    Ok((required("RoleArn")?, required("RoleSessionName")?, duration))
}
