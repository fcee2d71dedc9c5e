//! The condition keys of the caller ([`principal_facts`]) and of the key
//! ([`add_key_facts`]); what the request itself supplies comes from its
//! typed members ([`super::supplied`]). Operations never compute condition
//! keys themselves.

use trent_store::KeyRecord;

use crate::iam::access::{kind_of, Identity, Kind};
use crate::policy::Facts;
use crate::state::Ctx;

/// The caller's keys: `aws:PrincipalArn` (a session's role), account, user
/// name and id, tags, `kms:CallerAccount`, the time and the transport.
pub fn principal_facts(ctx: &Ctx, identity: &Identity) -> Facts {
    let mut f = Facts::default();
    add_principal_facts(&mut f, ctx, identity);
    f
}

/// [`principal_facts`], added to `f` (only those it keeps).
pub fn add_principal_facts(f: &mut Facts, ctx: &Ctx, identity: &Identity) {
    let p = &ctx.principal;
    let kind = kind_of(p);
    let principal_arn = match &kind {
        Kind::Session { role, .. } => format!("arn:aws:iam::{}:role/{role}", p.account_id),
        _ => p.arn.clone(),
    };
    f.set("aws:PrincipalArn", principal_arn);
    f.set("aws:PrincipalAccount", p.account_id.clone());
    f.set("kms:CallerAccount", p.account_id.clone());
    f.set("aws:PrincipalType", match &kind {
        Kind::Root => "Account",
        Kind::User(_) => "User",
        Kind::Session { .. } => "AssumedRole",
    });
    match (&kind, &identity.unique_id) {
        (Kind::User(name), Some(id)) => {
            f.set("aws:username", name.clone());
            f.set("aws:userid", id.clone());
        }
        (Kind::User(name), None) => f.set("aws:username", name.clone()),
        (Kind::Session { session, .. }, Some(id)) => f.set("aws:userid", format!("{id}:{session}")),
        (Kind::Root, _) => f.set("aws:userid", p.account_id.clone()),
        _ => {}
    }
    for tag in &identity.tags {
        f.set(&format!("aws:PrincipalTag/{}", tag.key), tag.value.clone());
    }
    let now = ctx.now();
    if f.wants("aws:CurrentTime") {
        f.set("aws:CurrentTime", crate::clock::iso8601(now));
    }
    if f.wants("aws:EpochTime") {
        f.set("aws:EpochTime", (now / 1000).to_string());
    }
    // Trent's own TLS (--tls-cert); one terminated in front of Trent is not seen.
    f.set("aws:SecureTransport", if ctx.authz.secure_transport() { "true" } else { "false" });
}

/// The key's own keys: spec, usage, origin, multi-Region, `aws:ResourceTag/...`.
pub fn add_key_facts(f: &mut Facts, key: &KeyRecord) {
    f.set("kms:KeySpec", key.key_spec.clone());
    f.set("kms:KeyUsage", key.key_usage.clone());
    f.set("kms:KeyOrigin", key.origin.clone());
    f.set("kms:MultiRegion", key.multi_region.to_string());
    if let Some(kind) = crate::keys::multi_region::key_type(key) {
        f.set("kms:MultiRegionKeyType", kind);
    }
    for tag in &key.tags {
        f.set(&format!("aws:ResourceTag/{}", tag.key), tag.value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_region_keys_say_so_and_which_kind_they_are() {
        let (mut key, _) = trent_store::conformance::sample_key("111122223333", "d0000000-0000-4000-8000-00000000000d");
        let mut f = Facts::default();
        add_key_facts(&mut f, &key);
        assert_eq!(f.get("kms:MultiRegion"), Some(&["false".to_owned()][..]));
        assert_eq!(f.get("kms:MultiRegionKeyType"), None);
        key.multi_region = true;
        let mut f = Facts::default();
        add_key_facts(&mut f, &key);
        assert_eq!(f.get("kms:MultiRegion"), Some(&["true".to_owned()][..]));
        assert_eq!(f.get("kms:MultiRegionKeyType"), Some(&["PRIMARY".to_owned()][..]));
    }

    #[test]
    fn times_print_as_iso8601() {
        assert_eq!(crate::clock::iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(crate::clock::iso8601(951_868_800_000 + 3_723_000), "2000-03-01T01:02:03Z");
        assert_eq!(crate::policy::condition::parse_date(&crate::clock::iso8601(1_764_504_000_000)), Some(1_764_504_000_000));
    }
}
