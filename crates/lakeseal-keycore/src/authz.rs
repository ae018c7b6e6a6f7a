//! The authorisation rules, as pure functions of the policies involved and the request.
//!
//! AWS combines a resource policy (a key policy, a role's trust policy) with the caller's
//! identity policies; these functions are that combination and nothing else, so they can be
//! unit-tested without a data directory. The engine (`core/authorize.rs`) looks the policies
//! up, calls these, and turns a refusal into an audited error.

use std::collections::BTreeMap;
use std::net::IpAddr;

use lakeseal_envelope::EncryptionContext;
use lakeseal_kms_types::secrets::SecretTag;

use crate::policy::{Evaluation, Policy, Request};

/// An operation on no particular resource (`CreateKey`, `ListKeys`, `iam:CreateUser` …): the
/// caller must belong to `home_account` and be its root, or hold an identity policy allowing
/// the action; an explicit deny in an identity policy wins even over the root.
pub(crate) fn account_action_allowed(
    home_account: &str,
    identity: &[Policy],
    request: &Request<'_>,
) -> bool {
    let who = request.principal;
    let identity = evaluate_all(identity, request);
    who.account_id == home_account
        && !identity.denied
        && (who.is_account_root() || identity.allowed)
}

/// An operation on a resource: an explicit deny in the resource policy or an identity policy
/// wins; otherwise the resource policy must allow the caller directly, or allow the caller's
/// account and an identity policy allow too (the account root needs none).
pub(crate) fn resource_action_allowed(
    resource: Evaluation,
    identity: &[Policy],
    request: &Request<'_>,
) -> bool {
    let identity = evaluate_all(identity, request);
    let is_root = request.principal.is_account_root();
    !resource.denied
        && !identity.denied
        && (resource.allowed || (resource.allowed_via_account && (is_root || identity.allowed)))
}

/// A secret operation: an explicit deny in the secret's resource policy or an identity policy
/// wins. A caller of the secret's own account needs either policy to allow it (its root needs
/// neither); a caller of another account needs both, the resource policy naming it or its
/// account.
pub(crate) fn secret_action_allowed(
    home_account: &str,
    resource: Option<Evaluation>,
    identity: &[Policy],
    request: &Request<'_>,
) -> bool {
    let who = request.principal;
    let identity = evaluate_all(identity, request);
    let resource = resource.unwrap_or_default();
    if identity.denied || resource.denied {
        return false;
    }
    let own = who.is_account_root() || identity.allowed;
    if who.account_id == home_account {
        own || resource.allowed
    } else {
        own && (resource.allowed || resource.allowed_via_account)
    }
}

/// The condition keys a policy may test for a call by `who`, from `source_ip`, over an
/// encryption context, made through `via_service` when a service uses the key for the caller.
pub(crate) fn condition_keys(
    who: &crate::Principal,
    source_ip: Option<IpAddr>,
    encryption_context: Option<&EncryptionContext>,
    via_service: Option<&str>,
) -> BTreeMap<String, Vec<String>> {
    let mut keys = caller_keys(who, source_ip);
    if let Some(service) = via_service {
        keys.insert("kms:ViaService".to_owned(), vec![service.to_owned()]);
    }
    if let Some(context) = encryption_context {
        keys.insert(
            "kms:EncryptionContextKeys".to_owned(),
            context.iter().map(|(k, _)| k.to_owned()).collect(),
        );
        for (k, v) in context.iter() {
            keys.insert(format!("kms:EncryptionContext:{k}"), vec![v.to_owned()]);
        }
    }
    keys
}

