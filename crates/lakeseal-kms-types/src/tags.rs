//! `TagResource`, `UntagResource`, `ListResourceTags`.

use serde::{Deserialize, Serialize};

use crate::Tag;

/// `TagResource` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceRequest {
    /// The key.
    pub key_id: String,
    /// Tags to add or overwrite.
    pub tags: Vec<Tag>,
}

/// `UntagResource` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResourceRequest {
    /// The key.
    pub key_id: String,
    /// Keys of the tags to remove.
    pub tag_keys: Vec<String>,
}

/// `ListResourceTags` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListResourceTagsResponse {
    /// The tags.
    pub tags: Vec<Tag>,
    /// Always false: a key has at most 50 tags.
    pub truncated: bool,
}
