//! The upstream manager: every configured upstream, their supervisors, and
//! what is derived from all of them together (the catalog of exposed tools,
//! the maps that route prompts and resources).
//!
//! The manager knows nothing of the IDE's stdio: it hands what upstreams send
//! (notifications, server-to-client requests) to its owner as
//! [`FrontEvent`]s. That keeps it separable from the stdio front, so that one
//! background process may later host the upstreams of several IDE windows.
//! Per-window state (the IDE's capabilities, progress tokens, ids of relayed
//! requests) stays in the front.
//!
//! The catalog is the one place where the list of exposed tools is computed:
//! `tools/list`, routing of `tools/call`, and `toolgate tools` all read it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::sync::{mpsc, watch};

use super::{Inbound, State, Upstream, list_all_tools};
use crate::config::{Config, ServeSettings};
use crate::events::{self, Event};
use crate::jsonrpc;
use crate::proxy::names::{self, NameTable, Target};

/// What the manager hands to the front.
#[derive(Debug)]
pub enum FrontEvent {
    /// The catalog of exposed tools changed.
    ToolsChanged,
    /// A notification from an upstream to relay (prompt and resource list
    /// changes, resource updates, log messages, cancellations...).
    Notification {
        upstream: usize,
        method: String,
        params: Option<Box<RawValue>>,
        /// Held until the notification is handled (see `conn::InTransit`).
        in_transit: super::conn::InTransit,
    },
    /// A remote upstream needs a login, and `serve` opened this
    /// authorization URL: offered to the IDE by URL elicitation where it
    /// supports that.
    LoginUrl { upstream: usize, url: String },
    /// A request from an upstream to the client (sampling, elicitation, roots).
    Request {
        upstream: usize,
        id: Box<RawValue>,
        method: String,
        params: Option<Box<RawValue>>,
    },
}

/// One exposed tool.
#[derive(Debug, Clone)]
pub struct ExposedTool {
    pub exposed: String,
    pub upstream: usize,
    pub original: String,
    /// The tool's JSON as the upstream listed it, with `name` replaced by the
    /// exposed name; every other member byte for byte.
    pub json: String,
}

/// A tool the org profile withholds from the agent.
#[derive(Debug, Clone)]
pub struct WithheldTool {
    pub exposed: String,
    pub upstream: usize,
    pub original: String,
    pub state: crate::profile::govern::ToolState,
}

/// Every exposed tool, and the exact mapping back.
#[derive(Debug, Default)]
pub struct Catalog {
    pub tools: Vec<ExposedTool>,
    pub names: NameTable,
    /// Tools listed by upstreams but withheld by the org profile (drifted,
    /// unreviewed, blocked), by exposed name.
    pub withheld: Vec<WithheldTool>,
}

/// All upstreams of one configuration.
pub struct Manager {
    /// Every upstream, by index (indices never change; a new org profile
    /// may add upstreams at the end, or replace one in place).
    upstream_list: RwLock<Arc<Vec<Arc<Upstream>>>>,
    pub settings: ServeSettings,
    catalog: RwLock<Arc<Catalog>>,
    prompt_names: Mutex<HashMap<String, Target>>,
    resource_routes: Mutex<HashMap<String, usize>>,
    templates: Mutex<Vec<(String, usize)>>,
    log_level: Mutex<Option<String>>,
    /// Resource subscriptions the IDE holds, per upstream: renewed when an
    /// upstream restarts (a new process knows none of them).
    subscriptions: Mutex<std::collections::BTreeSet<(usize, String)>>,
    front: mpsc::UnboundedSender<FrontEvent>,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// What [`Manager::start`] was given, to start upstreams later.
    started_with: Mutex<Option<StartedWith>>,
    /// Poisoning-scan verdicts by definition (see [`Manager::quarantine`]).
    scan_cache: Mutex<HashMap<String, Option<Vec<String>>>>,
    /// Lazy start (serve): an upstream whose tools the org profile pins is
    /// not started until its first call; its pinned definitions answer
    /// `tools/list` meanwhile.
    lazy: std::sync::atomic::AtomicBool,
}

