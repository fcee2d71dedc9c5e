//! The audit log's writer: requests append their own record (numbered,
//! chained, written to every sink) under one lock, so a request does not
//! wait for another thread; the `trent-audit` thread fsyncs and signs.
//!
//! Durability: an event of an operation that changed something is fsynced
//! before its request is answered (the thread fsyncs on request, group
//! commit: one fsync for every request that asked meanwhile). Other events
//! (reads, cryptographic use, failures) are written to the file before the
//! answer (so a process crash loses none) and fsynced together at most
//! `sync_interval` later, which bounds what a power failure can lose.
//!
//! A failure to write a sink (a full disk, a failed fsync, a syslog that is
//! gone) marks the log failed (see `Audit::refusing`) and the `trent-audit`
//! thread retries every [`RETRY_INTERVAL`]: it cuts the file back to what
//! the last good fsync covered, writes again the records written since
//! (kept in memory until fsynced: after a failed fsync the kernel may have
//! dropped them), then the events of changes that committed while the log
//! failed ([`Writer::owe`]), then a signed digest, and fsyncs. When that
//! works, the log is resumed, and says so in the server log.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::chain::{self, RecordType, GENESIS};
use super::event::format_time;
use super::signing::SigningKey;
use crate::clock::Clock;

/// How often a failed log tries to resume.
pub(super) const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Events of changes that committed but could not be recorded, kept for
/// the log's resumption; beyond this many the oldest are dropped (logged).
const MAX_OWED: usize = 100_000;

/// What requests ask of the `trent-audit` thread.
pub(super) enum Msg {
    /// Fsync everything written so far, then answer.
    Sync(oneshot::Sender<Result<(), String>>),
    Shutdown(oneshot::Sender<()>),
    /// The log failed: start retrying (the thread may be asleep for long).
    Failed,
}

/// Where records go besides the chained files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    File,
    Stdout,
    Syslog(PathBuf),
}

pub(super) struct Settings {
    pub dir: PathBuf,
    pub sinks: Vec<Sink>,
    pub max_file_bytes: u64,
    pub rotate_after: Duration,
    pub sync_interval: Duration,
    pub digest_interval: Duration,
}

/// `audit-<first seq, 20 digits>.jsonl`: names sort in chain order.
pub fn file_name(first_seq: u64) -> String {
    format!("audit-{first_seq:020}.jsonl")
}

/// The audit files of a directory, in chain order.
pub fn list_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("audit-") && n.ends_with(".jsonl")))
        .collect();
    files.sort();
    Ok(files)
}

struct FileSink {
    dir: PathBuf,
    /// Shared with the thread's fsync, which runs without the writer's lock.
    file: Arc<File>,
    size: u64,
    opened_at: Instant,
}

impl FileSink {
    fn open(dir: &Path, first_seq: u64) -> std::io::Result<FileSink> {
        let path = dir.join(file_name(first_seq));
        let file = OpenOptions::new().create(true).append(true).mode(0o600).open(&path)?;
        let size = file.metadata()?.len();
        File::open(dir)?.sync_all()?;
        Ok(FileSink { dir: dir.to_owned(), file: Arc::new(file), size, opened_at: Instant::now() })
    }
}

pub(super) struct Writer {
    settings: Settings,
    file: Option<FileSink>,
    syslog: Option<(UnixDatagram, PathBuf)>,
    key: SigningKey,
    fingerprint: String,
    clock: Arc<dyn Clock>,
    seq: u64,
    head: String,
    last_digest_seq: u64,
    unsigned: bool,
    /// When the oldest record not yet fsynced was written.
    unsynced_since: Option<Instant>,
    last_digest_at: Instant,
    failed: Arc<AtomicBool>,
    /// Shut down: the log ends with its last digest, nothing more is written.
    closed: bool,
    /// Length of the current file that the last good fsync covered.
    synced_len: u64,
    /// Records written to the current file since then, by seq, to write
    /// again if a write or fsync fails.
    unsynced_records: VecDeque<(u64, String)>,
    /// Events of committed changes whose recording failed, for resumption.
    owed: Vec<String>,
    /// Since when the log has failed, for the resumption's log line.
    failed_since: Option<Instant>,
    /// When resumption was last tried.
    last_retry: Option<Instant>,
    /// Times the log started failing, for `/metrics`.
    failures: u64,
}

