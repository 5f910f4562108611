//! `.github/workflows/release.yml` cannot run here; this keeps it honest where it can be checked:
//! it parses, every action is pinned to a version tag, the `make` targets it runs exist, and the
//! provenance jobs get the image and digest the release job outputs.

use serde_json::Value;

mod common;

use common::{repo_root, TestResult};

/// `uses:` values anywhere in the workflow.
fn uses(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            for (key, value) in fields {
                match (key.as_str(), value) {
                    ("uses", Value::String(action)) => found.push(action.clone()),
                    _ => uses(value, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| uses(item, found)),
        _ => {}
    }
}

#[test]
fn the_release_workflow_is_consistent() -> TestResult {
    let root = repo_root();
    let text = std::fs::read_to_string(root.join(".github/workflows/release.yml"))?;
    let workflow: Value = serde_yaml_ng::from_str(&text)?;
    assert_eq!(workflow["on"]["push"]["tags"], serde_json::json!(["*/v*"]));

    let mut actions = Vec::new();
    uses(&workflow, &mut actions);
    assert!(actions.len() >= 5, "{actions:?}");
    for action in &actions {
        let (_, version) = action
            .rsplit_once('@')
            .ok_or_else(|| format!("{action} is not pinned"))?;
        let numbers: Vec<&str> = version.trim_start_matches('v').split('.').collect();
        assert!(
            version.starts_with('v')
                && numbers.len() == 3
                && numbers
                    .iter()
                    .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
            "{action}: pin a version tag vX.Y.Z"
        );
    }

    // Every `make <target>` it runs is a target of the Makefile.
    let makefile = std::fs::read_to_string(root.join("Makefile"))?;
    for line in text.lines() {
        let Some((_, rest)) = line.split_once("run: make ") else {
            continue;
        };
        let target = rest.split_whitespace().next().unwrap_or_default();
        assert!(
            makefile
                .lines()
                .any(|l| l.starts_with(&format!("{target}:"))),
            "make {target}: no such target"
        );
    }

    // The provenance jobs attest what the release job pushed.
    let jobs = &workflow["jobs"];
    let outputs = jobs["release"]["outputs"]
        .as_object()
        .ok_or("the release job has no outputs")?;
    for (job, prefix) in [("provenance", ""), ("provenance-gatekeeper", "gatekeeper-")] {
        let with = &jobs[job]["with"];
        for input in ["image", "digest"] {
            let output = format!("{prefix}{input}");
            assert!(outputs.contains_key(&output), "{job}: no output {output}");
            assert_eq!(
                with[input],
                Value::from(format!("${{{{ needs.release.outputs.{output} }}}}")),
                "{job}.{input}"
            );
        }
        assert!(with["registry-username"].is_string(), "{job}");
        assert!(
            jobs[job]["secrets"]["registry-password"].is_string(),
            "{job}"
        );
        assert_eq!(jobs[job]["permissions"]["id-token"], "write", "{job}");
    }
    assert_eq!(jobs["release"]["permissions"]["id-token"], "write");
    Ok(())
}

/// Every `custody <command> --flag` the workflow runs is a command of this `custody` with that
/// flag (its `--help` lists it).
#[test]
fn the_release_workflow_runs_custody_as_it_is() -> TestResult {
    let text = std::fs::read_to_string(repo_root().join(".github/workflows/release.yml"))?;
    // Continuation lines (`\` at the end) joined, so that each command is one line.
    let text = text.replace("\\\n", " ");
    let mut checked = 0;
    for line in text.lines() {
        let Some((_, call)) = line.split_once("target/release/custody ") else {
            continue;
        };
        // Command substitutions (`$(git show ...)`) are other programs' words.
        let mut call = call.to_owned();
        while let Some(start) = call.find("$(") {
            let end = call[start..]
                .find(')')
                .map_or(call.len(), |e| start + e + 1);
            call.replace_range(start..end, "VALUE");
        }
        let mut words = call.split_whitespace();
        let command = words.next().ok_or("custody without a command")?;
        let help = std::process::Command::new(env!("CARGO_BIN_EXE_custody"))
            .args([command, "--help"])
            .output()?;
        assert!(help.status.success(), "custody {command} is not a command");
        let help = String::from_utf8_lossy(&help.stdout);
        for flag in words.filter(|w| w.starts_with("--")) {
            assert!(
                help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                "custody {command} has no {flag}"
            );
        }
        checked += 1;
    }
    assert!(checked > 0, "the workflow runs custody");
    Ok(())
}
