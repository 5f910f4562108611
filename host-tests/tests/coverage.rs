//! Every policy directory under `policies/` has host tests: the suites iterate
//! `custody_host_tests::policies()`, read from the directories, and this checks that each of them has
//! what the suites need (the rule is `custody_host_tests::host_test_coverage`'s).

use custody_host_tests::{host_test_coverage, module_path, policies, repo_root, MIN_FIXTURES};

#[test]
fn every_policy_directory_has_host_tests() {
    let missing: Vec<String> = policies()
        .iter()
        .flat_map(|policy| host_test_coverage(policy))
        .collect();
    assert!(
        missing.is_empty(),
        "policies without host tests (see host_test_coverage in host-tests/src/lib.rs):\n{}",
        missing.join("\n")
    );
    for &policy in policies() {
        // Both builds exist (the suites fail without them, this says so first).
        module_path(policy);
        module_path(&custody_host_tests::gatekeeper(policy));
    }
}

#[test]
fn the_policies_are_the_directories() {
    let policies = policies();
    for known in ["ban-latest", "require-digest", "verify-slsa"] {
        assert!(policies.contains(&known), "{known} not in {policies:?}");
    }
    for policy in policies {
        assert!(repo_root()
            .join("policies")
            .join(policy)
            .join("Cargo.toml")
            .is_file());
    }
}

#[test]
fn the_rule_says_what_a_policy_lacks() {
    let missing = host_test_coverage("no-such-policy");
    let expected = [
        "no-such-policy: validate_native has no arm for it",
        "no-such-policy: gatekeeper_native has no arm for it",
        "no-such-policy: fixtures/settings.json: ",
        "no-such-policy: fixtures/expected.json: ",
    ];
    assert_eq!(missing.len(), expected.len(), "{missing:#?}");
    for (line, start) in missing.iter().zip(expected) {
        assert!(
            line.starts_with(start),
            "{line:?} should start with {start:?}"
        );
    }
    const { assert!(MIN_FIXTURES >= 20) };
}