impl Writer {
    pub(super) fn public_key(&self) -> &[u8] {
        self.key.public_key()
    }

    /// Opens the log where the chain left off (cutting a torn last line a
    /// crash may have left), ready to append.
    pub(super) fn open(settings: Settings, key: SigningKey, clock: Arc<dyn Clock>, failed: Arc<AtomicBool>) -> Result<Writer, String> {
        let io = |what: &str, e: std::io::Error| format!("{what} {}: {e}", settings.dir.display());
        if !settings.dir.exists() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&settings.dir).map_err(|e| io("creating", e))?;
        }
        let (seq, head, last_digest_seq) = recover(&settings.dir)?;
        let file = if settings.sinks.contains(&Sink::File) {
            let files = list_files(&settings.dir).map_err(|e| io("listing", e))?;
            let first = files.last().and_then(|p| first_seq_of(p)).unwrap_or(seq + 1);
            Some(FileSink::open(&settings.dir, first).map_err(|e| io("opening the audit log in", e))?)
        } else {
            None
        };
        let syslog = match settings.sinks.iter().find_map(|s| if let Sink::Syslog(p) = s { Some(p.clone()) } else { None }) {
            Some(path) => Some((UnixDatagram::unbound().map_err(|e| format!("syslog socket: {e}"))?, path)),
            None => None,
        };
        let fingerprint = chain::fingerprint(key.public_key());
        let file_len = file.as_ref().map_or(0, |f| f.size);
        Ok(Writer {
            settings,
            syslog,
            key,
            fingerprint,
            clock,
            seq,
            head,
            last_digest_seq,
            unsigned: last_digest_seq < seq,
            unsynced_since: None,
            last_digest_at: Instant::now(),
            synced_len: file_len,
            file,
            failed,
            closed: false,
            unsynced_records: VecDeque::new(),
            owed: Vec::new(),
            failed_since: None,
            last_retry: None,
            failures: 0,
        })
    }

    /// Appends one event and writes it to every sink (fsynced later, or
    /// at once by `sync` for an event that must be durable before its answer).
    pub(super) fn write_event(&mut self, json: &str) -> Result<(), String> {
        if self.failed.load(Ordering::SeqCst) {
            return Err("the audit log has already failed".to_owned());
        }
        if self.closed {
            return Err("the audit writer stopped".to_owned());
        }
        let result = self.write_record(json);
        if let Err(e) = &result {
            self.fail(e);
        }
        result
    }

    /// What an fsync without the lock needs: the current file and the last
    /// seq written to it.
    fn unsynced(&self) -> Option<(Option<Arc<File>>, u64)> {
        self.unsynced_since.map(|_| (self.file.as_ref().map(|f| f.file.clone()), self.seq))
    }

    /// After an fsync that covered records up to `seq`.
    fn synced_through(&mut self, seq: u64) {
        while self.unsynced_records.front().is_some_and(|(s, _)| *s <= seq) {
            if let Some((_, record)) = self.unsynced_records.pop_front() {
                self.synced_len += record.len() as u64;
            }
        }
        if self.seq == seq {
            self.unsynced_since = None;
        }
    }

    fn fail(&mut self, error: &str) {
        if !self.failed.swap(true, Ordering::SeqCst) {
            self.failures += 1;
            self.failed_since = Some(Instant::now());
            tracing::error!(error = %error, retry_every = ?RETRY_INTERVAL, "THE AUDIT LOG CANNOT BE WRITTEN; retrying");
        }
    }

    /// (times it started failing, owed events, records awaiting fsync)
    pub(super) fn backlog(&self) -> (u64, usize, usize) {
        (self.failures, self.owed.len(), self.unsynced_records.len())
    }

    /// The event of a change that committed while the log could not be
    /// written: it is written first when the log resumes.
    pub(super) fn owe(&mut self, json: String) {
        if self.owed.len() >= MAX_OWED {
            tracing::error!("an owed audit event is dropped: {MAX_OWED} are already waiting for the log to resume");
            self.owed.remove(0);
        }
        self.owed.push(json);
    }

    /// A failed log tries to go on where its last good record left it:
    /// the file cut back to the last fsync and its unsynced records
    /// written again, then the owed events and a signed digest, fsynced.
    fn try_resume(&mut self) -> Result<(), String> {
        if let Some(f) = &mut self.file {
            f.file.set_len(self.synced_len).map_err(|e| format!("cutting the audit log back to its last fsync: {e}"))?;
            f.size = self.synced_len;
            for (_, record) in &self.unsynced_records {
                (&*f.file).write_all(record.as_bytes()).map_err(|e| format!("writing the audit log again: {e}"))?;
                f.size += record.len() as u64;
            }
        }
        self.rotate_if_due()?;
        while !self.owed.is_empty() {
            let json = self.owed.remove(0);
            if let Err(e) = self.write_record(&json) {
                self.owed.insert(0, json);
                return Err(e);
            }
        }
        self.digest()
    }

    /// Called by the `trent-audit` thread while the log has failed; tries
    /// at most once per [`RETRY_INTERVAL`].
    fn retry(&mut self) {
        if self.last_retry.is_some_and(|at| at.elapsed() < RETRY_INTERVAL) {
            return;
        }
        self.last_retry = Some(Instant::now());
        let owed = self.owed.len();
        match self.try_resume() {
            Ok(()) => {
                let after = self.failed_since.take().map(|t| t.elapsed()).unwrap_or_default();
                self.failed.store(false, Ordering::SeqCst);
                tracing::warn!(failed_for = ?after, owed_events_written = owed, "the audit log resumed");
            }
            Err(e) => tracing::debug!(error = %e, "the audit log still cannot be written"),
        }
    }

    /// On shutdown: sign what is unsigned and make it durable.
    fn finish(&mut self) {
        if self.failed.load(Ordering::SeqCst) {
            // One last try, whenever the previous one was.
            self.last_retry = None;
            self.retry();
        }
        self.closed = true;
        if self.failed.load(Ordering::SeqCst) {
            tracing::error!(owed_events_lost = self.owed.len(), "stopping with an audit log that cannot be written");
            return;
        }
        let result = if self.unsigned { self.digest() } else { self.sync() };
        if let Err(e) = result {
            self.fail(&e);
        }
    }

    fn next_deadline(&self) -> Duration {
        let now = Instant::now();
        let mut next = Duration::from_secs(3600);
        if self.failed.load(Ordering::SeqCst) {
            return RETRY_INTERVAL;
        }
        if let Some(since) = self.unsynced_since {
            next = next.min((since + self.settings.sync_interval).saturating_duration_since(now));
        }
        if self.unsigned {
            next = next.min((self.last_digest_at + self.settings.digest_interval).saturating_duration_since(now));
        }
        next
    }

    fn sync_due(&self) -> bool {
        self.unsynced_since.is_some_and(|s| s.elapsed() >= self.settings.sync_interval)
    }

    fn digest_if_due(&mut self) {
        if self.failed.load(Ordering::SeqCst) || !(self.unsigned && self.last_digest_at.elapsed() >= self.settings.digest_interval) {
            return;
        }
        if let Err(e) = self.digest() {
            self.fail(&e);
        }
    }

    fn write_record(&mut self, json: &str) -> Result<(), String> {
        self.rotate_if_due()?;
        let mut buf = String::with_capacity(json.len() + 200);
        let previous_head = self.append(&mut buf, RecordType::Event, json);
        if let Err(e) = self.emit(&buf) {
            // Not written: the chain goes on from the last good record.
            self.unappend(previous_head);
            return Err(e);
        }
        self.unsigned = true;
        self.keep_unsynced(buf);
        if self.unsynced_since.is_none() {
            self.unsynced_since = Some(Instant::now());
        }
        Ok(())
    }

    /// Keeps a record written to the file until an fsync covers it.
    fn keep_unsynced(&mut self, record: String) {
        if self.file.is_some() {
            self.unsynced_records.push_back((self.seq, record));
        }
    }

    /// Seals the next record into `buf`; returns the chain's head before
    /// it, to put back if the record is not written.
    fn append(&mut self, buf: &mut String, kind: RecordType, payload: &str) -> String {
        self.seq += 1;
        let head = chain::seal_into(buf, self.seq, &self.head, kind, payload);
        buf.push('\n');
        std::mem::replace(&mut self.head, head)
    }

    /// Undoes [`Self::append`] of a record that was not written.
    fn unappend(&mut self, previous_head: String) {
        self.seq -= 1;
        self.head = previous_head;
    }

    /// Writes records to every sink; any failure is the audit log's failure.
    fn emit(&mut self, buf: &str) -> Result<(), String> {
        if let Some(f) = &mut self.file {
            f.file.write_all(buf.as_bytes()).map_err(|e| format!("writing the audit log: {e}"))?;
            f.size += buf.len() as u64;
        }
        if self.settings.sinks.contains(&Sink::Stdout) {
            let mut out = std::io::stdout().lock();
            out.write_all(buf.as_bytes()).and_then(|_| out.flush()).map_err(|e| format!("writing the audit log to stdout: {e}"))?;
        }
        if let Some((socket, path)) = &self.syslog {
            let pid = std::process::id();
            for line in buf.lines() {
                // RFC 3164: facility authpriv (10), severity info (6).
                let message = format!("<86>trent[{pid}]: {line}");
                socket.send_to(message.as_bytes(), path).map_err(|e| format!("sending the audit log to syslog at {}: {e}", path.display()))?;
            }
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), String> {
        if let Some(f) = &self.file {
            f.file.sync_data().map_err(|e| format!("fsync of the audit log: {e}"))?;
        }
        self.synced_through(self.seq);
        Ok(())
    }

    /// A signed digest of the chain so far, made durable.
    fn digest(&mut self) -> Result<(), String> {
        let seq = self.seq + 1;
        let first = self.last_digest_seq + 1;
        let time = format_time(self.clock.now_millis());
        let signature = self.key.sign(&chain::digest_message(seq, &self.head, &time, first));
        let payload = chain::digest_payload(&time, first, seq, &self.fingerprint, &signature);
        let mut buf = String::new();
        let previous_head = self.append(&mut buf, RecordType::Digest, &payload);
        let written = self.emit(&buf).map(|()| self.keep_unsynced(buf)).and_then(|()| self.sync());
        if let Err(e) = written {
            // Undone (a resumption cuts it from the file): the next digest covers the same records.
            if self.unsynced_records.back().is_some_and(|(s, _)| *s == seq) {
                self.unsynced_records.pop_back();
            }
            self.unappend(previous_head);
            return Err(e);
        }
        self.last_digest_seq = seq;
        self.unsigned = false;
        self.last_digest_at = Instant::now();
        Ok(())
    }

    /// A full or old file ends with a digest and the chain goes on in a new one.
    fn rotate_if_due(&mut self) -> Result<(), String> {
        let Some(f) = &self.file else { return Ok(()) };
        let due = f.size > 0 && (f.size >= self.settings.max_file_bytes || f.opened_at.elapsed() >= self.settings.rotate_after);
        if !due {
            return Ok(());
        }
        let dir = f.dir.clone();
        self.digest()?;
        let next = FileSink::open(&dir, self.seq + 1).map_err(|e| format!("starting a new audit log file in {}: {e}", dir.display()))?;
        self.synced_len = next.size;
        self.file = Some(next);
        Ok(())
    }
}

