//! The user config, `config.toml`.
//!
//! Strict by design: an unknown key is an error that names the key and its
//! line, so a typo never silently turns a setting off. Every field is
//! documented here and in the README's configuration reference.
//!
//! ```toml
//! [serve]
//! max_name_length = 48      # longest exposed tool or prompt name
//! list_wait = "2s"          # how long tools/list waits for upstreams still starting
//! max_message_size = 67108864
//!
//! [servers.everything]      # a stdio upstream: toolgate starts it
//! command = "npx"
//! args = ["-y", "@modelcontextprotocol/server-everything"]
//! env = { LOG_LEVEL = "info" }
//! cwd = "/home/me/work"
//! inherit_env = ["AWS_PROFILE"]
//! timeout = "2m"            # per request
//! startup_timeout = "60s"   # spawn to initialize result
//! prefix = "ev"             # tools exposed as ev__echo (default: the server's name)
//! enabled = true
//!
//! [servers.docs]            # a remote upstream
//! url = "https://example.com/mcp"
//! headers = { X-Team = "platform" }
//! transport = "auto"        # auto | streamable-http | sse
//!
//! [servers.brave]           # secrets are references, resolved from the keychain
//! command = "npx"
//! args = ["-y", "@brave/brave-search-mcp-server"]
//! env = { BRAVE_API_KEY = "${secret:BRAVE_API_KEY}" }
//!
//! [keychain]
//! backend = "auto"          # auto | secret-service | keyutils (Linux; lost at reboot)
//! ```
//!
//! Values of `env` and `headers` may reference secrets (see
//! [`crate::secrets::refs`]); a value that looks like a plain secret (a
//! variable named like `*_TOKEN` or `*API_KEY*`, an `Authorization` header, a
//! well-known token format) is refused with a hint to move it to the
//! keychain with `toolgate secret set`.
//!
//! Where no config file exists, toolgate runs on an embedded default: no
//! upstream servers, default settings (see [`Config::default`]).

pub mod paths;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;

pub use paths::Paths;

use crate::error::UserError;
use crate::util::ConfigDuration;

/// Default per-request timeout of an upstream.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Default time from spawn (or connect) to the upstream's `initialize` result.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Default longest exposed name: 64 (the strictest client limit) minus room for
/// a client's own prefix such as Claude Code's `mcp__toolgate__` (15 characters).
pub const DEFAULT_MAX_NAME_LENGTH: usize = 48;
/// Default limit of one JSON-RPC message, either way.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;
/// Default wait of `tools/list` for upstreams that are still starting.
pub const DEFAULT_LIST_WAIT: Duration = Duration::from_secs(2);

/// The whole user config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Settings of the proxy itself.
    #[serde(default)]
    pub serve: ServeSettings,
    /// Upstream MCP servers, by name. The name is also the default prefix of
    /// their tools and prompts.
    #[serde(default)]
    pub servers: BTreeMap<String, ServerConfig>,
    /// Where secrets and tokens are kept.
    #[serde(default)]
    pub keychain: crate::secrets::KeychainSettings,
    /// The org's profile registry (see [`crate::profile`]).
    #[serde(default)]
    pub registry: crate::profile::registry::RegistrySettings,
    /// The user's own policy rules (see [`crate::policy`]): in force alone
    /// without an org profile, and only where stricter under one.
    pub policy: Option<crate::policy::PolicyConfig>,
    /// The audit trail (see [`crate::audit`]).
    #[serde(default)]
    pub audit: AuditSettings,
}

/// `[audit]`: the local audit trail.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Record every call and governance event in `STATE/audit.db` (default
    /// `true`).
    pub enabled: bool,
    /// What a call does when its record cannot be written (a full disk, a
    /// broken state folder): `"deny"` it (fail closed), or `"continue"`
    /// unrecorded, the gap recorded (`audit.dropped`) once the trail works
    /// again. Default: `"continue"` for personal use, `"deny"` where a sink
    /// is configured; an org profile's `[audit] required = true` forces
    /// `"deny"`.
    pub on_failure: Option<OnFailure>,
    /// `"normal"` (default: a record survives the process being killed) or
    /// `"fsync"` (it also survives power loss; each commit waits for the
    /// disk).
    pub durability: Durability,
    /// A signed checkpoint every this many records (default 1000; 0: only
    /// by time and at shutdown).
    pub checkpoint_every: u64,
    /// A signed checkpoint this often when records were added (default
    /// "60s").
    pub checkpoint_interval: ConfigDuration,
    /// Where records are uploaded (see [`crate::audit::upload`]). An org
    /// profile's `[audit.sinks]` replace these.
    pub sinks: BTreeMap<String, crate::audit::upload::SinkConfig>,
    /// How much the local trail may hold, and what happens at the bound
    /// (see [`crate::audit::upload::SpoolSettings`]). An org profile's
    /// `[audit.spool]` replaces it.
    pub spool: crate::audit::upload::SpoolSettings,
    /// What a call's record keeps of its result: `"omit"` (default: only
    /// its size) or `"redacted"` (the result, after redaction of secrets
    /// and personal data). An org profile's setting replaces it.
    pub results: AuditResults,
}

