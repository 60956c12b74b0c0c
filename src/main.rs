fn main() -> std::process::ExitCode {
    // The reaper (`toolgate __reaper`, started by toolgate itself; see
    // toolgate::upstream::reaper) runs before anything else: no command-line
    // parsing, config, logging or runtime. Not a clap subcommand, so it is in
    // neither the help, the completions nor the man pages.
    if std::env::args_os().nth(1).as_deref() == Some(toolgate::upstream::reaper::ARG.as_ref()) {
        return toolgate::upstream::reaper::main();
    }
    toolgate::cli::main()
}
