//! Step-up approvals: calls the policy holds for a person to allow or deny.
//!
//! Each `serve` process (one per IDE window) keeps its held calls in memory
//! and offers them on a Unix socket of its own, `RUNTIME/approve/<pid>.sock`
//! (directory 0700, socket 0600, the peer's uid checked). `toolgate approve`
//! (the terminal UI, `--list`, or `ID --allow|--deny`) connects to every
//! socket it finds, so one UI serves all of the user's `serve` processes; a UI
//! started late still sees every held call; a UI that closes or crashes
//! loses nothing (the calls keep waiting); a `serve` that exits takes its
//! socket, and its held calls, with it.
//!
//! The wire format is newline-delimited JSON, one [`Message`] per line.
//!
//! This module holds the types every part shares: [`Held`] (a held call as
//! shown to a person), [`Activity`] (a recent call and its decision),
//! [`Decision`] (an answer, bound to one call), and the wire [`Message`].

pub mod broker;
pub mod client;
pub mod ui;

use serde::{Deserialize, Serialize};

/// The agent: the MCP client as it named itself in `initialize`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub name: String,
    pub version: String,
}

/// One call held for approval, as a person sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Held {
    /// Unique across the user's processes: `<pid>-<n>`.
    pub id: String,
    /// The `serve` process holding it.
    pub pid: u32,
    /// The agent session (one `serve` process's MCP session).
    pub session: String,
    pub agent: Agent,
    /// The IDE window: the `serve` process's working directory (the
    /// project the IDE opened), shortened for display.
    pub window: String,
    /// The server's name (as in the profile) and the upstream's own tool
    /// name; `exposed` is the name the agent called.
    pub server: String,
    pub tool: String,
    pub exposed: String,
    /// The arguments, after redaction (secrets never reach the UI).
    pub args: serde_json::Value,
    /// SHA-256 (hex) of the arguments as received: an approval names it, so
    /// it cannot be replayed for another call.
    pub args_hash: String,
    /// The rule that required approval, and its reason.
    pub rule: String,
    pub reason: Option<String>,
    /// When it was held and when it times out (Unix milliseconds).
    pub held_at_ms: i64,
    pub deadline_ms: i64,
}

/// How far an approval reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// This call only.
    Once,
    /// This tool (server + tool) for the rest of this agent session.
    Session,
}

/// An answer to one held call, bound to it by id, session and arguments
/// hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub id: String,
    pub session: String,
    pub args_hash: String,
    pub allow: bool,
    pub scope: Scope,
    pub reason: Option<String>,
    /// `tui`, `cli` or `ide` (elicitation).
    pub channel: String,
}

/// A recent call and what became of it, for the activity view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub at_ms: i64,
    pub pid: u32,
    pub agent: Agent,
    pub server: String,
    pub tool: String,
    /// `allowed`, `observed`, `denied`, `limited`, `blocked`, `approved`,
    /// `rejected`, `timed out`, `cancelled`.
    pub outcome: String,
    /// The rule or person behind it.
    pub by: String,
}

/// One line on an approval socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Message {
    /// serve -> UI, first: who this process is, what it holds, and its
    /// recent activity.
    Hello {
        pid: u32,
        session: String,
        agent: Agent,
        window: String,
        held: Vec<Held>,
        recent: Vec<Activity>,
    },
    /// serve -> UI: a call was held.
    Held { call: Held },
    /// serve -> UI: a held call is no longer waiting (`outcome`: approved,
    /// rejected, timed out, cancelled).
    Gone { id: String, outcome: String },
    /// serve -> UI: a call went through the pipeline.
    Activity { entry: Activity },
    /// UI -> serve: an answer.
    Decide { decision: Decision },
    /// serve -> UI: what became of an answer (`ok`, or why it was refused).
    Answered {
        id: String,
        ok: bool,
        message: String,
    },
}

/// Text safe to show on a terminal: control characters (C0, DEL, C1),
/// bidi controls, zero-width and other format characters, and tag
/// characters are shown as `\u{XXXX}` escapes; newlines and tabs are kept
/// only where `multiline` is set.
pub fn printable(text: &str, multiline: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let u = c as u32;
        let keep_ws = multiline && (c == '\n' || c == '\t');
        let unsafe_char = (c.is_control() && !keep_ws)
            || matches!(u, 0xad | 0x034f | 0x061c | 0x115f | 0x1160 | 0x17b4 | 0x17b5 | 0x180b..=0x180f | 0x200b..=0x200f | 0x2028..=0x202e | 0x2060..=0x206f | 0x3164 | 0xfe00..=0xfe0f | 0xfeff | 0xffa0 | 0xfff0..=0xfffb)
            || (0xe0000..=0xe0fff).contains(&u);
        if unsafe_char {
            out.push_str(&format!("\\u{{{u:04X}}}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// Redacts a held call's arguments for display: the org's guardrails where
/// they redact, and always the built-in secret and PII rules, so secrets
/// never reach the UI, a terminal or a script.
pub fn redact_for_display(args: &mut serde_json::Value, server: &str, tool: &str) {
    use crate::policy::guard::{Direction, Guard, GuardConfig};
    static BUILTIN: std::sync::OnceLock<Option<Guard>> = std::sync::OnceLock::new();
    let builtin = BUILTIN.get_or_init(|| {
        let cfg: GuardConfig = toml::from_str(
            "[actions]\nsecret = { results = \"redact\" }\npii = { results = \"redact\" }\n",
        )
        .ok()?;
        Guard::new(&cfg).ok()
    });
    if let Some(g) = builtin {
        g.scan(args, Direction::Results, server, tool);
    }
}

/// Shows a desktop notification for a held call, where the platform has
/// `notify-send` (best effort; the UI and `--list` show it regardless).
pub fn notify_desktop(held: &Held) {
    let summary = format!("toolgate: approve {}?", printable(&held.tool, false));
    let body = format!(
        "{} of {} wants to call {} ({}). Run: toolgate approve",
        printable(&held.agent.name, false),
        printable(&held.window, false),
        printable(&held.tool, false),
        printable(&held.server, false)
    );
    let spawned = std::process::Command::new("notify-send")
        .args(["--app-name=toolgate", &summary, &body])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        // Reaped on a thread of its own; nothing waits on it.
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(e) => tracing::debug!("no desktop notification: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_what_a_terminal_would_obey() {
        assert_eq!(printable("a\x1b[2Jb", false), "a\\u{001B}[2Jb");
        assert_eq!(printable("x\u{9b}31m", false), "x\\u{009B}31m");
        assert_eq!(printable("l\u{202e}r", false), "l\\u{202E}r");
        assert_eq!(printable("t\u{e0041}", false), "t\\u{E0041}");
        assert_eq!(printable("a\nb", false), "a\\u{000A}b");
        assert_eq!(printable("a\nb\tc", true), "a\nb\tc");
        assert_eq!(printable("héllo ✓", false), "héllo ✓");
    }
}
