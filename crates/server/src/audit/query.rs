//! `trent audit query`: the events of a log that match filters, as JSON
//! lines or a table.

use std::path::PathBuf;

use serde_json::Value;

use super::chain::{self, RecordType};

#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Events at or after this UTC time (`2026-11-30T13:00:00Z` or a prefix such as `2026-11-30`).
    pub since: Option<String>,
    /// Events before this UTC time.
    pub until: Option<String>,
    /// A key id, key ARN, alias name or alias ARN the event is about.
    pub key: Option<String>,
    /// A principal ARN, user name or access key id.
    pub principal: Option<String>,
    /// Key ARNs the `key` alias named (see [`aliased_keys`]): their events match too.
    pub aliased: Vec<String>,
    pub event_name: Option<String>,
    /// An exception name, or `none` for the events that succeeded.
    pub error_code: Option<String>,
}

impl Filter {
    pub fn matches(&self, e: &Value) -> bool {
        let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
        let time = s(&e["eventTime"]);
        if self.since.as_ref().is_some_and(|t| time.as_str() < t.as_str()) || self.until.as_ref().is_some_and(|t| time.as_str() >= t.as_str()) {
            return false;
        }
        if self.event_name.as_ref().is_some_and(|n| *n != s(&e["eventName"])) {
            return false;
        }
        if let Some(code) = &self.error_code {
            let actual = e.get("errorCode").and_then(Value::as_str);
            if (code == "none" && actual.is_some()) || (code != "none" && actual != Some(code.as_str())) {
                return false;
            }
        }
        if let Some(p) = &self.principal {
            let u = &e["userIdentity"];
            if ![&u["arn"], &u["userName"], &u["accessKeyId"], &u["principalId"]].iter().any(|v| v.as_str() == Some(p.as_str())) {
                return false;
            }
        }
        if let Some(key) = &self.key {
            let names = |v: &str| v == key || v.ends_with(&format!("/{key}")) || v.ends_with(&format!(":{key}"));
            let in_resources = e["resources"].as_array().is_some_and(|rs| rs.iter().any(|r| names(r["ARN"].as_str().unwrap_or(""))));
            let params = &e["requestParameters"];
            let in_params = ["keyId", "targetKeyId", "aliasName", "sourceKeyId", "destinationKeyId"].iter().any(|m| params[m].as_str().is_some_and(names));
            let aliased = e["resources"].as_array().is_some_and(|rs| rs.iter().any(|r| r["ARN"].as_str().is_some_and(|arn| self.aliased.iter().any(|k| k == arn))));
            if !in_resources && !in_params && !aliased {
                return false;
            }
        }
        true
    }
}

/// The matching events of `files`, in log order. Lines that are not
/// intact records are skipped (verify names them). An alias in the filter
/// also matches the events of the keys it named (Decrypt names no alias).
pub fn run(files: &[PathBuf], filter: &Filter) -> Result<Vec<Value>, String> {
    let mut filter = filter.clone();
    if filter.key.as_deref().is_some_and(|k| k.starts_with("alias/") || k.contains(":alias/")) {
        let by_alias = Filter { key: filter.key.clone(), ..Filter::default() };
        let mut named = Vec::new();
        each_event(files, |e| {
            if by_alias.matches(&e) {
                named.push(e);
            }
        })?;
        filter.aliased = aliased_keys(&filter, &named);
    }
    let mut out = Vec::new();
    each_event(files, |e| {
        if filter.matches(&e) {
            out.push(e);
        }
    })?;
    Ok(out)
}

