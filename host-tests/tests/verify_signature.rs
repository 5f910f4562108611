//! verify-signature end to end, in both builds, with the signatures verified inside the module
//! (`source: cluster`):
//! - images in a real registry (Debian's `docker-registry` on 127.0.0.1), signed in cosign's
//!   `sha256-<hex>.sig` layout by Python's `cryptography` (`host-tests/tools/cosign_sign.py`), the
//!   signatures read back and filed as the attestations ConfigMap;
//! - the real cosign signatures of 2021 in `../shared/testdata/cosign-signatures` (keyless, with a
//!   Fulcio certificate and a Rekor entry; and key-based), from the pod annotation, each of their
//!   fields altered in turn.
//!
//! Each wasm answer is checked against the rule evaluated natively (`slsa::run_policy`).

use std::collections::BTreeMap;

use base64::Engine as _;
use custody_attestors::AttestationsConfigMap;
use custody_host::NoCapabilities;
use custody_host_tests::cosign::{
    fetch_signatures, generate_key, sign_and_push, CosignKey, KeyKind, SignatureLayer, Tamper,
};
use custody_host_tests::real_signatures::{fulcio_2021_ca, real};
use custody_host_tests::registry::Registry;
use custody_host_tests::slsa::{pod_request, run_policy, Build, Outcome, BUILDS};
use custody_registry::{Options, RegistryCapabilities};
use custody_sdk::settings::NamespaceName;
use custody_sdk::Digest;
use custody_sigstore::cosign::signature_bundle;
use serde_json::{json, Value};

const POLICY: &str = "verify-signature";
const NAMESPACE: &str = "custody-attestations";

fn run(build: Build, settings: &Value, request: &Value, objects: &[Value]) -> Outcome {
    run_policy(POLICY, build, settings, request, objects, &|| {
        Box::new(NoCapabilities)
    })
}

/// Settings: images under `pattern` need `count` (all when `None`) of `attestors`, verified in
/// the module, with `annotations`.
fn settings(
    pattern: &str,
    attestors: Vec<Value>,
    count: Option<usize>,
    annotations: Value,
) -> Value {
    let mut entries = json!({ "entries": attestors });
    if let Some(n) = count {
        entries["count"] = json!(n);
    }
    json!({"images": [{
        "patterns": [pattern],
        "source": "cluster",
        "attestors": entries,
        "annotations": annotations,
    }]})
}

/// Our host's `oci` capabilities from the real registries (verify-signature's host mode, and tags
/// resolved in cluster mode).
fn registry_host() -> Box<dyn custody_host::Capabilities> {
    Box::new(RegistryCapabilities::new(
        Options::default(),
        None,
        Box::new(NoCapabilities),
    ))
}

fn key(k: &CosignKey) -> Value {
    json!({"publicKey": k.public_pem, "requireRekorBundle": false})
}

/// The signatures of `digest` in `repo`, read back from the registry, as the ConfigMap
/// `custody attestations export` makes (one bundle per `.sig` layer).
fn config_map(registry: &Registry, repo: &str, digest: &str) -> Value {
    let fetched = fetch_signatures(registry, repo, digest).expect("a signature manifest");
    let mut data = BTreeMap::new();
    for (i, layer) in fetched.layers.iter().enumerate() {
        let annotations: BTreeMap<String, String> =
            serde_json::from_value(layer.descriptor["annotations"].clone()).expect("annotations");
        let bundle = signature_bundle(&layer.payload, &annotations).expect("a bundle");
        data.insert(format!("sig-{i}.sigstore.json"), bundle.to_string());
    }
    let cm = AttestationsConfigMap::new(
        &Digest::parse(digest).expect("digest"),
        &NamespaceName::new(NAMESPACE).expect("namespace"),
        &format!("{}/{repo}@{digest}", registry.host()),
        data,
    )
    .expect("config map");
    serde_json::to_value(cm).expect("json")
}

