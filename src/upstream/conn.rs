//! One live JSON-RPC connection to an upstream, as its MCP client.
//!
//! Requests toolgate sends upstream get numeric ids from a counter; the
//! pending table maps each to whoever waits for the answer. Progress tokens
//! sent upstream are those same numbers, so a progress notification finds its
//! request in the table and is rewritten to the IDE's own token. The reader
//! removes a request's entry the moment its response arrives, before handing
//! the response on: a progress notification that comes after the response
//! finds nothing and is dropped, and every one that came before it has
//! already been written to the IDE (the reader handles lines in order).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::io::{AsyncRead, BufReader};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::jsonrpc::{self, Kind, Line, Malformed};
use crate::wire::Outbound;
use crate::wire::batch::Batch;

/// Why a request to an upstream got no result.
#[derive(Debug, Clone)]
pub enum CallError {
    /// The upstream answered with a JSON-RPC error (the raw error object).
    Rpc(Box<RawValue>),
    /// The connection closed before the answer.
    Closed(String),
    /// No answer within the timeout; the upstream was sent `notifications/cancelled`.
    Timeout(Duration),
    /// The caller cancelled; the upstream was sent `notifications/cancelled`.
    Cancelled,
    /// The answer was larger than `max_message_size`.
    TooLarge(usize),
    /// The answer was written to the IDE directly (see [`Connection::start`]).
    Delivered,
}

pub type Reply = Result<Box<RawValue>, CallError>;

/// Where progress notifications of one request go: the IDE's token and writer.
pub struct ProgressRoute {
    pub token: Box<RawValue>,
    pub sink: Arc<Outbound>,
}

struct Pending {
    reply: Waiter,
    progress: Option<ProgressRoute>,
    direct: Option<DirectReply>,
    deadline: Instant,
    timeout: Duration,
    /// Counts the request as in flight for the busy-poller until it ends.
    _in_flight: crate::wire::spin::CallGuard,
}

/// Who learns how a request ended.
enum Waiter {
    /// A task, in [`Connection::wait`].
    Task(oneshot::Sender<Reply>),
    /// Nobody waits: see [`Connection::start_detached`].
    Detached(Detached),
}

impl Waiter {
    fn send(self, reply: Reply) {
        match self {
            Self::Task(tx) => {
                let _ = tx.send(reply);
            }
            Self::Detached(d) => d.end(match reply {
                Ok(_) | Err(CallError::Delivered) => Ok(()),
                Err(e) => Err(e),
            }),
        }
    }
}

/// The owner of a request that nobody waits for (see
/// [`Connection::start_detached`]).
pub trait Detach: Send {
    /// The request has its id (for [`Connection::cancel`]); nothing can
    /// have ended it yet.
    fn registered(&mut self, id: u64);
    /// How the request ended, told once: `Ok` once its answer was written
    /// to the IDE, or why it got none (timeout, close, cancel...).
    fn ended(self: Box<Self>, how: Result<(), CallError>);
}

/// Ends its [`Detach`] exactly once: when the request ends, or, should it
/// be dropped unended (its connection dropped), with [`CallError::Closed`].
struct Detached(Option<Box<dyn Detach>>);

impl Detached {
    fn end(mut self, how: Result<(), CallError>) {
        if let Some(owner) = self.0.take() {
            owner.ended(how);
        }
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        if let Some(owner) = self.0.take() {
            owner.ended(Err(CallError::Closed(
                "closed its connection (it exited or crashed)".into(),
            )));
        }
    }
}

/// Where the reader writes an answer itself: the IDE's id and writer.
pub struct DirectReply {
    /// The IDE's id, its JSON text.
    pub id: Arc<str>,
    pub sink: Arc<Outbound>,
    /// Runs on the upstream's answer before it is written (the call's
    /// audit record); a result it returns is sent instead.
    pub before: Option<BeforeAnswer>,
}

/// See [`DirectReply::before`].
pub type BeforeAnswer = Box<dyn FnOnce(Result<&RawValue, &RawValue>) -> Option<String> + Send>;

/// A request that was sent and is being waited for.
pub struct Waiting {
    id: u64,
    rx: oneshot::Receiver<Reply>,
}

