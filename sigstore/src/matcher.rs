//! Matching a certificate's OIDC issuer or subject: exactly, by prefix, or by a regular expression.

use super::{malformed, Error};
use std::fmt;

/// How a certificate's OIDC issuer or subject (SAN) must look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// Exactly this string.
    Exact(String),
    /// Any string that starts with this one, at a boundary (see [`Prefix`]).
    Prefix(Prefix),
    /// A regular expression (the `regex-lite` syntax, close to Go's RE2 that cosign uses), that
    /// must match the whole string. Made with [`Matcher::regex`].
    Regex(Pattern),
}

/// A prefix that ends at a boundary, so that it names whole components: it ends with `/` or `@`
/// (`https://github.com/org/`, `...workflow.yml@`), or it is a URL's scheme and host alone
/// (`https://token.actions.githubusercontent.com`), which then matches only where the host ends
/// (the rest is empty or starts with `/`). Anything else is refused when made: the prefix
/// `https://github.com/org` would also match `https://github.com/org-evil/...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    text: String,
    /// A URL's scheme and host: the match must end there or continue with `/`.
    host_only: bool,
}

impl Prefix {
    /// Checks that `text` ends at a boundary (see [`Prefix`]); a `Malformed` error says why not.
    pub fn new(text: impl Into<String>) -> Result<Self, Error> {
        let text = text.into();
        let host = text.split_once("://").map(|(scheme, rest)| {
            let scheme_ok = scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
            (
                scheme_ok,
                rest.split(['/', '?', '#']).next().unwrap_or(rest),
            )
        });
        if let Some((_, "")) = host {
            return Err(malformed(format!(
                "prefix {text:?} names no host: it would match any URL of the scheme"
            )));
        }
        if text.ends_with(['/', '@']) {
            return Ok(Prefix {
                text,
                host_only: false,
            });
        }
        match host {
            Some((true, host))
                if text.ends_with(host)
                    && !host.contains('@')
                    && host.ends_with(|c: char| c.is_ascii_alphanumeric() || c == ']') =>
            {
                Ok(Prefix {
                    text,
                    host_only: true,
                })
            }
            _ => Err(malformed(format!(
                "prefix {text:?} does not end at a boundary: it would also match \
                 {:?}; end it with `/` or `@`, give a URL's scheme and host alone, or use a \
                 regular expression",
                format!("{text}-evil")
            ))),
        }
    }

    /// The prefix as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `s` starts with the prefix, at its boundary.
    pub fn matches(&self, s: &str) -> bool {
        s.strip_prefix(self.text.as_str())
            .is_some_and(|rest| !self.host_only || rest.is_empty() || rest.starts_with('/'))
    }
}

/// A prefix read from settings: a string, checked as [`Prefix::new`] checks it.
impl<'de> serde::Deserialize<'de> for Prefix {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Prefix::new(text).map_err(|e| serde::de::Error::custom(e.message()))
    }
}

/// A regular expression anchored to the whole string: `^(?:<pattern>)$`.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: regex_lite::Regex,
}

/// Two patterns are equal when they were made from the same text (which compiles to the same
/// expression).
impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

impl Pattern {
    /// The pattern as given (without the anchoring).
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl Matcher {
    /// [`Matcher::Exact`].
    pub fn exact(s: impl Into<String>) -> Self {
        Matcher::Exact(s.into())
    }

    /// [`Matcher::Prefix`]: a `Malformed` error when the prefix does not end at a boundary
    /// ([`Prefix::new`]).
    pub fn prefix(s: impl Into<String>) -> Result<Self, Error> {
        Prefix::new(s).map(Matcher::Prefix)
    }

    /// A regular expression that must match the whole string (it is compiled as
    /// `^(?:<pattern>)$`). An invalid pattern is a `Malformed` error, and so is one that is not a
    /// single well-formed expression on its own: `a)|(.*` would turn the anchored form into an
    /// alternation that matches anything, so the pattern is compiled alone first, and the anchored
    /// form must have exactly its groups.
    pub fn regex(pattern: &str) -> Result<Self, Error> {
        let invalid = |e: &dyn fmt::Display| {
            malformed(format!("invalid regular expression {pattern:?}: {e}"))
        };
        let alone = regex_lite::Regex::new(pattern).map_err(|e| invalid(&e))?;
        let regex = regex_lite::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| invalid(&e))?;
        if regex.captures_len() != alone.captures_len() {
            return Err(invalid(&"it does not stay one expression when anchored"));
        }
        Ok(Matcher::Regex(Pattern {
            source: pattern.to_string(),
            regex,
        }))
    }

    /// Whether `s` matches.
    pub fn matches(&self, s: &str) -> bool {
        match self {
            Matcher::Exact(want) => s == want,
            Matcher::Prefix(prefix) => prefix.matches(s),
            Matcher::Regex(p) => p.regex.is_match(s),
        }
    }
}

