//! Regression tests for what an adversarial review of the verification path found (the hardening
//! issue), on the real slsa-github-generator attestations, in both builds of verify-slsa (each
//! answer also checked against the rule evaluated natively, by `slsa::run`). Each test failed
//! before its fix.

use custody_attestors::{MAX_BUNDLES_PER_IMAGE, MAX_VERIFICATIONS_PER_REQUEST};
use custody_host_tests::slsa::{
    self, annotation, layouts, pod_request, run, variants, with_repeated_log_entry, Layout,
    Outcome, BUILDS,
};
use custody_sigstore::MAX_TLOG_ENTRIES;
use serde_json::{json, Value};

const NAMESPACE: &str = "custody-attestations";

fn lines_contain(outcome: &Outcome, needle: &str) -> bool {
    outcome.lines.iter().any(|l| l.contains(needle))
}

fn assert_denied(outcome: &Outcome, needle: &str, what: &str) {
    assert!(!outcome.accepted, "{what}: allowed: {outcome:?}");
    assert!(
        lines_contain(outcome, needle),
        "{what}: {:#?}\nwant a line with {needle:?}",
        outcome.lines
    );
}

/// Finding 1: a strict rule for `ghcr.io/slsa-framework/*` and `unmatchedImages: allow`; the
/// image spelt with an upper-case registry or the default port was unmatched, so allowed with no
/// attestation at all. Now every spelling is the strict rule's.
#[test]
fn registry_spellings_do_not_dodge_a_strict_rule() {
    let layout = &layouts()[0];
    let mut settings = slsa::settings();
    settings["images"][0]["patterns"] = json!(["ghcr.io/slsa-framework/*"]);
    settings["unmatchedImages"] = json!("allow");
    let path = slsa::IMAGE_NAME
        .strip_prefix("ghcr.io/")
        .expect("a ghcr.io image");
    for registry in ["GHCR.IO", "Ghcr.io", "ghcr.io:443", "GHCR.IO:443"] {
        let image = format!("{registry}/{path}@{}", layout.digest);
        let request = pod_request(&[&image], json!({}));
        for build in BUILDS {
            // No attestation: denied by the strict rule, not allowed as unmatched.
            let outcome = run(build, &settings, &request, &[], &[]);
            assert_denied(
                &outcome,
                "no attestation found",
                &format!("{image} {build:?}"),
            );
            // With its attestation: verified and allowed.
            let objects = [layout.config_map(NAMESPACE)];
            let outcome = run(build, &settings, &request, &objects, &[]);
            assert!(outcome.accepted, "{image} {build:?}: {outcome:?}");
        }
    }
    // A pattern spelt otherwise would never match: refused when the settings load.
    settings["images"][0]["patterns"] = json!(["GHCR.IO/slsa-framework/*"]);
    let request = pod_request(&[&layout.image()], json!({}));
    for build in BUILDS {
        let outcome = run(build, &settings, &request, &[], &[]);
        assert_denied(
            &outcome,
            "images[0].patterns[0]: pattern \"GHCR.IO/slsa-framework/*\" would never match",
            &format!("{build:?}"),
        );
    }
}

