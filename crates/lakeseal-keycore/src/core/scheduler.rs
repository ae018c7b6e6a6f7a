//! The key core's scheduler: on every tick it runs the due work (key rotation, erasure,
//! retiring rotated access keys), reads the PIN secret of a key store that waits for one, and
//! runs the secret rotations that are due, all measured on the key
//! core's injectable clock — so a test moves a manual clock and watches a rotation fire.
//!
//! Secret rotations run here and not on the request path: a rotator talks to other systems (a
//! database) and may take seconds.

use std::future::Future;
use std::time::Duration;

use super::KeyCore;
use crate::secrets::names;

impl KeyCore {
    /// Rotates every secret whose scheduled rotation is due, one after another. Returns how
    /// many completed; a failure is logged and audited, and tried again later.
    pub async fn rotate_due_secrets(&self) -> usize {
        let now = self.now_ms();
        let due: Vec<String> = self
            .read()
            .secrets
            .values()
            .filter(|e| e.record.deletion_date.is_none())
            .filter(|e| {
                e.record
                    .rotation
                    .as_ref()
                    .is_some_and(|r| r.enabled && r.next_rotation.is_some_and(|t| t <= now))
            })
            .map(|e| e.record.arn.clone())
            .collect();
        let mut rotated = 0;
        for arn in due {
            let result = match names::new_token() {
                Ok(token) => self.run_rotation(&arn, &token).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => rotated += 1,
                Err(e) => {
                    tracing::warn!(secret = %arn, error = %e, "scheduled rotation failed; it will be tried again");
                }
            }
        }
        rotated
    }

    /// Runs the scheduler every `tick` until `shutdown` resolves.
    pub async fn run_scheduler(&self, tick: Duration, shutdown: impl Future<Output = ()>) {
        let mut ticks = tokio::time::interval(tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = ticks.tick() => {}
            }
            if let Err(e) = self.maintain().await {
                tracing::warn!(error = %e, "scheduled key-core work failed");
            }
            self.read_key_store_pins().await;
            self.rotate_due_secrets().await;
        }
    }
}
