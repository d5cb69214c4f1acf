//! The node's settings, kept as `node.toml` in its `--data` folder: who it is, where its parent is,
//! and the local eligibility rules (精准识别), which differ by place (seeds 002, 004).

use std::path::{Path, PathBuf};

use bangfu_shared::org::OrgCode;
use bangfu_shared::vocabulary::{self, Vocabulary};
use serde::{Deserialize, Serialize};

pub const FILE_NAME: &str = "node.toml";
/// A province's replacement vocabulary, if the node was given one.
pub const VOCABULARY_FILE: &str = "vocabulary.toml";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no node in {0}: run `bangfu-node init --data {0} --org CODE --name NAME` first / 尚未初始化"
    )]
    NotInitialised(String),
    #[error("{0} already holds a node; choose another --data folder / 该目录已初始化")]
    AlreadyInitialised(String),
    #[error("reading {path}: {detail} / 配置文件错误")]
    Malformed { path: String, detail: String },
    #[error("vocabulary {path}: {source}")]
    Vocabulary {
        path: String,
        source: vocabulary::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// This node's org code (`H01`); every 职工编号 of the archive begins with it.
    pub org: OrgCode,
    /// The union's name, as on its reports (京山县总工会).
    pub name: String,
    /// The parent hub's URL, once connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The folder holding this node's `ca.pem`, `cert.pem`, `key.pem`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<PathBuf>,
    /// The parent's org when it is not the one the node's own code implies (`connect
    /// --parent-org`); see [`Settings::parent_org`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_org: Option<OrgCode>,
    #[serde(default)]
    pub eligibility: Eligibility,
    /// What a report does with a cell that changed by fewer than k households since it was last
    /// published (issue 11): `withhold_small_changes` (the default) or `publish`.
    #[serde(default)]
    pub change_policy: bangfu_shared::disclose::joint::ChangePolicy,
}

/// The local rules of who counts as a hardship household.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Eligibility {
    /// The local 低保 line, 元 per person per month (seed 004: 绍兴 2010, 400 元).
    #[serde(default = "default_dibao_line")]
    pub dibao_line: f64,
    /// The edge band above the line: 1.2 (seed 004) or 1.3 (seed 002).
    #[serde(default = "default_edge_ratio")]
    pub edge_ratio: f64,
    /// Medical costs, tuition or disaster losses above this share of household income (seed 002: 50%).
    #[serde(default = "default_hardship_share")]
    pub hardship_share: f64,
}

fn default_dibao_line() -> f64 {
    400.0
}
fn default_edge_ratio() -> f64 {
    1.2
}
fn default_hardship_share() -> f64 {
    0.5
}

impl Default for Eligibility {
    fn default() -> Self {
        Eligibility {
            dibao_line: default_dibao_line(),
            edge_ratio: default_edge_ratio(),
            hardship_share: default_hardship_share(),
        }
    }
}

impl Settings {
    /// The one org this node's parent is: `connect --parent-org` when given, else the prefecture of
    /// the node's own code (H01 and 市直 H08 belong to H). The node accepts no other certificate at
    /// the parent's URL and answers pulls from no other org. None for a code of no county shape
    /// without `--parent-org`: such a node talks to no parent.
    pub fn parent_org(&self) -> Option<OrgCode> {
        if let Some(org) = &self.parent_org {
            return Some(org.clone());
        }
        match self.org.level() {
            bangfu_shared::org::Level::County => OrgCode::parse(&self.org.as_str()[..1]).ok(),
            _ => None,
        }
    }

    pub fn load(data: &Path) -> Result<Settings, Error> {
        let path = data.join(FILE_NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotInitialised(data.display().to_string()));
            }
            Err(source) => {
                return Err(Error::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        toml::from_str(&text).map_err(|e| Error::Malformed {
            path: path.display().to_string(),
            detail: e.to_string(),
        })
    }

    /// Writes the settings atomically (a crash leaves the old file or the new one, never half).
    pub fn save(&self, data: &Path) -> Result<(), Error> {
        let path = data.join(FILE_NAME);
        let text = toml::to_string_pretty(self).expect("settings serialise");
        write_atomically(&path, text.as_bytes())
    }

    /// The vocabulary this node validates against: its own file if it has one, else the seeds'.
    pub fn vocabulary(data: &Path) -> Result<Vocabulary, Error> {
        let path = data.join(VOCABULARY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Vocabulary::parse(&text).map_err(|source| Error::Vocabulary {
                path: path.display().to_string(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vocabulary::builtin()),
            Err(source) => Err(Error::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }
}

pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_through_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings {
            org: OrgCode::parse("H01").unwrap(),
            name: "京山县总工会".into(),
            parent: None,
            tls: None,
            parent_org: None,
            eligibility: Eligibility {
                dibao_line: 520.0,
                edge_ratio: 1.3,
                hardship_share: 0.5,
            },
            change_policy: Default::default(),
        };
        s.save(dir.path()).unwrap();
        let back = Settings::load(dir.path()).unwrap();
        assert_eq!(back.org, s.org);
        assert_eq!(back.eligibility, s.eligibility);
    }

    #[test]
    fn an_unknown_setting_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FILE_NAME),
            "org = \"H01\"\nname = \"x\"\ndibao = 3\n",
        )
        .unwrap();
        let err = Settings::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("dibao"), "{err}");
    }
}