/// Something an upstream sent that is not an answer to toolgate: handed to
/// the manager, which relays it.
#[derive(Debug)]
pub enum Inbound {
    /// A notification (list changes, log messages, resource updates...).
    Notification {
        method: String,
        params: Option<Box<RawValue>>,
        /// Its place among the upstream's notifications in transit; drop
        /// it once the notification is handled.
        in_transit: InTransit,
    },
    /// A request to the client (sampling, elicitation, roots).
    Request {
        id: Box<RawValue>,
        method: String,
        params: Option<Box<RawValue>>,
    },
}

/// Most notifications of one upstream on their way to the IDE (in the
/// channels between its reader and the IDE's writer). Beyond, the reader
/// waits until the IDE's side has taken some, and the upstream with it: a
/// flood is paced, never queued up in memory.
const IN_TRANSIT: usize = 1024;

/// A place among an upstream's notifications in transit (see
/// [`IN_TRANSIT`]), given back when dropped.
#[derive(Debug)]
pub struct InTransit(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit);

/// A live connection. Cheap to share; closed when the reader ends.
pub struct Connection {
    server: Arc<str>,
    out: Arc<Outbound>,
    pending: Mutex<HashMap<u64, Pending, IdHash>>,
    deadlines: Mutex<Deadlines>,
    rearm: Arc<tokio::sync::Notify>,
    next_id: AtomicU64,
    closed: watch::Sender<Option<String>>,
    in_transit: Arc<tokio::sync::Semaphore>,
    /// Requests in flight, for the busy-poller ([`crate::wire::spin`]).
    spin_calls: Arc<std::sync::atomic::AtomicUsize>,
}

/// Hashes the pending table's keys, toolgate's own request ids: counters,
/// not chosen by anyone, so no SipHash is needed against collisions; a
/// multiply spreads them over the high bits the table probes with.
#[derive(Clone, Copy, Default)]
struct IdHash;

impl std::hash::BuildHasher for IdHash {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// When requests time out, earliest first. One sweeper task per connection
/// sleeps until the earliest; a new request only wakes it when it is due
/// sooner than that, so a steady stream of calls arms about one timer per
/// timeout period instead of one per call.
#[derive(Default)]
struct Deadlines {
    queue: std::collections::BTreeSet<(Instant, u64)>,
    /// When the sweeper will next wake, if it sleeps.
    armed: Option<Instant>,
}

impl Connection {
    pub fn new(server: Arc<str>, out: Arc<Outbound>) -> Arc<Self> {
        let conn = Arc::new(Self {
            server,
            out,
            pending: Mutex::new(HashMap::default()),
            deadlines: Mutex::new(Deadlines::default()),
            rearm: Arc::new(tokio::sync::Notify::new()),
            next_id: AtomicU64::new(1),
            closed: watch::Sender::new(None),
            in_transit: Arc::new(tokio::sync::Semaphore::new(IN_TRANSIT)),
            spin_calls: Arc::default(),
        });
        tokio::spawn(sweep(Arc::downgrade(&conn), conn.rearm.clone()));
        conn
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// Has the busy-poller watch `fd`, which carries this upstream's
    /// messages, while one of its requests is in flight.
    pub fn watch_for_spin(&self, fd: i32) {
        crate::wire::spin::watch_upstream(fd, self.spin_calls.clone());
    }

    /// Why the connection closed, once it has.
    pub fn closed_reason(&self) -> Option<String> {
        self.closed.borrow().clone()
    }

    /// Waits until the connection closes; returns why.
    pub async fn wait_closed(&self) -> String {
        let mut rx = self.closed.subscribe();
        loop {
            if let Some(reason) = rx.borrow_and_update().clone() {
                return reason;
            }
            if rx.changed().await.is_err() {
                return "closed".into();
            }
        }
    }

    /// Sends a request and waits for its answer, the timeout, or `cancel`.
    ///
    /// `params` gets the request's id, which is also its progress token when
    /// `progress` is given.
    pub async fn call(
        &self,
        method: &str,
        params: impl FnOnce(u64) -> Option<String>,
        progress: Option<ProgressRoute>,
        timeout: Duration,
        cancel: impl std::future::Future<Output = ()>,
    ) -> Reply {
        let waiting = self.start(method, params, progress, None, timeout).await?;
        self.wait(waiting, cancel).await
    }

    /// Registers and sends a request; [`Connection::wait`] then waits for it.
    ///
    /// With `direct`, the reader writes the upstream's answer (result or
    /// error) straight to the IDE under the IDE's id, the moment it arrives,
    /// and the waiter gets [`CallError::Delivered`]. That spares a task hop
    /// per call and sends each answer of a burst as soon as it is read. Only
    /// for answers that pass through unchanged: a later response-phase policy
    /// stage must not use it.
    pub async fn start(
        &self,
        method: &str,
        params: impl FnOnce(u64) -> Option<String>,
        progress: Option<ProgressRoute>,
        direct: Option<DirectReply>,
        timeout: Duration,
    ) -> Result<Waiting, CallError> {
        let (tx, rx) = oneshot::channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.register(id, Waiter::Task(tx), progress, direct, timeout)
            .map_err(|(_, reason)| CallError::Closed(reason))?;
        if let Err(e) = self.send_request(id, method, params).await {
            self.forget(id);
            return Err(e);
        }
        Ok(Waiting { id, rx })
    }

    /// Sends a request whose answer the reader writes to the IDE itself
    /// (`direct`, as with [`Connection::start`]) and that nobody waits for:
    /// `owner` is told how it ended, once, whether it was answered, timed
    /// out, cancelled ([`Connection::cancel`]) or cut off by a close. That
    /// spares a task per call on the proxy's hot path.
    ///
    /// `write_params` appends the request's params (JSON text) given its id.
    pub async fn start_detached(
        &self,
        method: &str,
        write_params: impl FnOnce(u64, &mut Vec<u8>),
        progress: Option<ProgressRoute>,
        direct: DirectReply,
        timeout: Duration,
        mut owner: Box<dyn Detach>,
    ) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        owner.registered(id);
        let detached = Waiter::Detached(Detached(Some(owner)));
        if let Err((detached, reason)) =
            self.register(id, detached, progress, Some(direct), timeout)
        {
            return detached.send(Err(CallError::Closed(reason)));
        }
        let line = |buf: &mut Vec<u8>| {
            jsonrpc::push_request_with(buf, id, method, |buf| write_params(id, buf));
        };
        if let Err(e) = self.send_line(line).await
            && let Some(p) = self.forget(id)
        {
            p.reply.send(Err(e));
        }
    }

