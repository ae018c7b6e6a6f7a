//! `secretsmanager.<Operation>`: the AWS Secrets Manager JSON 1.1 protocol, on the same listener
//! as KMS, told apart by the `X-Amz-Target` prefix and signed for the service `secretsmanager`.
//! Decodes the body into the operation's request, calls the engine, encodes its response.

use lakeseal_keycore::{KeyCore, Principal, RequestContext};

use crate::ApiError;
use crate::json::{decode, dispatch_to, encode, names};

/// Every Secrets Manager operation the key core serves, `"Name" => engine method`.
macro_rules! secrets_operations {
    ($callback:ident!($($args:tt)*)) => {
        $callback!($($args)*
        "CreateSecret" => create_secret,
        "GetSecretValue" => get_secret_value,
        "BatchGetSecretValue" => batch_get_secret_value,
        "PutSecretValue" => put_secret_value,
        "UpdateSecret" => update_secret,
        "UpdateSecretVersionStage" => update_secret_version_stage,
        "DescribeSecret" => describe_secret,
        "ListSecrets" => list_secrets,
        "ListSecretVersionIds" => list_secret_version_ids,
        "TagResource" => tag_secret,
        "UntagResource" => untag_secret,
        "DeleteSecret" => delete_secret,
        "RestoreSecret" => restore_secret,
        "PutResourcePolicy" => put_resource_policy,
        "GetResourcePolicy" => get_resource_policy,
        "DeleteResourcePolicy" => delete_resource_policy,
        "RotateSecret" => rotate_secret,
        "CancelRotateSecret" => cancel_rotate_secret,
        )
    };
}

/// The names of every Secrets Manager operation served.
pub(crate) const OPERATIONS: &[&str] = secrets_operations!(names!());

/// Runs one operation for an authenticated caller.
pub(crate) async fn dispatch(
    core: &KeyCore,
    who: &Principal,
    ctx: &RequestContext,
    operation: &str,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    secrets_operations!(dispatch_to!(operation, core, who, ctx, body;))
}
