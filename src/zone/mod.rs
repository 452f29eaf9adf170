//! Loading zone files into the immutable [`crate::model::ZoneSet`], reporting every problem.
//!
//! Every `*.zone` file of the zones directory is one zone. Loading is all or nothing: the result is
//! either a complete, validated zone set or the full list of problems with file and line.

pub mod build;
pub mod parse;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{LoadError, Problem};
use crate::model::ZoneSet;

/// The zone files of a directory, sorted by name.
pub fn zone_files(dir: &Path) -> Result<Vec<PathBuf>, Problem> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| Problem::new(dir, 0, format!("cannot read the zones directory: {e}")))?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "zone") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Reads, validates and builds every zone in `dir`.
pub fn load_dir(dir: &Path) -> Result<ZoneSet, LoadError> {
    let mut problems = Vec::new();
    let files = match zone_files(dir) {
        Ok(f) => f,
        Err(p) => return Err(LoadError::sorted(vec![p])),
    };
    if files.is_empty() {
        problems.push(Problem::new(
            dir,
            0,
            "no *.zone files: there is nothing to serve",
        ));
    }
    let mut zones = Vec::new();
    let mut seen: HashMap<Box<[u8]>, PathBuf> = HashMap::new();
    for f in &files {
        let Some(text) = parse::read_zone_file(f, &mut problems) else {
            continue;
        };
        if let Some(z) = build::build_zone(f, &text.origin, text.records, &mut problems) {
            if let Some(other) = seen.get(&z.apex) {
                problems.push(Problem::new(
                    f,
                    0,
                    format!(
                        "the zone {} is already loaded from {}",
                        z.origin,
                        other.display()
                    ),
                ));
                continue;
            }
            seen.insert(z.apex.clone(), f.clone());
            zones.push(z);
        }
    }
    if !problems.is_empty() {
        return Err(LoadError::sorted(problems));
    }
    Ok(ZoneSet::new(zones))
}
