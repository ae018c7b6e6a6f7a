//! `TagResource`, `UntagResource`, `ListResourceTags`.

use super::{Empty, KeyIdRequest};
use crate::model::Tag;
use crate::state::KeyOperation;
use crate::{Error, KeyCore, Principal, RequestContext, Result};

pub use lakeseal_kms_types::tags::{
    ListResourceTagsResponse, TagResourceRequest, UntagResourceRequest,
};

const MAX_TAGS: usize = 50;

pub(crate) fn check_tags(tags: &[Tag]) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(Error::Validation(format!(
            "at most {MAX_TAGS} tags per key"
        )));
    }
    for tag in tags {
        if tag.tag_key.is_empty() || tag.tag_key.len() > 128 || tag.tag_value.len() > 256 {
            return Err(Error::Validation(format!(
                "tag {:?}: keys are 1-128 characters, values at most 256",
                tag.tag_key
            )));
        }
    }
    Ok(())
}

impl KeyCore {
    /// Adds or overwrites tags.
    pub async fn tag_resource(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: TagResourceRequest,
    ) -> Result<Empty> {
        let mut call = self.call("TagResource", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            self.update_key(
                &req.key_id,
                KeyOperation::TagResource,
                &mut call,
                |record, _| {
                    for tag in &req.tags {
                        record.tags.retain(|t| t.tag_key != tag.tag_key);
                        record.tags.push(tag.clone());
                    }
                    check_tags(&record.tags)
                },
            )
            .map(|_| Empty {})
        });
        self.finish(call, result).await
    }

    /// Removes tags.
    pub async fn untag_resource(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: UntagResourceRequest,
    ) -> Result<Empty> {
        let mut call = self.call("UntagResource", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            self.update_key(
                &req.key_id,
                KeyOperation::UntagResource,
                &mut call,
                |record, _| {
                    record.tags.retain(|t| !req.tag_keys.contains(&t.tag_key));
                    Ok(())
                },
            )
            .map(|_| Empty {})
        });
        self.finish(call, result).await
    }

    /// Lists a key's tags.
    pub async fn list_resource_tags(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: KeyIdRequest,
    ) -> Result<ListResourceTagsResponse> {
        let mut call = self.call("ListResourceTags", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let state = self.read();
            let entry = self.resolve_for(
                &state,
                &req.key_id,
                KeyOperation::ListResourceTags,
                &mut call,
            )?;
            Ok(ListResourceTagsResponse {
                tags: entry.record.tags.clone(),
                truncated: false,
            })
        });
        self.finish(call, result).await
    }
}
