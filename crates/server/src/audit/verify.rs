//! `trent audit verify`: walks a log (the data directory's, or copies of its
//! files) record by record and names the first one that was altered,
//! removed, inserted or moved. Needs only the audit public key.

use std::fmt;
use std::path::{Path, PathBuf};

use super::chain::{self, RecordType, GENESIS};

/// What an intact log holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub files: usize,
    pub records: u64,
    pub events: u64,
    pub digests: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub last_digest_seq: Option<u64>,
    /// Records after the last signed digest: chained, but not yet signed.
    pub unsigned_tail: u64,
}

/// The first bad record: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bad {
    pub file: PathBuf,
    pub line: usize,
    pub seq: Option<u64>,
    pub reason: String,
}

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "record seq {seq} at {}:{}: {}", self.file.display(), self.line, self.reason),
            None => write!(f, "record at {}:{}: {}", self.file.display(), self.line, self.reason),
        }
    }
}

struct Seen {
    seq: u64,
    hash: String,
    file: PathBuf,
    line: usize,
}

/// Checks `files` as one chain, in the order given. `from_genesis`: the
/// first record must be the chain's first (seq 1); otherwise a copy may
/// start anywhere, and only what it holds is checked.
pub fn verify_files(files: &[PathBuf], public_key: &[u8], from_genesis: bool) -> Result<Result<Report, Bad>, String> {
    let mut report = Report { files: files.len(), ..Report::default() };
    let mut prev: Option<Seen> = None;
    let mut prev2_hash: Option<String> = None;
    for path in files {
        let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let text = String::from_utf8_lossy(&bytes);
        let mut lines: Vec<&str> = text.split('\n').collect();
        let torn = lines.pop().filter(|last| !last.is_empty()).is_some();
        for (i, line) in lines.iter().enumerate() {
            let line_no = i + 1;
            let bad = |seq: Option<u64>, reason: String| Bad { file: path.clone(), line: line_no, seq, reason };
            let record = match chain::open(line) {
                Ok(r) => r,
                Err(reason) => return Ok(Err(bad(loose_seq(line), reason))),
            };
            let seq = record.seq;
            match &prev {
                None => {
                    if (from_genesis || seq == 1) && (seq != 1 || record.prev_hash != GENESIS) {
                        let reason = if seq != 1 { format!("the log starts at seq {seq}: records 1 to {} are missing", seq.saturating_sub(1)) } else { "the first record does not start the chain".into() };
                        return Ok(Err(bad(Some(seq), reason)));
                    }
                }
                Some(p) => {
                    if seq == p.seq && prev2_hash.as_deref() == Some(record.prev_hash.as_str()) {
                        let reason = "it was inserted: the record after it has the same seq and links past it".into();
                        return Ok(Err(Bad { file: p.file.clone(), line: p.line, seq: Some(p.seq), reason }));
                    }
                    if seq != p.seq + 1 {
                        let reason = if seq > p.seq + 1 {
                            format!("expected seq {} after seq {}: records {}..{} were removed or moved", p.seq + 1, p.seq, p.seq + 1, seq - 1)
                        } else {
                            format!("out of order: seq {seq} after seq {} (moved, duplicated or inserted)", p.seq)
                        };
                        return Ok(Err(bad(Some(seq), reason)));
                    }
                    if record.prev_hash != p.hash {
                        let reason = format!(
                            "its prevHash does not match the hash of seq {} ({}:{}): a record before it was replaced, or this one inserted",
                            p.seq,
                            p.file.display(),
                            p.line
                        );
                        return Ok(Err(bad(Some(seq), reason)));
                    }
                }
            }
            match record.record_type {
                RecordType::Event => {
                    report.events += 1;
                    report.unsigned_tail += 1;
                }
                RecordType::Digest => {
                    if let Err(reason) = chain::check_digest(&record, public_key) {
                        return Ok(Err(bad(Some(seq), reason)));
                    }
                    report.digests += 1;
                    report.last_digest_seq = Some(seq);
                    report.unsigned_tail = 0;
                }
            }
            report.records += 1;
            report.first_seq.get_or_insert(seq);
            report.last_seq = Some(seq);
            prev2_hash = prev.as_ref().map(|p| p.hash.clone());
            prev = Some(Seen { seq, hash: record.hash, file: path.clone(), line: line_no });
        }
        if torn {
            let reason = "the last line is incomplete (no newline at its end)".into();
            return Ok(Err(Bad { file: path.clone(), line: lines.len() + 1, seq: None, reason }));
        }
    }
    Ok(Ok(report))
}

/// The files of a data directory's audit log, in chain order.
pub fn data_dir_files(data_dir: &Path) -> Result<Vec<PathBuf>, String> {
    let dir = super::audit_dir(data_dir);
    super::writer::list_files(&dir).map_err(|e| format!("listing {}: {e}", dir.display()))
}

