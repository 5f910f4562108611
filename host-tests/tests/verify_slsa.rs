//! verify-slsa on real SLSA provenance (slsa-github-generator v1.10.0 and v2.1.0, keyless,
//! public-good Sigstore), verified inside the modules: the waPC build with the attestation
//! ConfigMap answered by the host's `kubernetes` capability, the Gatekeeper build with it in
//! `data.inventory`. Each answer is also checked against the rule evaluated natively.

use base64::Engine as _;
use custody_host::{Cluster, NoCapabilities, ScriptedCall, ScriptedCapabilities};
use custody_host_tests::slsa::{
    self, layouts, pod_request, run, Build, Layout, Outcome, BUILDS, IMAGE_NAME, POLICY,
};
use custody_host_tests::{gatekeeper, Loaded};
use serde_json::{json, Value};

const NAMESPACE: &str = "custody-attestations";

fn pod(layout: &Layout) -> Value {
    pod_request(&[&layout.image()], json!({}))
}

/// The single violation line of a denial, checked to name the container and image.
fn denial(outcome: &Outcome, layout: &Layout) -> String {
    assert!(!outcome.accepted, "{outcome:?}");
    assert_eq!(outcome.lines.len(), 1, "{outcome:?}");
    let line = outcome.lines[0].clone();
    let prefix = format!(
        "container \"c0\" (spec.containers[0]): image {:?} ({}): ",
        layout.image(),
        layout.digest
    );
    assert!(line.starts_with(&prefix), "{line}");
    line
}

/// `settings` with the member at `pointer` set (its parent must exist).
fn with(settings: &Value, pointer: &str, value: Value) -> Value {
    let mut s = settings.clone();
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
    let parent = s.pointer_mut(parent).unwrap_or_else(|| panic!("{pointer}"));
    match parent {
        Value::Object(map) => {
            map.insert(key.to_owned(), value);
        }
        Value::Array(items) => items[key.parse::<usize>().expect("an index")] = value,
        _ => panic!("{pointer}: the parent is not a container"),
    }
    s
}

#[test]
fn real_provenance_is_allowed_in_both_builds() {
    for layout in layouts() {
        let objects = [layout.config_map(NAMESPACE)];
        for build in BUILDS {
            let outcome = run(build, &slsa::settings(), &pod(&layout), &objects, &[]);
            assert!(
                outcome.accepted,
                "{} {build:?}: {outcome:?}",
                layout.version
            );
            assert_eq!(outcome.mutated, None);
        }
    }
}

#[test]
fn identities_match_exactly_by_prefix_and_by_regex() {
    let layout = &layouts()[0];
    let subject = format!("{}{}", slsa::GENERATOR_SUBJECT_PREFIX, layout.version);
    let objects = [layout.config_map(NAMESPACE)];
    let keyless = "/images/0/attestors/entries/0/keyless";
    let cases = [
        (
            json!({"issuer": slsa::GITHUB_ISSUER, "subject": subject}),
            true,
        ),
        (
            json!({"issuerPrefix": "https://token.actions.githubusercontent.com", "subjectRegExp": "https://github\\.com/slsa-framework/slsa-github-generator/.+@refs/tags/v1\\..*"}),
            true,
        ),
        (
            json!({"issuer": slsa::GITHUB_ISSUER, "subject": format!("{subject}x")}),
            false,
        ),
        (
            json!({"issuer": "https://accounts.google.com", "subjectPrefix": "https://github.com/"}),
            false,
        ),
        // Anchored: a regex must match the whole subject.
        (
            json!({"issuer": slsa::GITHUB_ISSUER, "subjectRegExp": "slsa-github-generator"}),
            false,
        ),
    ];
    for (identity, allowed) in cases {
        let settings = with(&slsa::settings(), keyless, identity.clone());
        for build in BUILDS {
            let outcome = run(build, &settings, &pod(layout), &objects, &[]);
            assert_eq!(
                outcome.accepted, allowed,
                "{identity} {build:?}: {outcome:?}"
            );
            if !allowed {
                let line = denial(&outcome, layout);
                assert!(line.contains("identity mismatch"), "{line}");
            }
        }
    }
}

