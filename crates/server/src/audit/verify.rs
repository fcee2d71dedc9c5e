//! `trent audit verify`: walks a log (the data directory's, or copies of its
//! files) record by record and names the first one that was altered,
//! removed, inserted or moved. Needs only the audit public key.
//!
//! One thing that is not a record is not tampering either: the newest
//! file's last line without its newline, when it is (a prefix of) the next
//! record. That is what a crash (kill -9, power failure) leaves when it cuts
//! a write short, and what the writer cuts at the next start. It is reported
//! as [`Torn`], apart from an intact log and from a bad record.

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
    /// The newest file's last line, cut short by a crash.
    pub torn: Option<Torn>,
}

/// The newest file's last line without its newline, which starts the next
/// record as the writer would have written it: a write a crash cut short.
/// Its content is not an acknowledged record, and the next start cuts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Torn {
    pub file: PathBuf,
    pub line: usize,
    pub bytes: usize,
    /// The seq of the record it begins, when known.
    pub seq: Option<u64>,
    /// The whole record is there and verifies; only its newline is missing.
    pub complete: bool,
}

impl fmt::Display for Torn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: the last line ", self.file.display(), self.line)?;
        match (self.complete, self.seq) {
            (true, Some(seq)) => write!(f, "holds record seq {seq} whole, and it verifies, but has no newline at its end")?,
            (_, Some(seq)) => write!(f, "is incomplete ({} bytes without a newline, the start of record seq {seq})", self.bytes)?,
            (_, None) => write!(f, "is incomplete ({} bytes without a newline)", self.bytes)?,
        }
        write!(f, ": a write cut short by a crash (kill -9 or power failure); the next `trent serve` cuts it")
    }
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
/// start anywhere, and only what it holds is checked. Only the last file
/// may end in a [`Torn`] line: the writer ends a file with a signed,
/// fsynced digest before it begins the next.
pub fn verify_files(files: &[PathBuf], public_key: &[u8], from_genesis: bool) -> Result<Result<Report, Bad>, String> {
    let mut walk = Walk { public_key, from_genesis, report: Report { files: files.len(), ..Report::default() }, prev: None, prev2_hash: None };
    for (file_index, path) in files.iter().enumerate() {
        let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let text = String::from_utf8_lossy(&bytes);
        let mut lines: Vec<&str> = text.split('\n').collect();
        let unterminated = lines.pop().filter(|last| !last.is_empty());
        for (i, line) in lines.iter().enumerate() {
            if let Err(bad) = walk.line(path, i + 1, line) {
                return Ok(Err(bad));
            }
        }
        if let Some(last) = unterminated {
            let line = lines.len() + 1;
            let newest = file_index + 1 == files.len();
            let judged = if newest {
                walk.unterminated(path, line, last)
            } else {
                let reason = "the last line is incomplete (no newline at its end) in a file the log goes on after: a crash can cut short only the newest file's last line".into();
                Err(Bad { file: path.clone(), line, seq: loose_seq(last), reason })
            };
            match judged {
                Ok(torn) => walk.report.torn = Some(torn),
                Err(bad) => return Ok(Err(bad)),
            }
        }
    }
    Ok(Ok(walk.report))
}

/// The chain so far, as [`verify_files`] walks it.
struct Walk<'a> {
    public_key: &'a [u8],
    from_genesis: bool,
    report: Report,
    prev: Option<Seen>,
    prev2_hash: Option<String>,
}