/// Runs both builds; both must agree on the verdict, and a denial must have one line containing
/// `reason`.
fn expect(settings: &Value, image: &str, objects: &[Value], allowed: bool, reason: &str) {
    let request = pod_request(&[image], json!({}));
    for build in BUILDS {
        let outcome = run(build, settings, &request, objects);
        assert_eq!(
            outcome.accepted, allowed,
            "{build:?} {image}: {outcome:#?}\nsettings {settings}"
        );
        if !allowed {
            assert_eq!(outcome.lines.len(), 1, "{build:?}: {outcome:#?}");
            let line = &outcome.lines[0];
            assert!(
                line.starts_with(&format!(
                    "container \"c0\" (spec.containers[0]): image {image:?}"
                )),
                "{line}"
            );
            assert!(
                line.contains(reason),
                "{build:?}: {line:?} does not say {reason:?}"
            );
        }
        assert_eq!(outcome.mutated, None, "a pinned image is not mutated");
    }
}

#[test]
fn signatures_by_every_key_type_are_verified_in_the_module() {
    let registry = Registry::start();
    let repo = "acme/app";
    let keys: Vec<CosignKey> = KeyKind::ALL.into_iter().map(generate_key).collect();
    let other = generate_key(KeyKind::P256);
    let reference = format!("{}/{repo}", registry.host());

    // One image signed by every key type (four layers).
    let digest = registry.push_test_image(repo, "1.0", "every key");
    let layers: Vec<SignatureLayer> = keys
        .iter()
        .map(|k| SignatureLayer::new(k, &reference))
        .collect();
    sign_and_push(&registry, repo, &digest, &layers);
    let objects = [config_map(&registry, repo, &digest)];
    let image = format!("{reference}@{digest}");
    let pattern = format!("{reference}*");
    for k in &keys {
        expect(
            &settings(&pattern, vec![key(k)], None, json!({})),
            &image,
            &objects,
            true,
            "",
        );
    }
    // All four required: all four signed.
    let all: Vec<Value> = keys.iter().map(key).collect();
    expect(
        &settings(&pattern, all, None, json!({})),
        &image,
        &objects,
        true,
        "",
    );
    // Another key.
    expect(
        &settings(&pattern, vec![key(&other)], None, json!({})),
        &image,
        &objects,
        false,
        "signature invalid: message signature does not verify",
    );
    // A key attestor requiring a Rekor entry (the default): these were signed without a log.
    let logged = json!({"publicKey": keys[0].public_pem});
    expect(
        &settings(&pattern, vec![logged], None, json!({})),
        &image,
        &objects,
        false,
        "transparency log",
    );

    // Unsigned: nothing in the cluster for its digest.
    let unsigned = registry.push_test_image(repo, "2.0", "unsigned");
    expect(
        &settings(&pattern, vec![key(&keys[0])], None, json!({})),
        &format!("{reference}@{unsigned}"),
        &objects,
        false,
        "no signature found",
    );
}