/// The condition keys of a secret operation: the caller, its address, the label asked for
/// (`secretsmanager:VersionStage`) and the secret's tags (`secretsmanager:ResourceTag/<key>`).
pub(crate) fn secret_condition_keys(
    who: &crate::Principal,
    source_ip: Option<IpAddr>,
    tags: &[SecretTag],
    stage: Option<&str>,
) -> BTreeMap<String, Vec<String>> {
    let mut keys = caller_keys(who, source_ip);
    if let Some(stage) = stage {
        keys.insert(
            "secretsmanager:VersionStage".to_owned(),
            vec![stage.to_owned()],
        );
    }
    for tag in tags {
        keys.insert(
            format!("secretsmanager:ResourceTag/{}", tag.key),
            vec![tag.value.clone()],
        );
    }
    keys
}

/// The keys every call has: who calls, from which account and address.
fn caller_keys(who: &crate::Principal, source_ip: Option<IpAddr>) -> BTreeMap<String, Vec<String>> {
    let mut keys = BTreeMap::new();
    keys.insert("kms:CallerAccount".to_owned(), vec![who.account_id.clone()]);
    keys.insert(
        "aws:PrincipalArn".to_owned(),
        vec![who.identity_arn().into_owned()],
    );
    if let Some(ip) = source_ip {
        keys.insert("aws:SourceIp".to_owned(), vec![ip.to_string()]);
    }
    keys
}

