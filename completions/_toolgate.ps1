
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'toolgate' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'toolgate'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'toolgate' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the MCP server (what the IDE launches), over stdio')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add an upstream MCP server to the config')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove an upstream MCP server from the config')
            [CompletionResult]::new('servers', 'servers', [CompletionResultType]::ParameterValue, 'Show each upstream: transport, state, tool count, last error')
            [CompletionResult]::new('tools', 'tools', [CompletionResultType]::ParameterValue, 'Show every exposed tool and the upstream it maps to')
            [CompletionResult]::new('call', 'call', [CompletionResultType]::ParameterValue, 'Call one tool through toolgate and print its result')
            [CompletionResult]::new('secret', 'secret', [CompletionResultType]::ParameterValue, 'Keep API keys and tokens in the OS keychain, referenced from config.toml as ${secret:NAME}')
            [CompletionResult]::new('login', 'login', [CompletionResultType]::ParameterValue, 'Log in to a remote server (OAuth): opens the browser once; the tokens go to the keychain')
            [CompletionResult]::new('logout', 'logout', [CompletionResultType]::ParameterValue, 'Forget a server''s tokens, revoking them where the server supports it')
            [CompletionResult]::new('auth', 'auth', [CompletionResultType]::ParameterValue, 'OAuth logins: status per server')
            [CompletionResult]::new('profile', 'profile', [CompletionResultType]::ParameterValue, 'Org-signed profiles: the allowlist of servers and the pins of their tools (admins: keygen, pin, lint, sign; developers: pull, status, show, verify)')
            [CompletionResult]::new('policy', 'policy', [CompletionResultType]::ParameterValue, 'The policy in force: what it decides for a call, and why')
            [CompletionResult]::new('scan', 'scan', [CompletionResultType]::ParameterValue, 'Scan every configured server''s tools and instructions for poisoning (hidden Unicode, instruction tags, concealment, sensitive paths, exfiltration parameters, shadowing...). Exit 1 on a high finding')
            [CompletionResult]::new('approve', 'approve', [CompletionResultType]::ParameterValue, 'Approve or deny calls the policy holds for a person (step-up): the terminal UI, or --list and ID --allow|--deny for scripts')
            [CompletionResult]::new('audit', 'audit', [CompletionResultType]::ParameterValue, 'The audit trail: every call that reached policy and every governance event, chained so that tampering shows')
            [CompletionResult]::new('install', 'install', [CompletionResultType]::ParameterValue, 'Add toolgate to an IDE''s or agent''s MCP configuration (a backup of the file is written first; everything else in it is kept)')
            [CompletionResult]::new('uninstall', 'uninstall', [CompletionResultType]::ParameterValue, 'Remove toolgate''s entry from a client''s MCP configuration')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Take over the MCP servers configured in your clients: add them to toolgate''s config, moving secrets into the keychain; --replace then points the client at toolgate alone')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Is everything healthy? A checklist (config, org profile, keychain, each upstream, approvals, audit) with a hint for each failure. Exit 1 only when something configured is broken')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions (bash, zsh, fish, powershell, elvish)')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Write the man pages (toolgate.1 and one per subcommand, as packaging/man/ holds them) into a folder')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'toolgate;serve' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Serve over streamable HTTP at this address instead of stdio, such as 127.0.0.1:8765 (port 0 picks a free port, printed on stderr)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--print-token', '--print-token', [CompletionResultType]::ParameterName, 'Print the bearer token that --listen requires, and exit')
            [CompletionResult]::new('--no-token', '--no-token', [CompletionResultType]::ParameterName, 'With --listen: accept requests without the bearer token. Any local process (of any user) can then use toolgate''s upstreams')
            [CompletionResult]::new('--allow-non-loopback', '--allow-non-loopback', [CompletionResultType]::ParameterName, 'With --listen: allow an address that is not loopback')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;add' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'Remote server: its MCP endpoint (streamable HTTP or SSE)')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Remote server: a header sent with every request, as ''Name: value''')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Stdio server: an environment variable, as NAME=VALUE')
            [CompletionResult]::new('--cwd', '--cwd', [CompletionResultType]::ParameterName, 'Stdio server: its working folder')
            [CompletionResult]::new('--prefix', '--prefix', [CompletionResultType]::ParameterName, 'Prefix of exposed names (default: the server''s name; "" for none)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Per-request timeout, such as 30s or 2m')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--disabled', '--disabled', [CompletionResultType]::ParameterName, 'Add the server disabled')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace an existing server of that name')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;remove' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;servers' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (a documented shape with a "version" field)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;tools' {
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Only this server''s tools')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (a documented shape with a "version" field)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;call' {
            [CompletionResult]::new('--args', '--args', [CompletionResultType]::ParameterName, 'The arguments, a JSON object')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the raw result as JSON')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;secret' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Store a secret: the value is read from stdin, or asked for without echo when stdin is a terminal')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the secrets set with toolgate (names only, never values)')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Delete a secret from the keychain')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'toolgate;secret;set' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;secret;list' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (a documented shape with a "version" field)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;secret;rm' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;secret;help' {
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Store a secret: the value is read from stdin, or asked for without echo when stdin is a terminal')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the secrets set with toolgate (names only, never values)')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Delete a secret from the keychain')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'toolgate;secret;help;set' {
            break
        }
        'toolgate;secret;help;list' {
            break
        }
        'toolgate;secret;help;rm' {
            break
        }
        'toolgate;secret;help;help' {
            break
        }
        'toolgate;login' {
            [CompletionResult]::new('--scope', '--scope', [CompletionResultType]::ParameterName, 'A further scope to ask for (repeatable), beyond what the server asks')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for the browser round trip, such as 5m')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--no-browser', '--no-browser', [CompletionResultType]::ParameterName, 'Print the login URL instead of opening a browser')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;logout' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;auth' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Per server: logged in?, issuer, scopes, expiry. Never a token')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'toolgate;auth;status' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (a documented shape with a "version" field)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;auth;help' {
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Per server: logged in?, issuer, scopes, expiry. Never a token')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'toolgate;auth;help;status' {
            break
        }
        'toolgate;auth;help;help' {
            break
        }
        'toolgate;profile' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('keygen', 'keygen', [CompletionResultType]::ParameterValue, 'Make a minisign key pair for signing profiles (password-protected unless --unencrypted; the password comes from TOOLGATE_KEY_PASSWORD or a prompt)')
            [CompletionResult]::new('pin', 'pin', [CompletionResultType]::ParameterValue, 'Start each server of a profile and write the pins of its tools and instructions into the file')
            [CompletionResult]::new('lint', 'lint', [CompletionResultType]::ParameterValue, 'Check a profile: schema, unknown keys, missing pins, expiry, weak settings')
            [CompletionResult]::new('sign', 'sign', [CompletionResultType]::ParameterValue, 'Sign a profile: writes FILE.minisig')
            [CompletionResult]::new('pull', 'pull', [CompletionResultType]::ParameterValue, 'Fetch the profile from the registry, verify it, cache it')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'The profile in force: serial, issued, expires, key id, source, last pull and its result')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print the verified profile in force')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Verify a profile file against the trusted keys')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'toolgate;profile;keygen' {
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Where to write the secret key; the public key goes beside it, with the extension .pub')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--unencrypted', '--unencrypted', [CompletionResultType]::ParameterName, 'Do not protect the secret key with a password (for CI signing)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace existing key files')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;profile;pin' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;profile;lint' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (a documented shape with a "version" field)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;profile;sign' {
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'The secret key made by `toolgate profile keygen` or `minisign -G`')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;profile;pull' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (a documented shape with a "version" field)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;profile;status' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (a documented shape with a "version" field)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;profile;show' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (a documented shape with a "version" field)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;profile;verify' {
            [CompletionResult]::new('--sig', '--sig', [CompletionResultType]::ParameterName, 'The signature (default: FILE.minisig)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'A trusted public key to use instead of the configured ones (the base64 line or a .pub file)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (a documented shape with a "version" field)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;profile;help' {
            [CompletionResult]::new('keygen', 'keygen', [CompletionResultType]::ParameterValue, 'Make a minisign key pair for signing profiles (password-protected unless --unencrypted; the password comes from TOOLGATE_KEY_PASSWORD or a prompt)')
            [CompletionResult]::new('pin', 'pin', [CompletionResultType]::ParameterValue, 'Start each server of a profile and write the pins of its tools and instructions into the file')
            [CompletionResult]::new('lint', 'lint', [CompletionResultType]::ParameterValue, 'Check a profile: schema, unknown keys, missing pins, expiry, weak settings')
            [CompletionResult]::new('sign', 'sign', [CompletionResultType]::ParameterValue, 'Sign a profile: writes FILE.minisig')
            [CompletionResult]::new('pull', 'pull', [CompletionResultType]::ParameterValue, 'Fetch the profile from the registry, verify it, cache it')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'The profile in force: serial, issued, expires, key id, source, last pull and its result')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print the verified profile in force')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Verify a profile file against the trusted keys')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'toolgate;profile;help;keygen' {
            break
        }
        'toolgate;profile;help;pin' {
            break
        }
        'toolgate;profile;help;lint' {
            break
        }
        'toolgate;profile;help;sign' {
            break
        }
        'toolgate;profile;help;pull' {
            break
        }
        'toolgate;profile;help;status' {
            break
        }
        'toolgate;profile;help;show' {
            break
        }
        'toolgate;profile;help;verify' {
            break
        }
        'toolgate;profile;help;help' {
            break
        }
        'toolgate;policy' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('explain', 'explain', [CompletionResultType]::ParameterValue, 'Show the decision for a call and every rule that took part')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'toolgate;policy;explain' {
            [CompletionResult]::new('--args', '--args', [CompletionResultType]::ParameterName, 'The call''s arguments, a JSON object')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (a documented shape with a "version" field)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;policy;help' {
            [CompletionResult]::new('explain', 'explain', [CompletionResultType]::ParameterValue, 'Show the decision for a call and every rule that took part')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'toolgate;policy;help;explain' {
            break
        }
        'toolgate;policy;help;help' {
            break
        }
        'toolgate;scan' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (a documented shape with a "version" field)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;approve' {
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Why (recorded; shown to the agent on a denial)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--allow', '--allow', [CompletionResultType]::ParameterName, 'Approve the call (scripts: needs cli = true under [policy.approvals] in the org profile)')
            [CompletionResult]::new('--deny', '--deny', [CompletionResultType]::ParameterName, 'Deny the call')
            [CompletionResult]::new('--list', '--list', [CompletionResultType]::ParameterName, 'List the held calls of every toolgate serve and exit')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'With --list: print JSON (a documented shape with a "version" field)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;audit' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('tail', 'tail', [CompletionResultType]::ParameterValue, 'The latest records (-f: keep printing new ones)')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check the chain (every record''s hash and link, gaps) and the signed checkpoints (signature, key, truncation). Exit 0 only when intact')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'How many records, the oldest and newest, the size on disk')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Every record since a time, one JSON object per line')
            [CompletionResult]::new('key', 'key', [CompletionResultType]::ParameterValue, 'This device''s public key, which signs the checkpoints (made on first use, kept in the OS keychain): give it to whoever verifies')
            [CompletionResult]::new('flush', 'flush', [CompletionResultType]::ParameterValue, 'Upload every waiting record to the configured sinks now (ignoring backoff). Exit 0 when every sink took everything')
            [CompletionResult]::new('search', 'search', [CompletionResultType]::ParameterValue, 'Records that match: QUERY anywhere in the record (case-insensitive), and every filter given. Oldest first')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'toolgate;audit;tail' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'How many records')
            [CompletionResult]::new('--lines', '--lines', [CompletionResultType]::ParameterName, 'How many records')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Keep printing records as they are written')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Keep printing records as they are written')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'One JSON record per line')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;audit;verify' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (a documented shape with a "version" field)')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Also check that every record is in canonical form (RFC 8785), as a third party re-serializing records would need; slower')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;audit;status' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (a documented shape with a "version" field)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;audit;export' {
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only records newer than this (a duration such as 24h or 30m)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'The output format (ndjson: one record per line)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;audit;key' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (a documented shape with a "version" field)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;audit;flush' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (a documented shape with a "version" field)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;audit;search' {
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only records newer than this (a duration such as 2h or 30m)')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Only this server''s records')
            [CompletionResult]::new('--tool', '--tool', [CompletionResultType]::ParameterName, 'Only this tool''s records (the upstream''s own name)')
            [CompletionResult]::new('--decision', '--decision', [CompletionResultType]::ParameterName, 'Only this decision: allow, observe, deny, step-up, limited, blocked')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'At most this many (the newest of the matches)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'One JSON record per line')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;audit;help' {
            [CompletionResult]::new('tail', 'tail', [CompletionResultType]::ParameterValue, 'The latest records (-f: keep printing new ones)')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check the chain (every record''s hash and link, gaps) and the signed checkpoints (signature, key, truncation). Exit 0 only when intact')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'How many records, the oldest and newest, the size on disk')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Every record since a time, one JSON object per line')
            [CompletionResult]::new('key', 'key', [CompletionResultType]::ParameterValue, 'This device''s public key, which signs the checkpoints (made on first use, kept in the OS keychain): give it to whoever verifies')
            [CompletionResult]::new('flush', 'flush', [CompletionResultType]::ParameterValue, 'Upload every waiting record to the configured sinks now (ignoring backoff). Exit 0 when every sink took everything')
            [CompletionResult]::new('search', 'search', [CompletionResultType]::ParameterValue, 'Records that match: QUERY anywhere in the record (case-insensitive), and every filter given. Oldest first')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'toolgate;audit;help;tail' {
            break
        }
        'toolgate;audit;help;verify' {
            break
        }
        'toolgate;audit;help;status' {
            break
        }
        'toolgate;audit;help;export' {
            break
        }
        'toolgate;audit;help;key' {
            break
        }
        'toolgate;audit;help;flush' {
            break
        }
        'toolgate;audit;help;search' {
            break
        }
        'toolgate;audit;help;help' {
            break
        }
        'toolgate;install' {
            [CompletionResult]::new('--project', '--project', [CompletionResultType]::ParameterName, 'The project-level configuration of this folder (default: the current one) instead of the user-level one')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'The name of toolgate''s entry in the client''s configuration')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Every client whose configuration folder exists on this machine')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the change as a diff and write nothing')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;uninstall' {
            [CompletionResult]::new('--project', '--project', [CompletionResultType]::ParameterName, 'The project-level configuration of this folder (default: the current one) instead of the user-level one')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'The name of toolgate''s entry in the client''s configuration')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Every client whose configuration folder exists on this machine')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the change as a diff and write nothing')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;import' {
            [CompletionResult]::new('--project', '--project', [CompletionResultType]::ParameterName, 'Import from the project-level files of this folder (default: the current one) instead of the user-level ones')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Every client whose configuration exists on this machine')
            [CompletionResult]::new('--replace', '--replace', [CompletionResultType]::ParameterName, 'Then rewrite each client''s configuration to use toolgate alone (a backup is written first)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Report what would be imported and write nothing (no keychain writes either)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;doctor' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (a documented shape with a "version" field)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;completions' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;man' {
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'The folder to write them into')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Use this config file instead of the default one')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'toolgate;help' {
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the MCP server (what the IDE launches), over stdio')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add an upstream MCP server to the config')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove an upstream MCP server from the config')
            [CompletionResult]::new('servers', 'servers', [CompletionResultType]::ParameterValue, 'Show each upstream: transport, state, tool count, last error')
            [CompletionResult]::new('tools', 'tools', [CompletionResultType]::ParameterValue, 'Show every exposed tool and the upstream it maps to')
            [CompletionResult]::new('call', 'call', [CompletionResultType]::ParameterValue, 'Call one tool through toolgate and print its result')
            [CompletionResult]::new('secret', 'secret', [CompletionResultType]::ParameterValue, 'Keep API keys and tokens in the OS keychain, referenced from config.toml as ${secret:NAME}')
            [CompletionResult]::new('login', 'login', [CompletionResultType]::ParameterValue, 'Log in to a remote server (OAuth): opens the browser once; the tokens go to the keychain')
            [CompletionResult]::new('logout', 'logout', [CompletionResultType]::ParameterValue, 'Forget a server''s tokens, revoking them where the server supports it')
            [CompletionResult]::new('auth', 'auth', [CompletionResultType]::ParameterValue, 'OAuth logins: status per server')
            [CompletionResult]::new('profile', 'profile', [CompletionResultType]::ParameterValue, 'Org-signed profiles: the allowlist of servers and the pins of their tools (admins: keygen, pin, lint, sign; developers: pull, status, show, verify)')
            [CompletionResult]::new('policy', 'policy', [CompletionResultType]::ParameterValue, 'The policy in force: what it decides for a call, and why')
            [CompletionResult]::new('scan', 'scan', [CompletionResultType]::ParameterValue, 'Scan every configured server''s tools and instructions for poisoning (hidden Unicode, instruction tags, concealment, sensitive paths, exfiltration parameters, shadowing...). Exit 1 on a high finding')
            [CompletionResult]::new('approve', 'approve', [CompletionResultType]::ParameterValue, 'Approve or deny calls the policy holds for a person (step-up): the terminal UI, or --list and ID --allow|--deny for scripts')
            [CompletionResult]::new('audit', 'audit', [CompletionResultType]::ParameterValue, 'The audit trail: every call that reached policy and every governance event, chained so that tampering shows')
            [CompletionResult]::new('install', 'install', [CompletionResultType]::ParameterValue, 'Add toolgate to an IDE''s or agent''s MCP configuration (a backup of the file is written first; everything else in it is kept)')
            [CompletionResult]::new('uninstall', 'uninstall', [CompletionResultType]::ParameterValue, 'Remove toolgate''s entry from a client''s MCP configuration')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Take over the MCP servers configured in your clients: add them to toolgate''s config, moving secrets into the keychain; --replace then points the client at toolgate alone')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Is everything healthy? A checklist (config, org profile, keychain, each upstream, approvals, audit) with a hint for each failure. Exit 1 only when something configured is broken')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions (bash, zsh, fish, powershell, elvish)')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Write the man pages (toolgate.1 and one per subcommand, as packaging/man/ holds them) into a folder')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'toolgate;help;serve' {
            break
        }
        'toolgate;help;add' {
            break
        }
        'toolgate;help;remove' {
            break
        }
        'toolgate;help;servers' {
            break
        }
        'toolgate;help;tools' {
            break
        }
        'toolgate;help;call' {
            break
        }
        'toolgate;help;secret' {
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Store a secret: the value is read from stdin, or asked for without echo when stdin is a terminal')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the secrets set with toolgate (names only, never values)')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Delete a secret from the keychain')
            break
        }
        'toolgate;help;secret;set' {
            break
        }
        'toolgate;help;secret;list' {
            break
        }
        'toolgate;help;secret;rm' {
            break
        }
        'toolgate;help;login' {
            break
        }
        'toolgate;help;logout' {
            break
        }
        'toolgate;help;auth' {
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Per server: logged in?, issuer, scopes, expiry. Never a token')
            break
        }
        'toolgate;help;auth;status' {
            break
        }
        'toolgate;help;profile' {
            [CompletionResult]::new('keygen', 'keygen', [CompletionResultType]::ParameterValue, 'Make a minisign key pair for signing profiles (password-protected unless --unencrypted; the password comes from TOOLGATE_KEY_PASSWORD or a prompt)')
            [CompletionResult]::new('pin', 'pin', [CompletionResultType]::ParameterValue, 'Start each server of a profile and write the pins of its tools and instructions into the file')
            [CompletionResult]::new('lint', 'lint', [CompletionResultType]::ParameterValue, 'Check a profile: schema, unknown keys, missing pins, expiry, weak settings')
            [CompletionResult]::new('sign', 'sign', [CompletionResultType]::ParameterValue, 'Sign a profile: writes FILE.minisig')
            [CompletionResult]::new('pull', 'pull', [CompletionResultType]::ParameterValue, 'Fetch the profile from the registry, verify it, cache it')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'The profile in force: serial, issued, expires, key id, source, last pull and its result')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print the verified profile in force')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Verify a profile file against the trusted keys')
            break
        }
        'toolgate;help;profile;keygen' {
            break
        }
        'toolgate;help;profile;pin' {
            break
        }
        'toolgate;help;profile;lint' {
            break
        }
        'toolgate;help;profile;sign' {
            break
        }
        'toolgate;help;profile;pull' {
            break
        }
        'toolgate;help;profile;status' {
            break
        }
        'toolgate;help;profile;show' {
            break
        }
        'toolgate;help;profile;verify' {
            break
        }
        'toolgate;help;policy' {
            [CompletionResult]::new('explain', 'explain', [CompletionResultType]::ParameterValue, 'Show the decision for a call and every rule that took part')
            break
        }
        'toolgate;help;policy;explain' {
            break
        }
        'toolgate;help;scan' {
            break
        }
        'toolgate;help;approve' {
            break
        }
        'toolgate;help;audit' {
            [CompletionResult]::new('tail', 'tail', [CompletionResultType]::ParameterValue, 'The latest records (-f: keep printing new ones)')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check the chain (every record''s hash and link, gaps) and the signed checkpoints (signature, key, truncation). Exit 0 only when intact')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'How many records, the oldest and newest, the size on disk')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Every record since a time, one JSON object per line')
            [CompletionResult]::new('key', 'key', [CompletionResultType]::ParameterValue, 'This device''s public key, which signs the checkpoints (made on first use, kept in the OS keychain): give it to whoever verifies')
            [CompletionResult]::new('flush', 'flush', [CompletionResultType]::ParameterValue, 'Upload every waiting record to the configured sinks now (ignoring backoff). Exit 0 when every sink took everything')
            [CompletionResult]::new('search', 'search', [CompletionResultType]::ParameterValue, 'Records that match: QUERY anywhere in the record (case-insensitive), and every filter given. Oldest first')
            break
        }
        'toolgate;help;audit;tail' {
            break
        }
        'toolgate;help;audit;verify' {
            break
        }
        'toolgate;help;audit;status' {
            break
        }
        'toolgate;help;audit;export' {
            break
        }
        'toolgate;help;audit;key' {
            break
        }
        'toolgate;help;audit;flush' {
            break
        }
        'toolgate;help;audit;search' {
            break
        }
        'toolgate;help;install' {
            break
        }
        'toolgate;help;uninstall' {
            break
        }
        'toolgate;help;import' {
            break
        }
        'toolgate;help;doctor' {
            break
        }
        'toolgate;help;completions' {
            break
        }
        'toolgate;help;man' {
            break
        }
        'toolgate;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
