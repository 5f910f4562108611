//! `oci/v2/verify`: an image's cosign signatures (tag `sha256-<hex>.sig`) verified natively for
//! every signer of a [`VerifyRequest`] (all of), as Kubewarden's host verifies them.
//!
//! Each simple-signing layer becomes a Sigstore bundle ([`cosign::signature_bundle`]) verified for
//! its payload; once verified, the payload must name the image's digest
//! (`critical.image.docker-manifest-digest`: the `docker-reference` proves nothing, an image may be
//! copied) and carry every annotation of the request.

use std::collections::BTreeMap;

use custody_sdk::host::{VerifyAnswer, VerifyRequest};
use custody_sigstore::cosign::{self, SimpleSigning};
#[cfg(test)]
use custody_sigstore::GITHUB_ACTIONS_ISSUER;
use custody_sigstore::{verify as verify_bundle, Artifact, Bundle, Matcher, Policy, TrustedRoot};

use crate::artifacts::SigLayer;
use crate::oci::Client;

/// One signer of a request: what it is called in messages, and the policy it must satisfy.
struct Signer {
    label: String,
    policy: Policy,
}

/// Answers `request`: trusted, with the image's digest, when every signer has at least one valid
/// signature layer; else an error naming each signer without one, and why (per layer).
pub(crate) fn verify(
    client: &mut Client,
    trusted_root: &TrustedRoot,
    request: &VerifyRequest,
    now: i64,
) -> Result<VerifyAnswer, String> {
    let signers = signers(request)?;
    let image = request.image();
    let signatures = client
        .signatures(image)
        .map_err(|e| format!("{image}: {e:#}"))?;
    let digest = signatures.digest;
    let required = request.annotations().cloned().unwrap_or_default();
    let layers: Vec<(usize, Result<Bundle, String>, &[u8])> = signatures
        .layers
        .iter()
        .map(|layer| (layer.index, layer_bundle(layer), layer.payload.as_slice()))
        .collect();

    let mut failures = Vec::new();
    for signer in &signers {
        let mut reasons = Vec::new();
        let mut trusted = false;
        for (index, bundle, payload) in &layers {
            let outcome = bundle.as_ref().map_err(Clone::clone).and_then(|bundle| {
                check_layer(
                    bundle,
                    payload,
                    &signer.policy,
                    trusted_root,
                    now,
                    &digest,
                    &required,
                )
            });
            match outcome {
                Ok(()) => {
                    trusted = true;
                    break;
                }
                Err(reason) => reasons.push(format!("layer {index}: {reason}")),
            }
        }
        if !trusted {
            let why = if layers.is_empty() {
                format!("no signature layers ({})", signatures.looked)
            } else {
                reasons.join("; ")
            };
            failures.push(format!("no valid signature by {}: {why}", signer.label));
        }
    }
    if failures.is_empty() {
        Ok(VerifyAnswer {
            is_trusted: true,
            digest,
        })
    } else {
        Err(format!(
            "image {image} ({digest}) is not trusted: {}",
            failures.join(". ")
        ))
    }
}

/// A signature layer as a Sigstore bundle.
fn layer_bundle(layer: &SigLayer) -> Result<Bundle, String> {
    let json =
        cosign::signature_bundle(&layer.payload, &layer.annotations).map_err(|e| e.to_string())?;
    let text = serde_json::to_vec(&json).map_err(|e| e.to_string())?;
    Bundle::from_json(&text).map_err(|e| e.to_string())
}

/// One layer for one signer: the bundle verifies for its payload, then the (now trusted) payload
/// names `digest` and carries every `required` annotation.
fn check_layer(
    bundle: &Bundle,
    payload: &[u8],
    policy: &Policy,
    trusted_root: &TrustedRoot,
    now: i64,
    digest: &str,
    required: &BTreeMap<String, String>,
) -> Result<(), String> {
    // The payload signed is the layer blob itself (the bundle carries it as its message).
    let message = bundle.message().unwrap_or(payload);
    verify_bundle(
        bundle,
        Artifact::Bytes(message),
        policy,
        trusted_root,
        Some(now),
    )
    .map_err(|e| e.to_string())?;
    SimpleSigning::from_json(message)
        .map_err(|e| e.to_string())?
        .check_image(digest, required)
}

