//! The keys already in a server, listed through ListKeys: to count them
//! (populate, startup).

use std::net::SocketAddr;

use serde_json::json;

use crate::client::{Connection, Error, Signer};

/// ListKeys' largest page.
const PAGE: usize = 1000;

/// Calls `each` with the id of every key the signer's account has in its
/// region, page by page on one connection, stopping after `at_most`.
/// Returns how many it saw.
pub async fn for_each(addr: SocketAddr, signer: &Signer, at_most: Option<usize>, mut each: impl FnMut(&str)) -> Result<usize, Error> {
    let mut connection = Connection::open(addr).await?;
    let (mut seen, mut marker) = (0, None::<String>);
    loop {
        let limit = at_most.map_or(PAGE, |n| (n - seen).min(PAGE));
        if limit == 0 {
            return Ok(seen);
        }
        let mut input = json!({ "Limit": limit });
        if let Some(m) = &marker {
            input["Marker"] = json!(m);
        }
        let out = connection.call(signer, "ListKeys", input).await?;
        for key in out["Keys"].as_array().ok_or_else(|| format!("unexpected ListKeys answer: {out}"))? {
            each(key["KeyId"].as_str().ok_or_else(|| format!("unexpected ListKeys entry: {key}"))?);
            seen += 1;
        }
        marker = out["NextMarker"].as_str().map(str::to_string);
        if out["Truncated"] != json!(true) || marker.is_none() {
            return Ok(seen);
        }
    }
}

pub async fn count(addr: SocketAddr, signer: &Signer) -> Result<usize, Error> {
    for_each(addr, signer, None, |_| {}).await
}
