//! Remote upstreams over HTTP: streamable HTTP (MCP 2025-03-26 and later)
//! and, where a server only speaks that, the legacy HTTP+SSE transport of
//! 2024-11-05.
//!
//! A remote upstream is bridged onto the same line-oriented [`Connection`] as a
//! stdio one: the bridge reads the lines the connection writes, POSTs each,
//! and writes every message the server sends back (in a JSON body or in an
//! SSE stream) as a line. Ids, timeouts, progress and cancellation are thus
//! handled once, in `conn`, for every transport.
//!
//! Streamable HTTP, as the bridge speaks it:
//! - every message is a POST with `Accept: application/json, text/event-stream`;
//!   after `initialize`, `Mcp-Session-Id` (when the server gave one) and
//!   `MCP-Protocol-Version` go with every request;
//! - a request's answer is a JSON body or an SSE stream carrying related
//!   messages and then the answer; a stream that ends early is resumed with
//!   `GET` and `Last-Event-ID` after the server's `retry` delay;
//! - after `notifications/initialized`, a `GET` stream carries messages the
//!   server starts (list changes, sampling...), reopened when it ends; a 405
//!   means the server has none;
//! - a 404 on a session means the session expired: the connection closes and
//!   the supervisor starts a new one (a fresh `initialize`);
//! - at shutdown the session is ended with `DELETE`.
//!
//! With `transport = "auto"` (the default), an `initialize` POST answered with
//! 400, 404 or 405 makes the bridge try the legacy transport instead: `GET`
//! the URL for an SSE stream whose first `endpoint` event names where to POST.
//!
//! Outgoing HTTP honours `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`, and
//! verifies certificates against the operating system's trust store (so
//! corporate CAs installed there are trusted), with rustls.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};
use tokio::io::{AsyncBufReadExt, BufReader, DuplexStream};

use super::{Connection, Upstream};
use crate::config::RemoteTransport;
use crate::jsonrpc::{self, Kind, code};
use crate::secrets::Secret;
use crate::wire::Outbound;

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";
/// Default delay before reopening an SSE stream when the server gave none.
const DEFAULT_RETRY: Duration = Duration::from_secs(1);
/// Reconnections of one stream in a row before giving up on it.
const MAX_RECONNECTS: u32 = 5;

/// The HTTP client shared by every remote upstream (one connection pool).
pub fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .user_agent(concat!("toolgate/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("the HTTP client builds with a crypto provider installed")
    })
}

/// Starts the bridge of a remote upstream; returns its connection.
pub(crate) fn connect(
    up: &Arc<Upstream>,
    max_message: usize,
    header_values: &BTreeMap<String, Secret>,
    auth: Option<Arc<crate::auth::ServerAuth>>,
) -> Result<(Arc<Connection>, DuplexStream), String> {
    let url_text = up.config.url.as_deref().unwrap_or_default();
    let url = Url::parse(url_text).map_err(|e| {
        format!(
            "the server \"{}\" has an invalid url \"{url_text}\": {e}",
            up.name
        )
    })?;
    let mut headers = HeaderMap::new();
    for (k, v) in header_values {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
            format!(
                "the server \"{}\" has an invalid header name \"{k}\"",
                up.name
            )
        })?;
        let mut value = HeaderValue::from_str(v.expose()).map_err(|_| {
            format!(
                "the server \"{}\" has an invalid value for the header \"{k}\"",
                up.name
            )
        })?;
        // Kept out of reqwest's and hyper's debug output.
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    let (conn_out, bridge_in) = tokio::io::duplex(1 << 20);
    let (bridge_out, conn_in) = tokio::io::duplex(1 << 20);
    let conn = Connection::new(up.name.clone(), Arc::new(Outbound::new(Box::pin(conn_out))));
    let bridge = Arc::new(Bridge {
        server: up.name.to_string(),
        url,
        headers,
        session: Mutex::new(None),
        protocol: Mutex::new(None),
        out: Arc::new(Outbound::new(Box::pin(bridge_out))),
        max_message,
        auth,
        login_wait: up.config.startup_timeout().min(Duration::from_secs(30)),
    });
    let mode = up.config.transport.unwrap_or(RemoteTransport::Auto);
    tokio::spawn(bridge.run(bridge_in, mode));
    Ok((conn, conn_in))
}

