//! `EnableKey` and `DisableKey`: immediate and reversible.

use super::{Empty, KeyIdRequest};
use crate::state::{KeyOperation, KeyState};
use crate::{KeyCore, Principal, RequestContext, Result};

impl KeyCore {
    /// Enables a disabled key.
    pub async fn enable_key(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: KeyIdRequest,
    ) -> Result<Empty> {
        self.set_enabled(who, ctx, req, true).await
    }

    /// Disables a key: every cryptographic operation with it is refused from now on.
    pub async fn disable_key(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: KeyIdRequest,
    ) -> Result<Empty> {
        self.set_enabled(who, ctx, req, false).await
    }

    async fn set_enabled(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: KeyIdRequest,
        enabled: bool,
    ) -> Result<Empty> {
        let (name, op, to) = if enabled {
            ("EnableKey", KeyOperation::EnableKey, KeyState::Enabled)
        } else {
            ("DisableKey", KeyOperation::DisableKey, KeyState::Disabled)
        };
        let mut call = self.call(name, who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            self.update_key(&req.key_id, op, &mut call, |record, _| {
                record.state = to;
                Ok(())
            })
            .map(|_| Empty {})
        });
        self.finish(call, result).await
    }
}
