//! `toolgate install CLIENT...` and `toolgate uninstall CLIENT...`: toolgate's
//! entry in an IDE's or agent's own MCP configuration.
//!
//! The entry runs the absolute path of this binary with `serve`. Where this
//! toolgate runs with `TOOLGATE_HOME` set, the entry sets it too, and where
//! it runs with another config file (`--config` / `TOOLGATE_CONFIG`), the
//! entry passes `--config` with that file's absolute path: the IDE's
//! toolgate then uses the same files as the one that installed it.
//!
//! Editing is [`crate::clients`]'s: everything else in the file stays as it
//! was (comments, order, formatting), a backup is written before any change,
//! and a second install changes nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::json;

use crate::cli::InstallArgs;
use crate::clients::{self, Client, ServerEntry};
use crate::config::Paths;
use crate::error::{UserError, exit};

pub fn install(paths: &Paths, args: InstallArgs) -> Result<u8> {
    run(paths, args, Mode::Install)
}

pub fn uninstall(paths: &Paths, args: InstallArgs) -> Result<u8> {
    run(paths, args, Mode::Uninstall)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Install,
    Uninstall,
}

fn run(paths: &Paths, args: InstallArgs, mode: Mode) -> Result<u8> {
    let project = project_root(args.project.as_deref())?;
    let selected = select(&args.clients, args.all, project.as_deref())?;
    let entry = toolgate_entry(paths)?;
    let mut report = Vec::new();
    let mut text_out = String::new();
    for client in selected {
        let path = client.config_path(project.as_deref())?;
        let old = read_optional(&path)?;
        let current = old.as_deref().unwrap_or("");
        let new = match mode {
            Mode::Install => clients::upsert_server(client, current, &args.name, &entry),
            Mode::Uninstall => clients::remove_server(client, current, &args.name),
        }
        .with_context(|| format!("could not edit {}", path.display()))?;
        let changed = new != current;
        let mut backup = None;
        if args.dry_run {
            if changed {
                text_out.push_str(&clients::diff(&path, current, &new));
            }
        } else if changed {
            backup = clients::write_with_backup(&path, old.as_deref(), &new)?;
        }
        let verb = match (mode, changed, args.dry_run) {
            (Mode::Install, true, false) => "installed in",
            (Mode::Install, true, true) => "would install in",
            (Mode::Install, false, _) => "already installed in",
            (Mode::Uninstall, true, false) => "removed from",
            (Mode::Uninstall, true, true) => "would remove from",
            (Mode::Uninstall, false, _) => "not installed in",
        };
        let mut line = format!("{}: {verb} {}", client.display_name(), path.display());
        if let Some(b) = &backup {
            line.push_str(&format!(" (backup: {})", b.display()));
        }
        report.push(json!({
            "client": client.name(),
            "path": path,
            "changed": changed,
            "dry_run": args.dry_run,
            "backup": backup,
        }));
        if !args.json {
            super::say(&line);
        }
    }
    if args.json {
        super::out(&serde_json::to_string_pretty(
            &json!({"version": 1, "clients": report}),
        )?);
    } else {
        if !text_out.is_empty() {
            super::out(&text_out);
        }
        let any_changed = report.iter().any(|r| r["changed"] == true);
        if mode == Mode::Install && any_changed && !args.dry_run {
            super::say(
                "Restart the client (or reload its MCP servers) to use toolgate. `toolgate import CLIENT --replace` moves the client's other servers behind toolgate.",
            );
        }
    }
    Ok(exit::OK)
}

/// The project folder, absolute, when `--project` was given.
pub fn project_root(project: Option<&Path>) -> Result<Option<PathBuf>> {
    let Some(dir) = project else {
        return Ok(None);
    };
    let dir = std::path::absolute(dir)
        .with_context(|| format!("could not resolve the project folder {}", dir.display()))?;
    if !dir.is_dir() {
        return Err(UserError::new(format!(
            "the project folder {} does not exist",
            dir.display()
        ))
        .hint("run the command inside the project, or give --project DIR")
        .into());
    }
    Ok(Some(dir))
}

/// The clients named, or with `all` every client found on this machine
/// (for a project: every client with a project-level file there).
pub fn select(names: &[String], all: bool, project: Option<&Path>) -> Result<Vec<Client>> {
    if !all {
        let mut out = Vec::new();
        for n in names {
            let c = Client::parse(n).ok_or_else(|| {
                UserError::new(format!("\"{n}\" is not a client toolgate knows")).hint(format!(
                    "use one of: {}",
                    Client::ALL.map(|c| c.name()).join(", ")
                ))
            })?;
            if project.is_some() && !c.has_project_scope() {
                return Err(UserError::new(format!(
                    "{} has no project-level MCP configuration",
                    c.display_name()
                ))
                .hint(format!(
                    "leave out --project to use its user-level file ({})",
                    c.name()
                ))
                .into());
            }
            if !out.contains(&c) {
                out.push(c);
            }
        }
        return Ok(out);
    }
    let found: Vec<Client> = Client::ALL
        .into_iter()
        .filter(|c| found(*c, project))
        .collect();
    if found.is_empty() {
        return Err(UserError::new(match project {
            Some(p) => format!("no client's MCP configuration was found in {}", p.display()),
            None => "no MCP client's configuration was found on this machine".to_string(),
        })
        .hint("name the client: toolgate install cursor (or claude-code, vscode, ...)")
        .into());
    }
    Ok(found)
}

/// Whether a client is set up here: its configuration file exists, or (for
/// the user level) the folder the client keeps it in.
pub fn found(client: Client, project: Option<&Path>) -> bool {
    if project.is_some() && !client.has_project_scope() {
        return false;
    }
    let Ok(path) = client.config_path(project) else {
        return false;
    };
    if path.is_file() {
        return true;
    }
    if project.is_some() {
        return false;
    }
    let home = directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf());
    match path.parent() {
        Some(dir) => Some(dir) != home.as_deref() && dir.is_dir(),
        None => false,
    }
}

/// The entry that runs this toolgate.
pub fn toolgate_entry(paths: &Paths) -> Result<ServerEntry> {
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .context("could not find the path of the toolgate binary")?;
    let mut entry = ServerEntry {
        command: Some(exe.display().to_string()),
        args: vec!["serve".into()],
        ..ServerEntry::default()
    };
    let default = Paths::resolve(None)?;
    if paths.config_file != default.config_file {
        entry.args.push("--config".into());
        entry.args.push(
            std::path::absolute(&paths.config_file)?
                .display()
                .to_string(),
        );
    }
    if let Some(home) = &paths.home {
        entry.env.insert(
            "TOOLGATE_HOME".into(),
            std::path::absolute(home)?.display().to_string(),
        );
    }
    Ok(entry)
}

/// Whether a client's server entry runs toolgate (any toolgate binary).
pub fn is_toolgate(entry: &ServerEntry) -> bool {
    let Some(cmd) = &entry.command else {
        return false;
    };
    let file = Path::new(cmd)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("");
    file == "toolgate" && entry.args.first().is_some_and(|a| a == "serve")
}

/// A file's text, or `None` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(
            UserError::problem(format!("could not read {}: {e}", path.display()))
                .hint("check the file's permissions")
                .into(),
        ),
    }
}
