//! Per-key monitoring, as the seed's CloudMonitor: `lakeseal_keycore_key_requests_total` counts
//! the data-plane operations on each key by result (`Success`, the error's AWS name, or
//! `ThrottlingException` for requests the server's quota turned away).
//!
//! The `key_id` label only ever holds the id of a key this key core holds (or held: a
//! destroyed key's blobs still name it), never a string a caller sent, so the series stay as
//! many as the keys whatever arrives. A request that names no such key is not counted here; the
//! server's per-operation counters have it.

use lakeseal_kms_types::ErrorCode;

use crate::audit::AuditEvent;

/// The operations counted per key.
pub const KEY_OPERATIONS: [&str; 5] = [
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
];

/// The metric's name.
pub const KEY_REQUESTS: &str = "lakeseal_keycore_key_requests_total";

/// Counts an answered operation under the key its audit record names.
pub(crate) fn record(event: &AuditEvent) {
    let Some(operation) = key_operation(&event.operation) else {
        return;
    };
    let Some(key_id) = event.key_arn.as_deref().and_then(key_id_of_arn) else {
        return;
    };
    let result = if event.result == "Success" {
        "Success"
    } else {
        ErrorCode::from_name(&event.result).map_or("Error", ErrorCode::as_str)
    };
    count(key_id, operation, result);
}

/// Counts a request the server's quota refused before it reached the engine. `key_id` must be
/// one [`crate::KeyCore::held_key_id`] returned.
pub fn record_throttled(key_id: &str, operation: &str) {
    if let Some(operation) = key_operation(operation) {
        count(key_id, operation, ErrorCode::Throttling.as_str());
    }
}

fn count(key_id: &str, operation: &'static str, result: &'static str) {
    metrics::counter!(
        KEY_REQUESTS,
        "key_id" => key_id.to_owned(),
        "operation" => operation,
        "result" => result,
    )
    .increment(1);
}

fn key_operation(operation: &str) -> Option<&'static str> {
    KEY_OPERATIONS.iter().find(|o| **o == operation).copied()
}

/// `arn:aws:kms:<region>:<account>:key/<id>` → `<id>`.
fn key_id_of_arn(arn: &str) -> Option<&str> {
    arn.rsplit_once(":key/").map(|(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_key_arns_give_a_label() {
        assert_eq!(
            key_id_of_arn("arn:aws:kms:eu-west-1:111122223333:key/1234abcd"),
            Some("1234abcd")
        );
        assert_eq!(key_id_of_arn("arn:aws:iam::111122223333:role/stage"), None);
        assert_eq!(key_operation("GenerateDataKey"), Some("GenerateDataKey"));
        assert_eq!(key_operation("CreateKey"), None);
    }
}