/// `[audit] results`.
#[derive(Debug, Clone, Copy, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuditResults {
    #[default]
    Omit,
    Redacted,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            on_failure: None,
            durability: Durability::Normal,
            checkpoint_every: 1000,
            checkpoint_interval: ConfigDuration(Duration::from_secs(60)),
            sinks: BTreeMap::new(),
            spool: Default::default(),
            results: AuditResults::Omit,
        }
    }
}

/// `[audit] on_failure`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    Deny,
    Continue,
}

impl AuditSettings {
    /// Whether a call goes on when its record cannot be written.
    pub fn fails_open(&self) -> bool {
        match self.on_failure {
            Some(OnFailure::Continue) => true,
            Some(OnFailure::Deny) => false,
            None => self.sinks.is_empty(),
        }
    }
}

/// `[audit] durability`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    #[default]
    Normal,
    Fsync,
}

/// `[serve]`: settings of the proxy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeSettings {
    /// Longest exposed tool or prompt name (8 to 64; default 48).
    pub max_name_length: usize,
    /// How long `tools/list` (and the other lists) wait for upstreams that are
    /// still starting before answering with the ones that are ready (default
    /// "2s"). Late upstreams are announced with `list_changed`.
    pub list_wait: ConfigDuration,
    /// Largest JSON-RPC message accepted from the IDE or an upstream, in bytes
    /// (default 64 MiB). Larger messages are refused with an error.
    pub max_message_size: usize,
}

impl Default for ServeSettings {
    fn default() -> Self {
        Self {
            max_name_length: DEFAULT_MAX_NAME_LENGTH,
            list_wait: ConfigDuration(DEFAULT_LIST_WAIT),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}

/// `[servers.NAME]`: one upstream MCP server.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Stdio upstream: the program to run. A bare name is searched in `PATH`
    /// and then where the user's shell would find it (see `upstream::command`).
    pub command: Option<String>,
    /// Stdio upstream: its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Stdio upstream: environment variables set for it.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Stdio upstream: names of further variables of toolgate's own
    /// environment passed through (beyond the documented base set).
    #[serde(default)]
    pub inherit_env: Vec<String>,
    /// Stdio upstream: its working folder (default: toolgate's).
    pub cwd: Option<PathBuf>,
    /// Remote upstream: its MCP endpoint.
    pub url: Option<String>,
    /// Remote upstream: HTTP headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Remote upstream: `auto` (streamable HTTP, falling back to legacy SSE),
    /// `streamable-http` or `sse`.
    pub transport: Option<RemoteTransport>,
    /// `false` keeps the entry but never starts it (default `true`).
    pub enabled: Option<bool>,
    /// Per-request timeout (default "2m").
    pub timeout: Option<ConfigDuration>,
    /// From spawn or connect to the `initialize` result (default "60s").
    pub startup_timeout: Option<ConfigDuration>,
    /// Prefix of exposed tool and prompt names: `PREFIX__tool`. Default: the
    /// server's name. `""` exposes names unprefixed.
    pub prefix: Option<String>,
    /// Remote upstream: OAuth settings (all optional: toolgate discovers the
    /// authorization server and registers itself where it can).
    pub oauth: Option<OAuthConfig>,
}

/// `[servers.NAME.oauth]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// A client id registered with the authorization server beforehand
    /// (used instead of dynamic registration).
    pub client_id: Option<String>,
    /// Its secret, as a `${secret:NAME}` reference (never a literal).
    pub client_secret: Option<String>,
    /// Scopes to ask for, beyond those the server's challenge names.
    pub scopes: Option<Vec<String>>,
    /// The URL of a client ID metadata document the organisation publishes
    /// for toolgate; used as the client id where the authorization server
    /// supports such documents.
    pub client_metadata_url: Option<String>,
    /// The loopback redirect URI, such as `http://127.0.0.1:33418/callback`,
    /// for a pre-registered client whose server requires a fixed port
    /// (default: a free port on 127.0.0.1).
    pub redirect_uri: Option<String>,
    /// Whether `serve` may open the browser by itself when a login is needed
    /// (default true). When false, a call says `run: toolgate login NAME`.
    pub auto_login: Option<bool>,
}

