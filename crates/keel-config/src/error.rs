//! Errors that name the file, line and field.

use std::fmt;

/// A configuration error: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}: {}", self.file, self.line, self.field, self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// The error at byte `offset` of `text` (the contents of `file`): its line, and the dotted
    /// name of the field written there.
    pub(crate) fn at(file: &str, text: &str, offset: usize, message: String) -> ConfigError {
        ConfigError { file: file.to_string(), line: line_of(text, offset), field: field_at(text, offset), message }
    }
}

/// Line (1-based) of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

/// The dotted field path at `offset`: the enclosing `[table]` header plus the key there.
fn field_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let mut line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    // A value spread over several lines (a multi-line array): the key is where it starts.
    while line_start > 0 && is_continuation(text[line_start..].lines().next().unwrap_or("")) {
        line_start = text[..line_start - 1].rfind('\n').map_or(0, |i| i + 1);
    }
    let line = text[line_start..].lines().next().unwrap_or("");
    let key = line.split('=').next().unwrap_or("").trim();
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let key_is_header = key.starts_with('[');
    match (table, key_is_header || key.is_empty()) {
        (_, true) => key.trim_matches(|c| c == '[' || c == ']').to_string(),
        (Some(t), false) => format!("{t}.{key}"),
        (None, false) => key.to_string(),
    }
}

/// True for a line inside a multi-line value: neither a `[table]` header nor `key = ...`.
fn is_continuation(line: &str) -> bool {
    let l = line.trim();
    let is_key = |k: &str| {
        let k = k.trim();
        let quoted =
            k.len() >= 2 && (k.starts_with('"') && k.ends_with('"') || k.starts_with('\'') && k.ends_with('\''));
        !k.is_empty() && (quoted || k.chars().all(|c| c.is_ascii_alphanumeric() || "_-. ".contains(c)))
    };
    !l.is_empty() && !l.starts_with('[') && !l.starts_with('#') && !l.split_once('=').is_some_and(|(k, _)| is_key(k))
}
