//! An online copy of the database: SQLite's backup API, in steps, from
//! one read snapshot. The source connection holds a read transaction
//! across the steps, so the copy is the database as of one commit, and
//! writers (in WAL mode, never blocked by a reader) go on meanwhile.
//! Without that transaction, each step would see the newest commit and
//! the backup would start over after every write, never finishing under
//! a steady load.

use std::path::Path;
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::backend;
use crate::StoreError;

/// Pages copied per step (4 KiB each): the server's writers get the disk
/// between steps.
const PAGES_PER_STEP: std::ffi::c_int = 1024;
const PAUSE: Duration = Duration::from_millis(5);

/// Copies the database at `src` into `dst`, a file that must not exist,
/// and checks the copy (`PRAGMA integrity_check`) and fsyncs it.
pub fn backup(src: &Path, dst: &Path) -> Result<(), StoreError> {
    copy(src, dst, PAGES_PER_STEP)
}

fn copy(src: &Path, dst: &Path, pages_per_step: std::ffi::c_int) -> Result<(), StoreError> {
    if !src.exists() {
        return Err(StoreError::Backend(format!("{} does not exist", src.display())));
    }
    let source = Connection::open_with_flags(src, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(backend)?;
    source.busy_timeout(Duration::from_secs(10)).map_err(backend)?;
    // The snapshot: a read transaction begun by the first read, held to the end.
    source.execute_batch("BEGIN").map_err(backend)?;
    source.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0)).map_err(backend)?;
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Created here, private, and new: a backup never overwrites anything.
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(dst).map_err(|e| StoreError::Backend(format!("creating {}: {e}", dst.display())))?;
    }
    let mut copy = Connection::open(dst).map_err(backend)?;
    {
        let backup = Backup::new(&source, &mut copy).map_err(backend)?;
        loop {
            match backup.step(pages_per_step).map_err(backend)? {
                StepResult::Done => break,
                // More to copy, or the copy's file briefly busy: go on after a pause.
                _ => std::thread::sleep(PAUSE),
            }
        }
    }
    source.execute_batch("COMMIT").map_err(backend)?;
    let check: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(backend)?;
    if check != "ok" {
        return Err(StoreError::Backend(format!("the copy failed its integrity check: {check}")));
    }
    drop(copy);
    let file = std::fs::File::open(dst).map_err(|e| StoreError::Backend(format!("opening {}: {e}", dst.display())))?;
    file.sync_all().map_err(|e| StoreError::Backend(format!("fsync of {}: {e}", dst.display())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    #[tokio::test]
    async fn the_copy_is_one_commit_and_opens_as_a_store() {
        let dir = std::env::temp_dir().join(format!("trent-store-backup-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = super::super::SqliteStore::open(&dir.join("trent.db")).unwrap();
        for i in 0..50 {
            let (key, material) = crate::conformance::sample_key("111122223333", &format!("a0000000-0000-4000-8000-{i:012}"));
            store.insert_key(&key, &material).await.unwrap();
        }
        backup(&dir.join("trent.db"), &dir.join("copy.db")).unwrap();
        assert!(backup(&dir.join("trent.db"), &dir.join("copy.db")).is_err(), "an existing file is never overwritten");
        let copy = super::super::SqliteStore::open(&dir.join("copy.db")).unwrap();
        assert!(copy.get_key("a0000000-0000-4000-8000-000000000049", "us-east-1").await.unwrap().is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Small steps while another connection commits all the time: without
    /// the held snapshot every step would restart the copy, and it would
    /// never end.
    #[test]
    fn a_copy_in_small_steps_ends_while_writes_go_on() {
        let dir = std::env::temp_dir().join(format!("trent-store-backup-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("busy.db");
        let writer = Connection::open(&db).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        writer.execute_batch("CREATE TABLE t (x BLOB); BEGIN;").unwrap();
        for _ in 0..2000 {
            writer.execute("INSERT INTO t VALUES (zeroblob(1000))", []).unwrap();
        }
        writer.execute_batch("COMMIT").unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writes = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    writer.execute("INSERT INTO t VALUES (zeroblob(1000))", []).unwrap();
                    n += 1;
                }
                n
            }
        });
        std::thread::sleep(Duration::from_millis(50));
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let (src, dst) = (db.clone(), dir.join("copy.db"));
        std::thread::spawn(move || done_tx.send(copy(&src, &dst, 8)));
        let result = done_rx.recv_timeout(Duration::from_secs(60)).expect("the copy ended");
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let written_meanwhile = writes.join().unwrap();
        result.unwrap();
        assert!(written_meanwhile > 10, "the writer committed only {written_meanwhile} rows");
        let copy = Connection::open(dir.join("copy.db")).unwrap();
        let rows: i64 = copy.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert!(rows >= 2000, "{rows}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
