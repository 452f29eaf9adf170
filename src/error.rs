//! Error types of the library: every configuration problem carries its file and line, and loading
//! collects all of them instead of stopping at the first.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in an input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line; 0 when the problem concerns the file as a whole.
    pub line: usize,
    pub message: String,
}

impl Problem {
    /// A problem at a line of a file.
    pub fn new(file: &Path, line: usize, message: impl Into<String>) -> Problem {
        Problem {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.file.to_string_lossy().starts_with("--") {
            // a command-line flag: `--threads must be at least 1`
            write!(f, "{} {}", self.file.display(), self.message)
        } else if self.line > 0 {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        } else {
            write!(f, "{}: {}", self.file.display(), self.message)
        }
    }
}

/// Everything wrong with a configuration, in file and line order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    pub problems: Vec<Problem>,
}

impl LoadError {
    /// Sorts the problems by file and line so reports are stable.
    pub fn sorted(mut problems: Vec<Problem>) -> LoadError {
        problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        problems.dedup();
        LoadError { problems }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Line (1-based) of a byte offset in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let b = text.as_bytes();
    b.get(..offset)
        .unwrap_or(b)
        .iter()
        .filter(|&&c| c == b'\n')
        .count()
        + 1
}

/// A TOML file's parse error as a problem at its line, in the operator's words.
pub fn toml_problem(path: &Path, text: &str, e: &toml::de::Error) -> Problem {
    let line = e.span().map_or(0, |s| line_of(text, s.start));
    let src = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
    Problem::new(path, line, friendly_serde(e.message(), src))
}

/// A deserializer's message in the operator's words: the key, what was expected and what was
/// found (`ttl: expected a whole number, found the string "60"`), from the raw serde text
/// (`invalid type: string "60", expected i64`) and the line it points at.
pub fn friendly_serde(msg: &str, line_text: &str) -> String {
    let msg = msg.trim().replace('\n', " ");
    let key = line_text
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"'))
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    let words = |t: &str| match t.trim() {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" => {
            "a whole number".to_string()
        }
        "f32" | "f64" => "a number".to_string(),
        "a boolean" | "bool" => "true or false".to_string(),
        other => other.to_string(),
    };
    let names = |list: &str| list.replace('`', "");
    if let Some(rest) = msg.strip_prefix("invalid type: ")
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        let found = found
            .replace("string ", "the string ")
            .replace("integer ", "the number ")
            .replace("floating point ", "the number ");
        let what = format!("expected {}, found {found}", words(expected));
        return match key {
            Some(k) => format!("{k}: {what}"),
            None => what,
        };
    }
    if let Some(rest) = msg.strip_prefix("unknown field `")
        && let Some((field, expected)) = rest.split_once('`')
    {
        let expected = expected
            .trim_start_matches(", ")
            .trim_start_matches("expected one of ")
            .trim_start_matches("expected ");
        return if expected.contains("there are no fields") || expected.is_empty() {
            format!("unknown key '{field}'")
        } else {
            format!(
                "unknown key '{field}' (expected one of: {})",
                names(expected)
            )
        };
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        return format!("missing key '{}'", rest.trim_end_matches('`'));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_read_like_ours() {
        assert_eq!(
            friendly_serde("invalid type: string \"60\", expected i64", "ttl = \"60\""),
            "ttl: expected a whole number, found the string \"60\""
        );
        assert_eq!(
            friendly_serde(
                "unknown field `member`, expected one of `names`, `members`",
                "member = 1"
            ),
            "unknown key 'member' (expected one of: names, members)"
        );
        assert_eq!(
            friendly_serde("missing field `names`", ""),
            "missing key 'names'"
        );
    }
}