/// The `seq` of a damaged line, if it still reads.
fn loose_seq(line: &str) -> Option<u64> {
    let rest = line.strip_prefix(r#"{"seq":"#)?;
    rest[..rest.find(|c: char| !c.is_ascii_digit())?].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};

    /// A log of `n` events with a signed digest after every third record.
    fn log(n: u64) -> (tempfile::TempDir, PathBuf, Vec<u8>) {
        let pair = Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).unwrap().as_ref()).unwrap();
        let public = pair.public_key().as_ref().to_vec();
        let mut head = GENESIS.to_owned();
        let mut lines = String::new();
        let (mut seq, mut last_digest) = (0, 0);
        for i in 0..n {
            seq += 1;
            let (line, hash) = chain::seal(seq, &head, RecordType::Event, &format!(r#"{{"eventName":"E{i}"}}"#));
            lines += &line;
            lines.push('\n');
            head = hash;
            if seq % 3 == 2 {
                seq += 1;
                let time = "2026-01-01T00:00:00Z";
                let sig = pair.sign(&chain::digest_message(seq, &head, time, last_digest + 1));
                let (line, hash) = chain::seal(seq, &head, RecordType::Digest, &chain::digest_payload(time, last_digest + 1, seq, &chain::fingerprint(&public), sig.as_ref()));
                lines += &line;
                lines.push('\n');
                head = hash;
                last_digest = seq;
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit-00000000000000000001.jsonl");
        std::fs::write(&path, lines).unwrap();
        (dir, path, public)
    }

    fn with_lines(path: &Path, f: impl FnOnce(&mut Vec<String>)) {
        let mut lines: Vec<String> = std::fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect();
        f(&mut lines);
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
    }

    fn check(path: &Path, public: &[u8]) -> Result<Report, Bad> {
        verify_files(&[path.to_owned()], public, true).unwrap()
    }

    #[test]
    fn an_untouched_log_verifies() {
        let (_d, path, public) = log(10);
        let report = check(&path, &public).unwrap();
        assert_eq!((report.events, report.digests, report.last_seq), (10, 5, Some(15)));
        assert_eq!(report.unsigned_tail, 0);
    }

    #[test]
    fn an_edited_record_is_named() {
        let (_d, path, public) = log(10);
        with_lines(&path, |l| l[6] = l[6].replace("E4", "E9"));
        let bad = check(&path, &public).unwrap_err();
        assert_eq!((bad.line, bad.seq), (7, Some(7)), "{bad}");
        assert!(bad.reason.contains("altered"), "{bad}");
    }

    #[test]
    fn an_edited_and_rehashed_chain_fails_at_the_next_signed_digest() {
        let (_d, path, public) = log(10);
        with_lines(&path, |lines| {
            // Rewrite record 7 and re-chain everything after it, as a forger without the key could.
            let mut head = chain::open(&lines[5]).unwrap().hash;
            for line in lines.iter_mut().skip(6) {
                let r = chain::open(line).unwrap();
                let payload = if r.seq == 7 { r.payload.to_string().replace("E4", "E9") } else { r.payload.to_string() };
                let (new, hash) = chain::seal(r.seq, &head, r.record_type, &payload);
                *line = new;
                head = hash;
            }
        });
        let bad = check(&path, &public).unwrap_err();
        assert_eq!(bad.seq, Some(9), "{bad}");
        assert!(bad.reason.contains("signature"), "{bad}");
    }

    #[test]
    fn a_removed_record_is_named() {
        let (_d, path, public) = log(10);
        with_lines(&path, |l| {
            l.remove(3);
        });
        let bad = check(&path, &public).unwrap_err();
        assert_eq!((bad.line, bad.seq), (4, Some(5)), "{bad}");
        assert!(bad.reason.contains("expected seq 4"), "{bad}");
    }

    #[test]
    fn an_inserted_record_is_named() {
        let (_d, path, public) = log(10);
        with_lines(&path, |l| {
            let after = chain::open(&l[3]).unwrap();
            let (forged, _) = chain::seal(after.seq + 1, &after.hash, RecordType::Event, r#"{"eventName":"Forged"}"#);
            l.insert(4, forged);
        });
        let bad = check(&path, &public).unwrap_err();
        assert_eq!((bad.line, bad.seq), (5, Some(5)), "{bad}");
        assert!(bad.reason.contains("inserted"), "{bad}");
        // A copy of a real record inserted elsewhere is named too.
        let (_d, path, public) = log(10);
        with_lines(&path, |l| {
            let copy = l[1].clone();
            l.insert(7, copy);
        });
        let bad = check(&path, &public).unwrap_err();
        assert_eq!(bad.line, 8, "{bad}");
    }

    #[test]
    fn reordered_records_are_named() {
        let (_d, path, public) = log(10);
        with_lines(&path, |l| l.swap(4, 5));
        let bad = check(&path, &public).unwrap_err();
        assert_eq!(bad.line, 5, "{bad}");
    }

    #[test]
    fn a_truncated_start_or_torn_end_is_named() {
        let (_d, path, public) = log(10);
        with_lines(&path, |l| {
            l.remove(0);
        });
        assert!(check(&path, &public).unwrap_err().reason.contains("missing"));
        // Offline, a copy of a later part of the chain is checked from where it starts.
        assert!(verify_files(std::slice::from_ref(&path), &public, false).unwrap().is_ok());
        let (_d, path, public) = log(4);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.truncate(text.len() - 10);
        std::fs::write(&path, text).unwrap();
        assert!(check(&path, &public).unwrap_err().to_string().contains("incomplete"));
    }

    #[test]
    fn another_key_does_not_verify_the_digests() {
        let (_d, path, _) = log(4);
        let other = Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).unwrap().as_ref()).unwrap();
        let bad = check(&path, other.public_key().as_ref()).unwrap_err();
        assert_eq!(bad.seq, Some(3));
    }
}
