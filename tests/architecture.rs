//! The code map in ARCHITECTURE.md cannot drift: every `crate::…` path in `src/` must name a module
//! its table row allows.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// module → the crate modules it may use, from the ARCHITECTURE.md table.
fn allowed(map: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    let mut in_table = false;
    for line in map.lines() {
        if line.starts_with("| module |") {
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        if !line.starts_with('|') {
            if !out.is_empty() {
                break;
            }
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || cells[1].starts_with("---") {
            continue;
        }
        let module = cells[1].trim_matches('`').to_string();
        let deps: BTreeSet<String> = cells[3]
            .split(',')
            .map(|d| d.trim().trim_matches('`').to_string())
            .filter(|d| !d.is_empty() && d != "—")
            .collect();
        out.insert(module, deps);
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The crate modules a source text uses, with their line numbers. Comments and test code
/// (everything after `#[cfg(test)]`) are skipped.
fn uses(text: &str, prefix: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("#[cfg(test)]") {
            break;
        }
        if code.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find(prefix) {
            let after = &rest[at + prefix.len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push((i + 1, name));
            }
            rest = after;
        }
    }
    out
}

/// Every forbidden import in `src/`, as `file:line: module uses other`.
fn violations(root: &Path) -> Vec<String> {
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let allowed = allowed(&map);
    assert!(
        allowed.len() >= 10,
        "the code map table was not found: {allowed:?}"
    );
    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut bad = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || rel.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let prefix = if module == "main" {
            "geosteer::"
        } else {
            "crate::"
        };
        let Some(ok) = allowed.get(&module) else {
            bad.push(format!(
                "src/{}: module `{module}` is not in the code map",
                rel.display()
            ));
            continue;
        };
        for (line, used) in uses(&text, prefix) {
            if used != module && !ok.contains(&used) && allowed.contains_key(&used) {
                bad.push(format!(
                    "src/{}:{line}: `{module}` uses `{used}`",
                    rel.display()
                ));
            }
        }
    }
    bad
}

#[test]
fn imports_follow_the_code_map() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bad = violations(root);
    assert!(
        bad.is_empty(),
        "imports against ARCHITECTURE.md's code map:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_code_map_has_no_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let allowed = allowed(&std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap());
    // depth-first search for a back edge
    fn visit<'a>(
        m: &'a str,
        g: &'a BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(m) {
            return;
        }
        assert!(
            !stack.contains(&m),
            "cycle in the code map: {stack:?} → {m}"
        );
        stack.push(m);
        for d in g.get(m).into_iter().flatten() {
            visit(d, g, stack, done);
        }
        stack.pop();
        done.insert(m);
    }
    let mut done = BTreeSet::new();
    for m in allowed.keys() {
        visit(m, &allowed, &mut Vec::new(), &mut done);
    }
}

#[test]
fn the_checker_sees_a_forbidden_import() {
    // the parser itself: a `wire` file that reaches up into `model` is caught, a comment is not
    let text = "//! see crate::model\nuse crate::net::mask;\nuse crate::model::Zone;\n#[cfg(test)]\nuse crate::load;\n";
    let found = uses(text, "crate::");
    assert_eq!(
        found,
        vec![(2, "net".to_string()), (3, "model".to_string())]
    );
}

/// `unsafe` lives in `src/sys.rs` alone: the library denies `unsafe_code`, and an `allow` of it
/// anywhere else (or an `unsafe` block, function or impl) is a failure here, not a review note.
#[test]
fn unsafe_code_is_only_in_sys() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut found = Vec::new();
    for f in &files {
        if f.ends_with("src/sys.rs") {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("allow(unsafe_code)")
                || code.contains("unsafe {")
                || code.contains("unsafe fn")
                || code.contains("unsafe impl")
            {
                found.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "unsafe outside src/sys.rs:\n{}",
        found.join("\n")
    );
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    assert!(lib.contains("#![deny(unsafe_code)]"));
    let main = std::fs::read_to_string(root.join("src/main.rs")).unwrap();
    assert!(main.contains("#![forbid(unsafe_code)]"));
}
