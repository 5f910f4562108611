//! verify-slsa with public-key attestors and a custom trusted root, on attestations made here
//! with real cryptography (RustCrypto P-256 ECDSA, keys derived from fixed bytes): an attestor
//! key signs a DSSE envelope holding an in-toto statement with SLSA v1 provenance, and a second
//! key, standing in for a private Rekor instance, logs it (a `dsse` 0.0.1 entry with its signed
//! entry timestamp, and for bundles v0.3 an inclusion proof with a signed checkpoint). That log's
//! key is the policy's `trustedRoot`. Every case runs in both builds (waPC and Gatekeeper), and
//! each answer is checked against the rule evaluated natively (`slsa::run`).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use custody_attestors::AttestationsConfigMap;
use custody_host_tests::slsa::{
    pod_request, run, Outcome, BUILDS, GITHUB_ISSUER, SOURCE_REPOSITORY,
};
use custody_sdk::settings::NamespaceName;
use custody_sdk::Digest;
use custody_sigstore::{self as sigstore, Artifact, Bundle, Policy, Timestamp, TrustedRoot};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

/// The private test log, shared with the SDK's Rekor tests.
use custody_test_support::test_log;
use test_log::{
    hex, inclusion_proof_by, signed_entry_timestamp_by, trusted_root_json, Key, LOG_INDEX, LOG_NAME,
};

const NAMESPACE: &str = "custody-attestations";
/// The image the provenance is for (its digest is made up: nothing is pulled).
const IMAGE_NAME: &str = "registry.example.test/acme/app";
const BUILDER_ID: &str = "https://ci.example.test/builders/release@v1";
/// Not GitHub's workflow build type: the source is read from the git resolved dependency.
const BUILD_TYPE: &str = "https://ci.example.test/build-types/container@v1";
const SOURCE_REF: &str = "refs/heads/main";
const IN_TOTO: &str = "application/vnd.in-toto+json";
const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
/// When the log says it integrated the entry: 2023-11-14T22:13:20Z.
const INTEGRATED_TIME: i64 = 1_700_000_000;

/// How verify-slsa names a key as an attestor.
fn label(key: &Key) -> String {
    format!("public key sha256:{}", &hex(&key.id())[..16])
}

fn attestor(key: &Key) -> Value {
    json!({"publicKey": key.pem})
}

/// The keys of every test: two attestors, the trusted log and a rogue one.
struct Keys {
    attestor: Key,
    other: Key,
    log: Key,
    rogue_log: Key,
}

fn keys() -> Keys {
    Keys {
        attestor: Key::new("attestor"),
        other: Key::new("another attestor"),
        log: Key::new("transparency log"),
        rogue_log: Key::new("rogue transparency log"),
    }
}

/// The SHA-256 of a made-up image manifest.
fn manifest_sha256() -> [u8; 32] {
    let manifest =
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#;
    Sha256::digest(manifest).into()
}

/// The image's digest.
fn digest() -> Digest {
    Digest::parse(&format!("sha256:{}", hex(&manifest_sha256()))).expect("a digest")
}

fn image() -> String {
    format!("{IMAGE_NAME}@{}", digest())
}

/// An in-toto statement v1 with SLSA v1 provenance for the image.
fn statement() -> Vec<u8> {
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": IMAGE_NAME, "digest": {"sha256": digest().encoded()}}],
        "predicateType": SLSA_V1,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"target": "release"},
                "resolvedDependencies": [{
                    "uri": format!("git+{SOURCE_REPOSITORY}@{SOURCE_REF}"),
                    "digest": {"gitCommit": "0123456789abcdef0123456789abcdef01234567"},
                }],
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID},
                "metadata": {"invocationId": "https://ci.example.test/runs/1"},
            },
        },
    })
    .to_string()
    .into_bytes()
}

#[derive(Clone, Copy)]
enum Version<'a> {
    /// v0.1: the log entry with its signed entry timestamp.
    V0_1,
    /// v0.3: also an inclusion proof, with a checkpoint signed by this key (in the log's name).
    V0_3 { checkpoint_signer: &'a Key },
}

