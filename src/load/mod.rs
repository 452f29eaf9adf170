//! Loading the zones directory into the immutable [`crate::model::ZoneSet`], reporting every
//! problem.
//!
//! Every `*.zone` file of the zones directory is one zone (`zonefile` reads it, `zone`
//! validates it into a [`crate::model::ZoneBuilder`]); a `*.pools.toml` beside it binds pools to its
//! names (`pools`); then the zone is frozen. Loading is all or nothing: the result is either a
//! complete, validated zone set or the full list of problems with file and line.

pub mod overrides;
pub(crate) mod pools;
pub(crate) mod rdata;
pub(crate) mod zone;
pub(crate) mod zonefile;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::error::{LoadError, Problem};
use crate::model::ZoneSet;
use crate::wire::name::{is_subdomain, lowercased, to_text};
use crate::wire::rtype;

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

/// Pool files without a zone file beside them: mistakes worth reporting (a typo in a file name
/// would otherwise silently turn steering off).
fn orphan_pool_files(dir: &Path, zones: &[PathBuf]) -> Vec<Problem> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for p in rd.filter_map(|e| e.ok().map(|e| e.path())) {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(stem) = name.strip_suffix(".pools.toml")
            && !zones
                .iter()
                .any(|z| z.file_stem().and_then(|s| s.to_str()) == Some(stem))
        {
            out.push(Problem::new(
                &p,
                0,
                format!("no zone file {stem}.zone beside this pool file"),
            ));
        }
    }
    out
}

/// Reads, validates and builds every zone in `dir`.
pub fn load_dir(dir: &Path) -> Result<ZoneSet, LoadError> {
    load_dir_reporting(dir, &mut Vec::new())
}

/// [`load_dir`], also collecting what is worth a warning but does not stop loading: files in the
/// zones directory that are not read (a misnamed pool file silently turns steering off), and names
/// in RDATA that repeat the zone's origin (`cdn CNAME www.example.com` without the trailing dot).
/// Warnings are collected whether or not loading succeeds.
pub fn load_dir_reporting(dir: &Path, warnings: &mut Vec<Problem>) -> Result<ZoneSet, LoadError> {
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
    problems.extend(orphan_pool_files(dir, &files));
    let mut zones = Vec::new();
    let mut seen: HashMap<Box<[u8]>, PathBuf> = HashMap::new();
    let mut read: HashSet<PathBuf> = files.iter().cloned().collect();
    for f in &files {
        read.insert(pools::pool_file_for(f));
        let Some(text) = zonefile::read_zone_file(f, &mut problems) else {
            continue;
        };
        read.extend(text.records.iter().map(|r| r.file.to_path_buf()));
        warnings.extend(repeated_origins(&text));
        let Some(builder) = zone::build_zone(f, &text.origin, text.records, &mut problems) else {
            continue;
        };
        let pool_file = pools::pool_file_for(f);
        let bound = if pool_file.is_file() {
            pools::read(&builder, &pool_file, &mut problems)
        } else {
            Some(pools::PoolSet::default())
        };
        let Some(bound) = bound else {
            continue;
        };
        if let Some(other) = seen.get(builder.apex()) {
            problems.push(Problem::new(
                f,
                0,
                format!(
                    "the zone {} is already loaded from {}",
                    builder.origin(),
                    other.display()
                ),
            ));
            continue;
        }
        seen.insert(builder.apex().into(), f.clone());
        // validation reported a missing SOA already; freezing cannot fail after it passed
        if let Some(z) = builder.freeze(bound.datacenters, bound.pools, bound.bindings) {
            zones.push(z);
        }
    }
    warnings.extend(unread_files(dir, &read));
    if !problems.is_empty() {
        return Err(LoadError::sorted(problems));
    }
    Ok(ZoneSet::new(zones))
}

/// Names in the RDATA of a zone file that end with its origin twice (`www.example.com.example.com.`).
fn repeated_origins(text: &zonefile::ZoneText) -> Vec<Problem> {
    let apex = &text.origin;
    // `www.example.com` read relative to `example.com.`: below origin + origin
    let doubled = [&apex[..apex.len().saturating_sub(1)], &apex[..]].concat();
    let mut out = Vec::new();
    if apex.len() <= 1 {
        return out;
    }
    for r in &text.records {
        let name = match r.rtype {
            rtype::CNAME | rtype::NS | rtype::PTR => Some(lowercased(&r.rdata)),
            _ => r.target.clone(),
        };
        if let Some(n) = name.filter(|n| is_subdomain(n, &doubled)) {
            let meant = [&n[..n.len() - apex.len()], &[0u8][..]].concat();
            out.push(Problem::new(
                &r.file,
                r.line,
                format!(
                    "{} repeats the zone's origin: a name without a trailing dot is relative (did you mean {}?)",
                    to_text(&n),
                    to_text(&meant)
                ),
            ));
        }
    }
    out
}

/// Files in the zones directory that loading did not read.
fn unread_files(dir: &Path, read: &HashSet<PathBuf>) -> Vec<Problem> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut stray: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !read.contains(p))
        .collect();
    stray.sort();
    stray
        .into_iter()
        .filter_map(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let hint = if name.ends_with(".pools.toml") {
                return None; // an error already: no zone file beside it
            } else if name.ends_with(".pool.toml") || name.ends_with(".pools.tml") {
                " (pool files are named ZONE.pools.toml)"
            } else if name.starts_with('.') || name.ends_with('~') || name.ends_with(".swp") {
                " (an editor's backup or swap file?)"
            } else {
                " (only *.zone files, their *.pools.toml and files they $INCLUDE are read)"
            };
            Some(Problem::new(&p, 0, format!("not loaded{hint}")))
        })
        .collect()
}