#[test]
fn tampering_other_digests_annotations_and_n_of_m() {
    let registry = Registry::start();
    let repo = "acme/app";
    let reference = format!("{}/{repo}", registry.host());
    let pattern = format!("{reference}*");
    let k1 = generate_key(KeyKind::P256);
    let k2 = generate_key(KeyKind::Ed25519);
    let one = |k: &CosignKey| settings(&pattern, vec![key(k)], None, json!({}));

    // The payload or the signature altered after signing.
    for (tamper, n) in [(Tamper::Payload, "1"), (Tamper::Signature, "2")] {
        let digest = registry.push_test_image(repo, n, &format!("tampered {n}"));
        sign_and_push(
            &registry,
            repo,
            &digest,
            &[SignatureLayer::new(&k1, &reference).tamper(tamper)],
        );
        let objects = [config_map(&registry, repo, &digest)];
        expect(
            &one(&k1),
            &format!("{reference}@{digest}"),
            &objects,
            false,
            "signature invalid",
        );
    }

    // A valid signature of another image, filed under this one's digest.
    let signed = registry.push_test_image(repo, "signed", "signed");
    let copy = registry.push_test_image(repo, "copy", "copy");
    sign_and_push(
        &registry,
        repo,
        &copy,
        &[SignatureLayer::new(&k1, &reference).digest(&signed)],
    );
    let objects = [config_map(&registry, repo, &copy)];
    expect(
        &one(&k1),
        &format!("{reference}@{copy}"),
        &objects,
        false,
        &format!("the signature is for {signed}, not this image"),
    );

    // Annotations: required ones must be in the payload with the same value.
    let annotated = registry.push_test_image(repo, "annotated", "annotated");
    sign_and_push(
        &registry,
        repo,
        &annotated,
        &[SignatureLayer::new(&k1, &reference).annotations(json!({"env": "dev", "team": "a"}))],
    );
    let objects = [config_map(&registry, repo, &annotated)];
    let image = format!("{reference}@{annotated}");
    let with = |a: Value| settings(&pattern, vec![key(&k1)], None, a);
    expect(&with(json!({"env": "dev"})), &image, &objects, true, "");
    expect(
        &with(json!({"env": "dev", "team": "a"})),
        &image,
        &objects,
        true,
        "",
    );
    expect(
        &with(json!({"env": "prod"})),
        &image,
        &objects,
        false,
        "annotation \"env\" is \"dev\", not \"prod\"",
    );
    expect(
        &with(json!({"owner": "me"})),
        &image,
        &objects,
        false,
        "annotation \"owner\" is missing",
    );

    // N of M: signed by k1 only.
    let both = vec![key(&k1), key(&k2)];
    expect(
        &settings(&pattern, both.clone(), Some(1), json!({})),
        &image,
        &objects,
        true,
        "",
    );
    expect(
        &settings(&pattern, both.clone(), None, json!({})),
        &image,
        &objects,
        false,
        "1 of the 2 attestors required vouched (2 configured)",
    );
    // Signed by both: 2 of 2.
    let twice = registry.push_test_image(repo, "twice", "twice");
    sign_and_push(
        &registry,
        repo,
        &twice,
        &[
            SignatureLayer::new(&k1, &reference),
            SignatureLayer::new(&k2, &reference),
        ],
    );
    let objects = [config_map(&registry, repo, &twice)];
    expect(
        &settings(&pattern, both, None, json!({})),
        &format!("{reference}@{twice}"),
        &objects,
        true,
        "",
    );
}

fn verdict(settings: &Value, request: &Value) -> Vec<Outcome> {
    BUILDS
        .into_iter()
        .map(|b| run(b, settings, request, &[]))
        .collect()
}

fn assert_denied(outcomes: &[Outcome], reason: &str, what: &str) {
    for o in outcomes {
        assert!(!o.accepted, "{what}: {o:#?}");
        assert!(
            o.lines.iter().any(|l| l.contains(reason)),
            "{what}: {:?} does not say {reason:?}",
            o.lines
        );
    }
}

