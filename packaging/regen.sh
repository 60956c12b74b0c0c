#!/usr/bin/env bash
# Regenerates the committed shell completions (completions/) and the man
# pages (packaging/man/) from the command-line definition. A test fails
# when they are stale: run this after changing a command, flag or help text.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --quiet
bin=target/debug/toolgate
"$bin" completions bash > completions/toolgate.bash
"$bin" completions zsh > completions/_toolgate
"$bin" completions fish > completions/toolgate.fish
"$bin" completions powershell > completions/_toolgate.ps1
"$bin" completions elvish > completions/toolgate.elv
rm -rf packaging/man
"$bin" man --out packaging/man
echo "regenerated completions/ and packaging/man/"
# The configuration and profile reference in README.md (between its
# reference:start/end markers), from src/config/config.schema.json and
# profiles/profile.schema.json.
python3 packaging/reference.py --splice README.md
echo "regenerated the reference in README.md"
