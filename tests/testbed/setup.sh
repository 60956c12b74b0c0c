#!/usr/bin/env bash
# Installs every third-party peer that toolgate's integration tests use into
# $TOOLGATE_TESTBED (default: <repo>/target/testbed), then writes
# $TOOLGATE_TESTBED/env.sh. Idempotent: a stamp holding a hash of the pinned
# inputs makes a second run return at once. Safe to run concurrently (flock).
# Prints one summary line on stderr and nothing on stdout; on failure, the
# tail of $TOOLGATE_TESTBED/setup.log goes to stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
tb="${TOOLGATE_TESTBED:-$repo/target/testbed}"
mkdir -p "$tb"
tb="$(cd "$tb" && pwd)"

# Nothing on stdout: everything we (and the tools we run) say goes to stderr
# or to the log.
exec 3>&2 1>&2

stamp_file="$tb/stamp"
log="$tb/setup.log"
inputs=("$here/package.json" "$here/package-lock.json" "$here/requirements.txt" "$here/setup.sh")

want_stamp() {
    # The hash of the inputs plus the install location (env.sh holds absolute
    # paths).
    { printf '%s\n' "$tb"; cat "${inputs[@]}"; } | sha256sum | cut -d' ' -f1
}

installed_ok() {
    [[ -f "$stamp_file" && -f "$tb/env.sh" ]] || return 1
    [[ "$(cat "$stamp_file")" == "$(want_stamp)" ]] || return 1
    [[ -x "$tb/npm/node_modules/.bin/node" && -x "$tb/venv/bin/python" && -x "$tb/venv/bin/mcp-server-time" ]] || return 1
    [[ -x "$tb/venv/bin/mcp-server-git" && -x "$tb/venv/bin/mcp-server-fetch" ]] || return 1
    local b
    for b in mcp-server-everything mcp-server-filesystem mcp-server-memory mcp-server-sequential-thinking conformance claude codex gemini; do
        [[ -e "$tb/npm/node_modules/.bin/$b" ]] || return 1
    done
    compgen -G "$tb/venv/lib/python3*/site-packages/readabilipy/javascript/node_modules/jsdom" >/dev/null || return 1
    command -v git >/dev/null 2>&1 || return 1
    command -v gnome-keyring-daemon >/dev/null 2>&1 && command -v dbus-run-session >/dev/null 2>&1 || return 1
    command -v secret-tool >/dev/null 2>&1 || return 1
    command -v minisign >/dev/null 2>&1 || return 1
    command -v tmux >/dev/null 2>&1 || return 1
    command -v strace >/dev/null 2>&1 || return 1
    command -v shellcheck >/dev/null 2>&1 || return 1
}

if installed_ok; then
    echo "testbed: up to date in $tb" >&3
    exit 0
fi

# Serialize concurrent runs (parallel test binaries); re-check under the lock.
exec 9>"$tb/.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi
if installed_ok; then
    echo "testbed: up to date in $tb" >&3
    exit 0
fi

start=$SECONDS
rm -f "$stamp_file"
: >"$log"
export CI=true DEBIAN_FRONTEND=noninteractive
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

fail() {
    echo "testbed: setup failed: $*" >&3
    if [[ -s "$log" ]]; then
        echo "---- last lines of $log ----" >&3
        tail -n 40 "$log" >&3
    fi
    exit 1
}

# run LABEL CMD...: run quietly into the log, with no stdin.
run() {
    local label="$1"
    shift
    echo "==> $label: $*" >>"$log"
    "$@" </dev/null >>"$log" 2>&1 || fail "$label"
}

apt_updated=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || fail "missing $*, and no apt-get to install it"
    if [[ $apt_updated == 0 ]]; then
        run "apt-get update" apt-get update -qq
        apt_updated=1
    fi
    run "apt-get install $*" apt-get install -y -qq "$@"
}

# ---- prerequisites -------------------------------------------------------
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    apt_install nodejs npm
fi
# Tests that run servers binding every interface do so in a private network
# namespace (unshare, ip) and find their port with ss.
if ! command -v ip >/dev/null 2>&1 || ! command -v ss >/dev/null 2>&1; then
    apt_install iproute2
fi
if ! command -v unshare >/dev/null 2>&1; then
    apt_install util-linux
fi
# The real OS keychain for the secrets and OAuth tests: gnome-keyring's
# Secret Service on a private D-Bus session (tests/run.sh starts both), and
# keyctl for the kernel keyutils store.
if ! command -v gnome-keyring-daemon >/dev/null 2>&1 || ! command -v dbus-run-session >/dev/null 2>&1 ||
    ! command -v secret-tool >/dev/null 2>&1; then
    apt_install gnome-keyring dbus libsecret-tools
fi
# The stock minisign, to check that profile signatures interoperate.
if ! command -v minisign >/dev/null 2>&1; then
    apt_install minisign
fi
# tmux drives the approval UI in tests (send-keys, capture-pane).
if ! command -v tmux >/dev/null 2>&1; then
    apt_install tmux
fi
# strace shows that durability = "fsync" syncs each audit record.
if ! command -v strace >/dev/null 2>&1; then
    apt_install strace
fi
# shellcheck lints the packaging scripts (packaging/deb-test.sh).
if ! command -v shellcheck >/dev/null 2>&1; then
    apt_install shellcheck
fi
# mcp-server-git drives the git binary (through GitPython).
if ! command -v git >/dev/null 2>&1; then
    apt_install git
fi

python="${TOOLGATE_TESTBED_PYTHON:-}"
if [[ -z "$python" ]]; then
    for cand in python3 python3.13 python3.12 python3.11 python3.10; do
        if command -v "$cand" >/dev/null 2>&1 &&
            "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
            python="$(command -v "$cand")"
            break
        fi
    done
