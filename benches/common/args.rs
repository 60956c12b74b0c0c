//! The command line of a bench (`cargo bench --bench NAME -- ARGS`).

use anyhow::{Context, Result, bail, ensure};

/// A bench's arguments, read one at a time.
pub struct Args {
    /// The arguments as given (less the `--bench` cargo passes to
    /// `harness = false` targets), for the report.
    pub all: Vec<String>,
    /// `--quick` is among them (it sets defaults, so it is known up front).
    pub quick: bool,
    usage: &'static str,
    next: usize,
}

impl Args {
    pub fn from_env(usage: &'static str) -> Self {
        let all: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| a != "--bench")
            .collect();
        let quick = all.iter().any(|a| a == "--quick");
        Args {
            all,
            quick,
            usage,
            next: 0,
        }
    }

    pub fn next_arg(&mut self) -> Option<String> {
        let a = self.all.get(self.next).cloned();
        self.next += 1;
        a
    }

    /// The value after option `name`.
    pub fn value(&mut self, name: &str) -> Result<String> {
        let usage = self.usage;
        self.next_arg()
            .with_context(|| format!("{name} needs a value\n\n{usage}"))
    }

    /// The whole number (at least 1) after option `name`.
    pub fn number(&mut self, name: &str) -> Result<usize> {
        let usage = self.usage;
        let v = self
            .next_arg()
            .with_context(|| format!("{name} needs a number\n\n{usage}"))?;
        let n: usize = v
            .parse()
            .with_context(|| format!("{name}: not a number: {v:?}\n\n{usage}"))?;
        ensure!(n > 0, "{name} must be at least 1");
        Ok(n)
    }

    /// The comma-separated scenarios after option `name`, each one of
    /// `known`.
    pub fn scenarios(&mut self, name: &str, known: &[&str]) -> Result<Vec<String>> {
        let v = self.value(name)?;
        v.split(',')
            .map(|s| {
                ensure!(
                    known.contains(&s),
                    "{name}: unknown scenario {s:?} (known: {known:?})"
                );
                Ok(s.to_string())
            })
            .collect()
    }

    /// An argument no option of the bench took: `-h`/`--help` prints the
    /// usage and exits; anything else is an error.
    pub fn other(&self, arg: &str) -> Result<()> {
        if arg == "-h" || arg == "--help" {
            eprintln!("{}", self.usage);
            std::process::exit(0);
        }
        bail!("unknown argument {arg:?}\n\n{}", self.usage)
    }
}

/// The command line as a report shows it.
pub fn command_line(bench: &str, args: &[String]) -> String {
    let mut s = format!("cargo bench --bench {bench}");
    if !args.is_empty() {
        s.push_str(" --");
        for a in args {
            s.push(' ');
            s.push_str(a);
        }
    }
    s
}
