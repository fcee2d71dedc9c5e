//! Request quotas as AWS KMS applies them (docs/throttling.md): a token
//! bucket per (caller's account, Region, quota class), refilled at the
//! quota's rate and holding one second's worth. A request over its quota
//! is answered `ThrottlingException`, which every AWS SDK retries with
//! backoff. Cryptographic operations share one class per key type
//! (symmetric, RSA, ECC), as in AWS; every other operation is its own class.
//!
//! Cost on the request path: one hash, one short lock on one of
//! [`SHARDS`] shards, a few float operations; no allocation but for a
//! bucket's first request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use trent_model::Operation;

const SHARDS: usize = 32;

/// Quota classes of cryptographic operations (AWS: "shared" quotas).
pub const SYMMETRIC: &str = "symmetric";
pub const RSA: &str = "rsa";
pub const ECC: &str = "ecc";

/// Regions where AWS's symmetric quota is higher than its 5,500/s default.
const SYMMETRIC_100K: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];
const SYMMETRIC_10K: [&str; 6] = ["us-east-2", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "eu-central-1", "eu-west-2"];

/// The cryptographic operations, which share their key type's quota.
fn is_cryptographic(op: Operation) -> bool {
    use Operation::*;
    matches!(
        op,
        Decrypt | Encrypt | GenerateDataKey | GenerateDataKeyWithoutPlaintext | GenerateMac | GenerateRandom | ReEncrypt | VerifyMac | Sign | Verify | DeriveSharedSecret | Encapsulate | Decapsulate
    )
}

/// AWS's published default (requests per second) of an operation's own quota.
fn default_rate(op: Operation) -> f64 {
    use Operation::*;
    match op {
        DescribeKey | GetPublicKey | ListResourceTags => 2000.0,
        GetKeyPolicy | GetKeyRotationStatus => 1000.0,
        ListAliases | ListKeys => 500.0,
        ListGrants | ListKeyPolicies | ListRetirableGrants | ListKeyRotations => 100.0,
        CreateGrant => 50.0,
        RetireGrant | RevokeGrant => 30.0,
        GenerateDataKeyPair | GenerateDataKeyPairWithoutPlaintext => 25.0,
        DeleteAlias | PutKeyPolicy | ScheduleKeyDeletion => 15.0,
        TagResource => 10.0,
        GetParametersForImport => 0.25,
        _ => 5.0,
    }
}

/// The quotas in force: AWS's defaults unless overridden (`--quota`).
#[derive(Debug, Clone, Default)]
pub struct Quotas {
    overrides: HashMap<String, f64>,
}

impl Quotas {
    /// `NAME=RATE` pairs: NAME is `symmetric`, `rsa`, `ecc` or an operation
    /// (`CreateKey`); RATE is requests per second (> 0).
    pub fn parse(pairs: &[String]) -> Result<Quotas, String> {
        let mut overrides = HashMap::new();
        for pair in pairs {
            let (name, rate) = pair.split_once('=').ok_or_else(|| format!("--quota {pair}: expected NAME=RATE"))?;
            let known = [SYMMETRIC, RSA, ECC].contains(&name) || Operation::ALL.iter().any(|op| op.name() == name);
            if !known {
                return Err(format!("--quota {pair}: `{name}` is neither symmetric, rsa, ecc nor a KMS operation"));
            }
            let rate: f64 = rate.parse().ok().filter(|r: &f64| r.is_finite() && *r > 0.0).ok_or_else(|| format!("--quota {pair}: the rate must be a positive number of requests per second"))?;
            overrides.insert(name.to_owned(), rate);
        }
        Ok(Quotas { overrides })
    }

