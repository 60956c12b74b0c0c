//! Raw JSON-RPC, for what no SDK client sends: malformed lines, requests
//! before initialize, batches, oversized lines. toolgate answers each with a
//! JSON-RPC error, keeps serving, and writes nothing but JSON-RPC messages
//! to stdout ([`Serve`] checks every line it reads).

use serde_json::{Value, json};

use crate::support::{Home, Serve, Server, assert_unknown_tool};

fn serve_with_time(serve_settings: &str) -> (Home, Serve) {
    let home = Home::new();
    home.write_config(serve_settings, &[Server::time(&home.tb)]);
    let serve = Serve::start(&home);
    (home, serve)
}

fn error_code(response: &Value) -> i64 {
    response["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("not an error response: {response}"))
}

/// toolgate still answers, and its upstream still works.
fn still_serving(serve: &mut Serve) {
    serve.result("ping", json!({}));
    let r = serve.result(
        "tools/call",
        json!({ "name": "time__get_current_time", "arguments": { "timezone": "UTC" } }),
    );
    assert_eq!(r["isError"], false, "{r}");
}

#[test]
fn malformed_json_is_a_parse_error_with_a_null_id() {
    let (_home, mut serve) = serve_with_time("list_wait = \"30s\"");
    serve.initialize();
    serve.send_line("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":");
    let r = serve.recv();
    assert_eq!(error_code(&r), -32700, "{r}");
    assert_eq!(r["id"], Value::Null, "{r}");
    serve.send_line("this is not json");
    assert_eq!(error_code(&serve.recv()), -32700);
    still_serving(&mut serve);
    serve.finish();
}

#[test]
fn a_request_before_initialize_is_refused() {
    let (_home, mut serve) = serve_with_time("list_wait = \"30s\"");
    let r = serve.request("tools/list", json!({}));
    assert!(error_code(&r) < 0, "{r}");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(message.contains("initialize"), "{r}");
    serve.initialize();
    still_serving(&mut serve);
    serve.finish();
}

#[test]
fn an_unknown_method_is_method_not_found() {
    let (_home, mut serve) = serve_with_time("list_wait = \"30s\"");
    serve.initialize();
    let r = serve.request("tools/frobnicate", json!({}));
    assert_eq!(error_code(&r), -32601, "{r}");
    // An unknown notification gets no answer at all.
    serve.notify("notifications/frobnicated", json!({}));
    still_serving(&mut serve);
    serve.finish();
}

/// An unknown tool is answered as the TypeScript SDK (and so server-everything)
/// answers it: a tool result with `isError`, which the agent reads and can act
/// on, rather than a JSON-RPC error; the conformance suite's tool scenarios
/// pass through toolgate only this way. The detail is under `_meta`.
#[test]
fn an_unknown_tool_is_a_tool_error_naming_it() {
    let (_home, mut serve) = serve_with_time("list_wait = \"30s\"");
    serve.initialize();
    let r = serve.request(
        "tools/call",
        json!({ "name": "time__no_such_tool", "arguments": {} }),
    );
    assert!(r.get("error").is_none(), "{r}");
    assert_eq!(r["result"]["isError"], true, "{r}");
    let text = r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains("Unknown tool: time__no_such_tool"), "{r}");
    assert_eq!(
        r["result"]["_meta"]["dev.toolgate/error"]["kind"], "unknown_tool",
        "{r}"
    );
    serve.finish();
}

/// An unknown tool is refused, the upstream's own
/// (unprefixed) name is not exposed, and serving goes on.
#[test]
fn an_unknown_tool_is_refused() {
    let (_home, mut serve) = serve_with_time("list_wait = \"30s\"");
    serve.initialize();
    for name in [
        "time__no_such_tool",
        "get_current_time",
        "nope__get_current_time",
    ] {
        let r = serve.request("tools/call", json!({ "name": name, "arguments": {} }));
        assert_unknown_tool(&r, name);
    }
    still_serving(&mut serve);
    serve.finish();
}

#[test]
fn an_upstream_json_rpc_error_passes_through() {
    let home = Home::new();
    home.config(&[Server::fixture(&home.tb, "paged")]);
    let mut serve = Serve::start(&home);
    serve.initialize();
    // paged.py answers an unknown resource with its own -32602.
    let r = serve.request("resources/read", json!({ "uri": "paged://r/99" }));
    assert_eq!(error_code(&r), -32602, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Unknown resource: paged://r/99"),
        "{r}"
    );
    serve.finish();
}

#[test]
fn a_batch_is_an_invalid_request() {
    let (_home, mut serve) = serve_with_time("list_wait = \"30s\"");
    serve.initialize();
    serve.send_line(
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}]"#,
    );
    let r = serve.recv();
    assert_eq!(error_code(&r), -32600, "{r}");
    assert_eq!(r["id"], Value::Null, "{r}");
    still_serving(&mut serve);
    serve.finish();
}