/// The writer, locked; its state is plain data, sound even after a panic.
pub(super) fn lock(writer: &Mutex<Writer>) -> std::sync::MutexGuard<'_, Writer> {
    writer.lock().unwrap_or_else(|p| p.into_inner())
}

/// The `trent-audit` thread: fsyncs when asked (one fsync answers every
/// request that asked meanwhile) and when the oldest unsynced record is
/// `sync_interval` old; adds the signed digests; signs and syncs on shutdown.
pub(super) fn run(writer: Arc<Mutex<Writer>>, rx: Receiver<Msg>) {
    loop {
        let wait = lock(&writer).next_deadline();
        let mut waiting = Vec::new();
        let mut shutdown = None;
        match rx.recv_timeout(wait) {
            Ok(Msg::Sync(ack)) => waiting.push(ack),
            Ok(Msg::Shutdown(ack)) => shutdown = Some(ack),
            Ok(Msg::Failed) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                lock(&writer).finish();
                return;
            }
        }
        while let Ok(msg) = rx.try_recv() {
            match msg {
                Msg::Sync(ack) => waiting.push(ack),
                Msg::Shutdown(ack) => shutdown = Some(ack),
                Msg::Failed => {}
            }
        }
        if !waiting.is_empty() || lock(&writer).sync_due() {
            let result = sync_unlocked(&writer);
            for ack in waiting {
                let _ = ack.send(result.clone());
            }
        }
        {
            let mut w = lock(&writer);
            if w.failed.load(Ordering::SeqCst) && !w.closed {
                w.retry();
            }
            w.digest_if_due();
        }
        if let Some(ack) = shutdown {
            lock(&writer).finish();
            let _ = ack.send(());
            return;
        }
    }
}

