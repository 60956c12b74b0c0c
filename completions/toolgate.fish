# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_toolgate_global_optspecs
    string join \n config= h/help V/version
end

function __fish_toolgate_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_toolgate_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_toolgate_using_subcommand
    set -l cmd (__fish_toolgate_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c toolgate -n "__fish_toolgate_needs_command" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_needs_command" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_needs_command" -s V -l version -d 'Print version'
complete -c toolgate -n "__fish_toolgate_needs_command" -f -a "serve" -d 'Run the MCP server (what the IDE launches), over stdio'
complete -c toolgate -n "__fish_toolgate_needs_command" -f -a "add" -d 'Add an upstream MCP server to the config'
complete -c toolgate -n "__fish_toolgate_needs_command" -f -a "remove" -d 'Remove an upstream MCP server from the config'
complete -c toolgate -n "__fish_toolgate_needs_command" -f -a "servers" -d 'Show each upstream: transport, state, tool count, last error'
complete -c toolgate -n "__fish_toolgate_needs_command" -f -a "tools" -d 'Show every exposed tool and the upstream it maps to'
complete -c toolgate -n "__fish_toolgate_needs_command" -f -a "call" -d 'Call one tool through toolgate and print its result'
complete -c toolgate -n "__fish_toolgate_needs_command" -f -a "secret" -d 'Keep API keys and tokens in the OS keychain, referenced from config.toml as ${secret:NAME}'
complete -c toolgate -n "__fish_toolgate_needs_command" -f -a "login" -d 'Log in to a remote server (OAuth): opens the browser once; the tokens go to the keychain'
complete -c toolgate -n "__fish_toolgate_needs_command" -f -a "logout" -d 'Forget a server\'s tokens, revoking them where the server supports it'
complete -c toolgate -n "__fish_toolgate_needs_command" -f -a "auth" -d 'OAuth logins: status per server'
complete -c toolgate -n "__fish_toolgate_needs_command" -f -a "profile" -d 'Org-signed profiles: the allowlist of servers and the pins of their tools (admins: keygen, pin, lint, sign; developers: pull, status, show, verify)'
complete -c toolgate -n "__fish_toolgate_needs_command" -f -a "policy" -d 'The policy in force: what it decides for a call, and why'
complete -c toolgate -n "__fish_toolgate_needs_command" -f -a "scan" -d 'Scan every configured server\'s tools and instructions for poisoning (hidden Unicode, instruction tags, concealment, sensitive paths, exfiltration parameters, shadowing...). Exit 1 on a high finding'
complete -c toolgate -n "__fish_toolgate_needs_command" -f -a "approve" -d 'Approve or deny calls the policy holds for a person (step-up): the terminal UI, or --list and ID --allow|--deny for scripts'
complete -c toolgate -n "__fish_toolgate_needs_command" -f -a "audit" -d 'The audit trail: every call that reached policy and every governance event, chained so that tampering shows'
complete -c toolgate -n "__fish_toolgate_needs_command" -f -a "install" -d 'Add toolgate to an IDE\'s or agent\'s MCP configuration (a backup of the file is written first; everything else in it is kept)'
complete -c toolgate -n "__fish_toolgate_needs_command" -f -a "uninstall" -d 'Remove toolgate\'s entry from a client\'s MCP configuration'
complete -c toolgate -n "__fish_toolgate_needs_command" -f -a "import" -d 'Take over the MCP servers configured in your clients: add them to toolgate\'s config, moving secrets into the keychain; --replace then points the client at toolgate alone'
complete -c toolgate -n "__fish_toolgate_needs_command" -f -a "doctor" -d 'Is everything healthy? A checklist (config, org profile, keychain, each upstream, approvals, audit) with a hint for each failure. Exit 1 only when something configured is broken'
complete -c toolgate -n "__fish_toolgate_needs_command" -f -a "completions" -d 'Print shell completions (bash, zsh, fish, powershell, elvish)'
complete -c toolgate -n "__fish_toolgate_needs_command" -f -a "man" -d 'Write the man pages (toolgate.1 and one per subcommand, as packaging/man/ holds them) into a folder'
complete -c toolgate -n "__fish_toolgate_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c toolgate -n "__fish_toolgate_using_subcommand serve" -l listen -d 'Serve over streamable HTTP at this address instead of stdio, such as 127.0.0.1:8765 (port 0 picks a free port, printed on stderr)' -r
complete -c toolgate -n "__fish_toolgate_using_subcommand serve" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand serve" -l print-token -d 'Print the bearer token that --listen requires, and exit'
complete -c toolgate -n "__fish_toolgate_using_subcommand serve" -l no-token -d 'With --listen: accept requests without the bearer token. Any local process (of any user) can then use toolgate\'s upstreams'
complete -c toolgate -n "__fish_toolgate_using_subcommand serve" -l allow-non-loopback -d 'With --listen: allow an address that is not loopback'
complete -c toolgate -n "__fish_toolgate_using_subcommand serve" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand add" -l url -d 'Remote server: its MCP endpoint (streamable HTTP or SSE)' -r
complete -c toolgate -n "__fish_toolgate_using_subcommand add" -l header -d 'Remote server: a header sent with every request, as \'Name: value\'' -r
complete -c toolgate -n "__fish_toolgate_using_subcommand add" -l env -d 'Stdio server: an environment variable, as NAME=VALUE' -r
complete -c toolgate -n "__fish_toolgate_using_subcommand add" -l cwd -d 'Stdio server: its working folder' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand add" -l prefix -d 'Prefix of exposed names (default: the server\'s name; "" for none)' -r
complete -c toolgate -n "__fish_toolgate_using_subcommand add" -l timeout -d 'Per-request timeout, such as 30s or 2m' -r
complete -c toolgate -n "__fish_toolgate_using_subcommand add" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand add" -l disabled -d 'Add the server disabled'
complete -c toolgate -n "__fish_toolgate_using_subcommand add" -l force -d 'Replace an existing server of that name'
complete -c toolgate -n "__fish_toolgate_using_subcommand add" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand remove" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand remove" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand servers" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand servers" -l json -d 'Print JSON (a documented shape with a "version" field)'
complete -c toolgate -n "__fish_toolgate_using_subcommand servers" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand tools" -l server -d 'Only this server\'s tools' -r
complete -c toolgate -n "__fish_toolgate_using_subcommand tools" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand tools" -l json -d 'Print JSON (a documented shape with a "version" field)'
complete -c toolgate -n "__fish_toolgate_using_subcommand tools" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand call" -l args -d 'The arguments, a JSON object' -r
complete -c toolgate -n "__fish_toolgate_using_subcommand call" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand call" -l json -d 'Print the raw result as JSON'
complete -c toolgate -n "__fish_toolgate_using_subcommand call" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand secret; and not __fish_seen_subcommand_from set list rm help" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand secret; and not __fish_seen_subcommand_from set list rm help" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand secret; and not __fish_seen_subcommand_from set list rm help" -f -a "set" -d 'Store a secret: the value is read from stdin, or asked for without echo when stdin is a terminal'
complete -c toolgate -n "__fish_toolgate_using_subcommand secret; and not __fish_seen_subcommand_from set list rm help" -f -a "list" -d 'List the secrets set with toolgate (names only, never values)'
complete -c toolgate -n "__fish_toolgate_using_subcommand secret; and not __fish_seen_subcommand_from set list rm help" -f -a "rm" -d 'Delete a secret from the keychain'
complete -c toolgate -n "__fish_toolgate_using_subcommand secret; and not __fish_seen_subcommand_from set list rm help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c toolgate -n "__fish_toolgate_using_subcommand secret; and __fish_seen_subcommand_from set" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand secret; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand secret; and __fish_seen_subcommand_from list" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand secret; and __fish_seen_subcommand_from list" -l json -d 'Print JSON (a documented shape with a "version" field)'
complete -c toolgate -n "__fish_toolgate_using_subcommand secret; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand secret; and __fish_seen_subcommand_from rm" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand secret; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand secret; and __fish_seen_subcommand_from help" -f -a "set" -d 'Store a secret: the value is read from stdin, or asked for without echo when stdin is a terminal'
complete -c toolgate -n "__fish_toolgate_using_subcommand secret; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the secrets set with toolgate (names only, never values)'
complete -c toolgate -n "__fish_toolgate_using_subcommand secret; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Delete a secret from the keychain'
complete -c toolgate -n "__fish_toolgate_using_subcommand secret; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c toolgate -n "__fish_toolgate_using_subcommand login" -l scope -d 'A further scope to ask for (repeatable), beyond what the server asks' -r
complete -c toolgate -n "__fish_toolgate_using_subcommand login" -l timeout -d 'How long to wait for the browser round trip, such as 5m' -r
complete -c toolgate -n "__fish_toolgate_using_subcommand login" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand login" -l no-browser -d 'Print the login URL instead of opening a browser'
complete -c toolgate -n "__fish_toolgate_using_subcommand login" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand logout" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand logout" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand auth; and not __fish_seen_subcommand_from status help" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand auth; and not __fish_seen_subcommand_from status help" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand auth; and not __fish_seen_subcommand_from status help" -f -a "status" -d 'Per server: logged in?, issuer, scopes, expiry. Never a token'
complete -c toolgate -n "__fish_toolgate_using_subcommand auth; and not __fish_seen_subcommand_from status help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c toolgate -n "__fish_toolgate_using_subcommand auth; and __fish_seen_subcommand_from status" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand auth; and __fish_seen_subcommand_from status" -l json -d 'Print JSON (a documented shape with a "version" field)'
complete -c toolgate -n "__fish_toolgate_using_subcommand auth; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand auth; and __fish_seen_subcommand_from help" -f -a "status" -d 'Per server: logged in?, issuer, scopes, expiry. Never a token'
complete -c toolgate -n "__fish_toolgate_using_subcommand auth; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and not __fish_seen_subcommand_from keygen pin lint sign pull status show verify help" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and not __fish_seen_subcommand_from keygen pin lint sign pull status show verify help" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and not __fish_seen_subcommand_from keygen pin lint sign pull status show verify help" -f -a "keygen" -d 'Make a minisign key pair for signing profiles (password-protected unless --unencrypted; the password comes from TOOLGATE_KEY_PASSWORD or a prompt)'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and not __fish_seen_subcommand_from keygen pin lint sign pull status show verify help" -f -a "pin" -d 'Start each server of a profile and write the pins of its tools and instructions into the file'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and not __fish_seen_subcommand_from keygen pin lint sign pull status show verify help" -f -a "lint" -d 'Check a profile: schema, unknown keys, missing pins, expiry, weak settings'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and not __fish_seen_subcommand_from keygen pin lint sign pull status show verify help" -f -a "sign" -d 'Sign a profile: writes FILE.minisig'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and not __fish_seen_subcommand_from keygen pin lint sign pull status show verify help" -f -a "pull" -d 'Fetch the profile from the registry, verify it, cache it'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and not __fish_seen_subcommand_from keygen pin lint sign pull status show verify help" -f -a "status" -d 'The profile in force: serial, issued, expires, key id, source, last pull and its result'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and not __fish_seen_subcommand_from keygen pin lint sign pull status show verify help" -f -a "show" -d 'Print the verified profile in force'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and not __fish_seen_subcommand_from keygen pin lint sign pull status show verify help" -f -a "verify" -d 'Verify a profile file against the trusted keys'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and not __fish_seen_subcommand_from keygen pin lint sign pull status show verify help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from keygen" -l out -d 'Where to write the secret key; the public key goes beside it, with the extension .pub' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from keygen" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from keygen" -l unencrypted -d 'Do not protect the secret key with a password (for CI signing)'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from keygen" -l force -d 'Replace existing key files'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from keygen" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from pin" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from pin" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from lint" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from lint" -l json -d 'Print JSON (a documented shape with a "version" field)'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from lint" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from sign" -l key -d 'The secret key made by `toolgate profile keygen` or `minisign -G`' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from sign" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from sign" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from pull" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from pull" -l json -d 'Print JSON (a documented shape with a "version" field)'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from pull" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from status" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from status" -l json -d 'Print JSON (a documented shape with a "version" field)'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from show" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from show" -l json -d 'Print JSON (a documented shape with a "version" field)'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from verify" -l sig -d 'The signature (default: FILE.minisig)' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from verify" -l key -d 'A trusted public key to use instead of the configured ones (the base64 line or a .pub file)' -r
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from verify" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from verify" -l json -d 'Print JSON (a documented shape with a "version" field)'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from help" -f -a "keygen" -d 'Make a minisign key pair for signing profiles (password-protected unless --unencrypted; the password comes from TOOLGATE_KEY_PASSWORD or a prompt)'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from help" -f -a "pin" -d 'Start each server of a profile and write the pins of its tools and instructions into the file'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from help" -f -a "lint" -d 'Check a profile: schema, unknown keys, missing pins, expiry, weak settings'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from help" -f -a "sign" -d 'Sign a profile: writes FILE.minisig'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from help" -f -a "pull" -d 'Fetch the profile from the registry, verify it, cache it'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from help" -f -a "status" -d 'The profile in force: serial, issued, expires, key id, source, last pull and its result'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from help" -f -a "show" -d 'Print the verified profile in force'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Verify a profile file against the trusted keys'
complete -c toolgate -n "__fish_toolgate_using_subcommand profile; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c toolgate -n "__fish_toolgate_using_subcommand policy; and not __fish_seen_subcommand_from explain help" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand policy; and not __fish_seen_subcommand_from explain help" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand policy; and not __fish_seen_subcommand_from explain help" -f -a "explain" -d 'Show the decision for a call and every rule that took part'
complete -c toolgate -n "__fish_toolgate_using_subcommand policy; and not __fish_seen_subcommand_from explain help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c toolgate -n "__fish_toolgate_using_subcommand policy; and __fish_seen_subcommand_from explain" -l args -d 'The call\'s arguments, a JSON object' -r
complete -c toolgate -n "__fish_toolgate_using_subcommand policy; and __fish_seen_subcommand_from explain" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand policy; and __fish_seen_subcommand_from explain" -l json -d 'Print JSON (a documented shape with a "version" field)'
complete -c toolgate -n "__fish_toolgate_using_subcommand policy; and __fish_seen_subcommand_from explain" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "explain" -d 'Show the decision for a call and every rule that took part'
complete -c toolgate -n "__fish_toolgate_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c toolgate -n "__fish_toolgate_using_subcommand scan" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand scan" -l json -d 'Print JSON (a documented shape with a "version" field)'
complete -c toolgate -n "__fish_toolgate_using_subcommand scan" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand approve" -l reason -d 'Why (recorded; shown to the agent on a denial)' -r
complete -c toolgate -n "__fish_toolgate_using_subcommand approve" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand approve" -l allow -d 'Approve the call (scripts: needs cli = true under [policy.approvals] in the org profile)'
complete -c toolgate -n "__fish_toolgate_using_subcommand approve" -l deny -d 'Deny the call'
complete -c toolgate -n "__fish_toolgate_using_subcommand approve" -l list -d 'List the held calls of every toolgate serve and exit'
complete -c toolgate -n "__fish_toolgate_using_subcommand approve" -l json -d 'With --list: print JSON (a documented shape with a "version" field)'
complete -c toolgate -n "__fish_toolgate_using_subcommand approve" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and not __fish_seen_subcommand_from tail verify status export key flush search help" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and not __fish_seen_subcommand_from tail verify status export key flush search help" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and not __fish_seen_subcommand_from tail verify status export key flush search help" -f -a "tail" -d 'The latest records (-f: keep printing new ones)'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and not __fish_seen_subcommand_from tail verify status export key flush search help" -f -a "verify" -d 'Check the chain (every record\'s hash and link, gaps) and the signed checkpoints (signature, key, truncation). Exit 0 only when intact'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and not __fish_seen_subcommand_from tail verify status export key flush search help" -f -a "status" -d 'How many records, the oldest and newest, the size on disk'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and not __fish_seen_subcommand_from tail verify status export key flush search help" -f -a "export" -d 'Every record since a time, one JSON object per line'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and not __fish_seen_subcommand_from tail verify status export key flush search help" -f -a "key" -d 'This device\'s public key, which signs the checkpoints (made on first use, kept in the OS keychain): give it to whoever verifies'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and not __fish_seen_subcommand_from tail verify status export key flush search help" -f -a "flush" -d 'Upload every waiting record to the configured sinks now (ignoring backoff). Exit 0 when every sink took everything'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and not __fish_seen_subcommand_from tail verify status export key flush search help" -f -a "search" -d 'Records that match: QUERY anywhere in the record (case-insensitive), and every filter given. Oldest first'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and not __fish_seen_subcommand_from tail verify status export key flush search help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from tail" -s n -l lines -d 'How many records' -r
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from tail" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from tail" -s f -l follow -d 'Keep printing records as they are written'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from tail" -l json -d 'One JSON record per line'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from tail" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from verify" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from verify" -l json -d 'Print JSON (a documented shape with a "version" field)'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from verify" -l strict -d 'Also check that every record is in canonical form (RFC 8785), as a third party re-serializing records would need; slower'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from status" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from status" -l json -d 'Print JSON (a documented shape with a "version" field)'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from export" -l since -d 'Only records newer than this (a duration such as 24h or 30m)' -r
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from export" -l format -d 'The output format (ndjson: one record per line)' -r -f -a "ndjson\t''"
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from export" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from key" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from key" -l json -d 'Print JSON (a documented shape with a "version" field)'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from key" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from flush" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from flush" -l json -d 'Print JSON (a documented shape with a "version" field)'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from flush" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from search" -l since -d 'Only records newer than this (a duration such as 2h or 30m)' -r
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from search" -l server -d 'Only this server\'s records' -r
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from search" -l tool -d 'Only this tool\'s records (the upstream\'s own name)' -r
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from search" -l decision -d 'Only this decision: allow, observe, deny, step-up, limited, blocked' -r
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from search" -l limit -d 'At most this many (the newest of the matches)' -r
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from search" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from search" -l json -d 'One JSON record per line'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from search" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "tail" -d 'The latest records (-f: keep printing new ones)'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Check the chain (every record\'s hash and link, gaps) and the signed checkpoints (signature, key, truncation). Exit 0 only when intact'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "status" -d 'How many records, the oldest and newest, the size on disk'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "export" -d 'Every record since a time, one JSON object per line'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "key" -d 'This device\'s public key, which signs the checkpoints (made on first use, kept in the OS keychain): give it to whoever verifies'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "flush" -d 'Upload every waiting record to the configured sinks now (ignoring backoff). Exit 0 when every sink took everything'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "search" -d 'Records that match: QUERY anywhere in the record (case-insensitive), and every filter given. Oldest first'
complete -c toolgate -n "__fish_toolgate_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c toolgate -n "__fish_toolgate_using_subcommand install" -l project -d 'The project-level configuration of this folder (default: the current one) instead of the user-level one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand install" -l name -d 'The name of toolgate\'s entry in the client\'s configuration' -r
complete -c toolgate -n "__fish_toolgate_using_subcommand install" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand install" -l all -d 'Every client whose configuration folder exists on this machine'
complete -c toolgate -n "__fish_toolgate_using_subcommand install" -l dry-run -d 'Print the change as a diff and write nothing'
complete -c toolgate -n "__fish_toolgate_using_subcommand install" -l json -d 'Print JSON'
complete -c toolgate -n "__fish_toolgate_using_subcommand install" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand uninstall" -l project -d 'The project-level configuration of this folder (default: the current one) instead of the user-level one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand uninstall" -l name -d 'The name of toolgate\'s entry in the client\'s configuration' -r
complete -c toolgate -n "__fish_toolgate_using_subcommand uninstall" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand uninstall" -l all -d 'Every client whose configuration folder exists on this machine'
complete -c toolgate -n "__fish_toolgate_using_subcommand uninstall" -l dry-run -d 'Print the change as a diff and write nothing'
complete -c toolgate -n "__fish_toolgate_using_subcommand uninstall" -l json -d 'Print JSON'
complete -c toolgate -n "__fish_toolgate_using_subcommand uninstall" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand import" -l project -d 'Import from the project-level files of this folder (default: the current one) instead of the user-level ones' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand import" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand import" -l all -d 'Every client whose configuration exists on this machine'
complete -c toolgate -n "__fish_toolgate_using_subcommand import" -l replace -d 'Then rewrite each client\'s configuration to use toolgate alone (a backup is written first)'
complete -c toolgate -n "__fish_toolgate_using_subcommand import" -l dry-run -d 'Report what would be imported and write nothing (no keychain writes either)'
complete -c toolgate -n "__fish_toolgate_using_subcommand import" -l json -d 'Print JSON'
complete -c toolgate -n "__fish_toolgate_using_subcommand import" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand doctor" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand doctor" -l json -d 'Print JSON (a documented shape with a "version" field)'
complete -c toolgate -n "__fish_toolgate_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand completions" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand completions" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand man" -l out -d 'The folder to write them into' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand man" -l config -d 'Use this config file instead of the default one' -r -F
complete -c toolgate -n "__fish_toolgate_using_subcommand man" -s h -l help -d 'Print help'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and not __fish_seen_subcommand_from serve add remove servers tools call secret login logout auth profile policy scan approve audit install uninstall import doctor completions man help" -f -a "serve" -d 'Run the MCP server (what the IDE launches), over stdio'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and not __fish_seen_subcommand_from serve add remove servers tools call secret login logout auth profile policy scan approve audit install uninstall import doctor completions man help" -f -a "add" -d 'Add an upstream MCP server to the config'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and not __fish_seen_subcommand_from serve add remove servers tools call secret login logout auth profile policy scan approve audit install uninstall import doctor completions man help" -f -a "remove" -d 'Remove an upstream MCP server from the config'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and not __fish_seen_subcommand_from serve add remove servers tools call secret login logout auth profile policy scan approve audit install uninstall import doctor completions man help" -f -a "servers" -d 'Show each upstream: transport, state, tool count, last error'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and not __fish_seen_subcommand_from serve add remove servers tools call secret login logout auth profile policy scan approve audit install uninstall import doctor completions man help" -f -a "tools" -d 'Show every exposed tool and the upstream it maps to'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and not __fish_seen_subcommand_from serve add remove servers tools call secret login logout auth profile policy scan approve audit install uninstall import doctor completions man help" -f -a "call" -d 'Call one tool through toolgate and print its result'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and not __fish_seen_subcommand_from serve add remove servers tools call secret login logout auth profile policy scan approve audit install uninstall import doctor completions man help" -f -a "secret" -d 'Keep API keys and tokens in the OS keychain, referenced from config.toml as ${secret:NAME}'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and not __fish_seen_subcommand_from serve add remove servers tools call secret login logout auth profile policy scan approve audit install uninstall import doctor completions man help" -f -a "login" -d 'Log in to a remote server (OAuth): opens the browser once; the tokens go to the keychain'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and not __fish_seen_subcommand_from serve add remove servers tools call secret login logout auth profile policy scan approve audit install uninstall import doctor completions man help" -f -a "logout" -d 'Forget a server\'s tokens, revoking them where the server supports it'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and not __fish_seen_subcommand_from serve add remove servers tools call secret login logout auth profile policy scan approve audit install uninstall import doctor completions man help" -f -a "auth" -d 'OAuth logins: status per server'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and not __fish_seen_subcommand_from serve add remove servers tools call secret login logout auth profile policy scan approve audit install uninstall import doctor completions man help" -f -a "profile" -d 'Org-signed profiles: the allowlist of servers and the pins of their tools (admins: keygen, pin, lint, sign; developers: pull, status, show, verify)'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and not __fish_seen_subcommand_from serve add remove servers tools call secret login logout auth profile policy scan approve audit install uninstall import doctor completions man help" -f -a "policy" -d 'The policy in force: what it decides for a call, and why'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and not __fish_seen_subcommand_from serve add remove servers tools call secret login logout auth profile policy scan approve audit install uninstall import doctor completions man help" -f -a "scan" -d 'Scan every configured server\'s tools and instructions for poisoning (hidden Unicode, instruction tags, concealment, sensitive paths, exfiltration parameters, shadowing...). Exit 1 on a high finding'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and not __fish_seen_subcommand_from serve add remove servers tools call secret login logout auth profile policy scan approve audit install uninstall import doctor completions man help" -f -a "approve" -d 'Approve or deny calls the policy holds for a person (step-up): the terminal UI, or --list and ID --allow|--deny for scripts'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and not __fish_seen_subcommand_from serve add remove servers tools call secret login logout auth profile policy scan approve audit install uninstall import doctor completions man help" -f -a "audit" -d 'The audit trail: every call that reached policy and every governance event, chained so that tampering shows'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and not __fish_seen_subcommand_from serve add remove servers tools call secret login logout auth profile policy scan approve audit install uninstall import doctor completions man help" -f -a "install" -d 'Add toolgate to an IDE\'s or agent\'s MCP configuration (a backup of the file is written first; everything else in it is kept)'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and not __fish_seen_subcommand_from serve add remove servers tools call secret login logout auth profile policy scan approve audit install uninstall import doctor completions man help" -f -a "uninstall" -d 'Remove toolgate\'s entry from a client\'s MCP configuration'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and not __fish_seen_subcommand_from serve add remove servers tools call secret login logout auth profile policy scan approve audit install uninstall import doctor completions man help" -f -a "import" -d 'Take over the MCP servers configured in your clients: add them to toolgate\'s config, moving secrets into the keychain; --replace then points the client at toolgate alone'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and not __fish_seen_subcommand_from serve add remove servers tools call secret login logout auth profile policy scan approve audit install uninstall import doctor completions man help" -f -a "doctor" -d 'Is everything healthy? A checklist (config, org profile, keychain, each upstream, approvals, audit) with a hint for each failure. Exit 1 only when something configured is broken'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and not __fish_seen_subcommand_from serve add remove servers tools call secret login logout auth profile policy scan approve audit install uninstall import doctor completions man help" -f -a "completions" -d 'Print shell completions (bash, zsh, fish, powershell, elvish)'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and not __fish_seen_subcommand_from serve add remove servers tools call secret login logout auth profile policy scan approve audit install uninstall import doctor completions man help" -f -a "man" -d 'Write the man pages (toolgate.1 and one per subcommand, as packaging/man/ holds them) into a folder'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and not __fish_seen_subcommand_from serve add remove servers tools call secret login logout auth profile policy scan approve audit install uninstall import doctor completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and __fish_seen_subcommand_from secret" -f -a "set" -d 'Store a secret: the value is read from stdin, or asked for without echo when stdin is a terminal'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and __fish_seen_subcommand_from secret" -f -a "list" -d 'List the secrets set with toolgate (names only, never values)'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and __fish_seen_subcommand_from secret" -f -a "rm" -d 'Delete a secret from the keychain'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and __fish_seen_subcommand_from auth" -f -a "status" -d 'Per server: logged in?, issuer, scopes, expiry. Never a token'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and __fish_seen_subcommand_from profile" -f -a "keygen" -d 'Make a minisign key pair for signing profiles (password-protected unless --unencrypted; the password comes from TOOLGATE_KEY_PASSWORD or a prompt)'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and __fish_seen_subcommand_from profile" -f -a "pin" -d 'Start each server of a profile and write the pins of its tools and instructions into the file'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and __fish_seen_subcommand_from profile" -f -a "lint" -d 'Check a profile: schema, unknown keys, missing pins, expiry, weak settings'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and __fish_seen_subcommand_from profile" -f -a "sign" -d 'Sign a profile: writes FILE.minisig'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and __fish_seen_subcommand_from profile" -f -a "pull" -d 'Fetch the profile from the registry, verify it, cache it'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and __fish_seen_subcommand_from profile" -f -a "status" -d 'The profile in force: serial, issued, expires, key id, source, last pull and its result'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and __fish_seen_subcommand_from profile" -f -a "show" -d 'Print the verified profile in force'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and __fish_seen_subcommand_from profile" -f -a "verify" -d 'Verify a profile file against the trusted keys'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "explain" -d 'Show the decision for a call and every rule that took part'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "tail" -d 'The latest records (-f: keep printing new ones)'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "verify" -d 'Check the chain (every record\'s hash and link, gaps) and the signed checkpoints (signature, key, truncation). Exit 0 only when intact'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "status" -d 'How many records, the oldest and newest, the size on disk'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "export" -d 'Every record since a time, one JSON object per line'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "key" -d 'This device\'s public key, which signs the checkpoints (made on first use, kept in the OS keychain): give it to whoever verifies'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "flush" -d 'Upload every waiting record to the configured sinks now (ignoring backoff). Exit 0 when every sink took everything'
complete -c toolgate -n "__fish_toolgate_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "search" -d 'Records that match: QUERY anywhere in the record (case-insensitive), and every filter given. Oldest first'