#[test]
fn the_real_keyless_signature_of_2021() {
    let r = real("keyless-2021");
    let cert = r.annotations["dev.sigstore.cosign/certificate"].clone();
    let pattern = "registry-testing.svc.lan/*";
    let certificate = |require: bool| {
        settings(
            pattern,
            vec![json!({
                "certificate": {"certificate": cert, "certificateChain": [fulcio_2021_ca()]},
                "requireRekorBundle": require,
            })],
            None,
            json!({}),
        )
    };
    let good = r.request(&r.payload, &r.annotations);
    for o in verdict(&certificate(true), &good) {
        assert!(o.accepted, "{o:#?}");
    }
    // An identity names its issuer, and this certificate has none (Fulcio wrote none in 2021).
    let keyless = settings(
        pattern,
        vec![
            json!({"keyless": {"issuer": "https://accounts.google.com", "subject": "flavio@castelli.me"}}),
        ],
        None,
        json!({}),
    );
    assert_denied(
        &verdict(&keyless, &good),
        "no OIDC issuer extension",
        "keyless",
    );
    let github = settings(
        pattern,
        vec![json!({"githubActions": {"owner": "flavio"}})],
        None,
        json!({}),
    );
    assert_denied(
        &verdict(&github, &good),
        "identity mismatch",
        "githubActions",
    );

    // Every field altered in turn is denied.
    let payload = altered_reference(&r.payload);
    assert_denied(
        &verdict(&certificate(true), &r.request(&payload, &r.annotations)),
        "signature invalid",
        "payload",
    );
    let sig_key = "dev.cosignproject.cosign/signature";
    let altered = |key: &str, value: String| {
        let mut a = r.annotations.clone();
        a.insert(key.to_owned(), value);
        r.request(&r.payload, &a)
    };
    let flip_b64 = |text: &str, at: usize| {
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .expect("base64");
        let i = at.min(bytes.len() - 1);
        bytes[i] ^= 1;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    assert_denied(
        &verdict(
            &certificate(true),
            &altered(sig_key, flip_b64(&r.annotations[sig_key], 40)),
        ),
        "signature invalid",
        "signature",
    );
    // The certificate: one bit of its signature (the last bytes), or another certificate.
    let cert_der = pem_body(&cert);
    let broken_cert = to_pem(&flip(&cert_der, cert_der.len() - 5));
    assert!(
        !verdict(
            &certificate(true),
            &altered("dev.sigstore.cosign/certificate", broken_cert)
        )
        .iter()
        .any(|o| o.accepted),
        "certificate"
    );
    let rekor: Value =
        serde_json::from_str(&r.annotations["dev.sigstore.cosign/bundle"]).expect("rekor bundle");
    let cases: [(&str, Value); 5] = [
        (
            "/SignedEntryTimestamp",
            json!(flip_b64(
                rekor["SignedEntryTimestamp"].as_str().expect("set"),
                30
            )),
        ),
        (
            "/Payload/body",
            json!(flip_b64(
                rekor["Payload"]["body"].as_str().expect("body"),
                100
            )),
        ),
        (
            "/Payload/integratedTime",
            json!(rekor["Payload"]["integratedTime"].as_i64().expect("time") + 1),
        ),
        (
            "/Payload/logIndex",
            json!(rekor["Payload"]["logIndex"].as_i64().expect("index") + 1),
        ),
        (
            "/Payload/logID",
            json!(format!(
                "00{}",
                &rekor["Payload"]["logID"].as_str().expect("id")[2..]
            )),
        ),
    ];
    for (pointer, value) in cases {
        let mut changed = rekor.clone();
        *changed.pointer_mut(pointer).expect(pointer) = value;
        let outcomes = verdict(
            &certificate(true),
            &altered("dev.sigstore.cosign/bundle", changed.to_string()),
        );
        for o in &outcomes {
            assert!(!o.accepted, "{pointer}: {o:#?}");
        }
    }
    // Without its Rekor entry: denied when one is required; without the requirement, the
    // certificate must be valid now, and it expired in 2021 (the Gatekeeper build has no clock
    // to tell: denied too).
    let mut bare = r.annotations.clone();
    bare.remove("dev.sigstore.cosign/bundle");
    let request = r.request(&r.payload, &bare);
    assert_denied(
        &verdict(&certificate(true), &request),
        "transparency log",
        "no log entry",
    );
    for o in verdict(&certificate(false), &request) {
        assert!(
            !o.accepted,
            "an expired certificate without a log entry: {o:#?}"
        );
    }
}

#[test]
fn the_real_key_signature_of_2021() {
    let r = real("key-2021");
    let dir = custody_host_tests::repo_root().join("../shared/testdata/cosign-signatures/key-2021");
    let pem = std::fs::read_to_string(dir.join("pub.pem")).expect("pub.pem");
    let pattern = "registry-testing.svc.lan/*";
    let with = |require: Option<bool>| {
        let mut attestor = json!({"publicKey": pem});
        if let Some(r) = require {
            attestor["requireRekorBundle"] = json!(r);
        }
        settings(pattern, vec![attestor], None, json!({}))
    };
    let good = r.request(&r.payload, &r.annotations);
    for o in verdict(&with(Some(false)), &good) {
        assert!(o.accepted, "{o:#?}");
    }
    // It was signed without a transparency log: the default requires one.
    assert_denied(&verdict(&with(None), &good), "transparency log", "default");
    // Altered payload, altered signature, another image's digest in the payload.
    let payload = altered_reference(&r.payload);
    assert_denied(
        &verdict(&with(Some(false)), &r.request(&payload, &r.annotations)),
        "signature invalid",
        "payload",
    );
    let mut a = r.annotations.clone();
    let sig = a
        .get_mut("dev.cosignproject.cosign/signature")
        .expect("signature");
    let mut bytes = base64::engine::general_purpose::STANDARD
        .decode(&*sig)
        .expect("b64");
    bytes[30] ^= 1;
    *sig = base64::engine::general_purpose::STANDARD.encode(bytes);
    assert_denied(
        &verdict(&with(Some(false)), &r.request(&r.payload, &a)),
        "signature invalid",
        "signature",
    );
}

fn pem_body(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("pem base64")
}

fn to_pem(der: &[u8]) -> String {
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<String> = text
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at] ^= 1;
    b
}

