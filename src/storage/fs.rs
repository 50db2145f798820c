//! Local-directory backend. Keys map to paths under the root; a key that
//! could escape the root is refused. Writes go to a file in this process's
//! own folder of `<root>.incoming` and are renamed into place, so a reader
//! never sees half an object. Each process holds a lock on its folder for
//! as long as it has the store open; a folder whose lock is free was left
//! by a process that is gone, and the next to open the store clears it.
//! So `imaged dlq list` beside a running daemon never touches its writes.

use std::{
    fs::{File, Metadata},
    io::{ErrorKind, SeekFrom},
    ops::RangeInclusive,
    os::unix::fs::MetadataExt,
    path::{Component, Path, PathBuf},
};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{BlobMeta, BlobReader, BlobStore, DEFAULT_CONTENT_TYPE, StoreError};

pub struct FsStore {
    root: PathBuf,
    /// This process's half-written files, on the root's file system (so a
    /// rename moves them).
    incoming: PathBuf,
    /// Held locked while the store is open: the folder is in use.
    _lock: File,
}

/// The lock file in each process's folder of `<root>.incoming`.
const LOCK: &str = ".lock";

impl FsStore {
    /// Opens the store at `root` with a folder of its own for writes, and
    /// clears what processes that are gone were writing when they stopped.
    pub async fn open(root: PathBuf) -> anyhow::Result<Self> {
        tokio::fs::create_dir_all(&root).await?;
        let mut all = root.clone().into_os_string();
        all.push(".incoming");
        let all = PathBuf::from(all);
        let incoming = all.join(uuid::Uuid::new_v4().simple().to_string());
        let opened = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&incoming)?;
            // Locked before it takes its name: another opener that finds
            // the lock file finds it held, never free for a moment.
            let pending = incoming.join(".lock.new");
            let lock = File::create(&pending)?;
            lock.try_lock().map_err(std::io::Error::from)?;
            std::fs::rename(&pending, incoming.join(LOCK))?;
            clear_abandoned(&all)?;
            Ok::<_, std::io::Error>((incoming, lock))
        });
        let (incoming, lock) = opened.await??;
        Ok(Self { root, incoming, _lock: lock })
    }

    /// A new file to write an object into before it is renamed into place.
    pub fn incoming_path(&self) -> PathBuf {
        self.incoming.join(uuid::Uuid::new_v4().to_string())
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        let rel = Path::new(key);
        let safe = !key.is_empty()
            && !key.chars().any(char::is_control)
            && rel.components().all(|c| matches!(c, Component::Normal(n) if n.len() <= 255));
        if safe { Ok(self.root.join(rel)) } else { Err(StoreError::BadKey(key.to_owned())) }
    }
}

/// Renames `from` to `to`, making `to`'s folders first; again when a
/// delete removed one of them, emptied, in between.
async fn place(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut attempts = 0;
    loop {
        if let Some(dir) = to.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        match tokio::fs::rename(from, to).await {
            Err(err) if err.kind() == ErrorKind::NotFound && attempts < 3 && tokio::fs::try_exists(from).await? => {
                attempts += 1;
            }
            done => return done,
        }
    }
}

/// Removes the folders of `all` whose lock no process holds (their
/// processes are gone), and loose files of the layout before the folders.
fn clear_abandoned(all: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(all)? {
        let path = entry?.path();
        if !path.is_dir() {
            std::fs::remove_file(&path)?;
            continue;
        }
        let free = match File::open(path.join(LOCK)) {
            Ok(lock) => lock.try_lock().is_ok(),
            // Made, but its lock not named yet: a process is opening it.
            Err(err) if err.kind() == ErrorKind::NotFound => false,
            Err(err) => return Err(err),
        };
        if free {
            std::fs::remove_dir_all(&path)?;
        }
    }
    Ok(())
}

impl Drop for FsStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.incoming);
    }
}

/// A failed write is worth retrying, whatever vanished under it (a
/// temporary file, a folder): only a name no file system takes is final.
fn write_error(key: &str, err: std::io::Error) -> StoreError {
    match err.kind() {
        ErrorKind::NotFound => StoreError::Unavailable { key: key.to_owned(), source: err.into() },
        _ => io_error(key, err),
    }
}

fn io_error(key: &str, err: std::io::Error) -> StoreError {
    match err.kind() {
        ErrorKind::NotFound => StoreError::NotFound(key.to_owned()),
        // No retry makes a name valid.
        ErrorKind::InvalidFilename | ErrorKind::InvalidInput => StoreError::BadKey(key.to_owned()),
        _ => StoreError::Unavailable { key: key.to_owned(), source: err.into() },
    }
}

