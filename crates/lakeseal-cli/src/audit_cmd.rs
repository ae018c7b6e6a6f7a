//! `lakeseal audit …`: the trail read beside the key core (verify, query, alerts) and its reset.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use lakeseal_keycore::audit::{self, ChainHead, Query};
use lakeseal_keycore::{KeyCore, Principal, RequestContext};
use serde_json::json;

use crate::args::AuditCmd;
use crate::output::Output;

pub(crate) async fn run(cmd: AuditCmd, dir: &Path, out: Output) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCmd::Verify => {
            let path = KeyCore::audit_path_in(dir);
            let anchor = KeyCore::audit_anchor_in(dir)?.unwrap_or(ChainHead::GENESIS);
            return match audit::verify_anchored(&path, anchor)? {
                Ok(v) => {
                    out.print(&json!({"Records": v.records, "Head": v.head, "Valid": true}))?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(broken) => {
                    out.print(&json!({
                        "Valid": false,
                        "Line": broken.line,
                        "Seq": broken.seq,
                        "Problem": broken.problem,
                    }))?;
                    eprintln!("error: {broken}");
                    Ok(ExitCode::FAILURE)
                }
            };
        }
        AuditCmd::Reset(_acknowledged) => {
            let who = Principal::account_root(&KeyCore::account_in(dir)?);
            let ctx = RequestContext::local(concat!("lakeseal-cli/", env!("CARGO_PKG_VERSION")));
            let reset = KeyCore::reset_audit(dir, &who, &ctx).await?;
            out.print(&json!({
                "Reset": true,
                "Problem": reset.problem,
                "BrokenTrailKeptAs": reset.moved_to.display().to_string(),
            }))?;
        }
        AuditCmd::Alerts(a) => {
            let config = crate::serve::server_config(a.config.as_deref())?;
            let since = a.since.as_deref().map(parse_since).transpose()?;
            let mut detector = audit::alerts::Detector::new(config.alerts);
            let mut alerts = Vec::new();
            let mut records = 0u64;
            audit::for_each(&KeyCore::audit_path_in(dir), |record| {
                records += 1;
                for alert in detector.observe(&record.event) {
                    let at = lakeseal_keycore::clock::parse_rfc3339(&alert.time);
                    if since.is_none_or(|s| at.is_some_and(|t| t >= s)) {
                        alerts.push(json!({ "Seq": record.seq, "Alert": alert }));
                    }
                }
            })?;
            out.print(&json!({ "RecordsRead": records, "Alerts": alerts }))?;
            if !alerts.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
        AuditCmd::Query(q) => {
            let since = q.since.as_deref().map(parse_since).transpose()?;
            // An alias names the key it points at now; records name keys by ARN.
            let key = match q.key {
                Some(alias) if alias.starts_with("alias/") => Some(
                    KeyCore::alias_target_in(dir, &alias)?
                        .with_context(|| format!("--key {alias}: no such alias"))?,
                ),
                other => other,
            };
            let records = audit::query(
                &KeyCore::audit_path_in(dir),
                &Query {
                    since,
                    operation: q.operation,
                    principal: q.principal,
                    key,
                },
            )?;
            out.print(&json!({ "Records": records }))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--since`, an RFC 3339 time.
fn parse_since(text: &str) -> anyhow::Result<lakeseal_keycore::clock::Millis> {
    lakeseal_keycore::clock::parse_rfc3339(text)
        .with_context(|| format!("--since {text:?} is not an RFC 3339 time"))
}