impl std::fmt::Debug for Version<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Version::V0_1 => "v0.1",
            Version::V0_3 { .. } => "v0.3",
        })
    }
}

/// A Sigstore bundle: the statement in a DSSE envelope signed by `signer`, logged by `log` (its
/// ID) whose signed entry timestamp is `set_signer`'s signature.
fn bundle(signer: &Key, log: &Key, set_signer: &Key, version: Version<'_>) -> Value {
    let payload = statement();
    let (envelope, body) = test_log::dsse_envelope(signer, IN_TOTO, &payload);
    let mut entry = json!({
        "logIndex": LOG_INDEX.to_string(),
        "logId": {"keyId": B64.encode(log.id())},
        "kindVersion": {"kind": "dsse", "version": "0.0.1"},
        "integratedTime": INTEGRATED_TIME.to_string(),
        "inclusionPromise": {"signedEntryTimestamp": B64.encode(signed_entry_timestamp_by(log, set_signer, body.as_bytes(), INTEGRATED_TIME))},
        "canonicalizedBody": B64.encode(&body),
    });
    let media_type = match version {
        Version::V0_1 => "application/vnd.dev.sigstore.bundle+json;version=0.1",
        Version::V0_3 { checkpoint_signer } => {
            entry["inclusionProof"] = inclusion_proof_by(log, checkpoint_signer, body.as_bytes());
            "application/vnd.dev.sigstore.bundle.v0.3+json"
        }
    };
    json!({
        "mediaType": media_type,
        "verificationMaterial": {
            "publicKey": {"hint": B64.encode(signer.id())},
            "tlogEntries": [entry],
        },
        "dsseEnvelope": envelope,
    })
}

/// Settings for the image: these attestors (`count` of them, all when `None`), the provenance
/// conditions the statement meets, and `root` as `trustedRoot` (the embedded public-good root
/// when `None`).
fn settings(entries: &[Value], count: Option<usize>, root: Option<Value>) -> Value {
    let mut attestors = json!({"entries": entries});
    if let Some(count) = count {
        attestors["count"] = json!(count);
    }
    let mut settings = json!({
        "images": [{
            "patterns": [format!("{IMAGE_NAME}*")],
            "attestors": attestors,
            "predicateTypes": [SLSA_V1],
            "conditions": {
                "builderId": BUILDER_ID,
                "buildType": BUILD_TYPE,
                "sourceRepository": SOURCE_REPOSITORY,
                "sourceRefs": [SOURCE_REF],
            },
        }],
    });
    if let Some(root) = root {
        settings["trustedRoot"] = root;
    }
    settings
}

/// The attestations ConfigMap holding `bundles` as `att-<n>.sigstore.json`.
fn config_map(bundles: &[&Value]) -> Value {
    let data = bundles
        .iter()
        .enumerate()
        .map(|(n, b)| (format!("att-{n}.sigstore.json"), b.to_string()))
        .collect();
    let namespace = NamespaceName::new(NAMESPACE).expect("a namespace");
    let config_map =
        AttestationsConfigMap::new(&digest(), &namespace, &image(), data).expect("a ConfigMap");
    serde_json::to_value(config_map).expect("JSON")
}

fn pod() -> Value {
    pod_request(&[&image()], json!({}))
}

/// Where the n-th bundle of the ConfigMap is.
fn source(n: usize) -> String {
    format!(
        "ConfigMap {NAMESPACE}/{} key att-{n}.sigstore.json",
        digest().to_string().replace(':', "-")
    )
}

/// Runs `settings` on the pod with `bundles` in the ConfigMap, in both builds.
fn outcomes(settings: &Value, bundles: &[&Value]) -> Vec<Outcome> {
    let objects = [config_map(bundles)];
    BUILDS
        .into_iter()
        .map(|build| run(build, settings, &pod(), &objects, &[]))
        .collect()
}

