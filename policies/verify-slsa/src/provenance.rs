//! What an in-toto statement carrying SLSA provenance says: the subjects, the predicate type, and
//! the facts the conditions look at (builder, build type, source repository and ref).

use serde_json::Value;

/// in-toto statement types accepted.
const STATEMENT_TYPES: [&str; 2] = [
    "https://in-toto.io/Statement/v0.1",
    "https://in-toto.io/Statement/v1",
];

/// SLSA provenance v0.2.
pub const SLSA_V0_2: &str = "https://slsa.dev/provenance/v0.2";
/// SLSA provenance v1.
pub const SLSA_V1: &str = "https://slsa.dev/provenance/v1";

/// The GitHub Actions workflow build type of SLSA v1 provenance made by GitHub's generators.
const GITHUB_WORKFLOW_V1: &str =
    "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1";

/// A statement's provenance, as far as the conditions go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Provenance {
    /// `predicateType`.
    pub predicate_type: String,
    /// `builder.id` (v0.2) or `runDetails.builder.id` (v1).
    pub builder_id: Option<String>,
    /// `buildType` (v0.2) or `buildDefinition.buildType` (v1).
    pub build_type: Option<String>,
    /// The source repository, as `https://host/owner/repo` (a `git+` prefix removed).
    pub source_repository: Option<String>,
    /// The source ref: `refs/heads/main`, `refs/tags/v1`.
    pub source_ref: Option<String>,
}

/// Reads an in-toto statement (parsed): checks its type and that `sha256` (hex) is one of its
/// subjects, then reads the provenance of the predicate types it knows (others give only the type).
pub fn read(statement: &Value, sha256: &str) -> Result<Provenance, String> {
    let kind = text(statement, &["_type"]).unwrap_or_default();
    if !STATEMENT_TYPES.contains(&kind.as_str()) {
        return Err(format!(
            "the payload is not an in-toto statement (_type {kind:?})"
        ));
    }
    let subjects = statement
        .get("subject")
        .and_then(Value::as_array)
        .ok_or("the in-toto statement has no subject list")?;
    let is_subject = subjects
        .iter()
        .any(|s| text(s, &["digest", "sha256"]).as_deref() == Some(sha256));
    if !is_subject {
        return Err(format!(
            "the attestation is for another image: sha256:{sha256} is not among its subjects"
        ));
    }
    let predicate_type = text(statement, &["predicateType"]).unwrap_or_default();
    let predicate = statement.get("predicate").unwrap_or(&Value::Null);
    let mut provenance = match predicate_type.as_str() {
        SLSA_V0_2 => v0_2(predicate),
        SLSA_V1 => v1(predicate),
        _ => Provenance::default(),
    };
    provenance.predicate_type = predicate_type;
    Ok(provenance)
}

fn v0_2(p: &Value) -> Provenance {
    let (source_repository, source_ref) = text(p, &["invocation", "configSource", "uri"])
        .map(|uri| split_git_uri(&uri))
        .unwrap_or_default();
    Provenance {
        builder_id: text(p, &["builder", "id"]),
        build_type: text(p, &["buildType"]),
        source_repository,
        source_ref,
        ..Provenance::default()
    }
}

fn v1(p: &Value) -> Provenance {
    let build_type = text(p, &["buildDefinition", "buildType"]);
    let (source_repository, source_ref) = if build_type.as_deref() == Some(GITHUB_WORKFLOW_V1) {
        let workflow = &["buildDefinition", "externalParameters", "workflow"];
        let field = |name: &str| {
            let mut path = workflow.to_vec();
            path.push(name);
            text(p, &path)
        };
        (field("repository"), field("ref"))
    } else {
        // Generic: the first git dependency, `git+https://host/repo@ref`.
        p.get("buildDefinition")
            .and_then(|b| b.get("resolvedDependencies"))
            .and_then(Value::as_array)
            .and_then(|deps| {
                deps.iter()
                    .filter_map(|d| text(d, &["uri"]))
                    .find(|uri| uri.starts_with("git+"))
            })
            .map(|uri| split_git_uri(&uri))
            .unwrap_or_default()
    };
    Provenance {
        builder_id: text(p, &["runDetails", "builder", "id"]),
        build_type,
        source_repository,
        source_ref,
        ..Provenance::default()
    }
}

