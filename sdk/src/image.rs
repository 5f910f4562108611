//! OCI / Docker image references: `[domain/]path[:tag][@digest]`.
//!
//! The parser follows the grammar of the distribution `reference` package together with
//! Docker's normalisation rules:
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [domain '/'] remote-name
//! domain           := host [':' port-number]
//! host             := domain-name | IPv4address | \[ IPv6address \]
//! domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! path-component   := alpha-numeric [separator alpha-numeric]*
//! alpha-numeric    := /[a-z0-9]+/
//! separator        := /[_.]|__|[-]+/
//! tag              := /[\w][\w.-]{0,127}/
//! digest           := algorithm ":" encoded
//! ```
//!
//! * The first path segment is a registry domain only if it contains `.` or `:`, is
//!   `localhost`, or contains an upper-case letter; otherwise the reference names a Docker Hub
//!   repository (`nginx` is `docker.io/library/nginx`).
//! * A missing tag stays missing: `latest` is never filled in ([`ImageRef::tag`] is `None`).
//! * Only `sha256`, `sha384` and `sha512` digests are accepted, with exactly 64, 96 or 128
//!   lower-case hex characters.
//! * A port is a number from 1 to 65535 (stricter than the grammar's any digits: no runtime
//!   pulls from another, and the canonical form needs the number).
//!
//! # Canonical form
//!
//! Policies never match the text as written: image patterns (`exemptImages`, `pinTags`,
//! verify-slsa's `images[].patterns`) match the canonical form, which is [`ImageRef`]'s
//! `Display` ([`ImageRef::name`] without tag and digest). Every spelling a container runtime
//! pulls from the same registry endpoint has the same canonical form, so a strict rule for
//! `ghcr.io/org/*` cannot be dodged by writing `GHCR.IO/org/app` or `ghcr.io:443/org/app`.
//!
//! * The registry host is lower-case: host names compare case-insensitively (DNS), so
//!   `GHCR.IO`, `Ghcr.io` and `ghcr.io` are one registry. An IPv6 address is written as
//!   RFC 5952 recommends (lower-case hex, zeros compressed): `[0:0::1]` is `[::1]`.
//! * A port is written without leading zeros (`:05000` is `:5000`).
//! * Port 443 is the registry: `ghcr.io:443` is `ghcr.io`. A registry is reached over HTTPS,
//!   on 443 unless a port is written, so both spellings name one endpoint. Port 80 is *not*
//!   folded: `registry:80` is plain HTTP, a separate endpoint (a separate listener, usually a
//!   separate server or an insecure-registry exception), and judging it by the rules written
//!   for `registry` would lend it their trust.
//! * Docker Hub: `index.docker.io` is `docker.io` (in any case, with or without `:443`), and a
//!   single-component repository there gets `library/`: `nginx`, `DOCKER.IO/nginx` and
//!   `index.docker.io:443/nginx` are all `docker.io/library/nginx`.
//! * A single-label host other than `localhost` is written with its port, `:443` when none was
//!   written: `MyRegistry/app` (a registry only because of its capital letters) is
//!   `myregistry:443/app`, since `myregistry/app` would name Docker Hub's `myregistry/app`.
//! * The repository path is already lower-case (the grammar refuses upper case); the tag is
//!   case-sensitive and kept as written (`Latest` is not `latest`); digests are lower-case hex.
//!
//! [`ImageRef::original`] keeps the reference as written: messages quote it, and a pinning
//! mutation appends `@digest` to it, so the pod keeps its author's spelling.
//!
//! Names are not folded beyond that: `registry-1.docker.io` (Docker Hub's API host, which
//! Docker itself keeps distinct), mirrors, CNAMEs and a registry's IP addresses are other
//! registries to a policy; a default-deny entry is what covers names no pattern foresaw.
//!
//! Parsing never panics and never does I/O: the input is attacker-controlled admission data.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// Longest input accepted at all, in bytes; anything longer is rejected before parsing.
pub const MAX_REFERENCE_LENGTH: usize = 4096;
/// Longest normalised name (`domain/path`), in characters.
pub const MAX_NAME_LENGTH: usize = 255;
/// Longest tag, in characters.
pub(crate) const MAX_TAG_LENGTH: usize = 128;
/// The registry of references without a domain.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The legacy name of Docker Hub, normalised to [`DEFAULT_DOMAIN`].
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// The port a registry is reached on when none is written: HTTPS's.
pub(crate) const DEFAULT_PORT: u16 = 443;
/// The namespace of single-component Docker Hub repositories.
const OFFICIAL_REPOSITORY_PREFIX: &str = "library/";

// ---------------------------------------------------------------------------------------------
// Digests
// ---------------------------------------------------------------------------------------------

/// A supported digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// `sha256`: 64 hex characters.
    Sha256,
    /// `sha384`: 96 hex characters.
    Sha384,
    /// `sha512`: 128 hex characters.
    Sha512,
}

impl DigestAlgorithm {
    /// The algorithm's name as written in a digest, e.g. `"sha256"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// The algorithm named `s` (exact, lower-case), if it is supported.
    pub(crate) fn from_name(s: &str) -> Option<Self> {
        match s {
            "sha256" => Some(Self::Sha256),
            "sha384" => Some(Self::Sha384),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The number of hex characters of an encoded digest of this algorithm.
    pub fn hex_len(&self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha384 => 96,
            Self::Sha512 => 128,
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A content digest, `algorithm:encoded`, already validated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    algorithm: DigestAlgorithm,
    encoded: String,
}

impl Digest {
    /// Parses `algorithm:hex`, e.g. `sha256:` followed by 64 lower-case hex characters.
    pub fn parse(s: &str) -> Result<Digest, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::EmptyDigest);
        }
        if s.len() > MAX_REFERENCE_LENGTH {
            return Err(ReferenceError::TooLong {
                what: "digest",
                length: s.len(),
                max: MAX_REFERENCE_LENGTH,
            });
        }
        let Some((algorithm, encoded)) = s.split_once(':') else {
            return Err(ReferenceError::MissingDigestAlgorithm {
                digest: s.to_owned(),
            });
        };
        if algorithm.is_empty() {
            return Err(ReferenceError::MissingDigestAlgorithm {
                digest: s.to_owned(),
            });
        }
        if !is_valid_algorithm_name(algorithm) {
            return Err(ReferenceError::InvalidDigestAlgorithm {
                algorithm: algorithm.to_owned(),
            });
        }
        if encoded.is_empty() {
            return Err(ReferenceError::MissingDigestEncoded {
                digest: s.to_owned(),
            });
        }
        let Some(known) = DigestAlgorithm::from_name(algorithm) else {
            return Err(ReferenceError::UnsupportedDigestAlgorithm {
                algorithm: algorithm.to_owned(),
            });
        };
        if let Some((position, character)) =
            first_disallowed(encoded, |_, c| matches!(c, '0'..='9' | 'a'..='f'))
        {
            return Err(ReferenceError::InvalidDigestCharacter {
                digest: s.to_owned(),
                algorithm: known,
                character,
                position,
            });
        }
        // Only ASCII is left, so bytes are characters.
        if encoded.len() != known.hex_len() {
            return Err(ReferenceError::InvalidDigestLength {
                digest: s.to_owned(),
                algorithm: known,
                expected: known.hex_len(),
                found: encoded.len(),
            });
        }
        Ok(Digest {
            algorithm: known,
            encoded: encoded.to_owned(),
        })
    }