    /// Enters a request in the pending table and its deadline in the
    /// sweeper's queue; once the connection has closed, gives `reply` back
    /// with the reason.
    fn register(
        &self,
        id: u64,
        reply: Waiter,
        progress: Option<ProgressRoute>,
        direct: Option<DirectReply>,
        timeout: Duration,
    ) -> Result<(), (Waiter, String)> {
        let deadline = Instant::now() + timeout;
        {
            let mut pending = self.pending.lock().expect("pending table poisoned");
            if self.closed.borrow().is_some() {
                let reason = self.closed_reason().unwrap_or_default();
                return Err((reply, reason));
            }
            pending.insert(
                id,
                Pending {
                    reply,
                    progress,
                    direct,
                    deadline,
                    timeout,
                    _in_flight: crate::wire::spin::call_started(&self.spin_calls),
                },
            );
        }
        self.arm(deadline, id);
        Ok(())
    }

    async fn send_request(
        &self,
        id: u64,
        method: &str,
        params: impl FnOnce(u64) -> Option<String>,
    ) -> Result<(), CallError> {
        let params = params(id);
        self.send_line(|buf: &mut Vec<u8>| {
            jsonrpc::push_request(buf, id, method, params.as_deref());
        })
        .await
    }

    async fn send_line(&self, line: impl FnOnce(&mut Vec<u8>)) -> Result<(), CallError> {
        self.out
            .send_with(line)
            .await
            .map_err(|e| CallError::Closed(format!("could not write to {}: {e}", self.server)))
    }

    /// Cancels a request started with [`Connection::start_detached`]: the
    /// upstream gets `notifications/cancelled`, and its `ended`
    /// [`CallError::Cancelled`]. A request already ended is left alone.
    pub async fn cancel(&self, id: u64, reason: &str) {
        if let Some(p) = self.abandon(id, reason).await {
            p.reply.send(Err(CallError::Cancelled));
        }
    }