/// The payload with one letter of its docker reference changed: still JSON naming the same
/// digest, so only the signature can tell.
fn altered_reference(payload: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(payload.to_vec()).expect("utf-8");
    let altered = text.replacen("svc.lan", "svc.lam", 1);
    assert_ne!(altered, text);
    altered.into_bytes()
}

/// `source: host` (the Kubewarden build's default): one `oci/v2/verify` call per attestor,
/// answered by our host's registry backend (`custody-registry`) from the real registry, the
/// verified digest pinned. The Gatekeeper build has no host: it denies the tag (fail closed).
#[test]
fn host_mode_against_a_real_registry() {
    let registry = Registry::start();
    let repo = "acme/app";
    let reference = format!("{}/{repo}", registry.host());
    let pattern = format!("{reference}*");
    let keys: Vec<CosignKey> = KeyKind::ALL.into_iter().map(generate_key).collect();
    let other = generate_key(KeyKind::P256);
    let host_settings = |attestors: Vec<Value>, count: Option<usize>, annotations: Value| {
        let mut s = settings(&pattern, attestors, count, annotations);
        s["images"][0]
            .as_object_mut()
            .expect("entry")
            .remove("source");
        s
    };
    let run_both = |settings: &Value, tag: &str| -> (Outcome, Outcome) {
        let image = format!("{reference}:{tag}");
        let request = pod_request(&[&image], json!({}));
        let wapc = run_policy(POLICY, Build::Wapc, settings, &request, &[], &registry_host);
        let gk = run_policy(
            POLICY,
            Build::Gatekeeper,
            settings,
            &request,
            &[],
            &registry_host,
        );
        assert!(
            !gk.accepted,
            "the Gatekeeper build cannot resolve a tag: {gk:#?}"
        );
        assert!(
            gk.lines.iter().all(|l| l.contains("could not be resolved")),
            "{gk:#?}"
        );
        (wapc, gk)
    };
    let allowed_and_pinned = |settings: &Value, tag: &str, digest: &str| {
        let (wapc, _) = run_both(settings, tag);
        assert!(wapc.accepted, "{tag}: {wapc:#?}\nsettings {settings}");
        let pinned = wapc.mutated.as_ref().expect("the tag pinned")["spec"]["containers"][0]
            ["image"]
            .clone();
        assert_eq!(pinned, json!(format!("{reference}:{tag}@{digest}")));
    };
    let denied = |settings: &Value, tag: &str, reason: &str| {
        let (wapc, _) = run_both(settings, tag);
        assert!(!wapc.accepted, "{tag}: {wapc:#?}");
        assert_eq!(wapc.lines.len(), 1, "{wapc:#?}");
        assert!(
            wapc.lines[0].contains(reason),
            "{:?} does not say {reason:?}",
            wapc.lines[0]
        );
    };

    // Signed by every key type: each key alone, and all four (all of).
    let digest = registry.push_test_image(repo, "1.0", "every key");
    let layers: Vec<SignatureLayer> = keys
        .iter()
        .map(|k| SignatureLayer::new(k, &reference))
        .collect();
    sign_and_push(&registry, repo, &digest, &layers);
    for k in &keys {
        allowed_and_pinned(
            &host_settings(vec![key(k)], None, json!({})),
            "1.0",
            &digest,
        );
    }
    allowed_and_pinned(
        &host_settings(keys.iter().map(key).collect(), None, json!({})),
        "1.0",
        &digest,
    );
    // Another key; 1 of 2 and 2 of 2.
    denied(
        &host_settings(vec![key(&other)], None, json!({})),
        "1.0",
        "no valid signature (verified by the host)",
    );
    let pair = vec![key(&keys[0]), key(&other)];
    allowed_and_pinned(
        &host_settings(pair.clone(), Some(1), json!({})),
        "1.0",
        &digest,
    );
    denied(
        &host_settings(pair, None, json!({})),
        "1.0",
        "1 of the 2 attestors required vouched",
    );

    // Unsigned; tampered; a signature made for another digest.
    registry.push_test_image(repo, "unsigned", "unsigned");
    denied(
        &host_settings(vec![key(&keys[0])], None, json!({})),
        "unsigned",
        "no valid signature",
    );
    let tampered = registry.push_test_image(repo, "tampered", "tampered");
    sign_and_push(
        &registry,
        repo,
        &tampered,
        &[SignatureLayer::new(&keys[0], &reference).tamper(Tamper::Payload)],
    );
    denied(
        &host_settings(vec![key(&keys[0])], None, json!({})),
        "tampered",
        "no valid signature",
    );
    let copy = registry.push_test_image(repo, "copy", "copy");
    sign_and_push(
        &registry,
        repo,
        &copy,
        &[SignatureLayer::new(&keys[0], &reference).digest(&digest)],
    );
    denied(
        &host_settings(vec![key(&keys[0])], None, json!({})),
        "copy",
        "no valid signature",
    );

    // Annotations.
    let annotated = registry.push_test_image(repo, "annotated", "annotated");
    sign_and_push(
        &registry,
        repo,
        &annotated,
        &[SignatureLayer::new(&keys[0], &reference).annotations(json!({"env": "dev"}))],
    );
    allowed_and_pinned(
        &host_settings(vec![key(&keys[0])], None, json!({"env": "dev"})),
        "annotated",
        &annotated,
    );
    denied(
        &host_settings(vec![key(&keys[0])], None, json!({"env": "prod"})),
        "annotated",
        "no valid signature",
    );

    // A tag moved to another image after signing: the new image is what is checked.
    let signed = registry.push_test_image(repo, "moving", "first");
    sign_and_push(
        &registry,
        repo,
        &signed,
        &[SignatureLayer::new(&keys[0], &reference)],
    );
    allowed_and_pinned(
        &host_settings(vec![key(&keys[0])], None, json!({})),
        "moving",
        &signed,
    );
    let moved = registry.push_test_image(repo, "moving", "second");
    assert_ne!(moved, signed);
    denied(
        &host_settings(vec![key(&keys[0])], None, json!({})),
        "moving",
        "no valid signature",
    );

    // `mutate: false`: allowed, not pinned.
    let mut no_mutation = host_settings(vec![key(&keys[0])], None, json!({}));
    no_mutation["images"][0]["mutate"] = json!(false);
    let (wapc, _) = run_both(&no_mutation, "1.0");
    assert!(wapc.accepted && wapc.mutated.is_none(), "{wapc:#?}");
}

