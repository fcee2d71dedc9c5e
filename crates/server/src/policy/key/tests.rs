//! The decision table: key policies × identity policies × requests, each
//! with the decision and the reason AWS's rules give. Every case states its
//! expectation; none is computed from the evaluator.

use super::*;
use crate::policy::Policy;

const A: &str = "111122223333";
const B: &str = "444455556666";

fn arn(account: &str, rest: &str) -> String {
    format!("arn:aws:iam::{account}:{rest}")
}

fn key_arn(account: &str) -> String {
    format!("arn:aws:kms:us-east-1:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab")
}

fn user(account: &str, name: &str) -> Caller {
    Caller { account_id: account.into(), arn: arn(account, &format!("user/{name}")), role_arn: None }
}

fn root(account: &str) -> Caller {
    Caller { account_id: account.into(), arn: arn(account, "root"), role_arn: None }
}

fn session(account: &str, role: &str) -> Caller {
    Caller { account_id: account.into(), arn: format!("arn:aws:sts::{account}:assumed-role/{role}/s1"), role_arn: Some(arn(account, &format!("role/{role}"))) }
}

fn policy(statements: &str) -> Policy {
    let mut p = Policy::parse(&format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)).expect("test policy parses");
    p.name = "the key policy".into();
    p
}

fn identity(name: &str, statements: &str) -> Policy {
    let mut p = Policy::parse(&format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)).expect("test identity policy parses");
    p.name = format!("inline policy \"{name}\"");
    p
}

