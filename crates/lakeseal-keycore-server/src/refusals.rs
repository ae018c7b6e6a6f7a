//! Refusals made before an operation (no or a bad signature, a malformed or throttled request),
//! per source address: audited one by one up to a rate, then only counted, with one summary
//! record per address per interval.
//!
//! Anyone who can reach the port can send such requests, and each audit record is fsynced: left
//! unbounded they fill the disk and hold the audit writer (and with it every signed request)
//! busy. The first ones from an address are still audited whole, so a probe leaves its trace;
//! a flood leaves a count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter};
use lakeseal_keycore::{KeyCore, RequestContext};

use crate::Limit;
use crate::limits::nz;

/// The operation name of a summary record in the audit trail.
pub const SUMMARY_OPERATION: &str = "RefusalsNotAuditedOneByOne";

/// How refusals before an operation are audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusalAudit {
    /// Refusals audited one by one, per source address (an IPv6 address by its /64, which one
    /// client usually holds whole).
    pub per_address: Limit,
    /// Refusals audited one by one from all addresses together: what many addresses at once
    /// can add to the trail.
    pub overall: Limit,
    /// How often the refusals over those rates are written as one summary record per address.
    pub summary_interval: Duration,
}

impl Default for RefusalAudit {
    /// A probe's first 20 refusals in full, then one a second per address and 20 a second in
    /// all: at most about 1 MB of trail a minute, whatever arrives.
    fn default() -> Self {
        Self {
            per_address: Limit {
                per_second: nz(1),
                burst: nz(20),
            },
            overall: Limit {
                per_second: nz(20),
                burst: nz(200),
            },
            summary_interval: Duration::from_secs(10),
        }
    }
}

/// The per-address budgets and the refusals counted over them since the last summary.
#[derive(Debug)]
pub(crate) struct Refusals {
    budget: DefaultKeyedRateLimiter<IpAddr>,
    overall: DefaultDirectRateLimiter,
    /// Refusals not audited one by one, by source address, since the last summary.
    unaudited: Mutex<HashMap<IpAddr, u64>>,
}

impl Refusals {
    pub(crate) fn new(config: RefusalAudit) -> Self {
        Self {
            budget: DefaultKeyedRateLimiter::keyed(config.per_address.quota()),
            overall: DefaultDirectRateLimiter::direct(config.overall.quota()),
            unaudited: Mutex::default(),
        }
    }

    /// Whether a refusal from `source` gets its own audit record; if not, it is counted for the
    /// next summary. A request with no address (in-process) is always audited.
    pub(crate) fn audit_one_by_one(&self, source: Option<IpAddr>) -> bool {
        let Some(ip) = source.map(client) else {
            return true;
        };
        if self.budget.check_key(&ip).is_ok() && self.overall.check().is_ok() {
            return true;
        }
        metrics::counter!("lakeseal_keycore_refusals_unaudited_total").increment(1);
        *self
            .unaudited
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(ip)
            .or_default() += 1;
        false
    }

    /// Writes one summary record per address whose refusals went over its budget since the last
    /// call, and forgets idle budgets.
    pub(crate) async fn write_summaries(&self, core: &KeyCore) -> lakeseal_keycore::Result<()> {
        let counts = std::mem::take(
            &mut *self
                .unaudited
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        self.budget.retain_recent();
        for (ip, count) in counts {
            let ctx = RequestContext {
                source_ip: Some(ip),
                ..RequestContext::local(concat!(
                    "lakeseal-keycore-server/",
                    env!("CARGO_PKG_VERSION")
                ))
            };
            let message = format!(
                "{count} more requests from {ip} were refused before any operation and not \
                 audited one by one (over the per-address rate)"
            );
            core.audit_refusal(
                SUMMARY_OPERATION,
                None,
                &ctx,
                "ThrottlingException",
                &message,
            )
            .await?;
        }
        Ok(())
    }
}

/// The address a budget is kept for: an IPv4 address, or an IPv6 address's /64 (the least an
/// ISP hands one customer), so that one client cannot spread over fresh addresses.
fn client(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_are_per_address() {
        let refusals = Refusals::new(RefusalAudit {
            per_address: Limit::per_second(nz(2)),
            overall: Limit::per_second(nz(4)),
            summary_interval: Duration::from_secs(10),
        });
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert!(refusals.audit_one_by_one(Some(a)));
        assert!(refusals.audit_one_by_one(Some(a)));
        assert!(!refusals.audit_one_by_one(Some(a)));
        assert!(!refusals.audit_one_by_one(Some(a)));
        assert!(
            refusals.audit_one_by_one(Some(b)),
            "another address has its own"
        );
        assert!(
            refusals.audit_one_by_one(None),
            "in-process calls are always audited"
        );
        let counted = refusals.unaudited.lock().unwrap().clone();
        assert_eq!(counted, HashMap::from([(a, 2)]));
        // One /64 is one client, with one more in its budget; but the overall budget (4) is
        // spent by then.
        let (c, d): (IpAddr, IpAddr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        assert!(refusals.audit_one_by_one(Some(c)));
        assert!(
            !refusals.audit_one_by_one(Some(d)),
            "the overall budget is spent"
        );
        assert_eq!(client(d), client(c));
        assert_ne!(client(c), client("2001:db8:0:1::1".parse().unwrap()));
    }
}