/// cosign v3's image signatures: a Sigstore bundle holding a DSSE in-toto statement of predicate
/// type `https://sigstore.dev/cosign/sign/v1` whose subject is the image's digest, made here with
/// real P-256 keys and logged by the private test log (the policy's `trustedRoot`), filed in the
/// cluster as OCI 1.1 referrers are by `custody attestations export`.
#[test]
fn cosign_v3_signature_bundles() {
    use custody_test_support::test_log::{dsse_bundle, trusted_root_json, Key};
    let signer = Key::new("cosign v3 signer");
    let other = Key::new("someone else");
    let log = Key::new("cosign v3 log");
    let image_name = "registry.example.test/acme/app";
    let manifest = custody_sigstore::sha256(b"a cosign v3 signed image");
    let digest = format!("sha256:{}", custody_sigstore::hex(&manifest));
    let image = format!("{image_name}@{digest}");
    let statement = |predicate_type: &str, subject: &str| {
        json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": image_name, "digest": {"sha256": subject}}],
            "predicateType": predicate_type,
            "predicate": {},
        })
        .to_string()
        .into_bytes()
    };
    let sign = custody_sigstore::cosign::COSIGN_SIGN_PREDICATE;
    let hex = &digest["sha256:".len()..];
    let objects = |bundles: &[Value]| {
        let data = bundles
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("referrer-{i:016x}.sigstore.json"), b.to_string()))
            .collect();
        let cm = AttestationsConfigMap::new(
            &Digest::parse(&digest).expect("digest"),
            &NamespaceName::new(NAMESPACE).expect("namespace"),
            &image,
            data,
        )
        .expect("config map");
        [serde_json::to_value(cm).expect("json")]
    };
    let with_root = |attestor: &Key, annotations: Value| {
        let mut s = settings(
            &format!("{image_name}*"),
            vec![json!({"publicKey": attestor.pem})],
            None,
            annotations,
        );
        s["trustedRoot"] = trusted_root_json(&log);
        s
    };
    let good = dsse_bundle(&signer, &log, &statement(sign, hex), 1_700_000_000);
    expect(
        &with_root(&signer, json!({})),
        &image,
        &objects(std::slice::from_ref(&good)),
        true,
        "",
    );
    expect(
        &with_root(&other, json!({})),
        &image,
        &objects(std::slice::from_ref(&good)),
        false,
        "signature invalid: DSSE signature does not verify",
    );
    // Annotations are not recorded where custody can read them in v3 bundles: fail closed.
    expect(
        &with_root(&signer, json!({"env": "prod"})),
        &image,
        &objects(&[good]),
        false,
        "records no annotations",
    );
    // A statement naming another image, and an attestation that is not a signature.
    let elsewhere = dsse_bundle(
        &signer,
        &log,
        &statement(sign, &"0".repeat(64)),
        1_700_000_000,
    );
    expect(
        &with_root(&signer, json!({})),
        &image,
        &objects(&[elsewhere]),
        false,
        "the artifact is not a subject",
    );
    let provenance = dsse_bundle(
        &signer,
        &log,
        &statement("https://slsa.dev/provenance/v1", hex),
        1_700_000_000,
    );
    expect(
        &with_root(&signer, json!({})),
        &image,
        &objects(&[provenance]),
        false,
        "no signature found (1 attestations, no signature)",
    );
}

