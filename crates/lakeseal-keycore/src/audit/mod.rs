//! The audit trail: an append-only, hash-chained log of every operation, made durable with
//! group commit before the operation is answered.
//!
//! Each line of `audit.log` is one JSON record:
//!
//! ```text
//! {"seq":7,"hash":"<hex>","event":{...}}
//! ```
//!
//! `hash = SHA-256(hash of the record before ‖ seq as u64 big-endian ‖ the event's exact bytes)`,
//! with 32 zero bytes before the first record. Editing, inserting or removing a
//! record breaks the chain at that record, which [`verify`] names.
//!
//! Callers hand finished events to one writer thread. It takes whatever has queued while the
//! previous batch was syncing, writes the batch with one `write` and one `fdatasync`, then
//! answers every caller in it: one sync serves many requests (group commit). If a write or sync
//! fails, the log fails closed: every later append is refused, and so is every operation.

pub mod alerts;
mod anchor;
mod read;

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

use lakeseal_envelope::EncryptionContext;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

pub(crate) use self::anchor::AnchorStore;
pub use self::read::{
    Query, Record, Verified, VerifyError, for_each, query, verify, verify_anchored,
};
use crate::{Error, Result};

/// One audited operation. Never holds key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// When the operation was answered, RFC 3339 UTC.
    pub time: String,
    /// The request id.
    pub request_id: String,
    /// The operation's AWS name, e.g. `GenerateDataKey`.
    pub operation: String,
    /// The API it came in through when not KMS: `secretsmanager`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The caller's ARN.
    pub principal: String,
    /// The access key that signed the request, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// The caller's address, if the request came over the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// The caller's user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The key core's region.
    pub region: String,
    /// The key the operation used (for `ReEncrypt`, the destination key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_arn: Option<String>,
    /// The key version that encrypted or decrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_version: Option<u32>,
    /// For `ReEncrypt`, the key the ciphertext came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_key_arn: Option<String>,
    /// The secret the operation named (never its value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_arn: Option<String>,
    /// The secret version read or written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// The staging label asked for or moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_stage: Option<String>,
    /// The encryption context of the request (not secret by design).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_context: Option<EncryptionContext>,
    /// `Success`, or the AWS error name of the refusal.
    pub result: String,
    /// The refusal's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// What the key core itself recorded (a reset of a broken trail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The most bytes of one caller-supplied string an audit record keeps; the rest is cut, and the
/// cut marked. Without a bound, anyone able to reach the server writes what they like, as much
/// as they like, into a durable file.
pub const MAX_AUDITED_STRING: usize = 256;
/// Error messages quote the caller's identifiers and say what to fix: a little more room.
pub const MAX_AUDITED_MESSAGE: usize = 1024;

impl AuditEvent {
    /// An event of `operation` by `who`, its outcome (time, result) not yet filled in.
    pub(crate) fn new(
        operation: &str,
        who: &crate::Principal,
        ctx: &crate::RequestContext,
        region: &str,
    ) -> Self {
        Self {
            time: String::new(),
            request_id: ctx.request_id.clone(),
            operation: operation.to_owned(),
            principal: who.arn.clone(),
            access_key_id: who.access_key_id.clone(),
            source_ip: ctx.source_ip.map(|ip| ip.to_string()),
            user_agent: ctx.user_agent.clone(),
            region: region.to_owned(),
            service: None,
            key_arn: None,
            key_version: None,
            secret_arn: None,
            version_id: None,
            version_stage: None,
            source_key_arn: None,
            encryption_context: None,
            result: String::new(),
            error_message: None,
            detail: None,
        }
    }