/// `exact "…"`, `prefix "…"` or `regex "…"`, for messages.
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Exact(s) => write!(f, "exact {s:?}"),
            Matcher::Prefix(p) => write!(f, "prefix {:?}", p.text),
            Matcher::Regex(p) => write!(f, "regex {:?}", p.source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_match_as_documented() {
        let s = "https://github.com/org/repo/.github/workflows/w.yml@refs/tags/v1.2.3";
        assert!(Matcher::exact(s).matches(s));
        assert!(!Matcher::exact(&s[1..]).matches(s));
        assert!(Matcher::prefix("https://github.com/org/")
            .unwrap()
            .matches(s));
        assert!(!Matcher::prefix("https://github.com/other/")
            .unwrap()
            .matches(s));
        let re = Matcher::regex(
            r"https://github\.com/org/[^/]+/\.github/workflows/w\.yml@refs/tags/v\d+\.\d+\.\d+",
        )
        .unwrap();
        assert!(re.matches(s));
        // Anchored at both ends, also with an alternation.
        assert!(!Matcher::regex("github").unwrap().matches(s));
        assert!(!Matcher::regex("x|https://.*").unwrap().matches("ahttps://"));
        assert!(Matcher::regex("x|https://.*").unwrap().matches("https://a"));
        assert!(!Matcher::regex(r"https://github\.com/org/.*@refs/tags/v1")
            .unwrap()
            .matches(s));
    }

    #[test]
    fn invalid_patterns_are_errors_and_display_names_the_kind() {
        let err = Matcher::regex("(unclosed").unwrap_err();
        assert!(matches!(err, Error::Malformed(_)), "{err}");
        assert!(err.to_string().contains("(unclosed"), "{err}");
        assert_eq!(Matcher::exact("a").to_string(), r#"exact "a""#);
        assert_eq!(Matcher::prefix("b/").unwrap().to_string(), r#"prefix "b/""#);
        assert_eq!(Matcher::regex("c.*").unwrap().to_string(), r#"regex "c.*""#);
    }

    /// Hardening finding 3: a pattern with unbalanced groups closed the anchoring group and
    /// matched anything (`^(?:x)|(.*)$`).
    #[test]
    fn a_pattern_cannot_escape_its_anchors() {
        for escape in [
            "https://github.com/org/.*@refs/heads/main)|(.*",
            ")|(",
            "a)|(?:b",
            "x)(y",
        ] {
            let err = Matcher::regex(escape).unwrap_err();
            assert!(matches!(err, Error::Malformed(_)), "{escape}: {err}");
        }
        // Groups of its own are fine, and still anchored.
        let m = Matcher::regex("(a|b)(c)").unwrap();
        assert!(m.matches("ac") && !m.matches("xac") && !m.matches("acx"));
        // Flags stay inside the group: `(?m)` cannot make the outer `$` match before a newline.
        let m = Matcher::regex("(?m)refs/heads/main").unwrap();
        assert!(!m.matches("refs/heads/main\nanything"));
    }

    /// Hardening finding 5: a prefix must end at a boundary.
    #[test]
    fn prefixes_end_at_a_boundary() {
        let org = Matcher::prefix("https://github.com/myorg/").unwrap();
        assert!(org.matches("https://github.com/myorg/app/.github/workflows/w.yml@refs/heads/main"));
        assert!(!org.matches("https://github.com/myorg-evil/app"));
        let at = Matcher::prefix("https://github.com/o/r/.github/workflows/w.yml@").unwrap();
        assert!(at.matches("https://github.com/o/r/.github/workflows/w.yml@refs/tags/v1"));
        assert!(!at.matches("https://github.com/o/r/.github/workflows/w.yml.evil@x"));
        let host = Matcher::prefix("https://token.actions.githubusercontent.com").unwrap();
        assert!(host.matches("https://token.actions.githubusercontent.com"));
        assert!(host.matches("https://token.actions.githubusercontent.com/x"));
        assert!(!host.matches("https://token.actions.githubusercontent.com.evil.example"));
        assert!(!host.matches("https://token.actions.githubusercontent.com@evil.example"));
        assert!(!host.matches("https://token.actions.githubusercontent.com:1/x"));
        for refused in [
            "https://github.com/myorg",
            "https://github.com/o/r/.github/workflows/w.yml@refs/tags/v",
            "https://token.actions.",
            "https://",
            "https:///",
            "myorg",
            "",
        ] {
            let err = Matcher::prefix(refused).unwrap_err();
            assert!(matches!(err, Error::Malformed(_)), "{refused:?}: {err}");
            assert!(err.to_string().contains(refused), "{err}");
        }
    }
}