/// `source: cluster` with a tag: the Kubewarden build resolves it through the host (our registry
/// backend, from the real registry), verifies the signatures filed for that digest, and pins the
/// image to it; once the tag is moved to an unsigned image, that image is what is checked. The
/// Gatekeeper build cannot resolve a tag: denied.
#[test]
fn cluster_mode_resolves_and_pins_tags() {
    let registry = Registry::start();
    let repo = "acme/app";
    let reference = format!("{}/{repo}", registry.host());
    let k = generate_key(KeyKind::P384);
    let signed = registry.push_test_image(repo, "stable", "first");
    sign_and_push(
        &registry,
        repo,
        &signed,
        &[SignatureLayer::new(&k, &reference)],
    );
    let objects = [config_map(&registry, repo, &signed)];
    let settings = settings(&format!("{reference}*"), vec![key(&k)], None, json!({}));
    let image = format!("{reference}:stable");
    let request = pod_request(&[&image], json!({}));
    let wapc = run_policy(
        POLICY,
        Build::Wapc,
        &settings,
        &request,
        &objects,
        &registry_host,
    );
    assert!(wapc.accepted, "{wapc:#?}");
    assert_eq!(
        wapc.mutated.as_ref().expect("pinned")["spec"]["containers"][0]["image"],
        json!(format!("{image}@{signed}"))
    );
    let gk = run_policy(
        POLICY,
        Build::Gatekeeper,
        &settings,
        &request,
        &objects,
        &registry_host,
    );
    assert!(!gk.accepted, "{gk:#?}");
    assert!(
        gk.lines[0].contains("its tag could not be resolved"),
        "{gk:#?}"
    );

    let moved = registry.push_test_image(repo, "stable", "second");
    let wapc = run_policy(
        POLICY,
        Build::Wapc,
        &settings,
        &request,
        &objects,
        &registry_host,
    );
    assert!(!wapc.accepted, "{wapc:#?}");
    assert!(
        wapc.lines[0].contains(&format!("({moved}): no signature found")),
        "{wapc:#?}"
    );
}

