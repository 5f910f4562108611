//! A policy's CHANGELOG.md, in the Keep a Changelog layout (keepachangelog.com 1.1.0):
//!
//! ```markdown
//! # Changelog
//!
//! (free text)
//!
//! ## [Unreleased]            <- optional, only first; its changes are not part of a release
//!
//! ## [0.2.0] - 2026-12-01    <- one entry a version, newest first: SemVer, ISO date
//!
//! Built with: custody-sdk 0.1.0, custody-sigstore 0.1.0.   <- the shared crates and versions
//!
//! ### Added                  <- Added, Changed, Deprecated, Removed, Fixed, Security
//!
//! - One change a bullet; a bullet may go on over indented lines.
//! ```

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
use chrono::NaiveDate;
use semver::Version;

/// The kinds of change Keep a Changelog names, which are also ArtifactHub's change kinds.
pub const CHANGE_KINDS: [&str; 6] = [
    "Added",
    "Changed",
    "Deprecated",
    "Removed",
    "Fixed",
    "Security",
];

const UNRELEASED: &str = "## [Unreleased]";
const BUILT_WITH: &str = "Built with:";

/// One change: its kind (one of [`CHANGE_KINDS`]) and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: &'static str,
    pub description: String,
}

/// One released version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub version: Version,
    pub date: NaiveDate,
    /// The shared crates this version was built with, and their versions.
    pub built_with: BTreeMap<String, Version>,
    pub changes: Vec<Change>,
}

impl Entry {
    /// Whether the entry has a `Security` section.
    pub fn has_security_fixes(&self) -> bool {
        self.changes.iter().any(|c| c.kind == "Security")
    }
}

/// The released entries, newest first (the `Unreleased` section is not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changelog {
    pub entries: Vec<Entry>,
}

impl Changelog {
    /// The newest released entry.
    pub fn current(&self) -> Option<&Entry> {
        self.entries.first()
    }

    pub fn entry(&self, version: &Version) -> Option<&Entry> {
        self.entries.iter().find(|e| &e.version == version)
    }

    /// Parses and checks a changelog: every entry has a version, a date, a `Built with:` line and
    /// at least one change under a known heading; versions strictly decrease and dates never
    /// increase from top to bottom. Errors name the line.
    pub fn parse(text: &str) -> Result<Changelog> {
        let mut entries: Vec<Entry> = Vec::new();
        // None: before the first entry or in Unreleased (its lines are not checked).
        let mut current: Option<Entry> = None;
        let mut kind: Option<&'static str> = None;
        let mut seen_unreleased = false;
        let mut first_heading = true;
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let context = || format!("line {number}: {line}");
            if let Some(heading) = line.strip_prefix("## ") {
                if let Some(done) = current.take() {
                    entries.push(finish(done)?);
                }
                kind = None;
                if line.trim_end() == UNRELEASED {
                    if !first_heading || seen_unreleased {
                        bail!("line {number}: `{UNRELEASED}` may only be the first section");
                    }
                    seen_unreleased = true;
                } else {
                    current = Some(parse_heading(heading).with_context(context)?);
                }
                first_heading = false;
            } else if let Some(heading) = line.strip_prefix("### ") {
                let heading = heading.trim();
                let found = CHANGE_KINDS
                    .iter()
                    .find(|k| **k == heading)
                    .ok_or_else(|| {
                        anyhow!(
                            "line {number}: unknown section `{heading}` (expected one of {})",
                            CHANGE_KINDS.join(", ")
                        )
                    })?;
                kind = Some(found);
            } else if let Some(entry) = current.as_mut() {
                if let Some(list) = line.strip_prefix(BUILT_WITH) {
                    if !entry.built_with.is_empty() {
                        bail!("line {number}: a second `{BUILT_WITH}` line in this entry");
                    }
                    entry.built_with = parse_built_with(list).with_context(context)?;
                } else if let Some(item) = line.strip_prefix("- ") {
                    let kind = kind.ok_or_else(|| {
                        anyhow!("line {number}: a change outside any ### section")
                    })?;
                    entry.changes.push(Change {
                        kind,
                        description: item.trim().to_owned(),
                    });
                } else if line.starts_with("  ") && !line.trim().is_empty() {
                    // The bullet goes on.
                    let last = entry
                        .changes
                        .last_mut()
                        .ok_or_else(|| anyhow!("line {number}: indented text outside a change"))?;
                    last.description.push(' ');
                    last.description.push_str(line.trim());
                } else if !line.trim().is_empty() {
                    bail!("line {number}: expected `- ` (a change), a `### ` section or `{BUILT_WITH}`, got: {line}");
                }
            }
        }
        if let Some(done) = current.take() {
            entries.push(finish(done)?);
        }
        for pair in entries.windows(2) {
            if let [newer, older] = pair {
                if newer.version <= older.version {
                    bail!(
                        "entries must go from the newest version down: {} is above {}",
                        newer.version,
                        older.version
                    );
                }
                if newer.date < older.date {
                    bail!(
                        "{} is dated {}, before the older {} ({})",
                        newer.version,
                        newer.date,
                        older.version,
                        older.date
                    );
                }
            }
        }
        if entries.is_empty() {
            bail!("no released version (an entry `## [X.Y.Z] - YYYY-MM-DD`)");
        }
        Ok(Changelog { entries })
    }
}