    /// Cuts every string a caller can choose (user agent, operation name, access key id,
    /// identifiers quoted in ARNs and messages) to a bounded length, marking each cut.
    pub(crate) fn bound_caller_strings(&mut self) {
        for field in [
            &mut self.operation,
            &mut self.principal,
            &mut self.request_id,
            &mut self.region,
        ] {
            cut(field, MAX_AUDITED_STRING);
        }
        for field in [
            &mut self.user_agent,
            &mut self.access_key_id,
            &mut self.source_ip,
            &mut self.key_arn,
            &mut self.source_key_arn,
            &mut self.version_id,
            &mut self.version_stage,
        ]
        .into_iter()
        .flatten()
        {
            cut(field, MAX_AUDITED_STRING);
        }
        // A secret's name may be 512 characters: its ARN gets the room of a message.
        for field in [&mut self.error_message, &mut self.secret_arn]
            .into_iter()
            .flatten()
        {
            cut(field, MAX_AUDITED_MESSAGE);
        }
    }
}

/// Cuts `text` to at most `max` bytes (at a character boundary) plus a marker saying how many
/// bytes were cut.
fn cut(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let removed = text.len() - end;
    text.truncate(end);
    text.push_str(&format!("...[cut {removed} bytes]"));
}

/// Whether the audit record is on disk before the operation is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `fdatasync` before answering (group commit). The only setting for production.
    #[default]
    Durable,
    /// Written, not synced: survives a crash of the process, not of the machine. For the
    /// benchmark that measures what durability costs.
    Unsynced,
}

const MAX_BATCH: usize = 4096;
const TAIL_CHUNK: u64 = 1 << 20;
const GENESIS: [u8; 32] = [0; 32];

/// A point of the chain: a record's sequence number and hash. The store keeps the last one
/// written (the anchor), so that a trail emptied, cut short or replaced is caught at start and
/// by [`verify_anchored`], not taken for a shorter valid chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    /// The record's sequence number; 0 before the first record.
    pub seq: u64,
    /// The record's hash; 32 zero bytes before the first record.
    pub hash: [u8; 32],
}

impl ChainHead {
    /// The head of an empty trail.
    pub const GENESIS: ChainHead = ChainHead {
        seq: 0,
        hash: GENESIS,
    };
}

struct Pending {
    event: Vec<u8>,
    done: oneshot::Sender<Result<u64, String>>,
}

/// The writer side of the audit trail.
#[derive(Debug)]
pub(crate) struct AuditLog {
    tx: Option<mpsc::Sender<Pending>>,
    writer: Option<JoinHandle<()>>,
    /// Moves the store's anchor to the writer's latest durable head, off the writer's path and
    /// at most every [`ANCHOR_INTERVAL`].
    anchorer: Option<JoinHandle<()>>,
}

impl AuditLog {
    /// Opens (or creates) the log, drops a torn last line left by a crash (never acknowledged),
    /// checks that it still holds the record the store anchored, and starts the writer thread,
    /// which moves the anchor after every batch it makes durable.
    ///
    /// A trail that no longer holds its anchor (emptied, cut short, replaced) is refused with
    /// [`Error::AuditBroken`]: nothing is appended to it until an operator acknowledges the
    /// break ([`crate::KeyCore::reset_audit`]).
    pub(crate) fn open(path: &Path, durability: Durability, anchor: AnchorStore) -> Result<Self> {
        let anchored = anchor.get()?;
        if let Some(anchored) = anchored
            && anchored.seq > 0
            && !path.exists()
        {
            // Not recreated: an empty new file would hide that records were written.
            return Err(Error::AuditBroken(format!(
                "the audit trail {} is missing, but the store recorded record {}",
                path.display(),
                anchored.seq
            )));
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)
            .map_err(Error::at(path))?;
        let head = recover_head(&mut file).map_err(|e| match e {
            Error::Io(error) => Error::IoAt {
                path: path.to_owned(),
                error,
            },
            other => other,
        })?;
        match anchored {
            // A data directory from before anchors: the trail as it is becomes the reference.
            None => anchor.set(head)?,
            Some(anchored) => {
                if let Some(problem) = anchor_problem(&mut file, head, anchored)? {
                    return Err(Error::AuditBroken(format!(
                        "the audit trail {} is broken: {problem}",
                        path.display()
                    )));
                }
            }
        }
        let (tx, rx) = mpsc::channel();
        let (heads, durable_heads) = mpsc::channel();
        let anchorer = std::thread::Builder::new()
            .name("lakeseal-audit-anchor".into())
            .spawn(move || anchor_loop(&durable_heads, &anchor))?;
        let writer = std::thread::Builder::new()
            .name("lakeseal-audit".into())
            .spawn(move || write_loop(file, head, rx, durability, &heads))?;
        Ok(Self {
            tx: Some(tx),
            writer: Some(writer),
            anchorer: Some(anchorer),
        })
    }