/// The signers of a request, each with its policy; a request without any, or with one that
/// cannot be made into a policy, is an error naming it.
fn signers(request: &VerifyRequest) -> Result<Vec<Signer>, String> {
    let malformed = |what: String, e: &dyn std::fmt::Display| format!("{what}: {e}");
    let signers: Vec<Signer> = match request {
        VerifyRequest::SigstorePubKeyVerify { pub_keys, .. } => pub_keys
            .iter()
            .enumerate()
            .map(|(i, pem)| {
                // As Kubewarden's host: no log entry required, one present must verify.
                Policy::public_key_from_pem(pem, false)
                    .map(|policy| Signer {
                        label: format!("pub_keys[{i}]"),
                        policy,
                    })
                    .map_err(|e| malformed(format!("pub_keys[{i}]"), &e))
            })
            .collect::<Result<_, _>>()?,
        VerifyRequest::SigstoreKeylessVerify { keyless, .. } => keyless
            .iter()
            .map(|k| Signer {
                label: format!("issuer {:?}, subject {:?}", k.issuer, k.subject),
                policy: Policy::identity(k.issuer.clone(), k.subject.clone()),
            })
            .collect(),
        VerifyRequest::SigstoreKeylessPrefixVerify { keyless_prefix, .. } => keyless_prefix
            .iter()
            .enumerate()
            .map(|(i, k)| {
                Matcher::prefix(k.url_prefix.clone())
                    .map(|subject| Signer {
                        label: format!("issuer {:?}, subject prefix {:?}", k.issuer, k.url_prefix),
                        policy: Policy::Identity {
                            issuer: Matcher::exact(k.issuer.clone()),
                            subject,
                        },
                    })
                    .map_err(|e| malformed(format!("keyless_prefix[{i}].url_prefix"), &e))
            })
            .collect::<Result<_, _>>()?,
        VerifyRequest::SigstoreGithubActionsVerify { owner, repo, .. } => {
            let policy = Policy::github_actions(owner, repo.as_deref())
                .map_err(|e| e.message().into_owned())?;
            let path = match repo {
                Some(repo) => format!("{owner}/{repo}"),
                None => format!("{owner}/*"),
            };
            vec![Signer {
                label: format!("GitHub Actions workflows of {path}"),
                policy,
            }]
        }
        VerifyRequest::SigstoreCertificateVerify {
            certificate,
            certificate_chain,
            require_rekor_bundle,
            ..
        } => {
            let chain: Vec<&[u8]> = certificate_chain
                .iter()
                .flatten()
                .map(Vec::as_slice)
                .collect();
            let policy = Policy::certificate_from_pem(certificate, &chain, *require_rekor_bundle)
                .map_err(|e| malformed("certificate".to_owned(), &e))?;
            vec![Signer {
                label: "the certificate".to_owned(),
                policy,
            }]
        }
    };
    if signers.is_empty() {
        return Err(format!(
            "invalid oci/v2/verify request for {}: no key or identity to verify",
            request.image()
        ));
    }
    Ok(signers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use custody_sdk::host::{KeylessInfo, KeylessPrefixInfo};

    fn image() -> String {
        "127.0.0.1:5000/app:v1".to_owned()
    }

    fn error(request: VerifyRequest) -> String {
        match signers(&request) {
            Ok(signers) => panic!(
                "expected an error, got {:?}",
                signers.iter().map(|s| &s.label).collect::<Vec<_>>()
            ),
            Err(e) => e,
        }
    }

    #[test]
    fn requests_without_signers_are_refused() {
        let e = error(VerifyRequest::SigstorePubKeyVerify {
            image: image(),
            pub_keys: vec![],
            annotations: None,
        });
        assert!(e.contains("no key or identity"), "{e}");
        let e = error(VerifyRequest::SigstoreKeylessVerify {
            image: image(),
            keyless: vec![],
            annotations: None,
        });
        assert!(e.contains("no key or identity"), "{e}");
    }

    #[test]
    fn malformed_signers_are_named() {
        let e = error(VerifyRequest::SigstorePubKeyVerify {
            image: image(),
            pub_keys: vec!["not a key".into()],
            annotations: None,
        });
        assert!(e.starts_with("pub_keys[0]: "), "{e}");
        let e = error(VerifyRequest::SigstoreKeylessPrefixVerify {
            image: image(),
            keyless_prefix: vec![KeylessPrefixInfo {
                issuer: GITHUB_ACTIONS_ISSUER.into(),
                url_prefix: "https://github.com/org".into(),
            }],
            annotations: None,
        });
        assert!(e.starts_with("keyless_prefix[0].url_prefix: "), "{e}");
        for (owner, repo) in [
            ("", None),
            ("a/b", None),
            ("org", Some("x/y")),
            ("..", None),
        ] {
            let e = error(VerifyRequest::SigstoreGithubActionsVerify {
                image: image(),
                owner: owner.into(),
                repo: repo.map(Into::into),
                annotations: None,
            });
            let want = match repo {
                Some(repo) => format!("repository: {repo:?} is not a GitHub repository name"),
                None => format!("owner: {owner:?} is not a GitHub owner name"),
            };
            assert!(e.starts_with(&want), "{e}");
        }
        let e = error(VerifyRequest::SigstoreCertificateVerify {
            image: image(),
            certificate: b"not a certificate".to_vec(),
            certificate_chain: None,
            require_rekor_bundle: true,
            annotations: None,
        });
        assert!(e.starts_with("certificate: "), "{e}");
    }

    #[test]
    fn signers_map_to_policies() -> Result<(), String> {
        let keyless = signers(&VerifyRequest::SigstoreKeylessVerify {
            image: image(),
            keyless: vec![
                KeylessInfo {
                    issuer: "https://accounts.google.com".into(),
                    subject: "a@example.com".into(),
                },
                KeylessInfo {
                    issuer: "https://github.com/login/oauth".into(),
                    subject: "b@example.com".into(),
                },
            ],
            annotations: None,
        })?;
        assert_eq!(keyless.len(), 2);
        assert!(matches!(
            &keyless[1].policy,
            Policy::Identity { issuer: Matcher::Exact(i), subject: Matcher::Exact(s) }
                if i == "https://github.com/login/oauth" && s == "b@example.com"
        ));

        let github = signers(&VerifyRequest::SigstoreGithubActionsVerify {
            image: image(),
            owner: "acme".into(),
            repo: Some("app".into()),
            annotations: None,
        })?;
        let [Signer {
            policy: Policy::Identity { issuer, subject },
            ..
        }] = github.as_slice()
        else {
            return Err("one identity signer expected".into());
        };
        assert_eq!(issuer, &Matcher::exact(GITHUB_ACTIONS_ISSUER));
        let workflow = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1";
        assert!(subject.matches(workflow));
        assert!(!subject.matches("https://github.com/acme/app-fork/.github/workflows/x.yml@r"));
        assert!(!subject.matches("https://github.com/acme/other/.github/workflows/x.yml@r"));

        let owner = signers(&VerifyRequest::SigstoreGithubActionsVerify {
            image: image(),
            owner: "acme".into(),
            repo: None,
            annotations: None,
        })?;
        let [Signer {
            policy: Policy::Identity { subject, .. },
            ..
        }] = owner.as_slice()
        else {
            return Err("one identity signer expected".into());
        };
        assert!(subject.matches(workflow));
        assert!(subject.matches("https://github.com/acme/other/.github/workflows/x.yml@r"));
        assert!(!subject.matches("https://github.com/acme-evil/app/.github/workflows/x.yml@r"));

        let keys = signers(&VerifyRequest::SigstorePubKeyVerify {
            image: image(),
            pub_keys: vec![
                "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAENptdY/l3nB0yqkXLBWkZWQwo6+cu\nOSWS1X9vPavpiQOoTTGC0xX57OojUadxF1cdQmrsiReWg2Wn4FneJfa8xw==\n-----END PUBLIC KEY-----\n".into(),
            ],
            annotations: None,
        })?;
        // As Kubewarden's host: a key signature needs no log entry.
        assert!(matches!(keys.as_slice(), [s] if !s.policy.requires_tlog()));
        Ok(())
    }
}
