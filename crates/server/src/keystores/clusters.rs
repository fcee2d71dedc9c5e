//! The CloudHSM "cluster" registry. Where AWS has a CloudHSM cluster,
//! Trent has a PKCS#11 token registered under a cluster id:
//!
//! ```text
//! DATA_DIR/hsm/CLUSTER_ID/cluster.json    module, token label and serial, when
//! DATA_DIR/hsm/CLUSTER_ID/customerCA.crt  the cluster's trust anchor (PEM)
//! ```
//!
//! The trust anchor is a self-signed CA certificate made for the cluster,
//! its key discarded: it plays the part of the customer CA certificate
//! that CreateCustomKeyStore's TrustAnchorCertificate must match.
//!
//! A registration is written whole or not at all: both files go into a
//! hidden staging directory, fsynced, which is then renamed to its id.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use trent_hsm::{HsmError, Pkcs11Module};

use crate::clock::{Clock, SystemClock};

/// Under the data directory.
const HSM_DIR: &str = "hsm";
const CLUSTER_FILE: &str = "cluster.json";
/// AWS CloudHSM's name for the file holding the customer CA certificate.
pub const TRUST_ANCHOR_FILE: &str = "customerCA.crt";
/// The trust anchor's validity, from its making.
const TRUST_ANCHOR_DAYS: i64 = 3650;

/// One registered token, as a CloudHSM cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredCluster {
    pub cluster_id: String,
    pub module: PathBuf,
    pub token_label: String,
    pub token_serial: String,
    pub trust_anchor_pem: String,
    /// RFC 3339, UTC.
    pub registered_at: String,
}

/// `cluster.json`; the id is repeated to catch a directory renamed by hand.
#[derive(Serialize, Deserialize)]
struct ClusterFile {
    cluster_id: String,
    module: PathBuf,
    token_label: String,
    token_serial: String,
    registered_at: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{0:?} is not a CloudHSM cluster id: expected \"cluster-\" and 11 to 16 letters or digits 2-7, e.g. cluster-234567abcde")]
    InvalidId(String),
    #[error("cluster {id} is already registered ({}); it is never overwritten", dir.display())]
    AlreadyRegistered { id: String, dir: PathBuf },
    #[error("{0}")]
    Module(HsmError),
    #[error("module {}: {source}", module.display())]
    Token { module: PathBuf, source: HsmError },
    #[error("making the trust anchor certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
}

/// The model's `CloudHsmClusterIdType`: `cluster-[2-7a-zA-Z]{11,16}`.
pub fn valid_cluster_id(id: &str) -> bool {
    id.strip_prefix("cluster-")
        .is_some_and(|rest| (11..=16).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphabetic() || (b'2'..=b'7').contains(&b)))
}

/// Registers the token labelled `token_label` of `module` as `cluster_id`:
/// reads its serial (no login), makes its trust anchor, writes both.
pub fn register(data_dir: &Path, cluster_id: &str, module: &Path, token_label: &str) -> Result<RegisteredCluster, ClusterError> {
    if !valid_cluster_id(cluster_id) {
        return Err(ClusterError::InvalidId(cluster_id.to_string()));
    }
    let dir = cluster_dir(data_dir, cluster_id);
    // Early, for a clear answer before the token is touched; the rename in
    // `write` is what guarantees no overwrite.
    if dir.symlink_metadata().is_ok() {
        return Err(ClusterError::AlreadyRegistered { id: cluster_id.to_string(), dir });
    }
    // Absolute, so a server started elsewhere finds it; symlinks are kept
    // (a versioned library behind them may be upgraded).
    let module = std::path::absolute(module).map_err(io("resolving", module))?;
    let token_serial = {
        let pkcs11 = Pkcs11Module::open(&module).map_err(ClusterError::Module)?;
        pkcs11.token_serial(token_label).map_err(|source| ClusterError::Token { module: module.clone(), source })?
    };
    let cluster = RegisteredCluster {
        cluster_id: cluster_id.to_string(),
        module,
        token_label: token_label.to_string(),
        token_serial,
        trust_anchor_pem: trust_anchor(cluster_id)?,
        registered_at: crate::clock::iso8601(SystemClock { offset_millis: 0 }.now_millis()),
    };
    write(data_dir, &cluster)?;
    Ok(cluster)
}

