//! The downstream side: the MCP server the IDE talks to.
//!
//! One [`Front`] per IDE connection. It answers `initialize` itself at once,
//! then has the [`Manager`] start every upstream in the background, mirroring
//! the IDE's client capabilities. Every request after that is waited for in
//! its own task, so a slow upstream never holds up another:
//!
//! ```text
//! IDE line -> parse envelope -> route (catalog / prompt map / URI map)
//!          -> upstream Connection (id, name, progress token rewritten)
//!          -> raw result -> IDE
//! ```
//!
//! The hot path, a `tools/call` to a ready upstream, is sent upstream inline
//! as its line is read, and the upstream's reader writes the answer straight
//! back under the IDE's id; its task only handles the timeout and a
//! cancellation. Other requests (and calls that must wait for an upstream
//! still starting) take the general path. A future response-phase policy
//! stage (guardrails on results) will have to take answers off the direct
//! path: see `Connection::start`.
//!
//! Ids: requests keep the IDE's id on the way back; upstream requests get the
//! upstream connection's own ids. Requests an upstream sends to the client
//! (sampling, elicitation, roots) are relayed with ids of toolgate's own, and
//! only when the IDE declared the capability; otherwise toolgate answers
//! "method not found" on the IDE's behalf.
//!
//! Protocol versions: toolgate speaks 2024-11-05, 2025-03-26, 2025-06-18 and
//! 2025-11-25 with the IDE, answering the IDE's version when it is one of
//! those and 2025-11-25 otherwise. It does not advertise the stateless
//! 2026-07-28 revision yet: a 2026-07-28 client cannot receive the
//! server-to-client requests toolgate relays, so such a client is answered
//! with 2025-11-25, which every 2026 client also speaks. Each upstream
//! negotiates its own version, starting from the IDE's.

pub mod cursor;
pub mod http;
pub mod names;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::io::BufReader;
use tokio::sync::{mpsc, oneshot, watch};

use crate::config::Config;
use crate::events::{self, Event};
use crate::jsonrpc::{self, Kind, Line, Malformed, code};
use crate::upstream::manager::{FrontEvent, Manager};
use crate::upstream::{CallError, ProgressRoute, State, describe_call_error, upstream_init_params};
use crate::wire::batch::Batch;
use crate::wire::{BoxRead, BoxWrite, Outbound};
use cursor::Cursor;

/// Protocol versions toolgate speaks with the IDE, newest first.
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// The `_meta` key under which toolgate puts machine-readable detail.
pub const META_KEY: &str = "dev.toolgate/error";

/// How long `serve` keeps answering requests already received after the
/// client closed stdin.
const EOF_DRAIN: Duration = Duration::from_secs(10);

/// Most tools in one `tools/list` page.
const TOOLS_PAGE: usize = 500;

/// What the IDE said in `initialize`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientInit {
    #[serde(default)]
    protocol_version: String,
    #[serde(default)]
    capabilities: Value,
    #[serde(default)]
    client_info: Value,
}

/// An error answer to a request.
struct RpcError {
    code: i64,
    message: String,
    data: Option<Value>,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }
}

/// What a handler produces.
enum Answer {
    /// A raw result.
    Result(String),
    /// A raw error object from an upstream, passed through unchanged.
    UpstreamError(Box<RawValue>),
    Error(RpcError),
    /// Cancelled by the IDE: no answer is sent.
    Nothing,
    /// The upstream's reader already wrote the answer (the direct path).
    Delivered,
}

/// A call of the fast path ([`Front::try_fast_call`]), which no task waits
/// for: the upstream's reader writes its answer, and this tidies up, or,
/// should the call fail (timeout, cancel, a closed upstream), answers and
/// records it in a task of its own.
struct FastCall {
    front: Arc<Front>,
    /// The IDE's id, its JSON text.
    id: Arc<str>,
    conn: std::sync::Weak<crate::upstream::Connection>,
    target: names::Target,
    audit: Option<Arc<Mutex<Option<CallAudit>>>>,
    started: std::time::Instant,
}

impl crate::upstream::conn::Detach for FastCall {
    fn registered(&mut self, uid: u64) {
        self.front
            .inflight
            .lock()
            .expect("inflight lock")
            .insert(self.id.clone(), Cancel::Call(self.conn.clone(), uid));
    }

    fn ended(self: Box<Self>, how: Result<(), CallError>) {
        let Self {
            front,
            id,
            target,
            audit,
            started,
            ..
        } = *self;
        let failed = match how {
            Ok(()) => {
                front.record_activity(&target, &Answer::Delivered);
                front.request_done(&id);
                return;
            }
            Err(e) => e,
        };
        // Outside the runtime (torn down at exit) nobody is left to answer.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            front.request_done(&id);
            return;
        };
        runtime.spawn(async move {
            let key = id;
            let id = jsonrpc::id_value(&key);
            let answer = front.call_failed(&target, failed);
            front.record_activity(&target, &answer);
            let untaken = audit.and_then(|a| a.lock().expect("audit lock").take());
            let answer = match untaken {
                Some(mut audit) => {
                    audit.upstream_latency = Some(started.elapsed());
                    front.audited(&id, audit, answer, started).await
                }
                None => answer,
            };
            front.inflight.lock().expect("inflight lock").remove(&key);
            front.answer(&id, answer).await;
            front.answered.notify_waiters();
        });
    }
}

/// How to cancel an IDE request in flight.
enum Cancel {
    /// Its task's [`Cancelled`].
    Task(oneshot::Sender<()>),
    /// A call of the fast path: its request to the upstream.
    Call(std::sync::Weak<crate::upstream::Connection>, u64),
}

/// One IDE connection.
pub struct Front {
    out: Arc<Outbound>,
    manager: Arc<Manager>,
    client: OnceLock<ClientInit>,
    initialized: AtomicBool,
    /// In-flight IDE requests, by the raw text of their id: cancellation.
    inflight: Mutex<HashMap<Arc<str>, Cancel>>,
    /// Requests relayed to the IDE: toolgate's id -> (upstream, its id).
    relayed: Mutex<HashMap<u64, (usize, Box<RawValue>)>>,
    /// toolgate's own requests to the IDE (approval elicitations): id ->
    /// where the answer goes.
    asked: Mutex<HashMap<String, oneshot::Sender<Result<Value, Value>>>>,
    next_relay: AtomicU64,
    /// Set when the IDE can no longer be written to.
    gone: watch::Sender<bool>,
    /// Signalled each time a request is answered (for the drain at EOF).
    answered: tokio::sync::Notify,
    /// Messages read from the IDE so far (for trimming when idle).
    activity: AtomicU64,
    has_servers: bool,
}

/// Runs the proxy on one pair of streams until the input ends or `stop` fires.
pub async fn serve(
    config: &Config,
    input: BoxRead,
    output: BoxWrite,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let (manager, events_rx) = Manager::new(config);
    manager.set_lazy(true);
    let front = Arc::new(Front {
        out: Arc::new(Outbound::new(output)),
        manager: manager.clone(),
        client: OnceLock::new(),
        initialized: AtomicBool::new(false),
        inflight: Mutex::new(HashMap::new()),
        relayed: Mutex::new(HashMap::new()),
        asked: Mutex::new(HashMap::new()),
        next_relay: AtomicU64::new(1),
        gone: watch::Sender::new(false),
        answered: tokio::sync::Notify::new(),
        activity: AtomicU64::new(0),
        has_servers: config.enabled_servers().next().is_some(),
    });
    let relay = tokio::spawn(front.clone().relay_events(events_rx));
    let trimmer = tokio::spawn(front.clone().trim_when_idle());
    let mut gone = front.gone.subscribe();
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    let mut buf = Vec::with_capacity(8192);
    let max = config.serve.max_message_size;
    tokio::pin!(stop);
    // Requests that arrived together go to each upstream in one write.
    let mut batch = Batch::default();
    loop {
        batch.next(jsonrpc::has_line(reader.buffer())).await;
        // A line already in hand is handled where it lies; the select (and a
        // copy of the line) only when the next one has to be waited for.
        if let Some((line, used)) = jsonrpc::line_in_hand(reader.buffer(), max)
            && !*gone.borrow()
        {
            if !jsonrpc::is_blank(line) {
                front.on_line(line).await;
            }
            tokio::io::AsyncBufReadExt::consume(&mut reader, used);
            continue;
        }
        let line = tokio::select! {
            line = jsonrpc::read_line(&mut reader, &mut buf, max) => line,
            () = &mut stop => { tracing::info!("stopping on a signal"); break }
            _ = gone.wait_for(|g| *g) => { tracing::info!("the client stopped reading; stopping"); break }
        };
        match line {
            Ok(Line::Message(line)) => front.on_line(&line).await,
            Ok(Line::TooLong { head, len }) => {
                let id = jsonrpc::sniff_id(&head)
                    .and_then(|id| serde_json::from_str::<Box<RawValue>>(&id).ok());
                tracing::warn!(
                    "refused a message of {len} bytes from the client (over serve.max_message_size)"
                );
                front
                    .send(&jsonrpc::error(
                        id.as_deref(),
                        code::INVALID_REQUEST,
                        &format!("toolgate refused a message of {len} bytes: the limit is serve.max_message_size ({max} bytes)"),
                        None,
                    ))
                    .await;
            }
            Ok(Line::Eof) => {
                // Answer what was already asked (a script may pipe requests
                // and close stdin at once), for a bounded time, then stop.
                tracing::info!("the client closed stdin; stopping");
                // Nobody will read the answer to a call held for a person.
                if let Some(b) = crate::approve::broker::current() {
                    b.abandon_all();
                }
                front.drain(EOF_DRAIN).await;
                break;
            }
            Err(e) => {
                tracing::warn!("could not read from the client: {e}; stopping");
                break;
            }
        }
    }
    manager.shutdown().await;
    relay.abort();
    trimmer.abort();
    Ok(())
}

impl Front {
    async fn send(&self, line: &[u8]) {
        if let Err(e) = self.out.send(line).await {
            tracing::debug!("could not write to the client: {e}");
            self.gone.send_replace(true);
        }
    }

    /// Gives memory back after [`IDLE_TRIM`] without a message from the
    /// IDE (once per quiet spell, when no upstream is starting): an IDE's
    /// toolgate spends most of its life waiting.
    async fn trim_when_idle(self: Arc<Self>) {
        let mut seen = u64::MAX;
        let mut trimmed = u64::MAX;
        loop {
            tokio::time::sleep(IDLE_TRIM).await;
            let now = self.activity.load(Ordering::Relaxed);
            if now == seen && now != trimmed && !self.manager.any_starting() {
                crate::util::trim_idle();
                trimmed = now;
            }
            seen = now;
        }
    }