    /// The digest's algorithm.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The hex part after the `:`.
    pub fn encoded(&self) -> &str {
        &self.encoded
    }

    /// The 32 bytes of a sha256 digest; `None` for other algorithms.
    pub fn sha256_bytes(&self) -> Option<[u8; 32]> {
        if self.algorithm != DigestAlgorithm::Sha256 {
            return None;
        }
        hex_decode(&self.encoded).and_then(|bytes| bytes.try_into().ok())
    }
}

/// Hex (either case) to bytes; `None` for an odd length or a non-hex character.
pub(crate) fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |c: u8| char::from(c).to_digit(16);
            u8::try_from(digit(*pair.first()?)? * 16 + digit(*pair.get(1)?)?).ok()
        })
        .collect()
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.encoded)
    }
}

impl FromStr for Digest {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

/// `component ([+._-] component)*` with `component := [A-Za-z][A-Za-z0-9]*`.
fn is_valid_algorithm_name(s: &str) -> bool {
    s.split(['+', '.', '_', '-']).all(|component| {
        let mut chars = component.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric())
    })
}

// ---------------------------------------------------------------------------------------------
// Image references
// ---------------------------------------------------------------------------------------------

/// A parsed, validated and normalised image reference. Its [`Display`](fmt::Display) form is the
/// canonical reference (`ghcr.io/org/app:1` for `GHCR.IO:443/org/app:1`), which parses back to
/// itself; [`original`](Self::original) keeps the text as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    original: String,
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl ImageRef {
    /// Parses and normalises an image reference such as `nginx:1.25` or
    /// `ghcr.io/org/app@sha256:...`.
    pub fn parse(s: &str) -> Result<ImageRef, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if s.len() > MAX_REFERENCE_LENGTH {
            return Err(ReferenceError::TooLong {
                what: "image reference",
                length: s.len(),
                max: MAX_REFERENCE_LENGTH,
            });
        }
        if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
            return Err(ReferenceError::SurroundingWhitespace);
        }
        if let Some((position, character)) = first_disallowed(s, |_, c| c.is_ascii_graphic()) {
            return Err(ReferenceError::InvalidCharacter {
                character,
                position,
            });
        }

        // From here on the input is printable ASCII.
        let (name_and_tag, digest_text) = match s.split_once('@') {
            Some((_, digest)) if digest.contains('@') => {
                return Err(ReferenceError::MultipleAtSigns)
            }
            Some((name_and_tag, digest)) => (name_and_tag, Some(digest)),
            None => (s, None),
        };

        if name_and_tag.starts_with('[') && !name_and_tag.contains('/') {
            return Err(ReferenceError::InvalidDomain {
                domain: name_and_tag.to_owned(),
                reason: "a registry domain must be followed by '/' and a repository path"
                    .to_owned(),
            });
        }

        // The tag follows the last ':' unless that ':' belongs to the domain (a port, or
        // inside an IPv6 literal), i.e. unless a '/' or ']' comes after it.
        let (name, tag) = match name_and_tag.rsplit_once(':') {
            Some((name, tag)) if !tag.bytes().any(|b| b == b'/' || b == b']') => (name, Some(tag)),
            _ => (name_and_tag, None),
        };
        if name.is_empty() {
            return Err(ReferenceError::MissingName);
        }

        let (domain, path) = split_domain(name)?;
        let domain = match domain {
            Some(domain) => canonical_domain(domain)?,
            None => DEFAULT_DOMAIN.to_owned(),
        };
        validate_path(path)?;
        if let Some(tag) = tag {
            validate_tag(tag)?;
        }
        let digest = digest_text.map(Digest::parse).transpose()?;

        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("{OFFICIAL_REPOSITORY_PREFIX}{path}")
        } else {
            path.to_owned()
        };
        let name_length = domain.len() + 1 + path.len();
        if name_length > MAX_NAME_LENGTH {
            return Err(ReferenceError::TooLong {
                what: "image name",
                length: name_length,
                max: MAX_NAME_LENGTH,
            });
        }

        Ok(ImageRef {
            original: s.to_owned(),
            domain,
            path,
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// The reference exactly as it was written: what a mutation rewrites, and what messages
    /// quote. Never matched against (see the module documentation).
    pub fn original(&self) -> &str {
        &self.original
    }

    /// The canonical registry domain: `"docker.io"`, `"ghcr.io"` (for `GHCR.IO:443` too),
    /// `"registry:5000"`, `"[::1]:5000"`, `"myregistry:443"` (for `MyRegistry`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The normalised repository path: `"library/nginx"`, `"org/team/app"`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The canonical `domain/path`, e.g. `"docker.io/library/nginx"`: what patterns match,
    /// with the canonical [`Display`](fmt::Display) form.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The tag, if one was written (`latest` is never filled in).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if one was written.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

/// Splits a name (no tag, no digest) into its domain, if it has one, and its path.
fn split_domain(name: &str) -> Result<(Option<&str>, &str), ReferenceError> {
    if name.starts_with('[') {
        // Only a domain can start with '['; say what is wrong with it rather than complain
        // about a strange path. (`parse` has already rejected a '[' without any '/'.)
        let (domain, path) = name.split_once('/').unwrap_or((name, ""));
        if !domain.contains(']') {
            return Err(ReferenceError::InvalidDomain {
                domain: domain.to_owned(),
                reason: "unclosed '[' in IPv6 address".to_owned(),
            });
        }
        return Ok((Some(domain), path));
    }
    match name.split_once('/') {
        Some((first, rest)) if looks_like_domain(first) => Ok((Some(first), rest)),
        _ => Ok((None, name)),
    }
}

/// Docker's rule for telling a registry domain from the first path component.
pub(crate) fn looks_like_domain(first: &str) -> bool {
    first
        .bytes()
        .any(|b| b == b'.' || b == b':' || b.is_ascii_uppercase())
        || first == "localhost"
}

/// Checks `host[:port]`, with `host` a domain name, an IPv4 address or a bracketed IPv6 address,
/// and returns its canonical spelling (see the module documentation): `GHCR.IO:443` is
/// `ghcr.io`, `Index.Docker.Io` is `docker.io`, `[0:0::1]:05000` is `[::1]:5000` and
/// `MyRegistry` is `myregistry:443`.
pub(crate) fn canonical_domain(domain: &str) -> Result<String, ReferenceError> {
    let invalid = |reason: String| ReferenceError::InvalidDomain {
        domain: domain.to_owned(),
        reason,
    };
    let (host, port) = if let Some(bracketed) = domain.strip_prefix('[') {
        let Some((address, after)) = bracketed.split_once(']') else {
            return Err(invalid("unclosed '[' in IPv6 address".to_owned()));
        };
        if address.contains('%') {
            return Err(invalid(
                "IPv6 zone identifiers ('%...') are not allowed".to_owned(),
            ));
        }
        let Ok(address) = Ipv6Addr::from_str(address) else {
            return Err(invalid(format!(
                "{} is not a valid IPv6 address",
                Quoted(address)
            )));
        };
        let port = if after.is_empty() {
            None
        } else if let Some(port) = after.strip_prefix(':') {
            Some(port)
        } else {
            return Err(invalid(format!(
                "unexpected {} after the IPv6 address, expected ':' and a port",
                Quoted(after)
            )));
        };
        // `Display` writes the RFC 5952 form: lower-case hex, zeros compressed.
        (format!("[{address}]"), port)
    } else {
        let (host, port) = match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        };
        if host.is_empty() {
            return Err(invalid("missing host name".to_owned()));
        }
        for component in host.split('.') {
            validate_domain_component(component).map_err(&invalid)?;
        }
        (host.to_ascii_lowercase(), port)
    };
    let port = port.map(|port| canonical_port(domain, port)).transpose()?;
    // Without a port the registry is reached over HTTPS, on 443: `:443` is written only where
    // the host alone would read as a Docker Hub repository (`myregistry:443/app`, not
    // `myregistry/app`), and then always.
    let self_evident = looks_like_domain(&host);
    let port = match port {
        Some(DEFAULT_PORT) if self_evident => None,
        None if !self_evident => Some(DEFAULT_PORT),
        port => port,
    };
    let canonical = match port {
        Some(port) => format!("{host}:{port}"),
        None => host,
    };
    Ok(if canonical == LEGACY_DEFAULT_DOMAIN {
        DEFAULT_DOMAIN.to_owned()
    } else {
        canonical
    })
}

/// A port written with decimal digits only, as a number from 1 to 65535 (leading zeros dropped).
fn canonical_port(domain: &str, port: &str) -> Result<u16, ReferenceError> {
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ReferenceError::InvalidPort {
            domain: domain.to_owned(),
            port: port.to_owned(),
        });
    }
    // Leading zeros are dropped first, so that a long run of them is not an overflow.
    match port.trim_start_matches('0').parse::<u16>() {
        Ok(number) if number > 0 => Ok(number),
        _ => Err(ReferenceError::PortOutOfRange {
            domain: domain.to_owned(),
            port: port.to_owned(),
        }),
    }
}