    /// Waits for a started request's answer (or [`CallError::Timeout`], from
    /// the sweeper), or `cancel`; on either of the last two the upstream gets
    /// `notifications/cancelled`.
    pub async fn wait(
        &self,
        waiting: Waiting,
        cancel: impl std::future::Future<Output = ()>,
    ) -> Reply {
        let Waiting { id, rx, .. } = waiting;
        tokio::select! {
            biased;
            reply = rx => reply.unwrap_or_else(|_| Err(CallError::Closed(
                self.closed_reason().unwrap_or_else(|| "closed".into()),
            ))),
            () = cancel => {
                // Dropped unanswered: its waiter is this very call.
                drop(self.abandon(id, "cancelled by the client").await);
                Err(CallError::Cancelled)
            }
        }
    }

    /// Sends a notification.
    pub async fn notify(&self, method: &str, params: Option<&str>) -> std::io::Result<()> {
        self.out.send(&jsonrpc::notification(method, params)).await
    }

    /// Answers a request the upstream sent (sampling, elicitation, roots).
    pub async fn respond(&self, id: &RawValue, outcome: Result<&RawValue, &RawValue>) {
        let line = match outcome {
            Ok(result) => jsonrpc::response(id, result.get()),
            Err(error) => jsonrpc::error_raw(Some(id), error.get()),
        };
        if let Err(e) = self.out.send(&line).await {
            tracing::debug!(server = %self.server, "could not answer a request: {e}");
        }
    }

    fn forget(&self, id: u64) -> Option<Pending> {
        let p = self
            .pending
            .lock()
            .expect("pending table poisoned")
            .remove(&id)?;
        self.deadlines
            .lock()
            .expect("deadlines lock")
            .queue
            .remove(&(p.deadline, id));
        Some(p)
    }

    /// Queues a deadline; wakes the sweeper only when it is due sooner than
    /// the sweeper would wake anyway.
    fn arm(&self, deadline: Instant, id: u64) {
        let mut d = self.deadlines.lock().expect("deadlines lock");
        d.queue.insert((deadline, id));
        if d.armed.is_none_or(|armed| deadline < armed) {
            d.armed = Some(deadline);
            drop(d);
            self.rearm.notify_one();
        }
    }

    /// Times out every request whose deadline has passed.
    async fn expire(&self) {
        let now = Instant::now();
        let due: Vec<u64> = {
            let mut d = self.deadlines.lock().expect("deadlines lock");
            let mut due = Vec::new();
            while let Some(&(when, id)) = d.queue.first() {
                if when > now {
                    break;
                }
                d.queue.pop_first();
                due.push(id);
            }
            d.armed = d.queue.first().map(|(when, _)| *when);
            due
        };
        for id in due {
            if let Some(p) = self.forget(id) {
                let params =
                    serde_json::json!({ "requestId": id, "reason": "timed out" }).to_string();
                let _ = self.notify("notifications/cancelled", Some(&params)).await;
                p.reply.send(Err(CallError::Timeout(p.timeout)));
            }
        }
    }

    /// Gives up on a request: forgets it, and tells the upstream.
    async fn abandon(&self, id: u64, reason: &str) -> Option<Pending> {
        let p = self.forget(id)?;
        let params = serde_json::json!({ "requestId": id, "reason": reason }).to_string();
        let _ = self.notify("notifications/cancelled", Some(&params)).await;
        Some(p)
    }

    /// Closes the connection: every waiting request gets `reason` at once.
    pub fn close(&self, reason: &str) {
        let drained: Vec<Pending> = {
            let mut pending = self.pending.lock().expect("pending table poisoned");
            self.closed.send_if_modified(|r| {
                if r.is_none() {
                    *r = Some(reason.to_owned());
                    true
                } else {
                    false
                }
            });
            pending.drain().map(|(_, p)| p).collect()
        };
        self.rearm.notify_one(); // the sweeper sees the close and ends
        let reason = self.closed_reason().unwrap_or_else(|| reason.to_owned());
        for p in drained {
            p.reply.send(Err(CallError::Closed(reason.clone())));
        }
    }

    /// Closes the write side: for a stdio upstream, its stdin (its cue to exit).
    pub async fn close_output(&self) {
        self.out.close().await;
    }

    /// Reads the upstream's messages until it closes, then closes the
    /// connection (failing every waiting request) and returns why.
    pub async fn read_loop<R: AsyncRead + Unpin>(
        self: Arc<Self>,
        input: BufReader<R>,
        max_message: usize,
        inbound: mpsc::UnboundedSender<Inbound>,
    ) -> String {
        let why = self.read_messages(input, max_message, &inbound).await;
        let reason = format!("the server \"{}\" {why}", self.server);
        self.close(&reason);
        reason
    }