/// How to reach a remote upstream.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RemoteTransport {
    Auto,
    StreamableHttp,
    Sse,
}

/// Where the config in effect came from.
#[derive(Debug, Clone)]
pub enum Source {
    File(PathBuf),
    /// No config file exists: the embedded default.
    Embedded,
}

/// A loaded, validated config.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub source: Source,
}

impl ServerConfig {
    pub fn enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }

    pub fn timeout(&self) -> Duration {
        self.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0)
    }

    pub fn startup_timeout(&self) -> Duration {
        self.startup_timeout
            .map_or(DEFAULT_STARTUP_TIMEOUT, |d| d.0)
    }

    /// The prefix of exposed names: the configured one, else the server name.
    pub fn prefix<'a>(&'a self, name: &'a str) -> &'a str {
        self.prefix.as_deref().unwrap_or(name)
    }

    /// `stdio`, `http` or `sse`, for listings.
    pub fn transport_label(&self) -> &'static str {
        match (&self.command, self.transport) {
            (Some(_), _) => "stdio",
            (None, Some(RemoteTransport::Sse)) => "sse",
            (None, _) => "http",
        }
    }
}

/// Whether a server name (and a prefix) is acceptable: it becomes part of
/// exposed names, so it follows their alphabet.
pub fn valid_server_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && !name.contains("__")
}

impl Config {
    /// Parses and validates config text. `origin` names the file in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let config: Config = toml::from_str(text).map_err(|e| {
            UserError::new(format!(
                "{} is not a valid toolgate config: {}",
                origin.display(),
                e.to_string().trim_end()
            ))
            .hint("fix the line shown above; every key is documented in the README's configuration reference")
        })?;
        config.validate().map_err(|e| {
            let hint = e.hint.clone().unwrap_or_else(|| {
                format!(
                    "fix it in {}; every key is documented in the README's configuration reference",
                    origin.display()
                )
            });
            UserError::new(format!("{}: {}", origin.display(), e.message)).hint(hint)
        })?;
        Ok(config)
    }

    /// Checks what types alone cannot.
    pub fn validate(&self) -> std::result::Result<(), UserError> {
        let s = &self.serve;
        if !(8..=64).contains(&s.max_name_length) {
            return Err(UserError::new(format!(
                "serve.max_name_length is {}, but must be between 8 and 64",
                s.max_name_length
            )));
        }
        if s.max_message_size < 4096 {
            return Err(UserError::new(
                "serve.max_message_size must be at least 4096 bytes",
            ));
        }
        let mut prefixes: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, server) in &self.servers {
            let at = format!("servers.{name}");
            if !valid_server_name(name) {
                return Err(UserError::new(format!(
                    "\"{name}\" is not a valid server name: use up to 32 letters, digits, '-' or '_', without \"__\""
                )));
            }
            match (&server.command, &server.url) {
                (Some(_), Some(_)) => {
                    return Err(UserError::new(format!(
                        "{at} sets both command and url; a server is either started by toolgate (command) or remote (url)"
                    )));
                }
                (None, None) => {
                    return Err(UserError::new(format!(
                        "{at} sets neither command nor url"
                    ))
                    .hint("add command = \"...\" for a local server, or url = \"https://...\" for a remote one".to_string()));
                }
                (Some(command), None) => {
                    if command.trim().is_empty() {
                        return Err(UserError::new(format!("{at}.command is empty")));
                    }
                    if !server.headers.is_empty() || server.transport.is_some() {
                        return Err(UserError::new(format!(
                            "{at} is a stdio server (command), so headers and transport do not apply"
                        )));
                    }
                }
                (None, Some(url)) => {
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(UserError::new(format!(
                            "{at}.url must start with http:// or https://"
                        )));
                    }
                    if !server.args.is_empty()
                        || !server.env.is_empty()
                        || server.cwd.is_some()
                        || !server.inherit_env.is_empty()
                    {
                        return Err(UserError::new(format!(
                            "{at} is a remote server (url), so args, env, inherit_env and cwd do not apply"
                        )));
                    }
                }
            }
            check_secrets(name, server)?;
            if let Some(oauth) = &server.oauth {
                check_oauth(name, server, oauth)?;
            }
            if let Some(prefix) = &server.prefix
                && !prefix.is_empty()
                && !valid_server_name(prefix)
            {
                return Err(UserError::new(format!(
                    "{at}.prefix \"{prefix}\" is not valid: use up to 32 letters, digits, '-' or '_', without \"__\", or \"\" for none"
                )));
            }
            if server.timeout.is_some_and(|t| t.0.is_zero())
                || server.startup_timeout.is_some_and(|t| t.0.is_zero())
            {
                return Err(UserError::new(format!(
                    "{at}: a timeout of zero would fail every request"
                )));
            }
            if server.enabled() {
                let prefix = server.prefix(name);
                if !prefix.is_empty()
                    && let Some(other) = prefixes.insert(prefix, name)
                {
                    return Err(UserError::new(format!(
                            "servers.{other} and {at} both expose their tools with the prefix \"{prefix}\""
                        ))
                        .hint("give one of them another prefix = \"...\""));
                }
            }
        }
        crate::audit::upload::check_bounds(&self.audit.sinks, Some(&self.audit.spool))
            .map_err(UserError::new)?;
        Ok(())
    }

    /// Loads the config from `paths.config_file`, or the embedded default when
    /// the file does not exist; then applies the org-managed settings.
    pub fn load(paths: &Paths) -> Result<Loaded> {
        let path = &paths.config_file;
        let mut loaded = match std::fs::read_to_string(path) {
            Ok(text) => Loaded {
                config: Self::parse(&text, path)?,
                source: Source::File(path.clone()),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Loaded {
                config: Self::default(),
                source: Source::Embedded,
            },
            Err(e) => {
                return Err(UserError::new(format!(
                    "could not read the config file {}: {e}",
                    path.display()
                ))
                .hint("check the file's permissions, or use another file with --config (or TOOLGATE_CONFIG)")
                .into());
            }
        };
        if let Some(managed) = Managed::load()? {
            managed.apply(&mut loaded.config);
        }
        Ok(loaded)
    }

    /// Enabled servers, in name order.
    pub fn enabled_servers(&self) -> impl Iterator<Item = (&String, &ServerConfig)> {
        self.servers.iter().filter(|(_, s)| s.enabled())
    }
}

