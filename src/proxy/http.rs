//! `toolgate serve --listen 127.0.0.1:PORT`: the same proxy over streamable
//! HTTP, for hosts that only speak HTTP.
//!
//! Each MCP session (an `initialize` POST without a session id) gets its own
//! [`super::serve`] front, exactly as a stdio connection does, fed through
//! in-memory pipes; the HTTP layer only routes messages:
//!
//! - a POSTed request is answered with an SSE stream carrying its progress and
//!   then its answer, as the TypeScript SDK does; a client that accepts only
//!   `application/json` gets the answer as a JSON body;
//! - anything else toolgate sends (list changes, log messages, sampling or
//!   elicitation requests) goes to the session's GET stream, or, while none is
//!   open, to the newest open POST stream, or waits (bounded) for one;
//! - `DELETE` ends the session and its upstreams; sessions are not expired
//!   otherwise (a client that never says goodbye keeps its upstreams until
//!   toolgate stops, when every session's upstreams are stopped cleanly).
//!
//! Security, because any web page the user visits can make the browser talk
//! to loopback:
//! - toolgate binds loopback only, unless `--allow-non-loopback` says otherwise;
//! - the `Host` header must name the loopback address toolgate listens on, and
//!   an `Origin` header, when present, must be a loopback origin (DNS
//!   rebinding protection): anything else is refused with 403;
//! - every request needs `Authorization: Bearer <token>`, where the token is a
//!   random per-install secret kept in `state/listen-token` (mode 0600) and
//!   shown by `toolgate serve --print-token`. `--no-token` turns this off, for
//!   test harnesses that cannot send headers.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue, ORIGIN};
use hyper::{Method, Request, Response, StatusCode};
use tokio::io::BufReader;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::jsonrpc::{self, Kind, Line};
use crate::wire::Outbound;

const SESSION_HEADER: &str = "mcp-session-id";
/// Messages kept for a session while no stream is open to carry them.
const BACKLOG: usize = 1000;

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// What `--listen` needs.
pub struct ListenOptions {
    pub addr: SocketAddr,
    /// The bearer token every request must carry; `None` with `--no-token`.
    pub token: Option<String>,
}

struct Server {
    config: Config,
    token: Option<String>,
    port: u16,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// The fronts of every session, awaited at shutdown so that their
    /// upstreams stop cleanly.
    fronts: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// One MCP session and its front.
struct Session {
    input: Arc<Outbound>,
    /// Open POSTs awaiting their answer, by the raw text of the request id.
    waiters: Mutex<HashMap<String, mpsc::UnboundedSender<Bytes>>>,
    /// The IDE's progress tokens -> the request they belong to.
    progress: Mutex<HashMap<String, String>>,
    /// Open GET streams, newest last.
    streams: Mutex<Vec<(u64, mpsc::UnboundedSender<Bytes>)>>,
    backlog: Mutex<VecDeque<Bytes>>,
    next_stream: AtomicU64,
    next_event: AtomicU64,
}

/// Runs the HTTP server until `stop` fires.
pub async fn listen(
    config: &Config,
    options: ListenOptions,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|e| {
            crate::error::UserError::new(format!("could not listen on {}: {e}", options.addr))
                .hint("pick another port (port 0 picks a free one, printed on stderr), or stop what listens there")
        })?;
    let local = listener.local_addr()?;
    tracing::info!("serving MCP over streamable HTTP at http://{local}/mcp");
    // The bound address on stderr, for whoever started us with port 0.
    crate::commands::say(&format!("toolgate: listening on http://{local}/mcp"));
    let server = Arc::new(Server {
        config: config.clone(),
        token: options.token,
        port: local.port(),
        sessions: Mutex::new(HashMap::new()),
        fronts: Mutex::new(Vec::new()),
    });
    tokio::pin!(stop);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => { tracing::warn!("accept failed: {e}"); continue }
            },
            () = &mut stop => break,
        };
        let server = server.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let server = server.clone();
                async move { Ok::<_, Infallible>(server.handle(req).await) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
            {
                tracing::debug!("HTTP connection ended: {e}");
            }
        });
    }
    let sessions: Vec<_> = server.sessions.lock().expect("sessions").drain().collect();
    for (_, s) in sessions {
        s.input.close().await;
    }
    let fronts: Vec<_> = std::mem::take(&mut *server.fronts.lock().expect("fronts"));
    for front in fronts {
        let _ = front.await;
    }
    Ok(())
}

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(Full::new(body.into()).boxed());
    *resp.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(CONTENT_TYPE, v);
    }
    resp
}