#[test]
fn wrong_builder_build_type_source_and_ref_are_denied_with_the_value_found() {
    let layout = &layouts()[0];
    let objects = [layout.config_map(NAMESPACE)];
    let conditions = "/images/0/conditions";
    let cases = [
        (
            json!({"builderId": "https://github.com/myorg/builder@v1"}),
            format!(
                "condition builder.id not met: got \"{}{}\", want \"https://github.com/myorg/builder@v1\"",
                slsa::BUILDER_PREFIX,
                layout.version
            ),
        ),
        (
            json!({"buildType": "https://example.com/other@v1"}),
            format!("condition buildType not met: got \"{}\"", slsa::BUILD_TYPE),
        ),
        (
            json!({"sourceRepository": "https://github.com/myorg/myapp"}),
            format!("condition sourceRepository not met: got \"{}\"", slsa::SOURCE_REPOSITORY),
        ),
        (
            json!({"sourceRefs": ["refs/heads/main"]}),
            format!(
                "condition sourceRefs not met: got \"{}\", want one of \"refs/heads/main\"",
                layout.source_ref
            ),
        ),
        (
            json!({"buildTriggers": ["workflow_dispatch"]}),
            "condition buildTriggers not met: got \"push\"".to_owned(),
        ),
    ];
    for (condition, expected) in cases {
        let settings = with(&slsa::settings(), conditions, condition.clone());
        for build in BUILDS {
            let outcome = run(build, &settings, &pod(layout), &objects, &[]);
            let line = denial(&outcome, layout);
            assert!(
                line.contains(&expected),
                "{condition} {build:?}:\n{line}\nwant {expected}"
            );
        }
    }
}

/// A change to a bundle.
type Tamper = fn(&mut Value);

/// Rewrites the first bundle of the ConfigMap.
fn tamper(config_map: &Value, change: impl Fn(&mut Value)) -> Value {
    let mut cm = config_map.clone();
    let data = cm["data"].as_object_mut().expect("data");
    let (_, text) = data.iter_mut().next().expect("a bundle");
    let mut bundle: Value = serde_json::from_str(text.as_str().expect("text")).expect("bundle");
    change(&mut bundle);
    *text = Value::String(bundle.to_string());
    cm
}

#[test]
fn tampered_attestations_are_denied() {
    const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
    let layout = &layouts()[0];
    let cases: [(&str, Tamper); 3] = [
        ("payload", |b: &mut Value| {
            let payload = b["dsseEnvelope"]["payload"].as_str().expect("payload");
            let text = String::from_utf8(B64.decode(payload).expect("base64")).expect("utf-8");
            let forged = text.replace(
                "\"github_actor\":\"ianlewis\"",
                "\"github_actor\":\"mallory\"",
            );
            assert_ne!(forged, text);
            b["dsseEnvelope"]["payload"] = Value::String(B64.encode(forged));
        }),
        ("signed entry timestamp", |b: &mut Value| {
            let set = &mut b["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"]
                ["signedEntryTimestamp"];
            let mut bytes = B64.decode(set.as_str().expect("set")).expect("base64");
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
            *set = Value::String(B64.encode(bytes));
        }),
        ("integrated time", |b: &mut Value| {
            let t = &mut b["verificationMaterial"]["tlogEntries"][0]["integratedTime"];
            let n: i64 = t.as_str().expect("time").parse().expect("number");
            *t = Value::String((n + 1).to_string());
        }),
    ];
    for (what, change) in cases {
        let objects = [tamper(&layout.config_map(NAMESPACE), change)];
        for build in BUILDS {
            let outcome = run(build, &slsa::settings(), &pod(layout), &objects, &[]);
            let line = denial(&outcome, layout);
            assert!(
                line.contains("signature invalid"),
                "{what} {build:?}: {line}"
            );
        }
    }
}

#[test]
fn an_attestation_for_another_digest_is_denied() {
    let layouts = layouts();
    let (a, b) = (&layouts[0], &layouts[1]);
    // b's attestation, filed under a's digest.
    let mut misfiled = b.config_map(NAMESPACE);
    misfiled["metadata"]["name"] = a.config_map(NAMESPACE)["metadata"]["name"].clone();
    for build in BUILDS {
        let outcome = run(build, &slsa::settings(), &pod(a), &[misfiled.clone()], &[]);
        let line = denial(&outcome, a);
        assert!(
            line.contains(&format!(
                "the attestation is for another image: {} is not among its subjects",
                a.digest
            )),
            "{build:?}: {line}"
        );
    }
}

