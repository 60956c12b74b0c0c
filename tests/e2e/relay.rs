//! Requests from upstreams to the client (sampling, elicitation, roots) and
//! log messages, relayed through toolgate (tests/fixtures/relay.py).

use serde_json::json;

use crate::support::{Home, Serve, Server, py};

fn relay() -> Home {
    let home = Home::new();
    home.config(&[Server::fixture(&home.tb, "relay")]);
    home
}

#[test]
fn sampling_elicitation_and_roots_reach_a_client_that_declared_them() {
    py(&relay(), "relay_declared");
}

#[test]
fn a_client_without_those_capabilities_gets_an_error_not_a_hang() {
    py(&relay(), "relay_undeclared");
}

#[test]
fn log_messages_reach_the_client_after_set_level() {
    py(&relay(), "logging_relayed");
}

/// On the wire: the relayed request carries toolgate's own id; the client's
/// answer (with that id) goes back to the upstream's request, and an error
/// answer becomes the tool's error.
#[test]
fn relayed_requests_use_toolgate_ids_and_answers_find_their_way_back() {
    let home = relay();
    let mut serve = Serve::start(&home);
    serve.result(
        "initialize",
        json!({
            "protocolVersion": "2025-06-18",
            "capabilities": { "sampling": {}, "roots": { "listChanged": true } },
            "clientInfo": { "name": "raw", "version": "1" },
        }),
    );
    serve.notify("notifications/initialized", json!({}));
    serve.tool_names();
    serve.send(&json!({
        "jsonrpc": "2.0", "id": "call-1", "method": "tools/call",
        "params": { "name": "relay__ask_roots", "arguments": {} },
    }));
    let request = serve.recv();
    assert_eq!(request["method"], "roots/list", "{request}");
    let id = request["id"].clone();
    serve.send(&json!({
        "jsonrpc": "2.0", "id": id,
        "result": { "roots": [{ "uri": "file:///r1" }, { "uri": "file:///r2" }] },
    }));
    let (response, _) = serve.until_response(&json!("call-1"));
    assert_eq!(
        response["result"]["content"][0]["text"], "file:///r1,file:///r2",
        "{response}"
    );

    serve.send(&json!({
        "jsonrpc": "2.0", "id": "call-2", "method": "tools/call",
        "params": { "name": "relay__ask_sampling", "arguments": { "prompt": "p" } },
    }));
    let request = serve.recv();
    assert_eq!(request["method"], "sampling/createMessage", "{request}");
    assert_ne!(request["id"], id, "toolgate reused a relayed request id");
    serve.send(&json!({
        "jsonrpc": "2.0", "id": request["id"],
        "error": { "code": -32000, "message": "the user refused" },
    }));
    let (response, _) = serve.until_response(&json!("call-2"));
    assert_eq!(response["result"]["isError"], true, "{response}");
    let text = response["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("-32000") && text.contains("the user refused"),
        "{text}"
    );
    serve.finish();
}

/// When toolgate gives up on a call (timeout) the upstream abandons the
/// sampling request it made for it, and toolgate tells the client, under
/// the id the client knows that request by.
#[test]
fn an_abandoned_relayed_request_is_cancelled_at_the_client_under_its_id() {
    let home = Home::new();
    home.config(&[Server::fixture(&home.tb, "relay").timeout("1s")]);
    let mut serve = Serve::start(&home);
    serve.result(
        "initialize",
        json!({
            "protocolVersion": "2025-11-25",
            "capabilities": { "sampling": {} },
            "clientInfo": { "name": "raw", "version": "1" },
        }),
    );
    serve.notify("notifications/initialized", json!({}));
    serve.tool_names();
    serve.send(&json!({
        "jsonrpc": "2.0", "id": "call-1", "method": "tools/call",
        "params": { "name": "relay__ask_sampling", "arguments": {} },
    }));
    let request = serve.recv();
    assert_eq!(request["method"], "sampling/createMessage", "{request}");
    // Not answered: the call times out after 1 s.
    let (response, _) = serve.until_response(&json!("call-1"));
    assert_eq!(
        response["result"]["_meta"]["dev.toolgate/error"]["kind"], "timeout",
        "{response}"
    );
    let cancelled = serve.until_notification("notifications/cancelled");
    assert_eq!(
        cancelled["params"]["requestId"], request["id"],
        "{cancelled}"
    );
    // A late answer to it is harmless.
    serve.send(&json!({
        "jsonrpc": "2.0", "id": request["id"],
        "result": { "role": "assistant", "content": { "type": "text", "text": "late" }, "model": "m" },
    }));
    let r = serve.result(
        "tools/call",
        json!({ "name": "relay__ask_log", "arguments": {} }),
    );
    assert_eq!(r["content"][0]["text"], "logged", "{r}");
    serve.finish();
}

#[test]
fn server_everything_sampling_elicitation_and_roots_through_toolgate() {
    let home = Home::new();
    home.config(&[Server::everything(&home.tb)]);
    py(&home, "relay_everything");
}
