//! The seeds' four tables, built in as files so that a node works with no files beside it, and
//! the loading of templates a province writes itself.

use std::path::Path;

use super::{Error, Template, file};
use crate::vocabulary::Vocabulary;

/// The ids of the built-in templates.
pub const BUILTIN_IDS: [&str; 4] = ["songnuan", "bangfu_center", "dajiancha", "dangan"];

/// The file text of a built-in template.
pub fn builtin_text(id: &str) -> Option<&'static str> {
    Some(match id {
        "songnuan" => include_str!("../../templates/songnuan.toml"),
        "bangfu_center" => include_str!("../../templates/bangfu_center.toml"),
        "dajiancha" => include_str!("../../templates/dajiancha.toml"),
        "dangan" => include_str!("../../templates/dangan.toml"),
        _ => return None,
    })
}

/// A built-in template, read against `vocabulary`.
pub fn builtin(id: &str, vocabulary: &Vocabulary) -> Result<Template, Error> {
    let text = builtin_text(id).ok_or_else(|| Error::Unknown(id.to_string()))?;
    file::parse(text, vocabulary, &format!("built-in template {id}"))
}

/// Reads a template file.
pub fn load_file(path: &Path, vocabulary: &Vocabulary) -> Result<Template, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    file::parse(&text, vocabulary, &path.display().to_string())
}

/// The template `id`: `DIR/<id>.toml` when a templates directory is given and holds one (a province
/// may replace a built-in table), else the built-in template.
pub fn load(id: &str, dir: Option<&Path>, vocabulary: &Vocabulary) -> Result<Template, Error> {
    if let Some(dir) = dir {
        let path = dir.join(format!("{id}.toml"));
        if path.is_file() {
            let t = load_file(&path, vocabulary)?;
            if t.id != id {
                return Err(Error::Invalid {
                    origin: format!("{}: ", path.display()),
                    line: 1,
                    problem: format!("the file's id is `{}`, but its name says `{id}`", t.id),
                });
            }
            return Ok(t);
        }
    }
    builtin(id, vocabulary)
}

impl Template {
    /// Reads a template from its file text.
    pub fn parse(text: &str, vocabulary: &Vocabulary) -> Result<Template, Error> {
        file::parse(text, vocabulary, "")
    }
}