    async fn read_messages<R: AsyncRead + Unpin>(
        &self,
        mut input: BufReader<R>,
        max_message: usize,
        inbound: &mpsc::UnboundedSender<Inbound>,
    ) -> String {
        let mut buf = Vec::with_capacity(8192);
        // Answers that arrived together go to the IDE in one write.
        let mut batch = Batch::default();
        loop {
            batch.next(jsonrpc::has_line(input.buffer())).await;
            if let Some((line, used)) = jsonrpc::line_in_hand(input.buffer(), max_message) {
                if !jsonrpc::is_blank(line) {
                    self.on_line(line, &mut batch, inbound).await;
                }
                tokio::io::AsyncBufReadExt::consume(&mut input, used);
                continue;
            }
            let line = match jsonrpc::read_line(&mut input, &mut buf, max_message).await {
                Ok(Line::Message(line)) => line,
                Ok(Line::TooLong { head, len }) => {
                    self.too_long(&head, len);
                    continue;
                }
                Ok(Line::Eof) => return "closed its connection (it exited or crashed)".into(),
                Err(e) => return format!("could not be read: {e}"),
            };
            self.on_line(&line, &mut batch, inbound).await;
        }
    }

    /// Handles one message from the upstream.
    async fn on_line(
        &self,
        line: &[u8],
        batch: &mut Batch,
        inbound: &mpsc::UnboundedSender<Inbound>,
    ) {
        match jsonrpc::parse(line) {
            Ok(Kind::Response { id, outcome }) => self.on_response(id, outcome).await,
            Ok(Kind::Notification { method, params }) => {
                if method == "notifications/progress" {
                    if let Some(params) = params {
                        self.on_progress(params);
                    }
                } else {
                    let permit = match self.in_transit.clone().try_acquire_owned() {
                        Ok(permit) => permit,
                        Err(_) => {
                            // The IDE's side is behind: write out what
                            // this reader holds, then wait for room.
                            batch.next(false).await;
                            match self.in_transit.clone().acquire_owned().await {
                                Ok(permit) => permit,
                                Err(_) => return, // never closed
                            }
                        }
                    };
                    let _ = inbound.send(Inbound::Notification {
                        method: method.into_owned(),
                        params: params.map(ToOwned::to_owned),
                        in_transit: InTransit(permit),
                    });
                }
            }
            Ok(Kind::Request { id, method, params }) => {
                if method == "ping" {
                    self.respond(id, Ok(&jsonrpc::raw(&serde_json::json!({}))))
                        .await;
                } else {
                    let _ = inbound.send(Inbound::Request {
                        id: id.to_owned(),
                        method: method.into_owned(),
                        params: params.map(ToOwned::to_owned),
                    });
                }
            }
            Err(Malformed::NotJson(_)) => tracing::warn!(
                server = %self.server,
                "the server wrote a line to stdout that is not JSON-RPC (ignored; servers must log to stderr): {}",
                jsonrpc::escape_for_log(line, 120)
            ),
            Err(Malformed::Batch) => tracing::warn!(
                server = %self.server,
                "the server sent a JSON-RPC batch, which MCP does not allow (ignored)"
            ),
            Err(Malformed::Invalid { why, .. }) => tracing::warn!(
                server = %self.server,
                "the server sent an invalid JSON-RPC message (ignored): {why}: {}",
                jsonrpc::escape_for_log(line, 120)
            ),
        }
    }

    async fn on_response(&self, id: &RawValue, outcome: Result<&RawValue, &RawValue>) {
        let Ok(id) = id.get().parse::<u64>() else {
            tracing::warn!(server = %self.server, id = id.get(), "the server answered a request toolgate never sent");
            return;
        };
        // A late answer to an abandoned request finds nothing: dropped.
        let Some(p) = self.forget(id) else { return };
        if let Some(mut direct) = p.direct {
            let instead = direct.before.take().and_then(|before| before(outcome));
            let id = &direct.id;
            let line = |buf: &mut Vec<u8>| match (&instead, outcome) {
                (Some(result), _) => jsonrpc::push_result_for(buf, id, result),
                (None, Ok(result)) => jsonrpc::push_result_for(buf, id, result.get()),
                (None, Err(error)) => jsonrpc::push_error_for(buf, id, error.get()),
            };
            let _ = direct.sink.send_with(line).await;
            crate::wire::spin::answered();
            p.reply.send(Err(CallError::Delivered));
            return;
        }
        let reply = match outcome {
            Ok(result) => Ok(result.to_owned()),
            Err(error) => Err(CallError::Rpc(error.to_owned())),
        };
        p.reply.send(reply);
    }

