//! The baseline: a bare axum server answering every request with a fixed
//! JSON body of an Encrypt answer's size. Trent's figures are reported as a
//! ratio to it, which holds on a noisy shared machine better than raw req/s.

use axum::http::header;
use axum::response::IntoResponse;

const REPLY: &str = r#"{"CiphertextBlob":"AQICAHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4","KeyId":"arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-000000000000","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}"#;

pub async fn serve(listen: std::net::SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let app = axum::Router::new().fallback(|| async { ([(header::CONTENT_TYPE, "application/x-amz-json-1.1")], REPLY).into_response() });
    axum::serve(listener, app).await
}
