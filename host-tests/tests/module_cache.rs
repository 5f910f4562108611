//! The on-disk module cache (`custody_host::ModuleCache`, used by `custody check` and `eval`): a
//! module from the cache gives the same verdicts as a freshly compiled one, and an entry that is
//! corrupted, truncated, copied under another module's name or open to other users is refused and
//! replaced by a fresh compile; one module never gets another's entry.

use std::fs;
use std::path::{Path, PathBuf};

use custody_host::{
    CacheOutcome, Host, Limits, ModuleCache, NoCapabilities, PolicyInstance, PolicyModule,
};
use custody_host_tests::{fixtures, gatekeeper, module_path};
use sha2::{Digest, Sha256};

/// A fresh cache directory for one test.
fn cache_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("module-cache")
        .join(test);
    if dir.exists() {
        fs::remove_dir_all(&dir).expect("remove the old cache");
    }
    dir
}

fn cached_host(dir: &Path) -> Host {
    Host::new(Limits::default())
        .expect("host")
        .with_module_cache(ModuleCache::new(dir))
}

/// Loads `dist/<name>.wasm` through `host`, saying where it came from.
fn load(host: &Host, name: &str) -> (PolicyModule, CacheOutcome) {
    let module = PolicyModule::from_file(host, &module_path(name)).expect("load");
    let outcome = module.cache_outcome().expect("the host has a cache");
    (module, outcome)
}

/// The entry of `dist/<name>.wasm` in the cache at `dir`.
fn entry(host: &Host, dir: &Path, name: &str) -> PathBuf {
    let bytes = fs::read(module_path(name)).expect("module");
    let digest: [u8; 32] = Sha256::digest(&bytes).into();
    ModuleCache::new(dir).entry_path(host.engine(), &digest)
}

/// Every fixture of `policy` evaluated by `module` (waPC build): the verdicts, in order.
fn verdicts(host: &Host, module: &PolicyModule, policy: &str) -> Vec<String> {
    fixtures(policy)
        .into_iter()
        .filter(|f| f.expected.capabilities.is_none())
        .map(|fixture| {
            let mut instance =
                PolicyInstance::new(host, module, Box::new(fixture.capabilities())).expect("start");
            let answer = instance
                .validate(&fixture.request, &fixture.expected.settings)
                .expect("validate");
            format!("{}: {answer:?}", fixture.name)
        })
        .collect()
}

#[test]
fn a_cached_module_gives_the_same_verdicts() {
    let dir = cache_dir("same_verdicts");
    let host = cached_host(&dir);
    let uncached = Host::new(Limits::default()).expect("host");
    for policy in ["ban-latest", "require-digest"] {
        let (compiled, outcome) = load(&host, policy);
        assert_eq!(outcome, CacheOutcome::Compiled, "{policy}");
        assert!(entry(&host, &dir, policy).is_file(), "{policy}: no entry");
        let (cached, outcome) = load(&host, policy);
        assert_eq!(outcome, CacheOutcome::Hit, "{policy}");
        assert_eq!(cached.abi(), compiled.abi());
        assert_eq!(cached.metadata(), compiled.metadata());

        let reference = PolicyModule::from_file(&uncached, &module_path(policy)).expect("compile");
        assert_eq!(reference.cache_outcome(), None);
        let expected = verdicts(&uncached, &reference, policy);
        assert!(!expected.is_empty());
        assert_eq!(verdicts(&host, &cached, policy), expected, "{policy}");
    }
    // The Gatekeeper build too (an imported memory).
    let name = gatekeeper("ban-latest");
    assert_eq!(load(&host, &name).1, CacheOutcome::Compiled);
    let (cached, outcome) = load(&host, &name);
    assert_eq!(outcome, CacheOutcome::Hit);
    let fixture = fixtures("ban-latest")
        .into_iter()
        .find(|f| !f.expected.accepted && f.expected.capabilities.is_none())
        .expect("a denied fixture");
    let mut instance =
        PolicyInstance::new(&host, &cached, Box::new(NoCapabilities)).expect("start");
    let violations = instance
        .gatekeeper(&fixture.request, &fixture.expected.settings)
        .expect("gatekeeper");
    assert!(!violations.is_empty(), "{}", fixture.name);
}

