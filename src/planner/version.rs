//! Milvus version numbers as they appear in chart appVersions and image tags.
//!
//! Milvus tags are not semver: `2.4.13-hotfix` is a later build than `2.4.13`,
//! `v2.0.0-rc8-20211104-d1f4106` carries a build date and commit, and
//! `2.0.0-pre-ga` came after the release candidates. The order here is the
//! order in which Milvus shipped them. A flavour (`-gpu`) names another build of
//! the same version, not a pre-release: it takes no part in order or equality,
//! and an upgrade keeps it (`v2.4.9-gpu` → `v2.5.16-gpu`).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// How far a build is from the final release of its `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// A suffix we do not know; ordered before every known pre-release.
    Other,
    Alpha,
    Beta,
    Rc,
    /// `pre-ga`: the build after the last release candidate.
    PreGa,
    Release,
}

/// A parsed Milvus version; keeps the text it was parsed from for display.
#[derive(Debug, Clone)]
pub struct MilvusVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub stage: Stage,
    pub stage_number: u64,
    /// `hotfix` is `Some(0)`, `hotfix1` is `Some(1)`; later than the plain build.
    pub hotfix: Option<u64>,
    /// Build date from tags like `-20211104-d1f4106`.
    pub build_date: Option<u64>,
    /// A build flavour such as `gpu` (`v2.4.9-gpu`); not part of the order.
    pub flavour: Option<String>,
    text: String,
}

/// Tag suffixes Milvus publishes for other builds of the same version.
pub const FLAVOURS: [&str; 1] = ["gpu"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a Milvus version (expected something like 2.4.9, v2.4.9, 2.5.0-beta or 2.4.13-hotfix)")]
pub struct VersionParseError(pub String);

impl MilvusVersion {
    pub fn new(major: u64, minor: u64, patch: u64) -> Self {
        format!("{major}.{minor}.{patch}")
            .parse()
            .expect("numeric version")
    }

    /// The version without a leading `v`, as Milvus writes appVersions.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The image tag the Milvus chart uses for this version (`v2.4.9`, `v2.4.9-gpu`).
    pub fn image_tag(&self) -> String {
        format!("v{}", self.text)
    }

    /// This version in the flavour of `other` (`2.5.16` + gpu → `2.5.16-gpu`);
    /// unchanged when it has a flavour of its own or `other` has none.
    pub fn in_flavour_of(&self, other: &MilvusVersion) -> MilvusVersion {
        match (&self.flavour, &other.flavour) {
            (None, Some(f)) => MilvusVersion {
                flavour: Some(f.clone()),
                text: format!("{}-{f}", self.text),
                ..self.clone()
            },
            _ => self.clone(),
        }
    }

    /// A pre-release (alpha, beta, rc, pre-ga, or an unknown suffix).
    pub fn is_pre_release(&self) -> bool {
        self.stage != Stage::Release
    }

    /// `2.4` of `2.4.9`.
    pub fn minor_line(&self) -> (u64, u64) {
        (self.major, self.minor)
    }

    fn key(&self) -> (u64, u64, u64, Stage, u64, Option<u64>, Option<u64>) {
        (
            self.major,
            self.minor,
            self.patch,
            self.stage,
            self.stage_number,
            self.hotfix,
            self.build_date,
        )
    }
}

impl FromStr for MilvusVersion {
    type Err = VersionParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = || VersionParseError(input.to_string());
        let text = input.trim();
        let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
        let (core, suffix) = text.split_once('-').unwrap_or((text, ""));
        if text.ends_with('-') {
            return Err(err());
        }
        let mut numbers = core.split('.').map(|n| n.parse::<u64>().map_err(|_| err()));
        let major = numbers.next().ok_or_else(err)??;
        let minor = numbers.next().ok_or_else(err)??;
        let patch = numbers.next().ok_or_else(err)??;
        if numbers.next().is_some() {
            return Err(err());
        }
        let mut version = MilvusVersion {
            major,
            minor,
            patch,
            stage: Stage::Release,
            stage_number: 0,
            hotfix: None,
            build_date: None,
            flavour: None,
            text: text.to_string(),
        };
        parse_suffix(&mut version, suffix).ok_or_else(err)?;
        Ok(version)
    }
}