    async fn on_line(self: &Arc<Self>, line: &[u8]) {
        self.activity.fetch_add(1, Ordering::Relaxed);
        match jsonrpc::parse(line) {
            Ok(Kind::Request { id, method, params }) => {
                if method == "initialize" {
                    let answer = self.initialize(params);
                    self.answer(id, answer).await;
                    return;
                }
                if method == "ping" {
                    self.send(&jsonrpc::response(id, "{}")).await;
                    return;
                }
                if self.client.get().is_none() {
                    self.send(&jsonrpc::error(
                        Some(id),
                        code::NOT_INITIALIZED,
                        "toolgate has not been initialized: send initialize first",
                        None,
                    ))
                    .await;
                    return;
                }
                if method == "tools/call" && self.try_fast_call(id, params).await.is_some() {
                    return;
                }
                let method = method.into_owned();
                let params = params.map(ToOwned::to_owned);
                let id_owned = id.to_owned();
                self.spawn_request(id, move |front, cancelled| async move {
                    front
                        .handle(&id_owned, &method, params.as_deref(), cancelled)
                        .await
                });
            }
            Ok(Kind::Notification { method, params }) => {
                self.on_notification(&method, params).await
            }
            Ok(Kind::Response { id, outcome }) => self.on_response(id, outcome).await,
            Err(Malformed::NotJson(why)) => {
                tracing::warn!("the client sent a line that is not JSON: {why}");
                self.send(&jsonrpc::error(
                    None,
                    code::PARSE_ERROR,
                    &format!("toolgate could not parse that message as JSON: {why}"),
                    None,
                ))
                .await;
            }
            Err(Malformed::Batch) => {
                self.send(&jsonrpc::error(
                    None,
                    code::INVALID_REQUEST,
                    "toolgate does not accept JSON-RPC batches (MCP removed them in 2025-06-18); send one message per line",
                    None,
                ))
                .await;
            }
            Err(Malformed::Invalid { id, why }) => {
                tracing::warn!("the client sent an invalid JSON-RPC message: {why}");
                self.send(&jsonrpc::error(
                    id,
                    code::INVALID_REQUEST,
                    &format!("invalid JSON-RPC message: {why}"),
                    None,
                ))
                .await;
            }
        }
    }

    /// Waits until every request received has been answered, or `limit`.
    async fn drain(&self, limit: Duration) {
        let all_answered = async {
            loop {
                let notified = self.answered.notified();
                if self.inflight.lock().expect("inflight lock").is_empty() {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(limit, all_answered).await.is_err() {
            tracing::warn!(
                "stopping with requests still unanswered after {}",
                crate::util::format_duration(limit)
            );
        }
    }

    /// Runs a request's work in its own task, cancellable by the IDE's
    /// `notifications/cancelled` for its id, and answers with what it returns.
    fn spawn_request<F, Fut>(self: &Arc<Self>, id: &RawValue, work: F)
    where
        F: FnOnce(Arc<Self>, Cancelled) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Answer> + Send,
    {
        let (cancel_tx, cancel_rx) = oneshot::channel();
        let key: Arc<str> = id.get().into();
        self.inflight
            .lock()
            .expect("inflight lock")
            .insert(key.clone(), Cancel::Task(cancel_tx));
        let front = self.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            let answer = work(front.clone(), Cancelled(cancel_rx)).await;
            front.inflight.lock().expect("inflight lock").remove(&key);
            front.answer(&id, answer).await;
            front.answered.notify_waiters();
        });
    }

    /// A request is over (its answer is out): forgets it for cancellation
    /// and for the drain at EOF.
    fn request_done(&self, id: &str) {
        self.inflight.lock().expect("inflight lock").remove(id);
        self.answered.notify_waiters();
    }

    async fn answer(&self, id: &RawValue, answer: Answer) {
        let line = match answer {
            Answer::Result(result) => jsonrpc::response(id, &result),
            Answer::UpstreamError(error) => jsonrpc::error_raw(Some(id), error.get()),
            Answer::Error(e) => jsonrpc::error(Some(id), e.code, &e.message, e.data.as_ref()),
            Answer::Nothing | Answer::Delivered => return,
        };
        self.send(&line).await;
        crate::wire::spin::answered();
    }

    fn initialize(self: &Arc<Self>, params: Option<&RawValue>) -> Answer {
        let client: ClientInit = match params.map(|p| serde_json::from_str(p.get())) {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                return Answer::Error(RpcError::new(
                    code::INVALID_PARAMS,
                    format!("invalid initialize params: {e}"),
                ));
            }
            None => ClientInit::default(),
        };
        let version = if PROTOCOL_VERSIONS.contains(&client.protocol_version.as_str()) {
            client.protocol_version.clone()
        } else {
            PROTOCOL_VERSIONS[0].to_owned()
        };
        let init_params = upstream_init_params(&version, Some(&client.capabilities));
        let info = |key: &str| {
            client
                .client_info
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned()
        };
        tracing::info!(
            client = %info("name"),
            client_version = %info("version"),
            requested = %client.protocol_version,
            protocol_version = %version,
            "client initialized"
        );
        if let Some(b) = crate::approve::broker::current() {
            b.set_agent(crate::approve::Agent {
                name: info("name"),
                version: info("version"),
            });
        }
        if self.client.set(client).is_err() {
            return Answer::Error(RpcError::new(
                code::INVALID_REQUEST,
                "toolgate was already initialized on this connection",
            ));
        }
        self.manager.start(init_params, |_| true);
        let mut result = json!({
            "protocolVersion": version,
            "capabilities": {
                "tools": { "listChanged": true },
                "prompts": { "listChanged": true },
                "resources": { "subscribe": true, "listChanged": true },
                "logging": {},
                "completions": {},
            },
            "serverInfo": {
                "name": "toolgate",
                "title": "toolgate",
                "version": env!("CARGO_PKG_VERSION"),
            },
        });
        if !self.has_servers {
            result["instructions"] = json!(
                "toolgate has no upstream MCP servers configured yet, so it offers no tools. \
                 The user can add one with `toolgate add NAME -- COMMAND [ARGS...]` and restart this server."
            );
        }
        Answer::Result(result.to_string())
    }

    fn client_declared(&self, capability: &str) -> bool {
        self.client
            .get()
            .and_then(|c| c.capabilities.get(capability))
            .is_some()
    }

    async fn on_notification(&self, method: &str, params: Option<&RawValue>) {
        match method {
            "notifications/initialized" => {
                self.initialized.store(true, Ordering::Release);
            }
            "notifications/cancelled" => {
                let Some(id) = params.and_then(request_id_text) else {
                    return;
                };
                let cancel = self
                    .inflight
                    .lock()
                    .expect("inflight lock")
                    .remove(id.as_str());
                match cancel {
                    Some(Cancel::Task(tx)) => {
                        let _ = tx.send(());
                    }
                    Some(Cancel::Call(conn, uid)) => {
                        if let Some(conn) = conn.upgrade() {
                            conn.cancel(uid, "cancelled by the client").await;
                        }
                    }
                    None => {}
                }
            }
            "notifications/roots/list_changed" => {
                for up in self.manager.upstreams().iter() {
                    if let Some(live) = up.live() {
                        let _ = live.conn.notify(method, None).await;
                    }
                }
            }
            other => tracing::debug!("ignoring the client notification {other}"),
        }
    }

    async fn on_response(&self, id: &RawValue, outcome: Result<&RawValue, &RawValue>) {
        if let Some(tx) = self.asked.lock().expect("asked lock").remove(id.get()) {
            let parse =
                |raw: &RawValue| serde_json::from_str::<Value>(raw.get()).unwrap_or_default();
            let _ = tx.send(match outcome {
                Ok(r) => Ok(parse(r)),
                Err(e) => Err(parse(e)),
            });
            return;
        }
        let Ok(ours) = id.get().parse::<u64>() else {
            tracing::debug!(
                id = id.get(),
                "the client answered a request toolgate did not send"
            );
            return;
        };
        let route = self.relayed.lock().expect("relayed lock").remove(&ours);
        let Some((upstream, upstream_id)) = route else {
            tracing::debug!(
                id = ours,
                "the client answered a request that is no longer pending"
            );
            return;
        };
        if let Some(live) = self.manager.upstreams()[upstream].live() {
            live.conn.respond(&upstream_id, outcome).await;
        }
    }

    /// Handles what upstreams send towards the IDE.
    async fn relay_events(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<FrontEvent>) {
        while let Some(event) = rx.recv().await {
            match event {
                FrontEvent::ToolsChanged => {
                    // Coalesce a burst of changes (several upstreams becoming
                    // ready together) into one notification.
                    let mut rest = Vec::new();
                    while let Ok(e) = rx.try_recv() {
                        if !matches!(e, FrontEvent::ToolsChanged) {
                            rest.push(e);
                        }
                    }
                    self.send(&jsonrpc::notification(
                        "notifications/tools/list_changed",
                        None,
                    ))
                    .await;
                    for e in rest {
                        self.relay_one(e).await;
                    }
                }
                other => self.relay_one(other).await,
            }
        }
    }

    async fn relay_one(&self, event: FrontEvent) {
        match event {
            FrontEvent::ToolsChanged => {
                self.send(&jsonrpc::notification(
                    "notifications/tools/list_changed",
                    None,
                ))
                .await;
            }
            // The notification's place in transit is given back once it
            // is handled, when `event` is dropped.
            FrontEvent::Notification {
                upstream,
                method,
                params,
                ..
            } => match method.as_str() {
                "notifications/cancelled" => {
                    // The upstream gave up on a request it sent the IDE.
                    let Some(their) = params.as_deref().and_then(request_id_text) else {
                        return;
                    };
                    let ours = {
                        let mut relayed = self.relayed.lock().expect("relayed lock");
                        let found = relayed
                            .iter()
                            .find(|(_, (u, id))| *u == upstream && id.get() == their)
                            .map(|(k, _)| *k);
                        if let Some(k) = found {
                            relayed.remove(&k);
                        }
                        found
                    };
                    if let Some(ours) = ours {
                        let mut p = params
                            .as_deref()
                            .and_then(|p| jsonrpc::shallow(p).ok())
                            .unwrap_or_default();
                        jsonrpc::set_member(&mut p, "requestId", jsonrpc::raw(&ours));
                        self.send(&jsonrpc::notification(
                            &method,
                            Some(&jsonrpc::unshallow(&p)),
                        ))
                        .await;
                    }
                }
                "notifications/message" => {
                    // Log messages name the server they came from when they
                    // do not name a logger themselves.
                    let server = &self.manager.upstreams()[upstream].name;
                    let params = params.as_deref().map(|p| match jsonrpc::shallow(p) {
                        Ok(mut m) if jsonrpc::member(&m, "logger").is_none() => {
                            jsonrpc::set_member(&mut m, "logger", jsonrpc::raw(&**server));
                            jsonrpc::unshallow(&m)
                        }
                        _ => p.get().to_owned(),
                    });
                    // Dropped rather than queued when the IDE is far behind
                    // (an upstream may log thousands of lines a second).
                    self.out
                        .offer(&jsonrpc::notification(&method, params.as_deref()));
                }
                _ => {
                    self.send(&jsonrpc::notification(
                        &method,
                        params.as_deref().map(RawValue::get),
                    ))
                    .await;
                }
            },
            FrontEvent::Request {
                upstream,
                id,
                method,
                params,
            } => self.relay_request(upstream, id, &method, params).await,
            FrontEvent::LoginUrl { upstream, url } => self.offer_login(upstream, &url).await,
        }
    }

