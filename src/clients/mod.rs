//! The MCP configuration of IDE and agent clients: where each client keeps
//! it, how to read the servers it lists, and how to add or remove one entry
//! without disturbing anything else in the file.
//!
//! What this module promises:
//! - **Nothing else changes.** An edit touches one server entry (and creates
//!   the servers table or the file when missing). Comments, key order,
//!   whitespace, line endings (LF or CRLF), a missing final newline and
//!   trailing commas in JSONC stay byte for byte as they were. JSON and JSONC
//!   are edited on a concrete syntax tree (`jsonc-parser`'s CST), TOML with
//!   `toml_edit`. A new entry is indented like its siblings. (One
//!   exception: an object written on a single line, such as a minified
//!   file's, is opened onto several lines when an entry is added to it.)
//! - **Idempotent.** Setting an entry to what it already is (by value: the
//!   formatting of the existing entry does not matter) returns the text
//!   unchanged; removing an absent entry too.
//! - **Keys it does not manage stay.** An existing entry is updated key by
//!   key: only the keys that [`ServerEntry`] describes (command, args, env,
//!   cwd, url, headers, the enabled flag, and the transport type where the
//!   client spells it out) are set or removed; others (Gemini's `trust`,
//!   Codex's `startup_timeout_sec`, VS Code's `envFile`...) are kept.
//! - **Never a guess on broken input.** A file that does not parse is an
//!   error naming the line and what to do; it is never rewritten. Every
//!   edit is read back before it is returned, and must give the entry asked
//!   for.
//! - **Safe writes.** [`write_with_backup`] backs the file up first, writes
//!   atomically with the file's own permissions, and refuses when the file
//!   changed since it was read (Claude Code rewrites `~/.claude.json` often).
//!
//! It must never: write a file that it could not read back, reformat what
//! it did not change, or follow `TOOLGATE_HOME` (the clients' files are
//! where the clients look, whatever toolgate's own home is).
//!
//! # The clients, as their sources describe them
//!
//! Checked against each client's documentation or source code; where a
//! source is a mirror or a third party, it says so.
//!
//! | client | user file | project file | format, servers key |
//! |---|---|---|---|
//! | `cursor` | `~/.cursor/mcp.json` | `.cursor/mcp.json` | JSON, `mcpServers` |
//! | `claude-desktop` | `Claude/claude_desktop_config.json` in the OS config folder | none | JSON, `mcpServers` |
//! | `claude-code` | `~/.claude.json` (top-level `mcpServers`) | `.mcp.json` | JSON, `mcpServers` |
//! | `vscode` | `Code/User/mcp.json` in the OS config folder | `.vscode/mcp.json` | JSONC, `servers` |
//! | `windsurf` | `~/.codeium/windsurf/mcp_config.json` | none | JSON, `mcpServers` |
//! | `codex` | `$CODEX_HOME/config.toml` (`~/.codex`) | `.codex/config.toml` | TOML, `[mcp_servers.NAME]` |
//! | `gemini-cli` | `~/.gemini/settings.json` | `.gemini/settings.json` | JSON with comments, `mcpServers` |
//! | `zed` | `zed/settings.json` in the config folder (below) | `.zed/settings.json` | JSONC, `context_servers` |
//!
//! The "OS config folder" is `directories::BaseDirs::config_dir`:
//! `$XDG_CONFIG_HOME` or `~/.config` on Linux, `~/Library/Application
//! Support` on macOS, `%APPDATA%` on Windows. Everything else hangs off the
//! home folder, so setting `HOME` (and `XDG_CONFIG_HOME`) redirects it all.
//!
//! - **Cursor** (cursor.com/docs/mcp, as quoted by developersdigest.tech and
//!   mcpbundles.com, checked Oct 2026): global `~/.cursor/mcp.json`, project
//!   `.cursor/mcp.json`; `{"mcpServers": {NAME: {"command", "args", "env"}}}`
//!   or `{"url", "headers"}` for remote servers (stdio, streamable HTTP and
//!   SSE). Plain JSON: a trailing comma breaks it (upstash/context7#563), so
//!   comments and trailing commas are refused here rather than preserved
//!   in a file Cursor cannot read. `type` is optional; kept in step when
//!   present.
//! - **Claude Desktop** (the MCP quickstart, as quoted by playwright.dev):
//!   `~/Library/Application Support/Claude/claude_desktop_config.json` on
//!   macOS, `%APPDATA%\Claude\claude_desktop_config.json` on Windows;
//!   Linux builds are unofficial and use `~/.config/Claude/` (e.g. the
//!   sigyl CLI's `claude-config.ts`). `mcpServers` with `command`, `args`,
//!   `env` only: remote servers are added as connectors in the app's
//!   settings, not in this file. No project scope.
//! - **Claude Code** (code.claude.com/docs/en/mcp): three scopes. User:
//!   top-level `mcpServers` in `~/.claude.json`, a large file of other state
//!   that is kept whole; local: `projects[PATH].mcpServers` in the same file
//!   (read with [`read_claude_code_local_servers`], never edited); project:
//!   `.mcp.json` at the project root. Entries are `{"type": "stdio",
//!   "command", "args", "env"}` (`type` may be left out for stdio) or
//!   `{"type": "http" | "sse", "url", "headers"}`. With `CLAUDE_CONFIG_DIR`
//!   set, `.claude.json` lives in that folder (anthropics/claude-code#24479).
//! - **VS Code** (code.visualstudio.com/docs/copilot/reference/mcp-configuration,
//!   and `src/vs/platform/mcp/common/mcpPlatformTypes.ts`): `.vscode/mcp.json`
//!   or `mcp.json` in the user profile folder (`Code/User/`); JSONC; top-level
//!   `servers` and `inputs` (kept untouched); entries `{"type": "stdio",
//!   "command", "args", "env", "envFile", "cwd"}` or `{"type": "http" |
//!   "sse", "url", "headers"}`. Only the default profile is edited (other
//!   profiles keep their own `mcp.json` under `User/profiles/ID/`).
//! - **Windsurf** (docs.windsurf.com/windsurf/cascade/mcp):
//!   `~/.codeium/windsurf/mcp_config.json` (`%USERPROFILE%` on Windows);
//!   `mcpServers` with `command`, `args`, `env`, or `serverUrl` (also `url`)
//!   and `headers` for remote servers; `"disabled": true` turns one off.
//!   (The JetBrains plugin's `~/.codeium/mcp_config.json` is another
//!   product.) No project scope.
//! - **Codex** (developers.openai.com/codex/config-reference, via a mirror,
//!   and `RawMcpServerConfig` in openai/codex `codex-rs`):
//!   `$CODEX_HOME/config.toml`, by default `~/.codex/config.toml`; projects
//!   may have `.codex/config.toml`, which Codex loads only for projects the
//!   user trusts. `[mcp_servers.NAME]` with `command`, `args`, `env`,
//!   `env_vars`, `cwd`, or `url`, `bearer_token_env_var`, `http_headers`,
//!   `env_http_headers` (streamable HTTP only, no SSE); `enabled = false`
//!   turns one off. Codex refuses a table that mixes the two kinds, so the
//!   other kind's keys are removed when an entry changes kind.
//! - **Gemini CLI** (google-gemini/gemini-cli `docs/tools/mcp-server.md`,
//!   `docs/cli/configuration.md`): `~/.gemini/settings.json` and
//!   `.gemini/settings.json`; `mcpServers` (top level, also in the newer
//!   nested settings layout) with `command`, `args`, `env`, `cwd`, or `url`
//!   (SSE) / `httpUrl` (streamable HTTP) and `headers`; plus `timeout`,
//!   `trust`, `includeTools`... (kept). Its settings loader runs
//!   `JSON.parse(stripJsonComments(content))`: comments are fine (the docs'
//!   own example has one), trailing commas are not.
//! - **Zed** (zed-industries/zed `ContextServerSettingsContent` in the
//!   settings crate, `docs/src/ai/mcp.md`, `crates/paths`): settings in
//!   `$XDG_CONFIG_HOME/zed/settings.json` on Linux (`$FLATPAK_XDG_CONFIG_HOME`
//!   in a Flatpak), `~/.config/zed/settings.json` on macOS,
//!   `%APPDATA%\Zed\settings.json` on Windows; project `.zed/settings.json`;
//!   JSONC. `context_servers` entries are, untagged: `{"command", "args",
//!   "env"}` (the docs add `"source": "custom"`, which every version
//!   accepts, so new entries carry it), `{"url", "headers"}`, or an
//!   extension's `{"source": "extension", "settings"}` (read back with
//!   neither a command nor a url); `"enabled": false` turns one off. Older
//!   Zed wrote `"command": {"path", "args", "env"}`: read too, and replaced
//!   by the current shape when toolgate sets that entry. Zed requires
//!   `args`, so it is always written.

