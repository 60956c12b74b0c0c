//! The synthetic upstream of the scaling benchmark: the bench binary itself,
//! re-executed as `scaling --upstream ...`, serving MCP over stdio.
//!
//! It speaks newline-delimited JSON-RPC 2.0 by hand (serde_json only, no
//! async runtime) and does as little as it can, the same on every path, so
//! that what varies between the direct and the via path is toolgate:
//!
//! - `initialize`: echoes the client's `protocolVersion`, declares
//!   `capabilities: {tools: {}}`;
//! - notifications (and responses) are ignored;
//! - `tools/list`: the N tools `t00000`, `t00001`, ..., each with a
//!   description and a small `inputSchema` (see [`tool_def`]), in pages of
//!   `--page` tools (a `nextCursor` that is the offset of the next page);
//!   every page is serialised once, on first use;
//! - `tools/call` of any of its tools: one text content of exactly `bytes`
//!   bytes (the `bytes` argument, else `--bytes`); each size's answer is
//!   serialised once, on first use, then written as is;
//! - `ping`: `{}`; anything else with an id: method not found.
//!
//! Every message is flushed as soon as it is written. It exits when its
//! stdin closes (or a write fails), and never writes to stderr.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{BufRead, Write};

use serde_json::{Value, json};

/// First argument that turns the bench binary into the synthetic upstream.
pub const FLAG: &str = "--upstream";

/// What one synthetic upstream serves.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// Number of tools it lists.
    pub tools: usize,
    /// Size of a `tools/call` result's text when the call does not say.
    pub bytes: usize,
    /// Tools per `tools/list` page (0: all in one page).
    pub page: usize,
}

impl Spec {
    /// The arguments that start this upstream (after the program). `run`
    /// tags the process as this benchmark run's, for the leak check.
    pub fn args(&self, run: &str) -> Vec<String> {
        vec![
            FLAG.into(),
            "--run".into(),
            run.into(),
            "--tools".into(),
            self.tools.to_string(),
            "--bytes".into(),
            self.bytes.to_string(),
            "--page".into(),
            self.page.to_string(),
        ]
    }

