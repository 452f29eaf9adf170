//! The content hash of everything a configuration reads: the config file, every file of the zones
//! directory (zone files, pool files, what they include from there), the GeoIP databases and the
//! overrides file.
//!
//! It is the fleet-agreement hash `/status` reports, the periodic backstop's change detector, and
//! how a reload knows the GeoIP readers can be kept. Editors' temporary files do not count.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::net::{mix, stable_hash};

/// Per-file content hashes and their combination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint {
    files: BTreeMap<PathBuf, u64>,
    /// Combines every path and content hash: equal inputs, equal total.
    pub total: u64,
}

/// Files an editor writes on the side (`.x.swp`, `x~`, vim's `4913` probe): never inputs.
pub fn is_editor_temp(name: &str) -> bool {
    (name.starts_with('.') && !name.starts_with(".."))
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".tmp")
        || name == "4913"
}

impl Fingerprint {
    /// Reads and hashes every input of `config`. An unreadable file hashes as its error, so a
    /// change of readability is a change too.
    pub fn of(config: &Config) -> Fingerprint {
        let mut paths: Vec<PathBuf> = Vec::new();
        paths.extend(config.file.iter().cloned());
        if let Ok(rd) = std::fs::read_dir(&config.zones) {
            paths.extend(
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file())
                    .filter(|p| {
                        !p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(is_editor_temp)
                    }),
            );
        }
        paths.extend(config.geoip.iter().cloned());
        paths.push(config.overrides.clone());
        paths.extend(config.feed.iter().cloned());
        let mut files = BTreeMap::new();
        for p in paths {
            let h = match std::fs::read(&p) {
                Ok(bytes) => stable_hash(&[&bytes]),
                Err(e) => stable_hash(&[e.to_string().as_bytes()]),
            };
            files.insert(p, h);
        }
        let mut total = 0x6765_6f73_7465_6572; // "geosteer"
        for (p, h) in &files {
            total = mix(total ^ stable_hash(&[p.as_os_str().as_encoded_bytes()]) ^ h);
        }
        Fingerprint { files, total }
    }

    /// The hash of one input, if it is one.
    pub fn file(&self, p: &Path) -> Option<u64> {
        self.files.get(p).copied()
    }

    /// Inputs added or changed since `old`.
    pub fn changed_since(&self, old: &Fingerprint) -> Vec<&Path> {
        self.files
            .iter()
            .filter(|(p, h)| old.files.get(*p) != Some(h))
            .map(|(p, _)| p.as_path())
            .collect()
    }

    /// The total as 16 hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_files_are_not_inputs() {
        for n in [
            ".example.com.zone.swp",
            "example.com.zone~",
            "4913",
            "x.tmp",
        ] {
            assert!(is_editor_temp(n), "{n}");
        }
        for n in [
            "example.com.zone",
            "..data",
            "hosts.inc",
            "example.com.pools.toml",
        ] {
            assert!(!is_editor_temp(n), "{n}");
        }
    }

    #[test]
    fn a_content_change_changes_the_hash() {
        let d = crate::testutil::dir("fingerprint");
        std::fs::write(d.join("a.zone"), "one").unwrap();
        std::fs::write(d.join(".a.zone.swp"), "x").unwrap();
        let config = Config {
            zones: d.clone(),
            geoip: Vec::new(),
            ..Config::default()
        };
        let a = Fingerprint::of(&config);
        std::fs::write(d.join(".a.zone.swp"), "y").unwrap();
        assert_eq!(Fingerprint::of(&config), a, "a swap file is not an input");
        std::fs::write(d.join("a.zone"), "two").unwrap();
        let b = Fingerprint::of(&config);
        assert_ne!(a.total, b.total);
        assert_eq!(b.changed_since(&a), vec![d.join("a.zone").as_path()]);
    }
}
