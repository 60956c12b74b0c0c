//! An org's signing key and the test registry (tests/fixtures/registry.py)
//! serving its signed profile on loopback, for the tests of profiles.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::{Home, cmd, fixture, ok};

/// An org: a key pair made with `toolgate profile keygen`.
pub struct Org {
    pub dir: tempfile::TempDir,
    pub key: PathBuf,
    pub public: String,
}

impl Org {
    pub fn new(home: &Home) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("org.key");
        let done = home.run_toolgate(&[
            "profile",
            "keygen",
            "--out",
            key.to_str().unwrap(),
            "--unencrypted",
        ]);
        ok(&done);
        Self {
            public: done.stdout.trim().to_string(),
            dir,
            key,
        }
    }

    /// Signs any bytes (even an invalid profile) with the org key, as
    /// `name` and `name.minisig`; returns the path.
    pub fn sign_raw(&self, name: &str, text: &str) -> PathBuf {
        let file = self.dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        let sk = std::fs::read_to_string(&self.key).unwrap();
        let sig = toolgate::profile::sign::sign(text.as_bytes(), &sk, None, "raw").unwrap();
        std::fs::write(self.dir.path().join(format!("{name}.minisig")), sig).unwrap();
        file
    }

    /// Signs `text` as `name` in the org's folder; returns its path.
    pub fn sign(&self, home: &Home, name: &str, text: &str) -> PathBuf {
        let file = self.dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        ok(&home.run_toolgate(&[
            "profile",
            "sign",
            file.to_str().unwrap(),
            "--key",
            self.key.to_str().unwrap(),
        ]));
        file
    }
}

/// The test registry (tests/fixtures/registry.py) serving a folder.
pub struct Registry {
    child: Child,
    pub dir: tempfile::TempDir,
    pub url: String,
}

impl Registry {
    pub fn start(home: &Home) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(home.tb.python())
            .arg(fixture("registry"))
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = serde_json::from_str::<Value>(&line).unwrap()["url"]
            .as_str()
            .unwrap()
            .to_string();
        Self { child, dir, url }
    }

    pub fn profile_url(&self) -> String {
        format!("{}/profile.toml", self.url)
    }

    /// Publishes a signed profile (and its signature, unless `sig` is false).
    pub fn publish(&self, file: &Path, sig: bool) {
        std::fs::copy(file, self.dir.path().join("profile.toml")).unwrap();
        let target = self.dir.path().join("profile.toml.minisig");
        if sig {
            let mut s = file.as_os_str().to_owned();
            s.push(".minisig");
            std::fs::copy(PathBuf::from(s), target).unwrap();
        } else {
            let _ = std::fs::remove_file(target);
        }
    }

    pub fn stats(&self) -> Value {
        let done = cmd(
            "curl",
            &["-s", &format!("{}/_stats", self.url)],
            Path::new("."),
        );
        serde_json::from_str(&done.stdout).unwrap()
    }

    pub fn mode(&self, mode: &str) {
        ok(&cmd(
            "curl",
            &[
                "-s",
                "-f",
                "-X",
                "POST",
                &format!("{}/_mode/{mode}", self.url),
            ],
            Path::new("."),
        ));
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