mod jsonfile;
mod tomlfile;
mod write;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;

pub use crate::config::RemoteTransport;
use crate::error::UserError;
pub use write::{diff, write_with_backup};

/// An IDE or agent that reads MCP servers from its own configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Client {
    Cursor,
    ClaudeDesktop,
    ClaudeCode,
    Vscode,
    Windsurf,
    Codex,
    GeminiCli,
    Zed,
}

/// How a client's file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// Strict JSON: the client parses it with a JSON parser that refuses
    /// comments and trailing commas.
    Json,
    /// JSON with comments, and trailing commas where
    /// [`Client::trailing_commas`] says.
    Jsonc,
    Toml,
}

impl Client {
    /// Every client, in the order listings show them.
    pub const ALL: [Client; 8] = [
        Client::Cursor,
        Client::ClaudeDesktop,
        Client::ClaudeCode,
        Client::Vscode,
        Client::Windsurf,
        Client::Codex,
        Client::GeminiCli,
        Client::Zed,
    ];

    /// The name on the command line: `cursor`, `claude-desktop`, ...
    pub fn name(self) -> &'static str {
        match self {
            Client::Cursor => "cursor",
            Client::ClaudeDesktop => "claude-desktop",
            Client::ClaudeCode => "claude-code",
            Client::Vscode => "vscode",
            Client::Windsurf => "windsurf",
            Client::Codex => "codex",
            Client::GeminiCli => "gemini-cli",
            Client::Zed => "zed",
        }
    }

    /// The client named exactly so (see [`Client::name`]).
    pub fn parse(s: &str) -> Option<Client> {
        Client::ALL.into_iter().find(|c| c.name() == s)
    }

    /// The product's name, for people: `Cursor`, `Claude Desktop`, ...
    pub fn display_name(self) -> &'static str {
        match self {
            Client::Cursor => "Cursor",
            Client::ClaudeDesktop => "Claude Desktop",
            Client::ClaudeCode => "Claude Code",
            Client::Vscode => "VS Code",
            Client::Windsurf => "Windsurf",
            Client::Codex => "Codex",
            Client::GeminiCli => "Gemini CLI",
            Client::Zed => "Zed",
        }
    }

    /// Whether the client reads a configuration file inside a project.
    pub fn has_project_scope(self) -> bool {
        !matches!(self, Client::ClaudeDesktop | Client::Windsurf)
    }

    /// The key (JSON) or table (TOML) that holds the servers.
    pub fn servers_key(self) -> &'static str {
        match self {
            Client::Vscode => "servers",
            Client::Codex => "mcp_servers",
            Client::Zed => "context_servers",
            _ => "mcpServers",
        }
    }

    /// The config file for this scope; `project` = Some(project root) for
    /// project scope. Err (clear sentence) when the client has no
    /// project-level config. User-level paths follow the home folder (and
    /// `XDG_CONFIG_HOME`, `CODEX_HOME`, `CLAUDE_CONFIG_DIR`), never
    /// `TOOLGATE_HOME`.
    pub fn config_path(self, project: Option<&Path>) -> Result<PathBuf> {
        if let Some(root) = project {
            return self.project_path(root);
        }
        let dirs = directories::BaseDirs::new().ok_or_else(|| {
            UserError::new(format!(
                "could not find your home folder, where {} keeps its configuration",
                self.display_name()
            ))
            .hint("set HOME to your home folder")
        })?;
        Ok(self.user_path(dirs.home_dir(), dirs.config_dir(), &|name| {
            std::env::var_os(name)
        }))
    }

    fn project_path(self, root: &Path) -> Result<PathBuf> {
        let relative = match self {
            Client::Cursor => ".cursor/mcp.json",
            Client::ClaudeCode => ".mcp.json",
            Client::Vscode => ".vscode/mcp.json",
            Client::Codex => ".codex/config.toml",
            Client::GeminiCli => ".gemini/settings.json",
            Client::Zed => ".zed/settings.json",
            Client::ClaudeDesktop | Client::Windsurf => {
                return Err(UserError::new(format!(
                    "{} has no project-level MCP configuration, only a user-level one",
                    self.display_name()
                ))
                .hint(format!(
                    "leave out the project to use {}'s user-level file",
                    self.display_name()
                ))
                .into());
            }
        };
        Ok(root.join(relative))
    }

    /// The user-level file, from the home folder, the OS config folder and
    /// the environment (`var` reads a variable; empty counts as unset).
    fn user_path(
        self,
        home: &Path,
        config_dir: &Path,
        var: &dyn Fn(&str) -> Option<OsString>,
    ) -> PathBuf {
        let var = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        match self {
            Client::Cursor => home.join(".cursor").join("mcp.json"),
            Client::ClaudeDesktop => config_dir.join("Claude").join("claude_desktop_config.json"),
            Client::ClaudeCode => var("CLAUDE_CONFIG_DIR")
                .unwrap_or_else(|| home.to_path_buf())
                .join(".claude.json"),
            Client::Vscode => config_dir.join("Code").join("User").join("mcp.json"),
            Client::Windsurf => home
                .join(".codeium")
                .join("windsurf")
                .join("mcp_config.json"),
            Client::Codex => var("CODEX_HOME")
                .unwrap_or_else(|| home.join(".codex"))
                .join("config.toml"),
            Client::GeminiCli => home.join(".gemini").join("settings.json"),
            Client::Zed => {
                let dir = if cfg!(windows) {
                    config_dir.join("Zed")
                } else if cfg!(any(target_os = "linux", target_os = "freebsd")) {
                    var("FLATPAK_XDG_CONFIG_HOME")
                        .unwrap_or_else(|| config_dir.to_path_buf())
                        .join("zed")
                } else {
                    home.join(".config").join("zed")
                };
                dir.join("settings.json")
            }
        }
    }

    /// Whether the client's JSON parser accepts trailing commas: VS Code's
    /// and Zed's do; Gemini CLI strips comments (`strip-json-comments`) and
    /// then parses strict JSON.
    fn trailing_commas(self) -> bool {
        matches!(self, Client::Vscode | Client::Zed)
    }

    fn format(self) -> Format {
        match self {
            Client::Codex => Format::Toml,
            Client::Vscode | Client::GeminiCli | Client::Zed => Format::Jsonc,
            Client::Cursor | Client::ClaudeDesktop | Client::ClaudeCode | Client::Windsurf => {
                Format::Json
            }
        }
    }
}

