//! Key rotation: `RotateKeyOnDemand`, `EnableKeyRotation`, `DisableKeyRotation`,
//! `GetKeyRotationStatus`, `ListKeyRotations`.
//!
//! A rotation makes a new key version primary. Only the primary encrypts; every older version
//! still decrypts, found from the version number in the blob. Automatic rotation runs every
//! `RotationPeriodInDays` (90 to 2560, default 90) by the key core's clock.

use serde::{Deserialize, Serialize};

use super::{KeyIdRequest, page};
use crate::clock::{DAY_MS, Millis};
use crate::model::RotationType;
use crate::state::KeyOperation;
use crate::wire::{epoch_seconds, epoch_seconds_opt};
use crate::{Error, KeyCore, Principal, RequestContext, Result};

/// The shortest and longest automatic rotation periods, in days.
pub const ROTATION_PERIOD_DAYS: std::ops::RangeInclusive<u32> = 90..=2560;
const DEFAULT_ROTATION_PERIOD_DAYS: u32 = 90;

/// `RotateKeyOnDemand` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotateKeyOnDemandResponse {
    /// The key's ARN.
    pub key_id: String,
    /// Lakeseal's extension: the new primary version.
    pub key_version: u32,
}

/// `EnableKeyRotation` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnableKeyRotationRequest {
    /// The key.
    pub key_id: String,
    /// 90 to 2560; 90 when absent.
    #[serde(default)]
    pub rotation_period_in_days: Option<u32>,
}

/// `GetKeyRotationStatus` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyRotationStatusResponse {
    /// The key's ARN.
    pub key_id: String,
    /// Whether automatic rotation is on.
    pub key_rotation_enabled: bool,
    /// The period, when on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_period_in_days: Option<u32>,
    /// When it next runs, when on.
    #[serde(
        with = "epoch_seconds_opt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub next_rotation_date: Option<Millis>,
}

/// `ListKeyRotations` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyRotationsRequest {
    /// The key.
    pub key_id: String,
    /// Page size, 1 to 1000; 100 when absent.
    #[serde(default)]
    pub limit: Option<u32>,
    /// `NextMarker` of the previous page.
    #[serde(default)]
    pub marker: Option<String>,
}

/// One completed rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationsListEntry {
    /// The key's ARN.
    pub key_id: String,
    /// When.
    #[serde(with = "epoch_seconds")]
    pub rotation_date: Millis,
    /// `AUTOMATIC` or `ON_DEMAND`.
    pub rotation_type: RotationType,
    /// Lakeseal's extension: the version the rotation made primary.
    pub key_version: u32,
}

/// `ListKeyRotations` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyRotationsResponse {
    /// This page, oldest first.
    pub rotations: Vec<RotationsListEntry>,
    /// Where the next page starts, when `truncated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// Whether there is another page.
    pub truncated: bool,
}

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
