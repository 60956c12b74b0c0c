#!/usr/bin/env bash
# toolgate as the OAuth client under test of the conformance suite's auth
# scenarios: `conformance client --command "bash THIS" --suite auth`.
#
# The suite appends the protected MCP server's URL as the last argument and
# sets MCP_CONFORMANCE_SCENARIO (and, for pre-registered clients,
# MCP_CONFORMANCE_CONTEXT with client_id and client_secret). This script gives
# toolgate a fresh TOOLGATE_HOME with that server as "s", stores a
# pre-registered client secret with `toolgate secret set`, then runs
# `toolgate call s__test-tool`: connect (initialize), tools/list, tools/call,
# each of which may meet a 401 or 403 that toolgate must answer by itself.
# The "browser" is tests/fixtures/browser.sh (curl following redirects to
# toolgate's loopback listener). Needs TOOLGATE_BIN and a Secret Service.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
url="${!#}"
home="$(mktemp -d)"
trap 'rm -rf "$home"' EXIT
export TOOLGATE_HOME="$home" TOOLGATE_BROWSER="bash $here/../fixtures/browser.sh"
unset TOOLGATE_CONFIG TOOLGATE_KEYCHAIN
tg="${TOOLGATE_BIN:-toolgate}"

{
    printf '[servers.s]\nurl = "%s"\n\n[servers.s.oauth]\n' "$url"
    # The organisation's client ID metadata document (the suite's fixed URL;
    # used only where the authorization server supports such documents).
    printf 'client_metadata_url = "https://conformance-test.local/client-metadata.json"\n'
} >"$home/config.toml"

if [[ -n "${MCP_CONFORMANCE_CONTEXT:-}" ]]; then
    client_id="$(printf %s "$MCP_CONFORMANCE_CONTEXT" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("client_id") or "")')"
    client_secret="$(printf %s "$MCP_CONFORMANCE_CONTEXT" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("client_secret") or "")')"
    if [[ -n "$client_id" ]]; then
        printf 'client_id = "%s"\n' "$client_id" >>"$home/config.toml"
    fi
    if [[ -n "$client_secret" ]]; then
        printf %s "$client_secret" | "$tg" secret set s OAUTH_CLIENT_SECRET 2>/dev/null
        printf 'client_secret = "${secret:OAUTH_CLIENT_SECRET}"\n' >>"$home/config.toml"
    fi
fi

exec "$tg" call s__test-tool </dev/null
