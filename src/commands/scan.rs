//! `toolgate scan [--json]`: the poisoning scan of every configured server
//! (those the org profile lets run), started the way `serve` starts them:
//! its instructions, every tool definition, and its prompts and resource
//! templates where it declares those capabilities.
//!
//! JSON shape (version 1): `{"version":1,"findings":[{"server","code",
//! "severity","location","evidence"}],"summary":{"high","medium","low"},
//! "unavailable":[{"server","error"}]}`. Exit 1 when any finding is high.

use anyhow::Result;
use serde_json::{Value, json};

use crate::cli::ScanArgs;
use crate::config::Paths;
use crate::error::exit;
use crate::policy::scan::{self, Severity};

pub fn run(paths: &Paths, args: ScanArgs) -> Result<u8> {
    let _guard = crate::logging::init(paths, false, "warn");
    let config = super::load(paths)?.config;
    let rt = super::runtime()?;
    let (findings, unavailable) = rt.block_on(async {
        let manager = super::connect(&config, |_| true).await;
        let upstreams = manager.upstreams();
        let all_tools: Vec<(String, String)> = upstreams
            .iter()
            .flat_map(|u| {
                u.tools()
                    .iter()
                    .map(|t| (u.name.to_string(), t.name.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut findings = Vec::new();
        let mut unavailable = Vec::new();
        for u in upstreams.iter() {
            let Some(live) = u.live() else {
                if u.config.enabled() {
                    unavailable.push(json!({"server": &*u.name, "error": u.unavailable_reason()}));
                }
                continue;
            };
            let others: Vec<String> = all_tools
                .iter()
                .filter(|(s, _)| s.as_str() != &*u.name)
                .map(|(_, t)| t.clone())
                .collect();
            if let Some(text) = &live.init.instructions {
                for f in scan::scan_instructions(&u.name, text, &others) {
                    findings.push((u.name.to_string(), f));
                }
            }
            for tool in u.tools().iter() {
                let Ok(def) = serde_json::from_str::<Value>(tool.raw.get()) else {
                    continue;
                };
                for f in scan::scan_tool(&u.name, &def, &others) {
                    findings.push((u.name.to_string(), f));
                }
            }
            // Prompts and resource templates, where the server has them.
            for (capability, method, kind) in [
                ("prompts", "prompts/list", "prompt"),
                ("resources", "resources/templates/list", "resource template"),
            ] {
                if !live.init.has(capability) {
                    continue;
                }
                match crate::upstream::list_all(&live.conn, method, u.config.timeout()).await {
                    Ok(items) => {
                        for item in items {
                            let Ok(def) = serde_json::from_str::<Value>(item.get()) else {
                                continue;
                            };
                            for f in scan::scan_other(&u.name, kind, &def, &others) {
                                findings.push((u.name.to_string(), f));
                            }
                        }
                    }
                    // A server may declare resources without templates.
                    Err(e) => tracing::warn!(server = %u.name, "not scanned: {e}"),
                }
            }
        }
        manager.shutdown().await;
        (findings, unavailable)
    });
    let count = |s: Severity| findings.iter().filter(|(_, f)| f.severity == s).count();
    let (high, medium, low) = (
        count(Severity::High),
        count(Severity::Medium),
        count(Severity::Low),
    );
    if args.json {
        let list: Vec<Value> = findings
            .iter()
            .map(|(server, f)| json!({"server": server, "code": f.code, "severity": f.severity, "location": f.location, "evidence": f.evidence}))
            .collect();
        super::out(&serde_json::to_string_pretty(&json!({
            "version": 1,
            "findings": list,
            "summary": {"high": high, "medium": medium, "low": low},
            "unavailable": unavailable,
        }))?);
    } else {
        let mut text = String::new();
        for (_, f) in &findings {
            let sev = match f.severity {
                Severity::High => "HIGH",
                Severity::Medium => "medium",
                Severity::Low => "low",
            };
            text.push_str(&format!(
                "{sev:<6}  {:<16}  {}: {}\n",
                f.code, f.location, f.evidence
            ));
        }
        text.push_str(&format!("{high} high, {medium} medium, {low} low\n"));
        super::out(&text);
        for u in &unavailable {
            super::say(&format!(
                "warning: not scanned: {}",
                u["error"].as_str().unwrap_or("")
            ));
        }
    }
    Ok(if high > 0 { exit::PROBLEM } else { exit::OK })
}