/// `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?`
fn validate_domain_component(component: &str) -> Result<(), String> {
    if component.is_empty() {
        return Err(
            "empty domain component (two dots in a row, or a leading or trailing dot)".to_owned(),
        );
    }
    if let Some((_, c)) = first_disallowed(component, |_, c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(format!(
            "character '{}' is not allowed in a host name",
            c.escape_debug()
        ));
    }
    if component.starts_with('-') || component.ends_with('-') {
        return Err(format!(
            "domain component {} must start and end with a letter or digit",
            Quoted(component)
        ));
    }
    Ok(())
}

/// `path-component ('/' path-component)*`, lower-case only.
fn validate_path(path: &str) -> Result<(), ReferenceError> {
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ReferenceError::RepositoryNotLowercase {
            repository: path.to_owned(),
        });
    }
    for component in path.split('/') {
        if component.is_empty() {
            return Err(ReferenceError::EmptyPathComponent {
                path: path.to_owned(),
            });
        }
        validate_path_component(component).map_err(|reason| {
            ReferenceError::InvalidPathComponent {
                component: component.to_owned(),
                reason,
            }
        })?;
    }
    Ok(())
}

/// `[a-z0-9]+ (separator [a-z0-9]+)*` with `separator := [_.] | __ | -+`.
///
/// One pass over the bytes (this runs for every image of every request); characters are only
/// decoded to describe an error.
fn validate_path_component(component: &str) -> Result<(), String> {
    // Start of the separator run being read, if any.
    let mut separator_start: Option<usize> = None;
    let mut seen_alphanumeric = false;
    for (i, b) in component.bytes().enumerate() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' => {
                if let Some(start) = separator_start.take() {
                    let separator = component.get(start..i).unwrap_or_default();
                    if !is_valid_separator(separator) {
                        return Err(format!(
                            "separator {} is not allowed (use '.', '_', '__' or one or more '-')",
                            Quoted(separator)
                        ));
                    }
                }
                seen_alphanumeric = true;
            }
            b'.' | b'_' | b'-' => {
                if !seen_alphanumeric {
                    return Err(format!(
                        "a path component must start with a lower-case letter or digit, not '{}'",
                        char::from(b)
                    ));
                }
                separator_start.get_or_insert(i);
            }
            _ => {
                let c = component
                    .get(i..)
                    .and_then(|rest| rest.chars().next())
                    .unwrap_or(char::REPLACEMENT_CHARACTER);
                return Err(format!(
                "character '{}' is not allowed (only lower-case letters, digits, '.', '_' and '-')",
                c.escape_debug()
            ));
            }
        }
    }
    if let Some(start) = separator_start {
        return Err(format!(
            "a path component must end with a lower-case letter or digit, not {}",
            Quoted(component.get(start..).unwrap_or_default())
        ));
    }
    Ok(())
}

