//! PKCS#11 key stores whose PIN is a secret of this key core (`pin = "secret://…"`): the
//! scheduler reads the secret's current value, as the key core and audited, and hands it to the
//! store — while the store is not connected, and only when the secret has a new version since
//! the last read, so a wrong PIN is neither retried against the token nor read every tick.

use zeroize::Zeroizing;

use super::{Call, KeyCore};
use crate::{Error, Result};

impl KeyCore {
    /// Reads the PIN secret of every key store that waits for one, and connects those stores.
    pub async fn read_key_store_pins(&self) {
        for store in self.inner.key_stores.all() {
            let Some((secret, last_read)) = store.wants_secret_pin() else {
                continue;
            };
            let current = {
                let state = self.read();
                self.resolve_secret(&state, secret).ok().and_then(|e| {
                    e.record
                        .find_version(None, None)
                        .map(|(id, _)| id.to_owned())
                })
            };
            if current.is_some() && current == last_read {
                continue;
            }
            let (who, ctx) = self.service_caller("key-store-pin");
            let mut call = self.secrets_call("GetSecretValue", &who, &ctx);
            // The key core reading for itself: no policy governs it (it is audited).
            call.internal = true;
            let result = self.read_pin_secret(secret, &mut call);
            match self.finish(call, result).await {
                Ok((version, pin)) => {
                    crate::hsm::blocking(|| store.set_secret_pin(version, pin));
                }
                Err(e) => tracing::error!(
                    store = %store.config().id,
                    secret,
                    error = %e,
                    "cannot read the PIN secret of a PKCS#11 key store"
                ),
            }
        }
    }

    /// The secret's `AWSCURRENT` version id and its text, the PIN.
    fn read_pin_secret(
        &self,
        secret_id: &str,
        call: &mut Call<'_>,
    ) -> Result<(String, Zeroizing<String>)> {
        let state = self.read();
        let entry = self.resolve_secret(&state, secret_id)?;
        call.event.secret_arn = Some(entry.record.arn.clone());
        crate::ops::secrets::refuse_if_deleted(&entry.record)?;
        let (id, version) = entry
            .record
            .find_version(None, None)
            .ok_or_else(|| Error::NotFound("the PIN secret has no AWSCURRENT value".into()))?;
        if version.binary {
            return Err(Error::InvalidParameter(
                "a key store's PIN secret is a SecretString".into(),
            ));
        }
        let id = id.to_owned();
        call.event.version_id = Some(id.clone());
        let bytes = self.open_secret_value(&state, entry, &id, call)?;
        let text = std::str::from_utf8(bytes.expose_secret())
            .map_err(|_| Error::InvalidParameter("the PIN secret is not UTF-8".into()))?;
        Ok((
            id,
            Zeroizing::new(text.trim_end_matches(['\r', '\n']).to_owned()),
        ))
    }
}
