//! Uploads refused before their body is read: every client must be able to
//! read the refusal, whether it waits for `100 Continue` (curl) or sends
//! the whole body first (Python's http.client).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::server::{Server, TOKEN};

/// Sends `size` bytes with Python's http.client (which never sends
/// `Expect` and writes the whole body before it reads), then reads the
/// answer. Returns `{"status", "body", "connection"}` or `{"error"}`.
fn python_send(
    server: &Server,
    method: &str,
    path: &str,
    size: usize,
    headers: &[(&str, &str)],
) -> serde_json::Value {
    const SCRIPT: &str = r#"
import http.client, json, sys
port, method, path, size = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
headers = json.loads(sys.argv[5])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
try:
    conn.request(method, path, body=b"\0" * size, headers=headers)
    r = conn.getresponse()
    print(json.dumps({"status": r.status, "body": r.read().decode(), "connection": r.getheader("connection")}))
except Exception as e:
    print(json.dumps({"error": type(e).__name__ + ": " + str(e)}))
"#;
    let port = server.url("").rsplit(':').next().expect("port").to_owned();
    let headers: serde_json::Map<String, serde_json::Value> =
        headers.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(*v))).collect();
    let output = Command::new("python3")
        .args(["-c", SCRIPT, &port, method, path, &size.to_string()])
        .arg(serde_json::Value::Object(headers).to_string())
        .output()
        .expect("python3 runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("the script prints JSON")
}

fn error_code(answer: &serde_json::Value) -> String {
    let body: serde_json::Value =
        serde_json::from_str(answer["body"].as_str().unwrap_or("")).unwrap_or_default();
    body["error"]["code"].as_str().unwrap_or_default().to_owned()
}

const FOUR_MIB: usize = 4 << 20;
const UPLOAD: &str = "/api/v1/uploads/0190a0b0c0d0e0f00112233445566778";

#[test]
fn a_client_that_sends_its_whole_body_reads_the_refusal() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = Server::start(&dir.path().join("data"), &[]);
    let multipart = [("Content-Type", "multipart/form-data; boundary=x")];
    let tus = [
        ("Tus-Resumable", "1.0.0"),
        ("Content-Type", "application/offset+octet-stream"),
        ("Upload-Offset", "0"),
    ];
    let json = [("Content-Type", "application/json")];
    for (method, path, headers) in [
        ("POST", "/api/v1/assets", &multipart[..]),
        ("PATCH", UPLOAD, &tus[..]),
        ("POST", "/api/v1/direct-uploads", &json[..]),
    ] {
        let answer = python_send(&server, method, path, FOUR_MIB, headers);
        assert_eq!(answer["status"], 401, "{method} {path} without a token: {answer}");
        assert_eq!(error_code(&answer), "unauthorized", "{answer}");
        assert!(
            answer["connection"].is_null(),
            "the body was read to its end, so the connection stays open: {answer}"
        );
    }

    // Not only 401: a tus PATCH to an upload that does not exist is refused
    // before its body is read too.
    let auth = format!("Bearer {TOKEN}");
    let with_token = [tus.as_slice(), &[("Authorization", auth.as_str())]].concat();
    let answer = python_send(&server, "PATCH", UPLOAD, FOUR_MIB, &with_token);
    assert_eq!(answer["status"], 404, "{answer}");
    assert_eq!(error_code(&answer), "not_found", "{answer}");

    // Beyond the bound the server reads nothing and closes: it does not
    // swallow a large body for a client it has refused.
    let started = Instant::now();
    let answer = python_send(&server, "POST", "/api/v1/assets", 64 << 20, &multipart);
    assert!(answer["error"].is_string() || answer["connection"] == "close", "{answer}");
    assert!(started.elapsed() < Duration::from_secs(10), "refused at once, took {:?}", started.elapsed());
}

#[test]
fn a_client_that_expects_100_continue_gets_the_refusal_and_sends_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = Server::start(&dir.path().join("data"), &[]);
    let file = dir.path().join("body.bin");
    std::fs::write(&file, vec![0u8; FOUR_MIB]).expect("write");
    let data = format!("@{}", file.display());
    let form = format!("file=@{}", file.display());
    for (path, body_args) in [
        ("/api/v1/assets", vec!["-X", "POST", "-F", &form]),
        (
            UPLOAD,
            vec![
                "-X",
                "PATCH",
                "-H",
                "Tus-Resumable: 1.0.0",
                "-H",
                "Content-Type: application/offset+octet-stream",
                "-H",
                "Upload-Offset: 0",
                "--data-binary",
                &data,
            ],
        ),
    ] {
        // If the server sent 100 Continue (or nothing), curl would send the
        // body: after the 100, or after waiting 10 s for it.
        let mut args = vec![
            "-H",
            "Expect: 100-continue",
            "--expect100-timeout",
            "10",
            "-w",
            "\n%{size_upload}\n%{http_code}",
        ];
        args.extend(body_args);
        let started = Instant::now();
        let (status, text) = server.curl(&args, path);
        let (body, uploaded) = text.rsplit_once('\n').expect("size_upload");
        assert_eq!(status, 401, "{path}: {body}");
        let body: serde_json::Value = serde_json::from_str(body).expect("a JSON error");
        assert_eq!(body["error"]["code"], "unauthorized");
        assert_eq!(uploaded, "0", "{path}: curl sent {uploaded} bytes of the body");
        assert!(started.elapsed() < Duration::from_secs(5), "no wait for a 100 that never comes");
    }
}
