//! End-to-end tests of toolgate: `toolgate serve` driven by real MCP clients
//! (the Python `mcp` SDK and the npm `@modelcontextprotocol/sdk`, scripts in
//! tests/clients/) and by raw JSON-RPC, against real upstream servers
//! (server-everything, mcp-server-time, and the fixtures of tests/fixtures/).
//!
//! Needs the test bed: `bash tests/testbed/setup.sh`.

mod conformance;
mod e2e;
mod proxy;
mod support;
