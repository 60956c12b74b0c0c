//! `toolgate import [CLIENT...] [--all] [--project [DIR]] [--replace]
//! [--dry-run] [--json]`: take over the MCP servers configured in clients.
//!
//! For each client's file (user level, or the project's with `--project`):
//!
//! 1. Each server entry (except one that runs toolgate) becomes a
//!    `[servers.NAME]` entry of toolgate's config. The name is the client's,
//!    made valid (letters, digits, `-`, `_`, up to 32); when toolgate already
//!    has a different server of that name, the client's name is appended
//!    (`github-cursor`). The same definition imported twice is kept once.
//! 2. Secrets go to the keychain, never into a file: an `env` value or header
//!    that looks like a credential (the same test `config.toml` applies) is
//!    stored as the secret `SERVER/KEY` and the entry says `${secret:KEY}`
//!    (`Bearer ${secret:Authorization}` keeps the scheme in the text).
//!    A value that refers to the client's own variables (`${env:X}`,
//!    `${X}`, VS Code's `${input:x}`) is not a value toolgate can know: a
//!    secret-like one becomes `${secret:KEY}` and the report says to set it
//!    (`toolgate secret set SERVER KEY`); any other `${X}` / `${env:X}` is
//!    passed through from toolgate's environment (`inherit_env`).
//! 3. With an org profile in force, a server the profile names (by name, or
//!    by the same command and arguments, or URL) is *approved*: it is
//!    imported under the profile's name and runs the profile's definition.
//!    Any other is a *shadow* server: imported where the profile says
//!    `personal_servers = "allow"`, reported and not imported where it says
//!    `"deny"`.
//! 4. With `--replace`, the client's file is then rewritten (after a backup)
//!    to hold toolgate's entry alone in place of the servers handled. A
//!    server that failed to import stays in the client.
//!
//! `--dry-run` reports all of this and writes nothing: no config, no
//! keychain, no client file (for `--replace` it prints the client's diff).
//! Secret values never appear in any output: only their names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::json;
use toml_edit::{Item, Table};

use super::install::{is_toolgate, project_root, read_optional, toolgate_entry};
use crate::cli::ImportArgs;
use crate::clients::{self, Client, ServerEntry};
use crate::config::{self, Config, Paths, ServerConfig, valid_server_name};
use crate::error::{UserError, exit};
use crate::profile::PersonalServers;
use crate::profile::registry::State;
use crate::secrets::Secret;
use crate::secrets::refs::{self, env_is_plain_secret, header_is_plain_secret};

