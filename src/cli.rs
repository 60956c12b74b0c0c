//! Command-line types (clap). No logic here: each subcommand's `run` lives in
//! `commands/`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::error::{exit, render};

/// One governed MCP server for every IDE.
#[derive(Debug, Parser)]
#[command(
    name = "toolgate",
    version,
    about = "One governed MCP server for every IDE: fans tool calls out to many upstream MCP servers.",
    after_help = "Examples:\n  toolgate add everything -- npx -y @modelcontextprotocol/server-everything\n  toolgate add time -- uvx mcp-server-time\n  toolgate tools\n  toolgate call time__get_current_time --args '{\"timezone\":\"UTC\"}'\n  toolgate serve            # what the IDE runs"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options of every command.
#[derive(Debug, Args)]
pub struct Global {
    /// Use this config file instead of the default one.
    #[arg(long, global = true, env = "TOOLGATE_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the MCP server (what the IDE launches), over stdio.
    Serve(ServeArgs),
    /// Add an upstream MCP server to the config.
    Add(AddArgs),
    /// Remove an upstream MCP server from the config.
    #[command(
        after_help = "Examples:\n  toolgate remove docs\n  toolgate remove time --config ./config.toml"
    )]
    Remove(RemoveArgs),
    /// Show each upstream: transport, state, tool count, last error.
    #[command(
        after_help = "Examples:\n  toolgate servers\n  toolgate servers --json | jq -r '.servers[] | select(.state != \"ready\") | .name'"
    )]
    Servers(ServersArgs),
    /// Show every exposed tool and the upstream it maps to.
    #[command(
        after_help = "Examples:\n  toolgate tools\n  toolgate tools --server time\n  toolgate tools --json | jq -r '.tools[].name'"
    )]
    Tools(ToolsArgs),
    /// Call one tool through toolgate and print its result.
    Call(CallArgs),
    /// Keep API keys and tokens in the OS keychain, referenced from
    /// config.toml as ${secret:NAME}.
    #[command(
        subcommand,
        after_help = "Examples:\n  printf %s \"$KEY\" | toolgate secret set brave BRAVE_API_KEY\n  toolgate secret list\n  toolgate secret rm brave BRAVE_API_KEY"
    )]
    Secret(SecretCommand),
    /// Log in to a remote server (OAuth): opens the browser once; the tokens
    /// go to the keychain.
    Login(LoginArgs),
    /// Forget a server's tokens, revoking them where the server supports it.
    #[command(after_help = "Examples:\n  toolgate logout github")]
    Logout(LogoutArgs),
    /// OAuth logins: status per server.
    #[command(
        subcommand,
        after_help = "Examples:\n  toolgate auth status\n  toolgate auth status --json"
    )]
    Auth(AuthCommand),
    /// Org-signed profiles: the allowlist of servers and the pins of their
    /// tools (admins: keygen, pin, lint, sign; developers: pull, status,
    /// show, verify).
    #[command(
        subcommand,
        after_help = "Examples:\n  toolgate profile pull                         # developers: fetch and verify it\n  toolgate profile status\n  toolgate profile pin org.toml                 # admins: pin, lint, then sign\n  toolgate profile lint org.toml && toolgate profile sign org.toml --key org.key"
    )]
    Profile(ProfileCommand),
    /// The policy in force: what it decides for a call, and why.
    #[command(
        subcommand,
        after_help = "Examples:\n  toolgate policy explain github__delete_repo --args '{\"repo\":\"x\"}'\n  toolgate policy explain filesystem/read_file --args '{\"path\":\"/etc/passwd\"}' --json"
    )]
    Policy(PolicyCommand),
    /// Scan every configured server's tools and instructions for poisoning
    /// (hidden Unicode, instruction tags, concealment, sensitive paths,
    /// exfiltration parameters, shadowing...). Exit 1 on a high finding.
    #[command(
        after_help = "Examples:\n  toolgate scan\n  toolgate scan --json | jq '.findings[] | select(.severity == \"high\")'"
    )]
    Scan(ScanArgs),
    /// Approve or deny calls the policy holds for a person (step-up): the
    /// terminal UI, or --list and ID --allow|--deny for scripts.
    #[command(
        after_help = "Keys in the UI: a/Enter approve once, s approve the tool for the rest of the agent session, d deny (with a reason), j/k select, PgUp/PgDn scroll the arguments, Tab activity, ? help, q quit.\n\nExamples:\n  toolgate approve\n  toolgate approve --list --json\n  toolgate approve 4242-1 --deny --reason 'not on production'"
    )]
    Approve(ApproveArgs),
    /// The audit trail: every call that reached policy and every
    /// governance event, chained so that tampering shows.
    #[command(
        subcommand,
        after_help = "Examples:\n  toolgate audit tail -f\n  toolgate audit verify\n  toolgate audit search delete_repo --since 2h"
    )]
    Audit(AuditCommand),
    /// Add toolgate to an IDE's or agent's MCP configuration (a backup of
    /// the file is written first; everything else in it is kept).
    #[command(
        after_help = "Clients: cursor, claude-desktop, claude-code, vscode, windsurf, codex, gemini-cli, zed.\n\nExamples:\n  toolgate install cursor\n  toolgate install claude-code --project      # .mcp.json of this folder\n  toolgate install vscode zed --dry-run       # show the change, write nothing\n  toolgate install --all                      # every client found here"
    )]
    Install(InstallArgs),
    /// Remove toolgate's entry from a client's MCP configuration.
    #[command(
        after_help = "Examples:\n  toolgate uninstall cursor\n  toolgate uninstall vscode --project --dry-run"
    )]
    Uninstall(InstallArgs),
    /// Take over the MCP servers configured in your clients: add them to
    /// toolgate's config, moving secrets into the keychain; --replace then
    /// points the client at toolgate alone.
    #[command(
        after_help = "Examples:\n  toolgate import --all --dry-run     # what would be imported, and which secrets moved\n  toolgate import cursor\n  toolgate import --all --replace     # every client found now uses toolgate alone\n\nSecrets found in a server's env or headers go to the keychain and the config says ${secret:NAME}; they are never written in plain text. Servers the org profile does not allow are reported as shadow servers, and not imported where personal servers are denied."
    )]
    Import(ImportArgs),
    /// Is everything healthy? A checklist (config, org profile, keychain,
    /// each upstream, approvals, audit) with a hint for each failure. Exit
    /// 1 only when something configured is broken.
    #[command(after_help = "Examples:\n  toolgate doctor\n  toolgate doctor --json")]
    Doctor(DoctorArgs),
    /// Print shell completions (bash, zsh, fish, powershell, elvish).
    #[command(
        after_help = "Examples:\n  toolgate completions bash > ~/.local/share/bash-completion/completions/toolgate\n  toolgate completions zsh > \"${fpath[1]}/_toolgate\"\n  toolgate completions fish > ~/.config/fish/completions/toolgate.fish\n\nPackages install them for you; the generated files are in completions/."
    )]
    Completions(CompletionsArgs),
    /// Write the man pages (toolgate.1 and one per subcommand, as
    /// packaging/man/ holds them) into a folder.
    #[command(
        hide = true,
        after_help = "Examples:\n  toolgate man --out packaging/man"
    )]
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The folder to write them into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The clients.
    #[arg(value_name = "CLIENT", required_unless_present = "all", value_parser = client_names())]
    pub clients: Vec<String>,
    /// Every client whose configuration folder exists on this machine.
    #[arg(long, conflicts_with = "clients")]
    pub all: bool,
    /// The project-level configuration of this folder (default: the
    /// current one) instead of the user-level one.
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = ".")]
    pub project: Option<PathBuf>,
    /// The name of toolgate's entry in the client's configuration.
    #[arg(long, value_name = "NAME", default_value = "toolgate")]
    pub name: String,
    /// Print the change as a diff and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The clients to import from.
    #[arg(value_name = "CLIENT", required_unless_present = "all", value_parser = client_names())]
    pub clients: Vec<String>,
    /// Every client whose configuration exists on this machine.
    #[arg(long, conflicts_with = "clients")]
    pub all: bool,
    /// Import from the project-level files of this folder (default: the
    /// current one) instead of the user-level ones.
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = ".")]
    pub project: Option<PathBuf>,
    /// Then rewrite each client's configuration to use toolgate alone (a
    /// backup is written first).
    #[arg(long)]
    pub replace: bool,
    /// Report what would be imported and write nothing (no keychain writes
    /// either).
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn client_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(crate::clients::Client::ALL.map(|c| c.name()))
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print JSON (a documented shape with a "version" field).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// The latest records (-f: keep printing new ones).
    #[command(
        after_help = "Examples:\n  toolgate audit tail\n  toolgate audit tail -n 100 --json\n  toolgate audit tail -f            # keep printing new records"
    )]
    Tail(AuditTailArgs),
    /// Check the chain (every record's hash and link, gaps) and the signed
    /// checkpoints (signature, key, truncation). Exit 0 only when intact.
    #[command(
        after_help = "Examples:\n  toolgate audit verify\n  toolgate audit verify --strict --json"
    )]
    Verify(AuditVerifyArgs),
    /// How many records, the oldest and newest, the size on disk.
    #[command(after_help = "Examples:\n  toolgate audit status\n  toolgate audit status --json")]
    Status(AuditJsonArgs),
    /// Every record since a time, one JSON object per line.
    #[command(
        after_help = "Examples:\n  toolgate audit export --since 24h > audit.ndjson\n  toolgate audit export | jq -c 'select(.decision == \"deny\")'"
    )]
    Export(AuditExportArgs),
    /// This device's public key, which signs the checkpoints (made on first
    /// use, kept in the OS keychain): give it to whoever verifies.
    #[command(after_help = "Examples:\n  toolgate audit key\n  toolgate audit key --json")]
    Key(AuditJsonArgs),
    /// Upload every waiting record to the configured sinks now (ignoring
    /// backoff). Exit 0 when every sink took everything.
    #[command(after_help = "Examples:\n  toolgate audit flush\n  toolgate audit flush --json")]
    Flush(AuditJsonArgs),
    /// Records that match: QUERY anywhere in the record (case-insensitive),
    /// and every filter given. Oldest first.
    #[command(
        after_help = "Examples:\n  toolgate audit search delete_repo\n  toolgate audit search --server github --decision deny --since 24h\n  toolgate audit search /etc/passwd --json"
    )]
    Search(AuditSearchArgs),
}

