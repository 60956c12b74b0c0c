//! `toolgate call TOOL --args JSON [--json]`: one tool call through toolgate,
//! starting only the upstream the name points at where the name says which.

use anyhow::Result;
use serde_json::Value;

use crate::cli::CallArgs;
use crate::config::Paths;
use crate::error::{UserError, exit};
use crate::upstream::{CallError, describe_call_error};

pub fn run(paths: &Paths, args: CallArgs) -> Result<u8> {
    let _guard = crate::logging::init(paths, false, "warn");
    let config = super::load(paths)?.config;
    crate::auth::set_interactive(true);
    let arguments: Value = serde_json::from_str(&args.args).map_err(|e| {
        UserError::new(format!("--args is not valid JSON: {e}"))
            .hint("pass an object, such as --args '{\"timezone\":\"UTC\"}'")
    })?;
    if !arguments.is_object() {
        return Err(UserError::new("--args must be a JSON object")
            .hint("pass an object, such as --args '{\"timezone\":\"UTC\"}'")
            .into());
    }
    // Start only the servers whose prefix the name carries (and unprefixed
    // ones); all of them when none matches.
    let by_prefix: Vec<String> = config
        .enabled_servers()
        .filter(|(name, s)| {
            let p = s.prefix(name);
            p.is_empty() || args.tool.starts_with(&format!("{p}__"))
        })
        .map(|(n, _)| n.clone())
        .collect();
    // Like `serve`, a call whose record cannot be kept does not run
    // (unless the settings say to go on without the trail).
    let trail = open_trail(paths, &config.audit)?;
    let rt = super::runtime()?;
    rt.block_on(async {
        let filter = |u: &crate::upstream::Upstream| {
            by_prefix.is_empty() || by_prefix.iter().any(|n| *n == *u.name)
        };
        let mut manager = super::connect(&config, filter).await;
        if manager.catalog().names.resolve(&args.tool).is_none() && !by_prefix.is_empty() {
            manager.shutdown().await;
            manager = super::connect(&config, |_| true).await;
        }
        let started = std::time::Instant::now();
        let mut record = None;
        let result = call(&manager, &args.tool, arguments, &mut record).await;
        manager.shutdown().await;
        // The record is kept before the result is shown, as `serve` keeps
        // it before the IDE sees the answer.
        if let (Some(writer), Some(record)) = (&trail, record) {
            let text = match &result {
                Ok(v) => Ok(v.to_string()),
                Err(e) => Err(format!("{e:#}")),
            };
            let outcome = match &text {
                Ok(raw) => Ok(raw.as_str()),
                Err(why) => Err(why.as_str()),
            };
            let record = record.record(outcome, started);
            let kept = writer.commit_now(record);
            writer.close(std::time::Duration::from_secs(10));
            if let Err(e) = kept {
                if config.audit.fails_open() {
                    tracing::warn!("the call is not in the audit trail: {e}");
                } else {
                    return Err(UserError::problem(format!(
                        "the call ran, but its audit record could not be written ({e}), so its result is withheld"
                    ))
                    .hint("free disk space or repair toolgate's state folder (`toolgate doctor` says what is wrong)")
                    .into());
                }
            }
        }
        let result = result?;
        let is_error = result
            .get("isError")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if args.json {
            super::out(&serde_json::to_string_pretty(&result)?);
        } else {
            for item in result
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                match (
                    item.get("type").and_then(Value::as_str),
                    item.get("text").and_then(Value::as_str),
                ) {
                    (Some("text"), Some(text)) => super::out(text),
                    _ => super::out(&item.to_string()),
                }
            }
            if is_error {
                super::say("error: the tool reported an error (isError: true)");
            }
        }
        Ok(if is_error { exit::PROBLEM } else { exit::OK })
    })
}

/// The audit trail for this call, where auditing is on: `None` when it is
/// off, or broken and the settings fail open.
fn open_trail(
    paths: &Paths,
    audit: &crate::config::AuditSettings,
) -> Result<Option<std::sync::Arc<crate::audit::Writer>>> {
    if !audit.enabled {
        return Ok(None);
    }
    let db = paths.state_dir.join("audit.db");
    let fsync = audit.durability == crate::config::Durability::Fsync;
    match crate::audit::Writer::start(&db, fsync, 0) {
        Ok(w) => {
            crate::audit::set_keep_results(audit.results == crate::config::AuditResults::Redacted);
            Ok(Some(w))
        }
        Err(e) if audit.fails_open() => {
            tracing::warn!("{e:#}; the call goes on unrecorded (on_failure = \"continue\")");
            Ok(None)
        }
        Err(e) => Err(UserError::problem(format!(
            "the audit trail cannot be written ({e:#}), so the call is denied"
        ))
        .hint("free disk space or repair toolgate's state folder (`toolgate doctor` says what is wrong)")
        .into()),
    }
}

