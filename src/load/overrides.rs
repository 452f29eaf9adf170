//! The overrides file (`overrides.toml`): reading it with every problem at its line, and writing
//! it atomically for `geosteer drain`, `undrain` and `down`, so nobody hand-edits TOML at 3 a.m.
//!
//! ```toml
//! [[override]]
//! target = "*/ams"                  # DATACENTER everywhere, POOL/DATACENTER, POOL/DATACENTER/MEMBER
//! state = "drain"                   # up | down | drain
//! until = "2026-12-01T06:00:00Z"    # optional
//! reason = "AMS maintenance window"
//! ```

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::error::{LoadError, Problem, line_of, toml_problem};
use crate::model::overrides::{FeedEntry, FeedState, Override, OverrideState, Target};
use crate::time::{format_rfc3339, parse_rfc3339};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default, rename = "override")]
    overrides: Vec<Spanned<EntrySpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntrySpec {
    target: Spanned<String>,
    state: Spanned<String>,
    until: Option<Spanned<String>>,
    reason: Option<String>,
}

/// The text of a file that may be absent (`None`).
fn read_optional(path: &Path) -> Result<Option<String>, LoadError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LoadError::sorted(vec![Problem::new(
            path,
            0,
            format!("cannot read: {e}"),
        )])),
    }
}

/// Reads the overrides file; a missing file is no override.
pub fn read(path: &Path) -> Result<Vec<Override>, LoadError> {
    match read_optional(path)? {
        Some(text) => parse(path, &text),
        None => Ok(Vec::new()),
    }
}

/// Parses the text of an overrides file.
pub fn parse(path: &Path, text: &str) -> Result<Vec<Override>, LoadError> {
    let at = |offset: usize| line_of(text, offset);
    let spec: FileSpec =
        toml::from_str(text).map_err(|e| LoadError::sorted(vec![toml_problem(path, text, &e)]))?;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for entry in spec.overrides {
        let line = at(entry.span().start);
        let e = entry.into_inner();
        let mut problem =
            |offset: usize, m: String| problems.push(Problem::new(path, at(offset), m));
        let target = Target::parse(e.target.get_ref());
        if let Err(m) = &target {
            problem(e.target.span().start, m.clone());
        }
        let state = match e.state.get_ref().as_str() {
            "up" => Some(OverrideState::Up),
            "down" => Some(OverrideState::Down),
            "drain" => Some(OverrideState::Drain),
            other => {
                problem(
                    e.state.span().start,
                    format!("state '{other}' is not \"up\", \"down\" or \"drain\""),
                );
                None
            }
        };
        let until = match &e.until {
            None => Some(None),
            Some(u) => match parse_rfc3339(u.get_ref()) {
                Some(t) => Some(Some(t)),
                None => {
                    problem(
                        u.span().start,
                        format!(
                            "until '{}' is not a UTC time like 2026-12-01T06:00:00Z",
                            u.get_ref()
                        ),
                    );
                    None
                }
            },
        };
        if let (Ok(target), Some(state), Some(until)) = (target, state, until) {
            out.push(Override {
                target,
                state,
                until,
                reason: e.reason.unwrap_or_default(),
                file: path.to_path_buf(),
                line,
            });
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(LoadError::sorted(problems))
    }
}

/// One value of the feed file.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FeedValue {
    Word(String),
    Number(f64),
}

