//! Org-signed profiles: which MCP servers may run, and exactly which tool
//! definitions are approved.
//!
//! A profile is a TOML file (schema: `profiles/profile.schema.json`) signed
//! with minisign, published with its `.minisig` at any static HTTPS
//! location, and enforced by every developer's toolgate before anything is
//! spawned:
//!
//! ```toml
//! org = "Example Corp"
//! serial = 7                         # integer, only ever grows
//! issued = "2026-11-20T00:00:00Z"
//! expires = "2027-02-20T00:00:00Z"
//! min_version = "0.1.0"              # oldest toolgate that understands it
//! grace = "72h"                      # still in force this long after expiry (default 0)
//! next_keys = ["RWQ..."]             # keys that may sign later serials (rotation)
//!
//! [settings]
//! personal_servers = "deny"          # deny | allow: may users add servers of their own
//! unpinned_tools = "hide"            # hide | deny | allow: tools the profile does not name
//!
//! [servers.time]                     # as in config.toml, plus:
//! command = "uvx"
//! args = ["mcp-server-time==2025.9.25"]
//! owner = "platform-team"
//! trusted = true
//! instructions = "sha256:..."        # pin of the server's instructions (absent: it has none)
//!
//! [servers.time.tools.get_current_time]
//! pin = "sha256:..."
//! definition = '''{"name":"get_current_time",...}'''   # the tool as listed, JSON
//! ```
//!
//! `[policy]` is described in [`crate::policy`], `[audit]` (the org's
//! trail: `required`, `results`, `sinks`, `spool`) in [`ProfileAudit`] and
//! [`crate::audit`]. Pins are described in [`pin`].

pub mod govern;
pub mod pin;
pub mod registry;
pub mod sign;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{RemoteTransport, ServerConfig};
use crate::util::ConfigDuration;

/// What a profile says of servers the user adds.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PersonalServers {
    #[default]
    Deny,
    Allow,
}

/// What a profile says of tools it does not name.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UnpinnedTools {
    /// Hidden from the agent; `toolgate tools` shows them as `review`.
    #[default]
    Hide,
    /// Hidden, and calls to them are refused as `blocked`.
    Deny,
    /// Served like pinned ones.
    Allow,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub personal_servers: PersonalServers,
    #[serde(default)]
    pub unpinned_tools: UnpinnedTools,
}

/// One approved tool.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ToolPin {
    /// `sha256:` + hex of the RFC 8785 form of the definition.
    pub pin: String,
    /// The tool object as the upstream listed it (JSON text).
    pub definition: String,
}

/// One approved server: the upstream as in `config.toml`, plus ownership
/// and pins.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProfileServer {
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    pub transport: Option<RemoteTransport>,
    pub timeout: Option<ConfigDuration>,
    pub startup_timeout: Option<ConfigDuration>,
    pub prefix: Option<String>,
    /// Who answers for this server.
    pub owner: Option<String>,
    /// Whether the org vouches for it (shown to users; policy may use it).
    #[serde(default)]
    pub trusted: bool,
    /// The pin of its `instructions` (absent: it gives none).
    pub instructions: Option<String>,
    #[serde(default)]
    pub tools: BTreeMap<String, ToolPin>,
}

impl ProfileServer {
    /// The upstream part, as a config entry.
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig {
            command: self.command.clone(),
            args: self.args.clone(),
            env: self.env.clone(),
            url: self.url.clone(),
            headers: self.headers.clone(),
            transport: self.transport,
            timeout: self.timeout,
            startup_timeout: self.startup_timeout,
            prefix: self.prefix.clone(),
            ..ServerConfig::default()
        }
    }
}

/// A profile, parsed (strict: unknown keys are errors).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub org: String,
    pub serial: u64,
    pub issued: String,
    pub expires: String,
    pub min_version: Option<String>,
    pub grace: Option<ConfigDuration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next_keys: Vec<String>,
    #[serde(default)]
    pub settings: Settings,
    #[serde(default)]
    pub servers: BTreeMap<String, ProfileServer>,
    /// What calls may do (see [`crate::policy`]).
    pub policy: Option<crate::policy::PolicyConfig>,
    /// The org's audit settings (see [`ProfileAudit`]).
    pub audit: Option<ProfileAudit>,
}

/// `[audit]` of an org profile.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProfileAudit {
    /// Every `serve` under this profile keeps the audit trail, whatever
    /// the user's `[audit] enabled` says.
    #[serde(default)]
    pub required: bool,
    /// Where records are uploaded; they replace the user's sinks.
    #[serde(default)]
    pub sinks: BTreeMap<String, crate::audit::upload::SinkConfig>,
    /// The spool's bounds; they replace the user's.
    pub spool: Option<crate::audit::upload::SpoolSettings>,
    /// What records keep of results; replaces the user's.
    pub results: Option<crate::config::AuditResults>,
}