fi
if [[ -z "$python" ]]; then
    apt_install python3 python3-venv
    python="$(command -v python3)"
fi
if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    # Debian's own python3 ships venv/ensurepip separately.
    case "$(readlink -f "$python")" in
    /usr/bin/python3*) apt_install python3-venv ;;
    *) fail "$python cannot create a venv (no venv/ensurepip module)" ;;
    esac
fi

# ---- npm: the reference servers, the TS SDK, conformance, Node 22 --------
mkdir -p "$tb/npm"
npm_dir="$tb/npm"
if ! cmp -s "$here/package.json" "$npm_dir/package.json" ||
    ! cmp -s "$here/package-lock.json" "$npm_dir/package-lock.json" ||
    [[ ! -x "$npm_dir/node_modules/.bin/node" ]]; then
    cp "$here/package.json" "$here/package-lock.json" "$npm_dir/"
    (cd "$npm_dir" && run "npm ci" npm ci --no-audit --no-fund --loglevel=error)
fi
node22="$npm_dir/node_modules/.bin/node"
node22_version="$("$node22" --version 2>>"$log")" || fail "node 22 does not run"
[[ "$node22_version" == v22.* ]] || fail "node from npm is $node22_version, wanted v22"
everything="$npm_dir/node_modules/.bin/mcp-server-everything"
[[ -e "$everything" ]] || fail "mcp-server-everything missing"
# The reference servers' bins are `#!/usr/bin/env node` symlinks into dist/;
# they run on the system Node (>= 18) and equally as `$TESTBED_NODE22 <bin>`.
filesystem="$npm_dir/node_modules/.bin/mcp-server-filesystem"
memory="$npm_dir/node_modules/.bin/mcp-server-memory"
seqthinking="$npm_dir/node_modules/.bin/mcp-server-sequential-thinking"
for f in "$filesystem" "$memory" "$seqthinking"; do
    [[ -e "$f" ]] || fail "$(basename "$f") missing"
done
conformance_js="$(readlink -f "$npm_dir/node_modules/.bin/conformance")"
[[ -f "$conformance_js" ]] || fail "conformance missing"

# `conformance` has `#!/usr/bin/env node`, which would pick the system Node
# (20). This wrapper pins it to Node 22 and works both as `$TESTBED_CONFORMANCE
# args` and as `$TESTBED_NODE22 $TESTBED_CONFORMANCE args` (Node skips the #!).
mkdir -p "$tb/bin"
node22_abs="$(readlink -f "$node22")"
cat >"$tb/bin/conformance.tmp" <<EOF
#!$node22_abs
import("$conformance_js");
EOF
chmod +x "$tb/bin/conformance.tmp"
mv -f "$tb/bin/conformance.tmp" "$tb/bin/conformance"

# ---- Python venv: mcp SDK, mcp-server-time/-git/-fetch --------------------
venv="$tb/venv"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'pass' >/dev/null 2>&1; then
    rm -rf "$venv"
    run "python venv" "$python" -m venv "$venv"
fi
run "pip install" "$venv/bin/python" -m pip install -q -r "$here/requirements.txt"
"$venv/bin/python" -c 'import mcp.server.lowlevel, mcp.client.stdio' >>"$log" 2>&1 || fail "mcp SDK does not import"
for f in mcp-server-time mcp-server-git mcp-server-fetch; do
    [[ -x "$venv/bin/$f" ]] || fail "$f missing"
done
# mcp-server-fetch simplifies HTML with readabilipy, which runs Readability.js
# under the `node` on PATH and, the first time, runs an unpinned `npm install`
# into its own package directory (network, seconds). Give it the pinned
# @mozilla/readability, jsdom and minimist from package.json instead.
readabilipy_js="$("$venv/bin/python" -c 'import os, readabilipy; print(os.path.join(os.path.dirname(readabilipy.__file__), "javascript"))' 2>>"$log")" ||
    fail "readabilipy does not import"
[[ -d "$readabilipy_js" ]] || fail "readabilipy has no javascript directory"
if [[ -d "$readabilipy_js/node_modules" && ! -L "$readabilipy_js/node_modules" ]]; then
    rm -rf "$readabilipy_js/node_modules"
fi
ln -sfn "$npm_dir/node_modules" "$readabilipy_js/node_modules"
mcp_version="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp"))')"

# ---- env.sh ---------------------------------------------------------------
q() { printf '%q' "$1"; }
cat >"$tb/env.sh.tmp" <<EOF
# Written by tests/testbed/setup.sh; source it. Absolute paths.
export TOOLGATE_TESTBED=$(q "$tb")
export TESTBED_NODE22=$(q "$node22_abs")
export TESTBED_EVERYTHING=$(q "$everything")
export TESTBED_PYTHON=$(q "$venv/bin/python")
export TESTBED_TIME=$(q "$venv/bin/mcp-server-time")
export TESTBED_GIT=$(q "$venv/bin/mcp-server-git")
export TESTBED_FETCH=$(q "$venv/bin/mcp-server-fetch")
export TESTBED_FILESYSTEM=$(q "$filesystem")
export TESTBED_MEMORY=$(q "$memory")
export TESTBED_SEQTHINKING=$(q "$seqthinking")
export TESTBED_CONFORMANCE=$(q "$tb/bin/conformance")
export TESTBED_NODE_MODULES=$(q "$npm_dir/node_modules")
EOF
mv -f "$tb/env.sh.tmp" "$tb/env.sh"

want_stamp >"$stamp_file.tmp"
mv -f "$stamp_file.tmp" "$stamp_file"

echo "testbed: installed in $((SECONDS - start))s into $tb (node $node22_version, mcp $mcp_version)" >&3