struct Bridge {
    server: String,
    url: Url,
    headers: HeaderMap,
    session: Mutex<Option<HeaderValue>>,
    protocol: Mutex<Option<HeaderValue>>,
    /// Lines towards the connection's reader.
    out: Arc<Outbound>,
    max_message: usize,
    /// OAuth: the token to attach, and what to do on a 401 or 403. Absent
    /// when the config sets its own `Authorization` header.
    auth: Option<Arc<crate::auth::ServerAuth>>,
    /// How long a request waits for a login the 401 started.
    login_wait: Duration,
}

/// What the bridge needs to know of a line it forwards.
struct LineInfo {
    /// The raw id of a request (its answer is awaited).
    request_id: Option<String>,
    method: Option<String>,
}

fn info(line: &[u8]) -> LineInfo {
    match jsonrpc::parse(line) {
        Ok(Kind::Request { id, method, .. }) => LineInfo {
            request_id: Some(id.get().to_owned()),
            method: Some(method.into_owned()),
        },
        Ok(Kind::Notification { method, .. }) => LineInfo {
            request_id: None,
            method: Some(method.into_owned()),
        },
        _ => LineInfo {
            request_id: None,
            method: None,
        },
    }
}

/// JSON text may span lines; a newline outside a string is whitespace and a
/// raw newline cannot occur inside one, so blanking them keeps it valid.
fn one_line(body: &[u8]) -> Vec<u8> {
    let mut line: Vec<u8> = body
        .iter()
        .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
        .collect();
    line.push(b'\n');
    line
}

enum Outcome {
    Done,
    /// The server does not speak streamable HTTP at this URL.
    NotStreamable(StatusCode),
    /// The session is gone; the connection must end.
    SessionExpired,
}

impl Bridge {
    async fn run(self: Arc<Self>, input: DuplexStream, mode: RemoteTransport) {
        let mut reader = BufReader::new(input);
        let mut first = Vec::new();
        if reader.read_until(b'\n', &mut first).await.unwrap_or(0) == 0 {
            return;
        }
        if mode == RemoteTransport::Sse {
            self.legacy(first, reader).await;
            return;
        }
        match self.post(&first, &info(&first)).await {
            Outcome::Done => {}
            Outcome::NotStreamable(status) if mode == RemoteTransport::Auto => {
                tracing::info!(server = %self.server, "streamable HTTP answered {status}; trying the legacy SSE transport");
                self.legacy(first, reader).await;
                return;
            }
            Outcome::NotStreamable(status) => {
                self.fail(
                    &info(&first),
                    &format!("answered HTTP {status} to initialize"),
                )
                .await;
                return;
            }
            Outcome::SessionExpired => return,
        }
        self.streamable(reader).await;
    }