#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// Print JSON (a documented shape with a "version" field).
    #[arg(long)]
    pub json: bool,
    /// Also check that every record is in canonical form (RFC 8785), as a
    /// third party re-serializing records would need; slower.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub struct AuditSearchArgs {
    /// Text to find anywhere in a record (a tool name, an argument value, a
    /// rule id...); empty matches every record.
    #[arg(default_value = "")]
    pub query: String,
    /// Only records newer than this (a duration such as 2h or 30m).
    #[arg(long)]
    pub since: Option<String>,
    /// Only this server's records.
    #[arg(long)]
    pub server: Option<String>,
    /// Only this tool's records (the upstream's own name).
    #[arg(long)]
    pub tool: Option<String>,
    /// Only this decision: allow, observe, deny, step-up, limited, blocked.
    #[arg(long)]
    pub decision: Option<String>,
    /// At most this many (the newest of the matches).
    #[arg(long, default_value_t = 200)]
    pub limit: usize,
    /// One JSON record per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AuditTailArgs {
    /// How many records.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub lines: usize,
    /// Keep printing records as they are written.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// One JSON record per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AuditJsonArgs {
    /// Print JSON (a documented shape with a "version" field).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AuditExportArgs {
    /// Only records newer than this (a duration such as 24h or 30m).
    #[arg(long)]
    pub since: Option<String>,
    /// The output format (ndjson: one record per line).
    #[arg(long, default_value = "ndjson", value_parser = ["ndjson"])]
    pub format: String,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("answer").args(["allow", "deny"])))]
