//! `toolgate approve`: the terminal UI for calls held for approval, and
//! `--list [--json]` / `ID --allow|--deny [--reason]` for scripts.
//!
//! `--list --json` shape (version 1): `{"version":1,"pending":[Held...]}`,
//! each held call as [`crate::approve::Held`] serializes (id, pid, session,
//! agent {name, version}, window, server, tool, exposed, args (redacted),
//! args_hash, rule, reason, held_at_ms, deadline_ms).

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::json;

use crate::approve::client::{self, Hub, HubEvent};
use crate::approve::ui::{Action, App};
use crate::approve::{Held, Message};
use crate::cli::ApproveArgs;
use crate::config::Paths;
use crate::error::{UserError, exit};

/// The folder of the approval sockets.
pub fn socket_dir(paths: &Paths) -> std::path::PathBuf {
    paths.runtime_dir.join("approve")
}

pub fn run(paths: &Paths, args: ApproveArgs) -> Result<u8> {
    let _guard = crate::logging::init(paths, false, "warn");
    let dir = socket_dir(paths);
    let rt = super::runtime()?;
    if args.list {
        let held = rt.block_on(client::snapshot(&dir));
        return list(&held, args.json);
    }
    if let Some(id) = &args.id {
        let allow = args.allow;
        let words = rt.block_on(client::answer(&dir, id, allow, args.reason.clone(), "cli"))?;
        super::say(&format!("toolgate: {words}"));
        return Ok(exit::OK);
    }
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(UserError::new(
            "toolgate approve needs an interactive terminal: approvals are answered by a person. \
             Scripts can read the held calls with toolgate approve --list --json.",
        )
        .hint("run it in a terminal; a script answers one call with toolgate approve ID --allow (or --deny)")
        .into());
    }
    rt.block_on(ui(dir))?;
    Ok(exit::OK)
}

fn list(held: &[Held], as_json: bool) -> Result<u8> {
    if as_json {
        super::out(&serde_json::to_string_pretty(
            &json!({"version": 1, "pending": held}),
        )?);
        return Ok(exit::OK);
    }
    if held.is_empty() {
        super::out("No calls are waiting for approval.\n");
        return Ok(exit::OK);
    }
    let now = crate::policy::limits::now_ms();
    let mut text = format!(
        "{:<12} {:>7} {:>7}  {:<24} {:<32} {}\n",
        "ID", "WAITED", "LEFT", "AGENT", "SERVER/TOOL", "RULE"
    );
    for h in held {
        let waited = crate::util::format_duration(Duration::from_millis(
            (now - h.held_at_ms).max(0) as u64 / 1000 * 1000,
        ));
        let left = crate::util::format_duration(Duration::from_millis(
            (h.deadline_ms - now).max(0) as u64 / 1000 * 1000,
        ));
        let agent =
            crate::approve::printable(&format!("{} {}", h.agent.name, h.agent.version), false);
        let target = crate::approve::printable(&format!("{}/{}", h.server, h.tool), false);
        text.push_str(&format!(
            "{:<12} {:>7} {:>7}  {:<24} {:<32} {}\n",
            h.id,
            waited,
            left,
            agent,
            target,
            crate::approve::printable(&h.rule, false)
        ));
    }
    super::out(&text);
    Ok(exit::OK)
}

/// Restores the terminal however the UI ends (including a panic).
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> Result<Self> {
        crossterm::terminal::enable_raw_mode()?;
        let guard = Self;
        crossterm::execute!(
            std::io::stdout(),
            crossterm::terminal::EnterAlternateScreen,
            crossterm::cursor::Hide
        )?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = crossterm::execute!(
            std::io::stdout(),
            crossterm::terminal::LeaveAlternateScreen,
            crossterm::cursor::Show
        );
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

async fn ui(dir: std::path::PathBuf) -> Result<()> {
    let colour = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut app = App::new(colour);
    let mut hub = Hub::start(dir);
    // Terminal input is read on a thread of its own (crossterm blocks).
    let (keys_tx, mut keys) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        loop {
            match crossterm::event::read() {
                Ok(ev) => {
                    if keys_tx.send(ev).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });
    let _guard = TerminalGuard::enter()?;
    let backend = ratatui::backend::CrosstermBackend::new(std::io::stdout());
    let mut terminal = ratatui::Terminal::new(backend)?;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut processes = std::collections::BTreeSet::new();
    loop {
        app.set_now(crate::policy::limits::now_ms());
        app.set_connected(processes.len());
        terminal.draw(|f| app.draw(f))?;
        tokio::select! {
            _ = tick.tick() => {}
            ev = hub.events.recv() => match ev {
                Some(HubEvent::Message(pid, msg)) => {
                    if matches!(*msg, Message::Hello { .. }) {
                        processes.insert(pid);
                    }
                    app.apply(&msg);
                }
                Some(HubEvent::Gone(pid)) => {
                    processes.remove(&pid);
                    app.forget_process(pid);
                }
                None => bail!("the approval hub stopped"),
            },
            ev = keys.recv() => match ev {
                Some(crossterm::event::Event::Key(key))
                    if key.kind == crossterm::event::KeyEventKind::Press =>
                {
                    match app.handle_key(key) {
                        Some(Action::Quit) => return Ok(()),
                        Some(Action::Decide(d)) => hub.send(d),
                        None => {}
                    }
                }
                Some(crossterm::event::Event::Resize(..)) => terminal.autoresize()?,
                Some(_) => {}
                None => return Ok(()),
            },
        }
    }
}
