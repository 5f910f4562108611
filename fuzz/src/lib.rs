//! What the fuzz targets share: the three policies behind one interface, the two ABIs' answers
//! compared, a Pod request around given images, and the fixed verification context of the Sigstore
//! targets. Panics are the point here: a failed property is a crash the fuzzer reports.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use custody_sdk::policy::{self, GatekeeperResult, SettingsValidation, ValidationResponse};
use custody_sdk::{NoHost, Rule};
use custody_sigstore::{self as sigstore, Artifact, Bundle, Content, Matcher, Policy, TrustedRoot};
use serde_json::{json, Value};

/// One policy, monomorphised: every entry point a target drives.
#[derive(Clone, Copy)]
pub struct PolicyUnderTest {
    pub name: &'static str,
    pub validate: fn(&[u8]) -> ValidationResponse,
    pub validate_json: fn(&[u8]) -> Vec<u8>,
    pub validate_settings: fn(&[u8]) -> SettingsValidation,
    pub validate_settings_json: fn(&[u8]) -> Vec<u8>,
    pub gatekeeper: fn(&[u8]) -> Vec<policy::GatekeeperViolation>,
    pub gatekeeper_json: fn(&[u8]) -> Vec<u8>,
}

const fn policy_under_test<R: Rule>(name: &'static str) -> PolicyUnderTest {
    PolicyUnderTest {
        name,
        validate: |payload| policy::validate::<R>(payload, &mut NoHost),
        validate_json: |payload| policy::validate_json::<R>(payload, &mut NoHost),
        validate_settings: policy::validate_settings::<R>,
        validate_settings_json: policy::validate_settings_json::<R>,
        gatekeeper: |input| policy::gatekeeper::<R>(input, &mut NoHost),
        gatekeeper_json: |input| policy::gatekeeper_json::<R>(input, &mut NoHost),
    }
}

/// ban-latest, require-digest and verify-slsa, each with [`NoHost`] (every host call fails).
pub const POLICIES: [PolicyUnderTest; 3] = [
    policy_under_test::<ban_latest::BanLatest>("ban-latest"),
    policy_under_test::<require_digest::RequireDigest>("require-digest"),
    policy_under_test::<verify_slsa::VerifySlsa>("verify-slsa"),
];

/// `validate`'s serialised answer must be JSON that reads back as the same answer.
pub fn check_validate_json(p: &PolicyUnderTest, payload: &[u8]) -> ValidationResponse {
    let answer = (p.validate)(payload);
    let json = (p.validate_json)(payload);
    let read: ValidationResponse = serde_json::from_slice(&json)
        .unwrap_or_else(|e| panic!("{}: validate_json is not an answer: {e}", p.name));
    assert_eq!(
        read, answer,
        "{}: validate_json differs from validate",
        p.name
    );
    if !answer.accepted {
        let message = answer.message.as_deref().unwrap_or_default();
        assert!(
            !message.is_empty(),
            "{}: a rejection without a message",
            p.name
        );
    }
    answer
}

/// The Gatekeeper entrypoint's serialised result must be `[{"result": [...]}]` with the same
/// violations, none without a message.
pub fn check_gatekeeper_json(
    p: &PolicyUnderTest,
    input: &[u8],
) -> Vec<policy::GatekeeperViolation> {
    let violations = (p.gatekeeper)(input);
    let json = (p.gatekeeper_json)(input);
    let read: Vec<GatekeeperResult> = serde_json::from_slice(&json)
        .unwrap_or_else(|e| panic!("{}: gatekeeper_json is not a result set: {e}", p.name));
    assert_eq!(read.len(), 1, "{}: one result expected", p.name);
    assert_eq!(
        read[0].result, violations,
        "{}: gatekeeper_json differs",
        p.name
    );
    for v in &violations {
        assert!(
            !v.msg.is_empty(),
            "{}: a violation without a message",
            p.name
        );
    }
    violations
}

