//! `--listen ADDR:PORT`: an IP address or a host name (`localhost:4600`),
//! bound before anything else happens, so a port in use fails the start
//! before the data directory is touched.

use tokio::net::TcpListener;

/// Binds the first address `spec` resolves to that can be bound (for
/// `localhost`, usually 127.0.0.1 or ::1). Errors name `spec`.
pub async fn bind(spec: &str) -> Result<TcpListener, String> {
    let addrs: Vec<_> = tokio::net::lookup_host(spec).await.map_err(|e| format!("cannot listen on {spec}: {e}"))?.collect();
    // IPv4 first: `localhost` then means what the "Try:" line's clients expect.
    let mut ordered: Vec<_> = addrs.iter().filter(|a| a.is_ipv4()).chain(addrs.iter().filter(|a| a.is_ipv6())).collect();
    ordered.dedup();
    let mut last = None;
    for addr in ordered {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(if addr.to_string() == spec { format!("cannot listen on {spec}: {e}") } else { format!("cannot listen on {spec} ({addr}): {e}") }),
        }
    }
    Err(last.unwrap_or_else(|| format!("cannot listen on {spec}: the name has no address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_host_name_is_resolved() {
        let listener = bind("localhost:0").await.expect("localhost binds");
        assert!(listener.local_addr().expect("address").ip().is_loopback());
    }

    #[tokio::test]
    async fn a_port_in_use_names_the_address() {
        let taken = bind("127.0.0.1:0").await.expect("binds");
        let spec = taken.local_addr().expect("address").to_string();
        let refused = bind(&spec).await.expect_err("the port is taken");
        assert!(refused.starts_with(&format!("cannot listen on {spec}: ")), "{refused}");
    }

    #[tokio::test]
    async fn a_malformed_address_is_named() {
        let refused = bind("nowhere").await.expect_err("no port");
        assert!(refused.starts_with("cannot listen on nowhere: "), "{refused}");
    }
}