#[test]
fn no_attestation_is_denied_and_says_where_it_looked() {
    let layout = &layouts()[0];
    for build in BUILDS {
        let outcome = run(build, &slsa::settings(), &pod(layout), &[], &[]);
        assert!(!outcome.accepted);
        let line = &outcome.lines[0];
        assert!(
            line.starts_with(&format!(
                "container \"c0\" (spec.containers[0]): image {:?}: no attestation found for {} (no annotation custody.dev/attestations; ConfigMap custody-attestations/sha256-",
                layout.image(),
                layout.digest
            )),
            "{build:?}: {line}"
        );
    }
}

#[test]
fn the_pod_annotation_carries_attestations_too() {
    let layout = &layouts()[1];
    let bundles: Vec<Value> = layout.bundles().into_iter().map(|(_, b)| b).collect();
    let annotations = json!({"custody.dev/attestations": Value::Array(bundles).to_string()});
    let request = pod_request(&[&layout.image()], annotations);
    for build in BUILDS {
        let outcome = run(build, &slsa::settings(), &request, &[], &[]);
        assert!(outcome.accepted, "{build:?}: {outcome:?}");
    }
    let broken = pod_request(
        &[&layout.image()],
        json!({"custody.dev/attestations": "[{"}),
    );
    for build in BUILDS {
        let outcome = run(build, &slsa::settings(), &broken, &[], &[]);
        let line = denial(&outcome, layout);
        assert!(
            line.contains("annotation custody.dev/attestations: unreadable bundle: not JSON"),
            "{line}"
        );
    }
}

#[test]
fn n_of_m_attestors() {
    let layout = &layouts()[0];
    let objects = [layout.config_map(NAMESPACE)];
    let right = slsa::settings()["images"][0]["attestors"]["entries"][0].clone();
    let wrong = json!({"keyless": {"issuer": slsa::GITHUB_ISSUER, "subject": "https://github.com/myorg/other/.github/workflows/b.yml@refs/heads/main"}});
    let entries = json!([right, wrong]);
    for (count, allowed) in [(json!(1), true), (json!(2), false), (Value::Null, false)] {
        let settings = with(
            &slsa::settings(),
            "/images/0/attestors",
            json!({"entries": entries, "count": count}),
        );
        for build in BUILDS {
            let outcome = run(build, &settings, &pod(layout), &objects, &[]);
            assert_eq!(
                outcome.accepted, allowed,
                "count {count} {build:?}: {outcome:?}"
            );
            if !allowed {
                let line = denial(&outcome, layout);
                assert!(
                    line.contains("1 of the 2 attestors required vouched"),
                    "{line}"
                );
                assert!(line.contains("identity mismatch"), "{line}");
            }
        }
    }
}

#[test]
fn a_tag_is_resolved_and_pinned_by_the_wapc_build_and_denied_in_gatekeeper_mode() {
    let layout = &layouts()[0];
    let tagged = format!("{IMAGE_NAME}:v13.0.30");
    let script = [ScriptedCall {
        binding: None,
        namespace: "oci".into(),
        operation: "v1/manifest_digest".into(),
        request: json!(tagged),
        response: Some(json!({"digest": layout.digest.to_string()})),
        error: None,
    }];
    let request = pod_request(&[&tagged], json!({}));
    let objects = [layout.config_map(NAMESPACE)];
    let wapc = run(Build::Wapc, &slsa::settings(), &request, &objects, &script);
    assert!(wapc.accepted, "{wapc:?}");
    let mutated = wapc.mutated.expect("a mutation");
    assert_eq!(
        mutated["spec"]["containers"][0]["image"],
        format!("{tagged}@{}", layout.digest)
    );
    let gk = run(
        Build::Gatekeeper,
        &slsa::settings(),
        &request,
        &objects,
        &script,
    );
    assert!(!gk.accepted);
    assert!(
        gk.lines[0].contains("is not pinned to a digest and its tag could not be resolved: host capability oci/v1/manifest_digest is not available in Gatekeeper mode"),
        "{gk:?}"
    );
}

