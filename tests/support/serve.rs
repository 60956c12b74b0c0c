//! A raw JSON-RPC driver of `toolgate serve` (or of an upstream server
//! directly): what an IDE does, without an SDK, so tests can send what no SDK
//! client would, and see every byte toolgate writes.
//!
//! A reader thread hands each stdout line over a channel; every line read is
//! checked to be one valid JSON-RPC 2.0 message (stdout is the protocol
//! channel: anything else there breaks the IDE). stderr is kept for failure
//! messages. Dropping a `Serve` kills toolgate if it still runs.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Home, WAIT};

/// `toolgate serve`, driven raw.
pub type Serve = Peer;

/// A stdio MCP server process driven raw.
pub struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    /// Every message read so far, in order.
    pub seen: Vec<Value>,
    next_id: u64,
}

impl Peer {
    /// Starts `toolgate serve` in `home`.
    pub fn start(home: &Home) -> Self {
        Self::spawn(home.toolgate(&["serve"]))
    }

    /// Starts an MCP server directly (no toolgate), for comparisons.
    pub fn direct(program: &str, args: &[&str], home: &Home) -> Self {
        let mut cmd = Command::new(program);
        cmd.args(args);
        home.apply_env(&mut cmd);
        Self::spawn(cmd)
    }

    /// Starts `cmd` (a toolgate or server command line from the caller).
    pub fn spawn(mut cmd: Command) -> Self {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {cmd:?}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let stderr_pipe = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = collect(stderr_pipe);
        Self {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
            seen: Vec::new(),
            next_id: 1000,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// What toolgate logged so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn fail(&self, why: &str) -> ! {
        let stderr = self.stderr();
        let lines: Vec<&str> = stderr.lines().collect();
        panic!(
            "{why}\n---- messages read ----\n{}\n---- toolgate stderr (last 200 lines) ----\n{}",
            self.seen
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
            lines[lines.len().saturating_sub(200)..].join("\n")
        )
    }

    /// Writes one line (a newline is added).
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .expect("write to toolgate");
    }

    pub fn send(&mut self, message: &Value) {
        self.send_line(&message.to_string());
    }