#[test]
fn invalid_json_rpc_is_an_invalid_request() {
    let (_home, mut serve) = serve_with_time("list_wait = \"30s\"");
    serve.initialize();
    serve.send_line(r#"{"jsonrpc":"1.0","id":7,"method":"ping"}"#);
    let r = serve.recv();
    assert_eq!(error_code(&r), -32600, "{r}");
    serve.send_line(r#"{"jsonrpc":"2.0","id":{"an":"object"},"method":"ping"}"#);
    let r = serve.recv();
    assert_eq!(error_code(&r), -32600, "{r}");
    assert_eq!(r["id"], Value::Null, "{r}");
    still_serving(&mut serve);
    serve.finish();
}

#[test]
fn an_oversized_line_is_refused_and_serving_goes_on() {
    let (_home, mut serve) = serve_with_time("list_wait = \"30s\"\nmax_message_size = 4096");
    serve.initialize();
    let pad = "x".repeat(10 * 1024);
    serve.send(&json!({
        "jsonrpc": "2.0", "id": 42, "method": "tools/call",
        "params": { "name": "time__get_current_time", "arguments": { "timezone": pad } },
    }));
    let r = serve.recv();
    assert!(error_code(&r) < 0, "{r}");
    assert_eq!(r["id"], 42, "the id at the start of the line is found: {r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("4096"),
        "{r}"
    );
    still_serving(&mut serve);
    serve.finish();
}

/// The ids of requests come back exactly as sent, whatever their type.
#[test]
fn request_ids_come_back_unchanged() {
    let (_home, mut serve) = serve_with_time("list_wait = \"30s\"");
    serve.initialize();
    for id in [
        json!(0),
        json!(-5),
        json!("a string"),
        json!("7"),
        json!(123_456_789_012_u64),
    ] {
        serve.send(&json!({ "jsonrpc": "2.0", "id": id, "method": "ping" }));
        let (r, _) = serve.until_response(&id);
        assert_eq!(r["result"], json!({}), "{r}");
    }
    serve.finish();
}

/// Many calls in flight at once on one connection, answered out of order
/// by two upstreams: each answer goes to its own id.
#[test]
fn concurrent_calls_are_answered_each_by_id() {
    let home = Home::new();
    home.config(&[Server::time(&home.tb), Server::everything(&home.tb)]);
    let mut serve = Serve::start(&home);
    serve.initialize();
    serve.tool_names();
    for i in 0..20 {
        let (name, args) = if i % 2 == 0 {
            ("everything__echo", json!({ "message": format!("m{i}") }))
        } else {
            ("time__get_current_time", json!({ "timezone": "UTC" }))
        };
        serve.send(&json!({
            "jsonrpc": "2.0", "id": i, "method": "tools/call",
            "params": { "name": name, "arguments": args },
        }));
    }
    let mut answered = std::collections::BTreeSet::new();
    while answered.len() < 20 {
        let m = serve.recv();
        let Some(id) = m["id"].as_i64().filter(|_| m.get("method").is_none()) else {
            continue;
        };
        let text = m["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        if id % 2 == 0 {
            assert_eq!(text, format!("Echo: m{id}"), "{m}");
        } else {
            assert!(text.contains("\"timezone\": \"UTC\""), "{m}");
        }
        assert!(answered.insert(id), "answered twice: {m}");
    }
    serve.finish();
}

#[test]
fn initialize_answers_with_toolgates_capabilities_and_version() {
    let (_home, mut serve) = serve_with_time("list_wait = \"30s\"");
    let r = serve.result(
        "initialize",
        json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": { "name": "raw", "version": "1" },
        }),
    );
    assert_eq!(r["protocolVersion"], "2025-06-18", "{r}");
    assert_eq!(r["serverInfo"]["name"], "toolgate", "{r}");
    for cap in ["tools", "prompts", "resources", "logging", "completions"] {
        assert!(r["capabilities"].get(cap).is_some(), "{cap}: {r}");
    }
    // A version toolgate does not know gets its newest.
    let (_home2, mut other) = serve_with_time("");
    let r = other.result(
        "initialize",
        json!({ "protocolVersion": "1999-01-01", "capabilities": {}, "clientInfo": { "name": "x", "version": "1" } }),
    );
    assert_eq!(r["protocolVersion"], "2025-11-25", "{r}");
    let again = other.request(
        "initialize",
        json!({ "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "x", "version": "1" } }),
    );
    assert!(again.get("error").is_some(), "a second initialize: {again}");
    other.finish();
    serve.finish();
}

/// 2025-06-18 and 2025-11-25 work end to end: the IDE gets its version, the
/// upstream (server-everything) is asked for the same one, and a call with
/// structured output goes through. A 2026-07-28 client is answered with
/// 2025-11-25, on purpose (see the README's protocol section).
#[test]
fn each_protocol_version_works_end_to_end() {
    for (asked, answered) in [
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("2026-07-28", "2025-11-25"),
    ] {
        let home = Home::new();
        home.write_config("list_wait = \"30s\"", &[Server::everything(&home.tb)]);
        let mut serve = Serve::start(&home);
        let r = serve.result(
            "initialize",
            json!({
                "protocolVersion": asked,
                "capabilities": {},
                "clientInfo": { "name": "raw", "version": "1" },
            }),
        );
        assert_eq!(r["protocolVersion"], answered, "asked {asked}: {r}");
        serve.notify("notifications/initialized", json!({}));
        let echo = serve.result(
            "tools/call",
            json!({ "name": "everything__echo", "arguments": { "message": asked } }),
        );
        assert_eq!(
            echo["content"][0]["text"],
            format!("Echo: {asked}"),
            "{echo}"
        );
        let structured = serve.result(
            "tools/call",
            json!({ "name": "everything__get-structured-content", "arguments": { "location": "New York" } }),
        );
        assert!(
            structured.get("structuredContent").is_some(),
            "asked {asked}: {structured}"
        );
        serve.finish();
        // The upstream negotiated the IDE's version (the governance log says so).
        let logs = std::fs::read_dir(home.path().join("state/logs"))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect::<String>();
        assert!(
            logs.contains(&format!("protocol_version=\"{answered}\"")),
            "asked {asked}: no upstream on {answered} in the log:\n{logs}"
        );
    }
}