/// Fsyncs every record written so far, without holding the lock (requests
/// go on writing meanwhile). A rotation in between already synced the old
/// file, so syncing the current one is enough.
fn sync_unlocked(writer: &Mutex<Writer>) -> Result<(), String> {
    let (file, seq) = {
        let w = lock(writer);
        if w.failed.load(Ordering::SeqCst) {
            return Err("the audit log has already failed".to_owned());
        }
        match w.unsynced() {
            Some(pending) => pending,
            None => return Ok(()),
        }
    };
    if let Some(file) = file {
        if let Err(e) = file.sync_data() {
            let e = format!("fsync of the audit log: {e}");
            lock(writer).fail(&e);
            return Err(e);
        }
    }
    lock(writer).synced_through(seq);
    Ok(())
}

fn first_seq_of(path: &Path) -> Option<u64> {
    path.file_name()?.to_str()?.strip_prefix("audit-")?.strip_suffix(".jsonl")?.parse().ok()
}

/// Where the chain left off: (last seq, its hash, seq of the last digest).
/// The newest file's last line without its newline (a write cut by a
/// crash) is cut off; any other damage refuses the start, for an operator
/// to look at with `trent audit verify`. An older file cannot end torn: its
/// closing digest was fsynced before the next file was begun.
fn recover(dir: &Path) -> Result<(u64, String, u64), String> {
    let files = list_files(dir).map_err(|e| format!("listing {}: {e}", dir.display()))?;
    for (age, path) in files.iter().rev().enumerate() {
        let newest = age == 0;
        let text = match read_tail(path, newest).map_err(|e| format!("reading {}: {e}", path.display()))? {
            Some(text) => text,
            None => {
                return Err(format!(
                    "the last line of {} has no newline at its end, and a newer file follows: not what a crash leaves; run `trent audit verify` and move the damaged file aside to start a new chain",
                    path.display()
                ))
            }
        };
        let Some(last) = text.trim_end_matches('\n').rsplit('\n').next().filter(|l| !l.is_empty()) else { continue };
        let record = chain::open(last).map_err(|e| {
            format!("the last record of {} is damaged ({e}); run `trent audit verify` and move the damaged file aside to start a new chain", path.display())
        })?;
        let last_digest = text
            .lines()
            .filter(|l| l.contains(r#""recordType":"digest""#))
            .filter_map(|l| chain::open(l).ok())
            .map(|r| r.seq)
            .next_back()
            .unwrap_or_else(|| first_seq_of(path).unwrap_or(1).saturating_sub(1));
        return Ok((record.seq, record.hash, last_digest));
    }
    Ok((0, GENESIS.to_owned(), 0))
}

/// The file's complete lines (up to its last 8 MiB), after cutting a torn
/// last line if `may_cut`; None if there is one and it may not be cut.
fn read_tail(path: &Path, may_cut: bool) -> std::io::Result<Option<String>> {
    const TAIL: u64 = 8 << 20;
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(TAIL);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let complete = bytes.iter().rposition(|b| *b == b'\n').map(|i| i + 1).unwrap_or(0);
    if complete < bytes.len() {
        if !may_cut {
            return Ok(None);
        }
        tracing::warn!(path = %path.display(), cut = bytes.len() - complete, "cutting a torn last audit record (a write interrupted by a power failure)");
        file.set_len(start + complete as u64)?;
        file.sync_all()?;
        bytes.truncate(complete);
    }
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if start > 0 {
        // The first line may be cut in the middle: drop it.
        text = text.split_once('\n').map(|(_, rest)| rest.to_owned()).unwrap_or_default();
    }
    Ok(Some(text))
}
