//! One keep-alive HTTP/1.1 connection to the server, and SigV4 signing of
//! KMS requests with Trent's own signer (the same code path the server
//! verifies with, so the client costs what a lean SDK would).

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Who signs, and for which endpoint.
#[derive(Clone)]
pub struct Signer {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
    /// `host:port`, as the `Host` header carries it.
    pub host: String,
}

/// A request ready to send: its headers already signed.
#[derive(Clone)]
pub struct Signed {
    headers: Vec<(&'static str, String)>,
    body: Bytes,
}

const SIGNED_HEADERS: [&str; 4] = ["content-type", "host", "x-amz-date", "x-amz-target"];

impl Signer {
    /// Signs `TrentService.<operation>` with `body` as of now.
    pub fn sign(&self, operation: &str, body: &Bytes) -> Result<Signed, Error> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
        let mut headers = vec![
            ("content-type", "application/x-amz-json-1.1".to_string()),
            ("host", self.host.clone()),
            ("x-amz-date", trent_sigv4::format_iso_basic(now)),
            ("x-amz-target", format!("TrentService.{operation}")),
        ];
        let borrowed: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let request = trent_sigv4::Request { method: "POST", path: "/", query: "", headers: &borrowed, body };
        let authorization =
            trent_sigv4::sign(&request, &self.access_key_id, self.secret_access_key.as_bytes(), &self.region, "kms", &SIGNED_HEADERS)?;
        headers.push(("authorization", authorization));
        Ok(Signed { headers, body: body.clone() })
    }
}

pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
}

/// What the server answered.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> Result<Self, Error> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Connection { sender })
    }

    pub async fn send(&mut self, signed: &Signed) -> Result<Answer, Error> {
        let mut builder = Request::post("/");
        for (name, value) in &signed.headers {
            builder = builder.header(*name, value);
        }
        let request = builder.body(Full::new(signed.body.clone()))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer { status, body })
    }

    /// Sends one signed request and returns the JSON answer, or an error
    /// naming the operation and what the server said.
    pub async fn call(&mut self, signer: &Signer, operation: &str, input: serde_json::Value) -> Result<serde_json::Value, Error> {
        let body = Bytes::from(input.to_string());
        let answer = self.send(&signer.sign(operation, &body)?).await?;
        if answer.status != 200 {
            return Err(format!("{operation}: HTTP {}: {}", answer.status, String::from_utf8_lossy(&answer.body)).into());
        }
        Ok(serde_json::from_slice(&answer.body)?)
    }
}

/// [`Connection::call`] on a fresh connection.
pub async fn call(addr: SocketAddr, signer: &Signer, operation: &str, input: serde_json::Value) -> Result<serde_json::Value, Error> {
    Connection::open(addr).await?.call(signer, operation, input).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_request_passes_the_servers_own_verifier() {
        let signer = Signer { access_key_id: "AKIDEXAMPLE".into(), secret_access_key: "secret".into(), region: "eu-west-1".into(), host: "127.0.0.1:4600".into() };
        let body = Bytes::from_static(br#"{"KeyId":"alias/x"}"#);
        let signed = signer.sign("DescribeKey", &body).unwrap();
        let headers: Vec<(&str, &str)> = signed.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let request = trent_sigv4::Request { method: "POST", path: "/", query: "", headers: &headers, body: &body };
        let auth = trent_sigv4::parse_authorization(trent_sigv4::authorization_header(&request).unwrap()).unwrap();
        auth.check_scope("eu-west-1", "kms").unwrap();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        trent_sigv4::verify(&request, &auth, b"secret", now).unwrap();
        assert!(trent_sigv4::verify(&request, &auth, b"other", now).is_err());
    }
}