/// The single violation line of a denial, checked to name the container, image and digest.
fn denial(outcome: &Outcome) -> String {
    assert!(!outcome.accepted, "{outcome:?}");
    assert_eq!(outcome.lines.len(), 1, "{outcome:?}");
    let line = outcome.lines[0].clone();
    let prefix = format!(
        "container \"c0\" (spec.containers[0]): image {:?} ({}): ",
        image(),
        digest()
    );
    assert!(line.starts_with(&prefix), "{line}");
    line
}

#[test]
fn a_key_signed_provenance_is_allowed_with_its_key_and_the_custom_root() {
    let k = keys();
    let settings = settings(
        &[attestor(&k.attestor)],
        None,
        Some(trusted_root_json(&k.log)),
    );
    let v0_3 = Version::V0_3 {
        checkpoint_signer: &k.log,
    };
    for version in [Version::V0_1, v0_3] {
        let b = bundle(&k.attestor, &k.log, &k.log, version);

        // The SDK's verifier alone: the time proven is the log's.
        let verified = sigstore::verify(
            &Bundle::from_json(b.to_string().as_bytes()).expect("a bundle"),
            Artifact::Sha256(manifest_sha256()),
            &Policy::key_from_pem(&k.attestor.pem).expect("a key"),
            &TrustedRoot::from_json(trusted_root_json(&k.log).to_string().as_bytes())
                .expect("a root"),
            Some(INTEGRATED_TIME + 60),
        )
        .expect("verified");
        assert_eq!(
            verified.signing_time,
            Some(Timestamp::from_unix(INTEGRATED_TIME))
        );
        assert_eq!(verified.identity, None);

        // In the ConfigMap.
        for (build, outcome) in BUILDS.into_iter().zip(outcomes(&settings, &[&b])) {
            assert!(outcome.accepted, "{version:?} {build:?}: {outcome:?}");
            assert_eq!(outcome.mutated, None);
        }
        // In the pod's annotation.
        let annotated = pod_request(
            &[&image()],
            json!({"custody.dev/attestations": json!([b]).to_string()}),
        );
        for build in BUILDS {
            let outcome = run(build, &settings, &annotated, &[], &[]);
            assert!(
                outcome.accepted,
                "{version:?} annotation {build:?}: {outcome:?}"
            );
        }
    }
}

#[test]
fn another_public_key_is_denied() {
    let k = keys();
    let settings = settings(&[attestor(&k.other)], None, Some(trusted_root_json(&k.log)));
    let b = bundle(&k.attestor, &k.log, &k.log, Version::V0_1);
    for outcome in outcomes(&settings, &[&b]) {
        let line = denial(&outcome);
        let want = format!(
            "no valid SLSA provenance; {}: {}: signature invalid: DSSE signature does not verify",
            label(&k.other),
            source(0)
        );
        assert!(line.ends_with(&want), "{line}\nwant {want}");
    }
}

#[test]
fn the_public_good_root_does_not_trust_the_private_log() {
    let k = keys();
    let settings = settings(&[attestor(&k.attestor)], None, None);
    let v0_3 = Version::V0_3 {
        checkpoint_signer: &k.log,
    };
    for version in [Version::V0_1, v0_3] {
        let b = bundle(&k.attestor, &k.log, &k.log, version);
        for outcome in outcomes(&settings, &[&b]) {
            let line = denial(&outcome);
            let want = format!(
                "signature invalid: tlog entry: log {} is not in the trusted root",
                B64.encode(k.log.id())
            );
            assert!(line.contains(&want), "{version:?}: {line}\nwant {want}");
            assert!(line.contains(&label(&k.attestor)), "{line}");
        }
    }
}