/// `git+https://github.com/o/r@refs/heads/main` → (`https://github.com/o/r`, `refs/heads/main`).
fn split_git_uri(uri: &str) -> (Option<String>, Option<String>) {
    let uri = uri.strip_prefix("git+").unwrap_or(uri);
    // The ref follows the last `@` after the authority (an `@` before it is user info).
    let path_start = uri.find("://").map_or(0, |i| i + 3);
    let authority_end = uri
        .get(path_start..)
        .and_then(|rest| rest.find('/'))
        .map_or(uri.len(), |i| path_start + i);
    match uri.rfind('@').filter(|&at| at > authority_end) {
        Some(at) => (
            uri.get(..at).map(str::to_owned),
            uri.get(at + 1..).map(str::to_owned),
        ),
        None => (Some(uri.to_owned()), None),
    }
}

fn text(v: &Value, path: &[&str]) -> Option<String> {
    path.iter()
        .try_fold(v, |v, key| v.get(key))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const DIGEST: &str = "e0a0a765d690a5104331cfbac88ebbbf01736c1f87aaa3cd455c516a5ea586a5";

    fn statement(predicate_type: &str, predicate: Value) -> Value {
        json!({"_type": "https://in-toto.io/Statement/v1",
               "subject": [{"name": "x", "digest": {"sha256": DIGEST}}],
               "predicateType": predicate_type, "predicate": predicate})
    }

    #[test]
    fn v0_2_facts() {
        let p = read(
            &statement(SLSA_V0_2, json!({"builder": {"id": "B"}, "buildType": "T",
                "invocation": {"configSource": {"uri": "git+https://github.com/o/r@refs/tags/v1"}}})),
            DIGEST,
        )
        .unwrap();
        assert_eq!(p.builder_id.as_deref(), Some("B"));
        assert_eq!(p.build_type.as_deref(), Some("T"));
        assert_eq!(
            p.source_repository.as_deref(),
            Some("https://github.com/o/r")
        );
        assert_eq!(p.source_ref.as_deref(), Some("refs/tags/v1"));
    }

    #[test]
    fn v1_facts_github_and_generic() {
        let github = read(
            &statement(
                SLSA_V1,
                json!({"buildDefinition": {"buildType": GITHUB_WORKFLOW_V1,
                "externalParameters": {"workflow": {"ref": "refs/heads/main",
                    "repository": "https://github.com/o/r", "path": ".github/workflows/b.yml"}}},
                "runDetails": {"builder": {"id": "B1"}}}),
            ),
            DIGEST,
        )
        .unwrap();
        assert_eq!(github.builder_id.as_deref(), Some("B1"));
        assert_eq!(
            github.source_repository.as_deref(),
            Some("https://github.com/o/r")
        );
        assert_eq!(github.source_ref.as_deref(), Some("refs/heads/main"));
        let generic = read(
            &statement(SLSA_V1, json!({"buildDefinition": {"buildType": "other",
                "resolvedDependencies": [{"uri": "pkg:x"}, {"uri": "git+https://git@gitlab.com/o/r.git@refs/heads/dev"}]}})),
            DIGEST,
        )
        .unwrap();
        assert_eq!(
            generic.source_repository.as_deref(),
            Some("https://git@gitlab.com/o/r.git")
        );
        assert_eq!(generic.source_ref.as_deref(), Some("refs/heads/dev"));
    }

    #[test]
    fn subject_and_type_are_checked() {
        let other = read(&statement(SLSA_V0_2, json!({})), &"0".repeat(64)).unwrap_err();
        assert!(other.contains("is not among its subjects"), "{other}");
        let not_intoto = read(&json!({"_type": "x", "subject": []}), DIGEST).unwrap_err();
        assert!(
            not_intoto.contains("not an in-toto statement"),
            "{not_intoto}"
        );
        let no_subjects = read(&json!([]), DIGEST).unwrap_err();
        assert!(
            no_subjects.contains("not an in-toto statement"),
            "{no_subjects}"
        );
        let unknown = read(&statement("https://example.com/other", json!({})), DIGEST).unwrap();
        assert_eq!(unknown.predicate_type, "https://example.com/other");
        assert_eq!(unknown.builder_id, None);
        assert_eq!(
            split_git_uri("https://h/o/r"),
            (Some("https://h/o/r".into()), None)
        );
    }
}
