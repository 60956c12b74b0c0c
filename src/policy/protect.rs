//! Self-protection, always on: a tool call whose arguments point at
//! toolgate's own config, state, runtime files or keychain entries is
//! denied, whatever the policy says. An agent must not be able to rewrite
//! the config that governs it, read its tokens, or answer its own
//! approvals through a filesystem or shell tool that toolgate mediates.
//!
//! The check is textual: every string in the arguments (keys too) is
//! compared with the protected paths in their absolute form, their `~/`
//! form and their form relative to the home folder, and with the keychain
//! service name. It cannot see through a shell command that builds a path
//! piece by piece; the README's threat model says what an org should do
//! about an agent's own unmediated shell.

use std::sync::OnceLock;

use serde_json::Value;

use super::{Call, Outcome, Stage};

/// The protected strings of this process.
static PROTECTED: OnceLock<Vec<String>> = OnceLock::new();

/// Sets what is protected: toolgate's folders and config file, and the
/// keychain service name. Called once at start.
pub fn set(paths: &crate::config::Paths, keychain_service: &str) {
    let mut out = Vec::new();
    let home = std::env::var_os("HOME")
        .map(std::path::PathBuf::from)
        .filter(|h| h.is_absolute() && h.as_os_str().len() > 1);
    let mut places = vec![
        paths.config_file.clone(),
        paths.state_dir.clone(),
        paths.runtime_dir.clone(),
    ];
    match &paths.home {
        Some(h) => places.push(h.clone()),
        None => {
            if let Some(dir) = paths.config_file.parent() {
                places.push(dir.to_path_buf());
            }
        }
    }
    for p in places {
        let text = p.display().to_string();
        if let Some(h) = &home
            && let Ok(rel) = p.strip_prefix(h)
            && !rel.as_os_str().is_empty()
        {
            let rel = rel.display().to_string();
            out.push(format!("~/{rel}"));
            // Relative to the home folder, as a tool might be given it
            // (with the working directory at home): ".config/toolgate".
            out.push(rel);
        }
        out.push(text);
    }
    out.push(keychain_service.to_owned());
    out.retain(|s| s.len() >= 4);
    out.sort();
    out.dedup();
    let _ = PROTECTED.set(out);
}

fn protected() -> &'static [String] {
    PROTECTED.get().map_or(&[], Vec::as_slice)
}

/// Whether the raw JSON text of some arguments may name a protected place
/// (cheap: a full check only runs where this says yes).
pub fn suspect(raw: &str) -> bool {
    let list = protected();
    !list.is_empty() && (raw.contains('\\') || list.iter().any(|p| raw.contains(p.as_str())))
}

/// The first string of the arguments that names a protected place, and
/// the place.
pub fn violation(args: &Value) -> Option<(String, String)> {
    let list = protected();
    if list.is_empty() {
        return None;
    }
    fn walk(v: &Value, list: &[String]) -> Option<(String, String)> {
        let hit = |s: &str| {
            list.iter()
                .find(|p| s.contains(p.as_str()))
                .map(|p| (s.to_owned(), p.clone()))
        };
        match v {
            Value::String(s) => hit(s),
            Value::Array(items) => items.iter().find_map(|i| walk(i, list)),
            Value::Object(map) => map
                .iter()
                .find_map(|(k, i)| hit(k).or_else(|| walk(i, list))),
            _ => None,
        }
    }
    walk(args, list)
}

/// The refusal for a call that names a protected place.
pub fn refusal(server: &str, tool: &str, args: &Value) -> Option<Outcome> {
    let (_, place) = violation(args)?;
    Some(Outcome::Refuse {
        kind: "self_protection",
        message: format!(
            "toolgate denies \"{tool}\" of \"{server}\": its arguments point at toolgate's own files or keychain entries ({place}), which an agent may not read or change"
        ),
        hint: "do not retry; the user manages toolgate from their own terminal".into(),
        detail: serde_json::json!({"decision": "deny", "rule": "builtin.self-protection", "place": place}),
    })
}

/// The stage: runs first in every policy.
pub struct Protect;

impl Stage for Protect {
    fn check(&self, call: &Call<'_>, next: &dyn Fn(&Call<'_>) -> Outcome) -> Outcome {
        match refusal(call.server, call.tool, call.args) {
            Some(refused) => refused,
            None => next(call),
        }
    }
}