/// Org-managed settings: a file only an administrator can write, whose
/// settings the user's config cannot override. On Linux and BSD
/// `/etc/toolgate/managed.toml`, on macOS
/// `/Library/Application Support/toolgate/managed.toml`, on Windows
/// `%ProgramData%\toolgate\managed.toml`; `TOOLGATE_MANAGED_CONFIG` points
/// elsewhere (packaging and tests). It may hold `[registry]` only:
///
/// ```toml
/// [registry]
/// url = "https://example.com/toolgate/profile.toml"
/// keys = ["RW..."]     # replaces the user's keys: users cannot add trust
/// required = true
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Managed {
    #[serde(default)]
    pub registry: ManagedRegistry,
    #[serde(skip)]
    pub path: PathBuf,
}

/// `[registry]` of the managed file: what it sets wins.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedRegistry {
    pub url: Option<String>,
    pub keys: Option<Vec<String>>,
    pub required: Option<bool>,
    pub refresh: Option<ConfigDuration>,
    pub warn_before: Option<ConfigDuration>,
}

impl Managed {
    /// Where the managed file is looked for.
    pub fn path() -> PathBuf {
        if let Some(p) = std::env::var_os("TOOLGATE_MANAGED_CONFIG").filter(|v| !v.is_empty()) {
            return PathBuf::from(p);
        }
        if cfg!(target_os = "macos") {
            PathBuf::from("/Library/Application Support/toolgate/managed.toml")
        } else if cfg!(windows) {
            std::env::var_os("ProgramData")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
                .join("toolgate")
                .join("managed.toml")
        } else {
            PathBuf::from("/etc/toolgate/managed.toml")
        }
    }

