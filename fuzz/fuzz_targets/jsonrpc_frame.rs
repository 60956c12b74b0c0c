//! The JSON-RPC line framing and message decoding, on both sides.
//!
//! The input is a byte stream as it would arrive on a pipe. It goes:
//! 1. through `jsonrpc::read_line` (small buffer and limit, so lines span
//!    reads and some are too long), `jsonrpc::parse`, `jsonrpc::shallow`
//!    and friends, `sniff_id`, the cursor decoder and the upstream SSE
//!    parser: the pure decoding;
//! 2. into `proxy::serve` as the IDE's stdin (no upstreams): everything
//!    toolgate writes back must be JSON-RPC responses, one per line;
//! 3. into an upstream `Connection`'s reader with three requests pending
//!    (one with a progress route, one answered straight to the IDE): what
//!    it writes to the upstream and to the IDE must be JSON-RPC lines.
//!
//! Nothing may panic on any input.
#![no_main]

use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use tokio::io::{AsyncWrite, BufReader};
use toolgate::jsonrpc::{self, Kind, Line};
use toolgate::upstream::conn::{Connection, DirectReply, ProgressRoute};
use toolgate::wire::Outbound;

/// A writer that keeps what it is given.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a runtime")
    })
}

/// Every line toolgate wrote must be one JSON-RPC 2.0 message. Members
/// are read raw, as toolgate forwards them: a string with a lone surrogate
/// escape (`"\ud800"`) is valid JSON text that serde_json's `Value`
/// refuses, and toolgate passes it through verbatim.
fn check_lines(what: &str, out: &[u8], responses_only: bool) {
    if out.is_empty() {
        return;
    }
    assert_eq!(
        out.last(),
        Some(&b'\n'),
        "{what}: output does not end a line"
    );
    for line in out[..out.len() - 1].split(|&b| b == b'\n') {
        let shown = || String::from_utf8_lossy(line).into_owned();
        let obj: BTreeMap<String, Box<RawValue>> =
            serde_json::from_slice(line).unwrap_or_else(|e| {
                panic!(
                    "{what}: wrote a line that is not a JSON object ({e}): {}",
                    shown()
                )
            });
        assert_eq!(
            obj.get("jsonrpc").map(|v| v.get()),
            Some("\"2.0\""),
            "{what}: {}",
            shown()
        );
        let is_response = obj.contains_key("result") ^ obj.contains_key("error");
        if responses_only {
            assert!(
                is_response && obj.contains_key("id"),
                "{what}: not a response: {}",
                shown()
            );
        } else {
            assert!(
                is_response || obj.contains_key("method"),
                "{what}: not a message: {}",
                shown()
            );
        }
    }
}

/// What the proxy and the upstream reader do with the members of a message.
fn members(raw: &RawValue) {
    let borrowed = jsonrpc::shallow_borrowed(raw);
    let Ok(mut m) = jsonrpc::shallow(raw) else {
        assert!(
            borrowed.is_err(),
            "shallow_borrowed took what shallow refused"
        );
        return;
    };
    // The fast path's parse and rewrite: the same members, and JSON out.
    let b = borrowed.expect("shallow_borrowed refused what shallow took");
    assert_eq!(b.len(), m.len());
    let mut out = Vec::new();
    let replace: [(&str, &[u8]); 2] = [("name", b"\"x\""), ("_meta", b"{}")];
    jsonrpc::push_object(&mut out, &b, &replace);
    serde_json::from_slice::<Box<RawValue>>(&out).expect("push_object wrote invalid JSON");
    if let Some(name) = jsonrpc::member(&b, "name") {
        assert_eq!(
            jsonrpc::str_value(name).map(|n| n.into_owned()),
            serde_json::from_str::<String>(name.get()).ok()
        );
    }
    // Rewritten objects must stay JSON (the proxy `expect`s it).
    let back = jsonrpc::unshallow(&m);
    serde_json::from_str::<Box<RawValue>>(&back).expect("unshallow wrote invalid JSON");
    if let Some(meta) = jsonrpc::member(&m, "_meta").and_then(|v| jsonrpc::shallow(v).ok()) {
        let _ = jsonrpc::member(&meta, "progressToken").map(|t| t.get().parse::<u64>());
    }
    if let Some(c) = jsonrpc::member(&m, "cursor")
        && let Ok(text) = serde_json::from_str::<String>(c.get())
    {
        let _ = toolgate::proxy::cursor::Cursor::decode(&text, "tools/list");
    }
    if let Some(name) = jsonrpc::member(&m, "name")
        && let Ok(name) = serde_json::from_str::<String>(name.get())
    {
        let _ = toolgate::proxy::names::expose("server", "pre", &name, 48);
    }
    jsonrpc::set_member(&mut m, "progressToken", jsonrpc::raw(&7u64));
    jsonrpc::set_member(&mut m, "name", jsonrpc::raw("x"));
    let back = jsonrpc::unshallow(&m);
    serde_json::from_str::<Box<RawValue>>(&back).expect("unshallow wrote invalid JSON");
}

