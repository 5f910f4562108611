//! The rule interface: what a policy crate implements.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::host::Host;
use crate::image::{Digest, ImageRef};
use crate::settings::PolicySettings;
use crate::workload::Container;

/// One image to judge: its parsed reference and its pod's annotations. Images that do not parse
/// never reach a rule (they are violations already), nor do exempt images; a denial is attributed
/// to every container that uses the image.
#[derive(Debug)]
pub struct Image<'a> {
    /// Its image, parsed.
    pub reference: ImageRef,
    /// The annotations of the pod it runs in (a workload's pod template annotations).
    pub pod_annotations: &'a BTreeMap<String, String>,
}

/// A rule's judgement of one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Nothing to object to.
    Allow,
    /// A violation; the text says what is wrong with the image (the container is named for it).
    Deny(String),
    /// Allowed once the image is pinned to this digest (a mutation).
    Pin(Digest),
}

/// A policy's rule: typed settings and a judgement per image.
pub trait Rule {
    /// The policy's own settings (the common ones are handled by the SDK).
    type Settings: PolicySettings;

    /// What the rule keeps from one image to the next within one request (what it has already
    /// read or verified, a work budget): made fresh for every request, never shared between
    /// requests. `()` for a rule that keeps nothing.
    type State: Default;

    /// Judges one image. `state` is the request's; `host` answers host capability calls (generic:
    /// a module has one host type, known when it is built, so its calls are direct).
    fn check<H: Host + ?Sized>(
        settings: &Self::Settings,
        state: &mut Self::State,
        image: &Image<'_>,
        host: &mut H,
    ) -> Check;
}

/// One reason to deny, tied to a container where there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    /// The container at fault, or `None` for the request as a whole.
    pub container: Option<ContainerId>,
    /// What is wrong.
    pub message: String,
}

/// Which container a violation is about (Gatekeeper's violation `details`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ContainerId {
    /// Its `name`.
    #[serde(rename = "container")]
    pub name: String,
    /// Where it is: `spec.template.spec.initContainers[1]`.
    pub location: String,
    /// Its `image` as written, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

impl Violation {
    /// A violation of the request as a whole.
    pub fn request(message: impl Into<String>) -> Self {
        Violation {
            container: None,
            message: message.into(),
        }
    }

    /// A violation by one container.
    pub fn container(container: &Container, message: impl Into<String>) -> Self {
        Violation {
            container: Some(ContainerId {
                name: container.name.clone(),
                location: container.location.to_string(),
                image: container.image.clone(),
            }),
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    /// `container "app" (spec.containers[0]): <message>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.container {
            Some(c) => write!(
                f,
                "container {:?} ({}): {}",
                c.name, c.location, self.message
            ),
            None => f.write_str(&self.message),
        }
    }
}

/// An image to rewrite: the JSON pointer of the container's `image` field and the new value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImagePatch {
    /// RFC 6901 pointer into the object.
    pub pointer: String,
    /// The pinned image.
    pub image: String,
}

/// The decision on a whole request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Allowed as it is.
    Allow,
    /// Denied, one violation per offending container.
    Deny(Vec<Violation>),
    /// Allowed once these images are rewritten.
    Mutate(Vec<ImagePatch>),
}