    /// Writes one line (a newline is added) `piece` bytes at a time,
    /// flushed, with `pause` between pieces: a client that drips.
    pub fn send_in_pieces(&mut self, line: &str, piece: usize, pause: Duration) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        let bytes = format!("{line}\n").into_bytes();
        for chunk in bytes.chunks(piece) {
            stdin
                .write_all(chunk)
                .and_then(|()| stdin.flush())
                .expect("write to toolgate");
            std::thread::sleep(pause);
        }
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// The next message, or `None` if none comes within `limit` or stdout
    /// ended. Fails the test if the line is not a JSON-RPC message.
    pub fn recv_within(&mut self, limit: Duration) -> Option<Value> {
        let line = match self.lines.recv_timeout(limit) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
        };
        let message = check_message(&line).unwrap_or_else(|why| {
            self.fail(&format!(
                "a line on stdout is not a JSON-RPC message ({why}): {line}"
            ))
        });
        self.seen.push(message.clone());
        Some(message)
    }

    /// The next message; fails the test if none comes within [`WAIT`].
    pub fn recv(&mut self) -> Value {
        match self.recv_within(WAIT) {
            Some(m) => m,
            None => self.fail(&format!("no message from toolgate within {WAIT:?}")),
        }
    }

    /// Reads until the response to `id`; returns it with the messages read
    /// before it (notifications, requests).
    pub fn until_response(&mut self, id: &Value) -> (Value, Vec<Value>) {
        let mut before = Vec::new();
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(m) = self.recv_within(left) else {
                self.fail(&format!("no response to id {id} within {WAIT:?}"));
            };
            if m.get("id") == Some(id) && m.get("method").is_none() {
                return (m, before);
            }
            before.push(m);
        }
    }

    /// Reads until a notification `method` arrives (bounded); returns it.
    pub fn until_notification(&mut self, method: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(m) = self.recv_within(left) else {
                self.fail(&format!("no {method} within {WAIT:?}"));
            };
            if m["method"] == method && m.get("id").is_none() {
                return m;
            }
        }
    }

    /// Sends a request with a fresh id and returns its response.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        self.request_with_notes(method, params).0
    }

    /// Like [`Serve::request`], also returning what came before the response.
    pub fn request_with_notes(&mut self, method: &str, params: Value) -> (Value, Vec<Value>) {
        self.next_id += 1;
        let id = json!(self.next_id);
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        self.until_response(&id)
    }

    /// The result of a request; fails the test on an error response.
    pub fn result(&mut self, method: &str, params: Value) -> Value {
        let response = self.request(method, params);
        match response.get("result") {
            Some(r) => r.clone(),
            None => self.fail(&format!("{method} failed: {response}")),
        }
    }

    /// The MCP handshake, as a client with no capabilities.
    pub fn initialize(&mut self) -> Value {
        let result = self.result(
            "initialize",
            json!({
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": { "name": "toolgate-e2e-raw", "version": "1.0.0" },
            }),
        );
        self.notify("notifications/initialized", json!({}));
        result
    }

    /// Every exposed tool name (all pages).
    pub fn tool_names(&mut self) -> Vec<String> {
        let mut names = Vec::new();
        let mut cursor: Option<Value> = None;
        loop {
            let params = match &cursor {
                Some(c) => json!({ "cursor": c }),
                None => json!({}),
            };
            let page = self.result("tools/list", params);
            for t in page["tools"].as_array().expect("tools array") {
                names.push(t["name"].as_str().expect("a name").to_owned());
            }
            match page.get("nextCursor") {
                Some(c) if !c.is_null() => cursor = Some(c.clone()),
                _ => return names,
            }
        }
    }

    /// Closes toolgate's stdin (the IDE going away).
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Waits for toolgate to exit (bounded), then checks every line it still
    /// wrote to stdout. The reader thread keeps draining stdout meanwhile, so
    /// toolgate never blocks on a full pipe.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        if !super::wait_gone(self.pid(), limit) {
            self.fail(&format!("toolgate did not exit within {limit:?}"));
        }
        let status = self.child.wait().expect("wait for toolgate");
        // Until the reader sees the end of stdout.
        while self.recv_within(WAIT).is_some() {}
        status
    }

    /// Closes stdin and checks that toolgate exits with status 0, writing only
    /// JSON-RPC to stdout until the end.
    pub fn finish(mut self) {
        self.close_stdin();
        let status = self.wait_exit(WAIT);
        if !status.success() {
            self.fail(&format!("toolgate exited with {status:?}"));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Checks that a line is one JSON-RPC 2.0 message: a request, a
/// notification, or a response (result xor error, with an id).
pub fn check_message(line: &str) -> Result<Value, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let o = v.as_object().ok_or("not an object")?;
    if o.get("jsonrpc") != Some(&json!("2.0")) {
        return Err("jsonrpc is not \"2.0\"".into());
    }
    let id_ok = |id: &Value| id.is_string() || id.is_number();
    match (o.get("method"), o.get("result"), o.get("error")) {
        (Some(m), None, None) if m.is_string() => match o.get("id") {
            None => Ok(v),
            Some(id) if id_ok(id) => Ok(v),
            Some(_) => Err("a request id must be a string or a number".into()),
        },
        (None, Some(_), None) => match o.get("id") {
            Some(id) if id_ok(id) => Ok(v),
            _ => Err("a result needs a string or number id".into()),
        },
        (None, None, Some(e)) => {
            if !e["code"].is_i64() || !e["message"].is_string() {
                return Err("an error needs an integer code and a message".into());
            }
            match o.get("id") {
                Some(id) if id_ok(id) || id.is_null() => Ok(v),
                _ => Err("an error needs an id (null when unknown)".into()),
            }
        }
        _ => Err("neither a request, a notification nor a response".into()),
    }
}

/// Fails unless `response` (to a tools/call of `name`) says the tool is
/// unknown. toolgate's contract is JSON-RPC error -32602 "Unknown tool:
/// NAME"; an isError result of kind `unknown_tool` is accepted here so that
/// tests about something else do not fail on it (the contract itself is
/// `e2e::protocol::an_unknown_tool_is_invalid_params`).
pub fn assert_unknown_tool(response: &Value, name: &str) {
    let result = &response["result"];
    assert_eq!(
        result["isError"], true,
        "calling {name} succeeded: {response}"
    );
    assert_eq!(
        result["_meta"]["dev.toolgate/error"]["kind"], "unknown_tool",
        "{response}"
    );
}

/// `toolgate serve` whose IDE can vanish: [`Vanishing::vanish`] closes its
/// stdin and stdout together, as the OS does when the IDE process dies
/// (answers then fail with EPIPE). Reads with poll(2), on the test's own
/// thread, so that nothing else holds the read end of stdout.
pub struct Vanishing {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Option<std::process::ChildStdout>,
    pending: Vec<u8>,
    stderr: Arc<Mutex<String>>,
    /// Every message read so far, in order.
    pub seen: Vec<Value>,
}

impl Vanishing {
    pub fn start(home: &Home) -> Self {
        let mut cmd = home.toolgate(&["serve"]);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {cmd:?}: {e}"));
        let stderr_pipe = child.stderr.take().unwrap();
        let stderr = collect(stderr_pipe);
        Self {
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            child,
            pending: Vec::new(),
            stderr,
            seen: Vec::new(),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// What toolgate logged so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn send(&mut self, message: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin
            .write_all(format!("{message}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .expect("write to toolgate");
    }

    /// The next message within `limit`, if one comes (checked to be
    /// JSON-RPC).
    pub fn recv_within(&mut self, limit: Duration) -> Option<Value> {
        use std::os::fd::AsRawFd;
        let deadline = Instant::now() + limit;
        loop {
            if let Some(at) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=at).collect();
                let line = String::from_utf8_lossy(&line[..at]).into_owned();
                let m = check_message(&line).unwrap_or_else(|why| {
                    panic!("a line on stdout is not a JSON-RPC message ({why}): {line}")
                });
                self.seen.push(m.clone());
                return Some(m);
            }
            let stdout = self.stdout.as_mut()?;
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd {
                fd: stdout.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) };
            if ready == 0 {
                return None;
            }
            let mut buf = [0u8; 65536];
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// Reads until the response to `id` (within [`WAIT`]).
    pub fn until_response(&mut self, id: &Value) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv_within(left) {
                Some(m) if m.get("id") == Some(id) && m.get("method").is_none() => return m,
                Some(_) => {}
                None => panic!(
                    "no response to id {id} within {WAIT:?}\n---- toolgate stderr ----\n{}",
                    self.stderr()
                ),
            }
        }
    }

    /// The IDE process goes away: its ends of both pipes close.
    pub fn vanish(&mut self) {
        self.stdin.take();
        self.stdout.take();
    }

    /// Waits (bounded) for toolgate to exit; its status.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        assert!(
            super::wait_gone(self.pid(), limit),
            "toolgate did not exit within {limit:?}\n---- toolgate stderr ----\n{}",
            self.stderr()
        );
        self.child.wait().expect("wait for toolgate")
    }
}

impl Drop for Vanishing {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Gathers what a child writes to stderr, on a thread of its own, so that
/// the pipe never fills up.
fn collect(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}
