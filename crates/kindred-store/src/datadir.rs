//! The data directory: its layout, permissions, lock and identity file.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use kindred_proto::NodeSecret;
use zeroize::Zeroizing;

use crate::{Result, StoreError};

const IDENTITY_FILE: &str = "identity.key";
const IDENTITY_MAGIC: &[u8] = b"kindred-identity-v1\n";
const LOCK_FILE: &str = "node.lock";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A data directory locked for this process. Dropping it releases the lock.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    _lock: File,
}

impl DataDir {
    /// Creates the directory (mode 0700) if needed and takes its lock, so two
    /// nodes never share one store.
    pub fn lock(path: &Path) -> Result<DataDir> {
        ensure_dir(path)?;
        let lock_path = path.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(StoreError::InUse {
                    dir: path.to_path_buf(),
                })
            }
            Err(fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        Ok(DataDir {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn db_path(&self) -> PathBuf {
        self.path.join("db")
    }

    /// Whether some process holds this directory's lock right now.
    pub fn is_locked(path: &Path) -> bool {
        let Ok(f) = File::open(path.join(LOCK_FILE)) else {
            return false;
        };
        matches!(f.try_lock_shared(), Err(fs::TryLockError::WouldBlock))
    }
}

fn ensure_dir(path: &Path) -> Result<()> {
    if !path.exists() {
        fs::create_dir_all(path).map_err(io(path))?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700)).map_err(io(path))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically with mode 0600 (temp file, fsync, rename).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io(path))?;
    Ok(())
}

/// Reads the node identity from `dir`.
pub fn load_identity(dir: &Path) -> Result<NodeSecret> {
    let path = dir.join(IDENTITY_FILE);
    let bytes = match fs::read(&path) {
        Ok(b) => Zeroizing::new(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StoreError::NoIdentity {
                dir: dir.to_path_buf(),
            })
        }
        Err(e) => return Err(io(&path)(e)),
    };
    let bad = |detail: &str| StoreError::BadIdentity {
        path: path.clone(),
        detail: detail.into(),
    };
    let rest = bytes
        .strip_prefix(IDENTITY_MAGIC)
        .ok_or_else(|| bad("unrecognised header"))?;
    let secret: [u8; 32] = rest.try_into().map_err(|_| bad("key is not 32 bytes"))?;
    let mode = fs::metadata(&path).map_err(io(&path))?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "identity file is readable by others; fixing its mode to 0600");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(io(&path))?;
    }
    Ok(NodeSecret::from_bytes(secret))
}

/// Reads the identity, creating a new one (file mode 0600) if there is none.
/// Returns whether it was created.
pub fn load_or_create_identity(dir: &Path) -> Result<(NodeSecret, bool)> {
    match load_identity(dir) {
        Ok(s) => Ok((s, false)),
        Err(StoreError::NoIdentity { .. }) => {
            ensure_dir(dir)?;
            let secret = NodeSecret::generate().map_err(|e| StoreError::Db(e.to_string()))?;
            let mut contents = Zeroizing::new(IDENTITY_MAGIC.to_vec());
            contents.extend_from_slice(secret.as_bytes());
            write_private(&dir.join(IDENTITY_FILE), &contents)?;
            Ok((secret, true))
        }
        Err(e) => Err(e),
    }
}
