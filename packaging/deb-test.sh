#!/usr/bin/env bash
# The packaging test that CI runs (tests/run.sh): builds the .deb with
# cargo-deb, installs it with dpkg -i, runs the installed toolgate
# (--version, doctor --json) and checks that its man pages and completions
# are where they belong, then removes it again (also on failure). Then packs
# the release tarball from the same release binary (release.sh --no-build),
# installs it with install.sh from a file:// URL, and checks that install.sh
# refuses a corrupted tarball and a tarball SHA256SUMS does not list.
# Needs root or passwordless sudo (dpkg), python3, and network access to
# crates.io the first time (cargo install cargo-deb).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo_deb_version=3.8.0

fail() {
    echo "deb-test: FAILED: $*" >&2
    exit 1
}

version="$(awk '/^\[/ { p = ($0 == "[package]") } p && $1 == "version" { gsub(/"/, "", $3); print $3; exit }' Cargo.toml)"
[[ -n "$version" ]] || fail "no version in Cargo.toml"
host="$(rustc -vV | sed -n 's/^host: //p')"

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
    sudo -n true 2>/dev/null || fail "dpkg -i needs root: run as root or with passwordless sudo"
    sudo=(sudo -n)
fi

# dpkg ARGS...: as root, waiting out another package manager's lock (an
# apt-get of the test bed's setup running at the same time) for up to 2 min.
dpkg_() {
    local tries=0
    while ! "${sudo[@]}" dpkg "$@" >"$work/dpkg.log" 2>&1; do
        if grep -qi 'lock' "$work/dpkg.log" && [[ $tries -lt 60 ]]; then
            tries=$((tries + 1))
            sleep 2
            continue
        fi
        cat "$work/dpkg.log" >&2
        return 1
    done
}