fn is_valid_separator(separator: &str) -> bool {
    matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-')
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
pub fn validate_tag(tag: &str) -> Result<(), ReferenceError> {
    if tag.is_empty() {
        return Err(ReferenceError::EmptyTag);
    }
    // Settings pass tags that nothing has checked yet: count characters, cheaply when ASCII.
    let length = if tag.is_ascii() {
        tag.len()
    } else {
        tag.chars().count()
    };
    if length > MAX_TAG_LENGTH {
        return Err(ReferenceError::TagTooLong {
            tag: tag.to_owned(),
            length,
            max: MAX_TAG_LENGTH,
        });
    }
    match first_disallowed(tag, |position, c| {
        c.is_ascii_alphanumeric() || c == '_' || (position > 0 && matches!(c, '.' | '-'))
    }) {
        Some((position, character)) => Err(ReferenceError::InvalidTag {
            tag: tag.to_owned(),
            character,
            position,
        }),
        None => Ok(()),
    }
}

/// The first character of `s` that `allowed` (given its position in characters) rejects.
///
/// Every image of every request goes through these checks, so the bytes are scanned first and
/// characters are decoded only when something is wrong (non-ASCII bytes always are).
fn first_disallowed(s: &str, allowed: impl Fn(usize, char) -> bool) -> Option<(usize, char)> {
    if s.bytes()
        .enumerate()
        .all(|(i, b)| b.is_ascii() && allowed(i, char::from(b)))
    {
        return None;
    }
    s.chars().enumerate().find(|&(i, c)| !allowed(i, c))
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a string is not a valid image reference or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReferenceError {
    /// The input is empty.
    Empty,
    /// The input (`what` = `"image reference"` or `"digest"`, limit in bytes) or the normalised
    /// name (`what` = `"image name"`, limit in characters) is too long.
    TooLong {
        what: &'static str,
        length: usize,
        max: usize,
    },
    /// The input starts or ends with whitespace.
    SurroundingWhitespace,
    /// A character that is not printable ASCII (control, space, non-ASCII); `position` counts
    /// characters from 0.
    InvalidCharacter { character: char, position: usize },
    /// More than one `@`.
    MultipleAtSigns,
    /// Nothing before the `:tag` or `@digest`.
    MissingName,
    /// The registry domain is malformed.
    InvalidDomain { domain: String, reason: String },
    /// The registry port is empty or not decimal digits.
    InvalidPort { domain: String, port: String },
    /// The registry port is decimal digits, but 0 or above 65535.
    PortOutOfRange { domain: String, port: String },
    /// The repository path has an empty component (`a//b`, `/a`, `a/`).
    EmptyPathComponent { path: String },
    /// A repository path component breaks the grammar.
    InvalidPathComponent { component: String, reason: String },
    /// The repository path contains upper-case letters.
    RepositoryNotLowercase { repository: String },
    /// Nothing after the tag's `:` (`nginx:`).
    EmptyTag,
    /// The tag is longer than `max` characters.
    TagTooLong {
        tag: String,
        length: usize,
        max: usize,
    },
    /// The tag has a character not allowed at `position` (counted from 0).
    InvalidTag {
        tag: String,
        character: char,
        position: usize,
    },
    /// Nothing after the `@`, or an empty digest string.
    EmptyDigest,
    /// No `algorithm:` before the hex part.
    MissingDigestAlgorithm { digest: String },
    /// Nothing after `algorithm:`.
    MissingDigestEncoded { digest: String },
    /// The algorithm name breaks the digest-algorithm grammar.
    InvalidDigestAlgorithm { algorithm: String },
    /// A well-formed algorithm other than sha256, sha384 and sha512.
    UnsupportedDigestAlgorithm { algorithm: String },
    /// The hex part has the wrong length for its algorithm.
    InvalidDigestLength {
        digest: String,
        algorithm: DigestAlgorithm,
        expected: usize,
        found: usize,
    },
    /// The hex part has a character other than `0-9a-f` at `position` (counted from 0).
    InvalidDigestCharacter {
        digest: String,
        algorithm: DigestAlgorithm,
        character: char,
        position: usize,
    },
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty image reference"),
            Self::TooLong { what, length, max } => {
                let unit = if *what == "image name" {
                    "characters"
                } else {
                    "bytes"
                };
                write!(f, "{what} is too long: at most {max} {unit}, got {length}")
            }
            Self::SurroundingWhitespace => {
                f.write_str("image reference has leading or trailing whitespace")
            }
            Self::InvalidCharacter {
                character,
                position,
            } => write!(
                f,
                "invalid character {} at position {position}: an image reference is printable ASCII only",
                CharName(*character)
            ),
            Self::MultipleAtSigns => f.write_str("more than one '@' in image reference"),
            Self::MissingName => {
                f.write_str("missing repository name before the tag or digest")
            }
            Self::InvalidDomain { domain, reason } => {
                write!(f, "invalid registry domain {}: {reason}", Quoted(domain))
            }
            Self::InvalidPort { domain, port } => write!(
                f,
                "invalid port {} in registry domain {}: a port is one or more decimal digits",
                Quoted(port),
                Quoted(domain)
            ),
            Self::PortOutOfRange { domain, port } => write!(
                f,
                "invalid port {} in registry domain {}: a port is a number from 1 to 65535",
                Quoted(port),
                Quoted(domain)
            ),
            Self::EmptyPathComponent { path } => {
                write!(f, "empty path component in repository name {}", Quoted(path))
            }
            Self::InvalidPathComponent { component, reason } => {
                write!(f, "invalid path component {}: {reason}", Quoted(component))
            }
            Self::RepositoryNotLowercase { repository } => {
                write!(f, "repository name {} must be lower-case", Quoted(repository))
            }
            Self::EmptyTag => f.write_str("empty tag after ':'"),
            Self::TagTooLong { tag, length, max } => write!(
                f,
                "invalid tag {}: a tag is at most {max} characters, got {length}",
                Quoted(tag)
            ),
            Self::InvalidTag {
                tag,
                character,
                position: 0,
            } => write!(
                f,
                "invalid tag {}: a tag must start with a letter, digit or '_', not {}",
                Quoted(tag),
                CharName(*character)
            ),
            Self::InvalidTag {
                tag,
                character,
                position,
            } => write!(
                f,
                "invalid tag {}: character {} at position {position} is not allowed (only letters, digits, '_', '.' and '-')",
                Quoted(tag),
                CharName(*character)
            ),
            Self::EmptyDigest => f.write_str("empty digest: expected \"algorithm:hex\""),
            Self::MissingDigestAlgorithm { digest } => write!(
                f,
                "invalid digest {}: missing the algorithm, expected \"algorithm:hex\"",
                Quoted(digest)
            ),
            Self::MissingDigestEncoded { digest } => write!(
                f,
                "invalid digest {}: missing the hex part after ':'",
                Quoted(digest)
            ),
            Self::InvalidDigestAlgorithm { algorithm } => write!(
                f,
                "invalid digest algorithm {}: expected letters and digits starting with a letter, optionally joined by '+', '.', '_' or '-'",
                Quoted(algorithm)
            ),
            Self::UnsupportedDigestAlgorithm { algorithm } => write!(
                f,
                "unsupported digest algorithm {}: expected sha256, sha384 or sha512",
                Quoted(algorithm)
            ),
            Self::InvalidDigestLength {
                digest,
                algorithm,
                expected,
                found,
            } => write!(
                f,
                "invalid digest {}: {algorithm} needs {expected} lower-case hex characters, got {found}",
                Quoted(digest)
            ),
            Self::InvalidDigestCharacter {
                digest,
                algorithm,
                character,
                position,
            } => write!(
                f,
                "invalid digest {}: {algorithm} needs {} lower-case hex characters, found {} at position {position}",
                Quoted(digest),
                algorithm.hex_len(),
                CharName(*character)
            ),
        }
    }
}

impl std::error::Error for ReferenceError {}

/// Input echoed in a message: quoted, escaped, and cut short so hostile input stays readable.
struct Quoted<'a>(&'a str);

impl Quoted<'_> {
    const MAX_SHOWN: usize = 80;
}

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        let mut chars = self.0.chars();
        for c in chars.by_ref().take(Self::MAX_SHOWN) {
            write!(f, "{}", c.escape_debug())?;
        }
        if chars.next().is_some() {
            f.write_str("...")?;
        }
        f.write_str("\"")
    }
}

/// A character in a message: `'x'`, or its code point when it would not show.
struct CharName(char);

impl fmt::Display for CharName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        if c.is_ascii_graphic() {
            write!(f, "'{c}'")
        } else if c.is_control() || c.is_whitespace() {
            write!(f, "U+{:04X}", u32::from(c))
        } else {
            write!(f, "'{}' (U+{:04X})", c.escape_debug(), u32::from(c))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::expect_used
)]
mod tests {
    use super::*;

    const H64: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn hex(n: usize) -> String {
        "0123456789abcdef".chars().cycle().take(n).collect()
    }

    #[test]
    fn hex_decodes_both_cases_and_refuses_junk() {
        assert_eq!(hex_decode("00fFa1"), Some(vec![0, 0xff, 0xa1]));
        assert_eq!(hex_decode("abc"), None);
        assert_eq!(hex_decode("zz"), None);
        assert_eq!(hex_decode(""), Some(vec![]));
    }

    #[test]
    fn sha256_bytes_only_for_sha256() {
        let d = Digest::parse(&format!("sha256:{H64}")).unwrap();
        let bytes = d.sha256_bytes().unwrap();
        assert_eq!(bytes[0], 0x01);
        assert_eq!(bytes[31], 0xef);
        let sha512 = Digest::parse(&format!("sha512:{}", hex(128))).unwrap();
        assert_eq!(sha512.sha256_bytes(), None);
    }

    /// A valid reference and what it must parse to.
    struct Valid {
        input: String,
        domain: &'static str,
        path: String,
        tag: Option<String>,
        digest: Option<String>,
        why: &'static str,
    }