fn blob_meta(key: &str, meta: &Metadata) -> Result<BlobMeta, StoreError> {
    let modified: DateTime<Utc> = meta.modified().map_err(|e| io_error(key, e))?.into();
    let last_modified = DateTime::from_timestamp(modified.timestamp(), 0).unwrap_or(modified).naive_utc();
    // A file put again is a new file (written aside, then renamed over).
    let tag = format!("{:x}-{:x}-{:x}", meta.len(), meta.ino(), modified.timestamp_nanos_opt().unwrap_or_default());
    Ok(BlobMeta { size: meta.len(), last_modified, content_type: DEFAULT_CONTENT_TYPE.into(), tag })
}

#[async_trait]
impl BlobStore for FsStore {
    async fn put(&self, key: &str, bytes: Bytes, _content_type: &str) -> Result<BlobMeta, StoreError> {
        let path = self.path(key)?;
        let tmp = self.incoming_path();
        let write = async {
            tokio::fs::write(&tmp, &bytes).await?;
            place(&tmp, &path).await
        };
        if let Err(err) = write.await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(write_error(key, err));
        }
        self.head(key).await
    }

    async fn put_file(&self, key: &str, file: &Path, _content_type: &str) -> Result<BlobMeta, StoreError> {
        let path = self.path(key)?;
        let tmp = self.incoming_path();
        let write = async {
            // Moved when on the same file system, else copied in first.
            match place(file, &path).await {
                Err(err) if err.kind() == ErrorKind::CrossesDevices => {
                    tokio::fs::copy(file, &tmp).await?;
                    place(&tmp, &path).await
                }
                other => other,
            }
        };
        if let Err(err) = write.await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(write_error(key, err));
        }
        self.head(key).await
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let path = self.path(key)?;
        tokio::fs::read(path).await.map(Bytes::from).map_err(|e| io_error(key, e))
    }

    async fn open(&self, key: &str, range: Option<RangeInclusive<u64>>) -> Result<BlobReader, StoreError> {
        let mut file = tokio::fs::File::open(self.path(key)?).await.map_err(|e| io_error(key, e))?;
        // The metadata of the file opened, not of whatever the key names by now.
        let meta = blob_meta(key, &file.metadata().await.map_err(|e| io_error(key, e))?)?;
        let Some(range) = range else {
            return Ok(BlobReader { meta, body: Box::pin(tokio_util::io::ReaderStream::new(file)) });
        };
        file.seek(SeekFrom::Start(*range.start())).await.map_err(|e| io_error(key, e))?;
        let part = file.take(range.end().saturating_sub(*range.start()) + 1);
        Ok(BlobReader { meta, body: Box::pin(tokio_util::io::ReaderStream::new(part)) })
    }

    async fn head(&self, key: &str) -> Result<BlobMeta, StoreError> {
        blob_meta(key, &tokio::fs::metadata(self.path(key)?).await.map_err(|e| io_error(key, e))?)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        match tokio::fs::remove_file(&path).await {
            Err(err) if err.kind() != ErrorKind::NotFound => return Err(io_error(key, err)),
            _ => {}
        }
        // The folders it leaves empty go too (each image has one of
        // thumbnails): a host that deletes what it stores keeps no inodes.
        // A write into one of them meanwhile makes it again ([`place`]).
        let mut dir = path.parent();
        while let Some(folder) = dir.filter(|folder| *folder != self.root) {
            if tokio::fs::remove_dir(folder).await.is_err() {
                break; // not empty, or gone already
            }
            dir = folder.parent();
        }
        Ok(())
    }

    /// Walks only the folder the prefix names (its part up to the last `/`).
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let folder = prefix.rfind('/').map_or("", |end| &prefix[..end]);
        let (root, dir) = (self.root.clone(), self.path(folder).unwrap_or_else(|_| self.root.clone()));
        let walk = tokio::task::spawn_blocking(move || walk(&root, &dir));
        let keys =
            walk.await.map_err(|e| io_error(prefix, std::io::Error::other(e)))?.map_err(|e| io_error(prefix, e))?;
        Ok(keys.into_iter().filter(|k| k.starts_with(prefix)).collect())
    }

    async fn check(&self) -> Result<(), StoreError> {
        tokio::fs::metadata(&self.root).await.map(|_| ()).map_err(|e| io_error("/", e))
    }
}

