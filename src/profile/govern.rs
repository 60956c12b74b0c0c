//! Enforcing the profile in force: which servers run, with which command,
//! and which of their tools the agent sees.
//!
//! - A server the profile names runs with the profile's command, args and
//!   url; the user's config may only disable it (`enabled = false`) or give
//!   it secrets (`env` / `headers` values that are `${secret:...}`
//!   references, for keys the profile does not set).
//! - A server only the user's config names is *personal*: it runs where the
//!   profile says `personal_servers = "allow"`, and is blocked otherwise
//!   ("blocked by org profile"), by every command, before anything spawns.
//! - A tool whose definition no longer matches its pin is *drifted*: hidden,
//!   and a call to it is refused naming the fields that changed. A tool the
//!   profile does not name is per `unpinned_tools`: `review` (hidden),
//!   `blocked` (hidden, refused) or served. A server whose instructions no
//!   longer match their pin is blocked whole.
//! - With `registry.required = true` and no valid profile, every server is
//!   blocked, saying why.
//!
//! The governance in force is process-wide ([`install`], [`current`]), so a
//! newly verified profile can replace it in a running `serve`.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use super::registry::State;
use super::{PersonalServers, ToolPin, UnpinnedTools};
use crate::config::Config;

/// What the agent may do with one tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolState {
    /// Approved (or no profile governs it).
    Ok,
    /// Its definition differs from its pin in these top-level fields.
    Drifted(Vec<String>),
    /// Not in the profile; hidden until an admin pins it.
    Review,
    /// Not in the profile, and refused.
    Blocked(String),
    /// The poisoning scan found something high-severity in its definition
    /// (the codes found).
    Quarantined(Vec<String>),
}

impl ToolState {
    pub fn label(&self) -> &'static str {
        match self {
            ToolState::Ok => "ok",
            ToolState::Drifted(_) => "drifted",
            ToolState::Review => "review",
            ToolState::Blocked(_) => "blocked",
            ToolState::Quarantined(_) => "quarantined",
        }
    }

    pub fn visible(&self) -> bool {
        matches!(self, ToolState::Ok)
    }

    /// Why a call to it is refused, and what to do.
    pub fn refusal(&self, server: &str, tool: &str) -> Option<(String, String)> {
        match self {
            ToolState::Ok => None,
            ToolState::Drifted(fields) => Some((
                format!(
                    "the tool \"{tool}\" of \"{server}\" changed since the org approved it (changed: {}), so toolgate withholds it",
                    fields.join(", ")
                ),
                "ask your org's toolgate admins to review the change and publish a new profile (toolgate profile pin), or pin the server's old version".into(),
            )),
            ToolState::Review => Some((
                format!("the tool \"{tool}\" of \"{server}\" is not approved in the org profile yet"),
                "ask your org's toolgate admins to review and pin it".into(),
            )),
            ToolState::Blocked(why) => Some((why.clone(), "ask your org's toolgate admins".into())),
            ToolState::Quarantined(codes) => Some((
                format!(
                    "the tool \"{tool}\" of \"{server}\" is quarantined: its definition shows signs of tool poisoning ({})",
                    codes.join(", ")
                ),
                "do not use it; `toolgate scan` shows the findings, and an org can except the exact definition by its pin ([policy] scan_exceptions)".into(),
            )),
        }
    }
}

/// The rules for one server.
#[derive(Debug, Clone)]
enum Rule {
    /// No profile governs it.
    Free,
    /// The profile names it: its pins.
    Pinned {
        tools: BTreeMap<String, ToolPin>,
        instructions: Option<String>,
    },
    /// It must not run: why.
    Blocked(String),
}

/// The governance in force.
#[derive(Debug, Clone)]
pub struct Governance {
    rules: BTreeMap<String, Rule>,
    unpinned: UnpinnedTools,
    /// Set when nothing may be served at all (registry.required without a
    /// valid profile): why.
    pub refuse_all: Option<String>,
    /// A short description, for logs and listings.
    pub summary: String,
    /// When the profile in force expires (unix seconds), if one is.
    pub expires_at: Option<i64>,
    /// The serial of the profile in force, if one is.
    pub serial: Option<u64>,
    /// The servers in effect under the profile in force (its own, and the
    /// user's where allowed); `None` when no profile is in force.
    pub servers: Option<BTreeMap<String, crate::config::ServerConfig>>,
}

impl Default for Governance {
    fn default() -> Self {
        Self {
            rules: BTreeMap::new(),
            unpinned: UnpinnedTools::Allow,
            refuse_all: None,
            summary: "no org profile".into(),
            expires_at: None,
            serial: None,
            servers: None,
        }
    }
}