    #[rustfmt::skip]
    fn valid_cases() -> Vec<Valid> {
        let sha256 = format!("sha256:{H64}");
        let sha384 = format!("sha384:{}", hex(96));
        let sha512 = format!("sha512:{}", hex(128));
        let tag128 = "t".repeat(128);
        let s = |x: &str| x.to_owned();
        let o = |x: &str| Some(x.to_owned());
        let v = |input: String, domain, path: String, tag, digest, why| Valid { input, domain, path, tag, digest, why };
        vec![
            v(s("nginx"), "docker.io", s("library/nginx"), None, None, "bare Docker Hub name gets docker.io and library/"),
            v(s("nginx:1.25"), "docker.io", s("library/nginx"), o("1.25"), None, "tag after the last ':'"),
            v(s("nginx:latest"), "docker.io", s("library/nginx"), o("latest"), None, "explicit latest is kept"),
            v(s("library/nginx"), "docker.io", s("library/nginx"), None, None, "library/ not doubled"),
            v(s("docker.io/nginx"), "docker.io", s("library/nginx"), None, None, "docker.io single component gets library/"),
            v(s("docker.io/library/nginx"), "docker.io", s("library/nginx"), None, None, "already normalised"),
            v(s("index.docker.io/nginx"), "docker.io", s("library/nginx"), None, None, "index.docker.io is docker.io"),
            v(s("index.docker.io/org/app:1"), "docker.io", s("org/app"), o("1"), None, "index.docker.io multi-component"),
            v(s("bitnami/redis"), "docker.io", s("bitnami/redis"), None, None, "first part without . or : is a path"),
            v(s("ghcr.io/org/team/app:v1.2.3"), "ghcr.io", s("org/team/app"), o("v1.2.3"), None, "nested path and semver tag"),
            v(s("registry:5000/app"), "registry:5000", s("app"), None, None, "':' before the last '/' is a port, not a tag"),
            v(s("registry:5000/app:1.0"), "registry:5000", s("app"), o("1.0"), None, "port and tag"),
            v(s("localhost/app"), "localhost", s("app"), None, None, "localhost is a domain"),
            v(s("localhost:5000/app:dev"), "localhost:5000", s("app"), o("dev"), None, "localhost with port"),
            v(s("localhost:5000"), "docker.io", s("library/localhost"), o("5000"), None, "no '/': Docker reads repo localhost, tag 5000"),
            v(s("[::1]:5000/app:1"), "[::1]:5000", s("app"), o("1"), None, "IPv6 loopback with port"),
            v(s("[2001:db8::1]/app"), "[2001:db8::1]", s("app"), None, None, "IPv6 without port"),
            v(s("[2001:db8::1]/app:v2"), "[2001:db8::1]", s("app"), o("v2"), None, "IPv6 colons are not tags"),
            v(s("192.168.1.1:5000/a/b"), "192.168.1.1:5000", s("a/b"), None, None, "IPv4 host with port"),
            v(s("MyRegistry/app"), "myregistry:443", s("app"), None, None, "upper-case first part is a domain; lower-cased it needs its port"),
            v(s("Registry.Example.COM/app"), "registry.example.com", s("app"), None, None, "host lower-cased"),
            v(s("my-registry.example.com/a"), "my-registry.example.com", s("a"), None, None, "dash inside a domain component"),
            v(s("a__b"), "docker.io", s("library/a__b"), None, None, "double underscore separator"),
            v(s("a--b"), "docker.io", s("library/a--b"), None, None, "dash run separator"),
            v(s("a---b"), "docker.io", s("library/a---b"), None, None, "any number of dashes"),
            v(s("a.b_c"), "docker.io", s("library/a.b_c"), None, None, "dot and underscore separators"),
            v(s("ghcr.io"), "docker.io", s("library/ghcr.io"), None, None, "no '/': even a dotted name is a repository"),
            v(s("0/1/2"), "docker.io", s("0/1/2"), None, None, "digit-only components"),
            v(format!("nginx@{sha256}"), "docker.io", s("library/nginx"), None, Some(sha256.clone()), "digest only"),
            v(format!("nginx:1.25@{sha256}"), "docker.io", s("library/nginx"), o("1.25"), Some(sha256.clone()), "tag and digest"),
            v(format!("registry:5000/app@{sha256}"), "registry:5000", s("app"), None, Some(sha256.clone()), "port and digest, no tag"),
            v(format!("ghcr.io/a/b@{sha384}"), "ghcr.io", s("a/b"), None, Some(sha384), "sha384"),
            v(format!("ghcr.io/a/b:x@{sha512}"), "ghcr.io", s("a/b"), o("x"), Some(sha512), "sha512"),
            v(format!("nginx:{tag128}"), "docker.io", s("library/nginx"), Some(tag128.clone()), None, "128-character tag is the limit"),
            v(s("nginx:_tag"), "docker.io", s("library/nginx"), o("_tag"), None, "tags may start with '_'"),
            v(s("nginx:A.b-C_1"), "docker.io", s("library/nginx"), o("A.b-C_1"), None, "tags may be mixed case with . and -"),
            v(format!("ghcr.io/{}", "a".repeat(255 - 8)), "ghcr.io", "a".repeat(247), None, None, "name of exactly 255 characters"),
            // Canonical registry spellings: hosts in lower case, port 443 folded (see the module doc).
            v(s("GHCR.IO/org/app"), "ghcr.io", s("org/app"), None, None, "upper-case host lower-cased"),
            v(s("Ghcr.io/org/app:1"), "ghcr.io", s("org/app"), o("1"), None, "mixed-case host lower-cased, tag kept"),
            v(s("ghcr.io:443/org/app"), "ghcr.io", s("org/app"), None, None, "default HTTPS port folded"),
            v(format!("GHCR.IO:443/org/app@{sha256}"), "ghcr.io", s("org/app"), None, Some(sha256.clone()), "case and port folded, digest kept"),
            v(s("ghcr.io:0443/org/app:V1"), "ghcr.io", s("org/app"), o("V1"), None, "leading zeros then 443 folded; tag case kept"),
            v(s("ghcr.io:8443/org/app"), "ghcr.io:8443", s("org/app"), None, None, "other ports kept"),
            v(s("registry:05000/app"), "registry:5000", s("app"), None, None, "leading zeros of a port dropped"),
            v(s("registry:65535/app"), "registry:65535", s("app"), None, None, "highest port"),
            v(s("registry:80/app"), "registry:80", s("app"), None, None, "port 80 (plain HTTP) is a distinct endpoint, kept"),
            v(s("ghcr.io:80/org/app"), "ghcr.io:80", s("org/app"), None, None, "port 80 kept even on a dotted host"),
            v(s("DOCKER.IO/nginx"), "docker.io", s("library/nginx"), None, None, "upper-case Docker Hub, then library/"),
            v(s("Index.Docker.Io/nginx:1"), "docker.io", s("library/nginx"), o("1"), None, "legacy Docker Hub name in any case"),
            v(s("docker.io:443/nginx"), "docker.io", s("library/nginx"), None, None, "docker.io:443 is docker.io, then library/"),
            v(s("index.docker.io:443/nginx"), "docker.io", s("library/nginx"), None, None, "legacy name with :443"),
            v(s("DOCKER.IO:443/bitnami/redis"), "docker.io", s("bitnami/redis"), None, None, "multi-component Docker Hub path untouched"),
            v(s("localhost:5000/app"), "localhost:5000", s("app"), None, None, "localhost with a port kept"),
            v(s("LOCALHOST:5000/app"), "localhost:5000", s("app"), None, None, "upper-case localhost lower-cased"),
            v(s("LocalHost/app"), "localhost", s("app"), None, None, "mixed-case localhost without port"),
            v(s("localhost:443/app"), "localhost", s("app"), None, None, "localhost:443 folded"),
            v(s("myregistry:443/app"), "myregistry:443", s("app"), None, None, "single-label host keeps :443, else Docker Hub"),
            v(s("MyRegistry:0443/app"), "myregistry:443", s("app"), None, None, "single-label host: case folded, :443 kept"),
            v(s("[::1]:5000/app"), "[::1]:5000", s("app"), None, None, "IPv6 literal with port kept"),
            v(s("[::1]:443/app"), "[::1]", s("app"), None, None, "IPv6 literal with :443 folded"),
            v(s("[0:0:0:0:0:0:0:1]:5000/app"), "[::1]:5000", s("app"), None, None, "IPv6 zeros compressed"),
            v(s("[2001:DB8::1]/app"), "[2001:db8::1]", s("app"), None, None, "IPv6 hex lower-cased"),
            v(s("[::FFFF:192.0.2.1]/app"), "[::ffff:192.0.2.1]", s("app"), None, None, "IPv4-mapped IPv6"),
            v(s("192.168.1.1:443/a"), "192.168.1.1", s("a"), None, None, "IPv4 host with :443 folded"),
        ]
    }