/// What the pod annotation may hold that is not a signature: each is denied with its reason in
/// both builds, never allowed and never a trap.
#[test]
fn hostile_signature_sources_are_denied() {
    let r = real("key-2021");
    let pem = std::fs::read_to_string(
        custody_host_tests::repo_root()
            .join("../shared/testdata/cosign-signatures/key-2021/pub.pem"),
    )
    .expect("pub.pem");
    let settings = settings(
        "registry-testing.svc.lan/*",
        vec![json!({"publicKey": pem, "requireRekorBundle": false})],
        None,
        json!({}),
    );
    let good = signature_bundle(&r.payload, &r.annotations).expect("a bundle");
    let mut without_message = good.clone();
    without_message["messageSignature"]
        .as_object_mut()
        .expect("messageSignature")
        .remove("message");
    let mut wrong_message = good.clone();
    wrong_message["messageSignature"]["message"] = json!("e30=");
    let mut not_signing = r.payload.clone();
    not_signing.splice(0..1, b"[".iter().copied());
    let huge = "x".repeat(2 << 20);
    let cases: Vec<(String, &str)> = vec![
        ("not json".to_owned(), "not JSON"),
        ("42".to_owned(), "not a JSON list of Sigstore bundles"),
        (json!([without_message]).to_string(), "without its message"),
        (json!([wrong_message]).to_string(), "malformed"),
        (
            json!([{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}]).to_string(),
            "unreadable bundle",
        ),
        (json!([huge]).to_string(), "unreadable bundle"),
    ];
    for (annotation, reason) in cases {
        let request = pod_request(
            &[&r.image],
            json!({ "custody.dev/attestations": annotation }),
        );
        for build in BUILDS {
            let outcome = run(build, &settings, &request, &[]);
            assert!(!outcome.accepted, "{build:?} {reason}: {outcome:#?}");
            assert!(
                outcome.lines.iter().any(|l| l.contains(reason)),
                "{build:?}: {:?} does not say {reason:?}",
                outcome.lines
            );
        }
    }
    // A payload that is not a simple-signing document, signed: refused after its signature
    // would be checked, as malformed.
    let bundle = signature_bundle(&not_signing, &r.annotations).expect("a bundle");
    let request = pod_request(
        &[&r.image],
        json!({ "custody.dev/attestations": json!([bundle]).to_string() }),
    );
    for build in BUILDS {
        let outcome = run(build, &settings, &request, &[]);
        assert!(!outcome.accepted, "{build:?}: {outcome:#?}");
    }
}