impl Governance {
    /// Why a server must not run, if it must not.
    pub fn blocked(&self, server: &str) -> Option<&str> {
        match self.rules.get(server) {
            Some(Rule::Blocked(why)) => Some(why),
            _ => None,
        }
    }

    /// The state of a tool as the upstream lists it now.
    pub fn tool_state(&self, server: &str, tool: &str, raw: &str) -> ToolState {
        match self.rules.get(server) {
            None | Some(Rule::Free) => ToolState::Ok,
            Some(Rule::Blocked(why)) => ToolState::Blocked(why.clone()),
            Some(Rule::Pinned { tools, .. }) => match tools.get(tool) {
                // The very bytes that were pinned (lazy start lists them).
                Some(pinned) if pinned.definition == raw => ToolState::Ok,
                Some(pinned) => match super::pin::pin(raw) {
                    Ok(p) if p == pinned.pin => ToolState::Ok,
                    _ => ToolState::Drifted(super::pin::drifted_fields(&pinned.definition, raw)),
                },
                None => match self.unpinned {
                    UnpinnedTools::Allow => ToolState::Ok,
                    UnpinnedTools::Hide => ToolState::Review,
                    UnpinnedTools::Deny => ToolState::Blocked(format!(
                        "the tool \"{tool}\" of \"{server}\" is not in the org profile, which denies unpinned tools"
                    )),
                },
            },
        }
    }

    /// The profile's pin of a tool, where it pins one.
    pub fn pin_of(&self, server: &str, tool: &str) -> Option<String> {
        match self.rules.get(server) {
            Some(Rule::Pinned { tools, .. }) => tools.get(tool).map(|t| t.pin.clone()),
            _ => None,
        }
    }

    /// Whether this exact definition text is the one the profile pinned.
    pub fn pinned_exactly(&self, server: &str, tool: &str, raw: &str) -> bool {
        matches!(self.rules.get(server), Some(Rule::Pinned { tools, .. })
            if tools.get(tool).is_some_and(|t| t.definition == raw))
    }

    /// The pinned tool definitions of a server the profile names, as
    /// (name, JSON text): what `tools/list` can answer before the server
    /// starts. `None` when the profile pins no tool of it.
    pub fn pinned_definitions(&self, server: &str) -> Option<Vec<(String, String)>> {
        match self.rules.get(server) {
            Some(Rule::Pinned { tools, .. }) if !tools.is_empty() => Some(
                tools
                    .iter()
                    .map(|(name, t)| (name.clone(), t.definition.clone()))
                    .collect(),
            ),
            _ => None,
        }
    }

    /// Checks a server's instructions (the JSON string, or none) against
    /// its pin; `Err` says why the server is blocked.
    pub fn check_instructions(
        &self,
        server: &str,
        instructions: Option<&str>,
    ) -> Result<(), String> {
        let Some(Rule::Pinned {
            instructions: pinned,
            ..
        }) = self.rules.get(server)
        else {
            return Ok(());
        };
        let now = match instructions {
            Some(text) => Some(super::pin::pin(
                &serde_json::to_string(text).unwrap_or_default(),
            )?),
            None => None,
        };
        if &now != pinned {
            return Err(format!(
                "the server \"{server}\" is blocked: its instructions changed since the org approved them"
            ));
        }
        Ok(())
    }
}

