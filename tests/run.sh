#!/usr/bin/env bash
# The whole test suite, from a fresh machine of this project's kind (Debian,
# cargo, node, python): installs every peer the tests use (npm and PyPI
# packages into target/testbed, apt packages where missing), then checks
# formatting and lints, and runs every test. `.ci/run` runs exactly this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tests/testbed/setup.sh
# shellcheck source=/dev/null
source target/testbed/env.sh

cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked --no-fail-fast
else
    cargo test --locked --no-fail-fast
fi