fn decode(line: &[u8]) {
    let _ = jsonrpc::escape_for_log(line, 120);
    match jsonrpc::parse(line) {
        Ok(Kind::Request { id, method, params }) => {
            let _ = jsonrpc::response(id, "{}");
            let _ = jsonrpc::notification(&method, params.map(RawValue::get));
            if let Some(p) = params {
                members(p);
            }
        }
        Ok(Kind::Notification { params, .. }) => {
            if let Some(p) = params {
                members(p);
            }
        }
        Ok(Kind::Response { id, outcome }) => {
            let out = match outcome {
                Ok(r) => jsonrpc::response(id, r.get()),
                Err(e) => jsonrpc::error_raw(Some(id), e.get()),
            };
            check_lines("response", &out, true);
            if let Ok(r) = outcome {
                members(r);
            }
        }
        Err(jsonrpc::Malformed::Invalid { id, why }) => {
            let out = jsonrpc::error(id, jsonrpc::code::INVALID_REQUEST, why, None);
            check_lines("error", &out, true);
        }
        Err(_) => {}
    }
}

/// 1: framing and decoding, without the proxy around them.
async fn pure(data: &[u8]) {
    for (capacity, limit) in [(7, 64), (4096, 1 << 20)] {
        let mut reader = BufReader::with_capacity(capacity, data);
        let mut buf = Vec::new();
        loop {
            let line = jsonrpc::read_line(&mut reader, &mut buf, limit)
                .await
                .unwrap();
            match line {
                Line::Message(m) => {
                    assert!(m.len() <= limit, "a line over the limit was returned");
                    assert!(!m.contains(&b'\n'), "a line holds a newline");
                    decode(&m);
                }
                Line::TooLong { head, len } => {
                    assert!(len > limit && head.len() <= 512);
                    if let Some(id) = jsonrpc::sniff_id(&head) {
                        let _ = serde_json::from_str::<Box<RawValue>>(&id);
                    }
                }
                Line::Eof => break,
            }
        }
    }
    // The streamable-HTTP side: an SSE stream, cut in two.
    let mut sse = toolgate::upstream::http::SseParser::new(4096);
    let cut = data.len() / 2;
    for part in [&data[..cut], &data[cut..], b"\n\n".as_slice()] {
        for event in sse.feed(part) {
            decode(&event.data);
        }
    }
}

/// 2: the IDE's side, through the real front.
async fn downstream(data: &[u8]) {
    let mut config = toolgate::config::Config::default();
    config.serve.max_message_size = 2048;
    let out = Capture::default();
    let input = std::io::Cursor::new(data.to_vec());
    toolgate::proxy::serve(
        &config,
        Box::pin(input),
        Box::pin(out.clone()),
        std::future::pending(),
    )
    .await
    .expect("serve ends cleanly at the end of its input");
    check_lines("serve", &out.take(), true);
}

/// 3: an upstream's side, through a real connection's reader.
async fn upstream(data: &[u8]) {
    let to_upstream = Capture::default();
    let to_ide = Capture::default();
    let ide = Arc::new(Outbound::new(Box::pin(to_ide.clone())));
    let conn = Connection::new(
        "fuzz".into(),
        Arc::new(Outbound::new(Box::pin(to_upstream.clone()))),
    );
    let hour = Duration::from_secs(3600);
    let progress = ProgressRoute {
        token: jsonrpc::raw("ide-token"),
        sink: ide.clone(),
    };
    let mut waiting = Vec::new();
    let p = |id: u64| {
        Some(format!(
            r#"{{"name":"t","_meta":{{"progressToken":{id}}}}}"#
        ))
    };
    waiting.push(
        conn.start("tools/call", p, Some(progress), None, hour)
            .await
            .unwrap(),
    );
    let direct = DirectReply {
        id: "\"ide-2\"".into(),
        sink: ide.clone(),
        before: None,
    };
    waiting.push(
        conn.start("tools/call", |_| None, None, Some(direct), hour)
            .await
            .unwrap(),
    );
    waiting.push(
        conn.start("ping", |_| None, None, None, hour)
            .await
            .unwrap(),
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let reader = BufReader::with_capacity(64, std::io::Cursor::new(data.to_vec()));
    let _why = conn.clone().read_loop(reader, 1024, tx).await;
    for w in waiting {
        let _ = conn.wait(w, std::future::pending()).await;
    }
    while let Ok(inbound) = rx.try_recv() {
        drop(inbound);
    }
    check_lines("to the upstream", &to_upstream.take(), false);
    check_lines("to the IDE", &to_ide.take(), false);
}

/// Lets the tasks that were told to end (aborted, or woken by a close) run
/// to their end, and checks that none outlives what spawned it.
async fn settle(what: &str) {
    let alive = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    for _ in 0..64 {
        if alive() == 0 {
            return;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(alive(), 0, "{what}: tasks outlived it");
}

fuzz_target!(|data: &[u8]| {
    runtime().block_on(async {
        pure(data).await;
        downstream(data).await;
        settle("serve").await;
        upstream(data).await;
        settle("the upstream reader").await;
    });
});