/// Keys of the files under `dir`. A folder that is gone, or goes while it
/// is read (a delete removes the folders it empties), holds none: it never
/// makes the listing of its neighbours fail, or come back empty.
fn walk(root: &Path, dir: &Path) -> std::io::Result<Vec<String>> {
    let gone = |err: &std::io::Error| err.kind() == ErrorKind::NotFound;
    let entries = match std::fs::read_dir(dir) {
        Err(err) if gone(&err) => return Ok(Vec::new()),
        entries => entries?,
    };
    let mut keys = Vec::new();
    for entry in entries {
        let path = match entry {
            Err(err) if gone(&err) => continue,
            entry => entry?.path(),
        };
        if path.is_dir() {
            keys.extend(walk(root, &path)?);
        } else {
            let rel = path.strip_prefix(root).map_err(std::io::Error::other)?;
            keys.push(rel.to_string_lossy().into_owned());
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_gone_before_it_is_read_holds_no_keys_and_fails_nothing() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("thumbnails/a")).unwrap();
        std::fs::write(root.path().join("thumbnails/a/128.jpg"), b"x").unwrap();
        // What a walk that listed thumbnails/b/ meets when a delete removed it.
        assert!(walk(root.path(), &root.path().join("thumbnails/b")).unwrap().is_empty());
        assert_eq!(walk(root.path(), &root.path().join("thumbnails")).unwrap(), ["thumbnails/a/128.jpg"]);
    }

    #[tokio::test]
    async fn put_get_head_delete_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path().to_path_buf()).await.unwrap();
        let meta = store.put("images/a b.jpg", Bytes::from_static(b"hello"), "image/jpeg").await.unwrap();
        assert_eq!(meta.size, 5);
        assert_eq!(meta.content_type, "binary/octet-stream");
        assert_eq!(store.get("images/a b.jpg").await.unwrap(), Bytes::from_static(b"hello"));
        assert_eq!(store.list("images/").await.unwrap(), ["images/a b.jpg"]);
        assert!(store.list("thumbnails/").await.unwrap().is_empty());
        store.delete("images/a b.jpg").await.unwrap();
        assert!(matches!(store.get("images/a b.jpg").await, Err(StoreError::NotFound(_))));
        store.delete("images/a b.jpg").await.expect("deleting twice is fine");
    }

    #[tokio::test]
    async fn deleting_an_objects_last_neighbour_removes_its_empty_folders() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("blobs");
        let store = FsStore::open(root.clone()).await.unwrap();
        for key in ["thumbnails/k.jpg/128.jpg", "thumbnails/k.jpg/256.jpg", "images/k.jpg"] {
            store.put(key, Bytes::from_static(b"x"), "image/jpeg").await.unwrap();
        }
        store.delete("thumbnails/k.jpg/128.jpg").await.unwrap();
        assert!(root.join("thumbnails/k.jpg").is_dir(), "256.jpg is still there");
        store.delete("thumbnails/k.jpg/256.jpg").await.unwrap();
        assert!(!root.join("thumbnails").exists(), "emptied folders are removed");
        assert!(root.join("images/k.jpg").is_file());
        store.delete("images/k.jpg").await.unwrap();
        let left: Vec<_> = std::fs::read_dir(&root).unwrap().collect();
        assert!(left.is_empty() && root.is_dir(), "the root stays, empty: {left:?}");
        store.put("thumbnails/k.jpg/128.jpg", Bytes::from_static(b"y"), "image/jpeg").await.unwrap();
        assert_eq!(store.get("thumbnails/k.jpg/128.jpg").await.unwrap(), Bytes::from_static(b"y"));
    }

    #[tokio::test]
    async fn a_second_opener_leaves_a_live_stores_writes_and_clears_a_dead_ones() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("blobs");
        let live = FsStore::open(root.clone()).await.unwrap();
        let writing = live.incoming_path();
        std::fs::write(&writing, b"half a thumbnail").unwrap();
        // What a killed process leaves: its folder, its lock file unheld.
        let dead_folder = live.incoming.with_file_name("gone");
        std::fs::create_dir_all(&dead_folder).unwrap();
        std::fs::write(dead_folder.join(LOCK), b"").unwrap();
        std::fs::write(dead_folder.join("left"), b"x").unwrap();

        let _other = FsStore::open(root).await.unwrap();
        assert!(writing.is_file(), "a live store's write in progress stays");
        assert!(!dead_folder.exists(), "a gone process's folder is cleared");
    }

    #[tokio::test]
    async fn a_write_whose_temporary_file_vanished_is_retried_not_failed() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path().join("blobs")).await.unwrap();
        std::fs::remove_dir_all(&store.incoming).unwrap();
        let put = store.put("thumbnails/a.jpg/128.jpg", Bytes::from_static(b"x"), "image/jpeg").await;
        assert!(matches!(put, Err(StoreError::Unavailable { .. })), "{put:?}");
    }

    #[tokio::test]
    async fn keys_cannot_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path().join("blobs")).await.unwrap();
        for key in ["../x", "/etc/passwd", "images/../../x", ""] {
            assert!(matches!(store.get(key).await, Err(StoreError::BadKey(_))), "{key}");
        }
        // Names no file system takes are bad keys, not an outage to retry.
        let long = format!("images/{}.jpg", "я".repeat(130));
        for key in ["images/a\nb.jpg", "images/\u{1b}[0m.jpg", long.as_str()] {
            assert!(matches!(store.get(key).await, Err(StoreError::BadKey(_))), "{key}");
            let put = store.put(key, Bytes::from_static(b"x"), "image/jpeg").await;
            assert!(matches!(put, Err(StoreError::BadKey(_))), "{key}");
        }
    }
}
