//! IAM users, roles and managed policies as the server sees them: the JSON
//! document kept in each [`EntityRecord`], loading and changing it with
//! optimistic concurrency, names and ARNs, and their XML.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};
use trent_store::{AccessKeyRecord, EntityKind, EntityRecord, Millis, StoreError, Tag};

use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::query::xml::{iso8601, Xml};
use crate::state::Ctx;
use crate::text_cache::TextCache;

/// The most tags an IAM user or role can carry.
pub const MAX_TAGS: usize = 50;

fn root_path() -> String {
    "/".to_owned()
}

/// Everything IAM keeps about a user, role or managed policy beyond its
/// name and ARN. One shape for all three; each uses its own fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Doc {
    pub id: String,
    #[serde(default = "root_path")]
    pub path: String,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Inline policies (users, roles): name -> document.
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    /// Attached managed policies (users, roles), by ARN.
    #[serde(default)]
    pub attached: Vec<String>,
    /// A role's trust policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_session_secs: Option<i64>,
    /// A managed policy's versions; `default_version` names the one in force.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<PolicyVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_version: Option<String>,
    #[serde(default)]
    pub updated_at: Millis,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyVersion {
    pub id: String,
    pub document: String,
    pub created_at: Millis,
}

impl Doc {
    pub fn parse(text: &str) -> Result<Doc, QueryError> {
        serde_json::from_str(text).map_err(|e| QueryError::internal(format!("corrupt IAM entity document: {e}")))
    }

    pub fn to_json(&self) -> Result<String, QueryError> {
        serde_json::to_string(self).map_err(|e| QueryError::internal(format!("IAM entity document: {e}")))
    }

    /// The document of a managed policy's default version.
    pub fn default_document(&self) -> Option<&str> {
        let id = self.default_version.as_deref()?;
        self.versions.iter().find(|v| v.id == id).map(|v| v.document.as_str())
    }
}

/// A loaded entity: its record (name, ARN, version) and its document.
#[derive(Debug, Clone)]
pub struct Entity {
    pub record: EntityRecord,
    pub doc: Doc,
}

impl Entity {
    pub fn name(&self) -> &str {
        &self.record.name
    }
    pub fn arn(&self) -> &str {
        &self.record.arn
    }
}

pub fn noun(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::User => "user",
        EntityKind::Role => "role",
        EntityKind::Policy => "policy",
    }
}

/// `arn:aws:iam::ACCOUNT:user/path/name`.
pub fn arn(account_id: &str, kind: EntityKind, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account_id}:{}{path}{name}", noun(kind))
}

pub fn not_found(kind: EntityKind, account_id: &str, name: &str) -> QueryError {
    match kind {
        EntityKind::Policy => QueryError::no_such_entity(format!("Policy {} does not exist or is not attachable.", arn(account_id, kind, "/", name))),
        _ => QueryError::no_such_entity(format!("The {} with name {name} cannot be found.", noun(kind))),
    }
}

pub async fn find(ctx: &Ctx, kind: EntityKind, name: &str) -> Result<Option<Entity>, QueryError> {
    let Some(record) = ctx.state.store.get_entity(&ctx.principal.account_id, kind, name).await? else { return Ok(None) };
    let doc = Doc::parse(&record.doc)?;
    Ok(Some(Entity { record, doc }))
}

/// The document of an entity, parsed once while its text stays the same:
/// every request of an IAM user or role reads its caller's.
pub async fn find_doc(ctx: &Ctx, kind: EntityKind, name: &str) -> Result<Option<Arc<Doc>>, QueryError> {
    let Some(record) = ctx.state.store.get_entity(&ctx.principal.account_id, kind, name).await? else { return Ok(None) };
    parsed_doc(&record.doc).map(Some)
}

/// Parsed documents by their text (so a changed entity is simply another
/// entry), bounded by the bytes of text kept.
fn parsed_doc(text: &str) -> Result<Arc<Doc>, QueryError> {
    static DOCS: LazyLock<TextCache<Doc>> = LazyLock::new(|| TextCache::new(8 << 20));
    DOCS.get_or_parse("", text, Doc::parse)
}

pub async fn load(ctx: &Ctx, kind: EntityKind, name: &str) -> Result<Entity, QueryError> {
    find(ctx, kind, name).await?.ok_or_else(|| not_found(kind, &ctx.principal.account_id, name))
}