    /// The class and its rate for `op` on a key of `key_spec` (if any) in `region`.
    pub fn class(&self, op: Operation, key_spec: Option<&str>, region: &str) -> (&'static str, f64) {
        let class = if is_cryptographic(op) {
            match key_spec {
                Some(s) if s.starts_with("RSA_") => RSA,
                Some(s) if s.starts_with("ECC_") || s == "SM2" => ECC,
                _ => SYMMETRIC,
            }
        } else {
            op.name()
        };
        let default = match class {
            SYMMETRIC if SYMMETRIC_100K.contains(&region) => 100_000.0,
            SYMMETRIC if SYMMETRIC_10K.contains(&region) => 10_000.0,
            SYMMETRIC => 5_500.0,
            RSA => 500.0,
            ECC => 300.0,
            _ => default_rate(op),
        };
        (class, self.overrides.get(class).copied().unwrap_or(default))
    }
}

/// `trent serve`'s throttling flags.
#[derive(clap::Args, Debug)]
pub struct ThrottleOptions {
    /// Answer requests over AWS's request quotas with ThrottlingException:
    /// `on` or `off` (default: on, and off in --dev; docs/throttling.md).
    #[arg(long, env = "TRENT_THROTTLE", value_parser = ["on", "off"])]
    pub throttle: Option<String>,
    /// A quota other than AWS's default, `NAME=RATE` (repeatable): NAME is
    /// `symmetric`, `rsa`, `ecc` (shared by cryptographic operations) or an
    /// operation (`CreateKey`); RATE in requests per second per account and
    /// Region.
    #[arg(long = "quota")]
    pub quotas: Vec<String>,
}

impl ThrottleOptions {
    /// On as in AWS, unless asked otherwise; `--dev` (an emulator for
    /// tests) only when asked.
    pub fn throttle(&self, dev: bool) -> Result<Option<Throttle>, crate::serve::ServeError> {
        let quotas = Quotas::parse(&self.quotas).map_err(crate::serve::ServeError::Setup)?;
        let on = match self.throttle.as_deref() {
            Some(asked) => asked == "on",
            None => !dev,
        };
        Ok(on.then(|| Throttle::new(quotas)))
    }
}

struct Bucket {
    account: Box<str>,
    region: Box<str>,
    class: &'static str,
    tokens: f64,
    /// Seconds since the throttle started, at the last refill.
    at: f64,
}

/// Buckets by the hash of their (account, Region, class), each hash with
/// the few buckets that share it: a request finds its bucket by borrowed
/// text, so the key is copied only when its bucket is made.
type Shard = Mutex<HashMap<u64, Vec<Bucket>, foldhash::fast::FixedState>>;

pub struct Throttle {
    quotas: Quotas,
    start: Instant,
    shards: Vec<Shard>,
}

impl Throttle {
    pub fn new(quotas: Quotas) -> Throttle {
        Throttle { quotas, start: Instant::now(), shards: (0..SHARDS).map(|_| Mutex::new(HashMap::default())).collect() }
    }

    /// Takes one request from the bucket of (`account`, `region`, the
    /// class of `op` on `key_spec`); false if it is empty.
    pub fn admit(&self, account: &str, region: &str, op: Operation, key_spec: Option<&str>) -> bool {
        let (class, rate) = self.quotas.class(op, key_spec, region);
        self.take(account, region, class, rate, self.start.elapsed().as_secs_f64())
    }

    fn take(&self, account: &str, region: &str, class: &'static str, rate: f64, now: f64) -> bool {
        use std::hash::BuildHasher;
        let hash = foldhash::fast::FixedState::default().hash_one((account, region, class));
        self.take_hashed(hash, account, region, class, rate, now)
    }