/// Finding 2: two attestors that both match the one signer (a prefix and a regex), `count: 2`,
/// were each satisfied by the same single bundle. N of M now needs N distinct signers.
#[test]
fn one_signer_does_not_count_twice() {
    let layout = &layouts()[0];
    let by_prefix = slsa::settings()["images"][0]["attestors"]["entries"][0].clone();
    let by_regex = json!({"keyless": {
        "issuer": slsa::GITHUB_ISSUER,
        "subjectRegExp": "https://github\\.com/slsa-framework/slsa-github-generator/.+",
    }});
    let mut settings = slsa::settings();
    settings["images"][0]["attestors"] = json!({"entries": [by_prefix, by_regex], "count": 2});
    // The same bundle also copied into the pod annotation: still one signer.
    let request = pod_request(&[&layout.image()], annotation(&[layout.bundle()]));
    let objects = [layout.config_map(NAMESPACE)];
    for build in BUILDS {
        let outcome = run(build, &settings, &request, &objects, &[]);
        assert_denied(
            &outcome,
            "1 of the 2 attestors required vouched (2 configured); 2 attestors matched, but only 1 distinct signers",
            &format!("{build:?}"),
        );
        // One of the two is enough with `count: 1`.
        let mut one = settings.clone();
        one["images"][0]["attestors"]["count"] = json!(1);
        let outcome = run(build, &one, &request, &objects, &[]);
        assert!(outcome.accepted, "{build:?}: {outcome:?}");
    }
    // The same attestor listed twice is refused when the settings load.
    let mut twice = slsa::settings();
    let entry = twice["images"][0]["attestors"]["entries"][0].clone();
    twice["images"][0]["attestors"] = json!({"entries": [entry.clone(), entry], "count": 2});
    for build in BUILDS {
        let outcome = run(build, &twice, &request, &objects, &[]);
        assert_denied(
            &outcome,
            "images[0].attestors.entries[1]: the same attestor as entries[0]",
            &format!("{build:?}"),
        );
    }
}

/// Finding 3: `^(?:{pattern})$` built from a pattern with unbalanced groups matched anything.
#[test]
fn a_regular_expression_cannot_escape_its_anchors() {
    let layout = &layouts()[0];
    let mut settings = slsa::settings();
    settings["images"][0]["attestors"]["entries"][0] = json!({"keyless": {
        "issuer": slsa::GITHUB_ISSUER,
        "subjectRegExp": "https://github\\.com/myorg/app/.+@refs/heads/main)|(.*",
    }});
    let objects = [layout.config_map(NAMESPACE)];
    for build in BUILDS {
        let outcome = run(
            build,
            &settings,
            &pod_request(&[&layout.image()], json!({})),
            &objects,
            &[],
        );
        assert_denied(
            &outcome,
            "images[0].attestors.entries[0]: subjectRegExp: invalid regular expression",
            &format!("{build:?}"),
        );
    }
}

/// Finding 5: `subjectPrefix`, `issuerPrefix` and `builderIdPrefix` matched across a component
/// boundary (`https://github.com/slsa-framework` also matches `.../slsa-framework-evil/...`).
#[test]
fn prefixes_must_end_at_a_boundary() {
    let layout = &layouts()[0];
    let objects = [layout.config_map(NAMESPACE)];
    let request = pod_request(&[&layout.image()], json!({}));
    let keyless = |k: Value| {
        let mut s = slsa::settings();
        s["images"][0]["attestors"]["entries"][0] = json!({ "keyless": k });
        s
    };
    let mut builder = slsa::settings();
    builder["images"][0]["conditions"]["builderIdPrefix"] =
        json!("https://github.com/slsa-framework/slsa-github-generator");
    let refused = [
        (
            keyless(json!({"issuer": slsa::GITHUB_ISSUER, "subjectPrefix": "https://github.com/slsa-framework"})),
            "images[0].attestors.entries[0]: subjectPrefix: prefix \"https://github.com/slsa-framework\" does not end at a boundary",
        ),
        (
            keyless(json!({"issuerPrefix": "https://token.actions.", "subjectPrefix": slsa::GENERATOR_SUBJECT_PREFIX})),
            "issuerPrefix: prefix \"https://token.actions.\" does not end at a boundary",
        ),
        (
            builder,
            "images[0].conditions.builderIdPrefix: prefix \"https://github.com/slsa-framework/slsa-github-generator\" does not end at a boundary",
        ),
    ];
    for (settings, want) in refused {
        for build in BUILDS {
            let outcome = run(build, &settings, &request, &objects, &[]);
            assert_denied(&outcome, want, &format!("{build:?}"));
        }
    }
    // At a boundary they match: a URL's host alone, or ending with `/`.
    let settings = keyless(json!({
        "issuerPrefix": slsa::GITHUB_ISSUER,
        "subjectPrefix": "https://github.com/slsa-framework/",
    }));
    for build in BUILDS {
        let outcome = run(build, &settings, &request, &objects, &[]);
        assert!(outcome.accepted, "{build:?}: {outcome:?}");
    }
}

