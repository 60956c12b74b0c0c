#!/usr/bin/env bash
# mcp-hub bridged to stdio, for `cargo bench --bench peers` (path `mcp-hub`).
#
#   unshare --net -- bash benches/peers/mcp-hub-stdio.sh PORT CONFIG STATE MCP_HUB MCP_PROXY
#
# mcp-hub serves HTTP only, binds every interface, and fetches a marketplace
# list from the internet at start, so it runs in a private network namespace
# (the caller's `unshare --net`) with only loopback up. In it this script
# starts `mcp-hub --port PORT --config CONFIG` (an mcpServers file) in the
# background, waits until the port accepts connections, then becomes the
# stdio bridge an IDE would run: mcp-proxy's client mode pointed at the hub's
# single MCP endpoint, http://127.0.0.1:PORT/mcp (legacy SSE, mcp-proxy's
# default client transport). The bridge keeps this process's pid; the hub is
# its child. STATE holds the hub's HOME and XDG folders (logs, workspace
# cache), so nothing lands in the real home.
set -euo pipefail
port="$1" config="$2" state="$3" hub="$4" bridge="$5"

ip link set lo up
mkdir -p "$state"
export HOME="$state" XDG_STATE_HOME="$state/state" XDG_CONFIG_HOME="$state/config"
export XDG_CACHE_HOME="$state/cache" XDG_DATA_HOME="$state/data"

"$hub" --port "$port" --config "$config" </dev/null >>"$state/mcp-hub.out" 2>&1 &
hub_pid=$!
for ((i = 0; i < 6000; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        exec "$bridge" --log-level WARNING "http://127.0.0.1:$port/mcp"
    fi
    if ! kill -0 "$hub_pid" 2>/dev/null; then
        echo "mcp-hub exited before listening; its output:" >&2
        tail -n 20 "$state/mcp-hub.out" >&2
        exit 1
    fi
    sleep 0.01
done
echo "mcp-hub did not listen on port $port within 60 s" >&2
kill "$hub_pid" 2>/dev/null || true
exit 1
