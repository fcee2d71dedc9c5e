//! Property tests over generated policies and requests (a seeded generator,
//! so a failure names its seed and replays): adding an Allow statement never
//! turns an allowed request into a denied one; adding a Deny never turns a
//! denied request into an allowed one; a Deny that matches always denies.

use super::*;

/// xorshift64*: small, deterministic, good enough to spread cases.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const A: &str = "111122223333";
const B: &str = "444455556666";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

const PRINCIPALS: &[&str] = &[
    r#""*""#,
    r#"{"AWS":"*"}"#,
    r#"{"AWS":"arn:aws:iam::111122223333:root"}"#,
    r#"{"AWS":"111122223333"}"#,
    r#"{"AWS":"arn:aws:iam::444455556666:root"}"#,
    r#"{"AWS":"arn:aws:iam::111122223333:user/dave"}"#,
    r#"{"AWS":"arn:aws:iam::111122223333:role/app"}"#,
    r#"{"AWS":["arn:aws:iam::444455556666:user/bob","arn:aws:iam::111122223333:user/erin"]}"#,
];
const ACTIONS: &[&str] = &[
    r#""Action":"kms:*""#,
    r#""Action":"kms:Encrypt""#,
    r#""Action":["kms:Decrypt","kms:ReEncrypt*"]"#,
    r#""Action":"kms:Generate*""#,
    r#""Action":"kms:Describe*""#,
    r#""NotAction":"kms:Decrypt""#,
    r#""NotAction":["kms:Put*","kms:ScheduleKeyDeletion"]"#,
];
const RESOURCES: &[&str] = &[
    r#""Resource":"*""#,
    r#""Resource":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab""#,
    r#""Resource":"arn:aws:kms:*:111122223333:key/*""#,
    r#""Resource":"arn:aws:kms:us-east-1:111122223333:key/other""#,
    r#""NotResource":"arn:aws:kms:us-east-1:111122223333:key/other""#,
];
const CONDITIONS: &[&str] = &[
    r#""Condition":{"StringEquals":{"kms:EncryptionContext:dept":"IT"}}"#,
    r#""Condition":{"StringNotEquals":{"kms:EncryptionContext:dept":["IT","HR"]}}"#,
    r#""Condition":{"StringLike":{"kms:ViaService":"s3.*.amazonaws.com"}}"#,
    r#""Condition":{"Null":{"kms:EncryptionContextKeys":"true"}}"#,
    r#""Condition":{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["dept","app"]}}"#,
    r#""Condition":{"ForAnyValue:StringLike":{"kms:EncryptionContextKeys":"a*"}}"#,
    r#""Condition":{"Bool":{"aws:SecureTransport":"false"}}"#,
    r#""Condition":{"StringEqualsIfExists":{"kms:CallerAccount":"111122223333"}}"#,
    r#""Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/*"}}"#,
    r#""Condition":{"StringEquals":{"kms:EncryptionContext:owner":"${aws:username}"}}"#,
];
const REQUEST_ACTIONS: &[&str] = &["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:GenerateDataKey", "kms:DescribeKey", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"];

fn statement(g: &mut Gen, effect: &str, with_principal: bool) -> String {
    let mut parts = vec![format!(r#""Effect":"{effect}""#)];
    if with_principal {
        let key = if g.chance(15) { "NotPrincipal" } else { "Principal" };
        parts.push(format!(r#""{key}":{}"#, g.pick(PRINCIPALS)));
    }
    parts.push(g.pick(ACTIONS).to_string());
    parts.push(g.pick(RESOURCES).to_string());
    if g.chance(40) {
        parts.push(g.pick(CONDITIONS).to_string());
    }
    format!("{{{}}}", parts.join(","))
}

fn doc(statements: &[String]) -> Policy {
    Policy::parse(&format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, statements.join(","))).expect("generated policies parse")
}

struct World {
    key_policy: Vec<String>,
    /// `None`: the caller is a root.
    identity: Option<Vec<String>>,
    caller: Caller,
    action: &'static str,
    facts: Facts,
}

fn world(g: &mut Gen) -> World {
    let key_policy = (0..1 + g.next() % 4)
        .map(|_| {
            let effect = if g.chance(75) { "Allow" } else { "Deny" };
            statement(g, effect, true)
        })
        .collect();
    let callers = [
        Caller { account_id: A.into(), arn: format!("arn:aws:iam::{A}:user/dave"), role_arn: None },
        Caller { account_id: A.into(), arn: format!("arn:aws:iam::{A}:user/erin"), role_arn: None },
        Caller { account_id: A.into(), arn: format!("arn:aws:iam::{A}:root"), role_arn: None },
        Caller { account_id: A.into(), arn: format!("arn:aws:sts::{A}:assumed-role/app/s"), role_arn: Some(format!("arn:aws:iam::{A}:role/app")) },
        Caller { account_id: B.into(), arn: format!("arn:aws:iam::{B}:user/bob"), role_arn: None },
        Caller { account_id: B.into(), arn: format!("arn:aws:iam::{B}:root"), role_arn: None },
    ];
    let caller = g.pick(&callers).clone();
    let identity = (!caller.arn.ends_with(":root")).then(|| {
        (0..g.next() % 3)
            .map(|_| {
                let effect = if g.chance(75) { "Allow" } else { "Deny" };
                statement(g, effect, false)
            })
            .collect()
    });
    let mut facts = Facts::default();
    if g.chance(50) {
        let dept = *g.pick(&["IT", "HR", "ops"]);
        facts.set("kms:EncryptionContext:dept", dept);
        let mut keys = vec!["dept".to_owned()];
        if g.chance(50) {
            facts.set("kms:EncryptionContext:app", "x");
            keys.push("app".into());
        }
        facts.set_many("kms:EncryptionContextKeys", keys);
    }
    if g.chance(30) {
        facts.set("kms:ViaService", *g.pick(&["s3.us-east-1.amazonaws.com", "ec2.us-east-1.amazonaws.com"]));
    }
    facts.set("aws:SecureTransport", if g.chance(50) { "true" } else { "false" });
    facts.set("kms:CallerAccount", caller.account_id.clone());
    facts.set("aws:PrincipalArn", caller.role_arn.clone().unwrap_or(caller.arn.clone()));
    if let Some(name) = caller.arn.strip_prefix(&format!("arn:aws:iam::{}:user/", caller.account_id)) {
        facts.set("aws:username", name);
        if g.chance(50) {
            facts.set("kms:EncryptionContext:owner", name);
        }
    }
    World { key_policy, identity, caller, action: REQUEST_ACTIONS[(g.next() % REQUEST_ACTIONS.len() as u64) as usize], facts }
}

fn decide(w: &World, key_policy: &[String], identity: Option<&[String]>) -> Decision {
    let ids: Option<Vec<Policy>> = identity.map(|s| s.iter().map(|st| doc(std::slice::from_ref(st))).collect());
    let req = Request { caller: &w.caller, action: w.action, resource: KEY, key_account: A, facts: &w.facts };
    evaluate(&doc(key_policy), ids.as_deref(), None, &req).decision
}

const CASES: u64 = 3000;

#[test]
fn adding_an_allow_never_denies_what_was_allowed() {
    for seed in 1..=CASES {
        let mut g = Gen(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let w = world(&mut g);
        let before = decide(&w, &w.key_policy, w.identity.as_deref());
        if before != Decision::Allow {
            continue;
        }
        let mut kp = w.key_policy.clone();
        kp.push(statement(&mut g, "Allow", true));
        assert_eq!(decide(&w, &kp, w.identity.as_deref()), Decision::Allow, "seed {seed}: key policy {kp:?}");
        if let Some(ids) = &w.identity {
            let mut ids = ids.clone();
            ids.push(statement(&mut g, "Allow", false));
            assert_eq!(decide(&w, &w.key_policy, Some(&ids)), Decision::Allow, "seed {seed}: identity {ids:?}");
        }
    }
}

/// Deriving only the facts the policies read ([`Facts::only`]) never
/// changes a decision or its reason.
#[test]
fn keeping_only_the_facts_policies_read_decides_the_same() {
    let mut filtered_some = false;
    for seed in 1..=CASES {
        let mut g = Gen(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let w = world(&mut g);
        let key_policy = std::sync::Arc::new(doc(&w.key_policy));
        let ids: Option<Vec<std::sync::Arc<Policy>>> = w.identity.as_ref().map(|s| s.iter().map(|st| std::sync::Arc::new(doc(std::slice::from_ref(st)))).collect());
        let mut kept = Facts::only(std::iter::once(key_policy.clone()).chain(ids.iter().flatten().cloned()).collect());
        kept.extend(&w.facts);
        filtered_some |= kept.iter().count() < w.facts.iter().count();
        let verdict = |facts: &Facts| {
            let req = Request { caller: &w.caller, action: w.action, resource: KEY, key_account: A, facts };
            evaluate(&key_policy, ids.as_deref(), None, &req)
        };
        assert_eq!(verdict(&kept), verdict(&w.facts), "seed {seed}: the kept facts decided otherwise");
    }
    assert!(filtered_some, "no case left a fact out: the test would not see a wrong filter");
}

#[test]
fn adding_a_deny_never_allows_what_was_denied() {
    let mut denied = 0;
    for seed in 1..=CASES {
        let mut g = Gen(seed.wrapping_mul(0xbf58_476d_1ce4_e5b9) | 1);
        let w = world(&mut g);
        if decide(&w, &w.key_policy, w.identity.as_deref()) == Decision::Allow {
            continue;
        }
        denied += 1;
        let mut kp = w.key_policy.clone();
        kp.push(statement(&mut g, "Deny", true));
        assert_ne!(decide(&w, &kp, w.identity.as_deref()), Decision::Allow, "seed {seed}: key policy {kp:?}");
        if let Some(ids) = &w.identity {
            let mut ids = ids.clone();
            ids.push(statement(&mut g, "Deny", false));
            assert_ne!(decide(&w, &w.key_policy, Some(&ids)), Decision::Allow, "seed {seed}: identity {ids:?}");
        }
    }
    assert!(denied > CASES / 10, "the generator should produce denied requests too ({denied})");
}

#[test]
fn a_matching_deny_always_denies() {
    let mut allowed_before = 0;
    for seed in 1..=CASES {
        let mut g = Gen(seed.wrapping_mul(0x94d0_49bb_1331_11eb) | 1);
        let w = world(&mut g);
        if decide(&w, &w.key_policy, w.identity.as_deref()) == Decision::Allow {
            allowed_before += 1;
        }
        let action = format!(r#""Action":"{}""#, w.action);
        let mut kp = w.key_policy.clone();
        kp.push(format!(r#"{{"Sid":"Stop","Effect":"Deny","Principal":"*",{action},"Resource":"*"}}"#));
        assert_eq!(decide(&w, &kp, w.identity.as_deref()), Decision::ExplicitDeny, "seed {seed}");
        if let Some(ids) = &w.identity {
            let mut ids = ids.clone();
            ids.push(format!(r#"{{"Effect":"Deny",{action},"Resource":"{KEY}"}}"#));
            assert_eq!(decide(&w, &w.key_policy, Some(&ids)), Decision::ExplicitDeny, "seed {seed}");
        }
    }
    assert!(allowed_before > CASES / 20, "the generator should produce allowed requests too ({allowed_before})");
}

/// How long one decision takes on parsed policies (run with `--ignored`;
/// prints the time, asserts nothing about it).
#[test]
#[ignore]
fn measure_evaluation_speed() {
    let mut g = Gen(7);
    let worlds: Vec<(World, Policy, Option<Vec<Policy>>)> = (0..1000)
        .map(|_| {
            let w = world(&mut g);
            let kp = doc(&w.key_policy);
            let ids = w.identity.as_ref().map(|s| s.iter().map(|st| doc(std::slice::from_ref(st))).collect());
            (w, kp, ids)
        })
        .collect();
    let start = std::time::Instant::now();
    let mut allowed = 0;
    for _ in 0..100 {
        for (w, kp, ids) in &worlds {
            let req = Request { caller: &w.caller, action: w.action, resource: KEY, key_account: A, facts: &w.facts };
            allowed += usize::from(evaluate(kp, ids.as_deref(), None, &req).allowed());
        }
    }
    let per = start.elapsed() / 100_000;
    println!("one decision: {per:?} (allowed {allowed} of 100000)");
}