#[test]
fn a_log_entry_not_signed_by_the_trusted_log_is_denied() {
    let k = keys();
    let settings = settings(
        &[attestor(&k.attestor)],
        None,
        Some(trusted_root_json(&k.log)),
    );
    let cases = [
        // The trusted log's ID, another key's signed entry timestamp.
        (
            bundle(&k.attestor, &k.log, &k.rogue_log, Version::V0_1),
            "signature invalid: tlog entry: signed entry timestamp does not verify".to_owned(),
        ),
        // A whole other log.
        (
            bundle(&k.attestor, &k.rogue_log, &k.rogue_log, Version::V0_1),
            format!(
                "signature invalid: tlog entry: log {} is not in the trusted root",
                B64.encode(k.rogue_log.id())
            ),
        ),
        // The trusted log's signed entry timestamp, another key's checkpoint in its name.
        (
            bundle(
                &k.attestor,
                &k.log,
                &k.log,
                Version::V0_3 {
                    checkpoint_signer: &k.rogue_log,
                },
            ),
            format!("signature invalid: checkpoint: no valid signature by the log {LOG_NAME}"),
        ),
    ];
    for (b, want) in cases {
        for outcome in outcomes(&settings, &[&b]) {
            let line = denial(&outcome);
            assert!(line.ends_with(&want), "{line}\nwant {want}");
        }
    }
}

#[test]
fn n_of_m_key_attestors() {
    let k = keys();
    let root = Some(trusted_root_json(&k.log));
    let entries = [attestor(&k.attestor), attestor(&k.other)];
    let by_attestor = bundle(&k.attestor, &k.log, &k.log, Version::V0_1);
    let by_other = bundle(&k.other, &k.log, &k.log, Version::V0_1);

    // One signature: one of two is enough...
    for outcome in outcomes(&settings(&entries, Some(1), root.clone()), &[&by_attestor]) {
        assert!(outcome.accepted, "{outcome:?}");
    }
    // ... two of two (given, or by default) are not, and the one that did not vouch is named.
    for count in [Some(2), None] {
        let settings = settings(&entries, count, root.clone());
        for outcome in outcomes(&settings, &[&by_attestor]) {
            let line = denial(&outcome);
            let want = format!(
                "1 of the 2 attestors required vouched (2 configured); {}: {}: signature invalid: DSSE signature does not verify",
                label(&k.other),
                source(0)
            );
            assert!(
                line.ends_with(&want),
                "count {count:?}: {line}\nwant {want}"
            );
            assert!(!line.contains(&label(&k.attestor)), "{line}");
        }
    }
    // Two signatures, one by each: two of two.
    let settings = settings(&entries, Some(2), root);
    for outcome in outcomes(&settings, &[&by_attestor, &by_other]) {
        assert!(outcome.accepted, "{outcome:?}");
    }
}

#[test]
fn a_keyless_attestor_does_not_accept_a_key_signed_bundle() {
    let k = keys();
    let root = Some(trusted_root_json(&k.log));
    let keyless = json!({"keyless": {
        "issuer": GITHUB_ISSUER,
        "subject": "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
    }});
    let keyless_label = format!(
        "keyless subject exact \"https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main\" (issuer exact \"{GITHUB_ISSUER}\")"
    );
    let b = bundle(&k.attestor, &k.log, &k.log, Version::V0_1);
    let refused =
        "identity mismatch: bundle is signed with a key, but no key was given (identity policy)";

    // The keyless attestor alone.
    for outcome in outcomes(
        &settings(std::slice::from_ref(&keyless), None, root.clone()),
        &[&b],
    ) {
        let line = denial(&outcome);
        assert!(
            line.contains("no valid SLSA provenance; keyless subject"),
            "{line}"
        );
        assert!(
            line.ends_with(&format!("{}: {refused}", source(0))),
            "{line}"
        );
    }
    // Beside the key: the key is enough for one of two, not for two of two.
    let entries = [keyless, attestor(&k.attestor)];
    for outcome in outcomes(&settings(&entries, Some(1), root.clone()), &[&b]) {
        assert!(outcome.accepted, "{outcome:?}");
    }
    for outcome in outcomes(&settings(&entries, Some(2), root), &[&b]) {
        let line = denial(&outcome);
        assert!(
            line.contains("1 of the 2 attestors required vouched (2 configured); keyless subject"),
            "{line}"
        );
        assert!(line.contains(&keyless_label), "{line}");
        assert!(line.ends_with(refused), "{line}");
        assert!(!line.contains(&label(&k.attestor)), "{line}");
    }
}