    /// Reads the managed file, if there is one. A file that users could
    /// write, or that does not parse, is an error: it must not be ignored.
    pub fn load() -> Result<Option<Self>> {
        let path = Self::path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(UserError::new(format!(
                    "could not read the org-managed settings {}: {e}",
                    path.display()
                ))
                .hint("an administrator should make it readable by every user: chmod 644 it")
                .into());
            }
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(&path)?;
            if meta.uid() != 0 || meta.mode() & 0o022 != 0 {
                return Err(UserError::new(format!(
                    "the org-managed settings {} can be changed by users (it must belong to root and not be group- or world-writable)",
                    path.display()
                ))
                .hint(format!("an administrator should run: chown root {0} && chmod 644 {0}", path.display()))
                .into());
            }
        }
        let mut managed: Managed = toml::from_str(&text).map_err(|e| {
            UserError::new(format!(
                "the org-managed settings {} are invalid: {}",
                path.display(),
                e.to_string().trim_end()
            ))
            .hint("the org's administrators must fix the line shown above; toolgate does not run without the settings they manage")
        })?;
        managed.path = path;
        Ok(Some(managed))
    }

    /// Overrides what the user's config says with what this file sets.
    pub fn apply(&self, config: &mut Config) {
        let r = &self.registry;
        let c = &mut config.registry;
        if let Some(url) = &r.url {
            c.url = Some(url.clone());
        }
        if let Some(keys) = &r.keys {
            c.keys = keys.clone();
        }
        if let Some(required) = r.required {
            c.required = required;
        }
        if let Some(refresh) = r.refresh {
            c.refresh = Some(refresh);
        }
        if let Some(w) = r.warn_before {
            c.warn_before = Some(w);
        }
        c.managed = Some(self.path.clone());
    }
}

/// Checks the `${secret:...}` references of a server entry and refuses
/// plain secrets. Errors never quote the value.
fn check_secrets(name: &str, server: &ServerConfig) -> std::result::Result<(), UserError> {
    use crate::secrets::refs::{self, Template};
    let move_hint = |var: &str| {
        format!(
            "keep it in the keychain: `printf %s \"$VALUE\" | toolgate secret set {name} {var}`, then write \"${{secret:{var}}}\" in config.toml instead of the value"
        )
    };
    for (key, value) in &server.env {
        let at = format!("servers.{name}.env.{key}");
        let t = Template::parse(value, name).map_err(|e| UserError::new(format!("{at}: {e}")))?;
        if refs::env_is_plain_secret(key, &t.literal_text()) {
            return Err(UserError::new(format!(
                "{at} holds what looks like a plain secret, and config.toml must not hold secrets"
            ))
            .hint(move_hint(&secret_name_for(key))));
        }
    }
    for (key, value) in &server.headers {
        let at = format!("servers.{name}.headers.{key}");
        let t = Template::parse(value, name).map_err(|e| UserError::new(format!("{at}: {e}")))?;
        if refs::header_is_plain_secret(key, &t.literal_text()) {
            return Err(UserError::new(format!(
                "{at} holds what looks like a plain secret, and config.toml must not hold secrets"
            ))
            .hint(move_hint(&secret_name_for(key))));
        }
    }
    for (i, arg) in server.args.iter().enumerate() {
        let value = arg.split_once('=').map_or(arg.as_str(), |(_, v)| v);
        if refs::looks_like_token(value) {
            return Err(UserError::new(format!(
                "servers.{name}.args[{i}] holds what looks like a token, and config.toml must not hold secrets"
            ))
            .hint("pass it through env instead: env = { VAR = \"${secret:VAR}\" } after `toolgate secret set`, if the server reads it from its environment"));
        }
    }
    Ok(())
}

fn check_oauth(
    name: &str,
    server: &ServerConfig,
    oauth: &OAuthConfig,
) -> std::result::Result<(), UserError> {
    use crate::secrets::refs::Template;
    let at = format!("servers.{name}.oauth");
    if server.url.is_none() {
        return Err(UserError::new(format!(
            "{at} is set, but OAuth applies to remote servers (url) only"
        )));
    }
    if let Some(secret) = &oauth.client_secret {
        let t = Template::parse(secret, name)
            .map_err(|e| UserError::new(format!("{at}.client_secret: {e}")))?;
        if !t.has_refs() || !t.literal_text().is_empty() {
            return Err(UserError::new(format!(
                "{at}.client_secret must be a ${{secret:NAME}} reference, not the secret itself"
            ))
            .hint(format!(
                "run `printf %s \"$CLIENT_SECRET\" | toolgate secret set {name} OAUTH_CLIENT_SECRET`, then write client_secret = \"${{secret:OAUTH_CLIENT_SECRET}}\""
            )));
        }
        if oauth.client_id.is_none() {
            return Err(UserError::new(format!(
                "{at}.client_secret is set without client_id"
            )));
        }
    }
    if let Some(u) = &oauth.client_metadata_url
        && !u.starts_with("https://")
    {
        return Err(UserError::new(format!(
            "{at}.client_metadata_url must be an https:// URL"
        )));
    }
    if let Some(r) = &oauth.redirect_uri {
        let ok = reqwest::Url::parse(r).is_ok_and(|u| {
            u.scheme() == "http"
                && matches!(
                    u.host_str(),
                    Some("127.0.0.1") | Some("[::1]") | Some("localhost")
                )
        });
        if !ok {
            return Err(UserError::new(format!(
                "{at}.redirect_uri must be a loopback http URL such as http://127.0.0.1:33418/callback"
            )));
        }
    }
    Ok(())
}