    #[test]
    fn valid_references_parse_and_normalise() {
        for Valid {
            input,
            domain,
            path,
            tag,
            digest,
            why,
        } in valid_cases()
        {
            let r = ImageRef::parse(&input)
                .unwrap_or_else(|e| panic!("{why}: {input:?} rejected: {e}"));
            assert_eq!(r.original(), input, "{why}: original");
            assert_eq!(r.domain(), domain, "{why}: domain of {input:?}");
            assert_eq!(r.path(), path, "{why}: path of {input:?}");
            assert_eq!(r.tag(), tag.as_deref(), "{why}: tag of {input:?}");
            assert_eq!(
                r.digest().map(ToString::to_string),
                digest,
                "{why}: digest of {input:?}"
            );
            assert_eq!(r.name(), format!("{domain}/{path}"), "{why}: name");
            assert_eq!(input.parse::<ImageRef>().unwrap(), r, "{why}: FromStr");
        }
    }

    #[test]
    fn display_round_trips() {
        for Valid { input, why, .. } in valid_cases() {
            let r = ImageRef::parse(&input).unwrap();
            let shown = r.to_string();
            let again = ImageRef::parse(&shown)
                .unwrap_or_else(|e| panic!("{why}: {shown:?} rejected: {e}"));
            assert_eq!(again.to_string(), shown, "{why}: display is a fixed point");
            assert_eq!(
                (again.domain(), again.path(), again.tag(), again.digest()),
                (r.domain(), r.path(), r.tag(), r.digest()),
                "{why}: parse(to_string()) == parse(original) for {input:?}"
            );
            assert_eq!(again.original(), shown);
        }
    }

    #[test]
    fn display_is_the_full_normalised_form() {
        let pinned = format!("nginx:1.25@sha256:{H64}");
        let pinned_full = format!("docker.io/library/nginx:1.25@sha256:{H64}");
        let cases = [
            ("nginx", "docker.io/library/nginx", "no tag added"),
            ("nginx:1.25", "docker.io/library/nginx:1.25", "tag kept"),
            (pinned.as_str(), pinned_full.as_str(), "tag and digest kept"),
            (
                "index.docker.io/nginx",
                "docker.io/library/nginx",
                "legacy domain replaced",
            ),
            ("[::1]:5000/app:1", "[::1]:5000/app:1", "IPv6 kept"),
            (
                "GHCR.IO:443/org/app:V1",
                "ghcr.io/org/app:V1",
                "host case and :443 folded, tag kept",
            ),
            (
                "Index.Docker.Io:443/nginx",
                "docker.io/library/nginx",
                "Docker Hub alias in any spelling",
            ),
            (
                "MyRegistry/app",
                "myregistry:443/app",
                "single-label host keeps a port",
            ),
        ];
        for (input, want, why) in cases {
            assert_eq!(ImageRef::parse(input).unwrap().to_string(), want, "{why}");
        }
    }

    /// Every spelling of one image that a runtime pulls from the same endpoint has one canonical
    /// form; other endpoints (port 80, another port, another host) stay apart.
    #[test]
    fn spellings_of_one_image_share_one_canonical_form() {
        let pinned = |r: &str| format!("{r}@sha256:{H64}");
        let groups: Vec<Vec<String>> = vec![
            [
                "ghcr.io/org/app",
                "GHCR.IO/org/app",
                "Ghcr.io/org/app",
                "ghcr.io:443/org/app",
                "GHCR.IO:00443/org/app",
            ]
            .map(pinned)
            .to_vec(),
            [
                "nginx",
                "library/nginx",
                "docker.io/nginx",
                "DOCKER.IO/nginx",
                "docker.io:443/nginx",
                "index.docker.io/library/nginx",
                "Index.Docker.Io:443/nginx",
            ]
            .map(str::to_owned)
            .to_vec(),
            [
                "localhost:5000/app",
                "LOCALHOST:5000/app",
                "localhost:05000/app",
            ]
            .map(str::to_owned)
            .to_vec(),
            [
                "[::1]:5000/app",
                "[0::1]:5000/app",
                "[0:0:0:0:0:0:0:1]:05000/app",
            ]
            .map(str::to_owned)
            .to_vec(),
            ["MyRegistry/app", "myregistry:443/app", "MYREGISTRY:443/app"]
                .map(str::to_owned)
                .to_vec(),
            ["registry:80/app"].map(str::to_owned).to_vec(),
            ["registry.local/app", "REGISTRY.LOCAL:443/app"]
                .map(str::to_owned)
                .to_vec(),
            ["registry.local:80/app"].map(str::to_owned).to_vec(),
        ];
        let mut seen = Vec::new();
        for group in &groups {
            let canonical: Vec<String> = group
                .iter()
                .map(|s| ImageRef::parse(s).unwrap().to_string())
                .collect();
            assert!(
                canonical.iter().all(|c| *c == canonical[0]),
                "{group:?} -> {canonical:?}"
            );
            assert!(
                !seen.contains(&canonical[0]),
                "{} also names another group",
                canonical[0]
            );
            seen.push(canonical[0].clone());
        }
    }

    type Check = fn(&ReferenceError) -> bool;