/// One MCP server as a client configures it (a neutral shape).
///
/// A stdio server has a `command`; a remote one a `url`. An entry read from
/// a client may have neither (a Zed extension's server): there is nothing
/// toolgate could run for it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ServerEntry {
    pub command: Option<String>,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<String>,
    pub url: Option<String>,
    pub headers: BTreeMap<String, String>,
    /// Turned off in the client (Windsurf `disabled`, Zed and Codex
    /// `enabled = false`); the other clients have no such flag.
    pub disabled: bool,
    /// How to reach a remote server, where the client says: `Sse` or
    /// `StreamableHttp` when read from a client that tells them apart
    /// (Claude Code and VS Code `type`, Gemini `url` / `httpUrl`, Codex), else
    /// `None`. When writing, `None` (or `Auto`) keeps the client's existing
    /// choice, or uses streamable HTTP for a new entry.
    pub transport: Option<RemoteTransport>,
}

/// Servers configured in a config file's text (name -> entry), in file order.
/// Empty text (a missing file) has none. For Claude Code's `~/.claude.json`,
/// these are the user-scope servers (top-level `mcpServers`).
pub fn read_servers(client: Client, text: &str) -> Result<Vec<(String, ServerEntry)>> {
    all_or_nothing(read_entries(client, text)?)
}

