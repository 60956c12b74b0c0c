//! `toolgate policy explain TOOL [--args JSON] [--json]`: the decision the
//! policy in force makes for a call, and every rule that took part, without
//! starting any server.
//!
//! JSON shape (version 1): `{"version":1,"server","tool","tier","decision",
//! "by","reason","arguments":{"ok":bool,"argument","rule","problem"},
//! "considered":[{"id","origin","decision","matched","specificity","reason"}]}`.

use anyhow::Result;
use serde_json::{Value, json};

use crate::cli::PolicyExplainArgs;
use crate::config::{Config, Paths};
use crate::error::{UserError, exit};

/// (server, upstream tool name) for an exposed name or SERVER/TOOL.
fn resolve(config: &Config, name: &str) -> Result<(String, String)> {
    if let Some((server, tool)) = name.split_once('/') {
        if !config.servers.contains_key(server) {
            return Err(
                UserError::new(format!("no server named \"{server}\" is configured"))
                    .hint("`toolgate servers` lists the configured servers")
                    .into(),
            );
        }
        return Ok((server.to_string(), tool.to_string()));
    }
    let mut found = None;
    for (server, s) in &config.servers {
        let prefix = s.prefix(server);
        if prefix.is_empty() {
            continue;
        }
        if let Some(tool) = name.strip_prefix(&format!("{prefix}__")) {
            found = Some((server.clone(), tool.to_string()));
        }
    }
    found.ok_or_else(|| {
        UserError::new(format!("\"{name}\" names no configured server's tool"))
            .hint("use PREFIX__tool, or SERVER/TOOL with the server's own tool name")
            .into()
    })
}

pub fn explain(paths: &Paths, args: PolicyExplainArgs) -> Result<u8> {
    let _guard = crate::logging::init(paths, false, "warn");
    let config = super::load(paths)?.config;
    let arguments: Value = serde_json::from_str(&args.args).map_err(|e| {
        UserError::new(format!("--args is not valid JSON: {e}"))
            .hint("pass an object, such as --args '{\"path\":\"/tmp/notes.txt\"}'")
    })?;
    let (server, tool) = resolve(&config, &args.tool)?;
    let Some(policy) = crate::policy::current() else {
        super::say(
            "No policy is in force: every call is allowed (no [policy] in the org profile or config.toml).",
        );
        return Ok(exit::OK);
    };
    let definition: Option<Value> = crate::profile::govern::current()
        .pinned_definitions(&server)
        .and_then(|defs| defs.into_iter().find(|(n, _)| *n == tool))
        .and_then(|(_, d)| serde_json::from_str(&d).ok());
    let verdict = policy.decide(&server, &tool, &arguments, definition.as_ref());
    let constraint = policy
        .constraints(&server, &tool)
        .map(|c| c.check(&arguments));
    let args_doc = match &constraint {
        None | Some(Ok(())) => json!({"ok": true}),
        Some(Err(v)) => {
            json!({"ok": false, "argument": v.arg, "rule": v.rule, "problem": v.sentence})
        }
    };
    let doc = json!({
        "version": 1,
        "server": server,
        "tool": tool,
        "tier": verdict.tier,
        "decision": verdict.decision,
        "by": verdict.by,
        "reason": verdict.reason,
        "arguments": args_doc,
        "considered": verdict.considered,
    });
    if args.json {
        super::out(&serde_json::to_string_pretty(&doc)?);
        return Ok(exit::OK);
    }
    let mut text = format!(
        "{server}/{tool}: {} (by {})\n",
        verdict.decision.label(),
        verdict.rule_words()
    );
    if let Some(Err(v)) = &constraint {
        text.push_str(&format!("arguments: refused: {}\n", v.sentence));
    }
    text.push_str(&format!(
        "tier: {}\n",
        verdict
            .tier
            .map_or("none".to_string(), |t| format!("{t:?}").to_lowercase())
    ));
    if verdict.considered.is_empty() {
        text.push_str("no rule names this tool\n");
    }
    for c in &verdict.considered {
        text.push_str(&format!(
            "  {} rule {}: {}{} (specificity {})\n",
            c.origin,
            c.id,
            c.decision.label(),
            if c.matched {
                ""
            } else {
                ", its conditions do not hold"
            },
            c.specificity
        ));
    }
    super::out(&text);
    Ok(exit::OK)
}