    /// Appends an event, its caller-supplied strings cut to their bounds; returns its sequence
    /// number once it is durable.
    pub(crate) async fn append(&self, mut event: AuditEvent) -> Result<u64> {
        event.bound_caller_strings();
        let event = serde_json::to_vec(&event)
            .map_err(|e| Error::Audit(format!("encoding an event: {e}")))?;
        let (done, acked) = oneshot::channel();
        self.tx
            .as_ref()
            .ok_or_else(|| Error::Audit("the audit log is closed".into()))?
            .send(Pending { event, done })
            .map_err(|_| Error::Audit("the audit writer has stopped".into()))?;
        acked
            .await
            .map_err(|_| Error::Audit("the audit writer has stopped".into()))?
            .map_err(Error::Audit)
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish what is queued and exit; its end closes
        // the anchorer's, which anchors the last head before it exits.
        self.tx.take();
        for thread in [self.writer.take(), self.anchorer.take()]
            .into_iter()
            .flatten()
        {
            let _ = thread.join();
        }
    }
}

fn write_loop(
    mut file: File,
    mut head: ChainHead,
    rx: mpsc::Receiver<Pending>,
    durability: Durability,
    heads: &mpsc::Sender<ChainHead>,
) {
    let mut batch: Vec<Pending> = Vec::new();
    let mut seqs: Vec<u64> = Vec::new();
    let mut buf = Vec::new();
    let mut failure: Option<String> = None;
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        if failure.is_none() {
            buf.clear();
            seqs.clear();
            for pending in &batch {
                head = chain(head, &pending.event);
                seqs.push(head.seq);
                write_line(&mut buf, head, &pending.event);
            }
            let written = file.write_all(&buf).and_then(|()| match durability {
                Durability::Durable => file.sync_data(),
                Durability::Unsynced => Ok(()),
            });
            if let Err(e) = written {
                tracing::error!(error = %e, "audit log write failed; refusing all operations");
                failure = Some(format!("writing the audit log failed: {e}"));
            } else {
                // The anchorer outlives this thread, so the send cannot fail.
                let _ = heads.send(head);
            }
        }
        for (i, pending) in batch.drain(..).enumerate() {
            let answer = match &failure {
                None => Ok(seqs[i]),
                Some(e) => Err(e.clone()),
            };
            // A caller that went away no longer needs its answer.
            let _ = pending.done.send(answer);
        }
    }
}

/// How often at most the anchor moves: each move is a SQLite commit, and one per audit batch
/// cost the in-process `GenerateDataKey` rate about 15 % on 2 cores.
const ANCHOR_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// Anchors the latest durable head the writer sends, at most every [`ANCHOR_INTERVAL`], and the
/// last one when the writer stops.
fn anchor_loop(heads: &mpsc::Receiver<ChainHead>, anchor: &AnchorStore) {
    let mut latest: Option<ChainHead> = None;
    let mut next_move = std::time::Instant::now();
    loop {
        let received = match latest {
            None => heads
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(_) => {
                heads.recv_timeout(next_move.saturating_duration_since(std::time::Instant::now()))
            }
        };
        let stopped = match received {
            Ok(head) => {
                latest = Some(head);
                if std::time::Instant::now() < next_move {
                    continue;
                }
                false
            }
            Err(mpsc::RecvTimeoutError::Timeout) => false,
            Err(mpsc::RecvTimeoutError::Disconnected) => true,
        };
        if let Some(head) = latest.take() {
            if let Err(e) = anchor.set(head) {
                // The records are durable; an anchor left behind only narrows what the next
                // start can check (it must still find the older anchor), so carry on.
                tracing::warn!(error = %e, "cannot move the audit anchor in the store");
            }
            next_move = std::time::Instant::now() + ANCHOR_INTERVAL;
        }
        if stopped {
            return;
        }
    }
}