    #[rustfmt::skip]
    fn invalid_cases() -> Vec<(String, Check, &'static str)> {
        use ReferenceError as E;
        let s = |x: &str| x.to_owned();
        vec![
            (s(""), |e| matches!(e, E::Empty), "empty input"),
            (s(" nginx"), |e| matches!(e, E::SurroundingWhitespace), "leading space"),
            (s("nginx\n"), |e| matches!(e, E::SurroundingWhitespace), "trailing newline"),
            (s("   "), |e| matches!(e, E::SurroundingWhitespace), "whitespace only"),
            (s("ngi nx"), |e| matches!(e, E::InvalidCharacter { character: ' ', position: 3 }), "inner space"),
            (s("ngin\u{0}x"), |e| matches!(e, E::InvalidCharacter { character: '\0', position: 4 }), "NUL byte"),
            (s("nginx\u{1b}[0m:1"), |e| matches!(e, E::InvalidCharacter { character: '\u{1b}', .. }), "control character"),
            (s("nginxé"), |e| matches!(e, E::InvalidCharacter { character: 'é', position: 5 }), "non-ASCII"),
            (s("nginx:1\u{200b}"), |e| matches!(e, E::InvalidCharacter { .. }), "zero-width space"),
            (s("Nginx"), |e| matches!(e, E::RepositoryNotLowercase { repository } if repository == "Nginx"), "upper-case repository"),
            (s("docker.io/Library/nginx"), |e| matches!(e, E::RepositoryNotLowercase { .. }), "upper-case in path after a domain"),
            (s("nginx:"), |e| matches!(e, E::EmptyTag), "empty tag"),
            (s("nginx:@sha256:x"), |e| matches!(e, E::EmptyTag), "empty tag before a digest"),
            (s("nginx@"), |e| matches!(e, E::EmptyDigest), "empty digest"),
            (s("nginx@sha256:"), |e| matches!(e, E::MissingDigestEncoded { .. }), "digest without hex"),
            (format!("nginx@:{H64}"), |e| matches!(e, E::MissingDigestAlgorithm { .. }), "digest without algorithm"),
            (format!("nginx@{H64}"), |e| matches!(e, E::MissingDigestAlgorithm { .. }), "digest without ':'"),
            (s("nginx@sha256:abc"), |e| matches!(e, E::InvalidDigestLength { expected: 64, found: 3, .. }), "short sha256"),
            (format!("nginx@sha256:{H64}0"), |e| matches!(e, E::InvalidDigestLength { expected: 64, found: 65, .. }), "long sha256"),
            (format!("nginx@sha256:{}", H64.to_uppercase()), |e| matches!(e, E::InvalidDigestCharacter { character: 'A', position: 10, .. }), "upper-case sha256 hex"),
            (format!("nginx@sha256:{}g", &H64[1..]), |e| matches!(e, E::InvalidDigestCharacter { character: 'g', position: 63, .. }), "non-hex in sha256"),
            (format!("nginx@sha512:{H64}"), |e| matches!(e, E::InvalidDigestLength { algorithm: DigestAlgorithm::Sha512, expected: 128, found: 64, .. }), "sha512 with 64 characters"),
            (format!("nginx@md5:{}", hex(32)), |e| matches!(e, E::UnsupportedDigestAlgorithm { algorithm } if algorithm == "md5"), "unsupported algorithm"),
            (format!("nginx@SHA256:{H64}"), |e| matches!(e, E::UnsupportedDigestAlgorithm { .. }), "algorithm names are exact"),
            (format!("nginx@sha256+b64:{H64}"), |e| matches!(e, E::UnsupportedDigestAlgorithm { .. }), "grammatical but unknown algorithm"),
            (format!("nginx@1sha:{H64}"), |e| matches!(e, E::InvalidDigestAlgorithm { .. }), "algorithm must start with a letter"),
            (format!("nginx@sha256..x:{H64}"), |e| matches!(e, E::InvalidDigestAlgorithm { .. }), "two algorithm separators in a row"),
            (format!("nginx:{}", "t".repeat(129)), |e| matches!(e, E::TagTooLong { length: 129, max: 128, .. }), "129-character tag"),
            (s("nginx:.tag"), |e| matches!(e, E::InvalidTag { character: '.', position: 0, .. }), "tag starting with '.'"),
            (s("nginx:-tag"), |e| matches!(e, E::InvalidTag { character: '-', position: 0, .. }), "tag starting with '-'"),
            (s("nginx:a+b"), |e| matches!(e, E::InvalidTag { character: '+', position: 1, .. }), "'+' in a tag"),
            (s("a//b"), |e| matches!(e, E::EmptyPathComponent { .. }), "empty path component"),
            (s("/a"), |e| matches!(e, E::EmptyPathComponent { .. }), "leading '/'"),
            (s("a/"), |e| matches!(e, E::EmptyPathComponent { .. }), "trailing '/'"),
            (s("ghcr.io/"), |e| matches!(e, E::EmptyPathComponent { .. }), "domain without path"),
            (s("-a"), |e| matches!(e, E::InvalidPathComponent { component, .. } if component == "-a"), "leading separator"),
            (s("a-"), |e| matches!(e, E::InvalidPathComponent { .. }), "trailing separator"),
            (s("a..b"), |e| matches!(e, E::InvalidPathComponent { .. }), "two dots"),
            (s("a___b"), |e| matches!(e, E::InvalidPathComponent { .. }), "three underscores"),
            (s("a._b"), |e| matches!(e, E::InvalidPathComponent { .. }), "mixed separators"),
            (s("a/b!"), |e| matches!(e, E::InvalidPathComponent { component, .. } if component == "b!"), "punctuation in path"),
            (s(":tag"), |e| matches!(e, E::MissingName), "tag without name"),
            (format!("@sha256:{H64}"), |e| matches!(e, E::MissingName), "digest without name"),
            (format!("nginx@sha256:{H64}@sha256:{H64}"), |e| matches!(e, E::MultipleAtSigns), "two '@'"),
            (s("[::1"), |e| matches!(e, E::InvalidDomain { .. }), "unclosed '[' without path"),
            (s("[::1/app"), |e| matches!(e, E::InvalidDomain { reason, .. } if reason.contains("unclosed")), "unclosed '['"),
            (s("[::1]:5000"), |e| matches!(e, E::InvalidDomain { .. }), "IPv6 domain without a path"),
            (s("[fe80::1%eth0]:5000/a"), |e| matches!(e, E::InvalidDomain { reason, .. } if reason.contains("zone")), "IPv6 zone"),
            (s("[not-ipv6]/a"), |e| matches!(e, E::InvalidDomain { .. }), "bracketed non-address"),
            (s("[1.2.3.4]/a"), |e| matches!(e, E::InvalidDomain { .. }), "IPv4 in brackets"),
            (s("[::1]x/a"), |e| matches!(e, E::InvalidDomain { .. }), "junk after ']'"),
            (s("registry:abc/app"), |e| matches!(e, E::InvalidPort { port, .. } if port == "abc"), "port position must be numeric"),
            (s("registry:/app"), |e| matches!(e, E::InvalidPort { port, .. } if port.is_empty()), "empty port"),
            (s("registry:5000:6000/app"), |e| matches!(e, E::InvalidPort { .. }), "two ports"),
            (s("[::1]:/app"), |e| matches!(e, E::InvalidPort { .. }), "empty IPv6 port"),
            (s("registry:0/app"), |e| matches!(e, E::PortOutOfRange { port, .. } if port == "0"), "port 0"),
            (s("registry:000/app"), |e| matches!(e, E::PortOutOfRange { .. }), "port 0 with leading zeros"),
            (s("ghcr.io:65536/app"), |e| matches!(e, E::PortOutOfRange { port, .. } if port == "65536"), "port above 65535"),
            (s("ghcr.io:66979/app"), |e| matches!(e, E::PortOutOfRange { .. }), "443 + 65536 is not 443"),
            (format!("ghcr.io:{}/app", "9".repeat(30)), |e| matches!(e, E::PortOutOfRange { .. }), "port of 30 digits"),
            (s("[::1]:70000/app"), |e| matches!(e, E::PortOutOfRange { .. }), "IPv6 port above 65535"),
            (s("-registry.io/app"), |e| matches!(e, E::InvalidDomain { .. }), "domain component starts with '-'"),
            (s("registry-.io/app"), |e| matches!(e, E::InvalidDomain { .. }), "domain component ends with '-'"),
            (s("registry..io/app"), |e| matches!(e, E::InvalidDomain { .. }), "empty domain component"),
            (s(".io/app"), |e| matches!(e, E::InvalidDomain { .. }), "leading dot in domain"),
            (s(":5000/app"), |e| matches!(e, E::InvalidDomain { .. }), "port without host"),
            (s("my_registry.io/app"), |e| matches!(e, E::InvalidDomain { .. }), "underscore in host"),
            (s("My_Registry/app"), |e| matches!(e, E::InvalidDomain { .. }), "upper-case first part must be a valid domain"),
            (format!("ghcr.io/{}", "a".repeat(248)), |e| matches!(e, E::TooLong { what: "image name", length: 256, max: 255 }), "name over 255"),
            ("a".repeat(250), |e| matches!(e, E::TooLong { what: "image name", .. }), "over 255 only after normalisation"),
            ("a".repeat(4097), |e| matches!(e, E::TooLong { what: "image reference", length: 4097, max: 4096 }), "input over 4096"),
        ]
    }