/// Several policies combined: any deny, any allow.
fn evaluate_all(policies: &[Policy], request: &Request<'_>) -> Evaluation {
    let mut out = Evaluation::default();
    for p in policies {
        let e = p.evaluate(request);
        out.denied |= e.denied;
        out.allowed |= e.allowed;
        out.allowed_via_account |= e.allowed_via_account;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Principal;

    const ACCOUNT: &str = "111122223333";
    const KEY: &str = "arn:aws:kms:eu-west-1:111122223333:key/k";

    fn user(name: &str) -> Principal {
        Principal {
            account_id: ACCOUNT.into(),
            arn: format!("arn:aws:iam::{ACCOUNT}:user/{name}"),
            access_key_id: None,
        }
    }

    fn policy(statements: &str) -> Policy {
        Policy::parse(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#
        ))
        .unwrap()
    }

    fn request<'a>(
        who: &'a Principal,
        action: &'a str,
        context: &'a BTreeMap<String, Vec<String>>,
    ) -> Request<'a> {
        Request {
            principal: who,
            action,
            resource: KEY,
            context,
        }
    }

    const ALLOW_DECRYPT: &str = r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}"#;
    const DENY_DECRYPT: &str = r#"{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}"#;

    fn key_policy_trusting_account() -> Policy {
        policy(&format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}}"#
        ))
    }

    #[test]
    fn account_actions_need_the_home_account_and_root_or_an_identity_allow() {
        let empty = BTreeMap::new();
        let root = Principal::account_root(ACCOUNT);
        let alice = user("alice");
        let other_root = Principal::account_root("444455556666");
        let allow = [policy(ALLOW_DECRYPT)];
        let deny = [policy(DENY_DECRYPT)];

        assert!(account_action_allowed(
            ACCOUNT,
            &[],
            &request(&root, "kms:Decrypt", &empty)
        ));
        assert!(!account_action_allowed(
            ACCOUNT,
            &[],
            &request(&alice, "kms:Decrypt", &empty)
        ));
        assert!(account_action_allowed(
            ACCOUNT,
            &allow,
            &request(&alice, "kms:Decrypt", &empty)
        ));
        assert!(!account_action_allowed(
            ACCOUNT,
            &allow,
            &request(&alice, "kms:Encrypt", &empty)
        ));
        // Another account's root is no one here.
        assert!(!account_action_allowed(
            ACCOUNT,
            &[],
            &request(&other_root, "kms:Decrypt", &empty)
        ));
        // An explicit deny binds even the root.
        assert!(!account_action_allowed(
            ACCOUNT,
            &deny,
            &request(&root, "kms:Decrypt", &empty)
        ));
    }

    #[test]
    fn a_key_policy_naming_the_caller_needs_no_identity_policy() {
        let empty = BTreeMap::new();
        let alice = user("alice");
        let key = policy(&format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"kms:Decrypt","Resource":"*"}}"#,
            alice.arn
        ));
        let req = request(&alice, "kms:Decrypt", &empty);
        assert!(resource_action_allowed(key.evaluate(&req), &[], &req));
        let other = request(&alice, "kms:Encrypt", &empty);
        assert!(!resource_action_allowed(key.evaluate(&other), &[], &other));
    }

    #[test]
    fn a_key_policy_trusting_the_account_needs_an_identity_allow_except_for_root() {
        let empty = BTreeMap::new();
        let key = key_policy_trusting_account();
        let alice = user("alice");
        let root = Principal::account_root(ACCOUNT);
        let req = request(&alice, "kms:Decrypt", &empty);
        assert!(!resource_action_allowed(key.evaluate(&req), &[], &req));
        assert!(resource_action_allowed(
            key.evaluate(&req),
            &[policy(ALLOW_DECRYPT)],
            &req
        ));
        let as_root = request(&root, "kms:Decrypt", &empty);
        assert!(resource_action_allowed(
            key.evaluate(&as_root),
            &[],
            &as_root
        ));
    }

    #[test]
    fn an_identity_policy_alone_does_not_open_a_key() {
        let empty = BTreeMap::new();
        let alice = user("alice");
        let req = request(&alice, "kms:Decrypt", &empty);
        let silent_key = policy(
            r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"kms:*","Resource":"*"}"#,
        );
        assert!(!resource_action_allowed(
            silent_key.evaluate(&req),
            &[policy(ALLOW_DECRYPT)],
            &req
        ));
    }

    #[test]
    fn a_deny_in_either_policy_wins() {
        let empty = BTreeMap::new();
        let root = Principal::account_root(ACCOUNT);
        let req = request(&root, "kms:Decrypt", &empty);
        let key = key_policy_trusting_account();
        assert!(!resource_action_allowed(
            key.evaluate(&req),
            &[policy(DENY_DECRYPT)],
            &req
        ));
        let key_with_deny = policy(&format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},{}"#,
            DENY_DECRYPT.replace(r#""Effect":"Deny","#, r#""Effect":"Deny","Principal":"*","#)
        ));
        assert!(!resource_action_allowed(
            key_with_deny.evaluate(&req),
            &[],
            &req
        ));
    }

    #[test]
    fn condition_keys_name_the_caller_the_source_and_the_context() {
        let alice = user("alice");
        let context = EncryptionContext::from_iter([("table", "telemetry")]);
        let keys = condition_keys(&alice, Some([10, 0, 0, 7].into()), Some(&context), None);
        assert_eq!(keys["kms:CallerAccount"], [ACCOUNT]);
        assert_eq!(keys["aws:PrincipalArn"], [alice.arn.as_str()]);
        assert_eq!(keys["aws:SourceIp"], ["10.0.0.7"]);
        assert_eq!(keys["kms:EncryptionContextKeys"], ["table"]);
        assert_eq!(keys["kms:EncryptionContext:table"], ["telemetry"]);
        let bare = condition_keys(&alice, None, None, None);
        assert_eq!(
            bare.keys().collect::<Vec<_>>(),
            ["aws:PrincipalArn", "kms:CallerAccount"]
        );
    }

    #[test]
    fn a_condition_on_the_context_is_tested_against_its_keys() {
        let alice = user("alice");
        let identity = [policy(
            r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:table":"telemetry"}}}"#,
        )];
        let key = key_policy_trusting_account();
        for (table, allowed) in [("telemetry", true), ("billing", false)] {
            let context = EncryptionContext::from_iter([("table", table)]);
            let keys = condition_keys(&alice, None, Some(&context), None);
            let req = request(&alice, "kms:Decrypt", &keys);
            assert_eq!(
                resource_action_allowed(key.evaluate(&req), &identity, &req),
                allowed,
                "table {table}"
            );
        }
    }

    const SECRET: &str = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:db-AbCdEf";
    const READ: &str =
        r#"{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}"#;

    fn read_secret<'a>(
        who: &'a Principal,
        context: &'a BTreeMap<String, Vec<String>>,
    ) -> Request<'a> {
        Request {
            principal: who,
            action: "secretsmanager:GetSecretValue",
            resource: SECRET,
            context,
        }
    }

    #[test]
    fn a_secret_of_the_account_opens_to_either_policy() {
        let empty = BTreeMap::new();
        let alice = user("alice");
        let req = read_secret(&alice, &empty);
        let naming_alice = policy(&format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"secretsmanager:*","Resource":"*"}}"#,
            alice.arn
        ));
        assert!(!secret_action_allowed(ACCOUNT, None, &[], &req));
        assert!(secret_action_allowed(ACCOUNT, None, &[policy(READ)], &req));
        assert!(secret_action_allowed(
            ACCOUNT,
            Some(naming_alice.evaluate(&req)),
            &[],
            &req
        ));
        let root = Principal::account_root(ACCOUNT);
        assert!(secret_action_allowed(
            ACCOUNT,
            None,
            &[],
            &read_secret(&root, &empty)
        ));
        let deny = policy(&format!(
            r#"{{"Effect":"Deny","Principal":{{"AWS":"{}"}},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#,
            alice.arn
        ));
        assert!(!secret_action_allowed(
            ACCOUNT,
            Some(deny.evaluate(&req)),
            &[policy(READ)],
            &req
        ));
    }

    #[test]
    fn another_account_needs_both_policies() {
        let empty = BTreeMap::new();
        let outsider = Principal {
            account_id: "444455556666".into(),
            arn: "arn:aws:iam::444455556666:user/outsider".into(),
            access_key_id: None,
        };
        let req = read_secret(&outsider, &empty);
        let grant = policy(
            r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}"#,
        );
        assert!(!secret_action_allowed(ACCOUNT, None, &[policy(READ)], &req));
        assert!(!secret_action_allowed(
            ACCOUNT,
            Some(grant.evaluate(&req)),
            &[],
            &req
        ));
        assert!(secret_action_allowed(
            ACCOUNT,
            Some(grant.evaluate(&req)),
            &[policy(READ)],
            &req
        ));
    }

    #[test]
    fn a_key_policy_can_require_the_secrets_manager() {
        let alice = user("alice");
        let key = policy(&format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"*"}},"Action":"kms:Decrypt","Resource":"*","Condition":{{"StringEquals":{{"kms:CallerAccount":"{ACCOUNT}","kms:ViaService":"secretsmanager.eu-west-1.amazonaws.com"}}}}}}"#
        ));
        let direct = condition_keys(&alice, None, None, None);
        let via = condition_keys(
            &alice,
            None,
            None,
            Some("secretsmanager.eu-west-1.amazonaws.com"),
        );
        let req = request(&alice, "kms:Decrypt", &direct);
        assert!(!resource_action_allowed(key.evaluate(&req), &[], &req));
        let req = request(&alice, "kms:Decrypt", &via);
        assert!(resource_action_allowed(key.evaluate(&req), &[], &req));
    }

    #[test]
    fn secret_conditions_see_the_stage_and_the_tags() {
        let alice = user("alice");
        let tags = [SecretTag {
            key: "team".into(),
            value: "data".into(),
        }];
        let only_current_of_data = [policy(
            r#"{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringEquals":{"secretsmanager:VersionStage":"AWSCURRENT","secretsmanager:ResourceTag/team":"data"}}}"#,
        )];
        for (stage, tags, allowed) in [
            ("AWSCURRENT", &tags[..], true),
            ("AWSPREVIOUS", &tags[..], false),
            ("AWSCURRENT", &[][..], false),
        ] {
            let keys = secret_condition_keys(&alice, None, tags, Some(stage));
            let req = read_secret(&alice, &keys);
            assert_eq!(
                secret_action_allowed(ACCOUNT, None, &only_current_of_data, &req),
                allowed,
                "{stage} {tags:?}"
            );
        }
    }
}