fn chain(prev: ChainHead, event: &[u8]) -> ChainHead {
    let seq = prev.seq + 1;
    let mut h = Sha256::new();
    h.update(prev.hash);
    h.update(seq.to_be_bytes());
    h.update(event);
    ChainHead {
        seq,
        hash: h.finalize().into(),
    }
}

fn write_line(buf: &mut Vec<u8>, head: ChainHead, event: &[u8]) {
    buf.extend_from_slice(b"{\"seq\":");
    buf.extend_from_slice(head.seq.to_string().as_bytes());
    buf.extend_from_slice(b",\"hash\":\"");
    buf.extend_from_slice(hex::encode(head.hash).as_bytes());
    buf.extend_from_slice(b"\",\"event\":");
    buf.extend_from_slice(event);
    buf.extend_from_slice(b"}\n");
}

/// One line of the log as read back.
#[derive(Deserialize)]
struct Line<'a> {
    seq: u64,
    hash: &'a str,
    #[serde(borrow)]
    event: &'a RawValue,
}

/// Finds the last complete record; truncates a torn line after it.
fn recover_head(file: &mut File) -> Result<ChainHead> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(ChainHead::GENESIS);
    }
    let start = len.saturating_sub(TAIL_CHUNK);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    let complete = match tail.iter().rposition(|&b| b == b'\n') {
        Some(end) => end + 1,
        None if start == 0 => 0,
        None => return Err(Error::Audit("the last audit record is over 1 MiB".into())),
    };
    if complete < tail.len() {
        tracing::warn!(
            bytes = tail.len() - complete,
            "dropping a torn audit record left by a crash (it was never acknowledged)"
        );
        file.set_len(start + complete as u64)?;
        file.sync_all()?;
    }
    let body = &tail[..complete];
    let Some(last) = body
        .strip_suffix(b"\n")
        .map(|b| b.rsplit(|&c| c == b'\n').next().unwrap_or(b))
    else {
        return Ok(ChainHead::GENESIS);
    };
    let line: Line<'_> = serde_json::from_slice(last)
        .map_err(|e| Error::Audit(format!("the last audit record is corrupt: {e}")))?;
    let hash = decode_hash(line.hash)
        .ok_or_else(|| Error::Audit("the last audit record's hash is corrupt".into()))?;
    Ok(ChainHead {
        seq: line.seq,
        hash,
    })
}

/// Why a trail whose last record is `head` does not hold the `anchored` record, if it does not.
fn anchor_problem(file: &mut File, head: ChainHead, anchored: ChainHead) -> Result<Option<String>> {
    if anchored.seq == 0 {
        return Ok(None);
    }
    if head.seq < anchored.seq {
        return Ok(Some(format!(
            "it ends at record {} but the store recorded record {} (records were removed: the \
             file was emptied, cut short or replaced)",
            head.seq, anchored.seq
        )));
    }
    let found = if head.seq == anchored.seq {
        Some(head.hash)
    } else {
        file.seek(SeekFrom::Start(0))?;
        hash_of(BufReader::new(&mut *file), anchored.seq)?
    };
    Ok(match found {
        Some(hash) if hash == anchored.hash => None,
        Some(_) => Some(format!(
            "record {} is not the one the store recorded (the file was replaced or edited)",
            anchored.seq
        )),
        None => Some(format!(
            "record {} that the store recorded is missing",
            anchored.seq
        )),
    })
}

/// The hash written with record `seq`, if a line holds that record.
fn hash_of(reader: impl BufRead, seq: u64) -> Result<Option<[u8; 32]>> {
    for line in reader.split(b'\n') {
        let line = line?;
        if let Ok(record) = serde_json::from_slice::<Line<'_>>(&line)
            && record.seq == seq
        {
            return Ok(decode_hash(record.hash));
        }
    }
    Ok(None)
}

fn decode_hash(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}
