//! `GET /health` and `GET /metrics` against the real binary: healthy,
//! unhealthy while the audit log cannot be written and healthy again when
//! it resumes; unauthenticated and unaudited; on `--admin-listen` only
//! when that is given.

mod common;

use std::time::{Duration, Instant};

use common::{audit_events, raw_http, Trent, REGION};

/// (status, body) of a plain HTTP/1.1 request, no signature.
fn port_of(endpoint: &str) -> u16 {
    endpoint.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port")
}

/// The admin listener's port, from the server's `listening` log line.
fn admin_port(trent: &Trent) -> u16 {
    let log = trent.log();
    let at = log.find("admin_address=").unwrap_or_else(|| panic!("no admin_address in the log:\n{log}"));
    let rest = &log[at + "admin_address=".len()..];
    let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
    port_of(&addr)
}

fn health(port: u16) -> (u16, serde_json::Value) {
    let (status, body) = raw_http(port, "GET", "/health");
    (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body:?}")))
}

#[tokio::test]
async fn health_is_503_naming_the_audit_log_while_it_cannot_be_written_and_200_once_it_resumes() {
    // A file per record, so the next event needs a new file in audit/.
    let trent = Trent::start(&["--audit-max-file-bytes", "1"]);
    let port = port_of(&trent.endpoint());
    let kms = trent.client(REGION);
    kms.create_key().send().await.unwrap();
    assert_eq!(health(port), (200, serde_json::json!({"status": "ok"})));

    let audit = trent.data_dir().join("audit");
    let moved = trent.data_dir().join("audit.moved");
    std::fs::rename(&audit, &moved).unwrap();
    std::fs::write(&audit, "not a directory").unwrap();
    assert!(kms.create_key().send().await.is_err(), "refused: the audit log cannot be written");
    let (status, body) = health(port);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["reasons"], serde_json::json!(["the audit log cannot be written"]));
    let (status, metrics) = raw_http(port, "GET", "/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("\ntrent_audit_failing 1\n"), "{metrics}");
    assert!(metrics.contains("\ntrent_audit_failures_total 1\n"), "{metrics}");

    std::fs::remove_file(&audit).unwrap();
    std::fs::rename(&moved, &audit).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while health(port).0 != 200 {
        assert!(Instant::now() < deadline, "the audit log did not resume; log:\n{}", trent.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    kms.create_key().send().await.expect("served again");
}

#[tokio::test]
async fn health_and_metrics_are_unauthenticated_and_leave_no_audit_event() {
    let trent = Trent::start(&[]);
    let port = port_of(&trent.endpoint());
    trent.client(REGION).list_keys().send().await.unwrap();
    let before = audit_events(&trent.data_dir()).len();
    for _ in 0..3 {
        assert_eq!(health(port).0, 200);
        let (status, text) = raw_http(port, "GET", "/metrics");
        assert_eq!(status, 200);
        assert!(text.contains(r#"trent_requests_total{service="kms",operation="ListKeys",outcome="ok"} 1"#), "{text}");
    }
    // Only GET: anything else is a KMS request, refused and audited as one.
    assert_eq!(raw_http(port, "POST", "/health").0, 404);
    let after = audit_events(&trent.data_dir());
    assert_eq!(after.len(), before + 1, "only the POST is audited: {after:?}");
}

#[tokio::test]
async fn with_admin_listen_they_are_served_there_and_not_on_the_main_listener() {
    let trent = Trent::start(&["--admin-listen", "127.0.0.1:0"]);
    let (main, admin) = (port_of(&trent.endpoint()), admin_port(&trent));
    assert_ne!(main, admin);
    assert_eq!(health(admin).0, 200);
    assert!(raw_http(admin, "GET", "/metrics").1.contains("# TYPE trent_requests_total counter"));
    assert_eq!(raw_http(admin, "POST", "/").0, 404, "no KMS on the admin listener");
    // On the main listener /health is not special: a KMS request without a target.
    let (status, body) = raw_http(main, "GET", "/health");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("UnknownOperationException"), "{body}");
    let (status, body) = raw_http(main, "GET", "/metrics");
    assert!(status == 404 && !body.contains("trent_requests_total"), "{body}");
    trent.client(REGION).list_keys().send().await.expect("KMS still on the main listener");
}

#[tokio::test]
async fn health_is_503_naming_the_store_while_it_cannot_be_written() {
    let trent = Trent::start(&[]);
    let port = port_of(&trent.endpoint());
    trent.client(REGION).create_key().send().await.unwrap();
    assert_eq!(health(port).0, 200);
    // A file size limit of one byte: every write to the database fails, as on a full disk.
    let limit = |soft: &str| {
        let status = std::process::Command::new("prlimit").args(["--pid", &trent.pid().to_string(), &format!("--fsize={soft}:unlimited")]).status().expect("running prlimit (util-linux)");
        assert!(status.success(), "prlimit failed");
    };
    limit("1");
    std::thread::sleep(Duration::from_millis(1100)); // past the last probe's answer
    let (status, body) = health(port);
    limit("unlimited");
    assert_eq!(status, 503, "{body}");
    // /health itself writes no audit event, so only the store fails here.
    assert_eq!(body["reasons"], serde_json::json!(["the store cannot be written"]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while health(port).0 != 200 {
        assert!(Instant::now() < deadline, "the store stayed unwritable; log:\n{}", trent.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}