/// Reads the external feed: `TARGET = "up" | "down" | WEIGHT` lines (a weight factor from 0 to 1)
/// written by another system. A missing file is an empty feed.
pub fn read_feed(path: &Path) -> Result<Vec<FeedEntry>, LoadError> {
    let Some(text) = read_optional(path)? else {
        return Ok(Vec::new());
    };
    let at = |offset: usize| line_of(&text, offset);
    let table: std::collections::BTreeMap<Spanned<String>, Spanned<FeedValue>> =
        toml::from_str(&text)
            .map_err(|e| LoadError::sorted(vec![toml_problem(path, &text, &e)]))?;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut entries: Vec<_> = table.into_iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    for (k, v) in entries {
        let line = at(k.span().start);
        let target = Target::parse(k.get_ref());
        let state = match v.get_ref() {
            FeedValue::Word(w) if w == "up" => Ok(FeedState::Up),
            FeedValue::Word(w) if w == "down" => Ok(FeedState::Down),
            FeedValue::Number(n) if (0.0..=1.0).contains(n) => Ok(FeedState::Weight(*n)),
            FeedValue::Word(w) => Err(format!(
                "'{w}' is not \"up\", \"down\" or a weight from 0 to 1"
            )),
            FeedValue::Number(n) => Err(format!("weight {n} is not from 0 to 1")),
        };
        match (target, state) {
            (Ok(target), Ok(state)) => out.push(FeedEntry {
                target,
                state,
                file: path.to_path_buf(),
                line,
            }),
            (t, s) => {
                for m in [t.err(), s.err()].into_iter().flatten() {
                    problems.push(Problem::new(path, line, m));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(LoadError::sorted(problems))
    }
}

/// Writes the overrides file atomically: a temporary file beside it, renamed over it.
pub fn write(path: &Path, overrides: &[Override]) -> std::io::Result<()> {
    let mut text = String::from(
        "# Overrides for the on-call engineer; written by geosteer drain/undrain/down.\n",
    );
    for o in overrides {
        text.push_str("\n[[override]]\n");
        text.push_str(&format!("target = {}\n", quote(&o.target.to_string())));
        text.push_str(&format!("state = \"{}\"\n", o.state.as_str()));
        if let Some(u) = o.until {
            text.push_str(&format!("until = \"{}\"\n", format_rfc3339(u)));
        }
        if !o.reason.is_empty() {
            text.push_str(&format!("reason = {}\n", quote(&o.reason)));
        }
    }
    let name = path.file_name().map_or_else(
        || "overrides.toml".into(),
        |n| n.to_string_lossy().to_string(),
    );
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if c.is_control() => o.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_write_and_every_problem_with_its_line() {
        let p = Path::new("overrides.toml");
        let good = "[[override]]\ntarget = \"*/ams\"\nstate = \"drain\"\nuntil = \"2026-12-01T06:00:00Z\"\nreason = \"AMS \\\"maintenance\\\"\"\n";
        let o = parse(p, good).unwrap();
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].target.to_string(), "*/ams");
        assert_eq!(o[0].line, 1);
        let dir = crate::testutil::dir("overrides");
        let f = dir.join("overrides.toml");
        write(&f, &o).unwrap();
        let again = read(&f).unwrap();
        assert_eq!(again[0].reason, "AMS \"maintenance\"");
        assert_eq!(again[0].until, o[0].until);
        let bad = "[[override]]\ntarget = \"a//b\"\nstate = \"off\"\nuntil = \"tomorrow\"\n";
        let e = parse(p, bad).unwrap_err().to_string();
        for want in [
            "overrides.toml:2: target 'a//b'",
            "overrides.toml:3: state 'off'",
            "overrides.toml:4: until 'tomorrow'",
        ] {
            assert!(e.contains(want), "{want} in {e}");
        }
        let e = parse(
            p,
            "[[override]]\ntarget = \"ams\"\nstate = \"down\"\ncolour = 1\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown key 'colour'"), "{e}");
        assert!(read(&dir.join("missing.toml")).unwrap().is_empty());
        let feed = dir.join("feed.toml");
        std::fs::write(
            &feed,
            "\"192.0.2.10\" = \"down\"\n\"web/ams\" = 0.5\n\"*/sin\" = \"up\"\n",
        )
        .unwrap();
        let f = read_feed(&feed).unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].target.to_string(), "192.0.2.10");
        assert_eq!(f[1].state, FeedState::Weight(0.5));
        assert_eq!((f[2].line, f[2].state), (3, FeedState::Up));
        std::fs::write(&feed, "\"ams\" = 2\n\"x//y\" = \"up\"\n").unwrap();
        let e = read_feed(&feed).unwrap_err().to_string();
        assert!(
            e.contains("feed.toml:1: weight 2 is not from 0 to 1")
                && e.contains("feed.toml:2: target 'x//y'"),
            "{e}"
        );
    }
}
