//! Reading the audit trail back: verifying its hash chain (against the store's anchor), and
//! querying its records.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{AuditEvent, ChainHead, Line, chain, decode_hash};
use crate::clock::{Millis, parse_rfc3339};
use crate::{Error, Result};

/// The result of checking a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// How many records were checked.
    pub records: u64,
    /// The hash of the last record (hex), to compare with a copy kept elsewhere.
    pub head: String,
}

/// Why a log failed its check: the first record that does not fit the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit log broken at line {line} (record seq {seq:?}): {problem}")]
pub struct VerifyError {
    /// The 1-based line number.
    pub line: u64,
    /// The record's sequence number as written, if it could be read.
    pub seq: Option<u64>,
    /// What is wrong.
    pub problem: String,
}

/// Walks the whole chain of the log at `path`.
///
/// Detects an edited record (its hash no longer matches), an inserted or removed one (the
/// sequence or the chain breaks there). Removing records from the end leaves a shorter valid
/// chain: compare [`Verified::head`] with a copy kept elsewhere to catch that.
pub fn verify(path: &Path) -> Result<Result<Verified, VerifyError>> {
    verify_anchored(path, ChainHead::GENESIS)
}

/// Walks the whole chain like [`verify`], and also requires it to hold the record the store
/// anchored ([`crate::KeyCore::audit_anchor_in`]): a trail emptied, cut short, replaced or
/// missing while the store says records were written is broken.
pub fn verify_anchored(path: &Path, anchor: ChainHead) -> Result<Result<Verified, VerifyError>> {
    let file = match File::open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && anchor.seq > 0 => {
            return Ok(Err(VerifyError {
                line: 0,
                seq: None,
                problem: format!(
                    "the file is missing, but the store recorded record {}",
                    anchor.seq
                ),
            }));
        }
        other => other?,
    };
    let mut head = ChainHead::GENESIS;
    for (n, line) in (1u64..).zip(BufReader::new(file).split(b'\n')) {
        let line = line?;
        let broken = |seq: Option<u64>, problem: &str| VerifyError {
            line: n,
            seq,
            problem: problem.to_owned(),
        };
        let Ok(record) = serde_json::from_slice::<Line<'_>>(&line) else {
            return Ok(Err(broken(None, "not a well-formed audit record")));
        };
        if record.seq != head.seq + 1 {
            return Ok(Err(broken(
                Some(record.seq),
                &format!(
                    "expected seq {}: a record was inserted or removed",
                    head.seq + 1
                ),
            )));
        }
        let next = chain(head, record.event.get().as_bytes());
        if decode_hash(record.hash) != Some(next.hash) {
            return Ok(Err(broken(
                Some(record.seq),
                "hash mismatch: the record was edited, or one before it was removed",
            )));
        }
        if next.seq == anchor.seq && next.hash != anchor.hash {
            return Ok(Err(broken(
                Some(record.seq),
                "not the record the store recorded with this number: the trail was replaced",
            )));
        }
        head = next;
    }
    if head.seq < anchor.seq {
        return Ok(Err(VerifyError {
            line: head.seq + 1,
            seq: None,
            problem: format!(
                "the trail ends at record {} but the store recorded record {}: records were \
                 removed from its end (or the file was emptied or replaced)",
                head.seq, anchor.seq
            ),
        }));
    }
    Ok(Ok(Verified {
        records: head.seq,
        head: hex::encode(head.hash),
    }))
}

/// Which records [`query`] returns; every filter given must match.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Records at or after this time.
    pub since: Option<Millis>,
    /// Records of this operation (any case: `decrypt` finds `Decrypt`).
    pub operation: Option<String>,
    /// Records of this caller (ARN).
    pub principal: Option<String>,
    /// Records that name this key (key id or ARN) as key or source key.
    pub key: Option<String>,
}

/// A record as returned by [`query`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// The record's sequence number.
    pub seq: u64,
    /// The event.
    #[serde(flatten)]
    pub event: AuditEvent,
}

/// Reads the records of the log at `path` that match `filter`.
pub fn query(path: &Path, filter: &Query) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for_each(path, |record| {
        if matches(&record.event, filter) {
            out.push(record);
        }
    })?;
    Ok(out)
}

/// Hands every record of the log at `path` to `f`, in order, one at a time.
pub fn for_each(path: &Path, mut f: impl FnMut(Record)) -> Result<()> {
    let file = File::open(path)?;
    for line in BufReader::new(file).lines() {
        let line = line?;
        #[derive(Deserialize)]
        struct Owned {
            seq: u64,
            event: AuditEvent,
        }
        let record: Owned = serde_json::from_str(&line)
            .map_err(|e| Error::Audit(format!("an audit record is corrupt: {e}")))?;
        f(Record {
            seq: record.seq,
            event: record.event,
        });
    }
    Ok(())
}

fn matches(event: &AuditEvent, filter: &Query) -> bool {
    let names_key = |key: &str| {
        [&event.key_arn, &event.source_key_arn]
            .into_iter()
            .flatten()
            .any(|arn| arn == key || arn.ends_with(&format!("/{key}")))
    };
    filter
        .since
        .is_none_or(|since| parse_rfc3339(&event.time).is_some_and(|t| t >= since))
        && filter
            .operation
            .as_ref()
            .is_none_or(|op| event.operation.eq_ignore_ascii_case(op))
        && filter
            .principal
            .as_ref()
            .is_none_or(|p| event.principal == *p)
        && filter.key.as_deref().is_none_or(names_key)
}