fn rpc_error(status: StatusCode, code: i64, message: &str) -> Response<Body> {
    let mut body = jsonrpc::error(None, code, message, None);
    body.pop(); // the newline
    full(status, "application/json", body)
}

/// Whether a `Host` value names loopback on our port.
fn host_ok(host: &str, port: u16) -> bool {
    let allowed = [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ];
    allowed.iter().any(|a| a.eq_ignore_ascii_case(host))
}

/// Whether an `Origin` is a loopback origin (any port: the IDE's own page).
fn origin_ok(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = if let Some(v6) = rest.strip_prefix('[') {
        v6.split(']')
            .next()
            .map(|h| format!("[{h}]"))
            .unwrap_or_default()
    } else {
        rest.split(':').next().unwrap_or_default().to_owned()
    };
    matches!(
        host.to_ascii_lowercase().as_str(),
        "127.0.0.1" | "localhost" | "[::1]"
    )
}

impl Server {
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        // DNS rebinding: refuse a Host or Origin that is not loopback.
        let host = req
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !host_ok(host, self.port) {
            return rpc_error(
                StatusCode::FORBIDDEN,
                -32000,
                "toolgate refused the request: its Host header does not name this loopback server",
            );
        }
        if let Some(origin) = req.headers().get(ORIGIN)
            && !origin.to_str().is_ok_and(origin_ok)
        {
            return rpc_error(
                StatusCode::FORBIDDEN,
                -32000,
                "toolgate refused the request: its Origin is not a loopback origin",
            );
        }
        if let Some(token) = &self.token {
            let given = req
                .headers()
                .get(AUTHORIZATION)
                .and_then(|h| h.to_str().ok())
                .and_then(|h| h.strip_prefix("Bearer "));
            if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
                let mut resp = rpc_error(
                    StatusCode::UNAUTHORIZED,
                    -32000,
                    "toolgate needs Authorization: Bearer <token>; `toolgate serve --print-token` shows it",
                );
                resp.headers_mut()
                    .insert("www-authenticate", HeaderValue::from_static("Bearer"));
                return resp;
            }
        }
        if req.uri().path() != "/mcp" {
            return full(
                StatusCode::NOT_FOUND,
                "text/plain",
                "toolgate serves MCP at /mcp\n",
            );
        }
        let session_id = req
            .headers()
            .get(SESSION_HEADER)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned);
        match *req.method() {
            Method::POST => self.post(req, session_id).await,
            Method::GET => self.get(req, session_id),
            Method::DELETE => {
                let Some(id) = session_id else {
                    return rpc_error(
                        StatusCode::BAD_REQUEST,
                        -32000,
                        "DELETE needs an Mcp-Session-Id header",
                    );
                };
                let session = self.sessions.lock().expect("sessions").remove(&id);
                match session {
                    Some(s) => {
                        s.input.close().await;
                        full(StatusCode::OK, "text/plain", "")
                    }
                    None => rpc_error(StatusCode::NOT_FOUND, -32001, "no such session"),
                }
            }
            _ => {
                let mut r = full(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "");
                r.headers_mut()
                    .insert("allow", HeaderValue::from_static("GET, POST, DELETE"));
                r
            }
        }
    }

    #[allow(clippy::result_large_err)] // the error is the response to send
    fn session(&self, id: Option<&str>) -> Result<Arc<Session>, Response<Body>> {
        let Some(id) = id else {
            return Err(rpc_error(
                StatusCode::BAD_REQUEST,
                -32000,
                "Bad Request: an Mcp-Session-Id header is required (send initialize first)",
            ));
        };
        self.sessions
            .lock()
            .expect("sessions")
            .get(id)
            .cloned()
            .ok_or_else(|| {
                rpc_error(
                    StatusCode::NOT_FOUND,
                    -32001,
                    "Session not found: initialize again",
                )
            })
    }

    async fn post(
        self: &Arc<Self>,
        req: Request<Incoming>,
        session_id: Option<String>,
    ) -> Response<Body> {
        let limit = self.config.serve.max_message_size;
        let wants_sse = req
            .headers()
            .get(ACCEPT)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|a| a.contains("text/event-stream"));
        let body = match Limited::new(req.into_body(), limit).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return rpc_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    -32600,
                    &format!("the message is over serve.max_message_size ({limit} bytes)"),
                );
            }
        };
        let (request_id, is_initialize, progress) = match jsonrpc::parse(&body) {
            Ok(Kind::Request { id, method, params }) => {
                let progress = params.and_then(progress_token);
                (Some(id.get().to_owned()), method == "initialize", progress)
            }
            Ok(_) => (None, false, None),
            Err(jsonrpc::Malformed::NotJson(e)) => {
                return rpc_error(
                    StatusCode::BAD_REQUEST,
                    -32700,
                    &format!("Parse error: {e}"),
                );
            }
            Err(jsonrpc::Malformed::Batch) => {
                return rpc_error(StatusCode::BAD_REQUEST, -32600, "batches are not accepted");
            }
            Err(jsonrpc::Malformed::Invalid { why, .. }) => {
                return rpc_error(StatusCode::BAD_REQUEST, -32600, why);
            }
        };
        let (session, new_id) = if is_initialize && session_id.is_none() {
            let (id, s) = self.open_session();
            (s, Some(id))
        } else {
            match self.session(session_id.as_deref()) {
                Ok(s) => (s, None),
                Err(resp) => return resp,
            }
        };
        let mut line = body.to_vec();
        line.retain(|&b| b != b'\n' && b != b'\r');
        line.push(b'\n');
        let Some(request_id) = request_id else {
            // A notification or an answer: hand it on, nothing comes back.
            if session.input.send(&line).await.is_err() {
                return rpc_error(
                    StatusCode::NOT_FOUND,
                    -32001,
                    "Session not found: it has ended",
                );
            }
            return full(StatusCode::ACCEPTED, "text/plain", "");
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        session
            .waiters
            .lock()
            .expect("waiters")
            .insert(request_id.clone(), tx);
        if let Some(token) = &progress {
            session
                .progress
                .lock()
                .expect("progress")
                .insert(token.clone(), request_id.clone());
        }
        if session.input.send(&line).await.is_err() {
            return rpc_error(
                StatusCode::NOT_FOUND,
                -32001,
                "Session not found: it has ended",
            );
        }
        let Some(first) = rx.recv().await else {
            return rpc_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                -32603,
                "the session ended before answering",
            );
        };
        let mut resp = if is_response(&first) && !wants_sse {
            if let Some(t) = &progress {
                session.progress.lock().expect("progress").remove(t);
            }
            full(StatusCode::OK, "application/json", first)
        } else {
            // An SSE stream: what came first (progress, or the answer), then
            // whatever else belongs to the request, ending with its answer.
            let (body_tx, body_rx) = mpsc::unbounded_channel();
            let _ = body_tx.send(session.event(&first));
            let s = session.clone();
            let answered = is_response(&first);
            tokio::spawn(async move {
                if answered {
                    return;
                }
                while let Some(msg) = rx.recv().await {
                    let done = is_response(&msg);
                    if body_tx.send(s.event(&msg)).is_err() || done {
                        break;
                    }
                }
                if let Some(t) = progress {
                    s.progress.lock().expect("progress").remove(&t);
                }
            });
            sse(body_rx)
        };
        if let Some(id) = new_id
            && let Ok(v) = HeaderValue::from_str(&id)
        {
            resp.headers_mut().insert(SESSION_HEADER, v);
        }
        resp
    }

    fn get(&self, req: Request<Incoming>, session_id: Option<String>) -> Response<Body> {
        let accepts_sse = req
            .headers()
            .get(ACCEPT)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|a| a.contains("text/event-stream"));
        if !accepts_sse {
            return rpc_error(
                StatusCode::NOT_ACCEPTABLE,
                -32000,
                "GET needs Accept: text/event-stream",
            );
        }
        let session = match self.session(session_id.as_deref()) {
            Ok(s) => s,
            Err(resp) => return resp,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let backlog: Vec<Bytes> = session.backlog.lock().expect("backlog").drain(..).collect();
        for msg in backlog {
            let _ = tx.send(session.event(&msg));
        }
        let n = session.next_stream.fetch_add(1, Ordering::Relaxed);
        session.streams.lock().expect("streams").push((n, tx));
        sse(rx)
    }

    fn open_session(self: &Arc<Self>) -> (String, Arc<Session>) {
        let id = random_token(16);
        let (input_w, input_r) = tokio::io::duplex(1 << 20);
        let (output_w, output_r) = tokio::io::duplex(1 << 20);
        let session = Arc::new(Session {
            input: Arc::new(Outbound::new(Box::pin(input_w))),
            waiters: Mutex::new(HashMap::new()),
            progress: Mutex::new(HashMap::new()),
            streams: Mutex::new(Vec::new()),
            backlog: Mutex::new(VecDeque::new()),
            next_stream: AtomicU64::new(1),
            next_event: AtomicU64::new(1),
        });
        self.sessions
            .lock()
            .expect("sessions")
            .insert(id.clone(), session.clone());
        let config = self.config.clone();
        let server = self.clone();
        let sid = id.clone();
        let front = tokio::spawn(async move {
            let front = super::serve(
                &config,
                Box::pin(input_r),
                Box::pin(output_w),
                std::future::pending(),
            );
            let _ = front.await;
            server.sessions.lock().expect("sessions").remove(&sid);
        });
        let mut fronts = self.fronts.lock().expect("fronts");
        fronts.retain(|f| !f.is_finished());
        fronts.push(front);
        drop(fronts);
        let s = session.clone();
        tokio::spawn(async move { s.route(output_r).await });
        (id, session)
    }
}

