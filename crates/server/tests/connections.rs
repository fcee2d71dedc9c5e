//! The transport's limits over real sockets: a half-sent head, a stalled
//! body and an idle keep-alive connection are cut off after their (short,
//! test-configured) timeouts, and connections over the bound wait for a
//! free slot. Plain `std::net::TcpStream`, bytes as a client sends them.

#[allow(unused_macros)] // assert_err! is for the other test files.
mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Trent;

fn connect(trent: &Trent) -> TcpStream {
    let addr = trent.endpoint().trim_start_matches("http://").to_owned();
    let stream = TcpStream::connect(addr).expect("connecting to trent");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

/// An unsigned ListKeys: answered (400 MissingAuthenticationTokenException)
/// without anything to set up.
const REQUEST: &[u8] = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: TrentService.ListKeys\r\nContent-Length: 2\r\n\r\n{}";

/// Reads one HTTP/1.1 answer (head and Content-Length body); returns the
/// status line and the body.
fn read_answer(stream: &mut TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("reading the answer's head");
        assert_eq!(n, 1, "the connection closed before the answer's head ended: {:?}", String::from_utf8_lossy(&buf));
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .expect("content-length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    (head.lines().next().unwrap().to_owned(), String::from_utf8(body).unwrap())
}

/// Waits for the server to close the connection; returns how long it took.
fn closed_after(stream: &mut TcpStream, since: Instant) -> Duration {
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the connection was not closed: {e} (after {:?})", since.elapsed()),
    }
    assert!(rest.is_empty(), "unexpected bytes before the close: {:?}", String::from_utf8_lossy(&rest));
    since.elapsed()
}

#[test]
fn a_half_sent_head_is_cut_off_after_the_header_timeout() {
    let trent = Trent::start(&["--header-timeout-secs", "1", "--idle-timeout-secs", "60"]);
    // Half a head, then nothing.
    let mut stream = connect(&trent);
    let started = Instant::now();
    stream.write_all(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Tar").unwrap();
    let took = closed_after(&mut stream, started);
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(4), "closed after {took:?}");

    // A head dribbled in within the time is served.
    let mut stream = connect(&trent);
    for chunk in REQUEST.chunks(40) {
        stream.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, body) = read_answer(&mut stream);
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
    assert!(body.contains("MissingAuthenticationTokenException"), "{body}");

    // A connection that never sends a byte is a head that never comes.
    let mut silent = connect(&trent);
    let took = closed_after(&mut silent, Instant::now());
    assert!(took < Duration::from_secs(4), "closed after {took:?}");
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let trent = Trent::start(&["--idle-timeout-secs", "2", "--header-timeout-secs", "10"]);
    let mut stream = connect(&trent);
    // Keep-alive works: requests back to back on one connection, and with
    // pauses shorter than the idle timeout.
    for pause in [0, 0, 1200] {
        std::thread::sleep(Duration::from_millis(pause));
        stream.write_all(REQUEST).unwrap();
        let (status, _) = read_answer(&mut stream);
        assert_eq!(status, "HTTP/1.1 400 Bad Request");
    }
    let idle_since = Instant::now();
    let took = closed_after(&mut stream, idle_since);
    assert!(took >= Duration::from_millis(1800) && took < Duration::from_secs(5), "closed after {took:?}");
}

#[test]
fn a_stalled_body_is_answered_then_the_connection_closed() {
    let trent = Trent::start(&["--body-timeout-secs", "1"]);
    let mut stream = connect(&trent);
    let started = Instant::now();
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: TrentService.ListKeys\r\nContent-Length: 50\r\n\r\n{\"Limit\":")
        .unwrap();
    let (status, body) = read_answer(&mut stream);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(4), "answered after {took:?}");
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["__type"], "ValidationException", "{body}");
    assert!(body["message"].as_str().unwrap().contains("could not be read"), "{body}");
    // The rest of the body would be read as a new request: the connection ends.
    closed_after(&mut stream, started);
}

#[test]
fn connections_over_the_bound_wait_for_a_free_slot() {
    let trent = Trent::start(&["--max-connections", "2", "--idle-timeout-secs", "60", "--header-timeout-secs", "60"]);
    let mut first = connect(&trent);
    let mut second = connect(&trent);
    for stream in [&mut first, &mut second] {
        stream.write_all(REQUEST).unwrap();
        assert_eq!(read_answer(stream).0, "HTTP/1.1 400 Bad Request");
    }
    // The third is connected by the kernel (the listen backlog) but not served.
    let mut third = connect(&trent);
    third.write_all(REQUEST).unwrap();
    third.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    let mut byte = [0u8; 1];
    let waited = third.read(&mut byte);
    assert!(matches!(&waited, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)), "{waited:?}");
    // A slot frees: the waiting connection is served.
    drop(first);
    third.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(read_answer(&mut third).0, "HTTP/1.1 400 Bad Request");
    // The second was never disturbed.
    second.write_all(REQUEST).unwrap();
    assert_eq!(read_answer(&mut second).0, "HTTP/1.1 400 Bad Request");
}

/// A body that sends its first bytes and then nothing, never ending.
struct Stalled(Option<hyper::body::Bytes>);

impl hyper::body::Body for Stalled {
    type Data = hyper::body::Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        match self.0.take() {
            Some(bytes) => std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(bytes)))),
            None => std::task::Poll::Pending,
        }
    }
}

#[tokio::test]
async fn http2_streams_have_the_body_timeout_too() {
    let trent = Trent::start(&["--body-timeout-secs", "1"]);
    let addr = trent.endpoint().trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let request = |body| {
        hyper::Request::post(trent.endpoint() + "/")
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", "TrentService.ListKeys")
            .body(body)
            .unwrap()
    };
    // Its first bytes, then a stream that never ends: answered at the body timeout.
    let started = std::time::Instant::now();
    let answer = sender.send_request(request(Stalled(Some("{\"Limit\":".into())))).await.unwrap();
    let took = started.elapsed();
    assert_eq!(answer.status(), 400);
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(4), "answered after {took:?}");
    let body = http_body_bytes(answer.into_body()).await;
    assert!(body.contains("ValidationException") && body.contains("could not be read"), "{body}");
}

async fn http_body_bytes(mut body: hyper::body::Incoming) -> String {
    use hyper::body::Body as _;
    let mut out = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
        if let Ok(data) = frame.unwrap().into_data() {
            out.extend_from_slice(&data);
        }
    }
    String::from_utf8(out).unwrap()
}