impl Walk<'_> {
    /// Checks one line as the next record of the chain, and counts it.
    fn line(&mut self, path: &Path, line_no: usize, line: &str) -> Result<(), Bad> {
        let bad = |seq: Option<u64>, reason: String| Bad { file: path.to_owned(), line: line_no, seq, reason };
        let record = chain::open(line).map_err(|reason| bad(loose_seq(line), reason))?;
        let seq = record.seq;
        match &self.prev {
            None => {
                if (self.from_genesis || seq == 1) && (seq != 1 || record.prev_hash != GENESIS) {
                    let reason = if seq != 1 { format!("the log starts at seq {seq}: records 1 to {} are missing", seq.saturating_sub(1)) } else { "the first record does not start the chain".into() };
                    return Err(bad(Some(seq), reason));
                }
            }
            Some(p) => {
                if seq == p.seq && self.prev2_hash.as_deref() == Some(record.prev_hash.as_str()) {
                    let reason = "it was inserted: the record after it has the same seq and links past it".into();
                    return Err(Bad { file: p.file.clone(), line: p.line, seq: Some(p.seq), reason });
                }
                if seq != p.seq + 1 {
                    let reason = if seq > p.seq + 1 {
                        format!("expected seq {} after seq {}: records {}..{} were removed or moved", p.seq + 1, p.seq, p.seq + 1, seq - 1)
                    } else {
                        format!("out of order: seq {seq} after seq {} (moved, duplicated or inserted)", p.seq)
                    };
                    return Err(bad(Some(seq), reason));
                }
                if record.prev_hash != p.hash {
                    let reason = format!(
                        "its prevHash does not match the hash of seq {} ({}:{}): a record before it was replaced, or this one inserted",
                        p.seq,
                        p.file.display(),
                        p.line
                    );
                    return Err(bad(Some(seq), reason));
                }
            }
        }
        let report = &mut self.report;
        match record.record_type {
            RecordType::Event => {
                report.events += 1;
                report.unsigned_tail += 1;
            }
            RecordType::Digest => {
                chain::check_digest(&record, self.public_key).map_err(|reason| bad(Some(seq), reason))?;
                report.digests += 1;
                report.last_digest_seq = Some(seq);
                report.unsigned_tail = 0;
            }
        }
        report.records += 1;
        report.first_seq.get_or_insert(seq);
        report.last_seq = Some(seq);
        self.prev2_hash = self.prev.as_ref().map(|p| p.hash.clone());
        self.prev = Some(Seen { seq, hash: record.hash, file: path.to_owned(), line: line_no });
        Ok(())
    }

    /// The newest file's last line, which has no newline: [`Torn`] when it
    /// is what a cut-short write of the next record leaves, else bad. A
    /// whole JSON value there is no cut: it must verify as the next record.
    fn unterminated(&mut self, path: &Path, line_no: usize, last: &str) -> Result<Torn, Bad> {
        // A power failure can also leave zeroed blocks at the end of a file.
        let text = last.trim_end_matches('\0');
        let torn = |seq, complete| Torn { file: path.to_owned(), line: line_no, bytes: last.len(), seq, complete };
        if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
            self.line(path, line_no, text)?;
            return Ok(torn(self.report.last_seq, true));
        }
        let (next_seq, start) = self.next_record_start();
        if text.starts_with(&start) || start.starts_with(text) {
            return Ok(torn(next_seq, false));
        }
        let reason = format!("the last line is incomplete (no newline at its end) but is not the start of the next record ({start}...): not what a crash leaves");
        Err(Bad { file: path.to_owned(), line: line_no, seq: loose_seq(text), reason })
    }

    /// How the writer begins the next record: its seq and prevHash, when known.
    fn next_record_start(&self) -> (Option<u64>, String) {
        let (seq, prev_hash) = match &self.prev {
            Some(p) => (p.seq + 1, p.hash.as_str()),
            None if self.from_genesis => (1, GENESIS),
            None => return (None, r#"{"seq":"#.to_owned()),
        };
        (Some(seq), format!(r#"{{"seq":{seq},"prevHash":"{prev_hash}","recordType":""#))
    }
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
    fn a_truncated_start_is_named() {
        let (_d, path, public) = log(10);
        with_lines(&path, |l| {
            l.remove(0);
        });
        assert!(check(&path, &public).unwrap_err().reason.contains("missing"));
        // Offline, a copy of a later part of the chain is checked from where it starts.
        assert!(verify_files(std::slice::from_ref(&path), &public, false).unwrap().is_ok());
    }

    /// Cuts the file's last `n` bytes, as a crash in the middle of a write does.
    fn cut(path: &Path, n: usize) {
        let mut bytes = std::fs::read(path).unwrap();
        bytes.truncate(bytes.len() - n);
        std::fs::write(path, bytes).unwrap();
    }

    fn append(path: &Path, text: &str) {
        let mut bytes = std::fs::read(path).unwrap();
        bytes.extend_from_slice(text.as_bytes());
        std::fs::write(path, bytes).unwrap();
    }

    fn last_line(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap().lines().last().unwrap().to_owned()
    }

    #[test]
    fn a_last_line_cut_short_anywhere_is_torn_not_tampering() {
        let (_d, path, public) = log(4);
        let intact = std::fs::read(&path).unwrap();
        let last = last_line(&path);
        assert_eq!(chain::open(&last).unwrap().seq, 6);
        for n in 1..=last.len() {
            std::fs::write(&path, &intact[..intact.len() - n]).unwrap();
            let report = check(&path, &public).unwrap_or_else(|bad| panic!("cut {n} bytes: {bad}"));
            let torn = report.torn.clone().unwrap_or_else(|| panic!("cut {n} bytes: not reported as torn"));
            assert_eq!((torn.line, torn.seq, torn.bytes), (6, Some(6), last.len() + 1 - n), "cut {n} bytes");
            // Only the newline cut: the record is whole and verified; any more and it is no record.
            assert_eq!(torn.complete, n == 1, "cut {n} bytes");
            assert_eq!(report.last_seq, Some(if n == 1 { 6 } else { 5 }), "cut {n} bytes");
        }
        // The whole line cut: an intact log that ends one record earlier.
        std::fs::write(&path, &intact[..intact.len() - last.len() - 1]).unwrap();
        let report = check(&path, &public).unwrap();
        assert_eq!((report.torn, report.last_seq), (None, Some(5)));
    }

    #[test]
    fn the_first_record_cut_short_is_torn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit-00000000000000000001.jsonl");
        std::fs::write(&path, r#"{"seq":1,"prevHash":"000"#).unwrap();
        let report = check(&path, b"no key needed").unwrap();
        assert_eq!((report.records, report.torn.map(|t| t.seq)), (0, Some(Some(1))));
        std::fs::write(&path, r#"{"seq":2,"prevHash":"000"#).unwrap();
        assert!(check(&path, b"no key needed").is_err());
    }

    #[test]
    fn zeroed_blocks_after_a_cut_are_torn_too() {
        let (_d, path, public) = log(4);
        cut(&path, 30);
        append(&path, &"\0".repeat(4096));
        let torn = check(&path, &public).unwrap().torn.unwrap();
        assert_eq!((torn.seq, torn.complete), (Some(6), false));
    }

    #[test]
    fn a_cut_line_that_does_not_start_the_next_record_is_tampering() {
        let (_d, path, public) = log(4);
        let intact = std::fs::read(&path).unwrap();
        let head = chain::open(&last_line(&path)).unwrap().hash;
        let next = format!(r#"{{"seq":7,"prevHash":"{head}","recordType":"event","event":{{"eventNa"#);
        append(&path, &next);
        assert_eq!(check(&path, &public).unwrap().torn.unwrap().seq, Some(7), "the real start of seq 7 is a cut write");
        let other_hash = format!("{}{}", if head.starts_with('0') { '1' } else { '0' }, &head[1..]);
        for fragment in [r#"{"seq":9,"prevHash":""#.to_owned(), format!(r#"{{"seq":7,"prevHash":"{other_hash}"#), "not a record".into(), "\0{\"seq\":7".into()] {
            std::fs::write(&path, &intact).unwrap();
            append(&path, &fragment);
            let bad = check(&path, &public).expect_err(&fragment);
            assert_eq!(bad.line, 7, "{bad}");
            assert!(bad.reason.contains("not the start of the next record"), "{bad}");
        }
    }

    #[test]
    fn an_edited_last_record_is_tampering_with_or_without_its_newline() {
        let (_d, path, public) = log(4);
        with_lines(&path, |l| {
            let last = l.len() - 1;
            l[last] = l[last].replace(r#""digestTime":"2"#, r#""digestTime":"1"#);
        });
        let bad = check(&path, &public).unwrap_err();
        assert!((bad.seq, bad.reason.contains("altered")) == (Some(6), true), "{bad}");
        // Without its newline it is still a whole record, and a whole record must verify.
        cut(&path, 1);
        let bad = check(&path, &public).unwrap_err();
        assert!((bad.seq, bad.reason.contains("altered")) == (Some(6), true), "{bad}");
    }

    #[test]
    fn an_edit_before_a_torn_last_line_is_still_named() {
        let (_d, path, public) = log(4);
        with_lines(&path, |l| l[1] = l[1].replace("E1", "E7"));
        cut(&path, 10);
        let bad = check(&path, &public).unwrap_err();
        assert_eq!((bad.line, bad.seq), (2, Some(2)), "{bad}");
    }

    #[test]
    fn only_the_newest_files_last_line_can_be_torn() {
        let (d, path, public) = log(4);
        let lines: Vec<String> = std::fs::read_to_string(&path).unwrap().lines().map(str::to_owned).collect();
        let newer = d.path().join("audit-00000000000000000004.jsonl");
        std::fs::write(&newer, lines[3..].join("\n") + "\n").unwrap();
        let files = [path.clone(), newer.clone()];
        // A cut at the end of the older file, even of its newline alone, is no crash: it was fsynced before the newer began.
        for n in [1, 10] {
            std::fs::write(&path, lines[..3].join("\n") + "\n").unwrap();
            cut(&path, n);
            let bad = verify_files(&files, &public, true).unwrap().unwrap_err();
            assert_eq!((&bad.file, bad.line), (&path, 3), "{bad}");
            assert!(bad.reason.contains("the log goes on after"), "{bad}");
        }
        std::fs::write(&path, lines[..3].join("\n") + "\n").unwrap();
        cut(&newer, 10);
        let torn = verify_files(&files, &public, true).unwrap().unwrap().torn.unwrap();
        assert_eq!((&torn.file, torn.line, torn.seq), (&newer, 3, Some(6)));
    }

    #[test]
    fn another_key_does_not_verify_the_digests() {
        let (_d, path, _) = log(4);
        let other = Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).unwrap().as_ref()).unwrap();
        let bad = check(&path, other.public_key().as_ref()).unwrap_err();
        assert_eq!(bad.seq, Some(3));
    }
}