/// Finding 4: the same image in many containers is verified once per request (it took the whole
/// deadline before: 2 000 containers of one image, ~9 s natively).
#[test]
fn many_containers_of_one_image_are_verified_once() {
    let layout = &layouts()[0];
    let image = layout.image();
    let images = vec![image.as_str(); 2000];
    let request = pod_request(&images, json!({}));
    let objects = [layout.config_map(NAMESPACE)];
    for build in BUILDS {
        let outcome = run(build, &slsa::settings(), &request, &objects, &[]);
        assert!(outcome.accepted, "{build:?}: {:?}", outcome.lines.first());
    }
}

/// Finding 4: a bundle repeating its log entry is refused past the bound, naming it, before any
/// of the entries is checked; byte-identical copies of a bundle count once; more distinct bundles
/// than the bound are refused, naming it.
#[test]
fn bundles_cannot_multiply_the_work() {
    let layout = &layouts()[0];
    let real = layout.bundle();
    let image = layout.image();
    let request = |bundles: &[Value]| pod_request(&vec![image.as_str(); 20], annotation(bundles));
    let repeated = with_repeated_log_entry(&real, 40);
    let within = with_repeated_log_entry(&real, MAX_TLOG_ENTRIES);
    // Five attestors that the one signer satisfies, `count: 1`.
    let mut five = slsa::settings();
    let entry = five["images"][0]["attestors"]["entries"][0].clone();
    let mut entries = vec![entry];
    for subject in [
        "https://github.com/slsa-framework/",
        "https://github.com/slsa-framework/slsa-github-generator/",
        "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/",
        "https://github.com/",
    ] {
        entries.push(json!({"keyless": {"issuer": slsa::GITHUB_ISSUER, "subjectPrefix": subject}}));
    }
    five["images"][0]["attestors"] = json!({"entries": entries, "count": 1});

    for build in BUILDS {
        let outcome = run(
            build,
            &slsa::settings(),
            &request(std::slice::from_ref(&repeated)),
            &[],
            &[],
        );
        assert_denied(
            &outcome,
            &format!("bundle has 40 transparency log entries, more than the {MAX_TLOG_ENTRIES} verified at most"),
            &format!("{build:?}"),
        );
        // The same entry up to the bound: verified (the chain once, for the one time).
        let outcome = run(
            build,
            &slsa::settings(),
            &request(std::slice::from_ref(&within)),
            &[],
            &[],
        );
        assert!(outcome.accepted, "{build:?}: {outcome:?}");
        // 20 containers x 5 attestors x one bundle copied 100 times: one verification.
        let copies = vec![real.clone(); 100];
        let outcome = run(build, &five, &request(&copies), &[], &[]);
        assert!(outcome.accepted, "{build:?}: {outcome:?}");
        // More distinct bundles than the bound: refused, naming it.
        let many = variants(&real, MAX_BUNDLES_PER_IMAGE + 1);
        let outcome = run(build, &slsa::settings(), &request(&many), &[], &[]);
        assert_denied(
            &outcome,
            &format!(
                "{} attestations found for {}, more than the {MAX_BUNDLES_PER_IMAGE} examined for one image",
                MAX_BUNDLES_PER_IMAGE + 1,
                layout.digest
            ),
            &format!("{build:?}"),
        );
    }
}

