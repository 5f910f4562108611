//! An on-disk cache of compiled modules, so that a tool run over and over (`custody check` as a CI
//! gate) compiles each module once, not on every run.
//!
//! An entry is wasmtime's serialized module ([`wasmtime::Module::serialize`]) in a file named
//! after the module's digest (SHA-256 of its bytes), in a directory named after the engine
//! ([`engine_key`]: custody-host's version, the entry format, and wasmtime's
//! `precompile_compatibility_hash`, which covers wasmtime's version, the target, the compiler
//! flags and the features). The file holds a header (a magic string, the module digest, the
//! engine key, the length of the serialized module), the serialized module, and the SHA-256 of
//! all of that.
//!
//! **Trust model.** Deserializing runs the machine code in the entry, so the cache must be as
//! trusted as the user's own programs: it is the user's own directory, `$CUSTODY_CACHE_DIR`,
//! `$XDG_CACHE_HOME/custody` or `~/.cache/custody` ([`ModuleCache::user`]). It is created
//! private (mode 0700, files 0600), and on Unix a directory or entry that belongs to someone else
//! or that others may write is not used (a shared or world-writable cache would let another user
//! run code as this one). Within that, every entry is checked before use: an entry whose hash,
//! length, digest or engine key does not match (truncated, corrupted, written by another engine or
//! version, or copied under another module's name) is ignored and replaced by a fresh compile,
//! and wasmtime itself refuses an artifact of another version or configuration. What the checks
//! do not stop is a deliberate forgery by someone who can already write the user's files (they
//! could as well replace the user's programs); a keyed MAC would not change that, since its key
//! would have to live in the same account. Entries are written to a temporary file and renamed
//! into place, so a reader never sees a half-written entry.

use std::fs::{self, File};
use std::hash::{Hash, Hasher};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};
use wasmtime::{Engine, Module};

/// The environment variable that chooses the cache directory; empty or `off` turns the cache off.
pub const CACHE_DIR_ENV: &str = "CUSTODY_CACHE_DIR";

/// Starts every entry: the format and its version.
const MAGIC: &[u8; 16] = b"custody-cwasm-1\n";
/// The largest entry read (a serialized module is a few times the module's size).
const MAX_ENTRY_BYTES: u64 = 512 * 1024 * 1024;
const HASH_LEN: usize = 32;
const HEADER_LEN: usize = MAGIC.len() + HASH_LEN + HASH_LEN + 8;

/// A directory of compiled modules (see the [module documentation](self)).
#[derive(Debug, Clone)]
pub struct ModuleCache {
    dir: PathBuf,
}

/// What a cache lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// The module was compiled, and its entry written.
    Compiled,
    /// The module came from its entry.
    Hit,
    /// There was an entry, refused (see the module documentation); the module was compiled and
    /// the entry replaced.
    Replaced,
}

impl ModuleCache {
    /// A cache in `dir` (created when the first entry is written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The user's cache: `$CUSTODY_CACHE_DIR` if set (empty or `off`: no cache), else
    /// `$XDG_CACHE_HOME/custody`, else `$HOME/.cache/custody`; `None` when the cache is off or
    /// there is no such directory.
    pub fn user() -> Option<Self> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = std::env::var_os(CACHE_DIR_ENV) {
            if dir.is_empty() || dir == "off" {
                return None;
            }
            return Some(Self::new(dir));
        }
        let base = var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
        Some(Self::new(base.join("custody")))
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the entry of the module whose bytes hash to `digest` is, for `engine`.
    pub fn entry_path(&self, engine: &Engine, digest: &[u8; HASH_LEN]) -> PathBuf {
        self.dir
            .join(hex(&engine_key(engine)))
            .join(format!("{}.cwasm", hex(digest)))
    }

    /// The module compiled from `bytes`: from its entry if there is a sound one, else compiled
    /// by `compile` and its entry written (a failure to write is not an error: the cache is an
    /// optimisation).
    pub(crate) fn module(
        &self,
        engine: &Engine,
        bytes: &[u8],
        compile: impl FnOnce() -> wasmtime::Result<Module>,
    ) -> wasmtime::Result<(Module, CacheOutcome)> {
        let digest: [u8; HASH_LEN] = Sha256::digest(bytes).into();
        let key = engine_key(engine);
        let path = self.entry_path(engine, &digest);
        let outcome = match read_entry(&path, &digest, &key) {
            Lookup::Missing => CacheOutcome::Compiled,
            Lookup::Refused => CacheOutcome::Replaced,
            Lookup::Found(serialized) => match deserialize(engine, &serialized) {
                Ok(module) => return Ok((module, CacheOutcome::Hit)),
                Err(_) => CacheOutcome::Replaced,
            },
        };
        let module = compile()?;
        if let Ok(serialized) = module.serialize() {
            // Best effort: the cache is an optimisation, and the module is compiled anyway.
            let _ = write_entry(&path, &digest, &key, &serialized);
        }
        Ok((module, outcome))
    }
}

/// What is at an entry's path.
enum Lookup {
    Missing,
    /// An entry that is not sound (see [`read_entry`]).
    Refused,
    /// The serialized module of a sound entry.
    Found(Vec<u8>),
}

