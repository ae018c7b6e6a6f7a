//! `TrentService.<Operation>`: decode the JSON body into the operation's request, call the
//! engine, encode its response.

use lakeseal_keycore::{KeyCore, Principal, RequestContext};

use crate::ApiError;
use crate::json::{decode, dispatch_to, encode, names};

/// Every KMS operation the key core serves, `"Name" => engine method`: one list for dispatch and
/// for the bounded `operation` label of metrics. Calls `$callback!` with its arguments and the list.
macro_rules! kms_operations {
    ($callback:ident!($($args:tt)*)) => {
        $callback!($($args)*
        "CreateKey" => create_key,
        "DescribeKey" => describe_key,
        "ListKeys" => list_keys,
        "EnableKey" => enable_key,
        "DisableKey" => disable_key,
        "ScheduleKeyDeletion" => schedule_key_deletion,
        "CancelKeyDeletion" => cancel_key_deletion,
        "RotateKeyOnDemand" => rotate_key_on_demand,
        "EnableKeyRotation" => enable_key_rotation,
        "DisableKeyRotation" => disable_key_rotation,
        "GetKeyRotationStatus" => get_key_rotation_status,
        "ListKeyRotations" => list_key_rotations,
        "CreateAlias" => create_alias,
        "UpdateAlias" => update_alias,
        "DeleteAlias" => delete_alias,
        "ListAliases" => list_aliases,
        "TagResource" => tag_resource,
        "UntagResource" => untag_resource,
        "ListResourceTags" => list_resource_tags,
        "GetKeyPolicy" => get_key_policy,
        "PutKeyPolicy" => put_key_policy,
        "ListKeyPolicies" => list_key_policies,
        "GenerateDataKey" => generate_data_key,
        "GenerateDataKeyWithoutPlaintext" => generate_data_key_without_plaintext,
        "Encrypt" => encrypt,
        "Decrypt" => decrypt,
        "ReEncrypt" => re_encrypt,
        "GenerateRandom" => generate_random,
        "Sign" => sign,
        "Verify" => verify,
        "GetPublicKey" => get_public_key,
        "GetParametersForImport" => get_parameters_for_import,
        "ImportKeyMaterial" => import_key_material,
        "DeleteImportedKeyMaterial" => delete_imported_key_material,
        "DescribeCustomKeyStores" => describe_custom_key_stores,
        )
    };
}

/// The names of every KMS operation served.
pub(crate) const OPERATIONS: &[&str] = kms_operations!(names!());

/// Runs one operation for an authenticated caller.
pub(crate) async fn dispatch(
    core: &KeyCore,
    who: &Principal,
    ctx: &RequestContext,
    operation: &str,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    kms_operations!(dispatch_to!(operation, core, who, ctx, body;))
}
