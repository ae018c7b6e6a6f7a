//! Key states and the table of what each state allows.

use crate::{Error, Result};

pub use lakeseal_kms_types::KeyState;

/// The operations whose outcome depends on the state of the key they name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum KeyOperation {
    DescribeKey,
    EnableKey,
    DisableKey,
    ScheduleKeyDeletion,
    CancelKeyDeletion,
    Encrypt,
    Decrypt,
    ReEncryptFrom,
    ReEncryptTo,
    GenerateDataKey,
    GenerateDataKeyWithoutPlaintext,
    RotateKeyOnDemand,
    EnableKeyRotation,
    DisableKeyRotation,
    GetKeyRotationStatus,
    ListKeyRotations,
    CreateAlias,
    UpdateAlias,
    TagResource,
    UntagResource,
    ListResourceTags,
    GetKeyPolicy,
    PutKeyPolicy,
    ListKeyPolicies,
    Sign,
    Verify,
    GetPublicKey,
    GetParametersForImport,
    ImportKeyMaterial,
    DeleteImportedKeyMaterial,
}

impl KeyOperation {
    /// The operation's action in policies (`kms:GenerateDataKey` …).
    pub fn action(self) -> &'static str {
        match self {
            KeyOperation::DescribeKey => "kms:DescribeKey",
            KeyOperation::EnableKey => "kms:EnableKey",
            KeyOperation::DisableKey => "kms:DisableKey",
            KeyOperation::ScheduleKeyDeletion => "kms:ScheduleKeyDeletion",
            KeyOperation::CancelKeyDeletion => "kms:CancelKeyDeletion",
            KeyOperation::Encrypt => "kms:Encrypt",
            KeyOperation::Decrypt => "kms:Decrypt",
            KeyOperation::ReEncryptFrom => "kms:ReEncryptFrom",
            KeyOperation::ReEncryptTo => "kms:ReEncryptTo",
            KeyOperation::GenerateDataKey => "kms:GenerateDataKey",
            KeyOperation::GenerateDataKeyWithoutPlaintext => "kms:GenerateDataKeyWithoutPlaintext",
            KeyOperation::RotateKeyOnDemand => "kms:RotateKeyOnDemand",
            KeyOperation::EnableKeyRotation => "kms:EnableKeyRotation",
            KeyOperation::DisableKeyRotation => "kms:DisableKeyRotation",
            KeyOperation::GetKeyRotationStatus => "kms:GetKeyRotationStatus",
            KeyOperation::ListKeyRotations => "kms:ListKeyRotations",
            KeyOperation::CreateAlias => "kms:CreateAlias",
            KeyOperation::UpdateAlias => "kms:UpdateAlias",
            KeyOperation::TagResource => "kms:TagResource",
            KeyOperation::UntagResource => "kms:UntagResource",
            KeyOperation::ListResourceTags => "kms:ListResourceTags",
            KeyOperation::GetKeyPolicy => "kms:GetKeyPolicy",
            KeyOperation::PutKeyPolicy => "kms:PutKeyPolicy",
            KeyOperation::ListKeyPolicies => "kms:ListKeyPolicies",
            KeyOperation::Sign => "kms:Sign",
            KeyOperation::Verify => "kms:Verify",
            KeyOperation::GetPublicKey => "kms:GetPublicKey",
            KeyOperation::GetParametersForImport => "kms:GetParametersForImport",
            KeyOperation::ImportKeyMaterial => "kms:ImportKeyMaterial",
            KeyOperation::DeleteImportedKeyMaterial => "kms:DeleteImportedKeyMaterial",
        }
    }
}

/// What a state does with an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The operation proceeds.
    Allowed,
    /// Refused with `DisabledException`.
    Disabled,
    /// Refused with `KMSInvalidStateException`.
    InvalidState,
}

use KeyOperation as Op;
use Outcome::{Allowed as OK, Disabled as DIS, InvalidState as INV};

/// The state table, after the AWS KMS "key states" table: one row per operation, with the
/// outcome in `Enabled`, `Disabled`, `PendingDeletion` and `PendingImport`.
pub const STATE_TABLE: &[(KeyOperation, [Outcome; 4])] = &[
    //                                 Enabled Disabled PendingDeletion PendingImport
    (Op::DescribeKey, [OK, OK, OK, OK]),
    (Op::EnableKey, [OK, OK, INV, INV]),
    (Op::DisableKey, [OK, OK, INV, INV]),
    (Op::ScheduleKeyDeletion, [OK, OK, INV, OK]),
    (Op::CancelKeyDeletion, [INV, INV, OK, INV]),
    (Op::Encrypt, [OK, DIS, INV, INV]),
    (Op::Decrypt, [OK, DIS, INV, INV]),
    (Op::ReEncryptFrom, [OK, DIS, INV, INV]),
    (Op::ReEncryptTo, [OK, DIS, INV, INV]),
    (Op::GenerateDataKey, [OK, DIS, INV, INV]),
    (Op::GenerateDataKeyWithoutPlaintext, [OK, DIS, INV, INV]),
    (Op::RotateKeyOnDemand, [OK, DIS, INV, INV]),
    (Op::EnableKeyRotation, [OK, DIS, INV, INV]),
    (Op::DisableKeyRotation, [OK, DIS, INV, INV]),
    (Op::GetKeyRotationStatus, [OK, OK, OK, OK]),
    (Op::ListKeyRotations, [OK, OK, OK, OK]),
    (Op::CreateAlias, [OK, OK, INV, OK]),
    (Op::UpdateAlias, [OK, OK, INV, OK]),
    (Op::TagResource, [OK, OK, INV, OK]),
    (Op::UntagResource, [OK, OK, INV, OK]),
    (Op::ListResourceTags, [OK, OK, OK, OK]),
    (Op::GetKeyPolicy, [OK, OK, OK, OK]),
    (Op::PutKeyPolicy, [OK, OK, INV, OK]),
    (Op::ListKeyPolicies, [OK, OK, OK, OK]),
    (Op::Sign, [OK, DIS, INV, INV]),
    (Op::Verify, [OK, DIS, INV, INV]),
    (Op::GetPublicKey, [OK, DIS, INV, INV]),
    (Op::GetParametersForImport, [OK, OK, INV, OK]),
    (Op::ImportKeyMaterial, [INV, INV, INV, OK]),
    (Op::DeleteImportedKeyMaterial, [OK, OK, INV, OK]),
];

/// The outcome of `op` on a key in `state`, from [`STATE_TABLE`].
pub fn outcome(state: KeyState, op: KeyOperation) -> Outcome {
    let column = match state {
        KeyState::Enabled => 0,
        KeyState::Disabled => 1,
        KeyState::PendingDeletion => 2,
        KeyState::PendingImport => 3,
    };
    STATE_TABLE
        .iter()
        .find(|(row, _)| *row == op)
        .map_or(Outcome::InvalidState, |(_, cells)| cells[column])
}

/// Refuses `op` on the key `arn` in `state` with the error the table names.
pub(crate) fn check(state: KeyState, op: KeyOperation, arn: &str) -> Result<()> {
    match outcome(state, op) {
        Outcome::Allowed => Ok(()),
        Outcome::Disabled => Err(Error::Disabled(format!("{arn} is disabled"))),
        Outcome::InvalidState => Err(Error::InvalidState(format!(
            "{arn} is {} and does not allow {op:?}",
            state.as_str()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_one_row() {
        for (i, (op, _)) in STATE_TABLE.iter().enumerate() {
            assert!(
                STATE_TABLE[i + 1..].iter().all(|(other, _)| other != op),
                "{op:?} twice"
            );
        }
    }
}
