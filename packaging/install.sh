#!/bin/sh
# Installs a prebuilt toolgate from its release tarball, after checking the
# tarball's SHA-256 against the release's SHA256SUMS (nothing is installed
# when it does not match, or when SHA256SUMS has no line for it):
#
#   curl -fsSL https://RELEASES/install.sh | sh
#   curl -fsSL https://RELEASES/install.sh | sh -s -- --prefix /usr/local
#
# Options (each also an environment variable):
#   --version V        TOOLGATE_VERSION       the version to install (default:
#                                             this release's, or the only one
#                                             SHA256SUMS lists for this machine)
#   --download-url U   TOOLGATE_DOWNLOAD_URL  the folder holding the tarballs
#                                             and SHA256SUMS (https:// or file://)
#   --prefix DIR       TOOLGATE_PREFIX        binary in DIR/bin, man page and
#                                             completions in DIR/share
#                                             (default: ~/.local)
#   --bin-dir DIR      TOOLGATE_INSTALL_DIR   where the binary goes (default:
#                                             PREFIX/bin)
#   --target TRIPLE    TOOLGATE_TARGET        the build to fetch (default:
#                                             this machine's)
#
# POSIX sh. The whole script is one function called on its last line, so a
# download cut short runs nothing.

set -eu

# Filled in by packaging/release.sh in the copy it publishes beside the
# tarballs; empty in the source tree.
default_version=''
default_download_url=''

say() {
    printf 'toolgate-install: %s\n' "$*"
}

die() {
    printf 'toolgate-install: error: %s\n' "$*" >&2
    exit 1
}

usage() {
    sed -n '2,20s/^# \{0,1\}//p' "$0" 2>/dev/null ||
        echo "usage: install.sh [--version V] [--download-url URL] [--prefix DIR] [--bin-dir DIR] [--target TRIPLE]"
}

need_value() {
    [ "$2" -ge 2 ] || die "$1 needs a value"
}

detect_target() {
    os="$(uname -s)"
    arch="$(uname -m)"
    case "$arch" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) die "no prebuilt toolgate for the $arch processor; build it from source: cargo install --locked toolgate" ;;
    esac
    case "$os" in
    Linux)
        if ldd --version 2>&1 | grep -qi musl; then
            die "the prebuilt toolgate needs glibc, and this Linux uses musl; build it from source: cargo install --locked toolgate"
        fi
        echo "$arch-unknown-linux-gnu"
        ;;
    Darwin)
        # An x86_64 shell under Rosetta on Apple silicon: take the native build.
        if [ "$arch" = x86_64 ] && [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || echo 0)" = 1 ]; then
            arch=aarch64
        fi
        echo "$arch-apple-darwin"
        ;;
    *) die "no prebuilt toolgate for $os; build it from source: cargo install --locked toolgate" ;;
    esac
}

# fetch URL FILE: https:// with curl or wget; file:// by copying.
fetch() {
    case "$1" in
    file://localhost/*) cp "/${1#file://localhost/}" "$2" || die "cannot read $1" ;;
    file:///*) cp "${1#file://}" "$2" || die "cannot read $1" ;;
    https://*)
        if command -v curl >/dev/null 2>&1; then
            curl --proto '=https' --tlsv1.2 -fsSL -o "$2" "$1" || die "cannot download $1"
        elif command -v wget >/dev/null 2>&1; then
            wget -q -O "$2" "$1" || die "cannot download $1"
        else
            die "neither curl nor wget is installed"
        fi
        ;;
    *) die "unsupported URL (https:// or file:///PATH only): $1" ;;
    esac
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d' ' -f1
    else
        die "neither sha256sum nor shasum is installed: cannot verify the download, so nothing was installed"
    fi
}

main() {
    version="${TOOLGATE_VERSION:-$default_version}"
    base_url="${TOOLGATE_DOWNLOAD_URL:-$default_download_url}"
    prefix="${TOOLGATE_PREFIX:-}"
    bin_dir="${TOOLGATE_INSTALL_DIR:-}"
    target="${TOOLGATE_TARGET:-}"
    while [ $# -gt 0 ]; do
        case "$1" in
        --version)
            need_value "$1" $#
            version="$2"
            shift 2
            ;;
        --version=*)
            version="${1#*=}"
            shift
            ;;
        --download-url)
            need_value "$1" $#
            base_url="$2"
            shift 2
            ;;
        --download-url=*)
            base_url="${1#*=}"
            shift
            ;;
        --prefix)
            need_value "$1" $#
            prefix="$2"
            shift 2
            ;;
        --prefix=*)
            prefix="${1#*=}"
            shift
            ;;
        --bin-dir)
            need_value "$1" $#
            bin_dir="$2"
            shift 2
            ;;
        --bin-dir=*)
            bin_dir="${1#*=}"
            shift
            ;;
        --target)
            need_value "$1" $#
            target="$2"
            shift 2
            ;;
        --target=*)
            target="${1#*=}"
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) die "unknown argument: $1 (see --help)" ;;
        esac
    done

    [ -n "$base_url" ] || die "no download URL: set TOOLGATE_DOWNLOAD_URL (or --download-url) to the folder holding the release tarballs and SHA256SUMS"
    base_url="${base_url%/}"
    version="${version#v}"

    # Where things go: PREFIX/bin and PREFIX/share, unless --bin-dir says
    # otherwise (then share/ is beside it when it is a .../bin folder).
    if [ -z "$bin_dir" ]; then
        [ -n "$prefix" ] || prefix="${HOME:?HOME is not set: use --prefix DIR}/.local"
        bin_dir="$prefix/bin"
    elif [ -z "$prefix" ]; then
        case "$bin_dir" in
        */bin | */bin/) prefix="${bin_dir%/}" && prefix="${prefix%/bin}" ;;
        esac
    fi

    [ -n "$target" ] || target="$(detect_target)"

    tmp="$(mktemp -d 2>/dev/null || mktemp -d -t toolgate-install)" || die "cannot make a temporary folder"
    # shellcheck disable=SC2064 # expand $tmp now
    trap "rm -rf '$tmp'" EXIT
    trap 'exit 1' HUP INT TERM

    # SHA256SUMS first: it names the versions on offer.
    fetch "$base_url/SHA256SUMS" "$tmp/SHA256SUMS"
    if [ -z "$version" ]; then
        found="$(awk '{ sub(/^\*/, "", $2); print $2 }' "$tmp/SHA256SUMS" |
            grep -E "^toolgate-[^/]+-$target\\.tar\\.gz\$" || true)"
        case "$found" in
        "") die "$base_url/SHA256SUMS lists no toolgate for $target: nothing was installed" ;;
        *"