/// Reads the tokens after `X.Y.Z-`; `None` when a token is not a version word.
fn parse_suffix(version: &mut MilvusVersion, suffix: &str) -> Option<()> {
    let tokens: Vec<&str> = suffix.split(['-', '.']).filter(|t| !t.is_empty()).collect();
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i].to_ascii_lowercase();
        let (word, number) = split_word_number(&token);
        let next_number = || tokens.get(i + 1).and_then(|t| t.parse::<u64>().ok());
        match word {
            "alpha" | "beta" | "rc" => {
                version.stage = match word {
                    "alpha" => Stage::Alpha,
                    "beta" => Stage::Beta,
                    _ => Stage::Rc,
                };
                version.stage_number = match (number, next_number()) {
                    (Some(n), _) => n,
                    (None, Some(n)) if n < 1000 => {
                        i += 1;
                        n
                    }
                    _ => 0,
                };
            }
            "pre" if tokens.get(i + 1).map(|t| t.eq_ignore_ascii_case("ga")) == Some(true) => {
                version.stage = Stage::PreGa;
                i += 1;
            }
            "hotfix" => version.hotfix = Some(number.unwrap_or(0)),
            _ if FLAVOURS.contains(&token.as_str()) => version.flavour = Some(token),
            "" if token.len() == 8 => version.build_date = number,
            _ if is_commit_hash(&token) && version.build_date.is_some() => {}
            _ if token.chars().all(|c| c.is_ascii_alphanumeric()) && !word.is_empty() => {
                version.stage = version.stage.min(Stage::Other);
            }
            _ => return None,
        }
        i += 1;
    }
    Some(())
}

/// `rc8` → ("rc", Some(8)); `20211104` → ("", Some(20211104)).
fn split_word_number(token: &str) -> (&str, Option<u64>) {
    let digits_at = token
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(token.len());
    let (word, digits) = token.split_at(digits_at);
    (word, digits.parse().ok())
}

fn is_commit_hash(token: &str) -> bool {
    token.len() >= 7 && token.chars().all(|c| c.is_ascii_hexdigit())
}

impl PartialEq for MilvusVersion {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for MilvusVersion {}

impl PartialOrd for MilvusVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for MilvusVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl std::hash::Hash for MilvusVersion {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state)
    }
}

impl fmt::Display for MilvusVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for MilvusVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

/// The tag of an image reference: `milvusdb/milvus:v2.4.9` → `v2.4.9`.
/// A digest-pinned or untagged image has none.
pub fn image_tag(image: &str) -> Option<&str> {
    let name = image.split('@').next().unwrap_or(image);
    let last_segment_start = name.rfind('/').map_or(0, |i| i + 1);
    name[last_segment_start..]
        .split_once(':')
        .map(|(_, tag)| tag)
}