/// The servers of a file, each entry read on its own: an odd entry does
/// not keep toolgate from editing another one.
type Entries = Vec<(String, Result<ServerEntry>)>;

fn read_entries(client: Client, text: &str) -> Result<Entries> {
    match client.format() {
        Format::Toml => tomlfile::read(text),
        Format::Json | Format::Jsonc => jsonfile::read(client, text),
    }
}

fn all_or_nothing(entries: Entries) -> Result<Vec<(String, ServerEntry)>> {
    entries
        .into_iter()
        .map(|(name, entry)| Ok((name, entry?)))
        .collect()
}

/// Claude Code's local-scope servers of one project: `projects[PATH].mcpServers`
/// in `~/.claude.json`, where `project` is the project's absolute path as
/// Claude Code recorded it.
pub fn read_claude_code_local_servers(
    text: &str,
    project: &Path,
) -> Result<Vec<(String, ServerEntry)>> {
    all_or_nothing(jsonfile::read_claude_code_local(text, project)?)
}

/// The text with server `name` set to `entry` (added, or replaced in place), everything else untouched.
/// Returns the same text when the entry is already exactly that (idempotent).
/// Empty text (a missing file) gives a new file.
pub fn upsert_server(
    client: Client,
    text: &str,
    name: &str,
    entry: &ServerEntry,
) -> Result<String> {
    check_name(name)?;
    check_entry(client, entry)?;
    let new = match client.format() {
        Format::Toml => tomlfile::upsert(text, name, entry)?,
        Format::Json | Format::Jsonc => jsonfile::upsert(client, text, name, entry)?,
    };
    if new != text {
        check_written(client, &new, name, entry)?;
    }
    Ok(new)
}