    fn on_progress(&self, params: &RawValue) {
        let Ok(mut members) = jsonrpc::shallow(params) else {
            return;
        };
        let Some(id) =
            jsonrpc::member(&members, "progressToken").and_then(|t| t.get().parse::<u64>().ok())
        else {
            return;
        };
        let (token, sink) = {
            let pending = self.pending.lock().expect("pending table poisoned");
            match pending.get(&id).and_then(|p| p.progress.as_ref()) {
                Some(route) => (route.token.clone(), route.sink.clone()),
                None => return, // unknown, finished or abandoned: dropped
            }
        };
        jsonrpc::set_member(&mut members, "progressToken", token);
        let line = jsonrpc::notification(
            "notifications/progress",
            Some(&jsonrpc::unshallow(&members)),
        );
        // Dropped rather than queued when the IDE is far behind.
        sink.offer(&line);
    }

    fn too_long(&self, head: &[u8], len: usize) {
        tracing::warn!(
            server = %self.server,
            "the server sent a message of {len} bytes, over max_message_size (dropped)"
        );
        if let Some(id) = jsonrpc::sniff_id(head).and_then(|id| id.parse::<u64>().ok())
            && let Some(p) = self.forget(id)
        {
            p.reply.send(Err(CallError::TooLarge(len)));
        }
    }
}

/// The timeout sweeper of one connection (see [`Deadlines`]); ends when the
/// connection closes or is dropped.
async fn sweep(conn: std::sync::Weak<Connection>, rearm: Arc<tokio::sync::Notify>) {
    loop {
        let armed = {
            let Some(c) = conn.upgrade() else { return };
            if c.closed_reason().is_some() {
                return;
            }
            c.deadlines.lock().expect("deadlines lock").armed
        };
        match armed {
            None => rearm.notified().await,
            Some(when) => tokio::select! {
                () = tokio::time::sleep_until(when) => {
                    let Some(c) = conn.upgrade() else { return };
                    c.expire().await;
                }
                () = rearm.notified() => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    /// An upstream played by the test over in-memory pipes.
    fn pair() -> (
        Arc<Connection>,
        tokio::io::Lines<BufReader<tokio::io::DuplexStream>>,
        tokio::io::DuplexStream,
        mpsc::UnboundedReceiver<Inbound>,
    ) {
        let (to_upstream, upstream_reads) = tokio::io::duplex(1 << 16);
        let (upstream_writes, from_upstream) = tokio::io::duplex(1 << 16);
        let conn = Connection::new(
            "test".into(),
            Arc::new(Outbound::new(Box::pin(to_upstream))),
        );
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(
            conn.clone()
                .read_loop(BufReader::new(from_upstream), 1 << 20, tx),
        );
        (
            conn,
            BufReader::new(upstream_reads).lines(),
            upstream_writes,
            rx,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_is_never_answered_times_out_and_is_cancelled_upstream() {
        let (conn, mut upstream_in, _upstream_out, _rx) = pair();
        let timeout = Duration::from_secs(120);
        let call = conn.call(
            "tools/call",
            |_| Some("{}".into()),
            None,
            timeout,
            std::future::pending(),
        );
        let (reply, ()) = tokio::join!(call, async {
            let req = upstream_in.next_line().await.unwrap().unwrap();
            assert!(req.contains("\"tools/call\""), "{req}");
        });
        assert!(matches!(reply, Err(CallError::Timeout(t)) if t == timeout));
        let cancel = upstream_in.next_line().await.unwrap().unwrap();
        assert!(
            cancel.contains("notifications/cancelled") && cancel.contains("\"requestId\":1"),
            "{cancel}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_shorter_timeout_after_a_longer_one_fires_first() {
        let (conn, mut upstream_in, _upstream_out, _rx) = pair();
        let long = conn
            .start("slow", |_| None, None, None, Duration::from_secs(600))
            .await
            .unwrap();
        let short = conn
            .start("quick", |_| None, None, None, Duration::from_secs(5))
            .await
            .unwrap();
        let began = Instant::now();
        let reply = conn.wait(short, std::future::pending()).await;
        assert!(matches!(reply, Err(CallError::Timeout(t)) if t == Duration::from_secs(5)));
        assert!(
            began.elapsed() < Duration::from_secs(6),
            "{:?}",
            began.elapsed()
        );
        // The long one is still pending, and then times out at its own time.
        let reply = conn.wait(long, std::future::pending()).await;
        assert!(matches!(reply, Err(CallError::Timeout(t)) if t == Duration::from_secs(600)));
        // Both requests, then the cancellation of the short one, then the long one's.
        let mut lines = Vec::new();
        for _ in 0..4 {
            lines.push(upstream_in.next_line().await.unwrap().unwrap());
        }
        assert!(lines[2].contains("\"requestId\":2"), "{lines:?}");
        assert!(lines[3].contains("\"requestId\":1"), "{lines:?}");
    }

    #[tokio::test]
    async fn closing_fails_every_waiting_request_at_once() {
        let (conn, _upstream_in, upstream_out, _rx) = pair();
        let call = conn.call(
            "x",
            |_| None,
            None,
            Duration::from_secs(3600),
            std::future::pending(),
        );
        let (reply, ()) = tokio::join!(call, async move { drop(upstream_out) });
        match reply {
            Err(CallError::Closed(why)) => {
                assert!(why.contains("\"test\" closed its connection"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        assert!(conn.closed_reason().is_some());
        // A request made after the close fails at once too.
        let late = conn
            .call(
                "x",
                |_| None,
                None,
                Duration::from_secs(3600),
                std::future::pending(),
            )
            .await;
        assert!(matches!(late, Err(CallError::Closed(_))));
    }

    /// The owner of a detached request, for the tests: notes what it is told.
    struct Owner(Arc<std::sync::Mutex<Vec<String>>>);

    impl Detach for Owner {
        fn registered(&mut self, id: u64) {
            self.0.lock().unwrap().push(format!("registered {id}"));
        }

        fn ended(self: Box<Self>, how: Result<(), CallError>) {
            let how = match how {
                Ok(()) => "answered".to_owned(),
                Err(CallError::Timeout(_)) => "timeout".to_owned(),
                Err(CallError::Cancelled) => "cancelled".to_owned(),
                Err(CallError::Closed(why)) => format!("closed: {why}"),
                Err(other) => format!("{other:?}"),
            };
            self.0.lock().unwrap().push(how);
        }
    }

    /// Starts a detached `tools/call` whose answer goes to `ide` under the
    /// IDE's id "ide-1"; returns what its owner is told.
    async fn detached(
        conn: &Connection,
        ide: &Arc<Outbound>,
        timeout: Duration,
    ) -> Arc<std::sync::Mutex<Vec<String>>> {
        let told = Arc::new(std::sync::Mutex::new(Vec::new()));
        let direct = DirectReply {
            id: "\"ide-1\"".into(),
            sink: ide.clone(),
            before: None,
        };
        conn.start_detached(
            "tools/call",
            |_, buf| buf.extend_from_slice(b"{}"),
            None,
            direct,
            timeout,
            Box::new(Owner(told.clone())),
        )
        .await;
        told
    }

    fn ide() -> (
        Arc<Outbound>,
        tokio::io::Lines<BufReader<tokio::io::DuplexStream>>,
    ) {
        let (w, r) = tokio::io::duplex(1 << 16);
        (
            Arc::new(Outbound::new(Box::pin(w))),
            BufReader::new(r).lines(),
        )
    }

    #[tokio::test]
    async fn a_detached_request_is_answered_to_the_ide_and_its_owner_told_once() {
        let (conn, mut upstream_in, mut upstream_out, _rx) = pair();
        let (sink, mut ide) = ide();
        let told = detached(&conn, &sink, Duration::from_secs(60)).await;
        let req = upstream_in.next_line().await.unwrap().unwrap();
        assert!(req.contains("\"id\":1,"), "{req}");
        upstream_out
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"ok\":true}}\n")
            .await
            .unwrap();
        let answer = ide.next_line().await.unwrap().unwrap();
        assert_eq!(
            answer,
            "{\"jsonrpc\":\"2.0\",\"id\":\"ide-1\",\"result\":{\"ok\":true}}"
        );
        assert_eq!(*told.lock().unwrap(), ["registered 1", "answered"]);
        // A second answer to the same id finds nothing.
        upstream_out
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n")
            .await
            .unwrap();
        conn.cancel(1, "late").await;
        assert_eq!(told.lock().unwrap().len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_detached_request_times_out_or_is_cancelled_and_the_upstream_told() {
        let (conn, mut upstream_in, _upstream_out, _rx) = pair();
        let (sink, _ide) = ide();
        let timed = detached(&conn, &sink, Duration::from_secs(5)).await;
        let cancelled = detached(&conn, &sink, Duration::from_secs(600)).await;
        conn.cancel(2, "cancelled by the client").await;
        assert_eq!(*cancelled.lock().unwrap(), ["registered 2", "cancelled"]);
        let began = Instant::now();
        let mut lines = Vec::new();
        for _ in 0..4 {
            lines.push(upstream_in.next_line().await.unwrap().unwrap());
        }
        assert!(began.elapsed() >= Duration::from_secs(5));
        assert_eq!(*timed.lock().unwrap(), ["registered 1", "timeout"]);
        assert!(
            lines[2].contains("notifications/cancelled") && lines[2].contains("\"requestId\":2"),
            "{lines:?}"
        );
        assert!(
            lines[3].contains("\"requestId\":1") && lines[3].contains("timed out"),
            "{lines:?}"
        );
    }

    #[tokio::test]
    async fn a_detached_request_is_ended_by_a_close_or_a_dropped_connection() {
        let (conn, mut upstream_in, upstream_out, _rx) = pair();
        let (sink, _ide) = ide();
        let told = detached(&conn, &sink, Duration::from_secs(60)).await;
        upstream_in.next_line().await.unwrap().unwrap();
        drop(upstream_out);
        conn.wait_closed().await;
        let told = told.lock().unwrap().clone();
        assert_eq!(told.len(), 2, "{told:?}");
        assert!(
            told[1].starts_with("closed: the server \"test\" closed"),
            "{told:?}"
        );
        // Started after the close: ended at once.
        let late = detached(&conn, &sink, Duration::from_secs(60)).await;
        assert_eq!(late.lock().unwrap().len(), 2);
        // A connection dropped with a request pending ends it too.
        let (to_upstream, _upstream_reads) = tokio::io::duplex(1 << 16);
        let lone = Connection::new(
            "lone".into(),
            Arc::new(Outbound::new(Box::pin(to_upstream))),
        );
        let told = detached(&lone, &sink, Duration::from_secs(60)).await;
        drop(lone);
        let told = told.lock().unwrap().clone();
        assert_eq!(told.len(), 2, "{told:?}");
        assert!(told[1].starts_with("closed:"), "{told:?}");
    }

    #[tokio::test]
    async fn progress_is_rewritten_and_late_progress_dropped() {
        let (conn, mut upstream_in, mut upstream_out, _rx) = pair();
        let (ide_w, ide_r) = tokio::io::duplex(1 << 16);
        let sink = Arc::new(Outbound::new(Box::pin(ide_w)));
        let route = ProgressRoute {
            token: jsonrpc::raw("ide-token"),
            sink,
        };
        let call = conn.call(
            "tools/call",
            |_| Some("{}".into()),
            Some(route),
            Duration::from_secs(60),
            std::future::pending(),
        );
        let upstream = async {
            let _req = upstream_in.next_line().await.unwrap().unwrap();
            upstream_out.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":1}}\n{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"ok\":true}}\n{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":2}}\n").await.unwrap();
        };
        let (reply, ()) = tokio::join!(call, upstream);
        assert_eq!(reply.unwrap().get(), "{\"ok\":true}");
        drop(conn);
        let mut ide = BufReader::new(ide_r).lines();
        let first = ide.next_line().await.unwrap().unwrap();
        assert_eq!(
            first,
            "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"ide-token\",\"progress\":1}}"
        );
        // The progress sent after the result was dropped: the route went with
        // the response, so the IDE's stream simply ends.
        assert_eq!(ide.next_line().await.unwrap(), None);
    }
}
