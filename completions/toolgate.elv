
use builtin;
use str;

set edit:completion:arg-completer[toolgate] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'toolgate'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'toolgate'= {
            cand --config 'Use this config file instead of the default one'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand serve 'Run the MCP server (what the IDE launches), over stdio'
            cand add 'Add an upstream MCP server to the config'
            cand remove 'Remove an upstream MCP server from the config'
            cand servers 'Show each upstream: transport, state, tool count, last error'
            cand tools 'Show every exposed tool and the upstream it maps to'
            cand call 'Call one tool through toolgate and print its result'
            cand secret 'Keep API keys and tokens in the OS keychain, referenced from config.toml as ${secret:NAME}'
            cand login 'Log in to a remote server (OAuth): opens the browser once; the tokens go to the keychain'
            cand logout 'Forget a server''s tokens, revoking them where the server supports it'
            cand auth 'OAuth logins: status per server'
            cand profile 'Org-signed profiles: the allowlist of servers and the pins of their tools (admins: keygen, pin, lint, sign; developers: pull, status, show, verify)'
            cand policy 'The policy in force: what it decides for a call, and why'
            cand scan 'Scan every configured server''s tools and instructions for poisoning (hidden Unicode, instruction tags, concealment, sensitive paths, exfiltration parameters, shadowing...). Exit 1 on a high finding'
            cand approve 'Approve or deny calls the policy holds for a person (step-up): the terminal UI, or --list and ID --allow|--deny for scripts'
            cand audit 'The audit trail: every call that reached policy and every governance event, chained so that tampering shows'
            cand install 'Add toolgate to an IDE''s or agent''s MCP configuration (a backup of the file is written first; everything else in it is kept)'
            cand uninstall 'Remove toolgate''s entry from a client''s MCP configuration'
            cand import 'Take over the MCP servers configured in your clients: add them to toolgate''s config, moving secrets into the keychain; --replace then points the client at toolgate alone'
            cand doctor 'Is everything healthy? A checklist (config, org profile, keychain, each upstream, approvals, audit) with a hint for each failure. Exit 1 only when something configured is broken'
            cand completions 'Print shell completions (bash, zsh, fish, powershell, elvish)'
            cand man 'Write the man pages (toolgate.1 and one per subcommand, as packaging/man/ holds them) into a folder'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'toolgate;serve'= {
            cand --listen 'Serve over streamable HTTP at this address instead of stdio, such as 127.0.0.1:8765 (port 0 picks a free port, printed on stderr)'
            cand --config 'Use this config file instead of the default one'
            cand --print-token 'Print the bearer token that --listen requires, and exit'
            cand --no-token 'With --listen: accept requests without the bearer token. Any local process (of any user) can then use toolgate''s upstreams'
            cand --allow-non-loopback 'With --listen: allow an address that is not loopback'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;add'= {
            cand --url 'Remote server: its MCP endpoint (streamable HTTP or SSE)'
            cand --header 'Remote server: a header sent with every request, as ''Name: value'''
            cand --env 'Stdio server: an environment variable, as NAME=VALUE'
            cand --cwd 'Stdio server: its working folder'
            cand --prefix 'Prefix of exposed names (default: the server''s name; "" for none)'
            cand --timeout 'Per-request timeout, such as 30s or 2m'
            cand --config 'Use this config file instead of the default one'
            cand --disabled 'Add the server disabled'
            cand --force 'Replace an existing server of that name'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;remove'= {
            cand --config 'Use this config file instead of the default one'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;servers'= {
            cand --config 'Use this config file instead of the default one'
            cand --json 'Print JSON (a documented shape with a "version" field)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;tools'= {
            cand --server 'Only this server''s tools'
            cand --config 'Use this config file instead of the default one'
            cand --json 'Print JSON (a documented shape with a "version" field)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;call'= {
            cand --args 'The arguments, a JSON object'
            cand --config 'Use this config file instead of the default one'
            cand --json 'Print the raw result as JSON'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;secret'= {
            cand --config 'Use this config file instead of the default one'
            cand -h 'Print help'
            cand --help 'Print help'
            cand set 'Store a secret: the value is read from stdin, or asked for without echo when stdin is a terminal'
            cand list 'List the secrets set with toolgate (names only, never values)'
            cand rm 'Delete a secret from the keychain'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'toolgate;secret;set'= {
            cand --config 'Use this config file instead of the default one'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;secret;list'= {
            cand --config 'Use this config file instead of the default one'
            cand --json 'Print JSON (a documented shape with a "version" field)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;secret;rm'= {
            cand --config 'Use this config file instead of the default one'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;secret;help'= {
            cand set 'Store a secret: the value is read from stdin, or asked for without echo when stdin is a terminal'
            cand list 'List the secrets set with toolgate (names only, never values)'
            cand rm 'Delete a secret from the keychain'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'toolgate;secret;help;set'= {
        }
        &'toolgate;secret;help;list'= {
        }
        &'toolgate;secret;help;rm'= {
        }
        &'toolgate;secret;help;help'= {
        }
        &'toolgate;login'= {
            cand --scope 'A further scope to ask for (repeatable), beyond what the server asks'
            cand --timeout 'How long to wait for the browser round trip, such as 5m'
            cand --config 'Use this config file instead of the default one'
            cand --no-browser 'Print the login URL instead of opening a browser'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;logout'= {
            cand --config 'Use this config file instead of the default one'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;auth'= {
            cand --config 'Use this config file instead of the default one'
            cand -h 'Print help'
            cand --help 'Print help'
            cand status 'Per server: logged in?, issuer, scopes, expiry. Never a token'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'toolgate;auth;status'= {
            cand --config 'Use this config file instead of the default one'
            cand --json 'Print JSON (a documented shape with a "version" field)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;auth;help'= {
            cand status 'Per server: logged in?, issuer, scopes, expiry. Never a token'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'toolgate;auth;help;status'= {
        }
        &'toolgate;auth;help;help'= {
        }
        &'toolgate;profile'= {
            cand --config 'Use this config file instead of the default one'
            cand -h 'Print help'
            cand --help 'Print help'
            cand keygen 'Make a minisign key pair for signing profiles (password-protected unless --unencrypted; the password comes from TOOLGATE_KEY_PASSWORD or a prompt)'
            cand pin 'Start each server of a profile and write the pins of its tools and instructions into the file'
            cand lint 'Check a profile: schema, unknown keys, missing pins, expiry, weak settings'
            cand sign 'Sign a profile: writes FILE.minisig'
            cand pull 'Fetch the profile from the registry, verify it, cache it'
            cand status 'The profile in force: serial, issued, expires, key id, source, last pull and its result'
            cand show 'Print the verified profile in force'
            cand verify 'Verify a profile file against the trusted keys'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'toolgate;profile;keygen'= {
            cand --out 'Where to write the secret key; the public key goes beside it, with the extension .pub'
            cand --config 'Use this config file instead of the default one'
            cand --unencrypted 'Do not protect the secret key with a password (for CI signing)'
            cand --force 'Replace existing key files'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;profile;pin'= {
            cand --config 'Use this config file instead of the default one'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;profile;lint'= {
            cand --config 'Use this config file instead of the default one'
            cand --json 'Print JSON (a documented shape with a "version" field)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;profile;sign'= {
            cand --key 'The secret key made by `toolgate profile keygen` or `minisign -G`'
            cand --config 'Use this config file instead of the default one'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;profile;pull'= {
            cand --config 'Use this config file instead of the default one'
            cand --json 'Print JSON (a documented shape with a "version" field)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;profile;status'= {
            cand --config 'Use this config file instead of the default one'
            cand --json 'Print JSON (a documented shape with a "version" field)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;profile;show'= {
            cand --config 'Use this config file instead of the default one'
            cand --json 'Print JSON (a documented shape with a "version" field)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;profile;verify'= {
            cand --sig 'The signature (default: FILE.minisig)'
            cand --key 'A trusted public key to use instead of the configured ones (the base64 line or a .pub file)'
            cand --config 'Use this config file instead of the default one'
            cand --json 'Print JSON (a documented shape with a "version" field)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;profile;help'= {
            cand keygen 'Make a minisign key pair for signing profiles (password-protected unless --unencrypted; the password comes from TOOLGATE_KEY_PASSWORD or a prompt)'
            cand pin 'Start each server of a profile and write the pins of its tools and instructions into the file'
            cand lint 'Check a profile: schema, unknown keys, missing pins, expiry, weak settings'
            cand sign 'Sign a profile: writes FILE.minisig'
            cand pull 'Fetch the profile from the registry, verify it, cache it'
            cand status 'The profile in force: serial, issued, expires, key id, source, last pull and its result'
            cand show 'Print the verified profile in force'
            cand verify 'Verify a profile file against the trusted keys'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'toolgate;profile;help;keygen'= {
        }
        &'toolgate;profile;help;pin'= {
        }
        &'toolgate;profile;help;lint'= {
        }
        &'toolgate;profile;help;sign'= {
        }
        &'toolgate;profile;help;pull'= {
        }
        &'toolgate;profile;help;status'= {
        }
        &'toolgate;profile;help;show'= {
        }
        &'toolgate;profile;help;verify'= {
        }
        &'toolgate;profile;help;help'= {
        }
        &'toolgate;policy'= {
            cand --config 'Use this config file instead of the default one'
            cand -h 'Print help'
            cand --help 'Print help'
            cand explain 'Show the decision for a call and every rule that took part'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'toolgate;policy;explain'= {
            cand --args 'The call''s arguments, a JSON object'
            cand --config 'Use this config file instead of the default one'
            cand --json 'Print JSON (a documented shape with a "version" field)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;policy;help'= {
            cand explain 'Show the decision for a call and every rule that took part'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'toolgate;policy;help;explain'= {
        }
        &'toolgate;policy;help;help'= {
        }
        &'toolgate;scan'= {
            cand --config 'Use this config file instead of the default one'
            cand --json 'Print JSON (a documented shape with a "version" field)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;approve'= {
            cand --reason 'Why (recorded; shown to the agent on a denial)'
            cand --config 'Use this config file instead of the default one'
            cand --allow 'Approve the call (scripts: needs cli = true under [policy.approvals] in the org profile)'
            cand --deny 'Deny the call'
            cand --list 'List the held calls of every toolgate serve and exit'
            cand --json 'With --list: print JSON (a documented shape with a "version" field)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;audit'= {
            cand --config 'Use this config file instead of the default one'
            cand -h 'Print help'
            cand --help 'Print help'
            cand tail 'The latest records (-f: keep printing new ones)'
            cand verify 'Check the chain (every record''s hash and link, gaps) and the signed checkpoints (signature, key, truncation). Exit 0 only when intact'
            cand status 'How many records, the oldest and newest, the size on disk'
            cand export 'Every record since a time, one JSON object per line'
            cand key 'This device''s public key, which signs the checkpoints (made on first use, kept in the OS keychain): give it to whoever verifies'
            cand flush 'Upload every waiting record to the configured sinks now (ignoring backoff). Exit 0 when every sink took everything'
            cand search 'Records that match: QUERY anywhere in the record (case-insensitive), and every filter given. Oldest first'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'toolgate;audit;tail'= {
            cand -n 'How many records'
            cand --lines 'How many records'
            cand --config 'Use this config file instead of the default one'
            cand -f 'Keep printing records as they are written'
            cand --follow 'Keep printing records as they are written'
            cand --json 'One JSON record per line'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;audit;verify'= {
            cand --config 'Use this config file instead of the default one'
            cand --json 'Print JSON (a documented shape with a "version" field)'
            cand --strict 'Also check that every record is in canonical form (RFC 8785), as a third party re-serializing records would need; slower'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;audit;status'= {
            cand --config 'Use this config file instead of the default one'
            cand --json 'Print JSON (a documented shape with a "version" field)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;audit;export'= {
            cand --since 'Only records newer than this (a duration such as 24h or 30m)'
            cand --format 'The output format (ndjson: one record per line)'
            cand --config 'Use this config file instead of the default one'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;audit;key'= {
            cand --config 'Use this config file instead of the default one'
            cand --json 'Print JSON (a documented shape with a "version" field)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;audit;flush'= {
            cand --config 'Use this config file instead of the default one'
            cand --json 'Print JSON (a documented shape with a "version" field)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;audit;search'= {
            cand --since 'Only records newer than this (a duration such as 2h or 30m)'
            cand --server 'Only this server''s records'
            cand --tool 'Only this tool''s records (the upstream''s own name)'
            cand --decision 'Only this decision: allow, observe, deny, step-up, limited, blocked'
            cand --limit 'At most this many (the newest of the matches)'
            cand --config 'Use this config file instead of the default one'
            cand --json 'One JSON record per line'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;audit;help'= {
            cand tail 'The latest records (-f: keep printing new ones)'
            cand verify 'Check the chain (every record''s hash and link, gaps) and the signed checkpoints (signature, key, truncation). Exit 0 only when intact'
            cand status 'How many records, the oldest and newest, the size on disk'
            cand export 'Every record since a time, one JSON object per line'
            cand key 'This device''s public key, which signs the checkpoints (made on first use, kept in the OS keychain): give it to whoever verifies'
            cand flush 'Upload every waiting record to the configured sinks now (ignoring backoff). Exit 0 when every sink took everything'
            cand search 'Records that match: QUERY anywhere in the record (case-insensitive), and every filter given. Oldest first'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'toolgate;audit;help;tail'= {
        }
        &'toolgate;audit;help;verify'= {
        }
        &'toolgate;audit;help;status'= {
        }
        &'toolgate;audit;help;export'= {
        }
        &'toolgate;audit;help;key'= {
        }
        &'toolgate;audit;help;flush'= {
        }
        &'toolgate;audit;help;search'= {
        }
        &'toolgate;audit;help;help'= {
        }
        &'toolgate;install'= {
            cand --project 'The project-level configuration of this folder (default: the current one) instead of the user-level one'
            cand --name 'The name of toolgate''s entry in the client''s configuration'
            cand --config 'Use this config file instead of the default one'
            cand --all 'Every client whose configuration folder exists on this machine'
            cand --dry-run 'Print the change as a diff and write nothing'
            cand --json 'Print JSON'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;uninstall'= {
            cand --project 'The project-level configuration of this folder (default: the current one) instead of the user-level one'
            cand --name 'The name of toolgate''s entry in the client''s configuration'
            cand --config 'Use this config file instead of the default one'
            cand --all 'Every client whose configuration folder exists on this machine'
            cand --dry-run 'Print the change as a diff and write nothing'
            cand --json 'Print JSON'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;import'= {
            cand --project 'Import from the project-level files of this folder (default: the current one) instead of the user-level ones'
            cand --config 'Use this config file instead of the default one'
            cand --all 'Every client whose configuration exists on this machine'
            cand --replace 'Then rewrite each client''s configuration to use toolgate alone (a backup is written first)'
            cand --dry-run 'Report what would be imported and write nothing (no keychain writes either)'
            cand --json 'Print JSON'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;doctor'= {
            cand --config 'Use this config file instead of the default one'
            cand --json 'Print JSON (a documented shape with a "version" field)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;completions'= {
            cand --config 'Use this config file instead of the default one'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;man'= {
            cand --out 'The folder to write them into'
            cand --config 'Use this config file instead of the default one'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'toolgate;help'= {
            cand serve 'Run the MCP server (what the IDE launches), over stdio'
            cand add 'Add an upstream MCP server to the config'
            cand remove 'Remove an upstream MCP server from the config'
            cand servers 'Show each upstream: transport, state, tool count, last error'
            cand tools 'Show every exposed tool and the upstream it maps to'
            cand call 'Call one tool through toolgate and print its result'
            cand secret 'Keep API keys and tokens in the OS keychain, referenced from config.toml as ${secret:NAME}'
            cand login 'Log in to a remote server (OAuth): opens the browser once; the tokens go to the keychain'
            cand logout 'Forget a server''s tokens, revoking them where the server supports it'
            cand auth 'OAuth logins: status per server'
            cand profile 'Org-signed profiles: the allowlist of servers and the pins of their tools (admins: keygen, pin, lint, sign; developers: pull, status, show, verify)'
            cand policy 'The policy in force: what it decides for a call, and why'
            cand scan 'Scan every configured server''s tools and instructions for poisoning (hidden Unicode, instruction tags, concealment, sensitive paths, exfiltration parameters, shadowing...). Exit 1 on a high finding'
            cand approve 'Approve or deny calls the policy holds for a person (step-up): the terminal UI, or --list and ID --allow|--deny for scripts'
            cand audit 'The audit trail: every call that reached policy and every governance event, chained so that tampering shows'
            cand install 'Add toolgate to an IDE''s or agent''s MCP configuration (a backup of the file is written first; everything else in it is kept)'
            cand uninstall 'Remove toolgate''s entry from a client''s MCP configuration'
            cand import 'Take over the MCP servers configured in your clients: add them to toolgate''s config, moving secrets into the keychain; --replace then points the client at toolgate alone'
            cand doctor 'Is everything healthy? A checklist (config, org profile, keychain, each upstream, approvals, audit) with a hint for each failure. Exit 1 only when something configured is broken'
            cand completions 'Print shell completions (bash, zsh, fish, powershell, elvish)'
            cand man 'Write the man pages (toolgate.1 and one per subcommand, as packaging/man/ holds them) into a folder'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'toolgate;help;serve'= {
        }
        &'toolgate;help;add'= {
        }
        &'toolgate;help;remove'= {
        }
        &'toolgate;help;servers'= {
        }
        &'toolgate;help;tools'= {
        }
        &'toolgate;help;call'= {
        }
        &'toolgate;help;secret'= {
            cand set 'Store a secret: the value is read from stdin, or asked for without echo when stdin is a terminal'
            cand list 'List the secrets set with toolgate (names only, never values)'
            cand rm 'Delete a secret from the keychain'
        }
        &'toolgate;help;secret;set'= {
        }
        &'toolgate;help;secret;list'= {
        }
        &'toolgate;help;secret;rm'= {
        }
        &'toolgate;help;login'= {
        }
        &'toolgate;help;logout'= {
        }
        &'toolgate;help;auth'= {
            cand status 'Per server: logged in?, issuer, scopes, expiry. Never a token'
        }
        &'toolgate;help;auth;status'= {
        }
        &'toolgate;help;profile'= {
            cand keygen 'Make a minisign key pair for signing profiles (password-protected unless --unencrypted; the password comes from TOOLGATE_KEY_PASSWORD or a prompt)'
            cand pin 'Start each server of a profile and write the pins of its tools and instructions into the file'
            cand lint 'Check a profile: schema, unknown keys, missing pins, expiry, weak settings'
            cand sign 'Sign a profile: writes FILE.minisig'
            cand pull 'Fetch the profile from the registry, verify it, cache it'
            cand status 'The profile in force: serial, issued, expires, key id, source, last pull and its result'
            cand show 'Print the verified profile in force'
            cand verify 'Verify a profile file against the trusted keys'
        }
        &'toolgate;help;profile;keygen'= {
        }
        &'toolgate;help;profile;pin'= {
        }
        &'toolgate;help;profile;lint'= {
        }
        &'toolgate;help;profile;sign'= {
        }
        &'toolgate;help;profile;pull'= {
        }
        &'toolgate;help;profile;status'= {
        }
        &'toolgate;help;profile;show'= {
        }
        &'toolgate;help;profile;verify'= {
        }
        &'toolgate;help;policy'= {
            cand explain 'Show the decision for a call and every rule that took part'
        }
        &'toolgate;help;policy;explain'= {
        }
        &'toolgate;help;scan'= {
        }
        &'toolgate;help;approve'= {
        }
        &'toolgate;help;audit'= {
            cand tail 'The latest records (-f: keep printing new ones)'
            cand verify 'Check the chain (every record''s hash and link, gaps) and the signed checkpoints (signature, key, truncation). Exit 0 only when intact'
            cand status 'How many records, the oldest and newest, the size on disk'
            cand export 'Every record since a time, one JSON object per line'
            cand key 'This device''s public key, which signs the checkpoints (made on first use, kept in the OS keychain): give it to whoever verifies'
            cand flush 'Upload every waiting record to the configured sinks now (ignoring backoff). Exit 0 when every sink took everything'
            cand search 'Records that match: QUERY anywhere in the record (case-insensitive), and every filter given. Oldest first'
        }
        &'toolgate;help;audit;tail'= {
        }
        &'toolgate;help;audit;verify'= {
        }
        &'toolgate;help;audit;status'= {
        }
        &'toolgate;help;audit;export'= {
        }
        &'toolgate;help;audit;key'= {
        }
        &'toolgate;help;audit;flush'= {
        }
        &'toolgate;help;audit;search'= {
        }
        &'toolgate;help;install'= {
        }
        &'toolgate;help;uninstall'= {
        }
        &'toolgate;help;import'= {
        }
        &'toolgate;help;doctor'= {
        }
        &'toolgate;help;completions'= {
        }
        &'toolgate;help;man'= {
        }
        &'toolgate;help;help'= {
        }
    ]
    $completions[$command]
}