/// Spoils ban-latest's entry with `spoil`, then checks that the next load refuses it, compiles,
/// gives the right verdicts, and writes a sound entry again.
fn refused_and_replaced(test: &str, spoil: impl FnOnce(&Host, &Path, &Path)) {
    let dir = cache_dir(test);
    let host = cached_host(&dir);
    let policy = "ban-latest";
    load(&host, policy);
    let path = entry(&host, &dir, policy);
    spoil(&host, &dir, &path);
    let (module, outcome) = load(&host, policy);
    assert_eq!(outcome, CacheOutcome::Replaced, "{test}");
    let uncached = Host::new(Limits::default()).expect("host");
    let reference = PolicyModule::from_file(&uncached, &module_path(policy)).expect("compile");
    assert_eq!(
        verdicts(&host, &module, policy),
        verdicts(&uncached, &reference, policy),
        "{test}"
    );
    assert_eq!(load(&host, policy).1, CacheOutcome::Hit, "{test}");
}

#[test]
fn a_corrupted_entry_is_recompiled() {
    refused_and_replaced("corrupted", |_, _, path| {
        let mut bytes = fs::read(path).expect("entry");
        let middle = bytes.len() / 2;
        if let Some(byte) = bytes.get_mut(middle) {
            *byte ^= 0x40;
        }
        fs::write(path, bytes).expect("write");
    });
}

#[test]
fn a_truncated_entry_is_recompiled() {
    refused_and_replaced("truncated", |_, _, path| {
        let bytes = fs::read(path).expect("entry");
        fs::write(path, bytes.get(..bytes.len() / 3).unwrap_or_default()).expect("write");
    });
    refused_and_replaced("empty", |_, _, path| {
        fs::write(path, b"").expect("write");
    });
}

#[test]
fn another_modules_entry_is_not_taken() {
    // require-digest's (sound) entry copied under ban-latest's name.
    refused_and_replaced("swapped", |host, dir, path| {
        load(host, "require-digest");
        let other = entry(host, dir, "require-digest");
        assert_ne!(&other, path, "two modules share an entry path");
        fs::copy(&other, path).expect("copy");
    });
    // An entry of another engine configuration (fuel metering on) is in another directory.
    let dir = cache_dir("engines");
    let host = cached_host(&dir);
    let metered = Host::new(Limits {
        fuel: Some(1_000_000),
        ..Limits::default()
    })
    .expect("host")
    .with_module_cache(ModuleCache::new(&dir));
    assert_eq!(load(&host, "ban-latest").1, CacheOutcome::Compiled);
    assert_eq!(load(&metered, "ban-latest").1, CacheOutcome::Compiled);
    assert_ne!(
        entry(&host, &dir, "ban-latest"),
        entry(&metered, &dir, "ban-latest")
    );
    assert_eq!(load(&metered, "ban-latest").1, CacheOutcome::Hit);
    // And a module never hits another module's entry.
    assert_eq!(load(&host, "require-digest").1, CacheOutcome::Compiled);
}

#[cfg(unix)]
#[test]
fn an_entry_others_may_write_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    refused_and_replaced("writable", |_, _, path| {
        fs::set_permissions(path, fs::Permissions::from_mode(0o666)).expect("chmod");
    });
    // A directory others may write: its entries are never used.
    let dir = cache_dir("writable_dir");
    let host = cached_host(&dir);
    load(&host, "ban-latest");
    let path = entry(&host, &dir, "ban-latest");
    let engine_dir = path.parent().expect("entry directory");
    fs::set_permissions(engine_dir, fs::Permissions::from_mode(0o777)).expect("chmod");
    assert_eq!(load(&host, "ban-latest").1, CacheOutcome::Replaced);
    assert_eq!(load(&host, "ban-latest").1, CacheOutcome::Replaced);
}
