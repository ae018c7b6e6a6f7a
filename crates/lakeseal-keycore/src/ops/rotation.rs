//! Key rotation: `RotateKeyOnDemand`, `EnableKeyRotation`, `DisableKeyRotation`,
//! `GetKeyRotationStatus`, `ListKeyRotations`.
//!
//! A rotation makes a new key version primary. Only the primary encrypts; every older version
//! still decrypts, found from the version number in the blob. Automatic rotation runs every
//! `RotationPeriodInDays` (90 to 2560, default 90) by the key core's clock.

use super::{KeyIdRequest, page};
use crate::clock::DAY_MS;
use crate::model::RotationType;
use crate::state::KeyOperation;
use crate::{Error, KeyCore, Principal, RequestContext, Result};

pub use lakeseal_kms_types::rotation::{
    EnableKeyRotationRequest, GetKeyRotationStatusResponse, ListKeyRotationsRequest,
    ListKeyRotationsResponse, RotateKeyOnDemandResponse, RotationsListEntry,
};

/// The shortest and longest automatic rotation periods, in days.
pub const ROTATION_PERIOD_DAYS: std::ops::RangeInclusive<u32> = 90..=2560;
const DEFAULT_ROTATION_PERIOD_DAYS: u32 = 90;

impl KeyCore {
    /// Makes a new primary version now.
    pub async fn rotate_key_on_demand(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: KeyIdRequest,
    ) -> Result<RotateKeyOnDemandResponse> {
        let mut call = self.call("RotateKeyOnDemand", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let record = self.rotate(
                &req.key_id,
                KeyOperation::RotateKeyOnDemand,
                RotationType::OnDemand,
                &mut call,
            )?;
            Ok(RotateKeyOnDemandResponse {
                key_id: self.arn(&record.key_id),
                key_version: record.primary_version,
            })
        });
        self.finish(call, result).await
    }

    /// Turns automatic rotation on (or changes its period).
    pub async fn enable_key_rotation(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: EnableKeyRotationRequest,
    ) -> Result<super::Empty> {
        let mut call = self.call("EnableKeyRotation", who, ctx);
        let days = req
            .rotation_period_in_days
            .unwrap_or(DEFAULT_ROTATION_PERIOD_DAYS);
        let result = self.admit(who, ctx).await.and_then(|()| {
            if !ROTATION_PERIOD_DAYS.contains(&days) {
                return Err(Error::Validation(format!(
                    "RotationPeriodInDays {days} is out of range: use 90 to 2560 days"
                )));
            }
            self.update_key(
                &req.key_id,
                KeyOperation::EnableKeyRotation,
                &mut call,
                |record, now| {
                    record.rotation_period_days = Some(days);
                    record.next_rotation = Some(now + i64::from(days) * DAY_MS);
                    Ok(())
                },
            )?;
            Ok(super::Empty {})
        });
        self.finish(call, result).await
    }

    /// Turns automatic rotation off.
    pub async fn disable_key_rotation(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: KeyIdRequest,
    ) -> Result<super::Empty> {
        let mut call = self.call("DisableKeyRotation", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            self.update_key(
                &req.key_id,
                KeyOperation::DisableKeyRotation,
                &mut call,
                |record, _| {
                    record.rotation_period_days = None;
                    record.next_rotation = None;
                    Ok(())
                },
            )?;
            Ok(super::Empty {})
        });
        self.finish(call, result).await
    }

    /// Whether automatic rotation is on, and when it next runs.
    pub async fn get_key_rotation_status(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: KeyIdRequest,
    ) -> Result<GetKeyRotationStatusResponse> {
        let mut call = self.call("GetKeyRotationStatus", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let state = self.read();
            let entry = self.resolve_for(
                &state,
                &req.key_id,
                KeyOperation::GetKeyRotationStatus,
                &mut call,
            )?;
            let r = &entry.record;
            Ok(GetKeyRotationStatusResponse {
                key_id: self.arn(&r.key_id),
                key_rotation_enabled: r.rotation_period_days.is_some(),
                rotation_period_in_days: r.rotation_period_days,
                next_rotation_date: r.next_rotation,
            })
        });
        self.finish(call, result).await
    }

    /// The rotations a key has had, oldest first.
    pub async fn list_key_rotations(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: ListKeyRotationsRequest,
    ) -> Result<ListKeyRotationsResponse> {
        let mut call = self.call("ListKeyRotations", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let state = self.read();
            let entry = self.resolve_for(
                &state,
                &req.key_id,
                KeyOperation::ListKeyRotations,
                &mut call,
            )?;
            let arn = self.arn(&entry.record.key_id);
            // Zero-padded so that the names sort in version order.
            let named: Vec<(String, RotationsListEntry)> = entry
                .record
                .rotations
                .iter()
                .map(|r| {
                    (
                        format!("{:010}", r.version),
                        RotationsListEntry {
                            key_id: arn.clone(),
                            rotation_date: r.date,
                            rotation_type: r.kind,
                            key_version: r.version,
                        },
                    )
                })
                .collect();
            let (rotations, next_marker) = page(
                named.iter().map(|(n, e)| (n, e.clone())),
                req.marker.as_deref(),
                req.limit,
            )?;
            Ok(ListKeyRotationsResponse {
                rotations,
                truncated: next_marker.is_some(),
                next_marker,
            })
        });
        self.finish(call, result).await
    }
}