pub struct ApproveArgs {
    /// The held call to answer (as --list shows it: PID-N).
    #[arg(requires = "answer")]
    pub id: Option<String>,
    /// Approve the call (scripts: needs cli = true under [policy.approvals]
    /// in the org profile).
    #[arg(long, requires = "id")]
    pub allow: bool,
    /// Deny the call.
    #[arg(long, requires = "id")]
    pub deny: bool,
    /// Why (recorded; shown to the agent on a denial).
    #[arg(long, requires = "id")]
    pub reason: Option<String>,
    /// List the held calls of every toolgate serve and exit.
    #[arg(long, conflicts_with = "id")]
    pub list: bool,
    /// With --list: print JSON (a documented shape with a "version" field).
    #[arg(long, requires = "list")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Print JSON (a documented shape with a "version" field).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Show the decision for a call and every rule that took part.
    #[command(
        after_help = "Examples:\n  toolgate policy explain github__delete_repo --args '{\"repo\":\"x\"}'\n  toolgate policy explain filesystem/write_file --args '{\"path\":\"/etc/hosts\"}' --json"
    )]
    Explain(PolicyExplainArgs),
}

#[derive(Debug, Args)]
pub struct PolicyExplainArgs {
    /// The tool: its exposed name (PREFIX__tool) or SERVER/TOOL with the
    /// upstream's own tool name.
    pub tool: String,
    /// The call's arguments, a JSON object.
    #[arg(long, default_value = "{}")]
    pub args: String,
    /// Print JSON (a documented shape with a "version" field).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Make a minisign key pair for signing profiles (password-protected
    /// unless --unencrypted; the password comes from TOOLGATE_KEY_PASSWORD or
    /// a prompt).
    #[command(
        after_help = "Examples:\n  toolgate profile keygen --out ~/keys/org.key     # asks for a password\n  toolgate profile keygen --out ci.key --unencrypted   # for unattended signing in CI"
    )]
    Keygen(ProfileKeygenArgs),
    /// Start each server of a profile and write the pins of its tools and
    /// instructions into the file.
    #[command(
        after_help = "Examples:\n  toolgate profile pin org.toml\n  toolgate profile pin org.toml && git diff org.toml   # review what changed"
    )]
    Pin(ProfileFileArgs),
    /// Check a profile: schema, unknown keys, missing pins, expiry, weak
    /// settings.
    #[command(
        after_help = "Examples:\n  toolgate profile lint org.toml\n  toolgate profile lint org.toml --json"
    )]
    Lint(ProfileLintArgs),
    /// Sign a profile: writes FILE.minisig.
    #[command(
        after_help = "Examples:\n  toolgate profile sign org.toml --key ~/keys/org.key    # writes org.toml.minisig\n  TOOLGATE_KEY_PASSWORD=\"$PW\" toolgate profile sign org.toml --key org.key"
    )]
    Sign(ProfileSignArgs),
    /// Fetch the profile from the registry, verify it, cache it.
    #[command(after_help = "Examples:\n  toolgate profile pull\n  toolgate profile pull --json")]
    Pull(ProfileJsonArgs),
    /// The profile in force: serial, issued, expires, key id, source, last
    /// pull and its result.
    #[command(
        after_help = "Examples:\n  toolgate profile status\n  toolgate profile status --json"
    )]
    Status(ProfileStatusArgs),
    /// Print the verified profile in force.
    #[command(
        after_help = "Examples:\n  toolgate profile show\n  toolgate profile show --json | jq '.profile.servers | keys'"
    )]
    Show(ProfileJsonArgs),
    /// Verify a profile file against the trusted keys.
    #[command(
        after_help = "Examples:\n  toolgate profile verify org.toml                  # org.toml.minisig, the configured keys\n  toolgate profile verify org.toml --sig org.sig --key org.pub\n  toolgate profile verify org.toml --json"
    )]
    Verify(ProfileVerifyArgs),
}