    async fn streamable(self: &Arc<Self>, mut reader: BufReader<DuplexStream>) {
        let mut listener: Option<tokio::task::JoinHandle<()>> = None;
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let info = info(&line);
            if info.request_id.is_some() {
                let bridge = self.clone();
                let body = line.clone();
                tokio::spawn(async move {
                    if let Outcome::SessionExpired = bridge.post(&body, &info).await {
                        bridge.out.close().await;
                    }
                });
            } else {
                // Notifications and answers go in order: `initialized`
                // must reach the server before the next request.
                let initialized = info.method.as_deref() == Some("notifications/initialized");
                if let Outcome::SessionExpired = self.post(&line, &info).await {
                    break;
                }
                if initialized && listener.is_none() {
                    let bridge = self.clone();
                    listener = Some(tokio::spawn(async move { bridge.listen().await }));
                }
            }
        }
        if let Some(l) = listener {
            l.abort();
        }
        self.end_session().await;
        self.out.close().await;
    }

    fn request(&self, method: reqwest::Method, url: &Url) -> reqwest::RequestBuilder {
        let mut req = client()
            .request(method, url.clone())
            .headers(self.headers.clone());
        if let Some(s) = self.session.lock().expect("session lock").clone() {
            req = req.header(SESSION_HEADER, s);
        }
        if let Some(v) = self.protocol.lock().expect("protocol lock").clone() {
            req = req.header(VERSION_HEADER, v);
        }
        if let Some(h) = self.auth.as_ref().and_then(|a| a.header()) {
            req = req.header(reqwest::header::AUTHORIZATION, h);
        }
        req
    }

    /// The `Bearer` challenge of a 401 or 403 answer.
    fn challenge(resp: &reqwest::Response) -> crate::auth::discovery::Challenge {
        let values: Vec<&str> = resp
            .headers()
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        crate::auth::discovery::Challenge::parse(values)
    }

    /// Answers a request that authorization stopped: a `tools/call` gets a
    /// tool result with `isError` (the agent reads it), anything else a
    /// JSON-RPC error.
    async fn fail_auth(&self, info: &LineInfo, message: &str) {
        let Some(id) = &info.request_id else {
            tracing::warn!(server = %self.server, "{message}");
            return;
        };
        let Ok(id) = serde_json::from_str::<Box<serde_json::value::RawValue>>(id) else {
            return;
        };
        if info.method.as_deref() == Some("tools/call") {
            let result = serde_json::json!({
                "content": [{"type": "text", "text": message}],
                "isError": true,
                "_meta": {"dev.toolgate/error": {"kind": "auth_required", "server": self.server}},
            });
            let line = format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{},\"result\":{}}}\n",
                id.get(),
                result
            );
            let _ = self.out.send(line.as_bytes()).await;
        } else {
            let line = jsonrpc::error(Some(&id), code::UPSTREAM_UNAVAILABLE, message, None);
            let _ = self.out.send(&line).await;
        }
    }

    /// POSTs one message and relays what comes back. A 401 or 403 gets one
    /// retry after a refresh or login; never more.
    async fn post(&self, body: &[u8], info: &LineInfo) -> Outcome {
        if let Some(auth) = &self.auth {
            auth.before_request().await;
        }
        let mut retried = false;
        let sent = loop {
            let sent = self
                .request(reqwest::Method::POST, &self.url)
                .header(ACCEPT, "application/json, text/event-stream")
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_vec())
                .send()
                .await;
            let Some(auth) = &self.auth else { break sent };
            let status = match &sent {
                Ok(r) => r.status(),
                Err(_) => break sent,
            };
            if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
                break sent;
            }
            let resp = sent.expect("checked above");
            let challenge = Self::challenge(&resp);
            if status == StatusCode::FORBIDDEN && !challenge.insufficient_scope() {
                break Ok(resp);
            }
            if retried {
                let msg = format!(
                    "the server \"{}\" still refused the request after a new token (HTTP {status}); run: toolgate login {}",
                    self.server, self.server
                );
                self.fail_auth(info, &msg).await;
                return Outcome::Done;
            }
            match auth.recover(challenge, self.login_wait).await {
                crate::auth::Recovery::Retry => retried = true,
                crate::auth::Recovery::Fail(msg) => {
                    self.fail_auth(info, &msg).await;
                    return Outcome::Done;
                }
            }
        };
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                self.fail(
                    info,
                    &format!("could not be reached at {}: {}", self.url, error_chain(&e)),
                )
                .await;
                return Outcome::Done;
            }
        };
        let status = resp.status();
        let initialize = info.method.as_deref() == Some("initialize");
        if initialize && matches!(status.as_u16(), 400 | 404 | 405) {
            return Outcome::NotStreamable(status);
        }
        if status == StatusCode::NOT_FOUND && self.session.lock().expect("session lock").is_some() {
            self.fail(info, "ended the session (HTTP 404); toolgate reconnects")
                .await;
            return Outcome::SessionExpired;
        }
        if status == StatusCode::ACCEPTED || status == StatusCode::NO_CONTENT {
            return Outcome::Done;
        }
        if !status.is_success() {
            let detail = match status.as_u16() {
                // Reached only when toolgate does not run OAuth for this
                // server (its config sends its own Authorization header), or
                // for a 403 that asks for nothing toolgate can give.
                401 => format!(
                    "refused the credentials toolgate sent (HTTP 401): check the Authorization header of servers.{} in config.toml and its secret (toolgate secret list)",
                    self.server
                ),
                403 => "refused the request (HTTP 403 Forbidden): the account lacks the permission"
                    .to_owned(),
                _ => {
                    let text = resp.text().await.unwrap_or_default();
                    let text: String = text.chars().take(200).collect();
                    format!("answered HTTP {status}: {}", text.trim())
                }
            };
            self.fail(info, &detail).await;
            return Outcome::Done;
        }
        if initialize && let Some(s) = resp.headers().get(SESSION_HEADER) {
            *self.session.lock().expect("session lock") = Some(s.clone());
        }
        let is_sse = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if is_sse {
            self.consume(resp, info.request_id.as_deref(), initialize)
                .await;
        } else {
            match resp.bytes().await {
                Ok(bytes) if !bytes.is_empty() => {
                    if initialize {
                        self.note_version(&bytes);
                    }
                    let _ = self.out.send(&one_line(&bytes)).await;
                }
                Ok(_) => {}
                Err(e) => {
                    self.fail(info, &format!("broke off its answer: {}", error_chain(&e)))
                        .await
                }
            }
        }
        Outcome::Done
    }

    fn note_version(&self, body: &[u8]) {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Init {
            protocol_version: String,
        }
        #[derive(serde::Deserialize)]
        struct Resp {
            result: Init,
        }
        if let Ok(r) = serde_json::from_slice::<Resp>(body)
            && let Ok(v) = HeaderValue::from_str(&r.result.protocol_version)
        {
            *self.protocol.lock().expect("protocol lock") = Some(v);
        }
    }

    /// Relays an SSE stream until it carries the answer to `request_id`
    /// (resuming it when it ends early), or for good when `request_id` is
    /// `None` (the GET stream).
    async fn consume(&self, resp: reqwest::Response, request_id: Option<&str>, initialize: bool) {
        let mut resp = resp;
        let mut parser = SseParser::new(self.max_message);
        let mut reconnects = 0;
        loop {
            let mut answered = false;
            loop {
                let chunk = match resp.chunk().await {
                    Ok(Some(c)) => c,
                    Ok(None) | Err(_) => break,
                };
                for event in parser.feed(&chunk) {
                    if event.data.is_empty()
                        || !(event.event.is_empty() || event.event == "message")
                    {
                        continue;
                    }
                    if let Some(id) = request_id
                        && let Ok(Kind::Response { id: rid, .. }) = jsonrpc::parse(&event.data)
                        && rid.get() == id
                    {
                        answered = true;
                        if initialize {
                            self.note_version(&event.data);
                        }
                    }
                    if self.out.send(&one_line(&event.data)).await.is_err() {
                        return;
                    }
                }
                if answered {
                    return;
                }
            }
            // The stream ended without the answer: resume it where the server
            // allows, else report.
            let Some(last) = parser
                .last_id
                .clone()
                .filter(|_| reconnects < MAX_RECONNECTS)
            else {
                if let Some(id) = request_id {
                    let info = LineInfo {
                        request_id: Some(id.to_owned()),
                        method: None,
                    };
                    self.fail(&info, "closed its event stream before answering")
                        .await;
                }
                return;
            };
            reconnects += 1;
            tokio::time::sleep(parser.retry.unwrap_or(DEFAULT_RETRY)).await;
            let resumed = self
                .request(reqwest::Method::GET, &self.url)
                .header(ACCEPT, "text/event-stream")
                .header("last-event-id", last)
                .send()
                .await;
            match resumed {
                Ok(r) if r.status().is_success() => resp = r,
                other => {
                    tracing::debug!(server = %self.server, "could not resume an event stream: {:?}", other.map(|r| r.status()));
                    if let Some(id) = request_id {
                        let info = LineInfo {
                            request_id: Some(id.to_owned()),
                            method: None,
                        };
                        self.fail(
                            &info,
                            "closed its event stream before answering, and it could not be resumed",
                        )
                        .await;
                    }
                    return;
                }
            }
        }
    }

    /// The GET stream of messages the server starts; reopened when it ends.
    async fn listen(&self) {
        let mut failures = 0u32;
        loop {
            let resp = self
                .request(reqwest::Method::GET, &self.url)
                .header(ACCEPT, "text/event-stream")
                .send()
                .await;
            match resp {
                // No stream offered (405; 404 from some servers), or it
                // needs authorization the requests have not given it.
                Ok(r) if matches!(r.status().as_u16(), 401 | 403 | 404 | 405) => return,
                Ok(r) if r.status().is_success() => {
                    failures = 0;
                    self.consume(r, None, false).await;
                }
                Ok(r) => {
                    tracing::debug!(server = %self.server, "the event stream answered {}", r.status());
                    failures += 1;
                }
                Err(e) => {
                    tracing::debug!(server = %self.server, "the event stream failed: {}", error_chain(&e));
                    failures += 1;
                }
            }
            if failures >= MAX_RECONNECTS {
                tracing::warn!(server = %self.server, "gave up on the server's event stream; notifications it starts are lost until it restarts");
                return;
            }
            tokio::time::sleep(DEFAULT_RETRY * 2u32.pow(failures.min(5))).await;
        }
    }

    async fn end_session(&self) {
        if self.session.lock().expect("session lock").is_none() {
            return;
        }
        let req = self.request(reqwest::Method::DELETE, &self.url).send();
        let _ = tokio::time::timeout(Duration::from_secs(2), req).await;
    }

    /// Answers a request with an error on the server's behalf.
    async fn fail(&self, info: &LineInfo, what: &str) {
        let message = format!("the server \"{}\" {what}", self.server);
        match &info.request_id {
            Some(id) => {
                if let Ok(id) = serde_json::from_str::<Box<serde_json::value::RawValue>>(id) {
                    let line =
                        jsonrpc::error(Some(&id), code::UPSTREAM_UNAVAILABLE, &message, None);
                    let _ = self.out.send(&line).await;
                }
            }
            None => tracing::warn!(server = %self.server, "{message}"),
        }
    }

    /// The legacy HTTP+SSE transport: one GET stream, POSTs to its endpoint.
    async fn legacy(self: &Arc<Self>, first: Vec<u8>, mut reader: BufReader<DuplexStream>) {
        let resp = self
            .request(reqwest::Method::GET, &self.url)
            .header(ACCEPT, "text/event-stream")
            .send()
            .await;
        let resp = match resp {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                self.fail(
                    &info(&first),
                    &format!(
                        "answered HTTP {} to both streamable HTTP and SSE",
                        r.status()
                    ),
                )
                .await;
                return;
            }
            Err(e) => {
                self.fail(
                    &info(&first),
                    &format!("could not be reached at {}: {}", self.url, error_chain(&e)),
                )
                .await;
                return;
            }
        };
        let (endpoint_tx, endpoint_rx) = tokio::sync::oneshot::channel();
        let bridge = self.clone();
        let stream = tokio::spawn(async move {
            let mut resp = resp;
            let mut parser = SseParser::new(bridge.max_message);
            let mut endpoint_tx = Some(endpoint_tx);
            while let Ok(Some(chunk)) = resp.chunk().await {
                for event in parser.feed(&chunk) {
                    if event.event == "endpoint" {
                        let target = String::from_utf8_lossy(&event.data).trim().to_owned();
                        if let Some(tx) = endpoint_tx.take() {
                            let _ = tx.send(bridge.url.join(&target));
                        }
                    } else if !event.data.is_empty()
                        && bridge.out.send(&one_line(&event.data)).await.is_err()
                    {
                        return;
                    }
                }
            }
            // The stream is the connection: when it ends, so does the upstream.
            bridge.out.close().await;
        });
        let endpoint = match tokio::time::timeout(Duration::from_secs(30), endpoint_rx).await {
            Ok(Ok(Ok(url))) => url,
            _ => {
                self.fail(
                    &info(&first),
                    "opened an SSE stream but never sent its endpoint event",
                )
                .await;
                stream.abort();
                return;
            }
        };
        let mut line = first;
        loop {
            let resp = client()
                .post(endpoint.clone())
                .headers(self.headers.clone())
                .header(CONTENT_TYPE, "application/json")
                .body(line.clone())
                .send()
                .await;
            match resp {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => {
                    self.fail(
                        &info(&line),
                        &format!("answered HTTP {} to a message", r.status()),
                    )
                    .await
                }
                Err(e) => {
                    self.fail(
                        &info(&line),
                        &format!("could not be reached: {}", error_chain(&e)),
                    )
                    .await
                }
            }
            line.clear();
            match reader.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        stream.abort();
        self.out.close().await;
    }
}

pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// One server-sent event.
#[derive(Debug, Default, PartialEq)]
pub struct SseEvent {
    pub event: String,
    pub data: Vec<u8>,
}

/// An incremental parser of `text/event-stream` (the WHATWG rules that MCP
/// servers use: `data`, `event`, `id`, `retry`, comments, CRLF or LF).
pub struct SseParser {
    buf: Vec<u8>,
    event: String,
    data: Vec<u8>,
    has_data: bool,
    max: usize,
    pub last_id: Option<String>,
    pub retry: Option<Duration>,
}

impl SseParser {
    pub fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            event: String::new(),
            data: Vec::new(),
            has_data: false,
            max,
            last_id: None,
            retry: None,
        }
    }

    /// Feeds bytes; returns the events they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(nl) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let mut line = &self.buf[start..start + nl];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            let line = line.to_vec();
            start += nl + 1;
            if line.is_empty() {
                if self.has_data || !self.event.is_empty() {
                    events.push(SseEvent {
                        event: std::mem::take(&mut self.event),
                        data: std::mem::take(&mut self.data),
                    });
                }
                self.has_data = false;
                continue;
            }
            if line[0] == b':' {
                continue;
            }
            let (field, value) = match line.iter().position(|&b| b == b':') {
                Some(i) => {
                    let v = &line[i + 1..];
                    (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
                }
                None => (&line[..], &b""[..]),
            };
            match field {
                b"data" => {
                    if self.has_data {
                        self.data.push(b'\n');
                    }
                    if self.data.len() + value.len() <= self.max {
                        self.data.extend_from_slice(value);
                    }
                    self.has_data = true;
                }
                b"event" => self.event = String::from_utf8_lossy(value).into_owned(),
                b"id" => self.last_id = Some(String::from_utf8_lossy(value).into_owned()),
                b"retry" => {
                    if let Ok(ms) = std::str::from_utf8(value).unwrap_or("").parse::<u64>() {
                        self.retry = Some(Duration::from_millis(ms));
                    }
                }
                _ => {}
            }
        }
        self.buf.drain(..start);
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_across_chunks() {
        let mut p = SseParser::new(1 << 20);
        assert!(p.feed(b"event: endpoint\r\ndata: /messages?s=1").is_empty());
        let e = p.feed(b"\r\n\r\n: comment\nid: 7\nretry: 250\ndata: {\"a\":\ndata: 1}\n\n");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].event, "endpoint");
        assert_eq!(e[0].data, b"/messages?s=1");
        assert_eq!(e[1].data, b"{\"a\":\n1}");
        assert_eq!(p.last_id.as_deref(), Some("7"));
        assert_eq!(p.retry, Some(Duration::from_millis(250)));
        // An event with an id but no data (priming) yields nothing to relay.
        assert!(
            p.feed(b"id: 8\ndata:\n\n")
                .iter()
                .all(|e| e.data.is_empty())
        );
        assert_eq!(p.last_id.as_deref(), Some("8"));
    }

    #[test]
    fn multi_line_json_becomes_one_line() {
        assert_eq!(
            one_line(b"{\n  \"a\": \"x\"\r\n}"),
            b"{   \"a\": \"x\"  }\n"
        );
    }
}