/// Applies a profile state to the user's config: the config toolgate runs
/// and the governance that goes with it.
pub fn govern(user: &Config, state: &State) -> (Config, Governance) {
    match state {
        State::Unmanaged => (user.clone(), Governance::default()),
        State::Missing(why) if user.registry.required => {
            let reason = format!(
                "blocked: no valid org profile is in force ({why}), and registry.required is set"
            );
            let rules = user
                .servers
                .keys()
                .map(|n| (n.clone(), Rule::Blocked(reason.clone())))
                .collect();
            (
                user.clone(),
                Governance {
                    rules,
                    unpinned: UnpinnedTools::Deny,
                    refuse_all: Some(reason.clone()),
                    summary: reason,
                    expires_at: None,
                    serial: None,
                    servers: None,
                },
            )
        }
        State::Missing(why) => {
            tracing::warn!(
                "no org profile is in force ({why}); servers run ungoverned because registry.required is not set"
            );
            (
                user.clone(),
                Governance {
                    summary: format!("no org profile in force: {why}"),
                    ..Governance::default()
                },
            )
        }
        State::Active(active) => {
            let p = &active.profile;
            let mut config = user.clone();
            config.servers.clear();
            let mut rules = BTreeMap::new();
            for (name, ps) in &p.servers {
                let mut server = ps.server_config();
                if let Some(mine) = user.servers.get(name) {
                    server.enabled = mine.enabled;
                    merge_secret_refs(&mut server.env, &mine.env);
                    merge_secret_refs(&mut server.headers, &mine.headers);
                    server.oauth = mine.oauth.clone();
                }
                config.servers.insert(name.clone(), server);
                rules.insert(
                    name.clone(),
                    Rule::Pinned {
                        tools: ps.tools.clone(),
                        instructions: ps.instructions.clone(),
                    },
                );
            }
            for (name, mine) in &user.servers {
                if p.servers.contains_key(name) {
                    continue;
                }
                config.servers.insert(name.clone(), mine.clone());
                let rule = match p.settings.personal_servers {
                    PersonalServers::Allow => Rule::Free,
                    PersonalServers::Deny => Rule::Blocked(format!(
                        "blocked by org profile: \"{name}\" is not a server {} approved, and personal servers are not allowed",
                        p.org
                    )),
                };
                rules.insert(name.clone(), rule);
            }
            if let Some(audit) = &p.audit {
                if audit.required {
                    // The org's trail: on, and no call without its record.
                    config.audit.enabled = true;
                    config.audit.on_failure = Some(crate::config::OnFailure::Deny);
                }
                if !audit.sinks.is_empty() {
                    config.audit.sinks = audit.sinks.clone();
                }
                if let Some(spool) = &audit.spool {
                    config.audit.spool = spool.clone();
                }
                if let Some(results) = audit.results {
                    config.audit.results = results;
                }
            }
            let servers = config.servers.clone();
            (
                config,
                Governance {
                    rules,
                    unpinned: p.settings.unpinned_tools,
                    refuse_all: None,
                    summary: format!("org profile of {} serial {}", p.org, p.serial),
                    expires_at: super::parse_time(&p.expires).ok(),
                    serial: Some(p.serial),
                    servers: Some(servers),
                },
            )
        }
    }
}

/// Adds the user's secret references for keys the profile leaves unset.
fn merge_secret_refs(target: &mut BTreeMap<String, String>, mine: &BTreeMap<String, String>) {
    for (k, v) in mine {
        let is_ref = crate::secrets::refs::Template::parse(v, "").is_ok_and(|t| t.has_refs());
        if is_ref && !target.contains_key(k) {
            target.insert(k.clone(), v.clone());
        }
    }
}

static CURRENT: RwLock<Option<Arc<Governance>>> = RwLock::new(None);

static GENERATION: std::sync::LazyLock<tokio::sync::watch::Sender<u64>> =
    std::sync::LazyLock::new(|| tokio::sync::watch::Sender::new(0));

/// The policy that goes with a profile state and the user's config: the
/// org's rules (the user's may only tighten them), or the user's alone
/// without a profile.
pub fn policy_for(user: &Config, state: &State) -> Result<Option<crate::policy::Policy>, String> {
    use crate::policy::Policy;
    match state {
        State::Active(a) => {
            let trusted = a
                .profile
                .servers
                .iter()
                .filter(|(_, s)| s.trusted)
                .map(|(n, _)| n.clone())
                .collect();
            match &a.profile.policy {
                Some(org) => Policy::new(org.clone(), user.policy.clone(), trusted).map(Some),
                None => match &user.policy {
                    Some(mine) => Policy::new(
                        crate::policy::PolicyConfig {
                            rules: Vec::new(),
                            ..Default::default()
                        },
                        Some(mine.clone()),
                        trusted,
                    )
                    .map(Some),
                    None => Ok(None),
                },
            }
        }
        _ => match &user.policy {
            Some(mine) => Policy::new(mine.clone(), None, Vec::new()).map(Some),
            None => Ok(None),
        },
    }
}

/// Puts a governance in force for this process; running managers apply it.
pub fn install(g: Governance) {
    *CURRENT.write().expect("governance lock") = Some(Arc::new(g));
    GENERATION.send_modify(|n| *n += 1);
}

/// Notified each time a governance is installed.
pub fn subscribe() -> tokio::sync::watch::Receiver<u64> {
    GENERATION.subscribe()
}

/// The governance in force (none installed: nothing governed).
pub fn current() -> Arc<Governance> {
    CURRENT
        .read()
        .expect("governance lock")
        .clone()
        .unwrap_or_default()
}

/// Why a server must not run under the governance in force, if so.
pub fn is_blocked(server: &str) -> Option<String> {
    current().blocked(server).map(str::to_string)
}