    #[test]
    fn invalid_references_are_rejected_precisely() {
        for (input, check, why) in invalid_cases() {
            match ImageRef::parse(&input) {
                Ok(r) => panic!("{why}: {input:?} accepted as {r}"),
                Err(e) => assert!(check(&e), "{why}: {input:?} gave {e:?} ({e})"),
            }
        }
    }

    #[test]
    fn normalisation_and_missing_tags() {
        let r = ImageRef::parse("nginx").unwrap();
        assert_eq!(r.name(), "docker.io/library/nginx", "bare name normalised");
        assert_eq!(
            (r.tag(), r.digest()),
            (None, None),
            "no tag is not filled in"
        );

        let latest = ImageRef::parse("docker.io/nginx:latest").unwrap();
        assert_eq!(latest.tag(), Some("latest"), "explicit latest");
        assert_eq!(
            ImageRef::parse("nginx:Latest").unwrap().tag(),
            Some("Latest"),
            "tags are case-sensitive"
        );
        let digest_only = ImageRef::parse(&format!("nginx@sha256:{H64}")).unwrap();
        assert_eq!(
            digest_only.tag(),
            None,
            "a digest-only reference has no tag"
        );
        let both = ImageRef::parse(&format!("nginx:latest@sha256:{H64}")).unwrap();
        assert_eq!(
            both.tag(),
            Some("latest"),
            "the tag is kept beside a digest"
        );
        assert!(both.digest().is_some());

        let r = ImageRef::parse("registry:5000/app").unwrap();
        assert_eq!(r.domain(), "registry:5000", "port kept in the domain");
        assert_eq!(r.tag(), None, "port is not a tag");
    }

    #[test]
    fn digest_api() {
        let d: Digest = format!("sha384:{}", hex(96)).parse().unwrap();
        assert_eq!(d.algorithm(), DigestAlgorithm::Sha384);
        assert_eq!(d.encoded(), hex(96));
        assert_eq!(d.to_string(), format!("sha384:{}", hex(96)));
        for a in [
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha384,
            DigestAlgorithm::Sha512,
        ] {
            assert_eq!(DigestAlgorithm::from_name(a.as_str()), Some(a));
            assert_eq!(
                Digest::parse(&format!("{a}:{}", hex(a.hex_len())))
                    .unwrap()
                    .algorithm(),
                a
            );
        }
        assert_eq!(DigestAlgorithm::from_name("md5"), None);
        assert_eq!(Digest::parse(""), Err(ReferenceError::EmptyDigest));
        assert!(matches!(
            Digest::parse(&"a".repeat(5000)),
            Err(ReferenceError::TooLong { what: "digest", .. })
        ));
    }

    #[test]
    fn error_messages() {
        let msg = |s: &str| ImageRef::parse(s).unwrap_err().to_string();
        assert_eq!(
            msg("nginx@sha256:abc"),
            "invalid digest \"sha256:abc\": sha256 needs 64 lower-case hex characters, got 3"
        );
        assert_eq!(msg("MyApp"), "repository name \"MyApp\" must be lower-case");
        assert_eq!(
            msg(&format!("nginx:x{}", "y".repeat(129))),
            format!(
                "invalid tag \"x{}...\": a tag is at most 128 characters, got 130",
                "y".repeat(79)
            )
        );
        assert_eq!(
            msg(&format!("nginx@md5:{}", hex(32))),
            "unsupported digest algorithm \"md5\": expected sha256, sha384 or sha512"
        );
        assert_eq!(
            msg("registry:abc/app"),
            "invalid port \"abc\" in registry domain \"registry:abc\": a port is one or more decimal digits"
        );
        assert_eq!(
            msg("a\u{0}"),
            "invalid character U+0000 at position 1: an image reference is printable ASCII only"
        );
        assert_eq!(
            msg("ghcr.io:65536/app"),
            "invalid port \"65536\" in registry domain \"ghcr.io:65536\": a port is a number from 1 to 65535"
        );
        assert_eq!(msg("nginx:"), "empty tag after ':'");
        assert_eq!(
            msg(&"a".repeat(5000)),
            "image reference is too long: at most 4096 bytes, got 5000"
        );
        // Every message starts lower-case and has no trailing period.
        for (input, _, why) in invalid_cases() {
            let m = ImageRef::parse(&input).unwrap_err().to_string();
            assert!(
                m.starts_with(|c: char| c.is_ascii_lowercase()),
                "{why}: {m}"
            );
            assert!(!m.ends_with('.'), "{why}: {m}");
            assert!(m.len() < 400, "{why}: message stays short: {m}");
        }
    }

    /// Property: no input panics, and every accepted input round-trips through `Display`.
    #[test]
    fn pseudo_random_inputs_never_panic_and_round_trip() {
        const ALPHABET: &[char] = &[
            'a', 'b', 'z', '0', '9', 'A', 'Z', '.', '_', '-', '/', ':', '@', '[', ']', '%', '+',
            ' ', '\0', 'é', 'f', 'e', '1',
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut accepted = 0;
        let mut seeds: Vec<String> = valid_cases().into_iter().map(|c| c.input).collect();
        seeds.push(format!("a@sha256:{H64}"));
        for _ in 0..20_000 {
            let mut s: String = seeds[(next() % seeds.len() as u64) as usize].clone();
            for _ in 0..(next() % 4) {
                let c = ALPHABET[(next() % ALPHABET.len() as u64) as usize];
                let chars: Vec<char> = s.chars().collect();
                let at = if chars.is_empty() {
                    0
                } else {
                    (next() % chars.len() as u64) as usize
                };
                let mut v = chars;
                match next() % 3 {
                    0 => v.insert(at, c),
                    1 if !v.is_empty() => {
                        v.remove(at);
                    }
                    _ if !v.is_empty() => v[at] = c,
                    _ => v.push(c),
                }
                s = v.into_iter().collect();
            }
            if let Ok(r) = ImageRef::parse(&s) {
                accepted += 1;
                let again =
                    ImageRef::parse(&r.to_string()).unwrap_or_else(|e| panic!("{s:?} -> {r}: {e}"));
                assert_eq!(again.to_string(), r.to_string(), "{s:?}");
            }
            let _ = Digest::parse(&s);
        }
        assert!(
            accepted > 1000,
            "the mutations keep enough valid inputs ({accepted})"
        );
    }
}
