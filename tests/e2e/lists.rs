//! Resources, resource templates, prompts and completions through toolgate,
//! and pagination across upstreams.

use serde_json::json;

use crate::support::{Home, Serve, Server, py};

fn everything() -> Home {
    let home = Home::new();
    home.config(&[Server::everything(&home.tb)]);
    home
}

#[test]
fn resources_list_read_and_templates() {
    py(&everything(), "resources_list_read_templates");
}

#[test]
fn resources_subscribe_relays_updates_and_unsubscribes() {
    py(&everything(), "resources_subscribe");
}

#[test]
fn prompts_list_get_and_complete() {
    py(&everything(), "prompts_list_get_complete");
}

/// paged.py lists 25 tools, 25 resources and 12 prompts in pages, next to
/// server-everything: following every cursor gives exactly the union.
#[test]
fn pages_of_every_upstream_give_exactly_the_union() {
    let home = Home::new();
    home.config(&[
        Server::everything(&home.tb),
        Server::fixture(&home.tb, "paged"),
    ]);
    py(&home, "pagination_union");
}

/// A cursor toolgate did not issue is refused, not passed to an upstream.
#[test]
fn a_forged_cursor_is_invalid_params() {
    let home = Home::new();
    home.config(&[Server::fixture(&home.tb, "paged")]);
    let mut serve = Serve::start(&home);
    serve.initialize();
    for method in ["tools/list", "resources/list", "prompts/list"] {
        let r = serve.request(method, json!({ "cursor": "not-a-toolgate-cursor" }));
        assert_eq!(r["error"]["code"], -32602, "{method}: {r}");
    }
    // A resources/list cursor is not a prompts/list cursor.
    let first = serve.result("resources/list", json!({}));
    let cursor = first["nextCursor"].clone();
    assert!(cursor.is_string(), "paged.py has more pages: {first}");
    let r = serve.request("prompts/list", json!({ "cursor": cursor }));
    assert_eq!(r["error"]["code"], -32602, "{r}");
    serve.finish();
}
