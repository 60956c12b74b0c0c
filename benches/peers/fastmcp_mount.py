"""fastmcp in front of two MCP servers, the way its docs compose servers:
one `create_proxy(StdioTransport(...))` per upstream, each mounted on a
parent FastMCP server under the upstream's name as namespace (tools become
NAME_tool), served over stdio.

Used by `cargo bench --bench peers` (path `fastmcp-mount`); run with the
venv that benches/peers/setup.sh makes:

    target/peers/venv-fastmcp/bin/python benches/peers/fastmcp_mount.py mcp.json

mcp.json is an `mcpServers` file (the same one `fastmcp run` and
mcp-proxy's --named-server-config read): {"mcpServers": {"NAME":
{"command": ..., "args": [...], "env": {...}}}}. A stdio transport keeps its
upstream process alive across the proxy's per-request client sessions
(keep_alive, fastmcp's default), so each upstream starts once.
"""

import json
import sys

from fastmcp import FastMCP
from fastmcp.client.transports import StdioTransport
from fastmcp.server import create_proxy


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        config = json.load(f)
    hub = FastMCP("fastmcp-mount")
    for name, server in config["mcpServers"].items():
        transport = StdioTransport(
            command=server["command"],
            args=server.get("args", []),
            env=server.get("env"),
        )
        hub.mount(create_proxy(transport, name=name), namespace=name)
    hub.run(transport="stdio", show_banner=False, log_level="WARNING")


if __name__ == "__main__":
    main()
