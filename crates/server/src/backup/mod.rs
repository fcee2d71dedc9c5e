//! `trent backup` and `trent restore`: a data directory as one file,
//! taken while the server runs, and a new data directory made from it.
//!
//! The file is a tar archive: first `trent-backup.json` (the manifest:
//! each file's path, size and SHA-256), then the files. The database is
//! an online copy ([`trent_store::sqlite::backup`]: one snapshot, in
//! steps, writers go on). Every other file of the directory is copied as
//! it is: the root key in whatever form the directory keeps it (sealed
//! or not, nothing here unseals it), the admin's credentials, registered
//! HSM clusters, and the audit log with its sealed signing key. An audit
//! file being written is copied up to its last complete line, so the
//! restored log verifies and goes on from there. `lock` is left out.
//!
//! With PostgreSQL the database is not in the directory: `--files-only`
//! takes the rest, and pg_dump the database (docs/operations.md).

pub mod restore;

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The manifest's name inside the archive, and its first entry.
pub const MANIFEST: &str = "trent-backup.json";
/// The database's name in a data directory and in the archive.
const DATABASE: &str = crate::serve::DATABASE_FILE;
/// Left out: the running server's and the root of trust's locks, and
/// SQLite's own files beside the database (the copy is a whole database on
/// its own).
const SKIPPED: [&str; 5] = [crate::serve::data_dir_lock::LOCK_FILE, crate::seal::change_lock::LOCK_FILE, DATABASE, "trent.db-wal", "trent.db-shm"];
const FORMAT: &str = "trent-backup";
const VERSION: u32 = 1;

#[derive(clap::Args, Debug)]
pub struct BackupOptions {
    /// The data directory to back up (a server may be running on it).
    #[arg(long, env = "TRENT_DATA_DIR", default_value = crate::serve::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// The backup file to write (must not exist). It holds the root key
    /// as the directory does: keep it as safe as the directory itself.
    #[arg(long)]
    pub out: PathBuf,
    /// Everything but the database, for a server on PostgreSQL (back the
    /// database up with pg_dump).
    #[arg(long)]
    pub files_only: bool,
}

#[derive(clap::Args, Debug)]
pub struct RestoreOptions {
    /// The backup file `trent backup` wrote.
    #[arg(long)]
    pub from: PathBuf,
    /// The data directory to make; it must not exist or be empty.
    #[arg(long)]
    pub data_dir: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub trent_version: String,
    /// RFC 3339, UTC.
    pub created: String,
    pub files: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// Relative to the data directory, `/`-separated.
    pub path: String,
    pub bytes: u64,
    /// Hex.
    pub sha256: String,
}

/// What a backup wrote.
#[derive(Debug)]
pub struct Summary {
    pub files: usize,
    pub bytes: u64,
}

/// Writes the backup of `options.data_dir` to `options.out`: first to a
/// private `.partial` file beside it, renamed when complete and fsynced,
/// so a backup cut short never looks like a whole one.
pub fn backup(options: &BackupOptions) -> Result<Summary, String> {
    let dir = &options.data_dir;
    if !dir.is_dir() {
        return Err(format!("{} is not a data directory", dir.display()));
    }
    let database = dir.join(DATABASE);
    if !options.files_only && !database.exists() {
        return Err(format!("{} has no {DATABASE}: for a server on PostgreSQL, use --files-only and back the database up with pg_dump", dir.display()));
    }
    if options.out.exists() {
        return Err(format!("{} already exists", options.out.display()));
    }
    let partial = sibling(&options.out, "partial");
    let db_copy = sibling(&options.out, "db.tmp");
    let result = write_archive(options, &partial, &db_copy);
    let _ = std::fs::remove_file(&db_copy);
    match result {
        Ok(summary) => {
            std::fs::rename(&partial, &options.out).map_err(|e| format!("renaming {} to {}: {e}", partial.display(), options.out.display()))?;
            sync_parent(&options.out)?;
            Ok(summary)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

fn write_archive(options: &BackupOptions, partial: &Path, db_copy: &Path) -> Result<Summary, String> {
    let dir = &options.data_dir;
    // The other files after the database: an audit event of a change is
    // written after its commit, so the log copy holds the events of what
    // the database copy holds (and perhaps a few more).
    // Each file is read twice (its digest, then into the archive), up to
    // the length measured first: files grow only at their end.
    let mut files: Vec<(Entry, PathBuf)> = Vec::new();
    if !options.files_only {
        trent_store::sqlite::backup::backup(&dir.join(DATABASE), db_copy).map_err(|e| format!("copying the database: {e}"))?;
        files.push((measure(DATABASE, db_copy, false)?, db_copy.to_owned()));
    }
    for relative in list(dir, Path::new(""))? {
        let source = dir.join(&relative);
        files.push((measure(&relative_text(&relative)?, &source, is_audit_log(&relative))?, source));
    }
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        version: VERSION,
        trent_version: env!("CARGO_PKG_VERSION").to_owned(),
        created: crate::audit::event::format_time(crate::clock::Clock::now_millis(&crate::clock::SystemClock { offset_millis: 0 })),
        files: files.iter().map(|(e, _)| e.clone()).collect(),
    };
    let manifest_json = serde_json::to_vec_pretty(&manifest).map_err(|e| format!("the manifest: {e}"))?;

    let out = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(partial).map_err(|e| format!("creating {}: {e}", partial.display()))?
    };
    let mut archive = tar::Builder::new(std::io::BufWriter::new(out));
    append(&mut archive, MANIFEST, manifest_json.len() as u64, &manifest_json[..])?;
    for (entry, source) in &files {
        let file = File::open(source).map_err(|e| format!("opening {}: {e}", source.display()))?;
        append(&mut archive, &entry.path, entry.bytes, file.take(entry.bytes))?;
    }
    let out = archive.into_inner().map_err(|e| format!("writing {}: {e}", partial.display()))?;
    let out = out.into_inner().map_err(|e| format!("writing {}: {}", partial.display(), e.error()))?;
    out.sync_all().map_err(|e| format!("fsync of {}: {e}", partial.display()))?;
    Ok(Summary { files: manifest.files.len(), bytes: manifest.files.iter().map(|f| f.bytes).sum() })
}

fn append<W: Write>(archive: &mut tar::Builder<W>, path: &str, size: u64, data: impl Read) -> Result<(), String> {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mtime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()));
    header.set_mode(0o600);
    header.set_entry_type(tar::EntryType::Regular);
    archive.append_data(&mut header, path, data).map_err(|e| format!("writing {path} into the backup: {e}"))
}

