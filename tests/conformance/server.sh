#!/usr/bin/env bash
# Runs the official conformance suite's server scenarios against
# server-everything over streamable HTTP, either directly ("direct") or
# through `toolgate serve --listen` with server-everything as its only,
# unprefixed, stdio upstream ("via"). Prints the suite's output.
#
# server-everything binds every interface, so the direct run happens in a
# private network namespace (loopback only). Ports are chosen by the
# kernel (port 0) and read back.
set -euo pipefail
mode="$1"
out="$2"
: "${TESTBED_EVERYTHING:?source target/testbed/env.sh first}"
: "${TOOLGATE_BIN:?set TOOLGATE_BIN}"

wait_for_port() { # PID -> port, from the namespace's listening sockets
    local pid="$1" port=""
    for _ in $(seq 200); do
        port=$(ss -ltnpH 2>/dev/null | grep "pid=$pid," | awk '{print $4}' | sed "s/.*://" | head -1 || true)
        [[ -n "$port" ]] && { echo "$port"; return 0; }
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

case "$mode" in
direct)
    exec unshare -n bash -c '
        set -euo pipefail
        ip link set lo up
        PORT=0 "$TESTBED_EVERYTHING" streamableHttp >/dev/null 2>&1 &
        pid=$!
        trap "kill $pid 2>/dev/null || true" EXIT
        port=$("$0" --port-of "$pid")
        "$TESTBED_CONFORMANCE" server --url "http://127.0.0.1:$port/mcp" -o "$1"
    ' "$0" "$out"
    ;;
--port-of)
    wait_for_port "$out"
    ;;
via)
    home=$(mktemp -d)
    trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$home"' EXIT
    printf '[serve]\nlist_wait = "60s"\n\n[servers.everything]\ncommand = "%s"\nprefix = ""\n' "$TESTBED_EVERYTHING" >"$home/config.toml"
    TOOLGATE_HOME="$home" "$TOOLGATE_BIN" serve --listen 127.0.0.1:0 --no-token 2>"$home/serve.err" &
    pid=$!
    port=""
    for _ in $(seq 200); do
        port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$home/serve.err" | sed 's/.*://' || true)
        [[ -n "$port" ]] && break
        sleep 0.05
    done
    [[ -n "$port" ]] || { cat "$home/serve.err" >&2; exit 1; }
    "$TESTBED_CONFORMANCE" server --url "http://127.0.0.1:$port/mcp" -o "$out"
    ;;
*)
    echo "usage: $0 direct|via OUTPUT_DIR" >&2
    exit 2
    ;;
esac
