//! No secret over plain HTTP to another host: `trent operator unseal` and
//! the online `rotate-root` in passphrase or Shamir mode put a share or
//! the passphrase in the request's body, which plain HTTP lets anyone on
//! the path read. They refuse an `http://` endpoint unless its host is
//! this machine's loopback (`localhost`, 127.0.0.0/8, `[::1]`), or the
//! operator opted in (`--allow-plain-http`, e.g. for a TLS-terminating
//! sidecar on the same host).
//!
//! The host is classified strictly: only `localhost` itself and IP
//! literals in their plain form count as loopback. `localhost.evil.com`,
//! `127.0.0.1.nip.io` (names DNS may send anywhere) and `0x7f.1` or
//! `127.1` (forms the resolver would read as 127.0.0.1, refused here to
//! stay simple) are not.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The opt-in flag, for the commands that send a secret.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct PlainHttp {
    /// Send the share or passphrase over plain `http://` to a host that is
    /// not loopback (e.g. a TLS-terminating sidecar on the same host).
    /// Without it such an endpoint is refused: use `https://`.
    #[arg(long)]
    pub allow_plain_http: bool,
}

impl PlainHttp {
    /// Refuses `endpoint` for a secret if it is plain HTTP to another host;
    /// `what` names the secret in the message. Call it before reading the
    /// secret and before connecting.
    pub fn check(&self, endpoint: &str, what: &str) -> Result<(), String> {
        let Some(authority) = endpoint.strip_prefix("http://") else { return Ok(()) };
        if self.allow_plain_http || is_loopback(authority.trim_end_matches('/')) {
            return Ok(());
        }
        Err(format!(
            "refusing to send {what} over plain HTTP to {endpoint}, which is not this machine's loopback (localhost, 127.0.0.0/8, [::1]): anyone on the network path could read it. Use https:// (the server's --tls-cert), or pass --allow-plain-http if the connection is protected otherwise (e.g. a TLS-terminating sidecar on the same host)"
        ))
    }
}

/// Whether `authority` (`HOST[:PORT]`, an IPv6 host in brackets) names
/// this machine's loopback.
pub fn is_loopback(authority: &str) -> bool {
    if let Some(rest) = authority.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else { return false };
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return false;
        }
        return host.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()));
    }
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if is_port(port) => host,
        Some(_) => return false,
        None => authority,
    };
    // An IPv6 literal outside brackets, userinfo (`user@host`) and the like are not a plain host.
    if host.contains([':', '@']) {
        return false;
    }
    host.eq_ignore_ascii_case("localhost") || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

fn is_port(port: &str) -> bool {
    !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_localhost_and_loopback_literals_are_loopback() {
        for host in ["localhost", "LOCALHOST", "LocalHost:4600", "127.0.0.1", "127.0.0.1:4600", "127.255.3.9:1", "[::1]", "[::1]:4600", "[0:0:0:0:0:0:0:1]:4600", "[::ffff:127.0.0.1]:4600"] {
            assert!(is_loopback(host), "{host} is loopback");
        }
        for host in [
            "localhost.evil.com",
            "localhost.evil.com:4600",
            "127.0.0.1.nip.io",
            "127.0.0.1.nip.io:4600",
            "0x7f.1",
            "0x7f.1:4600",
            "127.1",
            "2130706433",
            "192.0.2.1:4600",
            "10.0.0.1",
            "[::2]:4600",
            "[::1",
            "[::1]4600",
            "[::1]:",
            "[::1]:port",
            "::1",
            "127.0.0.1:",
            "127.0.0.1:80x",
            "evil@127.0.0.1:4600",
            "127.0.0.1@evil.com",
            "localhost.",
            "",
        ] {
            assert!(!is_loopback(host), "{host} is not loopback");
        }
    }

    #[test]
    fn plain_http_to_another_host_is_refused_unless_allowed() {
        let strict = PlainHttp::default();
        let allowed = PlainHttp { allow_plain_http: true };
        for endpoint in ["https://kms.example.com:4600", "http://127.0.0.1:4600", "http://localhost:4600/", "http://[::1]:4600"] {
            assert_eq!(strict.check(endpoint, "the share"), Ok(()), "{endpoint}");
        }
        for endpoint in ["http://192.0.2.1:4600", "http://localhost.evil.com:4600", "http://0x7f.1:4600"] {
            let err = strict.check(endpoint, "the share").unwrap_err();
            assert!(err.contains("https://") && err.contains("--allow-plain-http") && err.contains("the share"), "{err}");
            assert_eq!(allowed.check(endpoint, "the share"), Ok(()), "{endpoint}");
        }
    }
}