/// The same request and settings through both ABIs: waPC `validate` (`{"request", "settings"}`)
/// and Gatekeeper (`{"review", "parameters"}`) must agree on allowed/denied. (With [`NoHost`] no
/// rule can pin an image, so there are no mutations, which only waPC could answer.) `with_json`:
/// the serialised answers are checked too (each a second evaluation). Returns whether allowed.
pub fn check_abis_agree(
    p: &PolicyUnderTest,
    request: &Value,
    settings: &Value,
    with_json: bool,
) -> bool {
    let payload = serde_json::to_vec(&json!({"request": request, "settings": settings})).unwrap();
    let input = serde_json::to_vec(&json!({"review": request, "parameters": settings})).unwrap();
    let (answer, violations) = if with_json {
        (
            check_validate_json(p, &payload),
            check_gatekeeper_json(p, &input),
        )
    } else {
        ((p.validate)(&payload), (p.gatekeeper)(&input))
    };
    assert!(
        answer.mutated_object.is_none(),
        "{}: a mutation without a host",
        p.name
    );
    assert_eq!(
        answer.accepted,
        violations.is_empty(),
        "{}: waPC says {:?}, Gatekeeper says {:?}",
        p.name,
        answer.message,
        violations
    );
    answer.accepted
}

/// Splits `data` at its first NUL byte: `(before, Some(after))`, or `(data, None)`.
pub fn split_nul(data: &[u8]) -> (&[u8], Option<&[u8]>) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    }
}

/// The Sigstore public-good trusted root, parsed once.
pub fn public_good() -> &'static TrustedRoot {
    static ROOT: OnceLock<TrustedRoot> = OnceLock::new();
    ROOT.get_or_init(|| TrustedRoot::public_good().expect("the embedded public-good root parses"))
}

/// The fixed identity policy of the verification targets: any `https://` OIDC issuer, any
/// subject. Deliberately wide: the identity is checked before any cryptography, so a narrow one
/// would stop most inputs there; the identity checks themselves are exercised by the unit tests.
pub fn identity_policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| Policy::Identity {
        issuer: Matcher::regex("https://.+").expect("valid"),
        subject: Matcher::regex(".*").expect("valid"),
    })
}

/// The fixed "now" of the verification targets (2030-03-17), so that a run does not depend on
/// the clock; every bundle of the test data is older.
pub const NOW: i64 = 1_900_000_000;

/// The artifact a bundle claims to be about, so that verification gets past the artifact checks:
/// a message signature's digest hint, or the first SHA-256 subject of a DSSE in-toto statement.
pub fn claimed_artifact(bundle: &Bundle) -> [u8; 32] {
    let from_statement = |payload: &[u8]| -> Option<[u8; 32]> {
        let statement: Value = serde_json::from_slice(payload).ok()?;
        let hex = statement
            .get("subject")?
            .get(0)?
            .get("digest")?
            .get("sha256")?
            .as_str()?;
        decode_hex32(hex)
    };
    match &bundle.content {
        Content::MessageSignature {
            digest: Some((_, digest)),
            ..
        } => <[u8; 32]>::try_from(digest.as_slice()).ok(),
        Content::Dsse(envelope) => from_statement(envelope.payload()),
        _ => None,
    }
    .unwrap_or([0; 32])
}

fn decode_hex32(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

/// Verifies `bundle` against `root` with the fixed policy and time; the error must render.
pub fn verify(bundle: &Bundle, root: &TrustedRoot) {
    let artifact = claimed_artifact(bundle);
    match sigstore::verify(
        bundle,
        Artifact::Sha256(artifact),
        identity_policy(),
        root,
        Some(NOW),
    ) {
        Ok(verified) => {
            // A verified keyless bundle has an identity, proven no later than "now".
            assert!(verified.identity.is_some(), "verified without an identity");
            let _ = format!("{verified:?}");
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
        }
    }
}

/// A Pod creation request with these images: container `i` is a container, an init container or
/// an ephemeral container in turn.
pub fn pod_request(images: &[&str]) -> Value {
    let (mut containers, mut init, mut ephemeral) = (vec![], vec![], vec![]);
    for (i, image) in images.iter().enumerate() {
        let container = json!({"name": format!("c{i}"), "image": image});
        match i % 3 {
            0 => containers.push(container),
            1 => init.push(container),
            _ => ephemeral.push(container),
        }
    }
    json!({
        "uid": "00000000-0000-4000-8000-000000000000",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "name": "fuzz",
        "namespace": "team-a",
        "operation": "CREATE",
        "userInfo": {"username": "fuzz"},
        "object": {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "fuzz", "namespace": "team-a"},
            "spec": {
                "containers": containers,
                "initContainers": init,
                "ephemeralContainers": ephemeral
            }
        }
    })
}
