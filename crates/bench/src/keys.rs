//! The keys already in a server, listed once through ListKeys: to count
//! them (populate, startup) and to pick a random one per request (run
//! --keys), so Encrypt can be measured against a hot few keys or all of a
//! million.

use std::net::SocketAddr;

use serde_json::json;

use crate::client::{Connection, Error, Signer};

/// ListKeys' largest page.
const PAGE: usize = 1000;

/// Key ids packed into one string: a million ids as separate Strings would
/// cost the load generator about twice the memory, on the server's cores.
#[derive(Default)]
pub struct KeyIds {
    text: String,
    ends: Vec<usize>,
}

impl KeyIds {
    pub fn push(&mut self, id: &str) {
        self.text.push_str(id);
        self.ends.push(self.text.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }
}

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

pub async fn list(addr: SocketAddr, signer: &Signer, at_most: Option<usize>) -> Result<KeyIds, Error> {
    let mut ids = KeyIds::default();
    for_each(addr, signer, at_most, |id| ids.push(id)).await?;
    Ok(ids)
}

/// splitmix64: enough to spread requests evenly over the keys, without a
/// dependency. Not for anything secret.
pub struct Rng(u64);

impl Rng {
    /// A generator of its own for worker `n`.
    pub fn for_worker(n: usize) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        Rng(nanos ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in 0..n (n > 0); the modulo bias is negligible for n far below 2^64.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_ids_come_back_as_pushed() {
        let mut ids = KeyIds::default();
        for id in ["a", "bcd", "", "ef"] {
            ids.push(id);
        }
        assert_eq!(ids.len(), 4);
        assert_eq!([ids.get(0), ids.get(1), ids.get(2), ids.get(3)], ["a", "bcd", "", "ef"]);
    }

    #[test]
    fn random_picks_cover_every_key_roughly_evenly() {
        let mut rng = Rng::for_worker(3);
        let mut hits = [0u32; 10];
        for _ in 0..100_000 {
            hits[rng.below(10)] += 1;
        }
        assert!(hits.iter().all(|&h| (9_000..11_000).contains(&h)), "{hits:?}");
    }
}
