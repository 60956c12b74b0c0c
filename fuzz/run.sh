#!/usr/bin/env bash
# Builds the fuzz targets and runs each for a while: see fuzz/README.md.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to 60; no TARGET means every target. Each run
# starts from the committed seeds (fuzz/corpus/TARGET, only read) and the
# corpus grown by earlier runs (fuzz/target/corpus/TARGET, git-ignored),
# and prints executions, exec/s, corpus size and crashes. A crash stops
# that target's run; its input is kept in fuzz/artifacts/TARGET/ and the
# script exits 1 once every target has run.
#
# Environment:
#   FUZZ_SANITIZER  address (default) or none
#   FUZZ_NICE       niceness of builds and runs (default 10; 0 for none)
#   FUZZ_ARGS       more libFuzzer flags, e.g. "-max_len=16384"
#   FUZZ_FRESH      1: start from the seeds alone, in a scratch corpus that
#                   is emptied first (the default where CI=true, so a smoke
#                   run's time does not grow with the machine's corpus)
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.1

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

ALL=(jsonrpc_frame profile_parse policy_match redaction audit_verify)

seconds="${1:-60}"
if [[ $# -gt 0 ]]; then shift; fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [[ "$seconds" -eq 0 ]]; then
    echo "usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...] (targets: ${ALL[*]})" >&2
    exit 2
fi
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then targets=("${ALL[@]}"); fi
for t in "${targets[@]}"; do
    if [[ ! -f "fuzz_targets/$t.rs" ]]; then
        echo "fuzz/run.sh: no target \"$t\" (targets: ${ALL[*]})" >&2
        exit 2
    fi
done

sanitizer="${FUZZ_SANITIZER:-address}"
nice_level="${FUZZ_NICE:-10}"
nice_cmd=()
if [[ "$nice_level" != 0 ]]; then nice_cmd=(nice -n "$nice_level"); fi

# cargo-fuzz, pinned; installed once per machine.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
    "${nice_cmd[@]}" cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

# cargo-fuzz passes -Z flags (sanitizer coverage, -Zsanitizer): stable
# rustc accepts them with RUSTC_BOOTSTRAP=1 (no nightly toolchain needed).
export RUSTC_BOOTSTRAP=1
triple="$(rustc -vV | sed -n 's/^host: //p')"

# Every target at once: they share the library, which is most of the work.
echo "== building the fuzz targets (sanitizer: $sanitizer)"
"${nice_cmd[@]}" cargo fuzz build --sanitizer "$sanitizer"

crashed=()
summary=()
for t in "${targets[@]}"; do
    bin="$here/target/$triple/release/$t"
    work="$here/target/corpus/$t"
    if [[ "${FUZZ_FRESH:-${CI:-}}" == 1 || "${FUZZ_FRESH:-${CI:-}}" == true ]]; then
        work="$here/target/corpus-fresh/$t"
        rm -rf "$work"
    fi
    artifacts="$here/artifacts/$t"
    log="$here/target/logs/$t.log"
    mkdir -p "$work" "$artifacts" "$(dirname "$log")"
    dict=()
    case "$t" in
        jsonrpc_frame) dict=(-dict="$here/dict/jsonrpc.dict") ;;
        profile_parse | policy_match) dict=(-dict="$here/dict/toml.dict") ;;
        redaction) dict=(-dict="$here/dict/redaction.dict") ;;
    esac
    before="$(find "$artifacts" -type f | wc -l)"
    echo "== $t: ${seconds}s"
    status=0
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    "${nice_cmd[@]}" "$bin" "$work" "$here/corpus/$t" \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb=3072 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 \
        "${dict[@]}" ${FUZZ_ARGS:-} >"$log" 2>&1 || status=$?
    after="$(find "$artifacts" -type f | wc -l)"
    stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
    execs="$(stat number_of_executed_units)"
    rate="$(stat average_exec_per_sec)"
    corpus="$(find "$work" -type f | wc -l)"
    found=$((after - before))
    if [[ $status -ne 0 && $found -eq 0 ]]; then found=1; fi
    line="$(printf '%-14s executions %10s  exec/s %6s  corpus %5s  crashes %s' \
        "$t" "${execs:-?}" "${rate:-?}" "$corpus" "$found")"
    summary+=("$line")
    echo "$line"
    if [[ $found -ne 0 ]]; then
        crashed+=("$t")
        grep -E -m 12 "panicked|ERROR: |SUMMARY: |^artifact_prefix|Test unit written" "$log" || true
        echo "   (full log: $log)"
    fi
done

echo
echo "== summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [[ ${#crashed[@]} -ne 0 ]]; then
    echo "CRASHES in: ${crashed[*]} (inputs in fuzz/artifacts/; reproduce: fuzz/target/$triple/release/TARGET FILE)" >&2
    exit 1
fi
