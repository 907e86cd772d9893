//! The default durable backend: one redb file, every commit fsynced (`Durability::Immediate`).

use std::path::Path;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use crate::backend::{Backend, Loaded, Op};
use crate::{Key, StoreError};

/// Objects by (resource, namespace, name) → the object's JSON.
const OBJECTS: TableDefinition<'_, (&str, Option<&str>, &str), &[u8]> =
    TableDefinition::new("objects");
/// `revision` → last committed revision; `format` → [`FORMAT`].
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
const META_REVISION: &str = "revision";
const META_FORMAT: &str = "format";
/// Version of the layout above; bump it (and migrate) when it changes.
const FORMAT: u64 = 1;
/// redb's page cache. The store keeps every object in its own index, so this only serves the B-tree pages that
/// commits touch; redb's 1 GiB default would mostly hold a second copy of the data.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// A [`Backend`] on a redb file.
pub struct RedbBackend {
    db: Database,
}

impl std::fmt::Debug for RedbBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbBackend").finish_non_exhaustive()
    }
}

fn backend_err(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("{what}: {e}"))
}

impl RedbBackend {
    /// Opens the redb file at `path`, creating it (not its directory) when missing, readable by its owner only (it
    /// holds Secrets). After a crash redb repairs the file on open. Only one [`RedbBackend`] may have a file open.
    pub fn open(path: &Path) -> Result<RedbBackend, StoreError> {
        create_private(path).map_err(|e| backend_err(&format!("create {}", path.display()), e))?;
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| backend_err(&format!("open {}", path.display()), e))?;
        let txn = db
            .begin_write()
            .map_err(|e| backend_err("begin transaction", e))?;
        {
            txn.open_table(OBJECTS)
                .map_err(|e| backend_err("open objects table", e))?;
            let mut meta = txn
                .open_table(META)
                .map_err(|e| backend_err("open meta table", e))?;
            let format = meta
                .get(META_FORMAT)
                .map_err(|e| backend_err("read format", e))?
                .map(|v| v.value());
            match format {
                None => {
                    meta.insert(META_FORMAT, FORMAT)
                        .map_err(|e| backend_err("write format", e))?;
                }
                Some(FORMAT) => {}
                Some(other) => {
                    return Err(StoreError::Backend(format!(
                        "{}: unsupported store format {other} (this build reads {FORMAT})",
                        path.display()
                    )));
                }
            }
        }
        txn.commit().map_err(|e| backend_err("commit", e))?;
        Ok(RedbBackend { db })
    }
}

impl Backend for RedbBackend {
    fn load(&mut self) -> Result<Loaded, StoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| backend_err("begin read", e))?;
        let meta = txn
            .open_table(META)
            .map_err(|e| backend_err("open meta table", e))?;
        let revision = meta
            .get(META_REVISION)
            .map_err(|e| backend_err("read revision", e))?
            .map_or(0, |v| v.value());
        let table = txn
            .open_table(OBJECTS)
            .map_err(|e| backend_err("open objects table", e))?;
        let mut objects = Vec::new();
        for entry in table.iter().map_err(|e| backend_err("read objects", e))? {
            let (k, v) = entry.map_err(|e| backend_err("read objects", e))?;
            let (resource, namespace, name) = k.value();
            let key = Key {
                resource: resource.to_owned(),
                namespace: namespace.map(str::to_owned),
                name: name.to_owned(),
            };
            objects.push((key, v.value().to_vec()));
        }
        Ok((objects, revision))
    }

    fn commit(&mut self, ops: &[Op], revision: u64) -> Result<(), StoreError> {
        let mut txn = self
            .db
            .begin_write()
            .map_err(|e| backend_err("begin transaction", e))?;
        // The default, stated: commit() returns only after the file is fsynced.
        txn.set_durability(Durability::Immediate)
            .map_err(|e| backend_err("set durability", e))?;
        {
            let mut table = txn
                .open_table(OBJECTS)
                .map_err(|e| backend_err("open objects table", e))?;
            for op in ops {
                let key = op.key();
                let k = (
                    key.resource.as_str(),
                    key.namespace.as_deref(),
                    key.name.as_str(),
                );
                match op {
                    Op::Put { value, .. } => {
                        table
                            .insert(k, value.as_slice())
                            .map_err(|e| backend_err("write object", e))?;
                    }
                    Op::Delete { .. } => {
                        table
                            .remove(k)
                            .map_err(|e| backend_err("delete object", e))?;
                    }
                }
            }
            let mut meta = txn
                .open_table(META)
                .map_err(|e| backend_err("open meta table", e))?;
            meta.insert(META_REVISION, revision)
                .map_err(|e| backend_err("write revision", e))?;
        }
        txn.commit().map_err(|e| backend_err("commit", e))
    }
}

/// Creates `path` with mode 0600 if it does not exist, so that redb, which would create it world-readable, finds it.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(file) => {
            file.sync_all()?;
            // The new directory entry must survive a power loss too, not only the file's contents.
            match path.parent().filter(|p| !p.as_os_str().is_empty()) {
                Some(dir) => std::fs::File::open(dir)?.sync_all(),
                None => std::fs::File::open(".")?.sync_all(),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}