/// `[0.1.0] - 2026-11-27`
fn parse_heading(heading: &str) -> Result<Entry> {
    let (version, date) = heading
        .trim()
        .split_once(" - ")
        .ok_or_else(|| anyhow!("expected `## [X.Y.Z] - YYYY-MM-DD`"))?;
    let version = version
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .ok_or_else(|| anyhow!("the version must be in brackets: `[X.Y.Z]`"))?;
    let version =
        Version::parse(version).with_context(|| format!("`{version}` is not a SemVer version"))?;
    let date = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
        .with_context(|| format!("`{}` is not a date (YYYY-MM-DD)", date.trim()))?;
    Ok(Entry {
        version,
        date,
        built_with: BTreeMap::new(),
        changes: Vec::new(),
    })
}

/// ` custody-sdk 0.1.0, custody-sigstore 0.1.0.`
fn parse_built_with(list: &str) -> Result<BTreeMap<String, Version>> {
    let list = list.trim();
    let list = list.strip_suffix('.').unwrap_or(list);
    let mut crates = BTreeMap::new();
    for item in list.split(',') {
        let mut words = item.split_whitespace();
        let (Some(name), Some(version), None) = (words.next(), words.next(), words.next()) else {
            bail!("expected `{BUILT_WITH} <crate> <version>, <crate> <version>.`");
        };
        let version = Version::parse(version)
            .with_context(|| format!("`{version}` ({name}) is not a SemVer version"))?;
        if crates.insert(name.to_owned(), version).is_some() {
            bail!("{name} is listed twice");
        }
    }
    Ok(crates)
}

fn finish(entry: Entry) -> Result<Entry> {
    if entry.built_with.is_empty() {
        bail!(
            "the entry for {} has no `{BUILT_WITH} <crate> <version>, ...` line",
            entry.version
        );
    }
    if entry.changes.is_empty() {
        bail!("the entry for {} lists no change", entry.version);
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "# Changelog

Free text about the format.

## [Unreleased]

### Added

- Not released yet, not checked: anything goes here.

## [0.2.0] - 2026-12-01

Built with: custody-sdk 0.2.0, custody-sigstore 0.1.0.

### Fixed

- A fix that takes
  two lines.

### Security

- A security fix.

## [0.1.0] - 2026-11-27

Built with: custody-sdk 0.1.0.

### Added

- First release.
";

    fn error(text: &str) -> String {
        Changelog::parse(text)
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default()
    }

    #[test]
    fn entries_are_read_newest_first() -> Result<()> {
        let log = Changelog::parse(GOOD)?;
        assert_eq!(log.entries.len(), 2);
        let current = log.current().ok_or_else(|| anyhow!("no entry"))?;
        assert_eq!(current.version, Version::new(0, 2, 0));
        assert_eq!(NaiveDate::from_ymd_opt(2026, 12, 1), Some(current.date));
        assert_eq!(
            current.built_with,
            BTreeMap::from([
                ("custody-sdk".to_owned(), Version::new(0, 2, 0)),
                ("custody-sigstore".to_owned(), Version::new(0, 1, 0)),
            ])
        );
        assert_eq!(
            current.changes,
            vec![
                Change {
                    kind: "Fixed",
                    description: "A fix that takes two lines.".to_owned()
                },
                Change {
                    kind: "Security",
                    description: "A security fix.".to_owned()
                },
            ]
        );
        assert!(current.has_security_fixes());
        assert!(log
            .entry(&Version::new(0, 1, 0))
            .is_some_and(|e| !e.has_security_fixes()));
        Ok(())
    }

    #[test]
    fn malformed_changelogs_are_refused_with_the_line() {
        let cases = [
            (
                GOOD.replace("[0.2.0] - 2026-12-01", "0.2.0 - 2026-12-01"),
                "in brackets",
            ),
            (GOOD.replace("[0.2.0]", "[0.2]"), "not a SemVer version"),
            (GOOD.replace("2026-12-01", "1 Dec 2026"), "not a date"),
            (GOOD.replace("2026-12-01", "2026-11-01"), "before the older"),
            (
                GOOD.replace("[0.1.0]", "[0.3.0]"),
                "from the newest version down",
            ),
            (
                GOOD.replace("### Fixed", "### Improved"),
                "unknown section `Improved`",
            ),
            (
                GOOD.replace("Built with: custody-sdk 0.1.0.\n", ""),
                "no `Built with:",
            ),
            (
                GOOD.replace("custody-sdk 0.1.0.", "custody-sdk."),
                "expected `Built with:",
            ),
            (
                GOOD.replace("custody-sdk 0.1.0.", "custody-sdk v0.1.0."),
                "not a SemVer",
            ),
            (GOOD.replace("- First release.", ""), "lists no change"),
            (
                GOOD.replace("- First release.", "First release."),
                "expected `- `",
            ),
            (
                GOOD.replace("## [Unreleased]\n", "")
                    .replace("## [0.1.0]", "## [Unreleased]\n\n## [0.1.0]"),
                "may only be the first section",
            ),
            (
                "# Changelog\n\n## [Unreleased]\n".to_owned(),
                "no released version",
            ),
        ];
        for (text, expected) in cases {
            let message = error(&text);
            assert!(
                message.contains(expected),
                "expected an error containing {expected:?}, got {message:?}"
            );
        }
        assert!(error(&GOOD.replace("### Added\n\n- First", "- First")).contains("line"));
    }
}