/// The regular files under `dir/under`, relative to `dir`, sorted; the
/// skipped ones and hidden ones (temporary files) left out.
fn list(dir: &Path, under: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    let read = std::fs::read_dir(dir.join(under)).map_err(|e| format!("listing {}: {e}", dir.join(under).display()))?;
    for item in read {
        let item = item.map_err(|e| format!("listing {}: {e}", dir.join(under).display()))?;
        let name = item.file_name();
        let Some(text) = name.to_str() else { return Err(format!("{:?} in {} is not a UTF-8 name", name, dir.join(under).display())) };
        if text.starts_with('.') || (under.as_os_str().is_empty() && SKIPPED.contains(&text)) {
            continue;
        }
        let kind = item.file_type().map_err(|e| format!("{}: {e}", item.path().display()))?;
        let relative = under.join(&name);
        if kind.is_dir() {
            found.extend(list(dir, &relative)?);
        } else if kind.is_file() {
            found.push(relative);
        }
    }
    found.sort();
    Ok(found)
}

fn is_audit_log(relative: &Path) -> bool {
    relative.starts_with("audit") && relative.extension().is_some_and(|e| e == "jsonl")
}

/// A file's length and digest as it is now; an audit log only up to its
/// last complete line (the server may be in the middle of appending one).
fn measure(path: &str, file: &Path, whole_lines: bool) -> Result<Entry, String> {
    let io = |e: std::io::Error| format!("reading {}: {e}", file.display());
    let mut reader = File::open(file).map_err(io)?;
    let mut len = reader.metadata().map_err(io)?.len();
    if whole_lines {
        len = last_line_end(&mut reader, len).map_err(io)?;
    }
    let mut reader = reader.take(len);
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        context.update(&buf[..n]);
        bytes += n as u64;
    }
    if bytes != len {
        return Err(format!("{} shrank while it was read", file.display()));
    }
    Ok(Entry { path: path.to_owned(), bytes, sha256: hex::encode(context.finish().as_ref()) })
}

/// The length of the file's first `len` bytes up to and with its last newline.
fn last_line_end(file: &mut File, len: u64) -> std::io::Result<u64> {
    use std::io::{Seek, SeekFrom};
    const CHUNK: u64 = 64 * 1024;
    let mut end = len;
    let mut buf = vec![0u8; CHUNK as usize];
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|b| *b == b'\n') {
            file.seek(SeekFrom::Start(0))?;
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    file.seek(SeekFrom::Start(0))?;
    Ok(0)
}

fn relative_text(relative: &Path) -> Result<String, String> {
    let parts: Option<Vec<&str>> = relative.components().map(|c| c.as_os_str().to_str()).collect();
    parts.map(|p| p.join("/")).ok_or_else(|| format!("{} is not a UTF-8 path", relative.display()))
}

/// `FILE` -> `.FILE.SUFFIX` beside it.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{suffix}"))
}

/// Makes a rename or a new entry in `path`'s directory durable.
fn sync_parent(path: &Path) -> Result<(), String> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent).and_then(|d| d.sync_all()).map_err(|e| format!("fsync of {}: {e}", parent.display()))
}
