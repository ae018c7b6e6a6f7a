//! Who is calling and from where: carried by every key-core call and written to the audit trail.

use std::net::IpAddr;

/// The authenticated caller of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The caller's 12-digit account id.
    pub account_id: String,
    /// The caller's ARN, e.g. `arn:aws:iam::111122223333:user/stage`.
    pub arn: String,
    /// The access key the request was signed with, when it came over the network.
    pub access_key_id: Option<String>,
}

impl Principal {
    /// The root identity of `account_id`: the operator of a local data directory.
    pub fn account_root(account_id: &str) -> Self {
        Self {
            account_id: account_id.to_owned(),
            arn: format!("arn:aws:iam::{account_id}:root"),
            access_key_id: None,
        }
    }

    /// The ARN policies see: for a session of an assumed role, the role's ARN
    /// (`arn:aws:sts::<account>:assumed-role/<role>/<session>` → `arn:aws:iam::<account>:role/<role>`).
    pub fn identity_arn(&self) -> std::borrow::Cow<'_, str> {
        let Some(rest) = self.arn.strip_prefix("arn:aws:sts::") else {
            return self.arn.as_str().into();
        };
        match rest
            .split_once(":assumed-role/")
            .and_then(|(account, tail)| {
                tail.split_once('/').map(|(role, _session)| (account, role))
            }) {
            Some((account, role)) => format!("arn:aws:iam::{account}:role/{role}").into(),
            None => self.arn.as_str().into(),
        }
    }

    /// Whether this is the root identity of its account (`arn:aws:iam::<account>:root`).
    pub fn is_account_root(&self) -> bool {
        self.arn
            .strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.strip_suffix(":root"))
            == Some(self.account_id.as_str())
    }

    /// The key core itself, for work it does on its own schedule (rotation, deletion).
    pub fn key_core(account_id: &str) -> Self {
        Self {
            account_id: account_id.to_owned(),
            arn: "lakeseal:keycore".to_owned(),
            access_key_id: None,
        }
    }
}

/// The API a call came in through: it decides the error names the caller (and the audit trail)
/// sees, `NotFoundException` in KMS being `ResourceNotFoundException` in Secrets Manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Service {
    /// AWS KMS (and STS and IAM, which share its names for what they refuse).
    #[default]
    Kms,
    /// AWS Secrets Manager.
    SecretsManager,
}

/// Facts about one request that are not its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// A unique id for the request, echoed in the audit trail.
    pub request_id: String,
    /// Where the request came from; `None` for an in-process caller.
    pub source_ip: Option<IpAddr>,
    /// The region the request was addressed to; `None` means the key core's own.
    pub region: Option<String>,
    /// The client's self-description.
    pub user_agent: Option<String>,
}

impl RequestContext {
    /// A context for an in-process call, with a fresh request id.
    pub fn local(user_agent: &str) -> Self {
        Self {
            request_id: uuid::Uuid::new_v4().to_string(),
            source_ip: None,
            region: None,
            user_agent: Some(user_agent.to_owned()),
        }
    }
}
