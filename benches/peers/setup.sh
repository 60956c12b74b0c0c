#!/usr/bin/env bash
# Installs the peer MCP aggregators that `cargo bench --bench peers` measures
# beside toolgate, into $TOOLGATE_PEERS_DIR (default: <repo>/target/peers):
#
#   venv-fastmcp/    PyPI fastmcp 4.1.2        (Python 3.11, requirements-fastmcp.txt)
#   venv-mcp-proxy/  PyPI mcp-proxy 0.13.0     (Python 3.11, requirements-mcp-proxy.txt)
#   venv-magg/       PyPI magg 1.3.0           (Python >= 3.12, requirements-magg.txt)
#   npm/             npm mcp-hub 4.2.1         (package.json + package-lock.json)
#
# Every version is pinned, transitive ones included. Each peer installs on its
# own: one that cannot (no Python 3.12 for magg, a registry error) is recorded
# as such and the others still install. The result is $dir/status.tsv, one
# line per peer: NAME <tab> ok|failed|skipped <tab> the executable, or why not.
#
# Idempotent: a stamp per peer holding a hash of its pinned inputs makes a
# second run return at once. Safe to run concurrently (flock). Prints one
# summary line per peer on stderr and nothing on stdout; details go to
# $dir/setup.log. Exit status 0 unless the status file cannot be written.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dir="${TOOLGATE_PEERS_DIR:-$repo/target/peers}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

exec 3>&2 1>&2

log="$dir/setup.log"
status="$dir/status.tsv"

# Serialize concurrent runs.
exec 9>"$dir/.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi

export CI=true
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
# Installs write .pyc files (pip compiles them anyway; this keeps it so).
unset PYTHONDONTWRITEBYTECODE

: >>"$log"
declare -A result

# stamp_of PEER INPUT...: the hash of the inputs and the install location.
stamp_of() {
    local peer="$1"
    shift
    { printf '%s\n%s\n' "$dir" "$peer"; cat "$@"; } | sha256sum | cut -d' ' -f1
}

# up_to_date PEER EXECUTABLE INPUT...
up_to_date() {
    local peer="$1" exe="$2"
    shift 2
    [[ -f "$dir/stamp-$peer" && -x "$exe" ]] || return 1
    [[ "$(cat "$dir/stamp-$peer")" == "$(stamp_of "$peer" "$@")" ]]
}

# run LABEL CMD...: quietly into the log, no stdin; returns the status.
run() {
    local label="$1"
    shift
    echo "==> $label: $*" >>"$log"
    "$@" </dev/null >>"$log" 2>&1
}

# A Python of at least the given minor version (3.N), or nothing.
find_python() {
    local minor="$1" cand v
    local cands=()
    if [[ "$minor" -ge 12 && -n "${TOOLGATE_PEERS_PYTHON312:-}" ]]; then
        cands+=("$TOOLGATE_PEERS_PYTHON312")
    fi
    cands+=(python3 python3.14 python3.13 python3.12 python3.11)
    local pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
    for v in "$pyenv_root"/versions/3.*/bin/python3; do
        [[ -x "$v" ]] && cands+=("$v")
    done
    for cand in "${cands[@]}"; do
        if command -v "$cand" >/dev/null 2>&1 &&
            "$cand" -c "import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, $minor) else 1)" >/dev/null 2>&1; then
            command -v "$cand"
            return 0
        fi
    done
    return 1
}

# install_venv PEER MINOR REQUIREMENTS EXECUTABLE-NAME
install_venv() {
    local peer="$1" minor="$2" req="$here/$3" exe_name="$4"
    local venv="$dir/venv-$peer" exe="$dir/venv-$peer/bin/$4"
    if up_to_date "$peer" "$exe" "$req" "$here/setup.sh"; then
        result[$peer]="ok	$exe"
        return 0
    fi
    rm -f "$dir/stamp-$peer"
    local python
    if ! python="$(find_python "$minor")"; then
        result[$peer]="skipped	needs Python >= 3.$minor, none found (tried python3, python3.1x, \$PYENV_ROOT/versions; set TOOLGATE_PEERS_PYTHON312)"
        return 0
    fi
    if [[ -x "$venv/bin/python" ]] && ! "$venv/bin/python" -c "import sys; sys.exit(0 if sys.version_info >= (3, $minor) else 1)" >/dev/null 2>&1; then
        rm -rf "$venv"
    fi
    if [[ ! -x "$venv/bin/python" ]]; then
        rm -rf "$venv"
        if ! run "$peer: venv" "$python" -m venv "$venv"; then
            result[$peer]="failed	could not create a venv with $python (see $log)"
            return 0
        fi
    fi
    if ! run "$peer: pip install" "$venv/bin/python" -m pip install -q -r "$req"; then
        result[$peer]="failed	pip install -r $(basename "$req") failed (see $log)"
        return 0
    fi
    if [[ ! -x "$exe" ]]; then
        result[$peer]="failed	$exe_name missing after the install"
        return 0
    fi
    stamp_of "$peer" "$req" "$here/setup.sh" >"$dir/stamp-$peer"
    result[$peer]="ok	$exe"
}

install_npm() {
    local peer="mcp-hub" npm_dir="$dir/npm"
    local exe="$npm_dir/node_modules/.bin/mcp-hub"
    if up_to_date "$peer" "$exe" "$here/package.json" "$here/package-lock.json" "$here/setup.sh"; then
        result[$peer]="ok	$exe"
        return 0
    fi
    rm -f "$dir/stamp-$peer"
    if ! command -v npm >/dev/null 2>&1; then
        result[$peer]="skipped	npm not found (run bash tests/testbed/setup.sh, which installs Node)"
        return 0
    fi
    mkdir -p "$npm_dir"
    cp "$here/package.json" "$here/package-lock.json" "$npm_dir/"
    if ! (cd "$npm_dir" && run "mcp-hub: npm ci" npm ci --no-audit --no-fund --loglevel=error); then
        result[$peer]="failed	npm ci failed (see $log)"
        return 0
    fi
    if [[ ! -e "$exe" ]]; then
        result[$peer]="failed	mcp-hub missing after npm ci"
        return 0
    fi
    stamp_of "$peer" "$here/package.json" "$here/package-lock.json" "$here/setup.sh" >"$dir/stamp-$peer"
    result[$peer]="ok	$exe"
}

start=$SECONDS
install_venv fastmcp 11 requirements-fastmcp.txt fastmcp
install_venv mcp-proxy 11 requirements-mcp-proxy.txt mcp-proxy
install_venv magg 12 requirements-magg.txt magg
install_npm

{
    for peer in fastmcp mcp-proxy magg mcp-hub; do
        printf '%s\t%s\n' "$peer" "${result[$peer]}"
    done
} >"$status.tmp"
mv -f "$status.tmp" "$status"

for peer in fastmcp mcp-proxy magg mcp-hub; do
    IFS=$'\t' read -r state what <<<"${result[$peer]}"
    echo "peers: $peer: $state${what:+ ($what)}" >&3
done
echo "peers: done in $((SECONDS - start))s, status in $status" >&3