/// Finding 4: the verifications of one request are bounded; past the bound the image is denied,
/// naming it. Each real image with [`MAX_BUNDLES_PER_IMAGE`] distinct bundles costs that many
/// verifications.
#[test]
fn a_request_has_a_verification_budget() {
    let layouts = layouts();
    let per_image = MAX_BUNDLES_PER_IMAGE;
    let images_in_budget = MAX_VERIFICATIONS_PER_REQUEST / per_image;
    assert!(
        layouts.len() > images_in_budget,
        "the test needs more real images ({}) than fit in the budget ({images_in_budget})",
        layouts.len()
    );
    let objects: Vec<Value> = layouts
        .iter()
        .map(|l| l.config_map_of(NAMESPACE, &variants(&l.bundle(), per_image)))
        .collect();
    let images: Vec<String> = layouts.iter().map(Layout::image).collect();
    let within: Vec<&str> = images
        .iter()
        .take(images_in_budget)
        .map(String::as_str)
        .collect();
    let all: Vec<&str> = images.iter().map(String::as_str).collect();
    for build in BUILDS {
        let outcome = run(
            build,
            &slsa::settings(),
            &pod_request(&within, json!({})),
            &objects,
            &[],
        );
        assert!(outcome.accepted, "{build:?}: {outcome:?}");
        let outcome = run(
            build,
            &slsa::settings(),
            &pod_request(&all, json!({})),
            &objects,
            &[],
        );
        assert_denied(
            &outcome,
            &format!("this request needs more than {MAX_VERIFICATIONS_PER_REQUEST} signature verifications"),
            &format!("{build:?}"),
        );
    }
}

/// `depth` nested JSON lists around `inner`.
fn nested(depth: usize, inner: &str) -> String {
    format!("{}{inner}{}", "[".repeat(depth), "]".repeat(depth))
}

/// `depth` nested JSON objects (`{"a": ...}`) around `inner`.
fn nested_objects(depth: usize, inner: &str) -> String {
    format!("{}{inner}{}", "{\"a\":".repeat(depth), "}".repeat(depth))
}

/// Finding 7: annotation and in-toto payload JSON nested as deep as the JSON reader allows (and
/// far deeper), parsed inside the rule (the Gatekeeper build has a 64 KiB stack): a clear denial,
/// never a trap.
#[test]
fn deep_json_inside_the_rule_is_a_clear_denial() {
    let layout = &layouts()[0];
    let objects = [layout.config_map(NAMESPACE)];
    // The pod annotation: at the reader's limit (127 levels parse, 128 do not) and far beyond.
    for (text, want) in [
        (nested(126, "1"), "annotation custody.dev/attestations[0]: unreadable bundle"),
        (nested(127, "1"), "annotation custody.dev/attestations"),
        (nested(100_000, ""), "annotation custody.dev/attestations: unreadable bundle: not JSON: recursion limit exceeded"),
        (format!("[{}]", nested_objects(126, "1")), "annotation custody.dev/attestations[0]: unreadable bundle"),
    ] {
        let request = pod_request(&[&layout.image()], json!({"custody.dev/attestations": text}));
        for build in BUILDS {
            // The ConfigMap's real attestation still vouches: allowed, whatever the annotation.
            let outcome = run(build, &slsa::settings(), &request, &objects, &[]);
            assert!(outcome.accepted, "{build:?}: {outcome:?}");
            // Alone, the annotation's failure is the reason given.
            let outcome = run(build, &slsa::settings(), &request, &[], &[]);
            assert_denied(&outcome, want, &format!("{build:?} depth {}", text.len() / 2));
        }
    }
    // The in-toto statement inside the DSSE envelope (read before any signature check).
    for depth in [120, 127, 10_000] {
        let mut b = layout.bundle();
        let statement = format!(
            "{{\"_type\":\"https://in-toto.io/Statement/v0.1\",\"subject\":{}}}",
            nested(depth, "")
        );
        use base64::Engine as _;
        b["dsseEnvelope"]["payload"] =
            json!(base64::engine::general_purpose::STANDARD.encode(statement));
        let request = pod_request(&[&layout.image()], json!({}));
        let objects = [layout.config_map_of(NAMESPACE, &[b])];
        for build in BUILDS {
            let outcome = run(build, &slsa::settings(), &request, &objects, &[]);
            assert_denied(
                &outcome,
                "no valid SLSA provenance",
                &format!("{build:?} depth {depth}"),
            );
        }
    }
}