    /// Offers a login URL to the IDE by URL-mode elicitation (MCP
    /// 2025-11-25), where the IDE declared `elicitation.url`. Its answer is
    /// not needed: the login completes when the browser reaches toolgate's
    /// loopback listener.
    async fn offer_login(&self, upstream: usize, url: &str) {
        let supports_url = self
            .client
            .get()
            .and_then(|c| c.capabilities.get("elicitation"))
            .and_then(|e| e.get("url"))
            .is_some();
        if !supports_url {
            return;
        }
        let server = &self.manager.upstreams()[upstream].name;
        let n = self.next_relay.fetch_add(1, Ordering::Relaxed);
        let params = json!({
            "mode": "url",
            "elicitationId": format!("toolgate-login-{server}-{n}"),
            "url": url,
            "message": format!("Log in to \"{server}\" so that toolgate can use its tools. toolgate opened this page in your browser too; finish it in either place."),
        });
        self.send(&jsonrpc::request(
            &format!("\"toolgate-login-{n}\""),
            "elicitation/create",
            Some(&params.to_string()),
        ))
        .await;
    }

    /// Relays a request from an upstream to the IDE, where the IDE declared
    /// the capability it needs.
    async fn relay_request(
        &self,
        upstream: usize,
        id: Box<RawValue>,
        method: &str,
        params: Option<Box<RawValue>>,
    ) {
        let needs = match method {
            "sampling/createMessage" => Some("sampling"),
            "elicitation/create" => Some("elicitation"),
            "roots/list" => Some("roots"),
            _ => None,
        };
        let up = &self.manager.upstreams()[upstream];
        let Some(live) = up.live() else { return };
        if method == "sampling/createMessage" {
            let args: Value = params
                .as_deref()
                .and_then(|p| serde_json::from_str(p.get()).ok())
                .unwrap_or(Value::Null);
            if let Err(e) = self.police_request(&up.name, method, &args) {
                let err = jsonrpc::error_object(e.code, &e.message, None);
                live.conn
                    .respond(
                        &id,
                        Err(&jsonrpc::raw(
                            &serde_json::from_str::<Value>(&err).unwrap_or_default(),
                        )),
                    )
                    .await;
                return;
            }
        }
        let allowed = needs.is_some_and(|cap| self.client_declared(cap));
        if !allowed {
            let why = match needs {
                Some(cap) => format!(
                    "the client behind toolgate did not declare the {cap} capability, so {method} cannot be relayed"
                ),
                None => format!("toolgate does not relay {method} requests to the client"),
            };
            let err = jsonrpc::error_object(code::METHOD_NOT_FOUND, &why, None);
            live.conn
                .respond(
                    &id,
                    Err(&jsonrpc::raw(
                        &serde_json::from_str::<Value>(&err).unwrap_or_default(),
                    )),
                )
                .await;
            return;
        }
        let ours = self.next_relay.fetch_add(1, Ordering::Relaxed);
        self.relayed
            .lock()
            .expect("relayed lock")
            .insert(ours, (upstream, id));
        self.send(&jsonrpc::request(
            &ours.to_string(),
            method,
            params.as_deref().map(RawValue::get),
        ))
        .await;
    }