/// The text without server `name` (unchanged text if absent).
pub fn remove_server(client: Client, text: &str, name: &str) -> Result<String> {
    let new = match client.format() {
        Format::Toml => tomlfile::remove(text, name)?,
        Format::Json | Format::Jsonc => jsonfile::remove(client, text, name)?,
    };
    if new != text && read_entries(client, &new)?.iter().any(|(n, _)| n == name) {
        anyhow::bail!(
            "internal error: {name} is still in the {} configuration after removing it; the file was not changed",
            client.display_name()
        );
    }
    Ok(new)
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(UserError::new("a server needs a name").into());
    }
    Ok(())
}

/// Refuses an entry the client cannot express, rather than writing a
/// setting the client would ignore.
fn check_entry(client: Client, entry: &ServerEntry) -> Result<()> {
    let who = client.display_name();
    let unsupported = |what: &str| -> Result<()> {
        Err(UserError::new(format!("{who} has no setting {what}")).into())
    };
    match (&entry.command, &entry.url) {
        (Some(_), Some(_)) => {
            return Err(UserError::new(
                "a server has either a command (stdio) or a url (remote), not both",
            )
            .into());
        }
        (None, None) => {
            return Err(
                UserError::new("a server needs a command (stdio) or a url (remote)").into(),
            );
        }
        _ => {}
    }
    if entry.url.is_some() && client == Client::ClaudeDesktop {
        return Err(UserError::new(
            "Claude Desktop does not read remote MCP servers from its configuration file",
        )
        .hint("add a remote server in Claude Desktop as a connector (Settings > Connectors)")
        .into());
    }
    if entry.url.is_some()
        && client == Client::Codex
        && entry.transport == Some(RemoteTransport::Sse)
    {
        return Err(UserError::new(
            "Codex connects to remote MCP servers over streamable HTTP only, not SSE",
        )
        .into());
    }
    let cwd = matches!(client, Client::Vscode | Client::Codex | Client::GeminiCli);
    if entry.cwd.is_some() && (!cwd || entry.command.is_none()) {
        return unsupported("for the working folder (cwd) of an MCP server");
    }
    let flag = matches!(client, Client::Windsurf | Client::Codex | Client::Zed);
    if entry.disabled && !flag {
        return unsupported("to turn an MCP server off");
    }
    if entry.command.is_some() && !entry.headers.is_empty() {
        return Err(UserError::new("headers apply to a remote server (url) only").into());
    }
    if entry.url.is_some() && (!entry.args.is_empty() || !entry.env.is_empty()) {
        return Err(UserError::new("args and env apply to a stdio server (command) only").into());
    }
    Ok(())
}