/// A secret name suggested for a variable or header name.
fn secret_name_for(key: &str) -> String {
    let name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "TOKEN".into()
    } else {
        name
    }
}

/// Edits the config file in place, keeping comments and layout, then checks
/// the result parses before writing it (atomically, mode 0600).
/// The `[servers]` table of a config being edited (made, implicit, when
/// missing).
pub fn servers_table<'a>(
    doc: &'a mut toml_edit::DocumentMut,
    path: &Path,
) -> Result<&'a mut toml_edit::Table> {
    doc.entry("servers")
        .or_insert_with(|| {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            toml_edit::Item::Table(t)
        })
        .as_table_mut()
        .ok_or_else(|| {
            UserError::new(format!("{}: servers is not a table", path.display()))
                .hint("write each server as [servers.NAME]")
                .into()
        })
}

pub fn edit(
    path: &Path,
    change: impl FnOnce(&mut toml_edit::DocumentMut) -> Result<()>,
) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
    };
    let mut doc = text.parse::<toml_edit::DocumentMut>().map_err(|e| {
        UserError::new(format!(
            "{} is not valid TOML: {}",
            path.display(),
            e.to_string().trim_end()
        ))
        .hint("fix the line shown above by hand: toolgate edits only a file it can read back")
    })?;
    change(&mut doc)?;
    let new_text = doc.to_string();
    let config = Config::parse(&new_text, path)?;
    // The policy is compiled when a command loads it; compile it here too,
    // so that no edit writes a config every command would then refuse.
    if let Some(policy) = &config.policy {
        crate::policy::Policy::new(policy.clone(), None, Vec::new()).map_err(|e| {
            UserError::new(format!("{}: the [policy] is invalid: {e}", path.display()))
                .hint("fix [policy] first (toolgate policy explain shows what it decides); nothing was written")
        })?;
    }
    paths::write_private_file(path, new_text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, Path::new("config.toml"))
    }

    #[test]
    fn empty_config_is_the_default() {
        let c = parse("").unwrap();
        assert!(c.servers.is_empty());
        assert_eq!(c.serve.max_name_length, 48);
    }

    #[test]
    fn unknown_keys_name_the_key_and_line() {
        let err = parse("[servers.a]\ncommand = \"x\"\ncomand = \"y\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("comand"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn full_server_entries_parse() {
        let c = parse(
            r#"
            [servers.ev]
            command = "npx"
            args = ["-y", "x"]
            env = { A = "1" }
            cwd = "/tmp"
            timeout = "30s"
            startup_timeout = 10
            prefix = ""
            [servers.docs]
            url = "https://example.com/mcp"
            headers = { X-A = "b" }
            transport = "sse"
            enabled = false
            "#,
        )
        .unwrap();
        let ev = &c.servers["ev"];
        assert_eq!(ev.timeout(), Duration::from_secs(30));
        assert_eq!(ev.startup_timeout(), Duration::from_secs(10));
        assert_eq!(ev.prefix("ev"), "");
        assert_eq!(c.servers["docs"].transport_label(), "sse");
        assert!(!c.servers["docs"].enabled());
    }

    #[test]
    fn refuses_inconsistent_servers() {
        for bad in [
            "[servers.a]\ncommand = \"x\"\nurl = \"https://a\"",
            "[servers.a]\nargs = [\"x\"]",
            "[servers.a]\nurl = \"ftp://a\"",
            "[servers.a]\nurl = \"https://a\"\nargs = [\"x\"]",
            "[servers.\"a b\"]\ncommand = \"x\"",
            "[servers.a__b]\ncommand = \"x\"",
            "[servers.a]\ncommand = \"x\"\nprefix = \"p\"\n[servers.b]\ncommand = \"y\"\nprefix = \"p\"",
            "[servers.a]\ncommand = \"x\"\ntimeout = \"0s\"",
            "[serve]\nmax_name_length = 100",
        ] {
            assert!(parse(bad).is_err(), "accepted: {bad}");
        }
    }
}