#[derive(Debug, Args)]
pub struct ProfileKeygenArgs {
    /// Where to write the secret key; the public key goes beside it, with
    /// the extension .pub.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Do not protect the secret key with a password (for CI signing).
    #[arg(long)]
    pub unencrypted: bool,
    /// Replace existing key files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ProfileFileArgs {
    /// The profile file (TOML).
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct ProfileLintArgs {
    /// The profile file (TOML).
    pub file: PathBuf,
    /// Print JSON (a documented shape with a "version" field).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ProfileJsonArgs {
    /// Print JSON (a documented shape with a "version" field).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ProfileSignArgs {
    /// The profile file (TOML).
    pub file: PathBuf,
    /// The secret key made by `toolgate profile keygen` or `minisign -G`.
    #[arg(long, value_name = "PATH")]
    pub key: PathBuf,
}

#[derive(Debug, Args)]
pub struct ProfileStatusArgs {
    /// Print JSON (a documented shape with a "version" field).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ProfileVerifyArgs {
    /// The profile file (TOML).
    pub file: PathBuf,
    /// The signature (default: FILE.minisig).
    #[arg(long, value_name = "PATH")]
    pub sig: Option<PathBuf>,
    /// A trusted public key to use instead of the configured ones (the
    /// base64 line or a .pub file).
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// Print JSON (a documented shape with a "version" field).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  toolgate login github\n  toolgate login github --no-browser   # print the URL only\n  toolgate login github --scope repo"
)]
pub struct LoginArgs {
    /// The remote server, as named in config.toml.
    pub name: String,
    /// Print the login URL instead of opening a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// A further scope to ask for (repeatable), beyond what the server asks.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// How long to wait for the browser round trip, such as 5m.
    #[arg(long, default_value = "5m")]
    pub timeout: String,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The remote server, as named in config.toml.
    pub name: String,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Per server: logged in?, issuer, scopes, expiry. Never a token.
    #[command(
        after_help = "Examples:\n  toolgate auth status\n  toolgate auth status --json | jq -r '.servers[] | select(.logged_in | not) | .name'"
    )]
    Status(AuthStatusArgs),
}

