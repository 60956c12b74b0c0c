//! `toolgate servers [--json]`: each upstream's transport, state, tool count
//! and last error, found by starting each enabled server the way `serve`
//! does.
//!
//! JSON shape (version 1):
//! `{"version":1,"config":PATH|null,"servers":[{"name","transport","enabled",
//! "pins","state","tools","protocol_version","startup_ms","target","error"}]}`
//! where `pins` is, where an org profile pins the server's tools,
//! `{"pinned","drifted":[TOOL...],"unpinned"}` (else null); `state` is one of
//! `ready`, `failed`, `disabled`; `target` is the
//! command line or URL; `serve` is what a running or past `toolgate serve`
//! last recorded for that server, `{"state","last_error","at"}`, or null.

use anyhow::Result;
use serde_json::json;

use crate::cli::ServersArgs;
use crate::config::{Paths, Source};
use crate::error::exit;
use crate::upstream::State;

pub fn run(paths: &Paths, args: ServersArgs) -> Result<u8> {
    let _guard = crate::logging::init(paths, false, "warn");
    let loaded = super::load(paths)?;
    let rows = rows(paths, &loaded.config)?;
    let failed = rows.iter().any(|r| r["state"] == "failed");
    if args.json {
        let config_path = match &loaded.source {
            Source::File(p) => json!(p.display().to_string()),
            Source::Embedded => json!(null),
        };
        super::out(&serde_json::to_string_pretty(
            &json!({ "version": 1, "config": config_path, "servers": rows }),
        )?);
    } else if rows.is_empty() {
        super::say("No servers configured. Add one with: toolgate add NAME -- COMMAND [ARGS...]");
    } else {
        let mut table = vec![
            ["NAME", "TRANSPORT", "STATE", "TOOLS", "DETAIL"]
                .map(String::from)
                .to_vec(),
        ];
        for r in &rows {
            let detail = match r["error"].as_str() {
                Some(e) => e.to_owned(),
                None => match (r["protocol_version"].as_str(), r["startup_ms"].as_u64()) {
                    (Some(v), Some(ms)) => format!(
                        "{} (protocol {v}, started in {ms} ms)",
                        r["target"].as_str().unwrap_or("")
                    ),
                    _ => r["target"].as_str().unwrap_or("").to_owned(),
                },
            };
            table.push(vec![
                r["name"].as_str().unwrap_or("").to_owned(),
                r["transport"].as_str().unwrap_or("").to_owned(),
                r["state"].as_str().unwrap_or("").to_owned(),
                r["tools"].as_u64().map_or("-".into(), |n| n.to_string()),
                detail,
            ]);
        }
        super::out(&format_table(&table));
    }
    Ok(if failed { exit::PROBLEM } else { exit::OK })
}

/// Starts every enabled server the way `serve` does and describes each
/// (the `servers` array of the JSON shape above).
pub fn rows(paths: &Paths, config: &crate::config::Config) -> Result<Vec<serde_json::Value>> {
    let rt = super::runtime()?;
    let rows = rt.block_on(async {
        let manager = super::connect(config, |_| true).await;
        let rows: Vec<_> = manager
            .upstreams()
            .iter()
            .map(|u| {
                let state = u.state();
                let live = u.live();
                let error = match &state {
                    State::Restarting { error, .. }
                    | State::Failed(error)
                    | State::NeedsLogin(error)
                    | State::Blocked(error) => Some(error.clone()),
                    State::Starting | State::Idle if u.config.enabled() => Some(format!(
                        "did not finish starting within {}",
                        crate::util::format_duration(u.config.startup_timeout())
                    )),
                    _ => None,
                };
                let target = match (&u.config.command, &u.config.url) {
                    (Some(c), _) => std::iter::once(c.as_str())
                        .chain(u.config.args.iter().map(String::as_str))
                        .collect::<Vec<_>>()
                        .join(" "),
                    (None, Some(url)) => url.clone(),
                    _ => String::new(),
                };
                // Where a profile pins this server's tools: how many match.
                let gov = crate::profile::govern::current();
                let pins = live.as_ref().and_then(|_| {
                    let tools = u.tools();
                    let mut pinned = 0;
                    let mut drifted = Vec::new();
                    let mut unpinned = 0;
                    for t in tools.iter() {
                        match gov.tool_state(&u.name, &t.name, t.raw.get()) {
                            crate::profile::govern::ToolState::Drifted(_) => drifted.push(t.name.clone()),
                            _ if gov.pin_of(&u.name, &t.name).is_some() => pinned += 1,
                            _ => unpinned += 1,
                        }
                    }
                    (pinned + drifted.len() > 0)
                        .then(|| json!({"pinned": pinned, "drifted": drifted, "unpinned": unpinned}))
                });
                json!({
                    "name": &*u.name,
                    "pins": pins,
                    "transport": u.config.transport_label(),
                    "enabled": u.config.enabled(),
                    "state": match state { State::Restarting { .. } | State::Starting | State::Idle if u.config.enabled() => "failed", ref s => s.label() },
                    "tools": live.as_ref().map(|_| u.tools().len()),
                    "protocol_version": live.as_ref().map(|l| l.init.protocol_version.clone()),
                    "startup_ms": u.started.lock().expect("lock").map(|(_, d)| d.as_millis() as u64),
                    "target": target,
                    "error": error,
                })
            })
            .collect();
        manager.shutdown().await;
        rows
    });
    // What `serve` processes saw (the IDE's view), from the local store.
    let mut rows = rows;
    if let Ok(store) = crate::store::Store::open(&paths.db_file()) {
        for row in &mut rows {
            let name = row["name"].as_str().unwrap_or_default().to_owned();
            row["serve"] = match store.upstream_status(&name) {
                Ok(Some(s)) => json!({ "state": s.state, "last_error": s.last_error, "at": s.at }),
                _ => json!(null),
            };
        }
    }
    Ok(rows)
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
pub fn format_table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
