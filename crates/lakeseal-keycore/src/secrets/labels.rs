//! Staging labels, the secrets manager's core invariant: each label on at most one version;
//! `AWSCURRENT` on exactly one once a value exists; moving `AWSCURRENT` hands `AWSPREVIOUS` to
//! the version that had it; versions left without a label are pruned as AWS prunes them.
//!
//! Pure functions over a secret's versions, so each rule is tested on its own.

use std::collections::BTreeMap;

use lakeseal_kms_types::secrets::{AWSCURRENT, AWSPREVIOUS};

use crate::clock::{DAY_MS, Millis};
use crate::{Error, Result};

/// A secret keeps at most this many versions; unlabelled ones beyond it are pruned.
pub(crate) const MAX_VERSIONS: usize = 100;
/// The most labels one version may carry.
pub(crate) const MAX_LABELS_PER_VERSION: usize = 20;

/// What the label rules need to know of a version.
pub(crate) trait Labelled {
    fn stages(&self) -> &Vec<String>;
    fn stages_mut(&mut self) -> &mut Vec<String>;
    fn created(&self) -> Millis;
}

/// The version that carries `label`, if any.
pub(crate) fn holder<'a, V: Labelled>(
    versions: &'a BTreeMap<String, V>,
    label: &str,
) -> Option<&'a str> {
    versions
        .iter()
        .find(|(_, v)| v.stages().iter().any(|s| s == label))
        .map(|(id, _)| id.as_str())
}

/// A label name: 1–256 characters, no whitespace.
pub(crate) fn check_label(label: &str) -> Result<()> {
    if label.is_empty() || label.len() > 256 || label.chars().any(char::is_whitespace) {
        return Err(Error::InvalidParameter(format!(
            "the staging label {:?} must be 1-256 characters without whitespace",
            super::names::shown(label)
        )));
    }
    Ok(())
}

/// Puts `label` on `to`, taking it off whichever version had it. Moving `AWSCURRENT` gives
/// `AWSPREVIOUS` to the version that was current.
pub(crate) fn attach<V: Labelled>(
    versions: &mut BTreeMap<String, V>,
    label: &str,
    to: &str,
) -> Result<()> {
    let before = holder(versions, label).map(str::to_owned);
    if before.as_deref() == Some(to) {
        return Ok(());
    }
    let target = versions
        .get(to)
        .ok_or_else(|| Error::NotFound(format!("version {to} does not exist")))?;
    if target.stages().len() >= MAX_LABELS_PER_VERSION {
        return Err(Error::LimitExceeded(format!(
            "version {to} has {MAX_LABELS_PER_VERSION} staging labels, the most one may have"
        )));
    }
    if let Some(before) = &before {
        detach(versions, label, before);
    }
    if let Some(target) = versions.get_mut(to) {
        target.stages_mut().push(label.to_owned());
    }
    if label == AWSCURRENT
        && let Some(before) = before
    {
        if let Some(previous) = holder(versions, AWSPREVIOUS).map(str::to_owned) {
            detach(versions, AWSPREVIOUS, &previous);
        }
        if let Some(v) = versions.get_mut(&before) {
            v.stages_mut().push(AWSPREVIOUS.to_owned());
        }
    }
    Ok(())
}

/// Takes `label` off `from`.
pub(crate) fn detach<V: Labelled>(versions: &mut BTreeMap<String, V>, label: &str, from: &str) {
    if let Some(v) = versions.get_mut(from) {
        v.stages_mut().retain(|s| s != label);
    }
}

/// `UpdateSecretVersionStage`: moves `label` from `remove_from` to `move_to`, or adds it (no
/// version has it), or removes it (no `move_to`). The version that has the label must be named
/// as `remove_from`, so that a caller cannot take it from a version it did not mean to.
pub(crate) fn update_stage<V: Labelled>(
    versions: &mut BTreeMap<String, V>,
    label: &str,
    remove_from: Option<&str>,
    move_to: Option<&str>,
) -> Result<()> {
    check_label(label)?;
    for id in [remove_from, move_to].into_iter().flatten() {
        if !versions.contains_key(id) {
            return Err(Error::InvalidParameter(format!(
                "version {} does not exist",
                super::names::shown(id)
            )));
        }
    }
    let has = holder(versions, label).map(str::to_owned);
    match (&has, remove_from) {
        (Some(has), Some(named)) if has != named => {
            return Err(Error::InvalidParameter(format!(
                "the staging label {label} is attached to version {has}, not {named}"
            )));
        }
        (Some(has), None) if move_to != Some(has.as_str()) => {
            return Err(Error::InvalidParameter(format!(
                "the staging label {label} is attached to version {has}: name it in \
                 RemoveFromVersionId to move it"
            )));
        }
        (None, Some(named)) => {
            return Err(Error::InvalidParameter(format!(
                "version {named} does not have the staging label {label}"
            )));
        }
        _ => {}
    }
    match move_to {
        Some(to) => attach(versions, label, to),
        None if label == AWSCURRENT => Err(Error::InvalidParameter(
            "AWSCURRENT cannot be removed, only moved to another version".into(),
        )),
        None => {
            if let Some(from) = remove_from {
                detach(versions, label, from);
            }
            Ok(())
        }
    }
}

