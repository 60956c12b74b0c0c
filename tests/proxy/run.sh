#!/usr/bin/env bash
# Runs `toolgate call` against server-everything over streamable HTTP, once
# with HTTP_PROXY pointing at a recording forward proxy and once with
# NO_PROXY naming the upstream's host, all in a private network namespace
# (server-everything binds every interface). Prints the proxy's log between
# markers; the Rust test checks it.
set -euo pipefail
: "${TESTBED_EVERYTHING:?}" "${TESTBED_PYTHON:?}" "${TOOLGATE_BIN:?}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec unshare -n bash -c '
set -euo pipefail
ip link set lo up
home=$(mktemp -d)
trap "kill \$ev \$px 2>/dev/null || true; rm -rf \"\$home\"" EXIT
PORT=0 "$TESTBED_EVERYTHING" streamableHttp >/dev/null 2>&1 &
ev=$!
port=""
for _ in $(seq 200); do
    port=$(ss -ltnpH | grep "pid=$ev," | awk "{print \$4}" | sed "s/.*://" | head -1 || true)
    [[ -n "$port" ]] && break
    sleep 0.05
done
[[ -n "$port" ]] || { echo "server-everything did not listen" >&2; exit 1; }
coproc PROXY { exec "$TESTBED_PYTHON" "$0/forward_proxy.py" "$home/proxy.log"; }
px=$PROXY_PID
read -r proxy_port <&"${PROXY[0]}"
printf "[servers.remote]\nurl = \"http://127.0.0.1:%s/mcp\"\n" "$port" >"$home/config.toml"
export TOOLGATE_HOME="$home"
echo "== via proxy"
HTTP_PROXY="http://127.0.0.1:$proxy_port" "$TOOLGATE_BIN" call remote__echo --args "{\"message\":\"proxied\"}"
echo "== proxy log"
cat "$home/proxy.log"
: >"$home/proxy.log"
echo "== no_proxy"
HTTP_PROXY="http://127.0.0.1:$proxy_port" NO_PROXY="127.0.0.1" "$TOOLGATE_BIN" call remote__echo --args "{\"message\":\"direct\"}"
echo "== proxy log after no_proxy"
cat "$home/proxy.log"
echo "== end"
' "$here"