#[test]
fn unmatched_images_are_denied_unless_allowed() {
    let image = format!("ghcr.io/acme/app@sha256:{}", "a".repeat(64));
    let request = pod_request(&[&image], json!({}));
    let allow = with(&slsa::settings(), "/unmatchedImages", json!("allow"));
    for build in BUILDS {
        let denied = run(build, &slsa::settings(), &request, &[], &[]);
        assert_eq!(
            denied.lines,
            [format!(
                "container \"c0\" (spec.containers[0]): image {image:?} matches no entry of `images` (unmatchedImages: deny)"
            )]
        );
        assert!(run(build, &allow, &request, &[], &[]).accepted);
    }
}

#[test]
fn invalid_settings_name_the_field() {
    let base = slsa::settings();
    let keyless = "/images/0/attestors/entries/0/keyless";
    let cases = [
        (with(&base, keyless, json!({"issuer": "x"})), "images[0].attestors.entries[0]: a keyless attestor needs `subject`, `subjectPrefix` or `subjectRegExp`"),
        (with(&base, keyless, json!({"issuer": "x", "subjectRegExp": "("})), "images[0].attestors.entries[0]: subjectRegExp:"),
        (with(&base, keyless, json!({"issuer": "x", "subject": "a", "subjectPrefix": "b"})), "give only one of `subject`, `subjectPrefix` and `subjectRegExp`"),
        (with(&base, "/images/0/attestors/entries/0", json!({"publicKey": "not a key"})), "images[0].attestors.entries[0]: publicKey:"),
        (with(&base, "/images/0/attestors/count", json!(0)), "images[0].attestors.count: must be between 1 and the number of entries (1), got 0"),
        (with(&base, "/images/0/predicateTypes", json!(["https://example.com/p"])), "images[0].predicateTypes[0]: \"https://example.com/p\" is not supported"),
        (with(&base, "/images/0/conditions/builderId", json!("x")), "give `builderId` or `builderIdPrefix`, not both"),
        (json!({"images": [{"patterns": [], "attestors": {"entries": []}}]}), "images[0].patterns: at least one image pattern is needed"),
        (json!({"trustedRoot": {"mediaType": "x"}}), "trustedRoot"),
        (json!({"unmatchedImages": "maybe"}), "unmatchedImages"),
        (json!({"imagez": []}), "unknown field `imagez`"),
    ];
    let mut instance = Loaded::policy(POLICY).instance(Box::new(NoCapabilities));
    for (settings, expected) in cases {
        let answer = instance
            .validate_settings(&settings)
            .expect("validate_settings");
        assert!(!answer.valid, "{settings}");
        let message = answer.message.unwrap_or_default();
        assert!(
            message.contains(expected),
            "{settings}:\n{message}\nwant {expected}"
        );
    }
    assert!(instance.validate_settings(&base).expect("valid").valid);
}

/// One warm instance per build, many evaluations: nothing one evaluation leaves behind (caches,
/// the OPA heap reset between evaluations) may change the next one's answer.
#[test]
fn warm_instances_answer_the_same_every_time() {
    let layouts = layouts();
    let cluster = Cluster::new(layouts.iter().map(|l| l.config_map(NAMESPACE))).expect("cluster");
    let caps = ScriptedCapabilities::new(Vec::new())
        .expect("script")
        .with_cluster(cluster.clone());
    let mut wapc = Loaded::policy(POLICY).instance(Box::new(caps));
    let mut gk = Loaded::policy(&gatekeeper(POLICY)).instance(Box::new(NoCapabilities));
    gk.set_data(&cluster.data()).expect("set_data");
    let settings = slsa::settings();
    let wrong = with(
        &settings,
        "/images/0/conditions/sourceRefs",
        json!(["refs/heads/release"]),
    );
    for round in 0..3 {
        for layout in &layouts {
            let request = pod(layout);
            let answer = wapc.validate(&request, &settings).expect("validate");
            assert!(answer.accepted, "round {round} waPC: {answer:?}");
            let violations = gk.gatekeeper(&request, &settings).expect("gatekeeper");
            assert!(
                violations.is_empty(),
                "round {round} Gatekeeper: {violations:?}"
            );
            let denied = wapc.validate(&request, &wrong).expect("validate");
            assert!(!denied.accepted, "round {round} waPC");
            let denied = gk.gatekeeper(&request, &wrong).expect("gatekeeper");
            assert_eq!(denied.len(), 1, "round {round} Gatekeeper");
            assert!(
                denied[0].msg.contains("condition sourceRefs not met"),
                "{denied:?}"
            );
        }
    }
}