work="$(mktemp -d "${TMPDIR:-/tmp}/toolgate-deb-test.XXXXXX")"
deb_installed=0
cleanup() {
    local rc=$?
    if [[ $deb_installed == 1 ]]; then
        if ! dpkg_ -r toolgate; then
            echo "deb-test: dpkg -r toolgate failed: the package is still installed" >&2
            rc=1
        fi
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT

summary=()
started=$SECONDS
step_start=$SECONDS
done_step() {
    summary+=("$(printf '  %-66s %4ss' "$1" $((SECONDS - step_start)))")
    step_start=$SECONDS
}

# ---- 1. cargo-deb, pinned ----------------------------------------------------
if [[ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $cargo_deb_version" ]]; then
    echo "deb-test: installing cargo-deb $cargo_deb_version" >&2
    cargo install cargo-deb --locked --version "$cargo_deb_version" --quiet
    done_step "cargo install cargo-deb $cargo_deb_version"
else
    done_step "cargo-deb $cargo_deb_version already installed"
fi

# ---- 2. the .deb (cargo deb builds the release binary) -----------------------
deb="$(cargo deb --locked | tail -n 1)" || fail "cargo deb --locked"
[[ -f "$deb" ]] || fail "cargo deb did not say where the .deb is (got: $deb)"
[[ "$(dpkg-deb -f "$deb" Package)" == toolgate ]] || fail "$deb is not the toolgate package"
[[ "$(dpkg-deb -f "$deb" Version)" == "$version-1" ]] || fail "$deb has version $(dpkg-deb -f "$deb" Version), not $version-1"
dpkg-deb -c "$deb" | awk '{ print $NF }' | sed 's|^\./|/|' >"$work/deb-files"
for f in /usr/bin/toolgate /usr/share/man/man1/toolgate.1.gz /usr/share/man/man1/toolgate-serve.1.gz \
    /usr/share/bash-completion/completions/toolgate /usr/share/zsh/vendor-completions/_toolgate \
    /usr/share/fish/vendor_completions.d/toolgate.fish /usr/share/doc/toolgate/copyright \
    /usr/share/doc/toolgate/README.md /usr/share/doc/toolgate/changelog.gz \
    /usr/share/doc/toolgate/profiles/profile.schema.json \
    /usr/share/doc/toolgate/profiles/examples/example-corp.toml; do
    grep -qxF "$f" "$work/deb-files" || fail "$deb has no $f"
done
man_sources=(packaging/man/*.1)
man_in_deb="$(grep -c '^/usr/share/man/man1/toolgate.*\.1\.gz$' "$work/deb-files" || true)"
[[ "$man_in_deb" == "${#man_sources[@]}" ]] ||
    fail "$deb has $man_in_deb man pages, packaging/man has ${#man_sources[@]}"
done_step "cargo deb ($(basename "$deb"), $(du -k "$deb" | cut -f1) KiB)"

# ---- 3. dpkg -i ----------------------------------------------------------------
if dpkg-query -W -f='${Status}' toolgate 2>/dev/null | grep -q 'ok installed'; then
    echo "deb-test: note: toolgate $(dpkg-query -W -f='${Version}' toolgate) was installed; it is replaced and removed at the end" >&2
fi
# One deb-test at a time on this machine installs and removes the package
# (the lock is let go at the dpkg -r below, or at exit).
exec 8>/tmp/toolgate-deb-test.lock
if command -v flock >/dev/null 2>&1; then
    flock 8
fi
deb_installed=1
dpkg_ -i "$deb" || fail "dpkg -i $deb"
done_step "dpkg -i"

# ---- 4. the installed toolgate -------------------------------------------------
got="$(/usr/bin/toolgate --version)" || fail "/usr/bin/toolgate --version failed"
[[ "$got" == "toolgate $version" ]] || fail "/usr/bin/toolgate --version says \"$got\", not \"toolgate $version\""

# doctor on a fresh, empty home: no config, no keychain session.
home="$work/home"
mkdir -p "$home"
rc=0
env -i PATH=/usr/bin:/bin HOME="$home" TOOLGATE_HOME="$home/.toolgate" LANG=C.UTF-8 \
    /usr/bin/toolgate doctor --json >"$work/doctor.json" 2>"$work/doctor.err" || rc=$?
if [[ $rc != 0 ]]; then
    cat "$work/doctor.json" "$work/doctor.err" >&2
    fail "toolgate doctor --json exited $rc on a fresh home"
fi
doctor_ok="$(python3 - "$work/doctor.json" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    d = json.load(f)
assert d.get("version") == 1, "version is %r, not 1" % (d.get("version"),)
assert isinstance(d.get("checks"), list) and d["checks"], "no checks"
print("ok=%s, %d checks" % (str(d.get("ok")).lower(), len(d["checks"])))
EOF
)" || {
    cat "$work/doctor.json" >&2
    fail "toolgate doctor --json printed no JSON with \"version\": 1"
}

# The files, on disk (unless a dpkg path-exclude keeps docs off this machine).
excludes="$(cat /etc/dpkg/dpkg.cfg /etc/dpkg/dpkg.cfg.d/* 2>/dev/null | grep '^path-exclude' || true)"
for f in /usr/share/man/man1/toolgate.1.gz /usr/share/bash-completion/completions/toolgate \
    /usr/share/zsh/vendor-completions/_toolgate /usr/share/fish/vendor_completions.d/toolgate.fish \
    /usr/share/doc/toolgate/copyright /usr/share/doc/toolgate/profiles/examples/example-corp.toml; do
    if [[ ! -f "$f" ]]; then
        [[ -n "$excludes" ]] || fail "dpkg -i installed no $f"
        echo "deb-test: note: $f not on disk (dpkg path-exclude in force)" >&2
    fi
done
if [[ -f /usr/share/man/man1/toolgate.1.gz ]]; then
    gzip -dc /usr/share/man/man1/toolgate.1.gz | grep -q '^\.TH' || fail "toolgate.1.gz is not a man page"
fi
if [[ -f /usr/share/bash-completion/completions/toolgate ]]; then
    # shellcheck disable=SC2016 # expanded by the inner bash
    bash -c 'source "$1" && complete -p toolgate' _ /usr/share/bash-completion/completions/toolgate >/dev/null ||
        fail "the bash completion does not register a completion for toolgate"
fi
done_step "installed toolgate: --version, doctor --json ($doctor_ok), files"

dpkg_ -r toolgate || fail "dpkg -r toolgate"
deb_installed=0
exec 8>&-
[[ ! -e /usr/bin/toolgate ]] || fail "dpkg -r left /usr/bin/toolgate"
done_step "dpkg -r"

# ---- 5. release tarball + install.sh ---------------------------------------------
dist="$work/dist"
bash packaging/release.sh --no-build --out "$dist" --base-url "file://$dist" >"$work/release.log" 2>&1 || {
    cat "$work/release.log" >&2
    fail "packaging/release.sh --no-build"
}
name="toolgate-$version-$host"
tarball="$dist/$name.tar.gz"
[[ -f "$tarball" ]] || fail "release.sh made no $tarball"
tar -tzf "$tarball" >"$work/tar-files"
for f in toolgate man/toolgate.1 man/toolgate-serve.1 completions/toolgate.bash completions/_toolgate \
    completions/toolgate.fish README.md CHANGELOG.md profiles/profile.schema.json \
    profiles/examples/example-corp.toml; do
    grep -qxF "$name/$f" "$work/tar-files" || fail "$tarball has no $name/$f"
done
(cd "$dist" && sha256sum -c --quiet SHA256SUMS) || fail "release.sh's SHA256SUMS does not check"
sum="$(sha256sum "$tarball" | cut -d' ' -f1)"
grep -qF "sha256 \"$sum\"" "$dist/toolgate.rb" || fail "toolgate.rb does not carry $name.tar.gz's sha256"
grep -qF "url \"file://$dist/$name.tar.gz\"" "$dist/toolgate.rb" || fail "toolgate.rb does not carry $name.tar.gz's url"
if grep -q '@VERSION@\|@BASE_URL@\|@HOMEPAGE@' "$dist/toolgate.rb"; then
    fail "toolgate.rb still has a placeholder other than another platform's sha256"
fi
if command -v ruby >/dev/null 2>&1; then
    ruby -c "$dist/toolgate.rb" >/dev/null || fail "toolgate.rb is not valid Ruby"
fi
done_step "release.sh --no-build ($(du -k "$tarball" | cut -f1) KiB tarball, SHA256SUMS, formula)"

# install.sh runs under the machine's sh (dash on Debian) with a home of its
# own, so nothing lands in the real ~/.local.
run_install() { # SCRIPT OUTPUT-PREFIX [ENV=VALUE...] -- [ARGS...]
    local script="$1" log="$2"
    shift 2
    local envs=()
    while [[ $# -gt 0 && "$1" != -- ]]; do
        envs+=("$1")
        shift
    done
    shift
    env -u TOOLGATE_VERSION -u TOOLGATE_DOWNLOAD_URL -u TOOLGATE_PREFIX -u TOOLGATE_INSTALL_DIR -u TOOLGATE_TARGET \
        HOME="$home" "${envs[@]}" sh "$script" "$@" >"$log.out" 2>"$log.err"
}

# (a) the published install.sh, on its defaults (this version, this folder).
run_install "$dist/install.sh" "$work/i1" -- --prefix "$work/p1" || {
    cat "$work/i1.out" "$work/i1.err" >&2
    fail "install.sh from $dist"
}
[[ "$("$work/p1/bin/toolgate" --version)" == "toolgate $version" ]] || fail "install.sh installed a toolgate that is not $version"
for f in share/man/man1/toolgate.1 share/man/man1/toolgate-serve.1 share/bash-completion/completions/toolgate \
    share/zsh/site-functions/_toolgate share/fish/vendor_completions.d/toolgate.fish; do
    [[ -f "$work/p1/$f" ]] || fail "install.sh installed no PREFIX/$f"
done
grep -q 'toolgate install cursor' "$work/i1.out" || fail "install.sh does not say what to do next"

# (b) the source tree's install.sh, told where by the environment; it finds
# the version in SHA256SUMS.
run_install packaging/install.sh "$work/i2" TOOLGATE_DOWNLOAD_URL="file://$dist" TOOLGATE_INSTALL_DIR="$work/p2/bin" -- || {
    cat "$work/i2.out" "$work/i2.err" >&2
    fail "install.sh with TOOLGATE_DOWNLOAD_URL"
}
[[ "$("$work/p2/bin/toolgate" --version)" == "toolgate $version" ]] || fail "install.sh (b) installed a toolgate that is not $version"
[[ -f "$work/p2/share/man/man1/toolgate.1" ]] || fail "install.sh (b) put no man page beside TOOLGATE_INSTALL_DIR"

# (c) one byte of the tarball changed: refused, nothing installed.
cp -r "$dist" "$work/bad"
python3 - "$work/bad/$name.tar.gz" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x01
open(p, "wb").write(b)
EOF
if run_install packaging/install.sh "$work/i3" TOOLGATE_DOWNLOAD_URL="file://$work/bad" TOOLGATE_VERSION="$version" -- --prefix "$work/p3"; then
    fail "install.sh installed a corrupted tarball"
fi
grep -q 'checksum mismatch' "$work/i3.err" || {
    cat "$work/i3.err" >&2
    fail "install.sh refused the corrupted tarball without saying the checksum does not match"
}
[[ ! -e "$work/p3" ]] || fail "install.sh refused the corrupted tarball but wrote to its prefix"

# (d) SHA256SUMS without the tarball's line: refused, nothing installed.
cp -r "$dist" "$work/nosum"
grep -vF "$name.tar.gz" "$dist/SHA256SUMS" >"$work/nosum/SHA256SUMS"
if run_install packaging/install.sh "$work/i4" TOOLGATE_DOWNLOAD_URL="file://$work/nosum" TOOLGATE_VERSION="$version" -- --prefix "$work/p4"; then
    fail "install.sh installed a tarball that SHA256SUMS does not list"
fi
grep -q 'no checksum' "$work/i4.err" || {
    cat "$work/i4.err" >&2
    fail "install.sh refused an unlisted tarball without saying why"
}
[[ ! -e "$work/p4" ]] || fail "install.sh refused an unlisted tarball but wrote to its prefix"
done_step "install.sh: file:// install x2, corrupt and unlisted refused"

# ---- 6. the scripts themselves -------------------------------------------------
if command -v shellcheck >/dev/null 2>&1; then
    shellcheck packaging/*.sh || fail "shellcheck packaging/*.sh"
    done_step "shellcheck packaging/*.sh"
fi

echo "deb-test: toolgate $version packaging OK in $((SECONDS - started))s:"
printf '%s\n' "${summary[@]}"
