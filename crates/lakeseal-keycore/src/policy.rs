//! Policies in the AWS policy language, and their evaluation.
//!
//! A policy is `{"Version": ..., "Statement": [...]}`; a statement has `Effect`, optionally
//! `Principal` (key and trust policies), `Action`/`NotAction`, `Resource`, and `Condition`.
//! Supported condition operators: `StringEquals`, `StringNotEquals`, `StringLike`,
//! `StringNotLike`, `IpAddress`, `NotIpAddress`, each optionally `...IfExists`, and the
//! `ForAllValues:` / `ForAnyValue:` set qualifiers.
//!
//! Evaluation follows AWS: an explicit `Deny` anywhere wins; otherwise something must allow.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use crate::{Error, Principal, Result};

/// The largest policy document accepted, in bytes.
pub const MAX_POLICY_BYTES: usize = 32 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    StringEquals,
    StringNotEquals,
    StringLike,
    StringNotLike,
    IpAddress,
    NotIpAddress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    /// The key has one value (or none).
    Single,
    /// Every value of the key matches (true when it has none).
    ForAllValues,
    /// At least one value of the key matches.
    ForAnyValue,
}

#[derive(Debug, Clone)]
struct Condition {
    operator: Operator,
    qualifier: SetQualifier,
    if_exists: bool,
    key: String,
    values: Vec<String>,
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    /// `None` when the statement has no `Principal` element (identity policies).
    principals: Option<Vec<String>>,
    actions: Vec<String>,
    not_actions: Vec<String>,
    resources: Vec<String>,
    conditions: Vec<Condition>,
}

/// A parsed policy document.
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

/// What a request looks like to a policy.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The caller.
    pub principal: &'a Principal,
    /// `kms:GenerateDataKey`, `sts:AssumeRole` …
    pub action: &'a str,
    /// The resource's ARN, or `*` for operations on no resource.
    pub resource: &'a str,
    /// Condition keys and their values (`kms:EncryptionContext:table`, `aws:SourceIp` …).
    pub context: &'a BTreeMap<String, Vec<String>>,
}

/// The outcome of one policy for one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// A matching `Deny` statement.
    pub denied: bool,
    /// A matching `Allow` that names the caller itself (or `*`), or has no `Principal` element.
    pub allowed: bool,
    /// A matching `Allow` that names the caller's account: the account's identity policies
    /// must then allow too.
    pub allowed_via_account: bool,
}

fn strings(value: &Value, field: &str) -> Result<Vec<String>> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| malformed(&format!("{field} must hold strings")))
            })
            .collect(),
        _ => Err(malformed(&format!("{field} must be a string or a list"))),
    }
}

/// Refuses members other than `allowed` in a policy's or a statement's object.
fn only_members(
    object: &serde_json::Map<String, Value>,
    allowed: &[&str],
    what: &str,
) -> Result<()> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(unknown) => Err(malformed(&format!(
            "{what} has an unknown member {unknown:?} (expected one of {})",
            allowed.join(", ")
        ))),
    }
}

/// The condition keys the key core supplies: a condition on any other would never hold (or,
/// negated, always hold), so a policy that names one is refused rather than half-understood.
fn known_condition_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    lower
        .strip_prefix("kms:encryptioncontext:")
        .is_some_and(|k| !k.is_empty())
        || lower
            .strip_prefix("secretsmanager:resourcetag/")
            .is_some_and(|k| !k.is_empty())
        || [
            "kms:encryptioncontextkeys",
            "kms:calleraccount",
            "kms:viaservice",
            "aws:sourceip",
            "aws:principalarn",
            "secretsmanager:versionstage",
        ]
        .contains(&lower.as_str())
}

fn malformed(why: &str) -> Error {
    Error::MalformedPolicy(format!("malformed policy document: {why}"))
}