/// The cluster registered as `cluster_id`, if any.
pub fn load(data_dir: &Path, cluster_id: &str) -> Result<Option<RegisteredCluster>, ClusterError> {
    if !valid_cluster_id(cluster_id) {
        return Err(ClusterError::InvalidId(cluster_id.to_string()));
    }
    let dir = cluster_dir(data_dir, cluster_id);
    match dir.symlink_metadata() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("reading", &dir)(e)),
        Ok(_) => {}
    }
    let path = dir.join(CLUSTER_FILE);
    let json = std::fs::read(&path).map_err(io("reading", &path))?;
    let file: ClusterFile = serde_json::from_slice(&json).map_err(|e| ClusterError::Corrupt { path: path.clone(), reason: e.to_string() })?;
    if file.cluster_id != cluster_id {
        return Err(ClusterError::Corrupt { path, reason: format!("names cluster {}, not {cluster_id}", file.cluster_id) });
    }
    let anchor = dir.join(TRUST_ANCHOR_FILE);
    let trust_anchor_pem = std::fs::read_to_string(&anchor).map_err(io("reading", &anchor))?;
    Ok(Some(RegisteredCluster {
        cluster_id: file.cluster_id,
        module: file.module,
        token_label: file.token_label,
        token_serial: file.token_serial,
        trust_anchor_pem,
        registered_at: file.registered_at,
    }))
}

/// Every registered cluster, sorted by id. Entries that are not cluster
/// ids (a staging directory a crash left) are skipped.
pub fn list(data_dir: &Path) -> Result<Vec<RegisteredCluster>, ClusterError> {
    let hsm = data_dir.join(HSM_DIR);
    let entries = match std::fs::read_dir(&hsm) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        other => other.map_err(io("reading", &hsm))?,
    };
    let mut clusters = Vec::new();
    for entry in entries {
        let name = entry.map_err(io("reading", &hsm))?.file_name();
        if let Some(id) = name.to_str().filter(|id| valid_cluster_id(id)) {
            clusters.extend(load(data_dir, id)?);
        }
    }
    clusters.sort_by(|a, b| a.cluster_id.cmp(&b.cluster_id));
    Ok(clusters)
}

/// Where `cluster_id` (already checked) is kept.
pub fn cluster_dir(data_dir: &Path, cluster_id: &str) -> PathBuf {
    data_dir.join(HSM_DIR).join(cluster_id)
}

/// A fresh self-signed CA certificate whose subject names the cluster.
fn trust_anchor(cluster_id: &str) -> Result<String, rcgen::Error> {
    use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, cluster_id);
    name.push(DnType::OrganizationName, "Trent CloudHSM cluster trust anchor");
    let now = time::OffsetDateTime::now_utc();
    let mut params = CertificateParams::default();
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now;
    params.not_after = now + time::Duration::days(TRUST_ANCHOR_DAYS);
    // P-256: quick to make, and the key is dropped here (nothing is ever
    // signed with it); the serial is taken from the public key's hash.
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    Ok(params.self_signed(&key)?.pem())
}