"*) die "$base_url/SHA256SUMS lists several versions for $target: choose one with TOOLGATE_VERSION" ;;
        esac
        version="${found#toolgate-}"
        version="${version%-"$target".tar.gz}"
    fi
    name="toolgate-$version-$target"
    tarball="$name.tar.gz"

    expected="$(awk -v f="$tarball" '$2 == f || $2 == "*" f { print $1 }' "$tmp/SHA256SUMS" | sort -u)"
    case "$expected" in
    "") die "$base_url/SHA256SUMS has no checksum for $tarball: refusing to install it (nothing was installed)" ;;
    *[!0-9a-fA-F]*) die "$base_url/SHA256SUMS has a malformed or contradictory checksum for $tarball: refusing to install it (nothing was installed)" ;;
    esac
    [ ${#expected} -eq 64 ] || die "$base_url/SHA256SUMS has a malformed checksum for $tarball: refusing to install it (nothing was installed)"

    say "downloading $base_url/$tarball"
    fetch "$base_url/$tarball" "$tmp/$tarball"
    actual="$(sha256_of "$tmp/$tarball")"
    expected="$(printf '%s' "$expected" | tr 'A-F' 'a-f')"
    if [ "$actual" != "$expected" ]; then
        die "checksum mismatch for $tarball: SHA256SUMS says $expected, the download is $actual. The download is corrupt or was tampered with: nothing was installed"
    fi
    say "checksum verified ($actual)"

    mkdir "$tmp/x"
    tar -xzf "$tmp/$tarball" -C "$tmp/x" || die "cannot unpack $tarball: nothing was installed"
    src="$tmp/x/$name"
    [ -f "$src/toolgate" ] || die "$tarball has no $name/toolgate: nothing was installed"
    got="$("$src/toolgate" --version 2>&1)" ||
        die "the prebuilt toolgate does not run on this machine ($got); build it from source: cargo install --locked toolgate. Nothing was installed"
    [ "$got" = "toolgate $version" ] || die "$tarball holds \"$got\", not toolgate $version: nothing was installed"

    # The binary: copied beside its destination, then renamed over it, so a
    # running toolgate keeps its old file and nothing is ever half-written.
    if ! mkdir -p "$bin_dir" 2>/dev/null || [ ! -w "$bin_dir" ]; then
        die "cannot write to $bin_dir: choose another place with --prefix DIR or TOOLGATE_INSTALL_DIR, or run as a user who can write there. Nothing was installed"
    fi
    cp "$src/toolgate" "$bin_dir/.toolgate.new.$$"
    chmod 755 "$bin_dir/.toolgate.new.$$"
    mv -f "$bin_dir/.toolgate.new.$$" "$bin_dir/toolgate"
    say "installed $bin_dir/toolgate ($got)"

    # Man pages and completions, where the prefix's share/ is writable.
    if [ -n "$prefix" ]; then
        share="$prefix/share"
        if mkdir -p "$share/man/man1" "$share/bash-completion/completions" \
            "$share/zsh/site-functions" "$share/fish/vendor_completions.d" 2>/dev/null &&
            [ -w "$share/man/man1" ]; then
            cp "$src"/man/*.1 "$share/man/man1/"
            cp "$src/completions/toolgate.bash" "$share/bash-completion/completions/toolgate"
            cp "$src/completions/_toolgate" "$share/zsh/site-functions/_toolgate"
            cp "$src/completions/toolgate.fish" "$share/fish/vendor_completions.d/toolgate.fish"
            say "installed the man pages in $share/man/man1 and the bash, zsh and fish completions under $share"
            case "$share" in
            /usr/share | /usr/local/share) ;;
            *) say "zsh finds the completion once $share/zsh/site-functions is in \$fpath" ;;
            esac
        else
            say "$share is not writable: skipped the man pages and completions"
        fi
    else
        say "skipped the man pages and completions: $bin_dir is not a .../bin folder (--prefix DIR puts them in DIR/share)"
    fi

    case ":${PATH:-}:" in
    *":$bin_dir:"*) cmd=toolgate ;;
    *)
        cmd="$bin_dir/toolgate"
        say "$bin_dir is not on your PATH; add it with: export PATH=\"$bin_dir:\$PATH\""
        ;;
    esac
    say "next: check the setup, then point your IDE at toolgate:"
    say "  $cmd doctor"
    say "  $cmd install cursor"
}

main "$@"