/// Reads, changes with `change`, and writes back; re-reads and tries again
/// when another request changed the entity meanwhile.
pub async fn modify<F>(ctx: &Ctx, kind: EntityKind, name: &str, mut change: F) -> Result<Entity, QueryError>
where
    F: FnMut(&mut Doc) -> Result<(), QueryError>,
{
    for _ in 0..8 {
        let mut entity = load(ctx, kind, name).await?;
        change(&mut entity.doc)?;
        entity.doc.updated_at = ctx.now();
        entity.record.doc = entity.doc.to_json()?;
        match ctx.state.store.update_entity(&entity.record).await {
            Ok(v) => {
                entity.record.row_version = v;
                return Ok(entity);
            }
            Err(StoreError::Conflict) => continue,
            Err(StoreError::NotFound) => return Err(not_found(kind, &ctx.principal.account_id, name)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(QueryError::concurrent_modification(format!("The {} {name} is being changed by another request; try again.", noun(kind))))
}

/// Inserts a new entity (with an access key for a new user, if given).
pub async fn create(ctx: &Ctx, kind: EntityKind, name: &str, doc: Doc, key: Option<&AccessKeyRecord>) -> Result<Entity, QueryError> {
    let account_id = ctx.principal.account_id.clone();
    let record = EntityRecord { arn: arn(&account_id, kind, &doc.path, name), account_id, kind, name: name.to_owned(), created_at: ctx.now(), doc: doc.to_json()?, row_version: 1 };
    match ctx.state.store.insert_entity(&record, key).await {
        Ok(()) => Ok(Entity { record, doc }),
        Err(StoreError::AlreadyExists) => Err(match kind {
            EntityKind::User => QueryError::already_exists(format!("User with name {name} already exists.")),
            EntityKind::Role => QueryError::already_exists(format!("Role with name {name} already exists.")),
            EntityKind::Policy => QueryError::already_exists(format!("A policy called {name} already exists. Duplicate names are not allowed.")),
        }),
        Err(e) => Err(e.into()),
    }
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A unique id as IAM makes them: `AIDA` (users), `AROA` (roles), `ANPA`
/// (policies) + 17 characters.
pub fn new_id(prefix: &str) -> Result<String, QueryError> {
    let bytes = trent_crypto::random_bytes(17)?;
    Ok(format!("{prefix}{}", bytes.iter().map(|b| BASE32[(b % 32) as usize] as char).collect::<String>()))
}

fn constraint(param: &str, value: &str, what: &str) -> QueryError {
    QueryError::validation(format!("1 validation error detected: Value '{value}' at '{param}' failed to satisfy constraint: {what}"))
}

/// User, role and policy names: `[\w+=,.@-]+`, at most `max` characters.
pub fn check_name(param: &str, value: &str, max: usize) -> Result<(), QueryError> {
    if value.is_empty() || value.chars().count() > max {
        return Err(constraint(param, value, &format!("Member must have length less than or equal to {max}")));
    }
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)) {
        return Err(constraint(param, value, "Member must satisfy regular expression pattern: [\\w+=,.@-]+"));
    }
    Ok(())
}

/// `/` or `/some/path/`.
pub fn check_path(param: &str, value: &str) -> Result<(), QueryError> {
    let ok = value == "/" || (value.len() <= 512 && value.len() >= 2 && value.starts_with('/') && value.ends_with('/') && value.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    if !ok {
        return Err(constraint(param, value, "Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)"));
    }
    Ok(())
}

/// The optional `Path` parameter, `/` by default.
pub fn path_param(p: &Params) -> Result<String, QueryError> {
    let path = p.get("Path").unwrap_or("/");
    check_path("path", path)?;
    Ok(path.to_owned())
}

/// `Tags.member.N.Key/Value`, checked.
pub fn tags_param(p: &Params) -> Result<Vec<Tag>, QueryError> {
    let mut tags = Vec::new();
    for row in p.members("Tags", &["Key", "Value"]) {
        let key = row[0].clone().unwrap_or_default();
        let value = row[1].clone().unwrap_or_default();
        if key.is_empty() || key.chars().count() > 128 {
            return Err(constraint("tags.member.key", &key, "Member must have length between 1 and 128"));
        }
        if value.chars().count() > 256 {
            return Err(constraint("tags.member.value", &value, "Member must have length less than or equal to 256"));
        }
        if key.to_lowercase().starts_with("aws:") {
            return Err(QueryError::invalid_input("Tag keys starting with 'aws:' are reserved for AWS use."));
        }
        if tags.iter().any(|t: &Tag| t.key == key) {
            return Err(QueryError::invalid_input(format!("Duplicate tag keys found. Please note that Tag keys are case insensitive: {key}.")));
        }
        tags.push(Tag { key, value });
    }
    if tags.len() > MAX_TAGS {
        return Err(QueryError::limit_exceeded(format!("Cannot exceed quota for TagsPerEntity: {MAX_TAGS}.")));
    }
    Ok(tags)
}

/// Merges `new` into `tags`, a tag of the same key replacing the old one.
pub fn merge_tags(tags: &mut Vec<Tag>, new: &[Tag]) -> Result<(), QueryError> {
    for t in new {
        match tags.iter_mut().find(|old| old.key == t.key) {
            Some(old) => old.value = t.value.clone(),
            None => tags.push(t.clone()),
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(QueryError::limit_exceeded(format!("Cannot exceed quota for TagsPerEntity: {MAX_TAGS}.")));
    }
    Ok(())
}

/// A policy document as IAM returns it: URL-encoded (botocore decodes it).
pub fn encode_document(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `MaxItems` and `Marker` of a listing.
pub fn paging(p: &Params) -> Result<(usize, Option<String>), QueryError> {
    let max = p.int("MaxItems", 1, 1000)?.unwrap_or(100);
    Ok((usize::try_from(max).unwrap_or(100), p.get("Marker").map(str::to_owned)))
}

/// `IsTruncated` and, if so, `Marker`.
pub fn write_truncation(x: &mut Xml, next_marker: Option<&str>) {
    x.text("IsTruncated", if next_marker.is_some() { "true" } else { "false" });
    x.opt("Marker", next_marker);
}

fn write_tags(x: &mut Xml, tags: &[Tag]) {
    if tags.is_empty() {
        return;
    }
    x.start("Tags");
    for t in tags {
        x.start("member").text("Key", &t.key).text("Value", &t.value).end("member");
    }
    x.end("Tags");
}

/// A `User` structure's fields.
pub fn write_user(x: &mut Xml, user: &Entity, with_tags: bool) {
    x.text("Path", &user.doc.path).text("UserName", user.name()).text("UserId", &user.doc.id).text("Arn", user.arn()).text("CreateDate", &iso8601(user.record.created_at));
    if with_tags {
        write_tags(x, &user.doc.tags);
    }
}

/// A `Role` structure's fields.
pub fn write_role(x: &mut Xml, role: &Entity, with_tags: bool) {
    x.text("Path", &role.doc.path).text("RoleName", role.name()).text("RoleId", &role.doc.id).text("Arn", role.arn()).text("CreateDate", &iso8601(role.record.created_at));
    x.opt("AssumeRolePolicyDocument", role.doc.trust.as_deref().map(encode_document).as_deref());
    x.opt("Description", role.doc.description.as_deref());
    x.text("MaxSessionDuration", &role.doc.max_session_secs.unwrap_or(3600).to_string());
    if with_tags {
        write_tags(x, &role.doc.tags);
    }
}

/// A `Policy` structure's fields.
pub fn write_policy(x: &mut Xml, policy: &Entity, attachments: usize, with_tags: bool) {
    x.text("PolicyName", policy.name()).text("PolicyId", &policy.doc.id).text("Arn", policy.arn()).text("Path", &policy.doc.path);
    x.opt("DefaultVersionId", policy.doc.default_version.as_deref());
    x.text("AttachmentCount", &attachments.to_string()).text("PermissionsBoundaryUsageCount", "0").text("IsAttachable", "true");
    x.opt("Description", policy.doc.description.as_deref());
    x.text("CreateDate", &iso8601(policy.record.created_at)).text("UpdateDate", &iso8601(policy.doc.updated_at.max(policy.record.created_at)));
    if with_tags {
        write_tags(x, &policy.doc.tags);
    }
}

/// One page of a listing of `kind` under `path_prefix`: the entities and,
/// if there are more, the marker of the next page (a case-folded name).
pub async fn list(ctx: &Ctx, kind: EntityKind, path_prefix: &str, max: usize, marker: Option<&str>) -> Result<(Vec<Entity>, Option<String>), QueryError> {
    let mut out = Vec::new();
    let mut after = marker.map(str::to_owned);
    loop {
        let batch = ctx.state.store.list_entities(&ctx.principal.account_id, kind, after.as_deref(), 1000).await?;
        let done = batch.len() < 1000;
        after = batch.last().map(|r| EntityRecord::folded_name(&r.name));
        for record in batch {
            let doc = Doc::parse(&record.doc)?;
            if !doc.path.starts_with(path_prefix) {
                continue;
            }
            if out.len() == max {
                let next = out.last().map(|e: &Entity| EntityRecord::folded_name(e.name()));
                return Ok((out, next));
            }
            out.push(Entity { record, doc });
        }
        if done {
            return Ok((out, None));
        }
    }
}

/// The optional `PathPrefix` of a listing.
pub fn path_prefix(p: &Params) -> Result<&str, QueryError> {
    let prefix = p.get("PathPrefix").unwrap_or("/");
    if !prefix.starts_with('/') || prefix.len() > 512 {
        return Err(constraint("pathPrefix", prefix, "Member must satisfy regular expression pattern: \\u002F[\\u0021-\\u007F]*"));
    }
    Ok(prefix)
}