    fn parse(args: &[String]) -> Result<Spec, String> {
        let mut spec = Spec {
            tools: 10,
            bytes: 1000,
            page: 1000,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = || {
                it.next()
                    .ok_or_else(|| format!("{a} needs a value"))
                    .cloned()
            };
            match a.as_str() {
                "--run" => {
                    value()?;
                }
                "--tools" | "--bytes" | "--page" => {
                    let v = value()?;
                    let n: usize = v.parse().map_err(|_| format!("{a}: not a number: {v}"))?;
                    match a.as_str() {
                        "--tools" => spec.tools = n,
                        "--bytes" => spec.bytes = n,
                        _ => spec.page = n,
                    }
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(spec)
    }
}

/// The name of tool `i`.
pub fn tool_name(i: usize) -> String {
    format!("t{i:05}")
}

/// The definition of tool `i` of `n`: shaped like a small real tool (a
/// title, a sentence of description, two documented optional arguments),
/// about 480 bytes of JSON. Nothing in it trips toolgate's poisoning scan.
pub fn tool_def(i: usize, n: usize) -> Value {
    json!({
        "name": tool_name(i),
        "title": format!("Synthetic tool {i}"),
        "description": format!(
            "Returns a text result of a fixed size. Tool {i} of {n} of a synthetic \
             server that measures how a gateway scales; the arguments are optional."
        ),
        "inputSchema": {
            "type": "object",
            "properties": {
                "bytes": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Size of the text result in bytes (the server's default when absent)."
                },
                "label": {
                    "type": "string",
                    "description": "Free text, ignored by the tool."
                }
            },
            "additionalProperties": false
        }
    })
}

/// `n` bytes of plain ASCII text (no escapes in JSON, so the text is
/// exactly `n` bytes on the wire too).
pub fn text_of(n: usize) -> String {
    const LOREM: &str = "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do \
                         eiusmod tempor incididunt ut labore et dolore magna aliqua. ";
    let mut s = String::with_capacity(n + LOREM.len());
    while s.len() < n {
        s.push_str(LOREM);
    }
    s.truncate(n);
    s
}

/// Runs the upstream on stdin/stdout; returns the exit status.
pub fn run(args: &[String]) -> i32 {
    let spec = match Spec::parse(args) {
        Ok(s) => s,
        Err(e) => {
            // The only stderr output: a broken command line.
            eprintln!("scaling --upstream: {e}");
            return 2;
        }
    };
    match serve(&spec) {
        Ok(()) => 0,
        // A write to a closed stdout: the client is gone.
        Err(_) => 0,
    }
}

struct Server<'a> {
    spec: &'a Spec,
    /// Serialised `tools/list` results, by page.
    pages: Vec<Option<String>>,
    /// Serialised `tools/call` results, by text size.
    results: HashMap<usize, String>,
}

fn serve(spec: &Spec) -> std::io::Result<()> {
    let per_page = if spec.page == 0 {
        spec.tools.max(1)
    } else {
        spec.page
    };
    let mut server = Server {
        spec,
        pages: vec![None; spec.tools.div_ceil(per_page).max(1)],
        results: HashMap::new(),
    };
    let stdin = std::io::stdin().lock();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    for line in stdin.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        // Notifications have no id; responses have no method.
        let (Some(id), Some(method)) = (msg.get("id"), msg.get("method").and_then(Value::as_str))
        else {
            continue;
        };
        let id = id.to_string();
        let params = msg.get("params");
        match server.answer(method, params, per_page) {
            Ok(result) => write_message(&mut out, &id, "result", &result)?,
            Err((code, message)) => {
                let error = json!({ "code": code, "message": message }).to_string();
                write_message(&mut out, &id, "error", &error)?;
            }
        }
    }
    Ok(())
}

impl Server<'_> {
    fn answer(
        &mut self,
        method: &str,
        params: Option<&Value>,
        per_page: usize,
    ) -> Result<Cow<'_, str>, (i64, String)> {
        match method {
            "initialize" => {
                let version = params
                    .and_then(|p| p.get("protocolVersion"))
                    .and_then(Value::as_str)
                    .unwrap_or("2025-06-18");
                Ok(Cow::Owned(
                    json!({
                        "protocolVersion": version,
                        "capabilities": { "tools": {} },
                        "serverInfo": { "name": "toolgate-scaling-upstream", "version": "1.0.0" },
                    })
                    .to_string(),
                ))
            }
            "ping" => Ok(Cow::Borrowed("{}")),
            "tools/list" => {
                let offset = match params.and_then(|p| p.get("cursor")) {
                    None | Some(Value::Null) => 0,
                    Some(c) => c
                        .as_str()
                        .and_then(|c| c.parse::<usize>().ok())
                        .filter(|o| o % per_page == 0 && *o < self.spec.tools)
                        .ok_or((-32602, format!("invalid cursor {c}")))?,
                };
                let index = offset / per_page;
                let (tools, spec) = (self.spec.tools, self.spec);
                let page = self.pages[index].get_or_insert_with(|| {
                    let end = (offset + per_page).min(tools);
                    let list: Vec<Value> = (offset..end).map(|i| tool_def(i, spec.tools)).collect();
                    let mut result = json!({ "tools": list });
                    if end < tools {
                        result["nextCursor"] = Value::String(end.to_string());
                    }
                    result.to_string()
                });
                Ok(Cow::Borrowed(page))
            }
            "tools/call" => {
                let name = params
                    .and_then(|p| p.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let known = name
                    .strip_prefix('t')
                    .and_then(|n| n.parse::<usize>().ok())
                    .is_some_and(|i| i < self.spec.tools && tool_name(i) == name);
                if !known {
                    return Err((-32602, format!("unknown tool {name:?}")));
                }
                let bytes = params
                    .and_then(|p| p.get("arguments"))
                    .and_then(|a| a.get("bytes"))
                    .and_then(Value::as_u64)
                    .map_or(self.spec.bytes, |b| b as usize);
                let result = self.results.entry(bytes).or_insert_with(|| {
                    json!({
                        "content": [{ "type": "text", "text": text_of(bytes) }],
                        "isError": false,
                    })
                    .to_string()
                });
                Ok(Cow::Borrowed(result))
            }
            other => Err((-32601, format!("method not found: {other}"))),
        }
    }
}

/// Writes `{"jsonrpc":"2.0","id":ID,"KEY":BODY}\n` and flushes. A large body
/// goes straight from its cache to the pipe (BufWriter passes big writes
/// through).
fn write_message(out: &mut impl Write, id: &str, key: &str, body: &str) -> std::io::Result<()> {
    out.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":")?;
    out.write_all(id.as_bytes())?;
    out.write_all(b",\"")?;
    out.write_all(key.as_bytes())?;
    out.write_all(b"\":")?;
    out.write_all(body.as_bytes())?;
    out.write_all(b"}\n")?;
    out.flush()
}
