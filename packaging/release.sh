#!/usr/bin/env bash
# The release recipe: builds toolgate for each target, packs one tarball per
# target into the output folder (default target/release-dist/), writes
# SHA256SUMS over every tarball of this version there, and renders the
# install script and the Homebrew formula next to them. See
# packaging/README.md ("Cutting a release").
#
#   packaging/release.sh [--target TRIPLE]... [--no-build] [--out DIR]
#                        [--base-url URL] [--sums-only]
#
# A machine builds only the targets it has a toolchain for: Linux builds the
# Linux tarballs, a Mac the macOS ones. Copy every machine's tarballs into one
# output folder and run `release.sh --sums-only` there to list them all in
# SHA256SUMS and the formula. Written for bash 3.2 too (macOS).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() {
    cat <<'EOF'
usage: packaging/release.sh [--target TRIPLE]... [--no-build] [--out DIR]
                            [--base-url URL] [--sums-only]

  --target TRIPLE  build and pack for this Rust target (repeatable; default:
                   the host's, built into target/release/ as `cargo build
                   --release` does)
  --no-build       pack the binaries already built (target/TRIPLE/release/,
                   or target/release/ for the host) instead of building
  --out DIR        where the tarballs go (default: target/release-dist)
  --base-url URL   where the release assets will be downloaded from (the
                   folder holding the tarballs and SHA256SUMS); written into
                   the formula and as the install script's default
                   (default: $TOOLGATE_RELEASE_BASE_URL)
  --sums-only      build and pack nothing: rewrite SHA256SUMS, install.sh and
                   toolgate.rb from the tarballs already in the output folder
EOF
}

die() {
    echo "release.sh: $*" >&2
    exit 1
}

targets=()
build=1
sums_only=0
out="target/release-dist"
base_url="${TOOLGATE_RELEASE_BASE_URL:-}"
while [[ $# -gt 0 ]]; do
    case "$1" in
    --target)
        [[ $# -ge 2 ]] || die "--target needs a triple"
        targets+=("$2")
        shift 2
        ;;
    --target=*)
        targets+=("${1#*=}")
        shift
        ;;
    --no-build)
        build=0
        shift
        ;;
    --sums-only)
        sums_only=1
        shift
        ;;
    --out)
        [[ $# -ge 2 ]] || die "--out needs a folder"
        out="$2"
        shift 2
        ;;
    --out=*)
        out="${1#*=}"
        shift
        ;;
    --base-url)
        [[ $# -ge 2 ]] || die "--base-url needs a URL"
        base_url="$2"
        shift 2
        ;;
    --base-url=*)
        base_url="${1#*=}"
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        die "unknown argument: $1"
        ;;
    esac
done
base_url="${base_url%/}"
case "$base_url" in
*"'"* | *'|'* | *'"'* | *\\* | *' '*) die "--base-url must not contain quotes, backslashes, '|' or spaces: $base_url" ;;
esac

# The [package] version and homepage from Cargo.toml.
cargo_field() {
    awk -v key="$1" '
        /^\[/ { in_pkg = ($0 == "[package]") }
        in_pkg && $1 == key && $2 == "=" {
            sub(/^[^=]*= *"/, ""); sub(/".*$/, ""); print; exit
        }' Cargo.toml
}
version="$(cargo_field version)"
[[ -n "$version" ]] || die "no version in Cargo.toml's [package]"
homepage="$(cargo_field homepage)"
[[ -n "$homepage" ]] || homepage="$(cargo_field repository)"
[[ -n "$homepage" ]] || homepage="$base_url"

if command -v sha256sum >/dev/null 2>&1; then
    sha256() { sha256sum "$@"; }
elif command -v shasum >/dev/null 2>&1; then
    sha256() { shasum -a 256 "$@"; }
else
    die "neither sha256sum nor shasum is installed"
fi

target_dir="${CARGO_TARGET_DIR:-target}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# ---- build and pack ---------------------------------------------------------
pack() { # TRIPLE BINARY
    local triple="$1" bin="$2" name stage exe=""
    name="toolgate-$version-$triple"
    case "$triple" in *windows*) exe=".exe" ;; esac
    stage="$out/.stage"
    rm -rf "$stage"
    mkdir -p "$stage/$name/man" "$stage/$name/completions" "$stage/$name/profiles/examples"
    cp "$bin" "$stage/$name/toolgate$exe"
    cp packaging/man/*.1 "$stage/$name/man/"
    cp completions/* "$stage/$name/completions/"
    cp README.md CHANGELOG.md "$stage/$name/"
    local f
    for f in LICENSE LICENSE-* LICENSE.* COPYING NOTICE; do
        if [[ -f "$f" ]]; then cp "$f" "$stage/$name/"; fi
    done
    cp profiles/README.md profiles/profile.schema.json "$stage/$name/profiles/"
    # The example profile, its signature and public key (not the example's
    # secret key), and the audit record's schema.
    cp profiles/examples/example-corp.toml profiles/examples/example-corp.toml.minisig \
        profiles/examples/EXAMPLE-ONLY.pub "$stage/$name/profiles/examples/"
    cp src/audit/record.schema.json "$stage/$name/audit-record.schema.json"
    find "$stage" -type d -exec chmod 755 {} +
    find "$stage" -type f -exec chmod 644 {} +
    chmod 755 "$stage/$name/toolgate$exe"

    # Reproducible when GNU tar is there (Linux): fixed order, owner and
    # times (the last commit's), and no name or time in the gzip header.
    local tarball="$out/$name.tar.gz" epoch
    epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
    if tar --version 2>/dev/null | grep -q 'GNU tar'; then
        tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
            --format=gnu -C "$stage" -cf - "$name" | gzip -n -9 >"$tarball.tmp"
    else
        tar -C "$stage" -cf - "$name" | gzip -n -9 >"$tarball.tmp"
    fi
    mv -f "$tarball.tmp" "$tarball"
    rm -rf "$stage"
    echo "release.sh: packed $tarball"
}

if [[ $sums_only == 0 ]]; then
    host="$(rustc -vV | sed -n 's/^host: //p')"
    [[ -n "$host" ]] || die "cannot tell the host's target triple (rustc -vV)"
    default_target=0
    if [[ ${#targets[@]} -eq 0 ]]; then
        targets=("$host")
        default_target=1
    fi
    for triple in "${targets[@]}"; do
        exe=""
        case "$triple" in *windows*) exe=".exe" ;; esac
        if [[ $build == 1 ]]; then
            if [[ $default_target == 1 ]]; then
                cargo build --release --locked
                bin="$target_dir/release/toolgate$exe"
            else
                cargo build --release --locked --target "$triple"
                bin="$target_dir/$triple/release/toolgate$exe"
            fi
        else
            bin="$target_dir/$triple/release/toolgate$exe"
            if [[ ! -f "$bin" && "$triple" == "$host" ]]; then
                bin="$target_dir/release/toolgate$exe"
            fi
        fi
        [[ -f "$bin" ]] || die "no binary for $triple at $bin (build it, or drop --no-build)"
        if [[ "$triple" == "$host" ]]; then
            got="$("$bin" --version)" || die "$bin --version failed"
            [[ "$got" == "toolgate $version" ]] ||
                die "$bin says \"$got\", not \"toolgate $version\": a stale build?"
        fi
        pack "$triple" "$bin"
    done
fi

# ---- install.sh, SHA256SUMS, formula ----------------------------------------
# The install script, with this release as its default version and source.
sed -e "s|^default_version=''\$|default_version='$version'|" \
    -e "s|^default_download_url=''\$|default_download_url='$base_url'|" \
    packaging/install.sh >"$out/install.sh.tmp"
grep -q "^default_version='$version'\$" "$out/install.sh.tmp" ||
    die "packaging/install.sh has no default_version='' line to fill in"
chmod 755 "$out/install.sh.tmp"
mv -f "$out/install.sh.tmp" "$out/install.sh"

tarballs=()
while IFS= read -r f; do
    tarballs+=("$f")
done < <(cd "$out" && find . -maxdepth 1 -type f -name "toolgate-$version-*.tar.gz" | sed 's|^\./||' | LC_ALL=C sort)
[[ ${#tarballs[@]} -gt 0 ]] || die "no toolgate-$version-*.tar.gz in $out"
(cd "$out" && sha256 "${tarballs[@]}" install.sh) >"$out/SHA256SUMS.tmp"
mv -f "$out/SHA256SUMS.tmp" "$out/SHA256SUMS"
(cd "$out" && sha256 -c SHA256SUMS >/dev/null) || die "SHA256SUMS does not check"

# The Homebrew formula: url and sha256 for each platform it serves.
formula="$out/toolgate.rb"
missing=()
cp packaging/homebrew/toolgate.rb "$formula.tmp"
for triple in aarch64-apple-darwin x86_64-apple-darwin aarch64-unknown-linux-gnu x86_64-unknown-linux-gnu; do
    sum="$(awk -v f="toolgate-$version-$triple.tar.gz" '$2 == f || $2 == "*" f { print $1 }' "$out/SHA256SUMS")"
    if [[ -n "$sum" ]]; then
        sed -e "s|@SHA256_${triple}@|$sum|" "$formula.tmp" >"$formula.tmp2"
        mv -f "$formula.tmp2" "$formula.tmp"
    else
        missing+=("$triple")
    fi
done
sed -e "s|@VERSION@|$version|g" "$formula.tmp" >"$formula.tmp2"
if [[ -n "$base_url" ]]; then
    sed -e "s|@BASE_URL@|$base_url|g" -e "s|@HOMEPAGE@|$homepage|g" "$formula.tmp2" >"$formula.tmp"
else
    missing+=("--base-url")
    mv -f "$formula.tmp2" "$formula.tmp"
fi
rm -f "$formula.tmp2"
mv -f "$formula.tmp" "$formula"

echo "release.sh: toolgate $version in $out:"
(cd "$out" && cat SHA256SUMS)
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "release.sh: toolgate.rb is INCOMPLETE (still a placeholder for: ${missing[*]});" \
        "gather every platform's tarball into $out and run release.sh --sums-only --base-url URL" >&2
else
    echo "release.sh: toolgate.rb is complete"
fi