impl Session {
    /// Sends each message the front writes to where it belongs.
    async fn route(&self, output: tokio::io::DuplexStream) {
        let mut reader = BufReader::new(output);
        let mut buf = Vec::new();
        while let Ok(Line::Message(line)) =
            jsonrpc::read_line(&mut reader, &mut buf, usize::MAX).await
        {
            let msg = Bytes::from(line);
            match jsonrpc::parse(&msg) {
                Ok(Kind::Response { id, .. }) => {
                    let waiter = self.waiters.lock().expect("waiters").remove(id.get());
                    if let Some(w) = waiter {
                        let _ = w.send(msg.clone());
                    }
                    continue;
                }
                Ok(Kind::Notification { method, params }) if method == "notifications/progress" => {
                    let request = params
                        .and_then(|p| jsonrpc::shallow(p).ok())
                        .and_then(|m| {
                            jsonrpc::member(&m, "progressToken").map(|t| t.get().to_owned())
                        })
                        .and_then(|t| self.progress.lock().expect("progress").get(&t).cloned());
                    if let Some(request) = request {
                        let waiter = self.waiters.lock().expect("waiters").get(&request).cloned();
                        if let Some(w) = waiter {
                            let _ = w.send(msg.clone());
                            continue;
                        }
                    }
                }
                _ => {}
            }
            self.broadcast(msg);
        }
    }