/// The key of an engine's configuration: custody-host's version, the entry format, and
/// wasmtime's `precompile_compatibility_hash` (SHA-256 of what it hashes).
pub fn engine_key(engine: &Engine) -> [u8; HASH_LEN] {
    let mut hasher = Sha256Hasher(Sha256::new());
    hasher.write(MAGIC);
    hasher.write(env!("CARGO_PKG_VERSION").as_bytes());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.0.finalize().into()
}

/// A [`Hasher`] feeding SHA-256 (for a hash that is the same in every run).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0; 8];
        first.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
        u64::from_le_bytes(first)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The entry at `path`: sound if it is private and the user's own (Unix), of the expected length,
/// with the expected magic, module digest and engine key, and its hash matches.
fn read_entry(path: &Path, digest: &[u8; HASH_LEN], key: &[u8; HASH_LEN]) -> Lookup {
    let Ok(file) = File::open(path) else {
        return if fs::symlink_metadata(path).is_ok() {
            Lookup::Refused
        } else {
            Lookup::Missing
        };
    };
    match sound_entry(file, path, digest, key) {
        Some(serialized) => Lookup::Found(serialized),
        None => Lookup::Refused,
    }
}

fn sound_entry(
    file: File,
    path: &Path,
    digest: &[u8; HASH_LEN],
    key: &[u8; HASH_LEN],
) -> Option<Vec<u8>> {
    let metadata = file.metadata().ok()?;
    if !metadata.is_file() || metadata.len() > MAX_ENTRY_BYTES || !private(path, &metadata) {
        return None;
    }
    let mut entry = Vec::new();
    file.take(MAX_ENTRY_BYTES).read_to_end(&mut entry).ok()?;
    let body_len = entry.len().checked_sub(HASH_LEN)?;
    let (body, hash) = entry.split_at(body_len);
    if Sha256::digest(body).as_slice() != hash {
        return None;
    }
    let (header, serialized) = body.split_at_checked(HEADER_LEN)?;
    let (magic, rest) = header.split_at(MAGIC.len());
    let (entry_digest, rest) = rest.split_at(HASH_LEN);
    let (entry_key, len) = rest.split_at(HASH_LEN);
    let len = u64::from_le_bytes(len.try_into().ok()?);
    let sound = magic == MAGIC
        && entry_digest == digest
        && entry_key == key
        && u64::try_from(serialized.len()).ok()? == len;
    sound.then(|| serialized.to_vec())
}

/// Writes an entry: into a temporary file in the same directory, then renamed into place.
fn write_entry(
    path: &Path,
    digest: &[u8; HASH_LEN],
    key: &[u8; HASH_LEN],
    serialized: &[u8],
) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("an entry path has a directory"))?;
    create_private_dir(dir)?;
    let mut entry = Vec::with_capacity(HEADER_LEN + serialized.len() + HASH_LEN);
    entry.extend_from_slice(MAGIC);
    entry.extend_from_slice(digest);
    entry.extend_from_slice(key);
    entry.extend_from_slice(&(serialized.len() as u64).to_le_bytes());
    entry.extend_from_slice(serialized);
    let hash = Sha256::digest(&entry);
    entry.extend_from_slice(&hash);

    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let temporary = dir.join(format!(
        ".{}.{}.{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = write_new(&temporary, &entry).and_then(|()| fs::rename(&temporary, path));
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

/// Writes `bytes` to a new private file at `path`.
fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = create_private_file(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Turns a sound entry into a module.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, serialized: &[u8]) -> wasmtime::Result<Module> {
    // SAFETY: `Module::deserialize` trusts its input to be what `Module::serialize` produced,
    // since it runs the machine code in it. These bytes are: they come from an entry in the
    // user's own private cache directory (see the module documentation's trust model) whose
    // SHA-256 matches, which binds them to the digest of the module being loaded and to this
    // engine's configuration, and which only `write_entry` writes, from `Module::serialize`.
    // wasmtime also checks that the artifact is of its version and configuration.
    unsafe { Module::deserialize(engine, serialized) }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// Whether an entry (and the directory it is in) belongs to whoever runs this process and no one
/// else may write it. (The owner is compared with the process's through a file it creates: the
/// standard library does not tell a process its user id.)
#[cfg(unix)]
fn private(path: &Path, metadata: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(dir) = path.parent() else {
        return false;
    };
    let Ok(dir_metadata) = fs::symlink_metadata(dir) else {
        return false;
    };
    let Some(uid) = own_uid(dir) else {
        return false;
    };
    let closed = |m: &fs::Metadata| m.uid() == uid && m.mode() & 0o022 == 0;
    dir_metadata.is_dir() && closed(&dir_metadata) && closed(metadata)
}

#[cfg(not(unix))]
fn private(_path: &Path, _metadata: &fs::Metadata) -> bool {
    true
}

/// The owner of a file this process creates in `dir` (then removes).
#[cfg(unix)]
fn own_uid(dir: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let probe = dir.join(format!(
        ".owner.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let uid = create_private_file(&probe)
        .and_then(|file| file.metadata())
        .map(|m| m.uid())
        .ok();
    let _ = fs::remove_file(&probe);
    uid
}