#[derive(Debug, Args)]
pub struct AuthStatusArgs {
    /// Print JSON (a documented shape with a "version" field).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Store a secret: the value is read from stdin, or asked for without
    /// echo when stdin is a terminal.
    #[command(
        after_help = "Examples:\n  printf %s \"$KEY\" | toolgate secret set brave BRAVE_API_KEY\n  toolgate secret set brave BRAVE_API_KEY      # asks, without echo\n\nThen, in config.toml: env = { BRAVE_API_KEY = \"${secret:BRAVE_API_KEY}\" }"
    )]
    Set(SecretSetArgs),
    /// List the secrets set with toolgate (names only, never values).
    #[command(after_help = "Examples:\n  toolgate secret list\n  toolgate secret list --json")]
    List(SecretListArgs),
    /// Delete a secret from the keychain.
    #[command(after_help = "Examples:\n  toolgate secret rm brave BRAVE_API_KEY")]
    Rm(SecretRmArgs),
}

#[derive(Debug, Args)]
pub struct SecretSetArgs {
    /// The scope: the server whose config uses it (or another scope, such as
    /// audit, reached as ${secret:SCOPE/NAME}).
    pub scope: String,
    /// The secret's name, as ${secret:NAME} references it.
    pub name: String,
}

#[derive(Debug, Args)]
pub struct SecretListArgs {
    /// Print JSON (a documented shape with a "version" field).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SecretRmArgs {
    /// The scope the secret was set in.
    pub scope: String,
    /// The secret's name.
    pub name: String,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  toolgate serve\n  TOOLGATE_LOG=debug toolgate serve --config ./config.toml\n  toolgate serve --listen 127.0.0.1:8765\n  toolgate serve --print-token"
)]
pub struct ServeArgs {
    /// Serve over streamable HTTP at this address instead of stdio, such as
    /// 127.0.0.1:8765 (port 0 picks a free port, printed on stderr).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Print the bearer token that --listen requires, and exit.
    #[arg(long)]
    pub print_token: bool,
    /// With --listen: accept requests without the bearer token. Any local
    /// process (of any user) can then use toolgate's upstreams.
    #[arg(long, requires = "listen")]
    pub no_token: bool,
    /// With --listen: allow an address that is not loopback.
    #[arg(long, requires = "listen")]
    pub allow_non_loopback: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  toolgate add everything -- npx -y @modelcontextprotocol/server-everything\n  toolgate add time --env TZ=UTC -- uvx mcp-server-time\n  toolgate add docs --url https://example.com/mcp --header 'X-Team: platform'"
)]
pub struct AddArgs {
    /// Name of the server; also the default prefix of its tools (NAME__tool).
    pub name: String,
    /// Remote server: its MCP endpoint (streamable HTTP or SSE).
    #[arg(long, conflicts_with = "command")]
    pub url: Option<String>,
    /// Remote server: a header sent with every request, as 'Name: value'.
    #[arg(long = "header", value_name = "NAME: VALUE", requires = "url")]
    pub headers: Vec<String>,
    /// Stdio server: an environment variable, as NAME=VALUE.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// Stdio server: its working folder.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Prefix of exposed names (default: the server's name; "" for none).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Per-request timeout, such as 30s or 2m.
    #[arg(long)]
    pub timeout: Option<String>,
    /// Add the server disabled.
    #[arg(long)]
    pub disabled: bool,
    /// Replace an existing server of that name.
    #[arg(long)]
    pub force: bool,
    /// Stdio server: the command and its arguments, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Name of the server to remove.
    pub name: String,
}

#[derive(Debug, Args)]
pub struct ServersArgs {
    /// Print JSON (a documented shape with a "version" field).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ToolsArgs {
    /// Print JSON (a documented shape with a "version" field).
    #[arg(long)]
    pub json: bool,
    /// Only this server's tools.
    #[arg(long)]
    pub server: Option<String>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  toolgate call time__get_current_time --args '{\"timezone\":\"UTC\"}'\n  toolgate call everything__echo --args '{\"message\":\"hi\"}' --json"
)]
pub struct CallArgs {
    /// The exposed tool name, as `toolgate tools` shows it.
    pub tool: String,
    /// The arguments, a JSON object.
    #[arg(long, default_value = "{}")]
    pub args: String,
    /// Print the raw result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Parses arguments, runs the command, maps errors to exit codes.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            if e.use_stderr() {
                // Every error ends with a hint (clap's own ends with "For
                // more information, try '--help'.").
                let _ = std::io::Write::write_all(
                    &mut std::io::stderr(),
                    b"hint: `toolgate help COMMAND` shows the usage, with examples\n",
                );
            }
            return ExitCode::from(code);
        }
    };
    match crate::commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let (text, code) = render(&err);
            let _ =
                std::io::Write::write_all(&mut std::io::stderr(), format!("{text}\n").as_bytes());
            ExitCode::from(code)
        }
    }
}