/// The key ARNs of the events that name the filter's alias (CreateAlias,
/// and requests that used it): the keys it pointed to, at any time.
pub fn aliased_keys(filter: &Filter, events: &[Value]) -> Vec<String> {
    let by_alias = Filter { key: filter.key.clone(), ..Filter::default() };
    let mut keys: Vec<String> = events
        .iter()
        .filter(|e| by_alias.matches(e))
        .flat_map(|e| e["resources"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r["ARN"].as_str().filter(|arn| arn.contains(":key/")).map(str::to_owned))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn each_event(files: &[PathBuf], mut f: impl FnMut(Value)) -> Result<(), String> {
    for path in files {
        let file = std::fs::File::open(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        // Line by line: a log file may be large.
        for line in std::io::BufRead::lines(std::io::BufReader::new(file)) {
            let line = line.map_err(|e| format!("reading {}: {e}", path.display()))?;
            let Ok(record) = chain::open(&line) else { continue };
            if record.record_type == RecordType::Event {
                f(record.payload);
            }
        }
    }
    Ok(())
}

/// A fixed-width table: time, event, principal, key, error, request id.
pub fn table(events: &[Value]) -> String {
    let mut rows = vec![["TIME", "EVENT", "PRINCIPAL", "RESOURCE", "ERROR", "REQUEST ID"].map(str::to_owned)];
    for e in events {
        let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
        let resource = e["resources"].as_array().and_then(|r| r.first()).map(|r| text(&r["ARN"])).unwrap_or_else(|| "-".into());
        let principal = e["userIdentity"]["arn"].as_str().or(e["userIdentity"]["accessKeyId"].as_str()).unwrap_or("-").to_owned();
        rows.push([text(&e["eventTime"]), text(&e["eventName"]), principal, resource, text(&e["errorCode"]), text(&e["requestID"])]);
    }
    let widths: Vec<usize> = (0..6).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_match_what_they_name() {
        let e = json!({
            "eventTime": "2026-11-30T13:00:00Z", "eventName": "Encrypt",
            "userIdentity": {"arn": "arn:aws:iam::111122223333:user/admin", "userName": "admin", "accessKeyId": "AKIAX"},
            "resources": [{"ARN": "arn:aws:kms:us-east-1:111122223333:key/abc"}], "requestParameters": {"keyId": "alias/x"}
        });
        let yes = |f: Filter| assert!(f.matches(&e), "{f:?}");
        let no = |f: Filter| assert!(!f.matches(&e), "{f:?}");
        yes(Filter::default());
        yes(Filter { key: Some("abc".into()), ..Filter::default() });
        yes(Filter { key: Some("alias/x".into()), ..Filter::default() });
        no(Filter { key: Some("ab".into()), ..Filter::default() });
        yes(Filter { principal: Some("AKIAX".into()), ..Filter::default() });
        no(Filter { principal: Some("bob".into()), ..Filter::default() });
        yes(Filter { since: Some("2026-11-30".into()), until: Some("2026-12".into()), ..Filter::default() });
        no(Filter { since: Some("2026-11-30T13:00:01Z".into()), ..Filter::default() });
        no(Filter { until: Some("2026-11-30T13:00:00Z".into()), ..Filter::default() });
        yes(Filter { error_code: Some("none".into()), event_name: Some("Encrypt".into()), ..Filter::default() });
        no(Filter { error_code: Some("NotFoundException".into()), ..Filter::default() });
        assert!(table(&[e]).lines().nth(1).unwrap().contains("Encrypt"));
    }

    #[test]
    fn an_alias_finds_the_events_of_its_key() {
        let key = "arn:aws:kms:us-east-1:111122223333:key/k1";
        let created = json!({"eventName": "CreateAlias", "requestParameters": {"aliasName": "alias/x", "targetKeyId": "k1"},
            "resources": [{"ARN": "arn:aws:kms:us-east-1:111122223333:alias/x"}, {"ARN": key}]});
        let decrypt = json!({"eventName": "Decrypt", "requestParameters": {}, "resources": [{"ARN": key}]});
        let other = json!({"eventName": "Decrypt", "requestParameters": {}, "resources": [{"ARN": "arn:aws:kms:us-east-1:111122223333:key/k2"}]});
        let mut filter = Filter { key: Some("alias/x".into()), ..Filter::default() };
        assert!(!filter.matches(&decrypt), "a Decrypt names no alias");
        filter.aliased = aliased_keys(&filter, &[created.clone(), decrypt.clone(), other.clone()]);
        assert_eq!(filter.aliased, vec![key.to_owned()]);
        assert!(filter.matches(&created) && filter.matches(&decrypt) && !filter.matches(&other));
    }
}