/// What became of one server.
#[derive(Debug, Serialize)]
struct Row {
    /// Its name in the client.
    name: String,
    /// Its name in toolgate (when imported).
    #[serde(rename = "as", skip_serializing_if = "Option::is_none")]
    as_name: Option<String>,
    /// imported | already-imported | approved | shadow-imported |
    /// shadow-blocked | skipped (a client extension) | failed
    status: &'static str,
    /// Names of the secrets moved to the keychain (never their values).
    secrets_moved: Vec<String>,
    /// Names of secrets the user still has to set.
    secrets_to_set: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

#[derive(Debug, Serialize)]
struct ClientReport {
    client: &'static str,
    path: PathBuf,
    servers: Vec<Row>,
    /// Whether the client's file now points at toolgate alone.
    replaced: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    backup: Option<PathBuf>,
}

/// A server ready for toolgate's config.
struct Planned {
    name: String,
    table: Table,
    /// Keychain writes: (account, value).
    secrets: Vec<(String, Secret)>,
    /// Secrets referenced whose value only the user knows.
    to_set: Vec<String>,
}

pub fn run(paths: &Paths, args: ImportArgs) -> Result<u8> {
    let _guard = crate::logging::init(paths, false, "error");
    let project = project_root(args.project.as_deref())?;
    let loaded = super::load_user(paths)?;
    let mut user = loaded.config.clone();
    let state = crate::profile::registry::load(paths, &loaded.config);
    let org = match &state {
        State::Active(a) => Some(&a.profile),
        _ => None,
    };
    let sources = sources(&args, project.as_deref())?;
    let mut reports = Vec::new();
    let mut diffs = String::new();
    let mut failures = 0;
    // The keychain and each config write can take a moment.
    let spinner = crate::progress::Spinner::start("importing");
    for (client, path) in sources {
        spinner.set_message(format!("importing from {}", client.display_name()));
        let Some(text) = read_optional(&path)? else {
            continue;
        };
        let servers = clients::read_servers(client, &text).map_err(|e| {
            UserError::problem(format!("could not read {}: {e:#}", path.display()))
                .hint("fix the file (the client would not read it either), then import again")
        })?;
        let mut rows = Vec::new();
        let mut handled = Vec::new();
        for (name, entry) in servers {
            if is_toolgate(&entry) {
                continue;
            }
            if entry.command.is_none() && entry.url.is_none() {
                // A server the client runs by itself (a Zed extension):
                // nothing toolgate could start. It stays in the client.
                rows.push(Row {
                    name: name.clone(),
                    as_name: None,
                    status: "skipped",
                    secrets_moved: vec![],
                    secrets_to_set: vec![],
                    note: Some(
                        "provided by the client itself (an extension): stays in the client".into(),
                    ),
                });
                continue;
            }
            let row = import_one(client, &name, &entry, &mut user, org, paths, args.dry_run);
            let row = match row {
                Ok(row) => row,
                Err(e) => {
                    failures += 1;
                    Row {
                        name: name.clone(),
                        as_name: None,
                        status: "failed",
                        secrets_moved: vec![],
                        secrets_to_set: vec![],
                        note: Some(format!("{e:#}")),
                    }
                }
            };
            if row.status != "failed" {
                handled.push(name);
            }
            rows.push(row);
        }
        let mut report = ClientReport {
            client: client.name(),
            path: path.clone(),
            servers: rows,
            replaced: false,
            backup: None,
        };
        if args.replace {
            let mut new = text.clone();
            for name in &handled {
                new = clients::remove_server(client, &new, name)?;
            }
            new = clients::upsert_server(client, &new, "toolgate", &toolgate_entry(paths)?)?;
            report.replaced = true;
            if new != text {
                if args.dry_run {
                    diffs.push_str(&clients::diff(&path, &text, &new));
                } else {
                    report.backup = clients::write_with_backup(&path, Some(&text), &new)?;
                }
            }
        }
        reports.push(report);
    }
    spinner.finish();
    if args.json {
        super::out(&serde_json::to_string_pretty(&json!({
            "version": 1,
            "dry_run": args.dry_run,
            "config": paths.config_file,
            "clients": reports,
        }))?);
    } else {
        print_report(&reports, paths, args.dry_run);
        if !diffs.is_empty() {
            super::out(&diffs);
        }
    }
    if reports.is_empty() {
        super::say("No client configuration with MCP servers was found.");
    }
    Ok(if failures > 0 {
        exit::PROBLEM
    } else {
        exit::OK
    })
}

/// The files to import from.
fn sources(args: &ImportArgs, project: Option<&Path>) -> Result<Vec<(Client, PathBuf)>> {
    let clients = if args.all {
        Client::ALL.to_vec()
    } else {
        super::install::select(&args.clients, false, None)?
    };
    let mut out = Vec::new();
    for c in clients {
        match project {
            Some(p) if c.has_project_scope() => out.push((c, c.config_path(Some(p))?)),
            Some(_) if !args.all => {
                return Err(UserError::new(format!(
                    "{} has no project-level MCP configuration",
                    c.display_name()
                ))
                .hint("leave out --project to import its user-level servers")
                .into());
            }
            Some(_) => {}
            None => out.push((c, c.config_path(None)?)),
        }
    }
    Ok(out)
}

/// Imports one server into `user` (and, unless a dry run, into the config
/// file and the keychain).
fn import_one(
    client: Client,
    name: &str,
    entry: &ServerEntry,
    user: &mut Config,
    org: Option<&crate::profile::Profile>,
    paths: &Paths,
    dry_run: bool,
) -> Result<Row> {
    let mut row = Row {
        name: name.to_string(),
        as_name: None,
        status: "imported",
        secrets_moved: vec![],
        secrets_to_set: vec![],
        note: None,
    };
    // Which name, and is it approved by the org?
    let approved = org.and_then(|p| {
        p.servers
            .iter()
            .find(|(n, ps)| {
                n.as_str() == name
                    || (ps.url.is_some() && ps.url == entry.url)
                    || (ps.command.is_some()
                        && same_command(ps.command.as_deref(), &ps.args, entry))
            })
            .map(|(n, _)| n.clone())
    });
    if let (Some(p), None) = (org, &approved) {
        if p.settings.personal_servers == PersonalServers::Deny {
            row.status = "shadow-blocked";
            row.note = Some(format!(
                "not approved by {}, and its profile does not allow personal servers: not imported",
                p.org
            ));
            return Ok(row);
        }
        row.status = "shadow-imported";
        row.note = Some(format!(
            "not approved by {}: runs as a personal server",
            p.org
        ));
    }
    let target = match &approved {
        Some(n) => {
            row.status = "approved";
            row.note = Some("approved by the org profile: runs the profile's definition".into());
            n.clone()
        }
        None => {
            let base = sanitize(name);
            match user.servers.get(&base) {
                Some(existing) if same_server(existing, entry) => {
                    row.status = "already-imported";
                    row.as_name = Some(base);
                    return Ok(row);
                }
                Some(_) => unused_name(user, &format!("{base}-{}", client.name()), entry),
                None => base,
            }
        }
    };
    if let Some(existing) = user.servers.get(&target)
        && same_server(existing, entry)
    {
        row.status = "already-imported";
        row.as_name = Some(target);
        return Ok(row);
    }
    let planned = plan(&target, entry)?;
    row.as_name = Some(target.clone());
    row.secrets_moved = planned
        .secrets
        .iter()
        .map(|(account, _)| account.trim_start_matches("secret:").to_string())
        .collect();
    row.secrets_to_set = planned.to_set.clone();
    if !dry_run {
        if !planned.secrets.is_empty() {
            let vault = crate::secrets::vault().context("the keychain is not set up")?;
            let keychain = vault.keychain().map_err(|e| {
                UserError::problem(format!(
                    "{}: the keychain is not available, so its secrets cannot be moved there ({}); nothing of this server was imported",
                    name, e.message
                ))
            })?;
            for (account, value) in &planned.secrets {
                keychain.set(account, value)?;
            }
        }
        config::edit(&paths.config_file, |doc| {
            let servers = config::servers_table(doc, &paths.config_file)?;
            servers.insert(&planned.name, Item::Table(planned.table.clone()));
            Ok(())
        })?;
    }
    // Keep the in-memory view current for the next servers' name checks.
    let text = planned.table.to_string();
    if let Ok(server) = toml::from_str::<ServerConfig>(&text) {
        user.servers.insert(target, server);
    }
    Ok(row)
}

/// The config table for a client's server, and the secrets to move.
fn plan(name: &str, entry: &ServerEntry) -> Result<Planned> {
    let mut secrets = Vec::new();
    let mut to_set = Vec::new();
    let mut env = BTreeMap::new();
    let mut inherit = Vec::new();
    for (k, v) in &entry.env {
        match translate(k, v, env_is_plain_secret(k, v)) {
            Value::Text(t) => {
                env.insert(k.clone(), t);
            }
            Value::Inherit(var) => inherit.push(var),
            Value::Secret { text, value } => {
                match value {
                    Some(value) => {
                        secrets.push((refs::account(name, &secret_name(k)), Secret::new(value)))
                    }
                    None => to_set.push(secret_name(k)),
                }
                env.insert(k.clone(), text);
            }
        }
    }
    let mut headers = BTreeMap::new();
    for (k, v) in &entry.headers {
        let literal = v.trim();
        let secret_like = header_is_plain_secret(k, literal);
        match translate(k, v, secret_like) {
            Value::Text(t) => {
                headers.insert(k.clone(), t);
            }
            // A header cannot be inherited from an environment: it needs
            // a secret.
            Value::Inherit(_) => {
                headers.insert(k.clone(), format!("${{secret:{}}}", secret_name(k)));
                to_set.push(secret_name(k));
            }
            Value::Secret { text, value } => {
                match value {
                    Some(value) => {
                        secrets.push((refs::account(name, &secret_name(k)), Secret::new(value)))
                    }
                    None => to_set.push(secret_name(k)),
                }
                headers.insert(k.clone(), text);
            }
        }
    }
    let mut table = Table::new();
    if let Some(url) = &entry.url {
        table.insert("url", toml_edit::value(url.as_str()));
        // Only legacy SSE needs saying: the default tries streamable HTTP
        // and falls back to SSE.
        if entry.transport == Some(crate::config::RemoteTransport::Sse) {
            table.insert("transport", toml_edit::value("sse"));
        }
    }
    if let Some(cmd) = &entry.command {
        table.insert("command", toml_edit::value(cmd.as_str()));
        let mut list = toml_edit::Array::new();
        for a in &entry.args {
            list.push(a.as_str());
        }
        table.insert("args", toml_edit::value(list));
    }
    if entry.command.is_none() && entry.url.is_none() {
        return Err(UserError::problem("it has neither a command nor a url")
            .hint("add it by hand with toolgate add")
            .into());
    }
    super::add::insert_map(&mut table, "env", &env);
    if !inherit.is_empty() {
        let mut list = toml_edit::Array::new();
        for v in &inherit {
            list.push(v.as_str());
        }
        table.insert("inherit_env", toml_edit::value(list));
    }
    if let Some(cwd) = &entry.cwd {
        table.insert("cwd", toml_edit::value(cwd.as_str()));
    }
    super::add::insert_map(&mut table, "headers", &headers);
    if entry.disabled {
        table.insert("enabled", toml_edit::value(false));
    }
    Ok(Planned {
        name: name.to_string(),
        table,
        secrets,
        to_set,
    })
}

enum Value {
    /// Keep this text.
    Text(String),
    /// Pass this variable through from toolgate's environment.
    Inherit(String),
    /// A secret reference; `value` is what to store (None: the user sets it).
    Secret { text: String, value: Option<String> },
}

/// Decides what a client's env or header value becomes.
fn translate(key: &str, value: &str, secret_like: bool) -> Value {
    let reference = format!("${{secret:{}}}", secret_name(key));
    if let Some(var) = client_variable(value) {
        // Is the key's *name* one of a credential? (Asked with a value of a
        // credential's shape, so that only the name decides.)
        const CREDENTIAL_SHAPED: &str = "x7Kq2mPz9RtVw4Ns";
        let named_secret = env_is_plain_secret(key, CREDENTIAL_SHAPED)
            || header_is_plain_secret(key, CREDENTIAL_SHAPED);
        return match var {
            ClientVar::Env(v) if !named_secret => Value::Inherit(v),
            _ => Value::Secret {
                text: reference,
                value: None,
            },
        };
    }
    if !secret_like {
        return Value::Text(value.to_string());
    }
    let trimmed = value.trim();
    for scheme in ["Bearer ", "bearer ", "Basic ", "Token ", "token "] {
        if let Some(rest) = trimmed.strip_prefix(scheme) {
            return Value::Secret {
                text: format!("{scheme}{reference}"),
                value: Some(rest.trim().to_string()),
            };
        }
    }
    Value::Secret {
        text: reference,
        value: Some(value.to_string()),
    }
}

enum ClientVar {
    /// `${X}`, `${env:X}`, `$X`: a variable of the client's environment.
    Env(String),
    /// `${input:x}` and the like: asked by the client, unknown here.
    Other,
}

/// Whether a value is (only) a reference to one of the client's variables.
fn client_variable(value: &str) -> Option<ClientVar> {
    let v = value.trim();
    let inner = v
        .strip_prefix("${")
        .and_then(|r| r.strip_suffix('}'))
        .map(|i| i.strip_prefix("env:").unwrap_or(i))
        .or_else(|| v.strip_prefix('$'))?;
    if inner.starts_with("secret:") {
        return None;
    }
    let is_var = !inner.is_empty()
        && inner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !inner.as_bytes()[0].is_ascii_digit();
    if is_var {
        Some(ClientVar::Env(inner.to_string()))
    } else if v.starts_with("${") && inner.contains(':') {
        Some(ClientVar::Other)
    } else {
        None
    }
}

/// A secret name from an env variable or header name.
fn secret_name(key: &str) -> String {
    let s: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if s.is_empty() { "secret".into() } else { s }
}

/// A valid toolgate server name for a client's name.
fn sanitize(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    while s.contains("__") {
        s = s.replace("__", "_");
    }
    let s: String = s.trim_matches(['-', '_']).chars().take(32).collect();
    if valid_server_name(&s) {
        s
    } else {
        "server".into()
    }
}

/// `base`, or `base-2`, `base-3`... whichever is free (or already this
/// server).
fn unused_name(user: &Config, base: &str, entry: &ServerEntry) -> String {
    let base: String = sanitize(base).chars().take(29).collect();
    let mut candidate = base.clone();
    let mut n = 2;
    while let Some(existing) = user.servers.get(&candidate) {
        if same_server(existing, entry) {
            break;
        }
        candidate = format!("{base}-{n}");
        n += 1;
    }
    candidate
}

/// Whether toolgate's server runs the same thing as the client's entry.
fn same_server(existing: &ServerConfig, entry: &ServerEntry) -> bool {
    existing.url == entry.url && existing.command == entry.command && existing.args == entry.args
}

fn same_command(command: Option<&str>, args: &[String], entry: &ServerEntry) -> bool {
    command == entry.command.as_deref() && args == entry.args.as_slice()
}

fn print_report(reports: &[ClientReport], paths: &Paths, dry_run: bool) {
    for r in reports {
        let client = Client::parse(r.client).map_or(r.client, |c| c.display_name());
        super::say(&format!("{client} ({}):", r.path.display()));
        if r.servers.is_empty() {
            super::say("  no servers to import");
        }
        for s in &r.servers {
            let mut line = format!("  {:<24} {}", s.name, s.status);
            if let Some(a) = s.as_name.as_ref().filter(|a| **a != s.name) {
                line.push_str(&format!(" as \"{a}\""));
            }
            if !s.secrets_moved.is_empty() {
                line.push_str(&format!(
                    "; secrets {} the keychain: {}",
                    if dry_run { "to move to" } else { "moved to" },
                    s.secrets_moved.join(", ")
                ));
            }
            if let Some(n) = &s.note {
                line.push_str(&format!(" ({n})"));
            }
            super::say(&line);
            for name in &s.secrets_to_set {
                super::say(&format!(
                    "    set it: toolgate secret set {} {name}",
                    s.as_name.as_deref().unwrap_or(&s.name)
                ));
            }
        }
        if r.replaced {
            super::say(&match (&r.backup, dry_run) {
                (_, true) => "  would point the client at toolgate alone (diff below)".to_string(),
                (Some(b), false) => format!(
                    "  the client now uses toolgate alone (backup: {})",
                    b.display()
                ),
                (None, false) => "  the client already uses toolgate alone".to_string(),
            });
        }
    }
    if !dry_run && reports.iter().any(|r| !r.servers.is_empty()) {
        super::say(&format!(
            "toolgate's config: {}. `toolgate servers` shows them.",
            paths.config_file.display()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: Value) -> String {
        match v {
            Value::Text(t) => format!("text {t}"),
            Value::Inherit(var) => format!("inherit {var}"),
            Value::Secret { text, value } => format!("secret {text} {}", value.is_some()),
        }
    }

    #[test]
    fn values_become_text_inherited_variables_or_secrets() {
        let t = |k: &str, v: &str| text(translate(k, v, env_is_plain_secret(k, v)));
        assert_eq!(t("LOG_LEVEL", "debug"), "text debug");
        assert_eq!(t("HOME_DIR", "${env:HOME}"), "inherit HOME");
        assert_eq!(t("HOME_DIR", "${HOME}"), "inherit HOME");
        assert_eq!(t("PATH_X", "$PATH"), "inherit PATH");
        // A secret-named variable of the client's own: the user sets it.
        assert_eq!(
            t("API_TOKEN", "${env:API_TOKEN}"),
            "secret ${secret:API_TOKEN} false"
        );
        // VS Code's inputs are asked by VS Code: unknown here.
        assert_eq!(t("KEY", "${input:api-key}"), "secret ${secret:KEY} false");
        // A literal credential moves to the keychain.
        assert_eq!(
            t("GITHUB_TOKEN", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
            "secret ${secret:GITHUB_TOKEN} true"
        );
        // Already a toolgate reference: kept.
        assert_eq!(
            t("API_TOKEN", "${secret:API_TOKEN}"),
            "text ${secret:API_TOKEN}"
        );
        // A header keeps its scheme in the text, the token goes.
        let h = translate("Authorization", "Bearer abc.def.ghi-123456", true);
        assert_eq!(text(h), "secret Bearer ${secret:Authorization} true");
    }

    #[test]
    fn names_are_made_valid() {
        assert_eq!(sanitize("remote docs"), "remote-docs");
        assert_eq!(sanitize("a__b"), "a_b");
        assert_eq!(sanitize("@scope/pkg.name"), "scope-pkg-name");
        assert_eq!(sanitize("___"), "server");
        assert_eq!(sanitize(&"x".repeat(40)).len(), 32);
    }
}
