//! `trent restore`: a new data directory from a backup file. Nothing is
//! written to the directory itself until every file is in place and
//! matches its digest: the files go to a private directory beside it,
//! which then takes its name.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use super::{Entry, Manifest, RestoreOptions, FORMAT, MANIFEST, VERSION};

/// Restores `options.from` into `options.data_dir`; returns how many files.
pub fn restore(options: &RestoreOptions) -> Result<usize, String> {
    let target = &options.data_dir;
    let existed = match std::fs::read_dir(target) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(format!("{} is not empty: restore makes a new data directory", target.display()));
            }
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(format!("{}: {e}", target.display())),
    };
    let name = target.file_name().ok_or_else(|| format!("{} names no directory", target.display()))?.to_string_lossy().into_owned();
    let staging = target.with_file_name(format!(".{name}.restoring-{}", trent_crypto::new_uuid().simple()));
    crate::serve::create_private_dir(&staging).map_err(|e| format!("creating {}: {e}", staging.display()))?;
    let result = unpack(&options.from, &staging);
    let count = match result {
        Ok(count) => count,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    if existed {
        // Empty (checked above): the restored directory takes its place.
        std::fs::remove_dir(target).map_err(|e| format!("replacing the empty {}: {e}", target.display()))?;
    }
    std::fs::rename(&staging, target).map_err(|e| format!("renaming {} to {}: {e}", staging.display(), target.display()))?;
    super::sync_parent(target)?;
    Ok(count)
}

fn unpack(from: &Path, staging: &Path) -> Result<usize, String> {
    let file = File::open(from).map_err(|e| format!("opening {}: {e}", from.display()))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let mut entries = archive.entries().map_err(|e| format!("reading {}: {e}", from.display()))?;
    let bad = |what: String| format!("{} is not a Trent backup: {what}", from.display());

    let mut first = entries.next().ok_or_else(|| bad("it is empty".into()))?.map_err(|e| bad(e.to_string()))?;
    if first.path().map_err(|e| bad(e.to_string()))?.as_os_str() != MANIFEST {
        return Err(bad(format!("its first file is not {MANIFEST}")));
    }
    let mut text = Vec::new();
    first.read_to_end(&mut text).map_err(|e| bad(e.to_string()))?;
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| bad(format!("{MANIFEST}: {e}")))?;
    if manifest.format != FORMAT || manifest.version != VERSION {
        return Err(bad(format!("format {} version {} (this Trent reads {FORMAT} version {VERSION})", manifest.format, manifest.version)));
    }
    let mut expected: HashMap<String, Entry> = HashMap::new();
    for entry in &manifest.files {
        safe_relative(&entry.path).ok_or_else(|| bad(format!("the path {:?} leaves the data directory", entry.path)))?;
        expected.insert(entry.path.clone(), entry.clone());
    }

    let mut restored = 0;
    for item in entries {
        let mut item = item.map_err(|e| bad(e.to_string()))?;
        let path = item.path().map_err(|e| bad(e.to_string()))?.to_string_lossy().into_owned();
        let entry = expected.remove(&path).ok_or_else(|| bad(format!("{path} is not in its manifest, or is there twice")))?;
        if item.header().entry_type() != tar::EntryType::Regular {
            return Err(bad(format!("{path} is not a regular file")));
        }
        // Checked above for every manifest path.
        let Some(relative) = safe_relative(&path) else { return Err(bad(format!("the path {path:?} leaves the data directory"))) };
        write_checked(&mut item, &staging.join(relative), &entry).map_err(&bad)?;
        restored += 1;
    }
    if let Some(missing) = expected.keys().next() {
        return Err(bad(format!("{missing} is in its manifest but not in the archive (cut short?)")));
    }
    Ok(restored)
}

/// Writes one file (private, fsynced) and checks its size and digest.
fn write_checked(data: &mut impl Read, dest: &Path, entry: &Entry) -> Result<(), String> {
    if let Some(parent) = dest.parent() {
        crate::serve::create_private_dir(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    let mut out = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(dest).map_err(|e| format!("creating {}: {e}", dest.display()))?
    };
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = data.read(&mut buf).map_err(|e| format!("reading {}: {e}", entry.path))?;
        if n == 0 {
            break;
        }
        context.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| format!("writing {}: {e}", dest.display()))?;
        bytes += n as u64;
    }
    let digest = hex::encode(context.finish().as_ref());
    if bytes != entry.bytes || digest != entry.sha256 {
        return Err(format!("{} does not match its manifest (damaged?)", entry.path));
    }
    out.sync_all().map_err(|e| format!("fsync of {}: {e}", dest.display()))?;
    if let Some(parent) = dest.parent() {
        File::open(parent).and_then(|d| d.sync_all()).map_err(|e| format!("fsync of {}: {e}", parent.display()))?;
    }
    Ok(())
}

/// A `/`-separated path of plain names only: no `..`, no root, no `.`.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let relative = PathBuf::from(path);
    // Both: the text as written (components() would quietly drop a `.`), and as the OS reads it.
    let plain = path.split('/').all(|part| !part.is_empty() && part != "." && part != "..") && relative.components().all(|c| matches!(c, Component::Normal(_)));
    plain.then_some(relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_restored() {
        assert!(safe_relative("root.key").is_some());
        assert!(safe_relative("audit/audit-00000000000000000001.jsonl").is_some());
        for bad in ["", "/etc/passwd", "../x", "audit/../../x", "./x", "a/./b", "a//b", "a/"] {
            assert!(safe_relative(bad).is_none(), "{bad}");
        }
    }
}