/// Reads an edit back: it must give the entry asked for.
fn check_written(client: Client, text: &str, name: &str, want: &ServerEntry) -> Result<()> {
    let unreadable = |e: anyhow::Error| {
        anyhow::anyhow!(
            "internal error: the edited {} configuration does not read back ({e:#}); the file was not changed",
            client.display_name()
        )
    };
    let got = read_entries(client, text)
        .map_err(unreadable)?
        .into_iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, e)| e)
        .transpose()
        .map_err(unreadable)?;
    let same = got.as_ref().is_some_and(|got| {
        let transport_ok = match (want.transport, got.transport) {
            (Some(w @ (RemoteTransport::Sse | RemoteTransport::StreamableHttp)), Some(g)) => w == g,
            _ => true,
        };
        got.command == want.command
            && got.args == want.args
            && got.env == want.env
            && got.cwd == want.cwd
            && got.url == want.url
            && got.headers == want.headers
            && got.disabled == want.disabled
            && transport_ok
    });
    if !same {
        anyhow::bail!(
            "internal error: the edited {} configuration reads back as {got:?}, not as the entry asked for; the file was not changed",
            client.display_name()
        );
    }
    Ok(())
}

/// What an edit wants of one key of a server entry. Values are JSON; the
/// TOML side converts them.
#[derive(Debug, Clone)]
enum Want {
    /// The key must have this value; written in a new entry.
    Set(Value),
    /// Absent, or this value (set it when it differs); written in a new
    /// entry. (`"type": "stdio"`, which Claude Code and VS Code assume.)
    Default(Value),
    /// Absent, or this value (set it when it differs); not written in a new
    /// entry. (Cursor's optional `type`.)
    IfPresent(Value),
    /// Absent, or this value (removed when it differs); not written in a
    /// new entry. (`"disabled": false`, `"args": []`.)
    Optional(Value),
    /// The key must not be there.
    Absent,
}

/// The keys of one server entry, in the order a new entry lists them.
type Plan = Vec<(&'static str, Want)>;

fn string_list(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}

fn string_map(map: &BTreeMap<String, String>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// `args`: set, or (when there are none) absent or empty.
fn want_list(items: &[String]) -> Want {
    if items.is_empty() {
        Want::Optional(Value::Array(vec![]))
    } else {
        Want::Set(string_list(items))
    }
}

/// `env`, `headers`: set, or (when there are none) absent or empty.
fn want_map(map: &BTreeMap<String, String>) -> Want {
    if map.is_empty() {
        Want::Optional(Value::Object(Default::default()))
    } else {
        Want::Set(string_map(map))
    }
}

fn want_string(value: Option<&String>) -> Want {
    match value {
        Some(v) => Want::Set(Value::String(v.clone())),
        None => Want::Absent,
    }
}

/// The remote `type` (`http` or `sse`): as asked, else the existing one,
/// else streamable HTTP.
fn remote_type(transport: Option<RemoteTransport>, existing: Option<&Value>) -> &'static str {
    match transport {
        Some(RemoteTransport::Sse) => "sse",
        Some(RemoteTransport::StreamableHttp) => "http",
        Some(RemoteTransport::Auto) | None => match existing.and_then(Value::as_str) {
            Some("sse") => "sse",
            _ => "http",
        },
    }
}

/// A UTF-8 byte order mark, kept aside while the rest is edited.
fn split_bom(text: &str) -> (&str, &str) {
    match text.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", text),
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The error for a file that does not parse: what is wrong, where, and
/// that the file was left alone.
fn syntax_error(
    client: Client,
    what: &str,
    message: &str,
    line: usize,
    column: usize,
) -> anyhow::Error {
    let mut message = message.trim().to_string();
    if let Some(first) = message.get(..1) {
        let lower = first.to_lowercase();
        message.replace_range(..1, &lower);
    }
    let rules = match client.format() {
        Format::Json => " as strict JSON (no comments, no trailing commas)",
        Format::Jsonc if !client.trailing_commas() => " as JSON with comments (no trailing commas)",
        Format::Jsonc | Format::Toml => "",
    };
    UserError::new(format!(
        "it is not valid {what}: {message} (line {line}, column {column})"
    ))
    .hint(format!(
        "{} reads this file{rules}: fix line {line}, then run the command again (toolgate has not changed the file)",
        client.display_name()
    ))
    .into()
}
