# Homebrew formula for toolgate: a template. packaging/release.sh renders it
# into target/release-dist/toolgate.rb, filling in each @...@ placeholder
# from Cargo.toml, --base-url and the release's SHA256SUMS. Publish the
# rendered file in a tap (see packaging/README.md).
class Toolgate < Formula
  desc "One governed MCP server for every IDE"
  homepage "@HOMEPAGE@"
  version "@VERSION@"
  license "Apache-2.0"

  on_macos do
    on_arm do
      url "@BASE_URL@/toolgate-@VERSION@-aarch64-apple-darwin.tar.gz"
      sha256 "@SHA256_aarch64-apple-darwin@"
    end
    on_intel do
      url "@BASE_URL@/toolgate-@VERSION@-x86_64-apple-darwin.tar.gz"
      sha256 "@SHA256_x86_64-apple-darwin@"
    end
  end

  on_linux do
    on_arm do
      url "@BASE_URL@/toolgate-@VERSION@-aarch64-unknown-linux-gnu.tar.gz"
      sha256 "@SHA256_aarch64-unknown-linux-gnu@"
    end
    on_intel do
      url "@BASE_URL@/toolgate-@VERSION@-x86_64-unknown-linux-gnu.tar.gz"
      sha256 "@SHA256_x86_64-unknown-linux-gnu@"
    end
  end

  def install
    bin.install "toolgate"
    man1.install Dir["man/*.1"]
    bash_completion.install "completions/toolgate.bash" => "toolgate"
    zsh_completion.install "completions/_toolgate"
    fish_completion.install "completions/toolgate.fish"
    pkgshare.install "profiles"
  end

  def caveats
    <<~EOS
      Check the setup, then point an IDE at toolgate:
        toolgate doctor
        toolgate install cursor
    EOS
  end

  test do
    assert_equal "toolgate #{version}", shell_output("#{bin}/toolgate --version").strip
  end
end
