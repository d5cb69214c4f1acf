//! The allowed values of every enumerated archive field (seed 004's 填表说明, seed 002's coarser lists).
//!
//! The vocabulary is data, not code: a province can replace the file and its nodes validate against
//! the new lists without a new release. The seeds' lists are built in as the default.
//! The hub uses the same vocabulary to name the `dangan` dimensions.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The seeds' vocabulary, compiled in so that a node works with no files beside it.
pub const DEFAULT_VOCABULARY: &str = include_str!("../vocabulary/default.toml");

/// Every field a vocabulary file must define, with the role it plays in the archive.
pub const REQUIRED_FIELDS: &[&str] = &[
    "sex",
    "politics",
    "category",
    "model_worker",
    "health",
    "work_status",
    "housing_type",
    "housing_area",
    "industry",
    "hukou",
    "unit_nature",
    "enterprise_status",
    "yes_no",
    "cause",
    "status",
    "relation",
    "member_status",
    "aid_kind",
];

/// Lists whose order the code relies on (eligibility, the archive-on-day rule): a replacement file
/// may add aliases to them but not change them.
pub const FIXED_FIELDS: &[(&str, &[&str])] = &[
    ("category", &["低保户", "低保边缘户", "意外致困户"]),
    ("status", &["在档", "已脱困", "已剔除"]),
    ("yes_no", &["是", "否"]),
    ("sex", &["男", "女"]),
];

/// Why a vocabulary file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is not valid TOML, or not of the vocabulary's shape; the message carries the line.
    #[error("vocabulary file is malformed / 词表文件格式错误: {0}")]
    Malformed(String),
    /// A field the archive needs has no list.
    #[error("vocabulary file lacks field `{0}` / 词表缺少字段 `{0}`")]
    MissingField(String),
    /// An alias points at a value that is not in the list, or a list is empty or repeats itself.
    #[error("vocabulary field `{field}`: {problem}")]
    Inconsistent { field: String, problem: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    fields: BTreeMap<String, FieldFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldFile {
    label: String,
    values: Vec<String>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
}

/// One enumerated field: its canonical values, in the seed's order, and accepted aliases.
#[derive(Debug, Clone)]
pub struct Field {
    /// The English key (`category`), as used in cell codes and config.
    pub key: String,
    /// The Chinese label of the seeds (`困难类别`).
    pub label: String,
    values: Vec<String>,
    /// normalised spelling -> index into `values`
    lookup: BTreeMap<String, u8>,
}

impl Field {
    /// The canonical values in the seed's order.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// The canonical index of `raw` (after trimming and parenthesis normalisation), if allowed.
    pub fn index_of(&self, raw: &str) -> Option<u8> {
        // The common case, a clean value, costs no allocation: this runs for every cell of an import.
        let trimmed = raw.trim();
        if !trimmed.contains(['(', ')']) {
            return self.lookup.get(trimmed).copied();
        }
        self.lookup.get(normalise(trimmed).as_str()).copied()
    }

    /// The canonical spelling of `raw`, if allowed.
    pub fn canonical(&self, raw: &str) -> Option<&str> {
        self.index_of(raw).map(|i| self.values[i as usize].as_str())
    }

    /// The value at a canonical index.
    pub fn value(&self, index: u8) -> &str {
        &self.values[index as usize]
    }
}

/// Full-width and half-width parentheses are the same to a person filling in a form.
fn normalise(raw: &str) -> String {
    raw.trim().replace('(', "（").replace(')', "）")
}

/// All enumerated fields of the archive.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    fields: BTreeMap<String, Field>,
}

impl Vocabulary {
    /// The seeds' vocabulary.
    pub fn builtin() -> Vocabulary {
        Vocabulary::parse(DEFAULT_VOCABULARY).expect("the built-in vocabulary is valid")
    }

