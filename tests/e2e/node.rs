//! The npm `@modelcontextprotocol/sdk` client through toolgate.

use crate::support::{Client, Home, Server, run_client};

#[test]
fn node_sdk_lists_calls_and_gets_progress() {
    let home = Home::new();
    home.config(&[Server::everything(&home.tb)]);
    run_client(&home, Client::Node, "list_call_progress");
}