    /// Handles one request after `initialize`.
    async fn handle(
        &self,
        id: &RawValue,
        method: &str,
        params: Option<&RawValue>,
        cancelled: impl std::future::Future<Output = ()>,
    ) -> Answer {
        let result = match method {
            "tools/list" => self.tools_list(params).await,
            "tools/call" => return self.tools_call(id, params, cancelled).await,
            "prompts/list" => self.fan_out(method, params, "prompts", "prompts").await,
            "resources/list" => self.fan_out(method, params, "resources", "resources").await,
            "resources/templates/list" => {
                self.fan_out(method, params, "resources", "resourceTemplates")
                    .await
            }
            "prompts/get" => self.by_prompt(method, params, "name", cancelled).await,
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
                self.by_uri(method, params, cancelled).await
            }
            "completion/complete" => self.complete(params, cancelled).await,
            "logging/setLevel" => self.set_level(params).await,
            other => Err(RpcError::new(
                code::METHOD_NOT_FOUND,
                format!("toolgate does not support the method {other}"),
            )),
        };
        match result {
            Ok(answer) => answer,
            Err(e) => Answer::Error(e),
        }
    }

    async fn tools_list(&self, params: Option<&RawValue>) -> Result<Answer, RpcError> {
        let offset = match cursor_param(params)? {
            Some(text) => Cursor::decode(&text, "tools/list")
                .and_then(|c| c.offset)
                .ok_or_else(|| {
                    RpcError::new(code::INVALID_PARAMS, "invalid cursor for tools/list")
                })?,
            None => 0,
        };
        if offset == 0 && self.manager.any_starting() {
            self.manager.settle(self.manager.settings.list_wait.0).await;
        }
        let catalog = self.manager.catalog();
        let end = (offset + TOOLS_PAGE).min(catalog.tools.len());
        let mut out = String::with_capacity(
            64 + catalog
                .tools
                .iter()
                .map(|t| t.json.len() + 1)
                .sum::<usize>(),
        );
        out.push_str("{\"tools\":[");
        for (i, tool) in catalog
            .tools
            .get(offset..end)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&tool.json);
        }
        out.push(']');
        if end < catalog.tools.len() {
            let next = Cursor {
                method: "tools/list".into(),
                offset: Some(end),
                upstreams: Default::default(),
            };
            out.push_str(",\"nextCursor\":");
            out.push_str(&serde_json::to_string(&next.encode()).unwrap_or_default());
        }
        out.push('}');
        Ok(Answer::Result(out))
    }

    /// The fast path of `tools/call`, run inline as the line is read: when the
    /// tool resolves and its upstream is ready, the request goes upstream at
    /// once, the upstream's reader writes the answer back, and no task waits
    /// for it ([`FastCall`]). `None` sends the call down the general path,
    /// which waits for upstreams still starting and words every error.
    async fn try_fast_call(
        self: &Arc<Self>,
        id: &RawValue,
        params: Option<&RawValue>,
    ) -> Option<()> {
        let members = jsonrpc::shallow_borrowed(params?).ok()?;
        let name = jsonrpc::str_value(jsonrpc::member(&members, "name")?)?;
        let target = self.manager.catalog().names.resolve(&name).cloned()?;
        let up = self.manager.upstreams()[target.upstream].clone();
        let live = up.live()?;
        // A call the policy does not simply allow takes the slow path, which
        // answers refusals and records observations.
        if let Some(policy) = crate::policy::current() {
            let server = up.name.clone();
            // Counted calls take the slow path, so each is counted once;
            // guarded ones too, where arguments and results are scanned.
            if policy.limited(&server, &target.original)
                || policy
                    .guard(crate::policy::guard::Direction::Arguments)
                    .is_some()
                || policy
                    .guard(crate::policy::guard::Direction::Results)
                    .is_some()
            {
                return None;
            }
            match self.police(&policy, &server, &target, &members) {
                crate::policy::Outcome::Pass { observe: false, .. } => {}
                _ => return None,
            }
        } else if crate::policy::protect::suspect(
            jsonrpc::member(&members, "arguments").map_or("", |a| a.get()),
        ) {
            return None;
        }
        // With an audit trail: its record is committed before the answer
        // goes out, so the answer comes back through here.
        let audit = match crate::audit::writer::current() {
            Some(w) if w.failing().is_some() || w.spool_full().is_some() => return None,
            Some(_) => Some(CallAudit {
                reached: true,
                server: Some(up.name.to_string()),
                tool: Some(target.original.to_string()),
                exposed: Some(name.clone().into_owned()),
                args: jsonrpc::member(&members, "arguments").map(|a| a.get().to_owned()),
                decision: Some("allow"),
                ..CallAudit::default()
            }),
            None => None,
        };
        let call_started = std::time::Instant::now();
        // The name as the upstream knows it, where it differs.
        let original = (*name != *target.original).then(|| jsonrpc::raw(&*target.original));
        let timeout = up.config.timeout();
        // With an audit trail, the upstream's reader commits the record just
        // before it writes the answer; a call that ends otherwise (timeout,
        // cancel, a closed upstream) is recorded by its task. Whoever takes
        // the record first writes it.
        let audit = audit.map(|a| Arc::new(Mutex::new(Some(a))));
        let before = audit.clone().map(|shared| {
            let id = id.to_owned();
            Box::new(move |outcome: Result<&RawValue, &RawValue>| {
                let mut audit = shared.lock().expect("audit lock").take()?;
                audit.upstream_latency = Some(call_started.elapsed());
                let answer = match outcome {
                    Ok(r) => Answer::Result(r.get().to_owned()),
                    Err(e) => Answer::UpstreamError(e.to_owned()),
                };
                let record = audit.into_record(&id, &answer, call_started);
                let writer = crate::audit::writer::current()?;
                match writer.commit_now(record) {
                    Ok(()) => None,
                    Err(e) => match audit_withheld(&e) {
                        Answer::Result(text) => Some(text),
                        _ => None,
                    },
                }
            }) as crate::upstream::conn::BeforeAnswer
        });
        // No task waits for the answer: the upstream's reader writes it, and
        // `ended` tidies up (or, should the call fail, answers for it).
        let meta_raw = jsonrpc::member(&members, "_meta");
        let meta_len = meta_raw.map_or(0, |m| m.get().len());
        let meta = meta_raw.and_then(|m| jsonrpc::shallow_borrowed(m).ok());
        let progress = meta
            .as_deref()
            .and_then(|m| progress_route_in(m, &self.out));
        // The client's progress token becomes toolgate's own (the upstream
        // request id); otherwise `_meta` goes up as it came.
        let meta = meta.filter(|_| progress.is_some());
        let id_text: Arc<str> = id.get().into();
        let direct = crate::upstream::conn::DirectReply {
            id: id_text.clone(),
            sink: self.out.clone(),
            before,
        };
        let owner = FastCall {
            front: self.clone(),
            id: id_text,
            conn: Arc::downgrade(&live.conn),
            target,
            audit,
            started: call_started,
        };
        live.conn
            .start_detached(
                "tools/call",
                |uid, buf| {
                    let mut token = [0u8; 20];
                    let mut meta_text = Vec::new();
                    let mut replace: [(&str, &[u8]); 2] = [("", b""), ("", b"")];
                    let mut n = 0;
                    if let Some(meta) = &meta {
                        let token: &[u8] = jsonrpc::decimal(uid, &mut token);
                        meta_text.reserve(meta_len + token.len());
                        jsonrpc::push_object(&mut meta_text, meta, &[("progressToken", token)]);
                        replace[n] = ("_meta", &meta_text);
                        n += 1;
                    }
                    if let Some(name) = &original {
                        replace[n] = ("name", name.get().as_bytes());
                        n += 1;
                    }
                    jsonrpc::push_object(buf, &members, &replace[..n]);
                },
                progress,
                direct,
                timeout,
                Box::new(owner),
            )
            .await;
        Some(())
    }

    /// The policy for requests other than tool calls: `resources/read`,
    /// `prompts/get` and relayed `sampling/createMessage` go through the
    /// same rules, with the method as the tool name (`tool =
    /// "resources/read"`, `when = [{ arg = "uri", pattern = "..." }]`).
    fn police_request(&self, server: &str, method: &str, args: &Value) -> Result<(), RpcError> {
        let Some(policy) = crate::policy::current() else {
            return Ok(());
        };
        let call = crate::policy::Call {
            server,
            tool: method,
            args,
            definition: None,
        };
        let refused = |message: String, detail: Value| {
            events::emit(Event::CallRefused {
                method,
                name: server,
                reason: &message,
            });
            Err(RpcError {
                code: code::POLICY_REFUSED,
                message: format!("toolgate: {message}"),
                data: Some(json!({ META_KEY: { "policy": detail } })),
            })
        };
        match policy.check_call(&call) {
            crate::policy::Outcome::Refuse {
                message, detail, ..
            } => refused(message, detail),
            crate::policy::Outcome::Hold { verdict } => refused(
                format!(
                    "{method} of \"{server}\" needs a person's approval (policy: {}), which toolgate asks for tool calls only, so it is denied",
                    verdict.rule_words()
                ),
                json!({"decision": "step-up", "rule": verdict.by}),
            ),
            crate::policy::Outcome::Pass { observe, verdict } => {
                if observe {
                    events::emit(Event::CallObserved {
                        server,
                        tool: method,
                        rule: verdict.as_ref().map_or("", |v| v.by.as_str()),
                    });
                }
                Ok(())
            }
        }
    }

    /// The policy's outcome for a resolved call. Arguments are parsed only
    /// where a rule or constraint reads them; the tool's definition only
    /// where the server's annotations count.
    fn police(
        &self,
        policy: &crate::policy::Policy,
        server: &str,
        target: &crate::proxy::names::Target,
        members: &[impl jsonrpc::Member],
    ) -> crate::policy::Outcome {
        let definition: Option<Value> = if policy.trusts(server) {
            let catalog = self.manager.catalog();
            catalog
                .tools
                .iter()
                .find(|t| t.upstream == target.upstream && *t.original == *target.original)
                .and_then(|t| serde_json::from_str(&t.json).ok())
        } else {
            None
        };
        let raw_args = jsonrpc::member(members, "arguments").map_or("", |a| a.get());
        let args: Value = if policy.reads_args(server, &target.original, definition.as_ref())
            || crate::policy::protect::suspect(raw_args)
        {
            jsonrpc::member(members, "arguments")
                .and_then(|a| serde_json::from_str(a.get()).ok())
                .unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        policy.check_call(&crate::policy::Call {
            server,
            tool: &target.original,
            args: &args,
            definition: definition.as_ref(),
        })
    }

    /// Sends a resolved `tools/call` upstream, its answer to be written to the
    /// IDE directly by the upstream's reader.
    async fn start_call(
        &self,
        id: &RawValue,
        conn: &crate::upstream::Connection,
        members: Vec<(String, Box<RawValue>)>,
        timeout: Duration,
        direct: bool,
    ) -> Result<crate::upstream::conn::Waiting, CallError> {
        let progress = progress_route(&members, &self.out);
        let has_progress = progress.is_some();
        // Direct: the upstream's reader writes the answer to the IDE itself;
        // otherwise it comes back here (to be scanned by guardrails).
        let direct = direct.then(|| crate::upstream::conn::DirectReply {
            id: id.get().into(),
            sink: self.out.clone(),
            before: None,
        });
        conn.start(
            "tools/call",
            |uid| Some(upstream_params(&members, has_progress, uid)),
            progress,
            direct,
            timeout,
        )
        .await
    }

    /// Shows a call that went through in the approval UI's activity view.
    fn record_activity(&self, target: &names::Target, answer: &Answer) {
        if let Some(b) = crate::approve::broker::current() {
            let outcome = match answer {
                Answer::Nothing => "cancelled",
                Answer::Delivered => "allowed",
                _ => "allowed",
            };
            let server = &self.manager.upstreams()[target.upstream].name;
            b.record(
                server,
                &target.original,
                outcome,
                "policy",
                crate::policy::limits::now_ms(),
            );
        }
    }

    /// Self-protection where no policy is in force (a policy runs it as its
    /// first stage).
    fn self_protection(
        &self,
        server: &str,
        target: &names::Target,
        members: &[(String, Box<RawValue>)],
    ) -> Option<Answer> {
        let raw = jsonrpc::member(members, "arguments").map_or("", |a| a.get());
        if !crate::policy::protect::suspect(raw) {
            return None;
        }
        let args: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
        match crate::policy::protect::refusal(server, &target.original, &args)? {
            crate::policy::Outcome::Refuse {
                kind,
                message,
                hint,
                detail,
            } => {
                events::emit(Event::CallRefused {
                    method: "tools/call",
                    name: &target.original,
                    reason: &message,
                });
                Some(policy_refusal(server, kind, &message, &hint, detail))
            }
            _ => None,
        }
    }

    /// Holds a `step-up` call until a person answers (the terminal UI, a
    /// script where the profile allows it, or the IDE by elicitation where
    /// the profile enables it), the IDE cancels it, or it times out.
    /// `Ok`: approved, go on. `Err`: the answer to give instead. Every
    /// failure denies.
    async fn hold(
        &self,
        target: &names::Target,
        exposed: &str,
        members: &[(String, Box<RawValue>)],
        verdict: &crate::policy::Verdict,
        mut cancelled: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
        approval: &mut Option<crate::audit::Approval>,
    ) -> Result<(), Answer> {
        use crate::approve::broker;
        let upstreams = self.manager.upstreams();
        let server: &str = &upstreams[target.upstream].name;
        let tool = &*target.original;
        let rule_words = verdict.rule_words();
        let refuse = |kind: &str, message: String, hint: &str| {
            events::emit(Event::CallRefused {
                method: "tools/call",
                name: exposed,
                reason: &message,
            });
            policy_refusal(
                server,
                kind,
                &message,
                hint,
                json!({"decision": "step-up", "rule": verdict.by, "reason": verdict.reason}),
            )
        };
        let Some(b) = broker::current() else {
            return Err(refuse(
                "step_up",
                format!(
                    "the call to \"{tool}\" of \"{server}\" needs a person's approval (policy: {rule_words}), and toolgate's approval service is not running here, so it is denied"
                ),
                "ask the user to check toolgate's log; approvals need toolgate serve",
            ));
        };
        if b.granted(server, tool) {
            b.record(
                server,
                tool,
                "approved",
                "session grant",
                crate::policy::limits::now_ms(),
            );
            return Ok(());
        }
        let settings = broker::settings();
        let timeout = verdict.timeout.as_deref().unwrap_or(&settings.timeout);
        let timeout = crate::util::parse_duration(timeout).unwrap_or(Duration::from_secs(120));
        let raw_args = jsonrpc::member(members, "arguments").map_or("{}", |a| a.get());
        let args_hash = crate::util::sha256_hex(raw_args.as_bytes());
        let mut shown: Value = serde_json::from_str(raw_args).unwrap_or(Value::Null);
        crate::approve::redact_for_display(&mut shown, server, tool);
        let now = crate::policy::limits::now_ms();
        let deadline = now + timeout.as_millis() as i64;
        let (held, mut answer) = b.hold(
            server,
            tool,
            exposed,
            shown,
            args_hash,
            &verdict.by,
            verdict.reason.clone(),
            now,
            deadline,
        );
        events::emit(Event::ApprovalHeld {
            id: &held.id,
            server,
            tool,
            rule: &verdict.by,
            timeout_secs: timeout.as_secs(),
        });
        if settings.notify {
            crate::approve::notify_desktop(&held);
        }
        let progress_token = jsonrpc::member(members, "_meta")
            .and_then(|m| jsonrpc::shallow(m).ok())
            .and_then(|m| jsonrpc::member(&m, "progressToken").map(|t| t.get().to_owned()));
        // In the IDE too, where it can ask and the profile lets it.
        let mut ide = if settings.elicitation && self.client_declared("elicitation") {
            Some(self.ask_approval(&held, &rule_words).await)
        } else {
            None
        };
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut last_progress: Option<std::time::Instant> = None;
        let mut sent = 0u64;
        let started = std::time::Instant::now();
        let finish = |outcome: &str, by: &str, channel: &str, reason: &str| {
            let record = crate::audit::Approval {
                outcome: outcome.to_owned(),
                by: (!by.is_empty()).then(|| by.to_owned()),
                channel: (!channel.is_empty()).then(|| channel.to_owned()),
                waited_ms: started.elapsed().as_millis() as u64,
                reason: (!reason.is_empty()).then(|| reason.to_owned()),
            };
            b.finish(&held.id, outcome);
            b.record(server, tool, outcome, by, crate::policy::limits::now_ms());
            events::emit(Event::ApprovalDecided {
                id: &held.id,
                server,
                tool,
                outcome,
                by,
                channel,
                waited_ms: started.elapsed().as_millis() as u64,
                reason,
            });
            record
        };
        let decided: broker::Answer = loop {
            tokio::select! {
                a = &mut answer => match a {
                    Ok(a) => break a,
                    Err(_) => {
                        *approval = Some(finish("failed", "", "", "the approval service stopped"));
                        return Err(refuse("step_up", format!("the call to \"{tool}\" of \"{server}\" was held for approval, and the approval service stopped, so it is denied"), "retry later"));
                    }
                },
                a = async { (&mut ide.as_mut().expect("guarded").1).await }, if ide.is_some() => {
                    let (ide_id, _) = ide.take().expect("guarded");
                    self.asked.lock().expect("asked lock").remove(&ide_id);
                    let allow = a.ok().and_then(|r| r.ok()).is_some_and(|r| {
                        r.get("action").and_then(Value::as_str) == Some("accept")
                            && r.pointer("/content/decision").and_then(Value::as_str) == Some("allow")
                    });
                    break broker::Answer {
                        allow,
                        scope: crate::approve::Scope::Once,
                        reason: (!allow).then(|| "declined in the IDE".to_string()),
                        channel: "ide".into(),
                        user: crate::util::os_user(),
                    };
                }
                () = cancelled.as_mut() => {
                    *approval = Some(finish("cancelled", "", "", "the IDE cancelled the call"));
                    if let Some((ide_id, _)) = ide.take() {
                        self.withdraw_ask(&ide_id).await;
                    }
                    return Err(Answer::Nothing);
                }
                _ = tick.tick() => {
                    let now = crate::policy::limits::now_ms();
                    if now >= deadline {
                        *approval = Some(finish("timed out", "", "", ""));
                        if let Some((ide_id, _)) = ide.take() {
                            self.withdraw_ask(&ide_id).await;
                        }
                        return Err(refuse(
                            "step_up_timeout",
                            format!(
                                "nobody approved the call to \"{tool}\" of \"{server}\" within {} (policy: {rule_words}), so toolgate denied it",
                                crate::util::format_duration(timeout)
                            ),
                            "ask the user to run `toolgate approve` in a terminal, then retry the call",
                        ));
                    }
                    if let Some(token) = &progress_token
                        && last_progress.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY)
                    {
                        last_progress = Some(std::time::Instant::now());
                        sent += 1;
                        let left = Duration::from_millis((deadline - now).max(0) as u64 / 1000 * 1000);
                        let params = json!({
                            "progressToken": serde_json::from_str::<Value>(token).unwrap_or(Value::Null),
                            "progress": sent,
                            "message": format!(
                                "waiting for approval of {tool} ({} left): the user answers with `toolgate approve`",
                                crate::util::format_duration(left)
                            ),
                        });
                        self.send(&jsonrpc::notification("notifications/progress", Some(&params.to_string()))).await;
                    }
                }
            }
        };
        if let Some((ide_id, _)) = ide.take() {
            self.withdraw_ask(&ide_id).await;
        }
        if decided.channel == crate::approve::broker::ABANDONED {
            *approval = Some(finish("cancelled", "", "", "the IDE closed the connection"));
            return Err(Answer::Nothing);
        }
        let who = format!("{} ({})", decided.user, decided.channel);
        if decided.allow {
            *approval = Some(finish(
                "approved",
                &who,
                &decided.channel,
                decided.reason.as_deref().unwrap_or(""),
            ));
            Ok(())
        } else {
            *approval = Some(finish(
                "rejected",
                &who,
                &decided.channel,
                decided.reason.as_deref().unwrap_or(""),
            ));
            Err(refuse(
                "step_up_denied",
                format!(
                    "{} denied the call to \"{tool}\" of \"{server}\"{}",
                    decided.user,
                    decided
                        .reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
                "do not retry it unless the user asks you to",
            ))
        }
    }

    /// Asks the IDE for approval by form elicitation; returns the request's
    /// id and where its answer arrives.
    async fn ask_approval(
        &self,
        held: &crate::approve::Held,
        rule: &str,
    ) -> (String, oneshot::Receiver<Result<Value, Value>>) {
        let id = format!("\"toolgate-approve-{}\"", held.id);
        let (tx, rx) = oneshot::channel();
        self.asked
            .lock()
            .expect("asked lock")
            .insert(id.clone(), tx);
        let args = serde_json::to_string_pretty(&held.args).unwrap_or_default();
        let params = json!({
            "mode": "form",
            "message": format!(
                "toolgate holds a call for your approval (rule {rule}):\n{} of {}\narguments:\n{}",
                held.tool, held.server, crate::approve::printable(&args, true)
            ),
            "requestedSchema": {
                "type": "object",
                "properties": {
                    "decision": {
                        "type": "string",
                        "title": "Decision",
                        "enum": ["allow", "deny"],
                        "enumNames": ["Allow this call", "Deny it"],
                    }
                },
                "required": ["decision"],
            },
        });
        self.send(&jsonrpc::request(
            &id,
            "elicitation/create",
            Some(&params.to_string()),
        ))
        .await;
        (id, rx)
    }

    /// Withdraws an approval question from the IDE (answered elsewhere).
    async fn withdraw_ask(&self, id: &str) {
        self.asked.lock().expect("asked lock").remove(id);
        let params = json!({
            "requestId": serde_json::from_str::<Value>(id).unwrap_or(Value::Null),
            "reason": "answered elsewhere",
        });
        self.send(&jsonrpc::notification(
            "notifications/cancelled",
            Some(&params.to_string()),
        ))
        .await;
    }

    /// Waits for a started `tools/call`; answers what the upstream did not.
    async fn finish_call(
        &self,
        target: &names::Target,
        started: Result<crate::upstream::conn::Waiting, CallError>,
        conn: Arc<crate::upstream::Connection>,
        cancelled: impl std::future::Future<Output = ()>,
    ) -> Answer {
        let reply = match started {
            Ok(waiting) => conn.wait(waiting, cancelled).await,
            Err(e) => Err(e),
        };
        match reply {
            Ok(result) => Answer::Result(result.get().to_owned()),
            Err(e) => self.call_failed(target, e),
        }
    }

    /// The answer to a `tools/call` the upstream did not answer with a result.
    fn call_failed(&self, target: &names::Target, error: CallError) -> Answer {
        let up = &self.manager.upstreams()[target.upstream];
        match error {
            CallError::Delivered => Answer::Delivered,
            CallError::Cancelled => Answer::Nothing,
            CallError::Rpc(error) => Answer::UpstreamError(error),
            e @ CallError::Timeout(_) => tool_error(
                &up.name,
                "timeout",
                &describe_call_error(&up.name, &format!("the call to {}", target.original), &e),
                "the server got notifications/cancelled; raise timeout in its config.toml entry if the tool is slow by nature",
            ),
            e @ CallError::TooLarge(_) => tool_error(
                &up.name,
                "too_large",
                &describe_call_error(&up.name, &format!("the call to {}", target.original), &e),
                "raise serve.max_message_size in config.toml, or ask the tool for less",
            ),
            CallError::Closed(why) => tool_error(
                &up.name,
                "upstream_closed",
                &format!("{why} during the call to {}", target.original),
                "toolgate restarts the server; retry in a few seconds",
            ),
        }
    }

    /// The general path of `tools/call`: waits for an upstream still
    /// starting, and words every refusal.
    async fn tools_call(
        &self,
        id: &RawValue,
        params: Option<&RawValue>,
        cancelled: impl std::future::Future<Output = ()>,
    ) -> Answer {
        let started = std::time::Instant::now();
        let mut audit = CallAudit::default();
        let writer = crate::audit::writer::current();
        let answer = match writer.and_then(|w| w.failing()) {
            // The org says: no calls while the collector is not taking
            // records and the spool is at its bounds.
            None if let Some(why) = writer.and_then(|w| w.spool_full()) => {
                audit.reached = true;
                audit.decision = Some("blocked");
                audit.rules.push("builtin.audit-spool".into());
                tool_error(
                    "",
                    "audit_spool_full",
                    &format!("calls are denied: {why}"),
                    "run `toolgate audit status` to see why the collector is not taking records; calls resume once it does",
                )
            }
            // Fail closed: no call runs while its record cannot be kept
            // (the refusal's own record is the retry that clears this).
            Some(why) => {
                audit.reached = true;
                audit.decision = Some("blocked");
                audit.rules.push("builtin.audit".into());
                tool_error(
                    "",
                    "audit_unavailable",
                    &format!(
                        "the audit trail cannot be written ({why}), so calls are denied until it can"
                    ),
                    "free disk space or repair toolgate's state folder; the next call tries again",
                )
            }
            None => {
                self.tools_call_inner(id, params, cancelled, &mut audit)
                    .await
            }
        };
        self.audited(id, audit, answer, started).await
    }

    /// Commits the record of a call before its answer goes out; a record
    /// that cannot be written withholds the answer (fail closed).
    async fn audited(
        &self,
        id: &RawValue,
        audit: CallAudit,
        answer: Answer,
        started: std::time::Instant,
    ) -> Answer {
        let Some(writer) = crate::audit::writer::current() else {
            return answer;
        };
        if !audit.reached {
            return answer;
        }
        let record = audit.into_record(id, &answer, started);
        let others = self.inflight.lock().expect("inflight lock").len() > 1;
        match writer.commit(record, others).await {
            Ok(_) => answer,
            Err(e) => audit_withheld(&e),
        }
    }

    async fn tools_call_inner(
        &self,
        id: &RawValue,
        params: Option<&RawValue>,
        cancelled: impl std::future::Future<Output = ()>,
        audit: &mut CallAudit,
    ) -> Answer {
        tokio::pin!(cancelled);
        let Some(params) = params else {
            return Answer::Error(RpcError::new(
                code::INVALID_PARAMS,
                "tools/call needs params with a name",
            ));
        };
        let Ok(mut members) = jsonrpc::shallow(params) else {
            return Answer::Error(RpcError::new(
                code::INVALID_PARAMS,
                "tools/call params must be a JSON object",
            ));
        };
        let Some(name) = jsonrpc::member(&members, "name")
            .and_then(|n| serde_json::from_str::<String>(n.get()).ok())
        else {
            return Answer::Error(RpcError::new(
                code::INVALID_PARAMS,
                "tools/call params need a string \"name\"",
            ));
        };
        let mut target = self.manager.catalog().names.resolve(&name).cloned();
        if target.is_none() && self.manager.any_starting() {
            // The IDE may call a tool it remembers before its server is up.
            self.manager.settle(Duration::from_secs(600)).await;
            target = self.manager.catalog().names.resolve(&name).cloned();
        }
        if let Some(why) = crate::profile::govern::current().refuse_all.clone() {
            events::emit(Event::CallRefused {
                method: "tools/call",
                name: &name,
                reason: &why,
            });
            return tool_error(
                "",
                "blocked",
                &why,
                "run `toolgate profile pull` (toolgate profile status says what is wrong)",
            );
        }
        if target.is_none() {
            let catalog = self.manager.catalog();
            if let Some(w) = catalog.withheld.iter().find(|w| w.exposed == name) {
                let server = &self.manager.upstreams()[w.upstream].name;
                if let Some((why, what)) = w.state.refusal(server, &w.original) {
                    events::emit(Event::CallRefused {
                        method: "tools/call",
                        name: &name,
                        reason: &why,
                    });
                    return tool_error(server, w.state.label(), &why, &what);
                }
            }
        }
        let Some(target) = target else {
            // Like the TypeScript SDK, an unknown tool is a tool error the
            // agent can read and correct, not a protocol error.
            let reason = format!("Unknown tool: {name}");
            events::emit(Event::CallRefused {
                method: "tools/call",
                name: &name,
                reason: &reason,
            });
            return tool_error(
                "",
                "unknown_tool",
                &reason,
                "list the tools again (tools/list); toolgate exposes tools as SERVER__tool",
            );
        };
        let up = &self.manager.upstreams()[target.upstream];
        let mut target = target;
        if up.live().is_none() && up.state() == State::Idle && up.config.enabled() {
            // Lazy start: the first call starts the server; its tools are
            // then checked against their pins before the call goes through.
            self.manager.ensure_started(target.upstream).await;
            let catalog = self.manager.catalog();
            match catalog.names.resolve(&name) {
                Some(t) => target = t.clone(),
                None => {
                    if let Some(w) = catalog.withheld.iter().find(|w| w.exposed == name)
                        && let Some((why, what)) = w.state.refusal(&up.name, &w.original)
                    {
                        events::emit(Event::CallRefused {
                            method: "tools/call",
                            name: &name,
                            reason: &why,
                        });
                        return tool_error(&up.name, w.state.label(), &why, &what);
                    }
                }
            }
        }
        audit.reached = true;
        audit.server = Some(up.name.to_string());
        audit.tool = Some(target.original.to_string());
        audit.exposed = Some(name.clone());
        if crate::audit::writer::current().is_some() {
            audit.args = jsonrpc::member(&members, "arguments").map(|a| a.get().to_owned());
        }
        audit.decision = Some("allow");
        if let Some(policy) = crate::policy::current() {
            match self.police(&policy, &up.name, &target, &members) {
                crate::policy::Outcome::Refuse {
                    kind,
                    message,
                    hint,
                    detail,
                } => {
                    audit.refused(kind, &detail);
                    events::emit(Event::CallRefused {
                        method: "tools/call",
                        name: &name,
                        reason: &message,
                    });
                    if let Some(b) = crate::approve::broker::current() {
                        let outcome = match audit.decision {
                            Some("limited") => "limited",
                            _ => "denied",
                        };
                        let rule = audit.rules.last().map_or(kind, String::as_str);
                        b.record(
                            &up.name,
                            &target.original,
                            outcome,
                            rule,
                            crate::policy::limits::now_ms(),
                        );
                    }
                    return policy_refusal(&up.name, kind, &message, &hint, detail);
                }
                crate::policy::Outcome::Pass {
                    observe: true,
                    verdict,
                } => {
                    audit.decision = Some("observe");
                    if let Some(v) = &verdict {
                        audit.rules.push(v.by.clone());
                    }
                    events::emit(Event::CallObserved {
                        server: &up.name,
                        tool: &target.original,
                        rule: verdict.as_ref().map_or("", |v| v.by.as_str()),
                    });
                }
                crate::policy::Outcome::Pass { .. } => {}
                crate::policy::Outcome::Hold { verdict } => {
                    audit.decision = Some("step-up");
                    audit.rules.push(verdict.by.clone());
                    if let Err(answer) = self
                        .hold(
                            &target,
                            &name,
                            &members,
                            &verdict,
                            cancelled.as_mut(),
                            &mut audit.approval,
                        )
                        .await
                    {
                        return answer;
                    }
                }
            }
        } else if let Some(refused) = self.self_protection(&up.name, &target, &members) {
            audit.decision = Some("deny");
            audit.rules.push("builtin.self-protection".into());
            return refused;
        }
        let live = match up.live() {
            Some(live) => live,
            None if matches!(up.state(), State::Starting) => {
                match up.wait_ready(up.config.startup_timeout()).await {
                    Some(live) => live,
                    None => {
                        return tool_error(
                            &up.name,
                            "unavailable",
                            &up.unavailable_reason(),
                            "retry in a few seconds",
                        );
                    }
                }
            }
            None => {
                let hint = if matches!(up.state(), State::Failed(_)) {
                    "check the server's command in config.toml (toolgate servers shows the error), then restart toolgate"
                } else {
                    "retry in a few seconds"
                };
                return tool_error(&up.name, "unavailable", &up.unavailable_reason(), hint);
            }
        };
        jsonrpc::set_member(&mut members, "name", jsonrpc::raw(&*target.original));
        let policy = crate::policy::current();
        // Guardrails on the arguments, before the upstream sees them.
        if let Some(guard) = policy
            .as_ref()
            .and_then(|p| p.guard(crate::policy::guard::Direction::Arguments))
        {
            let mut args: Value = jsonrpc::member(&members, "arguments")
                .and_then(|a| serde_json::from_str(a.get()).ok())
                .unwrap_or(Value::Null);
            match self.guard_value(
                guard,
                &mut args,
                crate::policy::guard::Direction::Arguments,
                &up.name,
                &target.original,
            ) {
                Err(refusal) => {
                    audit.decision = Some("blocked");
                    audit.rules.push("guardrail".into());
                    return refusal;
                }
                Ok(true) => {
                    jsonrpc::set_member(&mut members, "arguments", jsonrpc::raw(&args.to_string()))
                }
                Ok(false) => {}
            }
        }
        let guard_results = policy
            .as_ref()
            .and_then(|p| p.guard(crate::policy::guard::Direction::Results))
            .is_some();
        let timeout = self.manager.upstreams()[target.upstream].config.timeout();
        let upstream_started = std::time::Instant::now();
        // With an audit trail, the answer comes back here to be recorded
        // before it goes out.
        let direct = !guard_results && crate::audit::writer::current().is_none();
        let started = self
            .start_call(id, &live.conn, members, timeout, direct)
            .await;
        let answer = self
            .finish_call(&target, started, live.conn.clone(), cancelled)
            .await;
        audit.upstream_latency = Some(upstream_started.elapsed());
        self.record_activity(&target, &answer);
        // Guardrails on the result, before the IDE sees it.
        match (
            answer,
            policy
                .as_ref()
                .and_then(|p| p.guard(crate::policy::guard::Direction::Results)),
        ) {
            (Answer::Result(raw), Some(guard)) => {
                let Ok(mut result) = serde_json::from_str::<Value>(&raw) else {
                    return Answer::Result(raw);
                };
                match self.guard_value(
                    guard,
                    &mut result,
                    crate::policy::guard::Direction::Results,
                    &up.name,
                    &target.original,
                ) {
                    Err(refusal) => {
                        audit.decision = Some("blocked");
                        audit.rules.push("guardrail".into());
                        refusal
                    }
                    Ok(true) => Answer::Result(result.to_string()),
                    Ok(false) => Answer::Result(raw),
                }
            }
            (answer, _) => answer,
        }
    }

    /// Scans arguments or a result with the guardrails, in place. `Err`:
    /// the refusal to answer with (a `block` finding); `Ok(true)`: something
    /// was redacted.
    fn guard_value(
        &self,
        guard: &crate::policy::guard::Guard,
        value: &mut Value,
        dir: crate::policy::guard::Direction,
        server: &str,
        tool: &str,
    ) -> Result<bool, Answer> {
        use crate::policy::guard::{Action, Direction};
        let findings = guard.scan(value, dir, server, tool);
        let label = match dir {
            Direction::Arguments => "arguments",
            Direction::Results => "result",
        };
        if let Some(refusal) = self.guard_findings(server, tool, label, &findings) {
            return Err(refusal);
        }
        Ok(findings.iter().any(|f| f.action == Action::Redact))
    }

    /// Reports guardrail findings; a `block` one becomes the answer.
    fn guard_findings(
        &self,
        server: &str,
        tool: &str,
        direction: &str,
        findings: &[crate::policy::guard::Finding],
    ) -> Option<Answer> {
        use crate::policy::guard::Action;
        for f in findings {
            events::emit(Event::Guardrail {
                server,
                tool,
                rule: &f.rule,
                direction,
                action: match f.action {
                    Action::Off => "off",
                    Action::Warn => "warn",
                    Action::Redact => "redact",
                    Action::Block => "block",
                },
            });
        }
        let blocking = findings.iter().find(|f| f.action == Action::Block)?;
        let (message, hint) = if direction == "arguments" {
            (
                format!(
                    "the arguments of \"{tool}\" of \"{server}\" contain what guardrail {} forbids (at {}), so the call was not made",
                    blocking.rule,
                    if blocking.path.is_empty() {
                        "/"
                    } else {
                        &blocking.path
                    }
                ),
                "remove it from the arguments; never pass secrets to tools".to_string(),
            )
        } else {
            (
                format!(
                    "the result of \"{tool}\" of \"{server}\" contains what guardrail {} forbids (at {}), so toolgate withheld it",
                    blocking.rule,
                    if blocking.path.is_empty() {
                        "/"
                    } else {
                        &blocking.path
                    }
                ),
                "ask for less, or ask your org's toolgate admins about the rule".to_string(),
            )
        };
        Some(policy_refusal(
            server,
            "guardrail",
            &message,
            &hint,
            json!({
                "rule": blocking.rule,
                "direction": direction,
                "path": blocking.path,
                "ruleset": crate::policy::guard::BUILTIN_VERSION,
            }),
        ))
    }

    /// Lists that every upstream contributes to, with a composite cursor.
    async fn fan_out(
        &self,
        method: &str,
        params: Option<&RawValue>,
        capability: &str,
        field: &str,
    ) -> Result<Answer, RpcError> {
        let cursor = match cursor_param(params)? {
            Some(text) => Some(Cursor::decode(&text, method).ok_or_else(|| {
                RpcError::new(code::INVALID_PARAMS, format!("invalid cursor for {method}"))
            })?),
            None => None,
        };
        if cursor.is_none() && self.manager.any_starting() {
            self.manager.settle(self.manager.settings.list_wait.0).await;
        }
        // (upstream index, its cursor) to read.
        let targets: Vec<(usize, Option<String>)> = match &cursor {
            Some(c) => c
                .upstreams
                .iter()
                .filter_map(|(name, cur)| {
                    Some((self.manager.by_name(name)?.index, Some(cur.clone())))
                })
                .collect(),
            None => self
                .manager
                .upstreams()
                .iter()
                .filter(|u| u.live().is_some_and(|l| l.init.has(capability)))
                .map(|u| (u.index, None))
                .collect(),
        };
        let mut handles = Vec::with_capacity(targets.len());
        for (index, cur) in targets {
            let up = self.manager.upstreams()[index].clone();
            let method = method.to_owned();
            handles.push(tokio::spawn(async move {
                let live = up.live()?;
                let params = cur.map(|c| json!({ "cursor": c }).to_string());
                let reply = live
                    .conn
                    .call(&method, |_| params, None, up.config.timeout(), std::future::pending())
                    .await;
                match reply {
                    Ok(raw) => Some((index, raw)),
                    Err(e) => {
                        tracing::warn!(server = %up.name, "{}", describe_call_error(&up.name, &method, &e));
                        None
                    }
                }
            }));
        }
        let mut items: Vec<String> = Vec::new();
        let mut next = std::collections::BTreeMap::new();
        for handle in handles {
            let Ok(Some((index, raw))) = handle.await else {
                continue;
            };
            let page: crate::upstream::Page = match serde_json::from_str(raw.get()) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(server = %self.manager.upstreams()[index].name, "malformed {method} result: {e}");
                    continue;
                }
            };
            let list = match field {
                "prompts" => page.prompts,
                "resources" => page.resources,
                _ => page.resource_templates,
            };
            for item in list.unwrap_or_default() {
                items.push(self.adopt_item(field, index, &item));
            }
            if let Some(c) = page.next_cursor.filter(|c| !c.is_empty()) {
                next.insert(self.manager.upstreams()[index].name.to_string(), c);
            }
        }
        let mut out = format!("{{\"{field}\":[{}]", items.join(","));
        if !next.is_empty() {
            let c = Cursor {
                method: method.to_owned(),
                offset: None,
                upstreams: next,
            };
            out.push_str(",\"nextCursor\":");
            out.push_str(&serde_json::to_string(&c.encode()).unwrap_or_default());
        }
        out.push('}');
        Ok(Answer::Result(out))
    }

    /// Takes one listed item into toolgate's view: prompts are renamed,
    /// resources and templates remembered for routing.
    fn adopt_item(&self, field: &str, upstream: usize, item: &RawValue) -> String {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Keys {
            name: Option<String>,
            uri: Option<String>,
            uri_template: Option<String>,
        }
        let Ok(keys) = serde_json::from_str::<Keys>(item.get()) else {
            return item.get().to_owned();
        };
        match field {
            "prompts" => {
                let Some(name) = keys.name else {
                    return item.get().to_owned();
                };
                let exposed = self.manager.expose_prompt(upstream, &name);
                match jsonrpc::shallow(item) {
                    Ok(mut m) => {
                        jsonrpc::set_member(&mut m, "name", jsonrpc::raw(&exposed));
                        jsonrpc::unshallow(&m)
                    }
                    Err(_) => item.get().to_owned(),
                }
            }
            "resources" => {
                if let Some(uri) = keys.uri {
                    self.manager.note_resource(&uri, upstream);
                }
                item.get().to_owned()
            }
            _ => {
                if let Some(t) = keys.uri_template {
                    self.manager.note_template(&t, upstream);
                }
                item.get().to_owned()
            }
        }
    }

    /// `prompts/get`: routed by the exposed prompt name.
    async fn by_prompt(
        &self,
        method: &str,
        params: Option<&RawValue>,
        key: &str,
        cancelled: impl std::future::Future<Output = ()>,
    ) -> Result<Answer, RpcError> {
        let mut members = object_params(method, params)?;
        let name: String = jsonrpc::member(&members, key)
            .and_then(|n| serde_json::from_str(n.get()).ok())
            .ok_or_else(|| {
                RpcError::new(
                    code::INVALID_PARAMS,
                    format!("{method} params need a string \"{key}\""),
                )
            })?;
        let target = self.find_prompt(&name).await.ok_or_else(|| {
            RpcError::new(code::INVALID_PARAMS, format!("Unknown prompt: {name}"))
        })?;
        jsonrpc::set_member(&mut members, key, jsonrpc::raw(&*target.original));
        let server = self.manager.upstreams()[target.upstream].name.clone();
        let arguments: Value = jsonrpc::member(&members, "arguments")
            .and_then(|a| serde_json::from_str(a.get()).ok())
            .unwrap_or(Value::Null);
        self.police_request(
            &server,
            method,
            &json!({ "name": &*target.original, "arguments": arguments }),
        )?;
        self.forward(target.upstream, method, members, cancelled)
            .await
    }

    /// Where an exposed prompt name leads. A name not seen in a listing yet
    /// (the IDE remembered it, or skipped the list) is looked up by listing
    /// the prompts of every upstream once.
    async fn find_prompt(&self, name: &str) -> Option<names::Target> {
        if let Some(t) = self.manager.resolve_prompt(name) {
            return Some(t);
        }
        if self.manager.any_starting() {
            self.manager.settle(self.manager.settings.list_wait.0).await;
        }
        let mut cursor: Option<String> = None;
        for _ in 0..crate::upstream::MAX_PAGES {
            let params = cursor
                .as_ref()
                .map(|c| jsonrpc::raw(&json!({ "cursor": c })));
            let Ok(Answer::Result(page)) = self
                .fan_out("prompts/list", params.as_deref(), "prompts", "prompts")
                .await
            else {
                break;
            };
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Next {
                next_cursor: Option<String>,
            }
            match serde_json::from_str::<Next>(&page)
                .ok()
                .and_then(|n| n.next_cursor)
            {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        self.manager.resolve_prompt(name)
    }

    /// Resource requests: routed by URI.
    async fn by_uri(
        &self,
        method: &str,
        params: Option<&RawValue>,
        cancelled: impl std::future::Future<Output = ()>,
    ) -> Result<Answer, RpcError> {
        let members = object_params(method, params)?;
        let uri: String = jsonrpc::member(&members, "uri")
            .and_then(|n| serde_json::from_str(n.get()).ok())
            .ok_or_else(|| {
                RpcError::new(
                    code::INVALID_PARAMS,
                    format!("{method} params need a string \"uri\""),
                )
            })?;
        if self.manager.any_starting() {
            self.manager.settle(self.manager.settings.list_wait.0).await;
        }
        let candidates = self.manager.resource_candidates(&uri);
        if candidates.is_empty() {
            return Err(RpcError::new(
                code::INVALID_PARAMS,
                format!("Resource not found: no server offers {uri}"),
            ));
        }
        tokio::pin!(cancelled);
        let mut last = None;
        for index in candidates {
            if method == "resources/read" {
                let server = self.manager.upstreams()[index].name.clone();
                self.police_request(&server, method, &json!({ "uri": uri }))?;
            }
            match self
                .forward(index, method, members.clone(), &mut cancelled)
                .await?
            {
                Answer::UpstreamError(e) => last = Some(e),
                other => {
                    if matches!(other, Answer::Result(_)) {
                        match method {
                            "resources/subscribe" => {
                                self.manager.note_subscription(index, &uri, true)
                            }
                            "resources/unsubscribe" => {
                                self.manager.note_subscription(index, &uri, false)
                            }
                            _ => {}
                        }
                    }
                    return Ok(other);
                }
            }
        }
        Ok(last.map_or_else(
            || {
                Answer::Error(RpcError::new(
                    code::INVALID_PARAMS,
                    format!("Resource not found: {uri}"),
                ))
            },
            Answer::UpstreamError,
        ))
    }

    /// `completion/complete`: routed by its reference (a prompt or a resource).
    async fn complete(
        &self,
        params: Option<&RawValue>,
        cancelled: impl std::future::Future<Output = ()>,
    ) -> Result<Answer, RpcError> {
        let method = "completion/complete";
        let mut members = object_params(method, params)?;
        let reference = jsonrpc::member(&members, "ref").ok_or_else(|| {
            RpcError::new(
                code::INVALID_PARAMS,
                "completion/complete params need a \"ref\"",
            )
        })?;
        let mut r = jsonrpc::shallow(reference)
            .map_err(|_| RpcError::new(code::INVALID_PARAMS, "\"ref\" must be an object"))?;
        let get = |m: &[(String, Box<RawValue>)], k: &str| -> Option<String> {
            jsonrpc::member(m, k).and_then(|v| serde_json::from_str(v.get()).ok())
        };
        match get(&r, "type").as_deref() {
            Some("ref/prompt") => {
                let name = get(&r, "name").ok_or_else(|| {
                    RpcError::new(code::INVALID_PARAMS, "a ref/prompt needs a \"name\"")
                })?;
                let target = self.find_prompt(&name).await.ok_or_else(|| {
                    RpcError::new(code::INVALID_PARAMS, format!("Unknown prompt: {name}"))
                })?;
                jsonrpc::set_member(&mut r, "name", jsonrpc::raw(&*target.original));
                jsonrpc::set_member(
                    &mut members,
                    "ref",
                    serde_json::from_str(&jsonrpc::unshallow(&r)).expect("valid JSON"),
                );
                self.forward(target.upstream, method, members, cancelled)
                    .await
            }
            Some("ref/resource") => {
                let uri = get(&r, "uri").ok_or_else(|| {
                    RpcError::new(code::INVALID_PARAMS, "a ref/resource needs a \"uri\"")
                })?;
                let index = *self
                    .manager
                    .resource_candidates(&uri)
                    .first()
                    .ok_or_else(|| {
                        RpcError::new(code::INVALID_PARAMS, format!("no server offers {uri}"))
                    })?;
                self.forward(index, method, members, cancelled).await
            }
            _ => Err(RpcError::new(
                code::INVALID_PARAMS,
                "unknown completion reference type",
            )),
        }
    }

    /// `logging/setLevel`: applied to every upstream that logs.
    async fn set_level(&self, params: Option<&RawValue>) -> Result<Answer, RpcError> {
        let params = params
            .ok_or_else(|| RpcError::new(code::INVALID_PARAMS, "logging/setLevel needs a level"))?;
        self.manager.set_log_level(params.get());
        for up in self.manager.upstreams().iter() {
            let Some(live) = up.live() else { continue };
            if !live.init.has("logging") {
                continue;
            }
            let p = params.get().to_owned();
            let reply = live
                .conn
                .call(
                    "logging/setLevel",
                    |_| Some(p),
                    None,
                    up.config.timeout(),
                    std::future::pending(),
                )
                .await;
            if let Err(e) = reply {
                tracing::debug!(server = %up.name, "{}", describe_call_error(&up.name, "logging/setLevel", &e));
            }
        }
        Ok(Answer::Result("{}".into()))
    }

    /// Sends a request to one upstream and hands its answer back unchanged.
    async fn forward(
        &self,
        index: usize,
        method: &str,
        members: Vec<(String, Box<RawValue>)>,
        cancelled: impl std::future::Future<Output = ()>,
    ) -> Result<Answer, RpcError> {
        let up = &self.manager.upstreams()[index];
        let live = match up.live() {
            Some(l) => l,
            None => up
                .wait_ready(self.manager.settings.list_wait.0)
                .await
                .ok_or_else(|| {
                    RpcError::new(code::UPSTREAM_UNAVAILABLE, up.unavailable_reason())
                })?,
        };
        let progress = progress_route(&members, &self.out);
        let has_progress = progress.is_some();
        let reply = live
            .conn
            .call(
                method,
                |uid| Some(upstream_params(&members, has_progress, uid)),
                progress,
                up.config.timeout(),
                cancelled,
            )
            .await;
        match reply {
            Ok(r) => Ok(Answer::Result(r.get().to_owned())),
            Err(CallError::Rpc(e)) => Ok(Answer::UpstreamError(e)),
            Err(CallError::Cancelled) => Ok(Answer::Nothing),
            Err(e @ CallError::Timeout(_)) => Err(RpcError::new(
                code::REQUEST_TIMEOUT,
                describe_call_error(&up.name, method, &e),
            )),
            Err(e) => Err(RpcError::new(
                code::UPSTREAM_UNAVAILABLE,
                describe_call_error(&up.name, method, &e),
            )),
        }
    }
}

/// Resolves when the IDE cancels the request (or never).
struct Cancelled(oneshot::Receiver<()>);

impl std::future::Future for Cancelled {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        match std::pin::Pin::new(&mut self.0).poll(cx) {
            std::task::Poll::Ready(Ok(())) => std::task::Poll::Ready(()),
            // The sender is gone: the request finished, no cancel will come.
            std::task::Poll::Ready(Err(_)) => std::task::Poll::Pending,
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

/// The text of `requestId` in cancellation params.
fn request_id_text(params: &RawValue) -> Option<String> {
    let members = jsonrpc::shallow(params).ok()?;
    jsonrpc::member(&members, "requestId").map(|id| id.get().to_owned())
}

fn object_params(
    method: &str,
    params: Option<&RawValue>,
) -> Result<Vec<(String, Box<RawValue>)>, RpcError> {
    params
        .and_then(|p| jsonrpc::shallow(p).ok())
        .ok_or_else(|| {
            RpcError::new(
                code::INVALID_PARAMS,
                format!("{method} params must be a JSON object"),
            )
        })
}

fn cursor_param(params: Option<&RawValue>) -> Result<Option<String>, RpcError> {
    let Some(params) = params else {
        return Ok(None);
    };
    let members = jsonrpc::shallow(params)
        .map_err(|_| RpcError::new(code::INVALID_PARAMS, "params must be a JSON object"))?;
    match jsonrpc::member(&members, "cursor") {
        None => Ok(None),
        Some(c) if c.get() == "null" => Ok(None),
        Some(c) => serde_json::from_str(c.get())
            .map(Some)
            .map_err(|_| RpcError::new(code::INVALID_PARAMS, "cursor must be a string")),
    }
}

/// The IDE's progress token of a request, if it gave one.
fn progress_route(members: &[impl jsonrpc::Member], sink: &Arc<Outbound>) -> Option<ProgressRoute> {
    let meta = jsonrpc::shallow_borrowed(jsonrpc::member(members, "_meta")?).ok()?;
    progress_route_in(&meta, sink)
}

/// [`progress_route`] from the members of `_meta`.
fn progress_route_in(meta: &[impl jsonrpc::Member], sink: &Arc<Outbound>) -> Option<ProgressRoute> {
    let token = jsonrpc::member(meta, "progressToken")?;
    Some(ProgressRoute {
        token: token.to_owned(),
        sink: sink.clone(),
    })
}

/// The params as sent upstream. `progress`: the client's `_meta` has a
/// progress token, which becomes toolgate's own (the upstream request id).
fn upstream_params(members: &[impl jsonrpc::Member], progress: bool, id: u64) -> String {
    let meta = progress
        .then(|| jsonrpc::member(members, "_meta").and_then(|m| jsonrpc::shallow_borrowed(m).ok()))
        .flatten();
    let Some(meta) = meta else {
        return jsonrpc::unshallow(members);
    };
    let token = id.to_string();
    let meta = jsonrpc::unshallow_with(&meta, &[("progressToken", &token)]);
    jsonrpc::unshallow_with(members, &[("_meta", &meta)])
}

/// A `tools/call` made outside `serve` (`toolgate call`), recorded in the
/// same shape as `serve` records its calls: the agent is `toolgate call`,
/// and there is no session or JSON-RPC id.
pub(crate) struct CliCall(CallAudit);

impl CliCall {
    pub(crate) fn new(server: &str, tool: &str, exposed: &str, args: &Value) -> Self {
        Self(CallAudit {
            reached: true,
            server: Some(server.to_owned()),
            tool: Some(tool.to_owned()),
            exposed: Some(exposed.to_owned()),
            args: Some(args.to_string()),
            decision: Some("allow"),
            ..CallAudit::default()
        })
    }

    /// The policy's decision (`observe`, `step-up`, `deny`) and its rule.
    pub(crate) fn decided(&mut self, decision: &'static str, rule: Option<&str>) {
        self.0.decision = Some(decision);
        self.0.rules.extend(rule.map(str::to_owned));
    }

    /// A refusal by the policy pipeline (its kind and detail).
    pub(crate) fn refused(&mut self, kind: &str, detail: &Value) {
        self.0.refused(kind, detail);
    }

    pub(crate) fn upstream_latency(&mut self, took: Duration) {
        self.0.upstream_latency = Some(took);
    }

    /// The record, from the raw result or the sentence of the error.
    pub(crate) fn record(
        self,
        outcome: std::result::Result<&str, &str>,
        started: std::time::Instant,
    ) -> crate::audit::Record {
        let answer = match outcome {
            Ok(raw) => Answer::Result(raw.to_owned()),
            Err(why) => Answer::Error(RpcError::new(code::INTERNAL_ERROR, why)),
        };
        let id = RawValue::NULL.to_owned();
        let mut r = self.0.into_record(&id, &answer, started);
        r.correlation = None;
        r.session = None;
        r.agent = Some(crate::approve::Agent {
            name: "toolgate call".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        });
        r
    }
}

/// What the audit record of one call needs, gathered as it runs.
#[derive(Default)]
struct CallAudit {
    /// The call reached policy (an unknown tool, say, is not recorded).
    reached: bool,
    server: Option<String>,
    tool: Option<String>,
    exposed: Option<String>,
    /// The arguments as received (redacted when the record is made).
    args: Option<String>,
    decision: Option<&'static str>,
    rules: Vec<String>,
    approval: Option<crate::audit::Approval>,
    upstream_latency: Option<Duration>,
}

impl CallAudit {
    /// A refusal by the policy pipeline.
    fn refused(&mut self, kind: &str, detail: &Value) {
        self.decision = Some(match kind {
            "rate_limited" => "limited",
            "invalid_arguments" => "invalid",
            _ => "deny",
        });
        if let Some(rule) = detail
            .get("rule")
            .or_else(|| detail.get("limit"))
            .and_then(Value::as_str)
        {
            self.rules.push(rule.to_owned());
        }
    }

    /// The record: arguments redacted (built-in secret and PII rules), the
    /// outcome read from the answer (its size; for an error, toolgate's own
    /// sentence or the upstream's JSON-RPC error message, never a tool's
    /// result text).
    fn into_record(
        self,
        id: &RawValue,
        answer: &Answer,
        started: std::time::Instant,
    ) -> crate::audit::Record {
        let mut r = crate::audit::Record::new("call");
        if let Some(b) = crate::approve::broker::current() {
            r.session = Some(b.session().to_owned());
            r.agent = Some(b.agent());
        }
        r.correlation = Some(id.get().to_owned());
        r.profile_serial = crate::profile::govern::current().serial;
        if let Some(raw) = &self.args {
            let mut args: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
            crate::approve::redact_for_display(
                &mut args,
                self.server.as_deref().unwrap_or(""),
                self.tool.as_deref().unwrap_or(""),
            );
            r.arguments = Some(args);
        }
        r.server = self.server;
        r.tool = self.tool;
        r.exposed = self.exposed;
        if let (Some(server), Some(tool)) = (&r.server, &r.tool) {
            r.pin = crate::profile::govern::current().pin_of(server, tool);
        }
        r.subject = r.server.as_deref().and_then(crate::auth::subject);
        r.decision = self.decision.map(str::to_owned);
        r.rules = self.rules;
        r.approval = self.approval;
        r.outcome = Some(match answer {
            Answer::Result(raw) => {
                let error = raw.contains("\"isError\":true");
                let own = raw.contains(META_KEY);
                crate::audit::CallOutcome {
                    error,
                    error_text: (error && own)
                        .then(|| {
                            serde_json::from_str::<Value>(raw).ok().and_then(|v| {
                                v.pointer("/content/0/text")
                                    .and_then(Value::as_str)
                                    .map(str::to_owned)
                            })
                        })
                        .flatten(),
                    result_bytes: raw.len() as u64,
                    result: crate::audit::keep_results().then(|| {
                        let mut v: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
                        crate::approve::redact_for_display(
                            &mut v,
                            r.server.as_deref().unwrap_or(""),
                            r.tool.as_deref().unwrap_or(""),
                        );
                        v
                    }),
                }
            }
            Answer::UpstreamError(e) => crate::audit::CallOutcome {
                error: true,
                error_text: serde_json::from_str::<Value>(e.get())
                    .ok()
                    .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned)),
                result_bytes: e.get().len() as u64,
                result: None,
            },
            Answer::Error(e) => crate::audit::CallOutcome {
                error: true,
                error_text: Some(e.message.clone()),
                result_bytes: 0,
                result: None,
            },
            // Recorded by the upstream's reader; not reached.
            Answer::Delivered => crate::audit::CallOutcome::default(),
            Answer::Nothing => crate::audit::CallOutcome {
                error: true,
                error_text: Some("cancelled by the IDE".into()),
                result_bytes: 0,
                result: None,
            },
        });
        r.latency_us = Some(started.elapsed().as_micros() as u64);
        r.upstream_latency_us = self.upstream_latency.map(|d| d.as_micros() as u64);
        r
    }
}

/// How long the IDE must be quiet before `serve` gives memory back.
const IDLE_TRIM: Duration = Duration::from_secs(2);

/// How often a held call tells the IDE it is still waiting (where the IDE
/// gave a progress token).
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// A `tools/call` answered by toolgate itself with `isError: true`: the agent
/// sees the sentence, scripts the detail under `_meta`.
/// A refusal by the policy: an `isError` result with one sentence, what to
/// do, and the machine-readable detail under `_meta`.
fn policy_refusal(server: &str, kind: &str, message: &str, hint: &str, detail: Value) -> Answer {
    let text = format!("toolgate: {message}. What to do: {hint}.");
    Answer::Result(
        json!({
            "content": [{ "type": "text", "text": text }],
            "isError": true,
            "_meta": { META_KEY: {
                "kind": kind,
                "server": server,
                "hint": hint,
                "policy": detail,
            } },
        })
        .to_string(),
    )
}

/// The answer of a call whose audit record could not be written.
fn audit_withheld(why: &str) -> Answer {
    tool_error(
        "",
        "audit_unavailable",
        &format!(
            "could not write the audit record of this call ({why}), so its result is withheld"
        ),
        "free disk space or repair toolgate's state folder, then retry",
    )
}

fn tool_error(server: &str, kind: &str, message: &str, hint: &str) -> Answer {
    let text = format!("toolgate: {message}. What to do: {hint}.");
    Answer::Result(
        json!({
            "content": [{ "type": "text", "text": text }],
            "isError": true,
            "_meta": { META_KEY: {
                "kind": kind,
                "server": (!server.is_empty()).then_some(server),
                "hint": hint,
            } },
        })
        .to_string(),
    )
}