    /// Delivers a message not tied to one request.
    fn broadcast(&self, msg: Bytes) {
        let mut streams = self.streams.lock().expect("streams");
        while let Some((_, tx)) = streams.last() {
            if tx.send(self.event(&msg)).is_ok() {
                return;
            }
            streams.pop();
        }
        drop(streams);
        // No GET stream: an open POST stream will do.
        let waiter = self
            .waiters
            .lock()
            .expect("waiters")
            .values()
            .next()
            .cloned();
        if let Some(w) = waiter
            && w.send(msg.clone()).is_ok()
        {
            return;
        }
        let mut backlog = self.backlog.lock().expect("backlog");
        if backlog.len() == BACKLOG {
            backlog.pop_front();
        }
        backlog.push_back(msg);
    }

    /// One SSE event, or the raw message when it will be a JSON body.
    fn event(&self, msg: &Bytes) -> Bytes {
        let n = self.next_event.fetch_add(1, Ordering::Relaxed);
        let mut out = Vec::with_capacity(msg.len() + 40);
        out.extend_from_slice(format!("event: message\nid: {n}\ndata: ").as_bytes());
        out.extend_from_slice(msg.strip_suffix(b"\n").unwrap_or(msg));
        out.extend_from_slice(b"\n\n");
        Bytes::from(out)
    }
}