/// Makes the call; `record` gets what its audit record needs once the
/// call reaches policy.
async fn call(
    manager: &crate::upstream::manager::Manager,
    tool: &str,
    arguments: Value,
    record: &mut Option<crate::proxy::CliCall>,
) -> Result<Value> {
    let catalog = manager.catalog();
    let Some(target) = catalog.names.resolve(tool) else {
        let unavailable: Vec<String> = manager
            .upstreams()
            .iter()
            .filter(|u| u.config.enabled() && u.live().is_none())
            .map(|u| u.unavailable_reason())
            .collect();
        let mut msg = format!("no tool named \"{tool}\" is exposed");
        if !unavailable.is_empty() {
            msg.push_str(&format!(" (and {})", unavailable.join("; ")));
        }
        return Err(UserError::problem(msg)
            .hint("`toolgate tools` lists the exposed tool names")
            .into());
    };
    let up = &manager.upstreams()[target.upstream];
    let audit = record.insert(crate::proxy::CliCall::new(
        &up.name,
        &target.original,
        tool,
        &arguments,
    ));
    // The same policy as `serve` applies.
    if let Some(policy) = crate::policy::current() {
        let definition: Option<Value> = catalog
            .tools
            .iter()
            .find(|t| t.upstream == target.upstream && *t.original == *target.original)
            .and_then(|t| serde_json::from_str(&t.json).ok());
        let call = crate::policy::Call {
            server: &up.name,
            tool: &target.original,
            args: &arguments,
            definition: definition.as_ref(),
        };
        match policy.check_call(&call) {
            crate::policy::Outcome::Refuse {
                kind,
                message,
                hint,
                detail,
            } => {
                audit.refused(kind, &detail);
                return Err(UserError::problem(message).hint(hint).into());
            }
            crate::policy::Outcome::Hold { verdict } => {
                audit.decided("step-up", Some(&verdict.by));
                return Err(UserError::problem(format!(
                    "the call to \"{}\" of \"{}\" needs a person's approval (policy: {})",
                    target.original, up.name, verdict.by
                ))
                .hint("make the call through toolgate serve (your IDE) and approve it with toolgate approve")
                .into());
            }
            crate::policy::Outcome::Pass {
                observe: true,
                verdict,
            } => audit.decided("observe", verdict.as_ref().map(|v| v.by.as_str())),
            crate::policy::Outcome::Pass { .. } => {}
        }
    } else if let Some(crate::policy::Outcome::Refuse { message, hint, .. }) =
        crate::policy::protect::refusal(&up.name, &target.original, &arguments)
    {
        audit.decided("deny", Some("builtin.self-protection"));
        return Err(UserError::problem(message).hint(hint).into());
    }
    let live = up
        .live()
        .ok_or_else(|| {
            UserError::problem(up.unavailable_reason()).hint(
                "`toolgate servers` shows each server's state and last error; `toolgate doctor` says what to fix",
            )
        })?;
    let params =
        serde_json::json!({ "name": &*target.original, "arguments": arguments }).to_string();
    let sent = std::time::Instant::now();
    let reply = live
        .conn
        .call(
            "tools/call",
            |_| Some(params),
            None,
            up.config.timeout(),
            std::future::pending(),
        )
        .await;
    audit.upstream_latency(sent.elapsed());
    match reply {
        Ok(raw) => Ok(serde_json::from_str(raw.get())?),
        Err(e @ CallError::Rpc(_)) => Err(UserError::problem(describe_call_error(
            &up.name,
            "tools/call",
            &e,
        ))
        .hint("check the arguments against the tool's inputSchema (`toolgate tools --json` lists it)")
        .into()),
        Err(e) => Err(UserError::problem(describe_call_error(
            &up.name,
            &format!("the call to {}", target.original),
            &e,
        ))
        .hint(format!(
            "`toolgate servers` shows the server's state; a slow tool may need a longer servers.{}.timeout",
            up.name
        ))
        .into()),
    }
}