    /// [`Self::take`] with the key's hash given (tests give colliding ones).
    fn take_hashed(&self, hash: u64, account: &str, region: &str, class: &'static str, rate: f64, now: f64) -> bool {
        let shard = &self.shards[(hash as usize) % SHARDS];
        // A poisoned shard only ever held plain numbers: keep using them.
        let mut buckets = shard.lock().unwrap_or_else(|e| e.into_inner());
        // One second's worth, and at least one request (rates under 1/s).
        let capacity = rate.max(1.0);
        let same_hash = buckets.entry(hash).or_default();
        let found = same_hash.iter().position(|b| b.class == class && &*b.account == account && &*b.region == region);
        let bucket = match found {
            Some(i) => &mut same_hash[i],
            None => {
                same_hash.push(Bucket { account: account.into(), region: region.into(), class, tokens: capacity, at: now });
                let last = same_hash.len() - 1;
                &mut same_hash[last]
            }
        };
        bucket.tokens = (bucket.tokens + (now - bucket.at) * rate).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_apply_by_default_except_in_dev_mode_and_as_asked() {
        let options = |throttle: Option<&str>| ThrottleOptions { throttle: throttle.map(str::to_owned), quotas: Vec::new() };
        assert!(options(None).throttle(false).unwrap().is_some(), "on by default, as in AWS");
        assert!(options(None).throttle(true).unwrap().is_none(), "off in --dev");
        assert!(options(Some("on")).throttle(true).unwrap().is_some());
        assert!(options(Some("off")).throttle(false).unwrap().is_none());
    }

    #[test]
    fn a_bucket_holds_one_second_and_refills_at_its_rate() {
        let t = Throttle::new(Quotas::default());
        let (class, rate) = t.quotas.class(Operation::CreateKey, None, "us-east-1");
        assert_eq!((class, rate), ("CreateKey", 5.0));
        for _ in 0..5 {
            assert!(t.take("111122223333", "us-east-1", class, rate, 0.0));
        }
        assert!(!t.take("111122223333", "us-east-1", class, rate, 0.0), "the sixth in one instant is throttled");
        // Other accounts, Regions and classes have their own buckets.
        assert!(t.take("444455556666", "us-east-1", class, rate, 0.0));
        assert!(t.take("111122223333", "eu-west-1", class, rate, 0.0));
        assert!(t.take("111122223333", "us-east-1", "DescribeKey", 2000.0, 0.0));
        assert!(!t.take("111122223333", "us-east-1", class, rate, 0.1), "half a token after 0.1 s");
        assert!(t.take("111122223333", "us-east-1", class, rate, 0.2), "one token after 0.2 s");
    }

    #[test]
    fn keys_whose_hashes_collide_keep_buckets_of_their_own() {
        let t = Throttle::new(Quotas::default());
        let take = |account: &str, region: &str| t.take_hashed(7, account, region, "CreateKey", 1.0, 0.0);
        assert!(take("111122223333", "us-east-1"));
        assert!(!take("111122223333", "us-east-1"), "its one token is spent");
        assert!(take("444455556666", "us-east-1"), "another account, same hash: a bucket of its own");
        assert!(take("111122223333", "eu-west-1"), "another Region, same hash: a bucket of its own");
        assert!(!take("444455556666", "us-east-1"));
        assert!(t.take_hashed(7, "111122223333", "us-east-1", "DescribeKey", 1.0, 0.0), "another class, same hash");
    }

    #[test]
    fn cryptographic_operations_share_their_key_types_quota() {
        let q = Quotas::parse(&["rsa=7".into(), "CreateKey=50".into()]).unwrap();
        assert_eq!(q.class(Operation::Encrypt, Some("SYMMETRIC_DEFAULT"), "us-east-1"), (SYMMETRIC, 100_000.0));
        assert_eq!(q.class(Operation::GenerateRandom, None, "sa-east-1"), (SYMMETRIC, 5_500.0));
        assert_eq!(q.class(Operation::Sign, Some("RSA_2048"), "us-east-1"), (RSA, 7.0));
        assert_eq!(q.class(Operation::Verify, Some("ECC_NIST_P256"), "us-east-1"), (ECC, 300.0));
        assert_eq!(q.class(Operation::CreateKey, None, "us-east-1"), ("CreateKey", 50.0));
        assert!(Quotas::parse(&["Nope=1".into()]).is_err());
        assert!(Quotas::parse(&["CreateKey=0".into()]).is_err());
    }
}