type StartedWith = (String, mpsc::UnboundedSender<(usize, super::Inbound)>);

/// Readies a new upstream: reports it if blocked, and lets its logins
/// offer their URL to the IDE.
fn prepare(up: &Arc<Upstream>, front: &mpsc::UnboundedSender<FrontEvent>) {
    if let State::Blocked(reason) = up.state() {
        events::emit(Event::ServerBlocked {
            server: &up.name,
            reason: &reason,
        });
    }
    if let Some(auth) = up.auth() {
        let tx = front.clone();
        let index = up.index;
        auth.set_url_hook(Arc::new(move |url: &str| {
            let _ = tx.send(FrontEvent::LoginUrl {
                upstream: index,
                url: url.to_string(),
            });
        }));
    }
}

/// Applies each new governance (a newly verified org profile) to the
/// manager, until shutdown.
async fn follow_governance(manager: std::sync::Weak<Manager>, mut shutdown: watch::Receiver<bool>) {
    let mut generation = crate::profile::govern::subscribe();
    generation.borrow_and_update();
    loop {
        tokio::select! {
            changed = generation.changed() => {
                if changed.is_err() {
                    return;
                }
                let Some(m) = manager.upgrade() else { return };
                m.apply_governance();
            }
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

impl Manager {
    /// Builds the manager of a config's servers (disabled ones included, so
    /// they can be listed). Nothing starts until [`Manager::start`].
    pub fn new(config: &Config) -> (Arc<Self>, mpsc::UnboundedReceiver<FrontEvent>) {
        let upstreams = config
            .servers
            .iter()
            .enumerate()
            .map(|(i, (name, cfg))| Upstream::new(i, name, cfg.clone()))
            .collect::<Vec<_>>();
        let (front, rx) = mpsc::unbounded_channel();
        for up in &upstreams {
            prepare(up, &front);
        }
        let manager = Arc::new(Self {
            upstream_list: RwLock::new(Arc::new(upstreams)),
            settings: config.serve.clone(),
            catalog: RwLock::new(Arc::new(Catalog::default())),
            prompt_names: Mutex::new(HashMap::new()),
            resource_routes: Mutex::new(HashMap::new()),
            templates: Mutex::new(Vec::new()),
            log_level: Mutex::new(None),
            subscriptions: Mutex::new(std::collections::BTreeSet::new()),
            front,
            shutdown: watch::Sender::new(false),
            tasks: Mutex::new(Vec::new()),
            started_with: Mutex::new(None),
            lazy: std::sync::atomic::AtomicBool::new(false),
            scan_cache: Mutex::new(HashMap::new()),
        });
        (manager, rx)
    }

    /// Every upstream, by index: a snapshot.
    pub fn upstreams(&self) -> Arc<Vec<Arc<Upstream>>> {
        self.upstream_list.read().expect("upstreams lock").clone()
    }

    /// Starts the enabled upstreams accepted by `filter`, all in parallel.
    /// `init_params` is the raw `initialize` params sent to each.
    pub fn start(self: &Arc<Self>, init_params: String, filter: impl Fn(&Upstream) -> bool) {
        let (inbound_tx, inbound_rx) = mpsc::unbounded_channel();
        {
            let mut tasks = self.tasks.lock().expect("tasks lock");
            let weak = Arc::downgrade(self);
            tasks.push(tokio::spawn(pump(weak, inbound_rx)));
            let weak = Arc::downgrade(self);
            tasks.push(tokio::spawn(follow_governance(
                weak,
                self.shutdown.subscribe(),
            )));
        }
        *self.started_with.lock().expect("start lock") =
            Some((init_params.clone(), inbound_tx.clone()));
        let lazy = self.lazy.load(std::sync::atomic::Ordering::Relaxed);
        let governance = crate::profile::govern::current();
        let mut deferred = false;
        for up in self.upstreams().iter() {
            if !up.config.enabled() || up.is_blocked() || !filter(up) {
                continue;
            }
            if lazy && let Some(defs) = governance.pinned_definitions(&up.name) {
                up.set_pinned_tools(&defs);
                deferred = true;
                continue;
            }
            self.spawn_supervisor(up, &init_params, &inbound_tx);
        }
        if deferred {
            self.rebuild_catalog(None);
        }
    }

    /// Makes [`Manager::start`] defer upstreams the org profile pins (serve
    /// does; the CLI's diagnostics start what they show).
    pub fn set_lazy(&self, lazy: bool) {
        self.lazy.store(lazy, std::sync::atomic::Ordering::Relaxed);
    }

    /// Starts an upstream that lazy start deferred, and waits until it is
    /// ready or cannot be (its tools are then checked against their pins).
    pub async fn ensure_started(self: &Arc<Self>, index: usize) -> Option<super::Live> {
        let up = self.upstreams()[index].clone();
        if up.state() == State::Idle && up.config.enabled() && !up.is_blocked() {
            let started = self.started_with.lock().expect("start lock").clone();
            if let Some((params, inbound)) = started {
                tracing::info!(server = %up.name, "starting \"{}\" on its first use", up.name);
                self.spawn_supervisor(&up, &params, &inbound);
            }
        }
        up.wait_ready(up.config.startup_timeout()).await
    }

    fn spawn_supervisor(
        self: &Arc<Self>,
        up: &Arc<Upstream>,
        init_params: &str,
        inbound_tx: &mpsc::UnboundedSender<(usize, super::Inbound)>,
    ) {
        let mut tasks = self.tasks.lock().expect("tasks lock");
        {
            let weak_changed = Arc::downgrade(self);
            let weak_ready = Arc::downgrade(self);
            let ctx = super::SupervisorCtx {
                init_params: init_params.to_string(),
                max_message: self.settings.max_message_size,
                inbound: inbound_tx.clone(),
                tools_changed: Arc::new(move |i| {
                    if let Some(m) = weak_changed.upgrade() {
                        m.rebuild_catalog(Some(i));
                    }
                }),
                on_ready: Arc::new(move |i| {
                    if let Some(m) = weak_ready.upgrade() {
                        m.announce_ready(i);
                    }
                }),
                shutdown: up.new_halt(self.shutdown.subscribe()),
            };
            // Starting from now, not from when the supervisor first runs:
            // a list or call that arrives first waits for it.
            up.mark_starting();
            tasks.push(tokio::spawn(super::supervise(up.clone(), ctx)));
        }
    }

    /// Applies the governance now in force (a new org profile): blocks
    /// servers it forbids, starts servers it now allows, re-checks every
    /// tool against the new pins, and announces the change.
    pub fn apply_governance(self: &Arc<Self>) {
        let g = crate::profile::govern::current();
        let mut to_start = Vec::new();
        if let Some(servers) = &g.servers {
            // The servers the new profile puts in effect: changed ones are
            // replaced in place (same index), new ones appended, and ones no
            // longer in effect stopped.
            let mut list: Vec<Arc<Upstream>> = self.upstreams().iter().cloned().collect();
            let mut changed = false;
            for (name, cfg) in servers {
                match list.iter().position(|u| &*u.name == name.as_str()) {
                    Some(i) if list[i].config == *cfg => {}
                    Some(i) => {
                        tracing::info!(server = %name, "the org profile changed how \"{name}\" starts: restarting it");
                        list[i].halt();
                        list[i] = Upstream::new(i, name, cfg.clone());
                        prepare(&list[i], &self.front);
                        to_start.push(i);
                        changed = true;
                    }
                    None => {
                        let i = list.len();
                        tracing::info!(server = %name, "the org profile adds \"{name}\"");
                        list.push(Upstream::new(i, name, cfg.clone()));
                        prepare(&list[i], &self.front);
                        to_start.push(i);
                        changed = true;
                    }
                }
            }
            for up in &list {
                if !servers.contains_key(&*up.name) && !up.is_blocked() {
                    up.halt();
                    up.block(format!(
                        "blocked by org profile: \"{}\" is no longer an approved server",
                        up.name
                    ));
                }
            }
            if changed {
                *self.upstream_list.write().expect("upstreams lock") = Arc::new(list);
            }
        }
        let started = self.started_with.lock().expect("start lock").clone();
        if let Some((params, inbound)) = &started {
            let upstreams = self.upstreams();
            for i in to_start {
                let up = &upstreams[i];
                if !up.config.enabled() || up.is_blocked() {
                    continue;
                }
                if self.lazy.load(std::sync::atomic::Ordering::Relaxed)
                    && let Some(defs) = g.pinned_definitions(&up.name)
                {
                    up.set_pinned_tools(&defs);
                } else {
                    self.spawn_supervisor(up, params, inbound);
                }
            }
        }
        for up in self.upstreams().iter() {
            match (g.blocked(&up.name), up.is_blocked()) {
                (Some(why), false) => {
                    tracing::warn!(server = %up.name, "{why}");
                    up.halt();
                    up.block(why.to_string());
                }
                // Not for an upstream the profile no longer names.
                (None, true) if g.servers.as_ref().is_none_or(|s| s.contains_key(&*up.name)) => {
                    up.unblock();
                    let started = self.started_with.lock().expect("start lock").clone();
                    if let Some((params, inbound)) = started
                        && up.config.enabled()
                    {
                        tracing::info!(server = %up.name, "the org profile now allows \"{}\": starting it", up.name);
                        self.spawn_supervisor(up, &params, &inbound);
                    }
                }
                _ => {}
            }
            // A deferred upstream: the new pins are its tools until it runs.
            if self.lazy.load(std::sync::atomic::Ordering::Relaxed)
                && up.state() == State::Idle
                && up.live().is_none()
                && let Some(defs) = g.pinned_definitions(&up.name)
            {
                up.set_pinned_tools(&defs);
            }
        }
        self.rebuild_catalog(None);
    }

    /// Stops every upstream and waits for their processes to end.
    pub async fn shutdown(&self) {
        self.shutdown.send_replace(true);
        // The pump ends when every sender of upstream messages is gone.
        self.started_with.lock().expect("start lock").take();
        let tasks: Vec<_> = std::mem::take(&mut *self.tasks.lock().expect("tasks lock"));
        for task in tasks {
            let _ = task.await;
        }
    }

    pub fn by_name(&self, name: &str) -> Option<Arc<Upstream>> {
        self.upstreams().iter().find(|u| &*u.name == name).cloned()
    }

    /// The current catalog.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.read().expect("catalog lock").clone()
    }

    /// Waits until no upstream is still starting (each has become ready or
    /// failed once), or `limit` passes. Upstreams never started (idle) are
    /// not waited for.
    pub async fn settle(&self, limit: Duration) {
        let upstreams = self.upstreams();
        let waits = upstreams.iter().map(|u| {
            let mut rx = u.watch_state();
            async move {
                let _ = rx.wait_for(|s| !matches!(s, State::Starting)).await;
            }
        });
        let all = async {
            for w in waits {
                w.await;
            }
        };
        let _ = tokio::time::timeout(limit, all).await;
    }

    /// Whether any upstream is still starting.
    pub fn any_starting(&self) -> bool {
        self.upstreams()
            .iter()
            .any(|u| matches!(u.state(), State::Starting))
    }

    /// Remembers (or forgets) a resource subscription of the IDE.
    pub fn note_subscription(&self, upstream: usize, uri: &str, subscribed: bool) {
        let mut subs = self.subscriptions.lock().expect("subscriptions lock");
        if subscribed {
            subs.insert((upstream, uri.to_owned()));
        } else {
            subs.remove(&(upstream, uri.to_owned()));
        }
    }

    /// Remembers the IDE's `logging/setLevel` params for upstreams that start later.
    pub fn set_log_level(&self, params: &str) {
        *self.log_level.lock().expect("level lock") = Some(params.to_owned());
    }

    fn announce_ready(&self, index: usize) {
        let up = &self.upstreams()[index];
        let Some(live) = up.live() else { return };
        if let Some((_, took)) = *up.started.lock().expect("lock") {
            events::emit(Event::ServerReady {
                server: &up.name,
                protocol_version: &live.init.protocol_version,
                tools: up.tools().len(),
                millis: took.as_millis(),
            });
        }
        // A restarted upstream knows nothing of the IDE's settings: renew
        // the log level and the resource subscriptions.
        let level = self
            .log_level
            .lock()
            .expect("level lock")
            .clone()
            .filter(|_| live.init.has("logging"));
        let uris: Vec<String> = self
            .subscriptions
            .lock()
            .expect("subscriptions lock")
            .iter()
            .filter(|(u, _)| *u == index)
            .map(|(_, uri)| uri.clone())
            .collect();
        if level.is_none() && uris.is_empty() {
            return;
        }
        let timeout = up.config.timeout();
        let name = up.name.clone();
        tokio::spawn(async move {
            if let Some(level) = level {
                let _ = live
                    .conn
                    .call(
                        "logging/setLevel",
                        |_| Some(level),
                        None,
                        timeout,
                        std::future::pending(),
                    )
                    .await;
            }
            for uri in uris {
                let params = serde_json::json!({ "uri": uri }).to_string();
                let renewed = live
                    .conn
                    .call(
                        "resources/subscribe",
                        |_| Some(params),
                        None,
                        timeout,
                        std::future::pending(),
                    )
                    .await;
                if let Err(e) = renewed {
                    tracing::warn!(
                        server = %name,
                        "could not renew the subscription to {uri} after a restart: {}",
                        super::describe_call_error(&name, "resources/subscribe", &e)
                    );
                }
            }
        });
    }

    /// The poisoning scan of a tool as listed: the high-severity codes
    /// found, unless the org excepted its exact definition. Definitions the
    /// org pinned byte for byte are not scanned (they were reviewed); other
    /// results are cached by the definition's text.
    fn quarantine(
        &self,
        governance: &crate::profile::govern::Governance,
        server: &str,
        tool: &str,
        raw: &str,
    ) -> Option<Vec<String>> {
        if governance.pinned_exactly(server, tool, raw) {
            return None;
        }
        let key = crate::util::sha256_hex(format!("{server}\0{raw}").as_bytes());
        if let Some(hit) = self.scan_cache.lock().expect("scan cache").get(&key) {
            return hit.clone();
        }
        let def: serde_json::Value = serde_json::from_str(raw).ok()?;
        // Only high-severity findings quarantine; naming another server's
        // tool (shadowing) is medium, so other servers' names are not
        // searched for here: that search made a catalog of T tools cost
        // T² substring searches (10 servers of 1,000 tools stalled serve
        // for seconds). `toolgate scan` still reports shadowing.
        let mut codes: Vec<String> = crate::policy::scan::scan_tool(server, &def, &[])
            .into_iter()
            .filter(|f| f.severity == crate::policy::scan::Severity::High)
            .map(|f| f.code.to_string())
            .collect();
        codes.dedup();
        let excepted = crate::policy::current()
            .is_some_and(|p| crate::profile::pin::pin(raw).is_ok_and(|pin| p.scan_excepted(&pin)));
        let result = (!codes.is_empty() && !excepted).then_some(codes);
        if let Some(codes) = &result {
            events::emit(Event::ToolQuarantined {
                server,
                tool,
                codes: &codes.join(", "),
            });
        }
        self.scan_cache
            .lock()
            .expect("scan cache")
            .insert(key, result.clone());
        result
    }

    /// Recomputes the catalog from every upstream's tools, and tells the
    /// front when what it exposes changed.
    fn rebuild_catalog(&self, changed: Option<usize>) {
        let upstreams = self.upstreams();
        let lists: Vec<_> = upstreams.iter().map(|u| u.tools()).collect();
        let mut entries = Vec::new();
        for (i, up) in upstreams.iter().enumerate() {
            for tool in lists[i].iter() {
                entries.push((i, &*up.name, up.prefix(), tool.name.as_str(), &tool.raw));
            }
        }
        let (mut names, exposed) = NameTable::build(
            entries.iter().map(|(i, s, p, n, _)| (*i, *s, *p, *n)),
            self.settings.max_name_length,
        );
        // The org profile's verdict on each tool, as listed right now (pins
        // are checked on connect and on every list_changed, since both
        // rebuild the catalog).
        let governance = crate::profile::govern::current();
        let mut tools = Vec::with_capacity(entries.len());
        let mut withheld = Vec::new();
        for ((i, server, _, original, raw), exposed) in entries.iter().zip(exposed) {
            let mut state = governance.tool_state(server, original, raw.get());
            if state.visible()
                && let Some(codes) = self.quarantine(&governance, server, original, raw.get())
            {
                state = crate::profile::govern::ToolState::Quarantined(codes);
            }
            if state.visible() {
                tools.push(ExposedTool {
                    json: rename(raw, &exposed),
                    exposed,
                    upstream: *i,
                    original: (*original).to_owned(),
                });
            } else {
                names.remove(&exposed);
                if let crate::profile::govern::ToolState::Drifted(fields) = &state {
                    events::emit(Event::ToolDrifted {
                        server,
                        tool: original,
                        fields,
                    });
                }
                withheld.push(WithheldTool {
                    exposed,
                    upstream: *i,
                    original: (*original).to_owned(),
                    state,
                });
            }
        }
        let new = Arc::new(Catalog {
            tools,
            names,
            withheld,
        });
        let differs = {
            let mut slot = self.catalog.write().expect("catalog lock");
            let old = std::mem::replace(&mut *slot, new.clone());
            old.tools.len() != new.tools.len()
                || old
                    .tools
                    .iter()
                    .zip(&new.tools)
                    .any(|(a, b)| a.json != b.json || a.upstream != b.upstream)
        };
        if let Some(i) = changed
            && self.upstreams()[i].state() == State::Ready
        {
            events::emit(Event::ToolsChanged {
                server: &self.upstreams()[i].name,
                tools: lists[i].len(),
            });
        }
        if differs {
            let _ = self.front.send(FrontEvent::ToolsChanged);
        }
    }

    /// Re-fetches one upstream's tools after it said they changed.
    async fn refresh_tools(&self, index: usize) {
        let up = &self.upstreams()[index];
        let Some(live) = up.live() else { return };
        match list_all_tools(&live.conn, up.config.startup_timeout()).await {
            Ok(tools) => {
                *up.tools.write().expect("tools lock") = Arc::new(tools);
                self.rebuild_catalog(Some(index));
            }
            Err(e) => {
                tracing::warn!(server = %up.name, "could not re-list tools after list_changed: {e}")
            }
        }
    }

    /// The exposed name of an upstream's prompt, remembered for the way back.
    pub fn expose_prompt(&self, upstream: usize, original: &str) -> String {
        let up = &self.upstreams()[upstream];
        let max = self.settings.max_name_length;
        let mut map = self.prompt_names.lock().expect("prompt lock");
        let target = Target {
            upstream,
            original: original.into(),
        };
        let plain = names::expose(&up.name, up.prefix(), original, max);
        let name = match map.get(&plain) {
            Some(t) if *t != target => names::hashed(&up.name, up.prefix(), original, max),
            _ => plain,
        };
        map.insert(name.clone(), target);
        name
    }

    /// Where an exposed prompt name leads: from the listings seen, else by prefix.
    pub fn resolve_prompt(&self, exposed: &str) -> Option<Target> {
        if let Some(t) = self.prompt_names.lock().expect("prompt lock").get(exposed) {
            return Some(t.clone());
        }
        self.upstreams()
            .iter()
            .filter(|u| u.config.enabled() && !u.prefix().is_empty())
            .find_map(|u| {
                let rest = exposed.strip_prefix(u.prefix())?.strip_prefix("__")?;
                Some(Target {
                    upstream: u.index,
                    original: rest.into(),
                })
            })
    }

    /// Remembers which upstream listed a resource URI.
    pub fn note_resource(&self, uri: &str, upstream: usize) {
        self.resource_routes
            .lock()
            .expect("routes lock")
            .insert(uri.to_owned(), upstream);
    }

    /// Remembers which upstream listed a resource template.
    pub fn note_template(&self, template: &str, upstream: usize) {
        let mut t = self.templates.lock().expect("templates lock");
        if !t.iter().any(|(s, u)| s == template && *u == upstream) {
            t.push((template.to_owned(), upstream));
        }
    }

    /// Upstreams that may serve a resource URI, best first: the one that
    /// listed it, those whose templates match it, then every ready upstream
    /// that has resources.
    pub fn resource_candidates(&self, uri: &str) -> Vec<usize> {
        let mut out = Vec::new();
        if let Some(&u) = self.resource_routes.lock().expect("routes lock").get(uri) {
            out.push(u);
        }
        for (template, u) in self.templates.lock().expect("templates lock").iter() {
            if template_matches(template, uri) && !out.contains(u) {
                out.push(*u);
            }
        }
        for up in self.upstreams().iter() {
            if let Some(live) = up.live()
                && live.init.has("resources")
                && !out.contains(&up.index)
            {
                out.push(up.index);
            }
        }
        out
    }
}

/// Replaces a tool's `name`, keeping every other member as received.
fn rename(raw: &RawValue, exposed: &str) -> String {
    match jsonrpc::shallow(raw) {
        Ok(mut members) => {
            jsonrpc::set_member(&mut members, "name", jsonrpc::raw(exposed));
            jsonrpc::unshallow(&members)
        }
        Err(_) => raw.get().to_owned(),
    }
}

/// Whether a URI fits an RFC 6570 template, matching its literal parts in
/// order (each `{...}` matches anything).
pub fn template_matches(template: &str, uri: &str) -> bool {
    let mut literals = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        literals.push(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => rest = &rest[open + close + 1..],
            None => return false,
        }
    }
    let tail = rest;
    let Some(first) = literals.first() else {
        return template == uri;
    };
    let Some(mut pos) = uri.strip_prefix(first).map(|_| first.len()) else {
        return false;
    };
    for lit in &literals[1..] {
        match uri[pos..].find(lit) {
            Some(i) => pos += i + lit.len(),
            None => return false,
        }
    }
    uri.len() >= pos + tail.len() && uri[pos..].ends_with(tail)
}

/// Handles what upstreams send that is not an answer.
async fn pump(
    manager: std::sync::Weak<Manager>,
    mut rx: mpsc::UnboundedReceiver<(usize, Inbound)>,
) {
    while let Some((index, msg)) = rx.recv().await {
        let Some(m) = manager.upgrade() else { break };
        match msg {
            Inbound::Notification { method, .. }
                if method == "notifications/tools/list_changed" =>
            {
                // Re-list in the background; the pump keeps relaying.
                let m2 = m.clone();
                tokio::spawn(async move { m2.refresh_tools(index).await });
            }
            Inbound::Notification {
                method,
                params,
                in_transit,
            } => {
                let _ = m.front.send(FrontEvent::Notification {
                    upstream: index,
                    method,
                    params,
                    in_transit,
                });
            }
            Inbound::Request { id, method, params } => {
                let _ = m.front.send(FrontEvent::Request {
                    upstream: index,
                    id,
                    method,
                    params,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_their_literal_parts() {
        assert!(template_matches("file:///{path}", "file:///etc/hosts"));
        assert!(template_matches(
            "test://static/resource/{id}",
            "test://static/resource/12"
        ));
        assert!(template_matches("a://{x}/b/{y}.json", "a://1/b/2.json"));
        assert!(!template_matches("a://{x}/b/{y}.json", "a://1/c/2.json"));
        assert!(!template_matches("a://{x}/b/{y}.json", "a://1/b/2.txt"));
        assert!(template_matches("plain://x", "plain://x"));
        assert!(!template_matches("plain://x", "plain://y"));
    }

    #[test]
    fn rename_keeps_everything_else() {
        let raw: Box<RawValue> = serde_json::from_str(
            r#"{"name":"echo","description":"Echo","inputSchema":{"type":"object"},"x-extra":[1]}"#,
        )
        .unwrap();
        assert_eq!(
            rename(&raw, "ev__echo"),
            r#"{"name":"ev__echo","description":"Echo","inputSchema":{"type":"object"},"x-extra":[1]}"#
        );
    }
}
