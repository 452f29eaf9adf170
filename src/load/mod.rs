//! Loading the zones directory into the immutable [`crate::model::ZoneSet`], reporting every
//! problem.
//!
//! Every `*.zone` file of the zones directory is one zone ([`zonefile`] reads it, [`zone`]
//! validates it into a [`crate::model::ZoneBuilder`]); a `*.pools.toml` beside it binds pools to its
//! names ([`pools`]); then the zone is frozen. Loading is all or nothing: the result is either a
//! complete, validated zone set or the full list of problems with file and line.

pub mod pools;
pub mod rdata;
pub mod zone;
pub mod zonefile;

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
    for f in &files {
        let Some(text) = zonefile::read_zone_file(f, &mut problems) else {
            continue;
        };
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
    if !problems.is_empty() {
        return Err(LoadError::sorted(problems));
    }
    Ok(ZoneSet::new(zones))
}

/// What is worth a warning but does not stop loading: files in the zones directory that are not
/// loaded (a misnamed pool file silently turns steering off), and names in RDATA that repeat the
/// zone's origin (`cdn CNAME www.example.com` without the trailing dot).
pub fn warnings(dir: &Path) -> Vec<Problem> {
    let mut out = Vec::new();
    let Ok(zones) = zone_files(dir) else {
        return out;
    };
    let mut used: std::collections::HashSet<PathBuf> = zones.iter().cloned().collect();
    for f in &zones {
        used.insert(pools::pool_file_for(f));
        let mut ignore = Vec::new();
        let Some(text) = zonefile::read_zone_file(f, &mut ignore) else {
            continue;
        };
        let apex = &text.origin;
        for r in &text.records {
            used.insert(r.file.to_path_buf());
            let names: Vec<&[u8]> = match r.rtype {
                crate::wire::rtype::CNAME | crate::wire::rtype::NS | crate::wire::rtype::PTR => {
                    vec![&r.rdata[..]]
                }
                _ => r.target.as_deref().into_iter().collect(),
            };
            for n in names {
                let n = rdata::lower(n);
                if repeats_origin(&n, apex) {
                    out.push(Problem::new(
                        &r.file,
                        r.line,
                        format!(
                            "{} repeats the zone's origin: a name without a trailing dot is relative (did you mean {}?)",
                            crate::wire::name::to_text(&n),
                            crate::wire::name::to_text(&[&n[..n.len() - apex.len()], &[0u8][..]].concat())
                        ),
                    ));
                }
            }
        }
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut stray: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !used.contains(p))
        .collect();
    stray.sort();
    for p in stray {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let hint = if name.ends_with(".pool.toml") || name.ends_with(".pools.tml") {
            " (pool files are named ZONE.pools.toml)".to_string()
        } else if name.ends_with(".pools.toml") {
            String::new() // reported as an error: no zone file beside it
        } else if name.starts_with('.') || name.ends_with('~') || name.ends_with(".swp") {
            " (an editor's backup or swap file?)".to_string()
        } else {
            " (only *.zone files, their *.pools.toml and files they $INCLUDE are read)".to_string()
        };
        if name.ends_with(".pools.toml") {
            continue;
        }
        out.push(Problem::new(&p, 0, format!("not loaded{hint}")));
    }
    out
}

/// Whether `name` ends with the zone's origin twice (`www.example.com.example.com.`).
fn repeats_origin(name: &[u8], apex: &[u8]) -> bool {
    let labels = apex.len() - 1; // without the root byte
    if labels == 0 || name.len() < 2 * labels + 1 || !name.ends_with(apex) {
        return false;
    }
    let inner = &name[..name.len() - apex.len()];
    // the part before the apex must itself end with the apex's labels, on a label boundary
    let tail = &apex[..labels];
    inner.ends_with(tail) && {
        let cut = inner.len() - tail.len();
        let mut p = 0;
        while p < cut {
            p += usize::from(inner[p]) + 1;
        }
        p == cut
    }
}