/// The repository of an image reference: `milvusdb/milvus:v2.4.9` → `milvusdb/milvus`.
pub fn image_repository(image: &str) -> &str {
    let name = image.split('@').next().unwrap_or(image);
    match image_tag(name) {
        Some(tag) => &name[..name.len() - tag.len() - 1],
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> MilvusVersion {
        s.parse().unwrap()
    }

    #[test]
    fn parses_the_forms_milvus_uses() {
        assert_eq!(v("2.4.9"), v("v2.4.9"));
        assert_eq!(v("v2.4.9").as_str(), "2.4.9");
        assert_eq!(v("2.4.9").image_tag(), "v2.4.9");
        assert_eq!(v("2.5.0-beta").stage, Stage::Beta);
        assert_eq!(v("2.4.13-hotfix").hotfix, Some(0));
        let rc8 = v("v2.0.0-rc8-20211104-d1f4106");
        assert_eq!((rc8.stage, rc8.stage_number), (Stage::Rc, 8));
        assert_eq!(rc8.build_date, Some(20211104));
        assert_eq!(v("2.0.0-rc.5-hotfix1").hotfix, Some(1));
        assert_eq!(v("2.0.0-pre-ga").stage, Stage::PreGa);
        let gpu = v("v2.4.9-gpu");
        assert_eq!(
            (gpu.stage, gpu.flavour.as_deref()),
            (Stage::Release, Some("gpu"))
        );
        assert_eq!(gpu.image_tag(), "v2.4.9-gpu");
        assert_eq!(v("2.4.13-hotfix-gpu").hotfix, Some(0));
    }

    #[test]
    fn a_flavour_is_the_same_version_and_is_kept() {
        assert_eq!(v("2.4.9-gpu"), v("2.4.9"));
        assert!(v("2.4.9-gpu") > v("2.4.9-rc1"));
        assert!(v("2.4.9-gpu") < v("2.4.13-hotfix"));
        assert!(!v("2.4.9-gpu").is_pre_release());
        let running = v("v2.4.9-gpu");
        assert_eq!(
            v("2.5.16").in_flavour_of(&running).image_tag(),
            "v2.5.16-gpu"
        );
        assert_eq!(
            v("2.5.16-gpu").in_flavour_of(&running).image_tag(),
            "v2.5.16-gpu"
        );
        assert_eq!(
            v("2.5.16").in_flavour_of(&v("2.4.9")).image_tag(),
            "v2.5.16"
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "", "latest", "2.4", "2.4.x", "2.4.9.1", "v", "2..4", "2.4.9-", "2.4.9-@",
        ] {
            assert!(bad.parse::<MilvusVersion>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn orders_as_milvus_shipped() {
        let ordered = [
            "2.0.0-rc.1",
            "v2.0.0-rc4-20210811-bdb8396",
            "2.0.0-rc.5",
            "2.0.0-rc5-hotfix1-20210901-9e0b2cc",
            "2.0.0-rc.6",
            "v2.0.0-rc8-20211030-54738d2",
            "v2.0.0-rc8-20211104-d1f4106",
            "2.0.0-pre-ga",
            "2.0.0",
            "2.1.4",
            "2.2.0",
            "2.2.3",
            "2.3.0-beta",
            "2.3.0",
            "2.4.13",
            "2.4.13-hotfix",
            "2.4.14",
            "2.5.0-beta",
            "2.5.0",
            "2.5.16",
            "2.6.0",
        ];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn every_version_in_the_chart_history_parses_and_orders_totally() {
        let mut all: Vec<MilvusVersion> = crate::planner::chart_history::HISTORY
            .iter()
            .flat_map(|c| {
                let mut vs = vec![c.app_version.clone()];
                vs.extend(c.default_tag().and_then(|t| t.parse().ok()));
                vs
            })
            .collect();
        assert!(all.len() > 500);
        all.sort();
        for pair in all.windows(2) {
            assert_ne!(pair[0].cmp(&pair[1]), Ordering::Greater);
            assert_eq!(pair[1].cmp(&pair[0]), pair[0].cmp(&pair[1]).reverse());
        }
        for version in &all {
            assert_eq!(&v(version.as_str()), version, "round trip of {version}");
            let gpu = v(&format!("{}-gpu", version.as_str()));
            assert_eq!(&gpu, version, "{version}-gpu is the same version");
            assert_eq!(gpu.flavour.as_deref(), Some("gpu"));
        }
    }

    #[test]
    fn splits_image_references() {
        assert_eq!(image_tag("milvusdb/milvus:v2.4.9"), Some("v2.4.9"));
        assert_eq!(image_tag("localhost:5000/milvus"), None);
        assert_eq!(image_tag("localhost:5000/milvus:v2.2.3"), Some("v2.2.3"));
        assert_eq!(
            image_repository("localhost:5000/milvus:v2.2.3"),
            "localhost:5000/milvus"
        );
        assert_eq!(image_repository("milvusdb/milvus"), "milvusdb/milvus");
    }
}