fn delegate(account: &str) -> String {
    format!(r#"{{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}}"#)
}

const ADMIN_ACTIONS: &str = r#"["kms:Create*","kms:Describe*","kms:Enable*","kms:List*","kms:Put*","kms:Update*","kms:Revoke*","kms:Disable*","kms:Get*","kms:Delete*","kms:TagResource","kms:UntagResource","kms:ScheduleKeyDeletion","kms:CancelKeyDeletion","kms:RotateKeyOnDemand"]"#;
const USER_ACTIONS: &str = r#"["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"]"#;

/// AWS's console policy: account delegation, key administrators, key users.
fn console_policy(delegation: bool) -> Policy {
    let admins = format!(r#"{{"Sid":"Allow access for Key Administrators","Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":{ADMIN_ACTIONS},"Resource":"*"}}"#, arn(A, "user/kate"));
    let users = format!(r#"{{"Sid":"Allow use of the key","Effect":"Allow","Principal":{{"AWS":["{}","{}"]}},"Action":{USER_ACTIONS},"Resource":"*"}}"#, arn(A, "user/ulla"), arn(A, "role/app"));
    if delegation {
        policy(&format!("{},{admins},{users}", delegate(A)))
    } else {
        policy(&format!("{admins},{users}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Allow,
    Deny,
    ExplicitDeny,
}

/// A condition key and its values in a request.
type Fact = (&'static str, &'static [&'static str]);

struct Case {
    name: String,
    key_policy: Policy,
    /// `None`: the caller is a root (IAM does not restrict it).
    identity: Option<Vec<Policy>>,
    grant: Option<&'static str>,
    caller: Caller,
    key_account: &'static str,
    action: &'static str,
    facts: Vec<Fact>,
    want: Want,
    /// A piece of the reason that must be there.
    reason: &'static str,
}

fn case(name: impl Into<String>, key_policy: Policy, identity: Option<Vec<Policy>>, caller: Caller, action: &'static str, want: Want, reason: &'static str) -> Case {
    Case { name: name.into(), key_policy, identity, grant: None, caller, key_account: A, action, facts: vec![], want, reason }
}

fn run(c: &Case) {
    let mut facts = Facts::default();
    for (k, v) in &c.facts {
        facts.set_many(k, v.iter().map(|s| s.to_string()).collect());
    }
    let resource = key_arn(c.key_account);
    let req = Request { caller: &c.caller, action: c.action, resource: &resource, key_account: c.key_account, facts: &facts };
    let v = evaluate(&c.key_policy, c.identity.as_deref(), c.grant.map(|g| GrantHit { grant_id: g.into() }), &req);
    let got = match v.decision {
        Decision::Allow => Want::Allow,
        Decision::ImplicitDeny => Want::Deny,
        Decision::ExplicitDeny => Want::ExplicitDeny,
    };
    assert_eq!(got, c.want, "case {}: {}", c.name, v.reason);
    assert!(v.reason.contains(c.reason), "case {}: reason {:?} lacks {:?}", c.name, v.reason, c.reason);
}

fn all_kms() -> Vec<Policy> {
    vec![identity("AdministratorAccess", r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#)]
}

const ALL_ACTIONS: &[&str] = &[
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
    "kms:CreateAlias",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:GetKeyPolicy",
    "kms:UpdateKeyDescription",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
    "kms:EnableKeyRotation",
    "kms:DeleteImportedKeyMaterial",
    "kms:CreateGrant",
];

fn is_admin_action(a: &str) -> bool {
    ["kms:Create", "kms:Describe", "kms:Enable", "kms:List", "kms:Put", "kms:Update", "kms:Revoke", "kms:Disable", "kms:Get", "kms:Delete"].iter().any(|p| a.starts_with(p))
        || ["kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand"].contains(&a)
}

fn is_user_action(a: &str) -> bool {
    ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"].contains(&a) || a.starts_with("kms:ReEncrypt") || a.starts_with("kms:GenerateDataKey")
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let no_identity = || Some(Vec::<Policy>::new());
    // Key administrators manage but do not use; key users use but do not
    // administer (no delegation: their identity policies play no part).
    for action in ALL_ACTIONS {
        let (want, reason) = if is_admin_action(action) { (Want::Allow, "\"Allow access for Key Administrators\"") } else { (Want::Deny, "no statement") };
        out.push(case(format!("key admin {action}"), console_policy(false), no_identity(), user(A, "kate"), action, want, reason));
        let (want, reason) = if is_user_action(action) { (Want::Allow, "\"Allow use of the key\"") } else { (Want::Deny, "no statement") };
        out.push(case(format!("key user {action}"), console_policy(false), no_identity(), user(A, "ulla"), action, want, reason));
        out.push(case(format!("key user role session {action}"), console_policy(false), no_identity(), session(A, "app"), action, want, reason));
    }
    // Delegation to IAM: dave's identity policy decides; without the
    // delegation statement it cannot.
    let dave_kms = || Some(vec![identity("dave-kms", r#"{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}"#)]);
    for (action, want, reason) in [
        ("kms:Encrypt", Want::Allow, "delegates to the caller's account, and by statement #1 of inline policy \"dave-kms\""),
        ("kms:Decrypt", Want::Allow, "\"Enable IAM User Permissions\""),
        ("kms:DisableKey", Want::Deny, "no identity-based policy of the caller allows kms:DisableKey"),
        ("kms:ScheduleKeyDeletion", Want::Deny, "lets IAM decide"),
    ] {
        out.push(case(format!("delegated dave {action}"), console_policy(true), dave_kms(), user(A, "dave"), action, want, reason));
        out.push(case(format!("undelegated dave {action}"), console_policy(false), dave_kms(), user(A, "dave"), action, Want::Deny, "no statement"));
    }
    // The root: allowed through delegation, locked out without it.
    for action in ["kms:Encrypt", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"] {
        out.push(case(format!("root delegated {action}"), console_policy(true), None, root(A), action, Want::Allow, "names the caller"));
        out.push(case(format!("root undelegated {action}"), console_policy(false), None, root(A), action, Want::Deny, "no statement"));
        out.push(case(format!("admin without identity policies {action}"), console_policy(true), no_identity(), user(A, "nobody"), action, Want::Deny, "lets IAM decide"));
        out.push(case(format!("administrator access {action}"), console_policy(true), Some(all_kms()), user(A, "admin"), action, Want::Allow, "AdministratorAccess"));
    }
    // The default key policy as AWS writes it: everything for IAM-allowed callers.
    let default = || {
        let mut p = Policy::parse(&crate::keys::policy::default_policy(A)).expect("the default policy parses");
        p.name = "the key policy".into();
        p
    };
    for action in ALL_ACTIONS.iter().take(8) {
        out.push(case(format!("default policy admin {action}"), default(), Some(all_kms()), user(A, "admin"), action, Want::Allow, "Enable IAM User Permissions"));
        out.push(case(format!("default policy no-IAM {action}"), default(), no_identity(), user(A, "eve"), action, Want::Deny, "no identity-based policy"));
    }
    // Explicit deny in either policy beats an allow in the other.
    let deny_decrypt_key = policy(&format!(r#"{},{{"Sid":"NoDecrypt","Effect":"Deny","Principal":{{"AWS":"{}"}},"Action":"kms:Decrypt","Resource":"*"}}"#, delegate(A), arn(A, "user/dave")));
    out.push(case("key policy deny beats admin access", deny_decrypt_key.clone(), Some(all_kms()), user(A, "dave"), "kms:Decrypt", Want::ExplicitDeny, "\"NoDecrypt\""));
    out.push(case("key policy deny only that action", deny_decrypt_key.clone(), Some(all_kms()), user(A, "dave"), "kms:Encrypt", Want::Allow, "AdministratorAccess"));
    out.push(case("key policy deny only that user", deny_decrypt_key, Some(all_kms()), user(A, "erin"), "kms:Decrypt", Want::Allow, "AdministratorAccess"));
    let deny_in_iam = Some(vec![identity("all", r#"{"Effect":"Allow","Action":"kms:*","Resource":"*"}"#), identity("guard", r#"{"Sid":"NoDeletes","Effect":"Deny","Action":"kms:ScheduleKeyDeletion","Resource":"*"}"#)]);
    let names_dave = policy(&format!(r#"{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"kms:*","Resource":"*"}}"#, arn(A, "user/dave")));
    out.push(case("identity deny beats key policy naming the user", names_dave.clone(), deny_in_iam.clone(), user(A, "dave"), "kms:ScheduleKeyDeletion", Want::ExplicitDeny, "\"NoDeletes\" of inline policy \"guard\""));
    out.push(case("identity deny leaves other actions", names_dave.clone(), deny_in_iam.clone(), user(A, "dave"), "kms:Encrypt", Want::Allow, "names the caller"));
    out.push(case("key policy naming a user needs no IAM", names_dave.clone(), no_identity(), user(A, "dave"), "kms:Encrypt", Want::Allow, "names the caller"));
    out.push(case("key policy naming dave is not erin", names_dave, no_identity(), user(A, "erin"), "kms:Encrypt", Want::Deny, "no statement"));
    let deny_everyone = policy(&format!(r#"{},{{"Sid":"Freeze","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*"}}"#, delegate(A)));
    out.push(case("deny * applies to the root", deny_everyone.clone(), None, root(A), "kms:Encrypt", Want::ExplicitDeny, "\"Freeze\""));
    out.push(case("deny * applies to other accounts", deny_everyone, None, root(B), "kms:Encrypt", Want::ExplicitDeny, "\"Freeze\""));
    let deny_account = policy(&format!(r#"{},{{"Sid":"NoUse","Effect":"Deny","Principal":{{"AWS":"{A}"}},"Action":"kms:Decrypt","Resource":"*"}}"#, delegate(A)));
    out.push(case("deny naming the account id covers its users", deny_account, Some(all_kms()), user(A, "dave"), "kms:Decrypt", Want::ExplicitDeny, "\"NoUse\""));
    let not_principal = policy(&format!(r#"{},{{"Sid":"OnlyKate","Effect":"Deny","NotPrincipal":{{"AWS":"{}"}},"Action":"kms:PutKeyPolicy","Resource":"*"}}"#, delegate(A), arn(A, "user/kate")));
    out.push(case("NotPrincipal deny hits others", not_principal.clone(), Some(all_kms()), user(A, "dave"), "kms:PutKeyPolicy", Want::ExplicitDeny, "\"OnlyKate\""));
    out.push(case("NotPrincipal deny spares the named", not_principal, Some(all_kms()), user(A, "kate"), "kms:PutKeyPolicy", Want::Allow, "Enable IAM"));
    // AWS's "deny everyone except this user": naming the account root beside
    // the user exempts the root itself, not every principal of the account.
    let except_kate = policy(&format!(
        r#"{},{{"Sid":"OnlyKate","Effect":"Deny","NotPrincipal":{{"AWS":["{}","{}"]}},"Action":"kms:*","Resource":"*"}}"#,
        delegate(A),
        arn(A, "user/kate"),
        arn(A, "root")
    ));
    out.push(case("NotPrincipal user+root denies the account's others", except_kate.clone(), Some(all_kms()), user(A, "dave"), "kms:Decrypt", Want::ExplicitDeny, "\"OnlyKate\""));
    out.push(case("NotPrincipal user+root denies the account's roles", except_kate.clone(), Some(all_kms()), session(A, "app"), "kms:Decrypt", Want::ExplicitDeny, "\"OnlyKate\""));
    out.push(case("NotPrincipal user+root spares the user", except_kate.clone(), Some(all_kms()), user(A, "kate"), "kms:Decrypt", Want::Allow, "Enable IAM"));
    out.push(case("NotPrincipal user+root spares the root", except_kate.clone(), None, root(A), "kms:Decrypt", Want::Allow, "Enable IAM"));
    out.push(case("NotPrincipal user+root denies other accounts", except_kate, None, root(B), "kms:Decrypt", Want::ExplicitDeny, "\"OnlyKate\""));
    let except_account_id = policy(&format!(r#"{},{{"Sid":"OnlyRoot","Effect":"Deny","NotPrincipal":{{"AWS":"{A}"}},"Action":"kms:*","Resource":"*"}}"#, delegate(A)));
    out.push(case("NotPrincipal account id spares only the root", except_account_id.clone(), None, root(A), "kms:Decrypt", Want::Allow, "Enable IAM"));
    out.push(case("NotPrincipal account id denies its users", except_account_id, Some(all_kms()), user(A, "dave"), "kms:Decrypt", Want::ExplicitDeny, "\"OnlyRoot\""));
    let except_role = policy(&format!(r#"{},{{"Sid":"OnlyApp","Effect":"Deny","NotPrincipal":{{"AWS":"{}"}},"Action":"kms:Decrypt","Resource":"*"}}"#, delegate(A), arn(A, "role/app")));
    out.push(case("NotPrincipal role spares its sessions", except_role.clone(), Some(all_kms()), session(A, "app"), "kms:Decrypt", Want::Allow, "Enable IAM"));
    out.push(case("NotPrincipal role denies other roles", except_role, Some(all_kms()), session(A, "other"), "kms:Decrypt", Want::ExplicitDeny, "\"OnlyApp\""));
    // Wildcard actions, NotAction, NotResource.
    for (pattern, action, want) in [
        ("kms:Generate*", "kms:GenerateDataKey", Want::Allow),
        ("kms:Generate*", "kms:GenerateDataKeyWithoutPlaintext", Want::Allow),
        ("kms:Generate*", "kms:Encrypt", Want::Deny),
        ("kms:ReEncrypt*", "kms:ReEncryptFrom", Want::Allow),
        ("kms:ReEncrypt*", "kms:ReEncryptTo", Want::Allow),
        ("kms:ReEncrypt*", "kms:Decrypt", Want::Deny),
        ("kms:*", "kms:ScheduleKeyDeletion", Want::Allow),
        ("KMS:ENCRYPT", "kms:Encrypt", Want::Allow),
        ("kms:?ncrypt", "kms:Encrypt", Want::Allow),
        ("kms:?ncrypt", "kms:Decrypt", Want::Deny),
    ] {
        let p = policy(&format!(r#"{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"{pattern}","Resource":"*"}}"#, arn(A, "user/dave")));
        out.push(case(format!("action {pattern} vs {action}"), p, no_identity(), user(A, "dave"), action, want, if want == Want::Allow { "names the caller" } else { "no statement" }));
    }
    let not_action = policy(&format!(r#"{{"Sid":"AllButDelete","Effect":"Allow","Principal":{{"AWS":"{}"}},"NotAction":["kms:ScheduleKeyDeletion","kms:Put*"],"Resource":"*"}}"#, arn(A, "user/dave")));
    for (action, want) in [("kms:Encrypt", Want::Allow), ("kms:ScheduleKeyDeletion", Want::Deny), ("kms:PutKeyPolicy", Want::Deny), ("kms:DisableKey", Want::Allow)] {
        out.push(case(format!("NotAction {action}"), not_action.clone(), no_identity(), user(A, "dave"), action, want, if want == Want::Allow { "\"AllButDelete\"" } else { "no statement" }));
    }
    let other_resource = policy(&format!(r#"{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"kms:*","Resource":"arn:aws:kms:us-east-1:{A}:key/other"}}"#, arn(A, "user/dave")));
    out.push(case("Resource naming another key", other_resource, no_identity(), user(A, "dave"), "kms:Encrypt", Want::Deny, "no statement"));
    let not_resource = policy(&format!(r#"{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"kms:*","NotResource":"arn:aws:kms:us-east-1:{A}:key/other"}}"#, arn(A, "user/dave")));
    out.push(case("NotResource naming another key", not_resource, no_identity(), user(A, "dave"), "kms:Encrypt", Want::Allow, "names the caller"));
    let iam_other_key = Some(vec![identity("one-key", &format!(r#"{{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:us-east-1:{A}:key/other"}}"#))]);
    out.push(case("identity policy for another key", console_policy(true), iam_other_key, user(A, "dave"), "kms:Encrypt", Want::Deny, "no identity-based policy"));
    let iam_this_key = Some(vec![identity("this-key", &format!(r#"{{"Effect":"Allow","Action":"kms:*","Resource":"{}"}}"#, key_arn(A)))]);
    out.push(case("identity policy for this key", console_policy(true), iam_this_key, user(A, "dave"), "kms:Encrypt", Want::Allow, "\"this-key\""));

    // Cross-account: both sides needed.
    let shares_with_b = policy(&format!(r#"{},{{"Sid":"ShareWithB","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{B}:root"}},"Action":["kms:Encrypt","kms:Decrypt","kms:DescribeKey"],"Resource":"*"}}"#, delegate(A)));
    let b_iam = || Some(vec![identity("use-a-keys", &format!(r#"{{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"arn:aws:kms:*:{A}:key/*"}}"#))]);
    for (action, identity_, want, reason) in [
        ("kms:Encrypt", b_iam(), Want::Allow, "\"ShareWithB\""),
        ("kms:Decrypt", b_iam(), Want::Allow, "\"use-a-keys\""),
        ("kms:DescribeKey", b_iam(), Want::Deny, "no identity-based policy"),
        ("kms:DisableKey", b_iam(), Want::Deny, "no statement"),
        ("kms:Encrypt", no_identity(), Want::Deny, "no identity-based policy"),
        ("kms:Encrypt", None, Want::Allow, "IAM policies do not restrict"),
    ] {
        let mut c = case(format!("cross-account {action}"), shares_with_b.clone(), identity_, user(B, "bob"), action, want, reason);
        c.key_account = A;
        out.push(c);
    }
    out.push(case("cross-account without the key policy", console_policy(true), b_iam(), user(B, "bob"), "kms:Encrypt", Want::Deny, "no statement"));
    out.push(case("cross-account root without the key policy", console_policy(true), None, root(B), "kms:Encrypt", Want::Deny, "no statement"));
    let names_bob = policy(&format!(r#"{{"Sid":"Bob","Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"kms:Encrypt","Resource":"*"}}"#, arn(B, "user/bob")));
    out.push(case("cross-account naming the user still needs IAM", names_bob.clone(), no_identity(), user(B, "bob"), "kms:Encrypt", Want::Deny, "no identity-based policy"));
    out.push(case("cross-account naming the user with IAM", names_bob, b_iam(), user(B, "bob"), "kms:Encrypt", Want::Allow, "names the caller, and by"));
    let everyone = policy(r#"{"Sid":"Public","Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"*"}"#);
    out.push(case("principal * same account", everyone.clone(), no_identity(), user(A, "dave"), "kms:Encrypt", Want::Allow, "\"Public\""));
    out.push(case("principal * other account needs IAM", everyone.clone(), no_identity(), user(B, "bob"), "kms:Encrypt", Want::Deny, "no identity-based policy"));
    out.push(case("principal * other account with IAM", everyone, b_iam(), user(B, "bob"), "kms:Encrypt", Want::Allow, "\"Public\""));
    let b_denies = Some(vec![identity("use-a-keys", r#"{"Effect":"Allow","Action":"kms:*","Resource":"*"}"#), identity("no-a", r#"{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}"#)]);
    out.push(case("cross-account identity deny", shares_with_b.clone(), b_denies, user(B, "bob"), "kms:Decrypt", Want::ExplicitDeny, "\"no-a\""));
    out.push(case("third account gets nothing", shares_with_b, None, root("777788889999"), "kms:Encrypt", Want::Deny, "no statement"));

    // Encryption-context conditions.
    let ec_policy = policy(&format!(
        r#"{{"Sid":"DeptIT","Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*","Condition":{{"StringEquals":{{"kms:EncryptionContext:Department":"IT"}}}}}}"#,
        arn(A, "user/dave")
    ));
    let ec_cases: Vec<(&str, Vec<Fact>, Want)> = vec![
        ("matching context", vec![("kms:EncryptionContext:Department", &["IT"])], Want::Allow),
        ("key name case-insensitive", vec![("kms:encryptioncontext:department", &["IT"])], Want::Allow),
        ("value case-sensitive", vec![("kms:EncryptionContext:Department", &["it"])], Want::Deny),
        ("other value", vec![("kms:EncryptionContext:Department", &["HR"])], Want::Deny),
        ("no context", vec![], Want::Deny),
        ("other key", vec![("kms:EncryptionContext:Team", &["IT"])], Want::Deny),
    ];
    for (name, facts, want) in ec_cases {
        let mut c = case(format!("encryption context: {name}"), ec_policy.clone(), no_identity(), user(A, "dave"), "kms:Decrypt", want, if want == Want::Allow { "\"DeptIT\"" } else { "no statement" });
        c.facts = facts;
        out.push(c);
    }
    let keys_policy = policy(&format!(
        r#"{{"Sid":"OnlyKnownKeys","Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"kms:Encrypt","Resource":"*","Condition":{{"ForAllValues:StringEquals":{{"kms:EncryptionContextKeys":["app","stage"]}},"Null":{{"kms:EncryptionContextKeys":"false"}}}}}}"#,
        arn(A, "user/dave")
    ));
    for (name, keys, want) in [
        ("subset of allowed keys", &["app"][..], Want::Allow),
        ("all allowed keys", &["app", "stage"][..], Want::Allow),
        ("an unknown key", &["app", "owner"][..], Want::Deny),
    ] {
        let mut c = case(format!("context keys: {name}"), keys_policy.clone(), no_identity(), user(A, "dave"), "kms:Encrypt", want, if want == Want::Allow { "\"OnlyKnownKeys\"" } else { "no statement" });
        c.facts = vec![("kms:EncryptionContextKeys", keys)];
        out.push(c);
    }
    out.push(case("context keys: none at all (Null check)", keys_policy, no_identity(), user(A, "dave"), "kms:Encrypt", Want::Deny, "no statement"));
    let deny_without_context = policy(&format!(r#"{},{{"Sid":"RequireContext","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{{"Null":{{"kms:EncryptionContextKeys":"true"}}}}}}"#, delegate(A)));
    out.push(case("deny without context: none", deny_without_context.clone(), Some(all_kms()), user(A, "dave"), "kms:Decrypt", Want::ExplicitDeny, "\"RequireContext\""));
    let mut c = case("deny without context: some", deny_without_context, Some(all_kms()), user(A, "dave"), "kms:Decrypt", Want::Allow, "AdministratorAccess");
    c.facts = vec![("kms:EncryptionContextKeys", &["app"])];
    out.push(c);
    // Policy variables in conditions.
    let own_context = policy(&format!(r#"{{"Sid":"OwnData","Effect":"Allow","Principal":{{"AWS":"{A}"}},"Action":"kms:Decrypt","Resource":"*","Condition":{{"StringEquals":{{"kms:EncryptionContext:owner":"${{aws:username}}"}}}}}}"#));
    for (name, owner, want) in [("own data", &["dave"][..], Want::Allow), ("someone else's", &["erin"][..], Want::Deny)] {
        let mut c = case(format!("policy variable: {name}"), own_context.clone(), Some(all_kms()), user(A, "dave"), "kms:Decrypt", want, if want == Want::Allow { "\"OwnData\"" } else { "no statement" });
        c.facts = vec![("kms:EncryptionContext:owner", owner), ("aws:username", &["dave"])];
        out.push(c);
    }

    // kms:ViaService: allowed only through a service, denied through one.
    let via_only = policy(&format!(r#"{{"Sid":"ViaS3","Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"kms:Decrypt","Resource":"*","Condition":{{"StringEquals":{{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}}}}"#, arn(A, "user/dave")));
    for (name, via, want) in [
        ("through S3", &["s3.us-east-1.amazonaws.com"][..], Want::Allow),
        ("through another service", &["ec2.us-east-1.amazonaws.com"][..], Want::Deny),
        ("direct", &[][..], Want::Deny),
    ] {
        let mut c = case(format!("ViaService allow {name}"), via_only.clone(), no_identity(), user(A, "dave"), "kms:Decrypt", want, if want == Want::Allow { "\"ViaS3\"" } else { "no statement" });
        if !via.is_empty() {
            c.facts = vec![("kms:ViaService", via)];
        }
        out.push(c);
    }
    let deny_via = policy(&format!(r#"{},{{"Sid":"NotViaEc2","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{{"StringLike":{{"kms:ViaService":"ec2.*.amazonaws.com"}}}}}}"#, delegate(A)));
    for (name, via, want) in [("through EC2", &["ec2.us-east-1.amazonaws.com"][..], Want::ExplicitDeny), ("through S3", &["s3.us-east-1.amazonaws.com"][..], Want::Allow), ("direct", &[][..], Want::Allow)] {
        let mut c = case(format!("ViaService deny {name}"), deny_via.clone(), Some(all_kms()), user(A, "dave"), "kms:Encrypt", want, if want == Want::Allow { "AdministratorAccess" } else { "\"NotViaEc2\"" });
        if !via.is_empty() {
            c.facts = vec![("kms:ViaService", via)];
        }
        out.push(c);
    }
    // Other condition keys.
    let caller_account = policy(&format!(r#"{{"Sid":"Acct","Effect":"Allow","Principal":{{"AWS":"*"}},"Action":"kms:Encrypt","Resource":"*","Condition":{{"StringEquals":{{"kms:CallerAccount":"{A}"}}}}}}"#));
    let mut c = case("CallerAccount matches", caller_account.clone(), no_identity(), user(A, "dave"), "kms:Encrypt", Want::Allow, "\"Acct\"");
    c.facts = vec![("kms:CallerAccount", &[A])];
    out.push(c);
    let mut c = case("CallerAccount differs", caller_account, Some(all_kms()), user(B, "bob"), "kms:Encrypt", Want::Deny, "no statement");
    c.facts = vec![("kms:CallerAccount", &[B])];
    out.push(c);
    let rotation = policy(&format!(r#"{},{{"Sid":"MinRotation","Effect":"Deny","Principal":"*","Action":"kms:EnableKeyRotation","Resource":"*","Condition":{{"NumericGreaterThan":{{"kms:RotationPeriodInDays":180}}}}}}"#, delegate(A)));
    for (days, want) in [(&["90"][..], Want::Allow), (&["180"][..], Want::Allow), (&["365"][..], Want::ExplicitDeny)] {
        let mut c = case(format!("rotation period {}", days[0]), rotation.clone(), Some(all_kms()), user(A, "dave"), "kms:EnableKeyRotation", want, if want == Want::Allow { "AdministratorAccess" } else { "\"MinRotation\"" });
        c.facts = vec![("kms:RotationPeriodInDays", days)];
        out.push(c);
    }
    let window = policy(&format!(r#"{},{{"Sid":"LongWindow","Effect":"Deny","Principal":"*","Action":"kms:ScheduleKeyDeletion","Resource":"*","Condition":{{"NumericLessThan":{{"kms:ScheduleKeyDeletionPendingWindowInDays":30}}}}}}"#, delegate(A)));
    for (days, want) in [(&["7"][..], Want::ExplicitDeny), (&["30"][..], Want::Allow)] {
        let mut c = case(format!("deletion window {}", days[0]), window.clone(), Some(all_kms()), user(A, "dave"), "kms:ScheduleKeyDeletion", want, if want == Want::Allow { "AdministratorAccess" } else { "\"LongWindow\"" });
        c.facts = vec![("kms:ScheduleKeyDeletionPendingWindowInDays", days)];
        out.push(c);
    }
    let tagged = policy(&format!(r#"{{"Sid":"TeamRed","Effect":"Allow","Principal":{{"AWS":"{A}"}},"Action":"kms:*","Resource":"*","Condition":{{"StringEquals":{{"aws:ResourceTag/team":"${{aws:PrincipalTag/team}}"}}}}}}"#));
    for (name, key_team, user_team, want) in [("same team", "red", "red", Want::Allow), ("other team", "blue", "red", Want::Deny)] {
        let mut c = case(format!("ABAC {name}"), tagged.clone(), Some(all_kms()), user(A, "dave"), "kms:Encrypt", want, if want == Want::Allow { "\"TeamRed\"" } else { "no statement" });
        c.facts = vec![("aws:ResourceTag/team", if key_team == "red" { &["red"] } else { &["blue"] }), ("aws:PrincipalTag/team", if user_team == "red" { &["red"] } else { &["blue"] })];
        out.push(c);
    }
    let bypass = policy(&format!(r#"{},{{"Sid":"NoBypass","Effect":"Deny","Principal":"*","Action":"kms:PutKeyPolicy","Resource":"*","Condition":{{"Bool":{{"kms:BypassPolicyLockoutSafetyCheck":"true"}}}}}}"#, delegate(A)));
    for (flag, want) in [(&["true"][..], Want::ExplicitDeny), (&["false"][..], Want::Allow)] {
        let mut c = case(format!("bypass lockout {}", flag[0]), bypass.clone(), Some(all_kms()), user(A, "dave"), "kms:PutKeyPolicy", want, if want == Want::Allow { "AdministratorAccess" } else { "\"NoBypass\"" });
        c.facts = vec![("kms:BypassPolicyLockoutSafetyCheck", flag)];
        out.push(c);
    }
    let tls = policy(&format!(r#"{},{{"Sid":"TlsOnly","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{{"Bool":{{"aws:SecureTransport":"false"}}}}}}"#, delegate(A)));
    for (flag, want) in [(&["false"][..], Want::ExplicitDeny), (&["true"][..], Want::Allow)] {
        let mut c = case(format!("secure transport {}", flag[0]), tls.clone(), Some(all_kms()), user(A, "dave"), "kms:Encrypt", want, if want == Want::Allow { "AdministratorAccess" } else { "\"TlsOnly\"" });
        c.facts = vec![("aws:SecureTransport", flag)];
        out.push(c);
    }
    let until = policy(&format!(r#"{{"Sid":"Until2027","Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"kms:Encrypt","Resource":"*","Condition":{{"DateLessThan":{{"aws:CurrentTime":"2027-01-01T00:00:00Z"}}}}}}"#, arn(A, "user/dave")));
    for (now, want) in [(&["2026-11-30T12:00:00Z"][..], Want::Allow), (&["2027-06-01T00:00:00Z"][..], Want::Deny)] {
        let mut c = case(format!("current time {}", now[0]), until.clone(), no_identity(), user(A, "dave"), "kms:Encrypt", want, if want == Want::Allow { "\"Until2027\"" } else { "no statement" });
        c.facts = vec![("aws:CurrentTime", now)];
        out.push(c);
    }
    let spec = policy(&format!(r#"{},{{"Sid":"OnlySymmetric","Effect":"Deny","Principal":"*","Action":"kms:CreateKey","Resource":"*","Condition":{{"StringNotEquals":{{"kms:KeySpec":"SYMMETRIC_DEFAULT"}}}}}}"#, delegate(A)));
    for (ks, want) in [(&["SYMMETRIC_DEFAULT"][..], Want::Allow), (&["RSA_2048"][..], Want::ExplicitDeny)] {
        let mut c = case(format!("key spec {}", ks[0]), spec.clone(), Some(all_kms()), user(A, "dave"), "kms:CreateKey", want, if want == Want::Allow { "AdministratorAccess" } else { "\"OnlySymmetric\"" });
        c.facts = vec![("kms:KeySpec", ks)];
        out.push(c);
    }
    let alias_cond = policy(&format!(r#"{{"Sid":"ViaAlias","Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"kms:Encrypt","Resource":"*","Condition":{{"StringEquals":{{"kms:RequestAlias":"alias/app"}}}}}}"#, arn(A, "user/dave")));
    for (alias, want) in [(&["alias/app"][..], Want::Allow), (&["alias/other"][..], Want::Deny), (&[][..], Want::Deny)] {
        let mut c = case(format!("request alias {alias:?}"), alias_cond.clone(), no_identity(), user(A, "dave"), "kms:Encrypt", want, if want == Want::Allow { "\"ViaAlias\"" } else { "no statement" });
        if !alias.is_empty() {
            c.facts = vec![("kms:RequestAlias", alias)];
        }
        out.push(c);
    }
    let principal_arn = policy(&format!(r#"{{"Sid":"Apps","Effect":"Allow","Principal":{{"AWS":"{A}"}},"Action":"kms:Decrypt","Resource":"*","Condition":{{"ArnLike":{{"aws:PrincipalArn":"arn:aws:iam::{A}:role/app-*"}}}}}}"#));
    for (p, want) in [(&["arn:aws:iam::111122223333:role/app-web"][..], Want::Allow), (&["arn:aws:iam::111122223333:role/batch"][..], Want::Deny)] {
        let mut c = case(format!("principal arn {}", p[0]), principal_arn.clone(), Some(all_kms()), session(A, "app-web"), "kms:Decrypt", want, if want == Want::Allow { "\"Apps\"" } else { "no statement" });
        c.facts = vec![("aws:PrincipalArn", p)];
        out.push(c);
    }
    // Unreadable condition (an operator Trent does not know) fails closed.
    let mut weird = policy(&format!(r#"{},{{"Sid":"Weird","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{{"StringSortOf":{{"a":"b"}}}}}}"#, delegate(A)));
    weird.name = "the key policy".into();
    out.push(case("unreadable deny condition denies", weird, Some(all_kms()), user(A, "dave"), "kms:Decrypt", Want::ExplicitDeny, "\"Weird\""));

    // Grants allow where the key policy does not name the grantee; a deny still wins.
    let mut g = case("grant allows without key policy", console_policy(false), no_identity(), user(A, "gina"), "kms:Decrypt", Want::Allow, "grant g-1");
    g.grant = Some("g-1");
    out.push(g);
    let mut g = case("grant cannot beat a deny", policy(&format!(r#"{},{{"Sid":"NoGina","Effect":"Deny","Principal":{{"AWS":"{}"}},"Action":"kms:*","Resource":"*"}}"#, delegate(A), arn(A, "user/gina"))), no_identity(), user(A, "gina"), "kms:Decrypt", Want::ExplicitDeny, "\"NoGina\"");
    g.grant = Some("g-2");
    out.push(g);
    let mut g = case("grant for a delegated caller without IAM", console_policy(true), no_identity(), user(A, "gina"), "kms:Decrypt", Want::Allow, "grant g-3");
    g.grant = Some("g-3");
    out.push(g);
    out
}

#[test]
fn the_decision_table() {
    let all = cases();
    assert!(all.len() >= 150, "the table has {} cases", all.len());
    for c in &all {
        run(c);
    }
}

#[test]
fn access_denied_messages_are_awss() {
    let caller = user(A, "dave");
    let resource = key_arn(A);
    let facts = Facts::default();
    let req = Request { caller: &caller, action: "kms:Decrypt", resource: &resource, key_account: A, facts: &facts };
    let msg = |p: &Policy, id: Option<Vec<Policy>>| evaluate(p, id.as_deref(), None, &req).denial_message(&caller.arn, "kms:Decrypt", &resource);
    assert_eq!(
        msg(&console_policy(false), Some(vec![])),
        format!("User: {} is not authorized to perform: kms:Decrypt on resource: {resource} because no resource-based policy allows the kms:Decrypt action", caller.arn)
    );
    assert_eq!(
        msg(&console_policy(true), Some(vec![])),
        format!("User: {} is not authorized to perform: kms:Decrypt on resource: {resource} because no identity-based policy allows the kms:Decrypt action", caller.arn)
    );
    let deny = policy(&format!(r#"{},{{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"}}"#, delegate(A)));
    assert!(msg(&deny, Some(all_kms())).ends_with("with an explicit deny in a resource-based policy"));
    let iam_deny = vec![identity("no", r#"{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}"#)];
    assert!(msg(&console_policy(true), Some(iam_deny)).ends_with("with an explicit deny in an identity-based policy"));
}

/// Encryption-context keys that differ only by case (`Tenant`, `tenant`)
/// leave `kms:EncryptionContext:tenant` without one value: a Deny reading
/// it denies and an Allow reading it does not allow, whichever value the
/// request put first.
#[test]
fn a_case_ambiguous_condition_key_fails_closed() {
    let deny = policy(&format!(
        r#"{},{{"Sid":"NoOthers","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{{"StringNotEquals":{{"kms:EncryptionContext:tenant":"a"}}}}}}"#,
        delegate(A)
    ));
    let allow = policy(&format!(
        r#"{{"Sid":"OnlyA","Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"kms:Decrypt","Resource":"*","Condition":{{"StringEquals":{{"kms:EncryptionContext:tenant":"a"}}}}}}"#,
        arn(A, "user/dave")
    ));
    let caller = user(A, "dave");
    let resource = key_arn(A);
    let decide = |p: &Policy, ambiguous: bool| {
        let mut facts = Facts::default();
        facts.set("kms:EncryptionContext:tenant", "a");
        if ambiguous {
            facts.set_ambiguous("kms:EncryptionContext:Tenant");
        }
        let req = Request { caller: &caller, action: "kms:Decrypt", resource: &resource, key_account: A, facts: &facts };
        evaluate(p, Some(&all_kms()), None, &req).decision
    };
    assert_eq!(decide(&deny, false), Decision::Allow);
    assert_eq!(decide(&deny, true), Decision::ExplicitDeny);
    assert_eq!(decide(&allow, false), Decision::Allow);
    assert_eq!(decide(&allow, true), Decision::ImplicitDeny);
}