fn is_response(msg: &[u8]) -> bool {
    matches!(jsonrpc::parse(msg), Ok(Kind::Response { .. }))
}

fn progress_token(params: &serde_json::value::RawValue) -> Option<String> {
    let members = jsonrpc::shallow(params).ok()?;
    let meta = jsonrpc::shallow(jsonrpc::member(&members, "_meta")?).ok()?;
    jsonrpc::member(&meta, "progressToken").map(|t| t.get().to_owned())
}

/// An SSE response whose events come from a channel.
fn sse(rx: mpsc::UnboundedReceiver<Bytes>) -> Response<Body> {
    let mut resp = Response::new(BodyExt::boxed(ChannelBody { rx }));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    resp
}

struct ChannelBody {
    rx: mpsc::UnboundedReceiver<Bytes>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|m| m.map(|b| Ok(Frame::data(b))))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A random token: `bytes` random bytes, base64url.
pub fn random_token(bytes: usize) -> String {
    use base64::Engine;
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system's random source works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// The per-install bearer token of `--listen`, created on first use.
pub fn install_token(paths: &crate::config::Paths) -> anyhow::Result<String> {
    let path = paths.state_dir.join("listen-token");
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_owned()),
        _ => {
            let token = random_token(32);
            crate::config::paths::write_private_file(&path, token.as_bytes())?;
            Ok(token)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebinding_checks() {
        assert!(host_ok("127.0.0.1:8080", 8080));
        assert!(host_ok("localhost:8080", 8080));
        assert!(host_ok("[::1]:8080", 8080));
        assert!(!host_ok("evil.example:8080", 8080));
        assert!(!host_ok("127.0.0.1:9090", 8080));
        assert!(!host_ok("", 8080));
        assert!(origin_ok("http://localhost:3000"));
        assert!(origin_ok("http://127.0.0.1"));
        assert!(origin_ok("https://[::1]:5173"));
        assert!(!origin_ok("http://evil.example"));
        assert!(!origin_ok("http://localhost.evil.example"));
        assert!(!origin_ok("null"));
    }

    #[test]
    fn tokens_are_random_and_compared_in_constant_time() {
        let a = random_token(32);
        assert_ne!(a, random_token(32));
        assert_eq!(a.len(), 43);
        assert!(constant_time_eq(a.as_bytes(), a.as_bytes()));
        assert!(!constant_time_eq(a.as_bytes(), b"x"));
    }
}