/// Parses "a.b.c" into comparable numbers.
fn version_tuple(v: &str) -> Option<Vec<u64>> {
    v.trim()
        .trim_start_matches('v')
        .split(['.', '-', '+'])
        .take(3)
        .map(|p| p.parse().ok())
        .collect()
}

/// Whether this toolgate is at least `min`.
pub fn version_at_least(min: &str) -> bool {
    match (version_tuple(env!("CARGO_PKG_VERSION")), version_tuple(min)) {
        (Some(have), Some(want)) => have >= want,
        _ => false,
    }
}

/// Parses profile text loosely and refuses it when its `min_version` is
/// newer than this toolgate; returns the loose table.
fn check_min_version(text: &str) -> Result<toml::Table, String> {
    let loose: toml::Table = toml::from_str(text).map_err(|e| {
        format!(
            "the profile is not valid TOML: {}",
            e.to_string().trim_end()
        )
    })?;
    if let Some(min) = loose.get("min_version").and_then(|v| v.as_str())
        && !version_at_least(min)
    {
        return Err(format!(
            "the profile needs toolgate {min} or newer, and this is {}: update toolgate",
            env!("CARGO_PKG_VERSION")
        ));
    }
    Ok(loose)
}

/// Unix seconds of an RFC 3339 UTC time (`2026-11-20T00:00:00Z`).
pub fn parse_time(text: &str) -> Result<i64, String> {
    let bad = || format!("\"{text}\" is not a UTC time such as 2026-11-20T00:00:00Z");
    let t = text.trim();
    let t = t.strip_suffix('Z').ok_or_else(bad)?;
    let (date, time) = t.split_once('T').ok_or_else(bad)?;
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let time = time.split('.').next().unwrap_or("");
    let h: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    // RFC 3339 years have four digits; a larger one (or a negative hour)
    // would overflow or wrap the arithmetic below.
    if d.len() != 3
        || h.len() != 3
        || !(0..=9999).contains(&d[0])
        || !(1..=12).contains(&d[1])
        || !(1..=31).contains(&d[2])
        || !(0..=23).contains(&h[0])
        || !(0..=59).contains(&h[1])
        || !(0..=60).contains(&h[2])
    {
        return Err(bad());
    }
    // Days from civil (Howard Hinnant).
    let (y, m, day) = (d[0] - i64::from(d[1] <= 2), d[1], d[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400 + h[0] * 3600 + h[1] * 60 + h[2])
}

impl Profile {
    /// Parses profile text: first `min_version` (so an older toolgate says
    /// it is too old rather than failing on keys it does not know), then
    /// the whole, strictly, then the checks types cannot express.
    pub fn parse(text: &str) -> Result<Self, String> {
        check_min_version(text)?;
        let profile: Profile = toml::from_str(text)
            .map_err(|e| format!("the profile is invalid: {}", e.to_string().trim_end()))?;
        profile.validate()?;
        Ok(profile)
    }

    /// Parses a profile that passed [`Profile::parse`] before (the cache
    /// holds only such profiles, and its signature is verified again on
    /// every load): every check but recomputing each pin from its
    /// definition, which is most of the cost.
    pub fn parse_verified(text: &str) -> Result<Self, String> {
        let loose = check_min_version(text)?;
        let profile: Profile = toml::Table::try_into(loose)
            .map_err(|e| format!("the profile is invalid: {}", e.to_string().trim_end()))?;
        profile.validate_header()?;
        Ok(profile)
    }

    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), String> {
        self.validate_header()?;
        if let Some(audit) = &self.audit {
            crate::audit::upload::check_bounds(&audit.sinks, audit.spool.as_ref())?;
        }
        for (name, s) in &self.servers {
            for (tool, t) in &s.tools {
                let computed = pin::pin(&t.definition)
                    .map_err(|e| format!("servers.{name}.tools.{tool}.definition: {e}"))?;
                if computed != t.pin {
                    return Err(format!(
                        "servers.{name}.tools.{tool}: the pin does not match its definition (the definition's pin is {computed})"
                    ));
                }
                let def: serde_json::Value =
                    serde_json::from_str(&t.definition).map_err(|e| e.to_string())?;
                if def.get("name").and_then(|n| n.as_str()) != Some(tool.as_str()) {
                    return Err(format!(
                        "servers.{name}.tools.{tool}: the definition's name is not \"{tool}\""
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every check but the pins' agreement with their definitions.
    fn validate_header(&self) -> Result<(), String> {
        let issued = parse_time(&self.issued).map_err(|e| format!("issued: {e}"))?;
        let expires = parse_time(&self.expires).map_err(|e| format!("expires: {e}"))?;
        if expires <= issued {
            return Err("expires is not after issued".into());
        }
        if self.org.trim().is_empty() {
            return Err("org is empty".into());
        }
        for key in &self.next_keys {
            sign::TrustedKey::parse(key).map_err(|e| format!("next_keys: {e}"))?;
        }
        if let Some(policy) = &self.policy {
            crate::policy::Policy::new(policy.clone(), None, Vec::new())
                .map_err(|e| format!("policy: {e}"))?;
        }
        for (name, s) in &self.servers {
            if !crate::config::valid_server_name(name) {
                return Err(format!("\"{name}\" is not a valid server name"));
            }
            match (&s.command, &s.url) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => {
                    return Err(format!(
                        "servers.{name} must set exactly one of command and url"
                    ));
                }
            }
            if let Some(p) = &s.instructions
                && !valid_pin(p)
            {
                return Err(format!(
                    "servers.{name}.instructions is not a pin (sha256: and 64 hex digits)"
                ));
            }
            for (tool, t) in &s.tools {
                if !valid_pin(&t.pin) {
                    return Err(format!(
                        "servers.{name}.tools.{tool}.pin is not a pin (sha256: and 64 hex digits)"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Unix seconds after which the profile is no longer in force (expiry
    /// plus grace).
    pub fn end_of_force(&self) -> i64 {
        let grace = self
            .grace
            .map_or(0, |g| i64::try_from(g.0.as_secs()).unwrap_or(i64::MAX));
        parse_time(&self.expires).unwrap_or(0).saturating_add(grace)
    }

    /// Whether it is in force at `now` (unix seconds).
    pub fn in_force(&self, now: i64) -> bool {
        now < self.end_of_force()
    }

    /// Time left until expiry (not counting grace), if any.
    pub fn time_left(&self, now: i64) -> Option<Duration> {
        let left = parse_time(&self.expires).ok()? - now;
        (left > 0).then(|| Duration::from_secs(left as u64))
    }
}

fn valid_pin(p: &str) -> bool {
    p.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(parse_time("2026-11-23T01:02:03Z").unwrap(), 1_795_395_723);
        assert_eq!(parse_time("2000-02-29T00:00:00.5Z").unwrap(), 951_782_400);
        assert!(parse_time("2026-13-01T00:00:00Z").is_err());
        assert!(parse_time("2026-11-23 01:02:03").is_err());
    }

    /// Found by fuzzing (fuzz/fuzz_targets/profile_parse.rs): a year past
    /// 9999 overflowed the day count, and a huge `grace` the end of force.
    #[test]
    fn out_of_range_times_and_graces_are_refused_or_saturate() {
        assert!(parse_time("99999999999999999-01-01T00:00:00Z").is_err());
        assert!(parse_time("-9223372036854775808-01-01T00:00:00Z").is_err());
        assert!(parse_time("10000-01-01T00:00:00Z").is_err());
        assert!(parse_time("2026-11-23T-1:00:00Z").is_err());
        assert_eq!(parse_time("9999-12-31T23:59:60Z").unwrap(), 253_402_300_800);
        assert_eq!(parse_time("0000-01-01T00:00:00Z").unwrap(), -62_167_219_200);
        let huge = sample().replacen("serial = 1", "serial = 1\ngrace = 9223372036854775807", 1);
        let p = Profile::parse(&huge).unwrap();
        assert_eq!(p.end_of_force(), i64::MAX);
        assert!(p.in_force(parse_time("9999-01-01T00:00:00Z").unwrap()));
    }

    #[test]
    fn versions() {
        assert!(version_at_least("0.0.1"));
        assert!(version_at_least(env!("CARGO_PKG_VERSION")));
        assert!(!version_at_least("99.0.0"));
    }

    fn sample() -> String {
        let def = r#"{"name":"echo","description":"Echo","inputSchema":{"type":"object"}}"#;
        format!(
            "org = \"Example\"\nserial = 1\nissued = \"2026-01-01T00:00:00Z\"\nexpires = \"2027-01-01T00:00:00Z\"\n\n[servers.ev]\ncommand = \"x\"\n\n[servers.ev.tools.echo]\npin = \"{}\"\ndefinition = '''{def}'''\n",
            pin::pin(def).unwrap()
        )
    }

    #[test]
    fn parses_and_checks() {
        let p = Profile::parse(&sample()).unwrap();
        assert_eq!(p.settings.unpinned_tools, UnpinnedTools::Hide);
        assert!(p.in_force(parse_time("2026-06-01T00:00:00Z").unwrap()));
        assert!(!p.in_force(parse_time("2027-06-01T00:00:00Z").unwrap()));
        let unknown = format!(
            "{}\nsurprise = 1\n",
            sample().replacen("org", "bogus_key = 2\norg", 1)
        );
        assert!(
            Profile::parse(&unknown)
                .unwrap_err()
                .contains("unknown field")
        );
        let tampered = sample().replace("\"Echo\"", "\"Echo!\"");
        assert!(
            Profile::parse(&tampered)
                .unwrap_err()
                .contains("does not match")
        );
        let future = format!("min_version = \"99.0.0\"\nwhatever = true\n{}", sample());
        assert!(
            Profile::parse(&future)
                .unwrap_err()
                .contains("needs toolgate 99.0.0")
        );
    }
}
