//! `toolgate tools [--json] [--server NAME]`: every exposed tool and where it
//! leads.
//!
//! JSON shape (version 1): `{"version":1,"tools":[{"name","server",
//! "original","title","description","state","reason"}],
//! "unavailable":[{"server","error"}],"blocked":[{"server","reason"}]}`.
//! `state` is the org profile's verdict: `ok`, `drifted`, `review` or
//! `blocked` (`reason` says why for all but `ok`); only `ok` tools reach the
//! agent.

use anyhow::Result;
use serde::Deserialize;
use serde_json::json;

use crate::cli::ToolsArgs;
use crate::config::Paths;
use crate::error::{UserError, exit};

#[derive(Deserialize, Default)]
struct Described {
    title: Option<String>,
    description: Option<String>,
}

pub fn run(paths: &Paths, args: ToolsArgs) -> Result<u8> {
    let _guard = crate::logging::init(paths, false, "warn");
    let config = super::load(paths)?.config;
    if let Some(only) = &args.server
        && !config.servers.contains_key(only)
    {
        return Err(
            UserError::new(format!("no server named \"{only}\" is configured"))
                .hint("`toolgate servers` lists the configured servers")
                .into(),
        );
    }
    let rt = super::runtime()?;
    let (tools, unavailable, blocked) = rt.block_on(async {
        let only = args.server.clone();
        let manager =
            super::connect(&config, |u| only.as_deref().is_none_or(|o| o == &*u.name)).await;
        let catalog = manager.catalog();
        let tools: Vec<_> = catalog
            .tools
            .iter()
            .map(|t| {
                let d: Described = serde_json::from_str(&t.json).unwrap_or_default();
                json!({
                    "name": t.exposed,
                    "server": &*manager.upstreams()[t.upstream].name,
                    "original": t.original,
                    "title": d.title,
                    "description": d.description,
                    "state": "ok",
                    "reason": null,
                })
            })
            .chain(catalog.withheld.iter().map(|w| {
                let server = &*manager.upstreams()[w.upstream].name;
                json!({
                    "name": w.exposed,
                    "server": server,
                    "original": w.original,
                    "title": null,
                    "description": null,
                    "state": w.state.label(),
                    "reason": w.state.refusal(server, &w.original).map(|(why, _)| why),
                })
            }))
            .collect();
        let blocked: Vec<_> = manager
            .upstreams()
            .iter()
            .filter(|u| args.server.as_deref().is_none_or(|o| o == &*u.name))
            .filter_map(|u| match u.state() {
                crate::upstream::State::Blocked(why) => {
                    Some(json!({ "server": &*u.name, "reason": why }))
                }
                _ => None,
            })
            .collect();
        let unavailable: Vec<_> = manager
            .upstreams()
            .iter()
            .filter(|u| u.config.enabled() && args.server.as_deref().is_none_or(|o| o == &*u.name))
            .filter(|u| u.live().is_none() && !u.is_blocked())
            .map(|u| json!({ "server": &*u.name, "error": u.unavailable_reason() }))
            .collect();
        manager.shutdown().await;
        (tools, unavailable, blocked)
    });
    if args.json {
        super::out(&serde_json::to_string_pretty(&json!({
            "version": 1, "tools": tools, "unavailable": unavailable, "blocked": blocked,
        }))?);
    } else {
        let mut rows = vec![
            ["TOOL", "SERVER", "ORIGINAL", "STATE", "DESCRIPTION"]
                .map(String::from)
                .to_vec(),
        ];
        for t in &tools {
            let desc = t["description"]
                .as_str()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("");
            let desc: String = desc.chars().take(60).collect();
            let desc = match t["reason"].as_str() {
                Some(reason) => reason.chars().take(80).collect(),
                None => desc,
            };
            rows.push(vec![
                t["name"].as_str().unwrap_or("").to_owned(),
                t["server"].as_str().unwrap_or("").to_owned(),
                t["original"].as_str().unwrap_or("").to_owned(),
                t["state"].as_str().unwrap_or("").to_owned(),
                desc,
            ]);
        }
        if tools.is_empty() {
            super::say("No tools are exposed.");
        } else {
            super::out(&super::servers::format_table(&rows));
        }
        for u in &unavailable {
            super::say(&format!("warning: {}", u["error"].as_str().unwrap_or("")));
        }
        for b in &blocked {
            super::say(&format!(
                "{}: {}",
                b["server"].as_str().unwrap_or(""),
                b["reason"].as_str().unwrap_or("")
            ));
        }
    }
    Ok(if unavailable.is_empty() {
        exit::OK
    } else {
        exit::PROBLEM
    })
}
