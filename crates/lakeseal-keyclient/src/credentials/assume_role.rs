//! STS `AssumeRole` as a credential source: a role's temporary credentials, asked for with
//! another source's.

use std::time::SystemTime;

use aws_credential_types::Credentials as AwsCredentials;

use super::{Current, renew_at};
use crate::{Error, Result};

/// STS `AssumeRole` with another source's credentials.
#[derive(Debug)]
pub(super) struct AssumedRole {
    pub(super) sts: crate::Remote,
    pub(super) region: String,
    pub(super) role_arn: String,
    pub(super) session_name: String,
    pub(super) duration_seconds: Option<u32>,
}

impl AssumedRole {
    pub(super) async fn fetch(&self) -> Result<Current> {
        let duration = self.duration_seconds.map(|d| d.to_string());
        let mut params = vec![
            ("RoleArn", self.role_arn.as_str()),
            ("RoleSessionName", self.session_name.as_str()),
        ];
        if let Some(d) = &duration {
            params.push(("DurationSeconds", d));
        }
        let requested = SystemTime::now();
        // The answer's strings are the boundary copy (ARCHITECTURE.md); taken, not cloned.
        let mut answer = self
            .sts
            .query(("sts", &self.region), "AssumeRole", &params)
            .await?;
        let credentials = &mut answer["AssumeRoleResponse"]["AssumeRoleResult"]["Credentials"];
        let mut take = |member: &str| match credentials.get_mut(member).map(serde_json::Value::take)
        {
            Some(serde_json::Value::String(text)) => Ok(text),
            _ => Err(Error::Protocol(format!(
                "AssumeRole of {}: no {member} in the answer",
                self.role_arn
            ))),
        };
        let (id, secret, token, expiration) = (
            take("AccessKeyId")?,
            take("SecretAccessKey")?,
            take("SessionToken")?,
            take("Expiration")?,
        );
        let expires: SystemTime = chrono::DateTime::parse_from_rfc3339(&expiration)
            .map_err(|e| Error::Protocol(format!("AssumeRole: Expiration {expiration:?}: {e}")))?
            .into();
        Ok(Current {
            identity: AwsCredentials::new(id, secret, Some(token), Some(expires), "lakeseal-sts")
                .into(),
            renew_at: Some(renew_at(requested, expires)),
            file: None,
        })
    }
}