impl Policy {
    /// Parses a policy document; refuses what it cannot evaluate rather than ignoring it.
    pub fn parse(document: &str) -> Result<Self> {
        if document.len() > MAX_POLICY_BYTES {
            return Err(malformed(&format!("over {MAX_POLICY_BYTES} bytes")));
        }
        let doc: Value =
            serde_json::from_str(document).map_err(|e| malformed(&format!("not JSON: {e}")))?;
        let Value::Object(top) = &doc else {
            return Err(malformed("a policy is a JSON object"));
        };
        // A misspelt member would otherwise be ignored, and the policy mean less than it says.
        only_members(top, &["Version", "Id", "Statement"], "the policy")?;
        match top.get("Version") {
            None => {}
            Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
            Some(other) => {
                return Err(malformed(&format!(
                    "Version {other} is not 2012-10-17 or 2008-10-17"
                )));
            }
        }
        let statements = match doc.get("Statement") {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(one @ Value::Object(_)) => vec![one],
            _ => return Err(malformed("Statement is missing")),
        };
        let statements = statements
            .into_iter()
            .map(Statement::parse)
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { statements })
    }

    /// Whether any statement has a `Condition`: only then does a request need its condition
    /// keys.
    pub fn has_conditions(&self) -> bool {
        self.statements.iter().any(|s| !s.conditions.is_empty())
    }

    /// Whether the policy lets anyone at all in: an `Allow` to `"*"` with no condition.
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|s| {
            s.effect == Effect::Allow
                && s.conditions.is_empty()
                && s.principals
                    .as_ref()
                    .is_some_and(|p| p.iter().any(|p| p == "*"))
        })
    }

    /// Evaluates the policy for a request.
    pub fn evaluate(&self, request: &Request<'_>) -> Evaluation {
        let mut out = Evaluation::default();
        for statement in &self.statements {
            let Some(matched) = statement.matches(request) else {
                continue;
            };
            match (statement.effect, matched) {
                (Effect::Deny, _) => out.denied = true,
                (Effect::Allow, PrincipalMatch::Direct) => out.allowed = true,
                (Effect::Allow, PrincipalMatch::Account) => out.allowed_via_account = true,
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PrincipalMatch {
    Direct,
    Account,
}

impl Statement {
    fn parse(value: &Value) -> Result<Self> {
        let Value::Object(members) = value else {
            return Err(malformed("a statement is a JSON object"));
        };
        only_members(
            members,
            &[
                "Sid",
                "Effect",
                "Principal",
                "Action",
                "NotAction",
                "Resource",
                "Condition",
            ],
            "a statement",
        )?;
        let effect = match value.get("Effect").and_then(Value::as_str) {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            _ => return Err(malformed("Effect must be Allow or Deny")),
        };
        let principals = match value.get("Principal") {
            None => None,
            Some(Value::String(s)) if s == "*" => Some(vec!["*".to_owned()]),
            Some(Value::Object(map)) => {
                let mut all = Vec::new();
                for (kind, v) in map {
                    if kind != "AWS" {
                        return Err(malformed(&format!(
                            "Principal type {kind} is not supported"
                        )));
                    }
                    all.extend(strings(v, "Principal")?);
                }
                Some(all)
            }
            Some(_) => return Err(malformed("Principal must be \"*\" or {\"AWS\": ...}")),
        };
        let list = |field: &str| {
            value
                .get(field)
                .map(|v| strings(v, field))
                .transpose()
                .map(Option::unwrap_or_default)
        };
        let actions = list("Action")?;
        let not_actions = list("NotAction")?;
        if actions.is_empty() == not_actions.is_empty() {
            return Err(malformed("a statement needs Action or NotAction"));
        }
        let mut resources = list("Resource")?;
        if resources.is_empty() {
            resources.push("*".to_owned());
        }
        let mut conditions = Vec::new();
        if let Some(block) = value.get("Condition") {
            let block = block
                .as_object()
                .ok_or_else(|| malformed("Condition must be an object"))?;
            for (name, keys) in block {
                let (qualifier, rest) = if let Some(r) = name.strip_prefix("ForAllValues:") {
                    (SetQualifier::ForAllValues, r)
                } else if let Some(r) = name.strip_prefix("ForAnyValue:") {
                    (SetQualifier::ForAnyValue, r)
                } else {
                    (SetQualifier::Single, name.as_str())
                };
                let (rest, if_exists) = match rest.strip_suffix("IfExists") {
                    Some(r) => (r, true),
                    None => (rest, false),
                };
                let operator = match rest {
                    "StringEquals" => Operator::StringEquals,
                    "StringNotEquals" => Operator::StringNotEquals,
                    "StringLike" => Operator::StringLike,
                    "StringNotLike" => Operator::StringNotLike,
                    "IpAddress" => Operator::IpAddress,
                    "NotIpAddress" => Operator::NotIpAddress,
                    other => {
                        return Err(malformed(&format!(
                            "condition operator {other} is not supported"
                        )));
                    }
                };
                let keys = keys
                    .as_object()
                    .ok_or_else(|| malformed("a condition operator takes an object of keys"))?;
                for (key, values) in keys {
                    if !known_condition_key(key) {
                        return Err(malformed(&format!(
                            "condition key {key} is not supported (use kms:EncryptionContext:<key>, \
                             kms:EncryptionContextKeys, kms:CallerAccount, kms:ViaService, \
                             aws:SourceIp, aws:PrincipalArn, secretsmanager:VersionStage or \
                             secretsmanager:ResourceTag/<key>)"
                        )));
                    }
                    let values = strings(values, "a condition value")?;
                    if matches!(operator, Operator::IpAddress | Operator::NotIpAddress) {
                        for v in &values {
                            parse_net(v).ok_or_else(|| {
                                malformed(&format!("{v} is not an IP address or CIDR block"))
                            })?;
                        }
                    }
                    conditions.push(Condition {
                        operator,
                        qualifier,
                        if_exists,
                        key: key.clone(),
                        values,
                    });
                }
            }
        }
        Ok(Self {
            effect,
            principals,
            actions,
            not_actions,
            resources,
            conditions,
        })
    }

    fn matches(&self, request: &Request<'_>) -> Option<PrincipalMatch> {
        let principal = match &self.principals {
            None => PrincipalMatch::Direct,
            Some(list) => list
                .iter()
                .filter_map(|p| principal_match(p, request.principal))
                .min_by_key(|m| *m != PrincipalMatch::Direct)?,
        };
        let action_listed = |list: &[String]| {
            list.iter()
                .any(|a| glob_with(a, request.action, |p, t| p.eq_ignore_ascii_case(&t)))
        };
        let action = if self.actions.is_empty() {
            !action_listed(&self.not_actions)
        } else {
            action_listed(&self.actions)
        };
        let resource = self.resources.iter().any(|r| glob(r, request.resource));
        let conditions = self.conditions.iter().all(|c| c.holds(request.context));
        (action && resource && conditions).then_some(principal)
    }
}

fn principal_match(spec: &str, who: &Principal) -> Option<PrincipalMatch> {
    if spec == "*" || spec == who.arn || spec == who.identity_arn() {
        return Some(PrincipalMatch::Direct);
    }
    let account_root = format!("arn:aws:iam::{}:root", who.account_id);
    (spec == account_root || spec == who.account_id).then_some(PrincipalMatch::Account)
}

impl Condition {
    fn negated(&self) -> bool {
        matches!(
            self.operator,
            Operator::StringNotEquals | Operator::StringNotLike | Operator::NotIpAddress
        )
    }

    fn holds(&self, context: &BTreeMap<String, Vec<String>>) -> bool {
        let actual = context
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&self.key))
            .map(|(_, v)| v.as_slice())
            .unwrap_or_default();
        // Whether one actual value satisfies the condition: it matches one of the expected
        // values (or, for a negated operator, none of them).
        let satisfies = |value: &String| {
            let matched = self
                .values
                .iter()
                .any(|expected| self.positive(expected, value));
            matched != self.negated()
        };
        match self.qualifier {
            SetQualifier::ForAllValues => actual.iter().all(satisfies),
            SetQualifier::ForAnyValue => actual.iter().any(satisfies),
            SetQualifier::Single if actual.is_empty() => self.if_exists || self.negated(),
            SetQualifier::Single if self.negated() => actual.iter().all(satisfies),
            SetQualifier::Single => actual.iter().any(satisfies),
        }
    }

    /// Whether `actual` matches `expected` under the operator's positive form.
    fn positive(&self, expected: &str, actual: &str) -> bool {
        match self.operator {
            Operator::StringEquals | Operator::StringNotEquals => expected == actual,
            Operator::StringLike | Operator::StringNotLike => glob(expected, actual),
            Operator::IpAddress | Operator::NotIpAddress => in_net(expected, actual),
        }
    }
}

fn parse_net(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

fn in_net(net: &str, ip: &str) -> bool {
    match (parse_net(net), ip.parse::<IpAddr>()) {
        (Some(net), Ok(ip)) => net.contains(&ip),
        _ => false,
    }
}

/// `*` matches any run of characters, `?` any one character; everything else itself.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    glob_with(pattern, text, |p, t| p == t)
}

/// [`glob`] with a character comparison of the caller's (actions compare case-insensitively).
fn glob_with(pattern: &str, text: &str, same: impl Fn(char, char) -> bool) -> bool {
    if !pattern.contains(['*', '?']) {
        return pattern.chars().count() == text.chars().count()
            && pattern.chars().zip(text.chars()).all(|(p, t)| same(p, t));
    }
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && (p[pi] == '?' || same(p[pi], t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(arn: &str) -> Principal {
        Principal {
            account_id: "111122223333".into(),
            arn: arn.into(),
            access_key_id: None,
        }
    }

    fn ctx(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    fn eval(
        policy: &str,
        arn: &str,
        action: &str,
        context: &BTreeMap<String, Vec<String>>,
    ) -> Evaluation {
        let p = Policy::parse(policy).unwrap();
        p.evaluate(&Request {
            principal: &who(arn),
            action,
            resource: "arn:aws:kms:eu-west-1:111122223333:key/k",
            context,
        })
    }

    const STAGE: &str = "arn:aws:iam::111122223333:role/stage";

    #[test]
    fn globs() {
        assert!(glob("kms:*", "kms:decrypt"));
        assert!(glob("kms:generate*", "kms:generatedatakey"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("kms:gen*", "kms:decrypt"));
        assert!(glob("*", ""));
        assert!(glob(
            "arn:aws:kms:*:111122223333:key/*",
            "arn:aws:kms:eu-west-1:111122223333:key/k"
        ));
    }

    #[test]
    fn direct_account_and_deny() {
        let p = r#"{"Statement":[
            {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
            {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/stage"]},"Action":["kms:Decrypt"]},
            {"Effect":"Deny","Principal":"*","Action":"kms:ScheduleKeyDeletion","Resource":"*"}]}"#;
        let e = eval(p, STAGE, "kms:Decrypt", &ctx(&[]));
        assert!(e.allowed && e.allowed_via_account && !e.denied);
        let e = eval(p, STAGE, "kms:Encrypt", &ctx(&[]));
        assert!(!e.allowed && e.allowed_via_account);
        let e = eval(p, STAGE, "kms:ScheduleKeyDeletion", &ctx(&[]));
        assert!(e.denied);
    }

    #[test]
    fn encryption_context_conditions() {
        let p = r#"{"Statement":{"Effect":"Allow","Action":"kms:GenerateDataKey","Resource":"*",
            "Condition":{"StringEquals":{"kms:EncryptionContext:table":"telemetry"},
                         "ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["table","topic"]}}}}"#;
        let ok = ctx(&[
            ("kms:EncryptionContext:table", &["telemetry"]),
            ("kms:EncryptionContextKeys", &["table", "topic"]),
        ]);
        assert!(eval(p, STAGE, "kms:GenerateDataKey", &ok).allowed);
        let other = ctx(&[
            ("kms:EncryptionContext:table", &["billing"]),
            ("kms:EncryptionContextKeys", &["table"]),
        ]);
        assert!(!eval(p, STAGE, "kms:GenerateDataKey", &other).allowed);
        let extra = ctx(&[
            ("kms:EncryptionContext:table", &["telemetry"]),
            ("kms:EncryptionContextKeys", &["table", "x"]),
        ]);
        assert!(!eval(p, STAGE, "kms:GenerateDataKey", &extra).allowed);
        assert!(!eval(p, STAGE, "kms:GenerateDataKey", &ctx(&[])).allowed);
    }

    #[test]
    fn source_ip_and_like() {
        let p = r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*",
            "Condition":{"IpAddress":{"aws:SourceIp":["127.0.0.0/8","::1"]},
                         "StringLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/st*"}}}}"#;
        let local = ctx(&[
            ("aws:SourceIp", &["127.0.0.1"]),
            ("aws:PrincipalArn", &[STAGE]),
        ]);
        assert!(eval(p, STAGE, "kms:Decrypt", &local).allowed);
        let remote = ctx(&[
            ("aws:SourceIp", &["192.0.2.7"]),
            ("aws:PrincipalArn", &[STAGE]),
        ]);
        assert!(!eval(p, STAGE, "kms:Decrypt", &remote).allowed);
        let p = r#"{"Statement":{"Effect":"Deny","Action":"kms:*","Resource":"*",
            "Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}"#;
        assert!(eval(p, STAGE, "kms:Decrypt", &remote).denied);
        assert!(
            !eval(
                p,
                STAGE,
                "kms:Decrypt",
                &ctx(&[("aws:SourceIp", &["10.1.2.3"])])
            )
            .denied
        );
    }

    #[test]
    fn negated_operators_need_every_expected_value_to_differ() {
        let p = r#"{"Statement":{"Effect":"Deny","Action":"kms:*","Resource":"*",
            "Condition":{"StringNotEquals":{"kms:CallerAccount":["111122223333","444455556666"]}}}}"#;
        assert!(
            !eval(
                p,
                STAGE,
                "kms:Decrypt",
                &ctx(&[("kms:CallerAccount", &["444455556666"])])
            )
            .denied
        );
        assert!(
            eval(
                p,
                STAGE,
                "kms:Decrypt",
                &ctx(&[("kms:CallerAccount", &["999999999999"])])
            )
            .denied
        );
    }

    #[test]
    fn malformed_documents_are_refused() {
        for bad in [
            "not json",
            r#"{"Statement":[{"Effect":"Maybe","Action":"kms:*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Condition":{"NumericLessThan":{"a":"1"}}}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Condition":{"IpAddress":{"aws:SourceIp":"nope"}}}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"x"},"Action":"kms:*"}]}"#,
            r#"{"Statment":[{"Effect":"Allow","Action":"kms:*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"kms:*"}],"Extra":1}"#,
            r#"{"Statement":[{"Efect":"Allow","Effect":"Allow","Action":"kms:*"}]}"#,
            r#"{"Version":"2024-01-01","Statement":[{"Effect":"Allow","Action":"kms:*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Condition":{"StringEquals":{"aws:username":"x"}}}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Condition":{"StringEquals":{"kms:EncryptionContext:":"x"}}}]}"#,
            r#"["not an object"]"#,
        ] {
            assert!(
                matches!(Policy::parse(bad), Err(Error::MalformedPolicy(_))),
                "{bad}"
            );
        }
        let sized = format!(
            r#"{{"Statement":[{{"Sid":"{}","Effect":"Allow","Action":"kms:*"}}]}}"#,
            "x".repeat(MAX_POLICY_BYTES)
        );
        assert!(matches!(
            Policy::parse(&sized),
            Err(Error::MalformedPolicy(_))
        ));
        Policy::parse(
            r#"{"Version":"2012-10-17","Id":"k","Statement":[{"Sid":"a","Effect":"Allow","Action":"kms:*",
                "Condition":{"StringLikeIfExists":{"KMS:encryptioncontext:Table":"t*"}}}]}"#,
        )
        .unwrap();
    }
}
