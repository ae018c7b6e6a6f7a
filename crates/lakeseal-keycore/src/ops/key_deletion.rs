//! `ScheduleKeyDeletion` and `CancelKeyDeletion`.
//!
//! A scheduled key waits out a window of 7 to 30 days (default 30), during which it can be
//! cancelled (back to `Disabled`). When the window ends the key core destroys the key material
//! of every version ([`KeyCore::maintain`]): every blob made under the key is unreadable from
//! then on.

use super::KeyIdRequest;
use crate::clock::DAY_MS;
use crate::state::{KeyOperation, KeyState};
use crate::{Error, KeyCore, Principal, RequestContext, Result};

pub use lakeseal_kms_types::key_deletion::{
    CancelKeyDeletionResponse, ScheduleKeyDeletionRequest, ScheduleKeyDeletionResponse,
};

/// The shortest and longest deletion windows, in days.
pub const PENDING_WINDOW_DAYS: std::ops::RangeInclusive<u32> = 7..=30;
const DEFAULT_PENDING_WINDOW_DAYS: u32 = 30;

impl KeyCore {
    /// Schedules a key's destruction.
    pub async fn schedule_key_deletion(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: ScheduleKeyDeletionRequest,
    ) -> Result<ScheduleKeyDeletionResponse> {
        let mut call = self.call("ScheduleKeyDeletion", who, ctx);
        let days = req
            .pending_window_in_days
            .unwrap_or(DEFAULT_PENDING_WINDOW_DAYS);
        let result = self.admit(who, ctx).await.and_then(|()| {
            if !PENDING_WINDOW_DAYS.contains(&days) {
                return Err(Error::Validation(format!(
                    "PendingWindowInDays {days} is out of range: use 7 to 30 days"
                )));
            }
            let record = self.update_key(
                &req.key_id,
                KeyOperation::ScheduleKeyDeletion,
                &mut call,
                |record, now| {
                    record.state = KeyState::PendingDeletion;
                    record.deletion_date = Some(now + i64::from(days) * DAY_MS);
                    record.pending_window_days = Some(days);
                    Ok(())
                },
            )?;
            Ok(ScheduleKeyDeletionResponse {
                key_id: self.arn(&record.key_id),
                deletion_date: record.deletion_date.ok_or_else(|| {
                    Error::Internal("a scheduled key has no deletion date".into())
                })?,
                key_state: record.state,
                pending_window_in_days: days,
            })
        });
        self.finish(call, result).await
    }

    /// Cancels a scheduled deletion; the key comes back `Disabled`.
    pub async fn cancel_key_deletion(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: KeyIdRequest,
    ) -> Result<CancelKeyDeletionResponse> {
        let mut call = self.call("CancelKeyDeletion", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            self.update_key(
                &req.key_id,
                KeyOperation::CancelKeyDeletion,
                &mut call,
                |record, _| {
                    record.state = KeyState::Disabled;
                    record.deletion_date = None;
                    record.pending_window_days = None;
                    Ok(())
                },
            )
            .map(|record| CancelKeyDeletionResponse {
                key_id: self.arn(&record.key_id),
            })
        });
        self.finish(call, result).await
    }
}