/// Removes versions without a label, oldest first, while the secret has more than
/// [`MAX_VERSIONS`] — never one made in the last 24 hours, as AWS. Returns the ids removed.
pub(crate) fn prune<V: Labelled>(versions: &mut BTreeMap<String, V>, now: Millis) -> Vec<String> {
    let mut unlabelled: Vec<(Millis, String)> = versions
        .iter()
        .filter(|(_, v)| v.stages().is_empty() && v.created() <= now - DAY_MS)
        .map(|(id, v)| (v.created(), id.clone()))
        .collect();
    unlabelled.sort();
    let over = versions.len().saturating_sub(MAX_VERSIONS);
    let removed: Vec<String> = unlabelled
        .into_iter()
        .take(over)
        .map(|(_, id)| id)
        .collect();
    for id in &removed {
        versions.remove(id);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default)]
    struct V(Vec<String>, Millis);

    impl Labelled for V {
        fn stages(&self) -> &Vec<String> {
            &self.0
        }
        fn stages_mut(&mut self) -> &mut Vec<String> {
            &mut self.0
        }
        fn created(&self) -> Millis {
            self.1
        }
    }

    fn secret(versions: &[(&str, &[&str])]) -> BTreeMap<String, V> {
        versions
            .iter()
            .map(|(id, s)| {
                (
                    id.to_string(),
                    V(s.iter().map(|s| s.to_string()).collect(), 0),
                )
            })
            .collect()
    }

    fn labels(versions: &BTreeMap<String, V>) -> Vec<(String, Vec<String>)> {
        versions
            .iter()
            .map(|(id, v)| {
                let mut s = v.0.clone();
                s.sort();
                (id.clone(), s)
            })
            .collect()
    }

    fn expect(pairs: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        pairs
            .iter()
            .map(|(id, s)| (id.to_string(), s.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn moving_current_hands_previous_to_the_version_that_had_it() {
        let mut v = secret(&[("a", &["AWSPREVIOUS"]), ("b", &["AWSCURRENT"]), ("c", &[])]);
        attach(&mut v, AWSCURRENT, "c").unwrap();
        assert_eq!(
            labels(&v),
            expect(&[("a", &[]), ("b", &["AWSPREVIOUS"]), ("c", &["AWSCURRENT"])])
        );
    }

    #[test]
    fn a_label_is_on_at_most_one_version() {
        let mut v = secret(&[("a", &["AWSPENDING", "blue"]), ("b", &["AWSCURRENT"])]);
        attach(&mut v, "blue", "b").unwrap();
        attach(&mut v, "AWSPENDING", "b").unwrap();
        assert_eq!(
            labels(&v),
            expect(&[("a", &[]), ("b", &["AWSCURRENT", "AWSPENDING", "blue"])])
        );
        // Putting a label where it already is changes nothing, AWSPREVIOUS included.
        attach(&mut v, AWSCURRENT, "b").unwrap();
        assert_eq!(holder(&v, AWSPREVIOUS), None);
    }

    #[test]
    fn update_stage_needs_the_version_that_has_the_label() {
        let mut v = secret(&[("a", &["AWSCURRENT"]), ("b", &[])]);
        let e = update_stage(&mut v, AWSCURRENT, None, Some("b")).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter(_)), "{e}");
        let e = update_stage(&mut v, AWSCURRENT, Some("b"), Some("b")).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter(_)), "{e}");
        update_stage(&mut v, AWSCURRENT, Some("a"), Some("b")).unwrap();
        assert_eq!(
            labels(&v),
            expect(&[("a", &["AWSPREVIOUS"]), ("b", &["AWSCURRENT"])])
        );
    }

    #[test]
    fn update_stage_adds_and_removes_other_labels_but_never_removes_current() {
        let mut v = secret(&[("a", &["AWSCURRENT"]), ("b", &[])]);
        update_stage(&mut v, "canary", None, Some("b")).unwrap();
        assert_eq!(holder(&v, "canary"), Some("b"));
        update_stage(&mut v, "canary", Some("b"), None).unwrap();
        assert_eq!(holder(&v, "canary"), None);
        let e = update_stage(&mut v, AWSCURRENT, Some("a"), None).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter(_)), "{e}");
        let e = update_stage(&mut v, "canary", Some("b"), None).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter(_)), "{e}");
        let e = update_stage(&mut v, "x", None, Some("nope")).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter(_)), "{e}");
        let e = update_stage(&mut v, "two words", None, Some("b")).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter(_)), "{e}");
    }

    #[test]
    fn a_version_carries_at_most_twenty_labels() {
        let mut v = secret(&[("a", &["AWSCURRENT"])]);
        for i in 1..MAX_LABELS_PER_VERSION {
            attach(&mut v, &format!("l{i}"), "a").unwrap();
        }
        let e = attach(&mut v, "one-more", "a").unwrap_err();
        assert!(matches!(e, Error::LimitExceeded(_)), "{e}");
    }

    #[test]
    fn pruning_removes_the_oldest_unlabelled_versions_over_the_limit_but_not_recent_ones() {
        let now = 10 * DAY_MS;
        let mut v: BTreeMap<String, V> = (0..MAX_VERSIONS + 3)
            .map(|i| (format!("v{i:03}"), V(Vec::new(), i as Millis)))
            .collect();
        v.get_mut("v000").unwrap().0.push(AWSCURRENT.into());
        // One unlabelled version is recent: it stays even though it is over the limit.
        v.insert("recent".into(), V(Vec::new(), now - 1));
        let removed = prune(&mut v, now);
        assert_eq!(removed, ["v001", "v002", "v003", "v004"]);
        assert_eq!(v.len(), MAX_VERSIONS);
        assert!(v.contains_key("v000") && v.contains_key("recent"));
        assert!(prune(&mut v, now).is_empty());
    }
}
