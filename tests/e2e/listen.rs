//! `toolgate serve --listen`: the bearer token, DNS-rebinding checks, and a
//! session over plain HTTP/1.1 (the conformance suite covers the protocol).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::support::{Home, Server};

struct Listening {
    child: Child,
    port: u16,
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listen(home: &Home) -> Listening {
    let mut cmd = home.toolgate(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("toolgate starts");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    // The bound address is announced on stderr (port 0 picks one).
    let port = loop {
        let line = lines
            .next()
            .expect("toolgate printed its address before exiting")
            .unwrap();
        if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
            break rest.trim_end_matches("/mcp").parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Listening { child, port }
}

/// One HTTP/1.1 request; returns the status, the head (status line and
/// headers, as sent) and the body.
fn http(port: u16, method: &str, headers: &[(&str, String)], body: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request = format!(
        "{method} /mcp HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw-http","version":"1"}}}"#;

#[test]
fn the_token_is_required_and_host_and_origin_must_be_loopback() {
    let home = Home::new();
    home.config(&[Server::time(&home.tb)]);
    let token = home.run_toolgate(&["serve", "--print-token"]);
    assert!(token.status.success(), "{}", token.describe());
    let token = token.stdout.trim().to_owned();
    assert!(token.len() >= 40, "{token}");
    // The same token on every call, kept private.
    assert_eq!(
        home.run_toolgate(&["serve", "--print-token"]).stdout.trim(),
        token
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.path().join("state/listen-token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "listen-token is readable by others: {mode:o}"
        );
    }
    let server = listen(&home);
    let port = server.port;
    let host = ("Host", format!("127.0.0.1:{port}"));
    let json = ("Content-Type", "application/json".to_owned());
    let accept = ("Accept", "application/json, text/event-stream".to_owned());
    let bearer = ("Authorization", format!("Bearer {token}"));

    let (status, head, _) = http(
        port,
        "POST",
        &[host.clone(), json.clone(), accept.clone()],
        INITIALIZE,
    );
    assert_eq!(status, 401, "no token: {head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{head}"
    );
    let wrong = ("Authorization", "Bearer not-the-token".to_owned());
    let (status, _, _) = http(
        port,
        "POST",
        &[host.clone(), json.clone(), accept.clone(), wrong],
        INITIALIZE,
    );
    assert_eq!(status, 401, "wrong token");
    let evil_host = ("Host", format!("evil.example:{port}"));
    let (status, _, _) = http(
        port,
        "POST",
        &[evil_host, json.clone(), accept.clone(), bearer.clone()],
        INITIALIZE,
    );
    assert_eq!(status, 403, "a foreign Host");
    let evil_origin = ("Origin", "http://evil.example".to_owned());
    let (status, _, _) = http(
        port,
        "POST",
        &[
            host.clone(),
            json.clone(),
            accept.clone(),
            bearer.clone(),
            evil_origin,
        ],
        INITIALIZE,
    );
    assert_eq!(status, 403, "a foreign Origin");

    // With the token, a session works: initialize, then a call.
    let json_only = ("Accept", "application/json".to_owned());
    let (status, head, body) = http(
        port,
        "POST",
        &[
            host.clone(),
            json.clone(),
            json_only.clone(),
            bearer.clone(),
        ],
        INITIALIZE,
    );
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(body.contains("\"serverInfo\""), "{body}");
    let session = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(": ")?;
            name.eq_ignore_ascii_case("mcp-session-id").then_some(value)
        })
        .expect("a session id")
        .trim()
        .to_owned();
    let sid = ("Mcp-Session-Id", session);
    let call = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"time__get_current_time","arguments":{"timezone":"UTC"}}}"#;
    let (status, _, body) = http(
        port,
        "POST",
        &[
            host.clone(),
            json.clone(),
            json_only.clone(),
            bearer.clone(),
            sid.clone(),
        ],
        call,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"id\":2") && body.contains("UTC"), "{body}");
    // An unknown session is 404; ending the session works once.
    let gone = ("Mcp-Session-Id", "no-such-session".to_owned());
    let (status, _, _) = http(
        port,
        "POST",
        &[host.clone(), json.clone(), json_only, bearer.clone(), gone],
        call,
    );
    assert_eq!(status, 404);
    let (status, _, _) = http(
        port,
        "DELETE",
        &[host.clone(), bearer.clone(), sid.clone()],
        "",
    );
    assert_eq!(status, 200);
    let (status, _, _) = http(port, "DELETE", &[host, bearer, sid], "");
    assert_eq!(status, 404);
}

#[test]
fn only_loopback_is_served_unless_told_otherwise() {
    let home = Home::new();
    home.config(&[]);
    let done = home.run_toolgate(&["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(done.status.code(), Some(2), "{}", done.describe());
    assert!(
        done.stderr.contains("not a loopback address"),
        "{}",
        done.describe()
    );
    assert!(done.stderr.contains("hint:"), "{}", done.describe());
}