/// Writes both files into `hsm/.ID.UUID`, fsyncs them and it, renames it to
/// `hsm/ID`, fsyncs `hsm`. A crash leaves the whole or a hidden leftover.
fn write(data_dir: &Path, cluster: &RegisteredCluster) -> Result<(), ClusterError> {
    let hsm = data_dir.join(HSM_DIR);
    crate::serve::create_private_dir(&hsm).map_err(io("creating", &hsm))?;
    sync_dir(data_dir)?;
    let staging = hsm.join(format!(".{}.{}", cluster.cluster_id, uuid::Uuid::new_v4()));
    std::fs::DirBuilder::new().mode(0o700).create(&staging).map_err(io("creating", &staging))?;
    let result = fill_and_rename(&staging, &hsm, cluster);
    if result.is_err() {
        // Best effort: a leftover is hidden, and `list` skips it.
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

fn fill_and_rename(staging: &Path, hsm: &Path, cluster: &RegisteredCluster) -> Result<(), ClusterError> {
    let file = ClusterFile {
        cluster_id: cluster.cluster_id.clone(),
        module: cluster.module.clone(),
        token_label: cluster.token_label.clone(),
        token_serial: cluster.token_serial.clone(),
        registered_at: cluster.registered_at.clone(),
    };
    let json_path = staging.join(CLUSTER_FILE);
    let mut json = serde_json::to_vec_pretty(&file).map_err(|e| ClusterError::Corrupt { path: json_path.clone(), reason: e.to_string() })?;
    json.push(b'\n');
    write_file(&staging.join(TRUST_ANCHOR_FILE), cluster.trust_anchor_pem.as_bytes())?;
    write_file(&json_path, &json)?;
    sync_dir(staging)?;
    let dir = hsm.join(&cluster.cluster_id);
    // rename(2) refuses a non-empty target, and a registration is never empty.
    if let Err(e) = std::fs::rename(staging, &dir) {
        return Err(match e.kind() {
            std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::AlreadyExists => ClusterError::AlreadyRegistered { id: cluster.cluster_id.clone(), dir },
            _ => io("renaming into", &dir)(e),
        });
    }
    sync_dir(hsm)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ClusterError> {
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(path).map_err(io("creating", path))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(io("writing", path))
}

fn sync_dir(dir: &Path) -> Result<(), ClusterError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io("syncing", dir))
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ClusterError {
    let path = path.to_path_buf();
    move |source| ClusterError::Io { what, path, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_follow_the_model() {
        for good in ["cluster-234567abcde", "cluster-234567ABCDEFGHIJ", "cluster-jxhlf7644ne"] {
            assert!(valid_cluster_id(good), "{good}");
        }
        let bad = ["cluster-234567abcd", "cluster-234567abcdefghijk", "cluster-234567abcd1", "cluster-234567abcd8", "Cluster-234567abcde"];
        for bad in bad.into_iter().chain(["cluster-../../../etc", "cluster-234567abcdé", "", "cluster-"]) {
            assert!(!valid_cluster_id(bad), "{bad}");
        }
    }

    #[test]
    fn list_of_a_data_dir_without_clusters_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(list(dir.path()).unwrap().is_empty());
        assert!(load(dir.path(), "cluster-234567abcde").unwrap().is_none());
    }

    fn cluster(id: &str, serial: &str) -> RegisteredCluster {
        RegisteredCluster {
            cluster_id: id.into(),
            module: "/lib/p11.so".into(),
            token_label: "t".into(),
            token_serial: serial.into(),
            trust_anchor_pem: trust_anchor(id).unwrap(),
            registered_at: "2026-01-02T03:04:05Z".into(),
        }
    }

    #[test]
    fn written_whole_never_overwritten_leftovers_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let first = cluster("cluster-234567abcde", "1");
        write(dir.path(), &first).unwrap();
        assert_eq!(load(dir.path(), &first.cluster_id).unwrap(), Some(first.clone()));
        // Past the early check (as a concurrent registration would be), the rename refuses.
        let second = cluster("cluster-234567abcde", "2");
        assert!(matches!(write(dir.path(), &second), Err(ClusterError::AlreadyRegistered { .. })));
        assert_eq!(std::fs::read_dir(dir.path().join("hsm")).unwrap().count(), 1, "the staging directory was left");
        // What a crash before the rename leaves.
        std::fs::create_dir(dir.path().join("hsm/.cluster-bbbbbbbbbbb.x")).unwrap();
        assert_eq!(list(dir.path()).unwrap(), [first]);
    }
}
