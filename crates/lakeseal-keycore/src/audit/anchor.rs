//! The audit trail's anchor in the key store's database: the last durable record's sequence
//! number and hash, so that a trail emptied, cut short or replaced is caught.

use std::path::Path;

use rusqlite::Connection;

use super::ChainHead;
use crate::store::{meta, set_meta};
use crate::{Error, Result};

/// The audit trail's anchor (its last durable record's sequence number and hash), kept in the
/// store's `meta` table through a connection of its own, used by the audit writer thread.
///
/// Its commits are not synced (`synchronous=NORMAL`): the anchor then survives a crash of the
/// process, and after a power loss may lag the trail (by up to the audit log's anchor interval
/// and what was not synced), which only narrows the check. A synced commit would add a second
/// `fsync` to every move.
#[derive(Debug)]
pub(crate) struct AnchorStore {
    conn: Connection,
}

const ANCHOR_SEQ: &str = "audit_seq";
const ANCHOR_HASH: &str = "audit_head";

impl AnchorStore {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Control-plane transactions hold the write lock briefly; wait for them.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(Self { conn })
    }

    /// The anchored head, or `None` in a data directory from before anchors.
    pub(crate) fn get(&self) -> Result<Option<ChainHead>> {
        let (Some(seq), Some(hash)) = (
            meta(&self.conn, ANCHOR_SEQ)?,
            meta(&self.conn, ANCHOR_HASH)?,
        ) else {
            return Ok(None);
        };
        let corrupt = || Error::Internal(format!("the store's audit anchor is corrupt ({seq})"));
        Ok(Some(ChainHead {
            seq: seq.parse().map_err(|_| corrupt())?,
            hash: hex::decode(&hash)
                .ok()
                .and_then(|h| h.try_into().ok())
                .ok_or_else(corrupt)?,
        }))
    }

    pub(crate) fn set(&self, head: ChainHead) -> Result<()> {
        set_meta(
            &self.conn,
            &[
                (ANCHOR_SEQ, &head.seq.to_string()),
                (ANCHOR_HASH, &hex::encode(head.hash)),
            ],
        )
    }
}