    /// Reads a vocabulary file's text, checking that it defines every field the archive needs.
    pub fn parse(text: &str) -> Result<Vocabulary, Error> {
        let file: File = toml::from_str(text).map_err(|e| Error::Malformed(e.to_string()))?;
        let mut fields = BTreeMap::new();
        for (key, f) in file.fields {
            if f.values.is_empty() || f.values.len() > u8::MAX as usize {
                return Err(Error::Inconsistent {
                    field: key,
                    problem: "needs 1 to 255 values".into(),
                });
            }
            let mut lookup = BTreeMap::new();
            for (i, v) in f.values.iter().enumerate() {
                if lookup.insert(normalise(v), i as u8).is_some() {
                    return Err(Error::Inconsistent {
                        field: key,
                        problem: format!("value `{v}` is listed twice"),
                    });
                }
            }
            for (alias, target) in &f.aliases {
                let Some(&i) = lookup.get(normalise(target).as_str()) else {
                    return Err(Error::Inconsistent {
                        field: key,
                        problem: format!("alias `{alias}` names `{target}`, which is not a value"),
                    });
                };
                lookup.entry(normalise(alias)).or_insert(i);
            }
            let values = f.values.iter().map(|v| normalise(v)).collect();
            fields.insert(
                key.clone(),
                Field {
                    key,
                    label: f.label,
                    values,
                    lookup,
                },
            );
        }
        for required in REQUIRED_FIELDS {
            if !fields.contains_key(*required) {
                return Err(Error::MissingField((*required).to_string()));
            }
        }
        for (key, fixed) in FIXED_FIELDS {
            let values = &fields[*key].values;
            if values.iter().map(String::as_str).ne(fixed.iter().copied()) {
                return Err(Error::Inconsistent {
                    field: (*key).to_string(),
                    problem: format!(
                        "the code relies on this list; it must be exactly {fixed:?} (aliases may be added)"
                    ),
                });
            }
        }
        Ok(Vocabulary { fields })
    }

    /// The field with this key. Panics on a key outside [`REQUIRED_FIELDS`]: that is a programming error.
    pub fn field(&self, key: &str) -> &Field {
        self.fields
            .get(key)
            .unwrap_or_else(|| panic!("vocabulary field `{key}` is required at load time"))
    }

    /// A field by key, for data-driven callers (templates) that may name anything.
    pub fn get(&self, key: &str) -> Option<&Field> {
        self.fields.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_vocabulary_has_the_seed_lists() {
        let v = Vocabulary::builtin();
        assert_eq!(v.field("industry").values().len(), 23);
        assert_eq!(v.field("health").values().len(), 15);
        assert_eq!(v.field("cause").values().len(), 8);
    }

    #[test]
    fn seed_002_values_map_onto_seed_004_values() {
        let v = Vocabulary::builtin();
        assert_eq!(
            v.field("unit_nature").canonical("非公企业"),
            Some("民营/私营/个体企业")
        );
        assert_eq!(v.field("cause").canonical("因病致困"), Some("本人大病"));
        assert_eq!(
            v.field("enterprise_status").canonical("破产"),
            Some("关闭破产企业")
        );
    }

    #[test]
    fn half_width_parentheses_are_accepted() {
        let v = Vocabulary::builtin();
        assert_eq!(
            v.field("work_status").canonical(" 下(待)岗 "),
            Some("下（待）岗")
        );
    }

    #[test]
    fn a_value_outside_the_list_is_refused() {
        assert_eq!(
            Vocabulary::builtin().field("category").canonical("特困户"),
            None
        );
    }

    #[test]
    fn an_alias_to_nothing_is_a_load_error() {
        let text = DEFAULT_VOCABULARY.replace("\"党员\" = \"中共党员\"", "\"党员\" = \"共产党员\"");
        let err = Vocabulary::parse(&text).unwrap_err();
        assert!(err.to_string().contains("共产党员"), "{err}");
    }

    #[test]
    fn a_file_without_a_required_field_is_refused() {
        let err = Vocabulary::parse("[fields.sex]\nlabel = \"性别\"\nvalues = [\"男\", \"女\"]\n")
            .unwrap_err();
        assert!(matches!(err, Error::MissingField(_)), "{err}");
    }

    #[test]
    fn a_malformed_file_names_the_line() {
        let err = Vocabulary::parse("[fields.sex]\nlabel = \n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
