#!/usr/bin/env bash
# The whole test suite, from a fresh machine of this project's kind (Debian,
# cargo, node, python): installs every peer the tests use (npm and PyPI
# packages into target/testbed, apt packages where missing), then checks
# formatting and lints, and runs every test. `.ci/run` runs exactly this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# A fresh clone needs about 12 GiB under target/ (the test, release and
# fuzz builds): say so up front rather than fail half-way on a full disk.
free_kib="$(df -Pk . | awk 'NR == 2 { print $4 }')"
echo "tests/run.sh: $((free_kib / 1048576)) GiB free on the disk of $PWD, $(nproc) cores, uid $(id -u)" >&2
if [[ "$free_kib" -lt $((12 * 1048576)) ]]; then
    echo "tests/run.sh: warning: under 12 GiB free; the builds may fill the disk (free some space: old target/ folders)" >&2
fi

bash tests/testbed/setup.sh
# shellcheck source=/dev/null
source target/testbed/env.sh

cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
# The packages: builds the .deb (cargo-deb, release build), installs it with
# dpkg -i, runs the installed toolgate and removes it; then the release
# tarball and install.sh (checksum verified, corrupted download refused).
bash packaging/deb-test.sh
# A fuzz smoke run: every cargo-fuzz target (fuzz/) for 20 s from the
# committed seeds; a crash fails the run. Long runs: fuzz/run.sh 600.
FUZZ_FRESH=1 bash fuzz/run.sh 20

# The tests run on a private D-Bus session with a real Secret Service
# (gnome-keyring, its login collection unlocked with a throwaway password),
# so keychain tests never touch the developer's own keyring. Tests that need
# "no session bus" remove the variables for their child processes.
if cargo nextest --version >/dev/null 2>&1; then
    test_cmd=(cargo nextest run --locked --no-fail-fast)
else
    test_cmd=(cargo test --locked --no-fail-fast)
fi
export TOOLGATE_TEST_KEYRING_DIR="$PWD/target/test-keyring"
rm -rf "$TOOLGATE_TEST_KEYRING_DIR"
mkdir -p "$TOOLGATE_TEST_KEYRING_DIR"
dbus-run-session -- bash -c '
    set -euo pipefail
    # A keyring folder of its own: never the user'"'"'s ~/.local/share/keyrings.
    export XDG_DATA_HOME="$TOOLGATE_TEST_KEYRING_DIR" XDG_RUNTIME_DIR="$TOOLGATE_TEST_KEYRING_DIR/run"
    mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
    printf %s test-keyring-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    exec "$@"
' test-session "${test_cmd[@]}"
