//! A request's life whatever its client does: a client that leaves at any
//! point never leaves a change without its audit event, and every request
//! that is refused (a body too large, an audit log that cannot be
//! written, a content type that is not KMS's) gets its answer before the
//! connection ends. Raw sockets, bytes as a client sends them.

#[allow(unused_macros)] // assert_err! is for the other test files.
mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use common::Trent;
use serde_json::Value;

fn connect(trent: &Trent) -> TcpStream {
    let addr = trent.endpoint().trim_start_matches("http://").to_owned();
    let stream = TcpStream::connect(addr).expect("connecting to trent");
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream
}

/// A KMS request as the SDKs send it; in `--dev` mode any credentials pass.
fn request(target: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let head = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nX-Amz-Target: TrentService.{target}\r\nX-Amz-Date: 20260101T000000Z\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=00\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    [head.as_bytes(), body].concat()
}

const JSON: &str = "application/x-amz-json-1.1";

/// Reads one answer (head and Content-Length body): (status line, head, body).
fn read_answer(stream: &mut TcpStream) -> (String, String, String) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).unwrap_or_else(|e| panic!("reading the answer's head: {e}; read so far {:?}", String::from_utf8_lossy(&buf)));
        assert_eq!(n, 1, "the connection closed before the answer's head ended: {:?}", String::from_utf8_lossy(&buf));
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let length: usize = head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap())).expect("content-length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    (head.lines().next().unwrap().to_owned(), head.to_ascii_lowercase(), String::from_utf8(body).unwrap())
}

/// Every key in the store, counted through ListKeys.
fn key_count(trent: &Trent) -> usize {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = trent.client(common::REGION);
        let mut count = 0;
        let mut marker = None;
        loop {
            let page = client.list_keys().limit(1000).set_marker(marker).send().await.unwrap();
            count += page.keys().len();
            if !page.truncated() {
                return count;
            }
            marker = page.next_marker().map(str::to_owned);
        }
    })
}

#[test]
fn a_client_that_leaves_at_any_point_leaves_no_change_unaudited() {
    let mut trent = Trent::start(&["--dev"]);
    let create_key = request("CreateKey", JSON, br#"{"Description":"left"}"#);
    for i in 0..240u64 {
        let mut stream = connect(&trent);
        match i % 4 {
            // The whole request, then gone after 0 to ~2 ms: a shutdown
            // of both directions, or just a close.
            0 | 1 => {
                stream.write_all(&create_key).unwrap();
                std::thread::sleep(Duration::from_micros((i % 20) * 100));
                if i % 4 == 0 {
                    let _ = stream.shutdown(Shutdown::Both);
                }
            }
            // Half of the body: nothing may change.
            2 => {
                stream.write_all(&create_key[..create_key.len() - 5]).unwrap();
            }
            // Sends, stops writing, and waits for nothing.
            _ => {
                stream.write_all(&create_key).unwrap();
                let _ = stream.shutdown(Shutdown::Write);
            }
        }
        drop(stream);
    }
    // A graceful stop waits for every request's task, answered or not.
    trent.stop();
    let events = common::successful_events(&trent.data_dir(), "CreateKey");
    trent.restart(&["--dev"]);
    let keys = key_count(&trent);
    assert!(keys > 0, "no CreateKey got through: the test proves nothing");
    assert_eq!(keys, events, "{keys} keys were created but {events} CreateKey events were written");
}

#[test]
fn an_oversized_body_is_answered_413_after_it_is_read() {
    let trent = Trent::start(&["--dev"]);
    let mut stream = connect(&trent);
    // 2 MiB of JSON: over the 1 MiB bound. Sent from another thread, as a
    // client would keep sending while the answer comes.
    let big = request("Encrypt", JSON, format!(r#"{{"KeyId":"alias/x","Plaintext":"{}"}}"#, "A".repeat(2 << 20)).as_bytes());
    let mut writer = stream.try_clone().unwrap();
    let sending = std::thread::spawn(move || writer.write_all(&big));
    let (status, head, body) = read_answer(&mut stream);
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large", "{body}");
    assert!(head.contains("connection: close"), "{head}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["__type"], "RequestEntityTooLargeException", "{body}");
    sending.join().unwrap().expect("the whole body was taken: no reset while sending");
}

#[test]
fn a_request_without_the_kms_content_type_is_an_unknown_operation() {
    let trent = Trent::start(&["--dev"]);
    for content_type in ["application/json", "text/plain", "application/x-amz-json-1.0"] {
        let mut stream = connect(&trent);
        stream.write_all(&request("ListKeys", content_type, b"{}")).unwrap();
        let (status, head, body) = read_answer(&mut stream);
        assert_eq!(status, "HTTP/1.1 404 Not Found", "{content_type}: {body}");
        assert_eq!(body, "<UnknownOperationException/>\n", "{content_type}");
        assert!(head.contains("x-amzn-requestid:"), "{head}");
    }
    // Parameters of the right type are fine, and so is its case.
    for content_type in ["application/x-amz-json-1.1; charset=utf-8", "Application/X-Amz-Json-1.1"] {
        let mut stream = connect(&trent);
        stream.write_all(&request("ListKeys", content_type, b"{}")).unwrap();
        let (status, _, body) = read_answer(&mut stream);
        assert_eq!(status, "HTTP/1.1 200 OK", "{content_type}: {body}");
    }
}

#[test]
fn a_request_refused_for_the_audit_log_is_answered_with_retry_after() {
    // A syslog socket that does not exist: the first event fails the log.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("no-such-syslog");
    let sink = format!("syslog:{}", socket.display());
    let trent = Trent::start(&["--dev", "--audit-sink", &sink]);
    let mut first = connect(&trent);
    first.write_all(&request("ListKeys", JSON, b"{}")).unwrap();
    let (status, head, _) = read_answer(&mut first);
    assert_eq!(status, "HTTP/1.1 500 Internal Server Error");
    assert!(head.contains("retry-after:"), "{head}");
    // From then on requests are refused before they act, and still read
    // whole and answered, also a large one still being sent.
    let mut stream = connect(&trent);
    let large = request("CreateKey", JSON, format!(r#"{{"Description":"{}"}}"#, "d".repeat(512 << 10)).as_bytes());
    let mut writer = stream.try_clone().unwrap();
    let sending = std::thread::spawn(move || writer.write_all(&large));
    let (status, head, body) = read_answer(&mut stream);
    assert_eq!(status, "HTTP/1.1 500 Internal Server Error", "{body}");
    assert!(head.contains("retry-after:"), "{head}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["__type"], "KMSInternalException", "{body}");
    sending.join().unwrap().expect("the whole body was taken: no reset while sending");
    // The connection stays usable (keep-alive): the refusal was a whole answer.
    match stream.write_all(&request("ListKeys", JSON, b"{}")) {
        Ok(()) => assert_eq!(read_answer(&mut stream).0, "HTTP/1.1 500 Internal Server Error"),
        Err(e) => assert_ne!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
    }
}
