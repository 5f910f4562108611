//! Matching a certificate's OIDC issuer or subject: exactly, by prefix, or by a regular expression.

use super::{malformed, Error};
use std::fmt;

/// How a certificate's OIDC issuer or subject (SAN) must look.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Exactly this string.
    Exact(String),
    /// Any string that starts with this one. Mind the boundary: the prefix
    /// `https://github.com/org` also matches `https://github.com/org-evil/...`; end a prefix with
    /// `/` or `@` where a component ends.
    Prefix(String),
    /// A regular expression (the `regex-lite` syntax, close to Go's RE2 that cosign uses), that
    /// must match the whole string. Made with [`Matcher::regex`].
    Regex(Pattern),
}

/// A regular expression anchored to the whole string: `^(?:<pattern>)$`.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: regex_lite::Regex,
}

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

    /// [`Matcher::Prefix`].
    pub fn prefix(s: impl Into<String>) -> Self {
        Matcher::Prefix(s.into())
    }

    /// A regular expression that must match the whole string (it is compiled as
    /// `^(?:<pattern>)$`). An invalid pattern is a `Malformed` error.
    pub fn regex(pattern: &str) -> Result<Self, Error> {
        let regex = regex_lite::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| malformed(format!("invalid regular expression {pattern:?}: {e}")))?;
        Ok(Matcher::Regex(Pattern {
            source: pattern.to_string(),
            regex,
        }))
    }

    /// Whether `s` matches.
    pub fn matches(&self, s: &str) -> bool {
        match self {
            Matcher::Exact(want) => s == want,
            Matcher::Prefix(prefix) => s.starts_with(prefix.as_str()),
            Matcher::Regex(p) => p.regex.is_match(s),
        }
    }
}

/// `exact "…"`, `prefix "…"` or `regex "…"`, for messages.
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Exact(s) => write!(f, "exact {s:?}"),
            Matcher::Prefix(s) => write!(f, "prefix {s:?}"),
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
        assert!(Matcher::prefix("https://github.com/org/").matches(s));
        assert!(!Matcher::prefix("https://github.com/other/").matches(s));
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
        assert_eq!(Matcher::prefix("b").to_string(), r#"prefix "b""#);
        assert_eq!(Matcher::regex("c.*").unwrap().to_string(), r#"regex "c.*""#);
    }
}
