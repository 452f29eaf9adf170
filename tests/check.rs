//! `geosteer check`: every problem with file:line, exit codes.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

#[test]
fn shipped_zones_are_valid() {
    let (code, out, err) = check(&["--zones", root().join("zones").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("zone example.com. serial 2026112101 ok"),
        "{out}"
    );
}

#[test]
fn every_mistake_is_reported_with_its_line() {
    let d = tempdir("check");
    std::fs::copy(
        root().join("tests/check/three-mistakes.test.zone"),
        d.join("three-mistakes.test.zone"),
    )
    .unwrap();
    let (code, _, err) = check(&["--zones", d.to_str().unwrap()]);
    assert_eq!(code, 1);
    let f = d.join("three-mistakes.test.zone");
    let f = f.display();
    for expected in [
        format!("{f}:7: bad A data '192.0.2.300'"),
        format!("{f}:8: alias.three-mistakes.test. has a CNAME and other data (TXT at line 9)"),
        format!(
            "{f}:10: the delegation sub.three-mistakes.test. names the server ns.sub.three-mistakes.test., which is inside the delegated zone, but there is no glue"
        ),
        format!("{f}:11: outside.example.org. is outside the zone three-mistakes.test."),
    ] {
        assert!(err.contains(&expected), "missing «{expected}» in:\n{err}");
    }
    assert!(err.contains("4 problem(s) found"), "{err}");
}

#[test]
fn zone_level_and_config_problems() {
    let d = tempdir("check2");
    std::fs::write(d.join("empty.test.zone"), "$TTL 60\nwww A 192.0.2.1\n").unwrap();
    std::fs::write(
        d.join("other.test.zone"),
        "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n$INCLUDE missing.inc\n",
    )
    .unwrap();
    let (code, _, err) = check(&["--zones", d.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("empty.test.zone: the zone empty.test. has no SOA record at its apex"),
        "{err}"
    );
    assert!(
        err.contains("empty.test.zone: the zone empty.test. has no NS records"),
        "{err}"
    );
    assert!(
        err.contains("other.test.zone:5: cannot read included file"),
        "{err}"
    );

    let cfg = d.join("g.toml");
    std::fs::write(&cfg, "zones = \"zones\"\n\nlisten = [\"nonsense\"]\n").unwrap();
    let (code, _, err) = check(&["--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("g.toml:3: 'nonsense' is not an address:port"),
        "{err}"
    );
}

/// The shipped example and the differential-test zones are plain RFC 1035: NSD's own checker
/// accepts them.
#[test]
fn nsd_checkzone_accepts_the_shipped_zones() {
    if !have_tool("nsd-checkzone") {
        return;
    }
    let mut files = vec![root().join("zones/example.com.zone")];
    for e in std::fs::read_dir(root().join("tests/diff/zones")).unwrap() {
        files.push(e.unwrap().path());
    }
    for f in files {
        let origin = f.file_stem().unwrap().to_str().unwrap().to_string();
        let out = std::process::Command::new("nsd-checkzone")
            .arg(&origin)
            .arg(&f)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "nsd-checkzone {origin}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Acceptance: at least eight different pool-file mistakes, each with file:line, in one run.
#[test]
fn every_pool_mistake_is_reported_with_its_line() {
    let d = tempdir("check-pools");
    for f in ["bad.test.zone", "bad.test.pools.toml"] {
        std::fs::copy(root().join("tests/check/pools").join(f), d.join(f)).unwrap();
    }
    let (code, _, err) = check(&["--zones", d.to_str().unwrap()]);
    assert_eq!(code, 1);
    let f = d.join("bad.test.pools.toml");
    let f = f.display();
    let expected = [
        (2, "unknown key 'colour'"),
        (9, "www.example.org. is outside the zone bad.test."),
        (
            9,
            "static.bad.test. also has static A data in the zone file",
        ),
        (
            11,
            "member '192.0.2.1' has weight 0; weights must be greater than 0",
        ),
        (12, "datacenter 'iad' has an empty member list"),
        (13, "unknown datacenter 'lon'"),
        (16, "datacenter 'iad' has no members in this pool"),
        (16, "split percentages sum to 90, not 100"),
        (16, "unknown country code 'XX'"),
        (17, "unknown continent 'EURO'"),
        (18, "'10.0.0.1/8' has bits set after the prefix"),
        (
            23,
            "member '192.0.2.7' is an address, but the pool has type = \"CNAME\"",
        ),
        (
            26,
            "on_all_down fallbacks form a cycle: backup → cdn2 → backup",
        ),
        (28, "member 'not-an-address' is not an IP address"),
        (34, "\"nearest\" needs a location for datacenter 'iad'"),
        // issue 6 asked for the raw serde text (unknown field `member`) to read like our own messages
        (39, "unknown key 'member' (expected one of:"),
    ];
    for (line, msg) in expected {
        let prefix = format!("{f}:{line}: ");
        assert!(
            err.lines()
                .any(|l| l.starts_with(&prefix) && l.contains(msg)),
            "missing «{prefix}…{msg}» in:\n{err}"
        );
    }
    assert!(
        err.contains(&format!("{} problem(s) found", expected.len())),
        "{err}"
    );
}

#[test]
fn a_pool_file_without_its_zone_is_reported() {
    let d = tempdir("check-orphan");
    std::fs::copy(
        root().join("zones/example.com.zone"),
        d.join("example.com.zone"),
    )
    .unwrap();
    std::fs::write(d.join("exmaple.com.pools.toml"), "version = 1\n").unwrap();
    let (code, _, err) = check(&["--zones", d.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("exmaple.com.pools.toml: no zone file exmaple.com.zone beside this pool file"),
        "{err}"
    );
}

/// Issue 6: a corpus of zone files (`tests/checkzone/`, named `ok-…` or `bad-…`) gets the same
/// verdict from `geosteer check` as from `nsd-checkzone` (which is run too when installed).
#[test]
fn same_verdicts_as_nsd_checkzone() {
    let dir = root().join("tests/checkzone");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "zone"))
        .collect();
    files.sort();
    let bad = files
        .iter()
        .filter(|f| f.file_name().unwrap().to_str().unwrap().starts_with("bad-"))
        .count();
    assert!(
        files.len() >= 20 && bad * 2 >= files.len(),
        "{} files, {bad} invalid",
        files.len()
    );
    let nsd = have_tool("nsd-checkzone");
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        let want_ok = name.starts_with("ok-");
        let d = tempdir("checkzone");
        std::fs::copy(f, d.join(name)).unwrap();
        let (code, _, err) = check(&["--zones", d.to_str().unwrap()]);
        assert_eq!(code == 0, want_ok, "geosteer check on {name}:\n{err}");
        if nsd {
            let zone = name.trim_end_matches(".zone");
            let st = std::process::Command::new("nsd-checkzone")
                .arg(zone)
                .arg(f)
                .output()
                .unwrap();
            assert_eq!(
                st.status.success(),
                want_ok,
                "nsd-checkzone on {name}: {st:?}"
            );
        }
    }
}

/// A signed zone is refused, with the reason, until DNSSEC serving exists.
#[test]
fn a_signed_zone_is_refused_with_the_reason() {
    let d = tempdir("signed");
    std::fs::write(
        d.join("signed.test.zone"),
        "$TTL 300\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n\
         @ RRSIG SOA 13 2 300 20261201000000 20261101000000 2371 signed.test. AQID\n",
    )
    .unwrap();
    let (code, _, err) = check(&["--zones", d.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("signed.test.zone:5: signed.test. is a signed zone (it holds RRSIG records): geosteer does not serve DNSSEC yet"), "{err}");
}

/// Issue 6, day-one defects: each has its test.
fn shipped_copy(tag: &str) -> std::path::PathBuf {
    let d = tempdir(tag);
    for f in ["example.com.zone", "example.com.pools.toml"] {
        std::fs::copy(root().join("zones").join(f), d.join(f)).unwrap();
    }
    d
}

#[test]
fn stray_files_in_the_zones_directory_are_reported() {
    let d = shipped_copy("stray");
    std::fs::copy(
        d.join("example.com.pools.toml"),
        d.join("example.com.pool.toml"),
    )
    .unwrap();
    std::fs::write(d.join("example.com.zone~"), "").unwrap();
    std::fs::write(d.join(".example.com.zone.swp"), "").unwrap();
    let (code, out, _) = check(&["--zones", d.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    for name in [
        "example.com.pool.toml",
        "example.com.zone~",
        ".example.com.zone.swp",
    ] {
        assert!(
            out.contains(&format!("warning: {}: not loaded", d.join(name).display())),
            "{name}: {out}"
        );
    }
    assert!(
        out.contains("pool files are named ZONE.pools.toml"),
        "{out}"
    );
    // serve says the same in its log
    let mut s = std::process::Command::new(env!("CARGO_BIN_EXE_geosteer"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--zones",
            d.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(s.stderr.take().unwrap()));
    let mut seen = false;
    for l in lines.by_ref().take(40) {
        let l = l.unwrap();
        if l.contains("example.com.pool.toml: not loaded") {
            seen = true;
            break;
        }
    }
    let _ = s.kill();
    let _ = s.wait();
    assert!(seen, "serve did not warn about the misnamed pool file");
}

#[test]
fn the_same_member_twice_is_an_error() {
    let d = shipped_copy("dupmember");
    let p = d.join("example.com.pools.toml");
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "iad = [\"192.0.2.10\", \"192.0.2.11\"",
        "iad = [\"192.0.2.10\", \"192.0.2.11\", \"192.0.2.10\"",
    );
    std::fs::write(&p, text).unwrap();
    let (code, _, err) = check(&["--zones", d.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("member '192.0.2.10' appears twice in datacenter 'iad'"),
        "{err}"
    );
}

#[test]
fn a_name_that_repeats_the_origin_is_a_warning() {
    let d = shipped_copy("origin");
    let z = d.join("example.com.zone");
    let mut text = std::fs::read_to_string(&z).unwrap();
    text.push_str("cdn2 IN CNAME www.example.com\n");
    std::fs::write(&z, text).unwrap();
    let (code, out, _) = check(&["--zones", d.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        out.contains("www.example.com.example.com. repeats the zone's origin")
            && out.contains("did you mean www.example.com.?"),
        "{out}"
    );
}

#[test]
fn explain_says_what_it_did_not_do() {
    let zones = root().join("zones");
    let db = root().join("geodata/dbip-country.mmdb");
    let run = |args: &[&str]| {
        let common = [
            "explain",
            "--zones",
            zones.to_str().unwrap(),
            "--geoip",
            db.to_str().unwrap(),
        ];
        geosteer(&[&common[..], args].concat()).1
    };
    let out = run(&["--client", "192.0.2.1", "www.example.org"]);
    assert!(
        out.contains("www.example.org. is in no zone served: REFUSED"),
        "{out}"
    );
    let out = run(&["--client", "192.0.2.1", "api.example.com"]);
    assert!(
        out.contains("api.example.com. is not a pool name: static data"),
        "{out}"
    );
    // three members up, max_answers 2: say both numbers
    let out = run(&[
        "--client",
        "192.0.2.1",
        "--ecs",
        "81.2.69.0/24",
        "www.example.com",
    ]);
    assert!(
        out.contains("members: 2 of 2 answered (max_answers 2), 2 up"),
        "{out}"
    );
}

#[test]
fn deserializer_messages_name_the_key() {
    let d = shipped_copy("serde");
    let p = d.join("example.com.pools.toml");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("ttl = 60", "ttl = \"60\"");
    std::fs::write(&p, text).unwrap();
    let (code, _, err) = check(&["--zones", d.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("ttl: expected a whole number, found the string \"60\""),
        "{err}"
    );
    assert!(!err.contains("i64"), "{err}");
}

#[test]
fn a_flag_error_names_the_flag_and_serve_counts_problems() {
    let zones = root().join("zones");
    let (_, _, err) = geosteer(&[
        "serve",
        "--threads",
        "0",
        "--zones",
        zones.to_str().unwrap(),
    ]);
    assert!(err.contains("--threads must be at least 1"), "{err}");
    assert!(!err.contains("<flags>"), "{err}");
    let d = tempdir("serve-bad");
    std::fs::copy(
        root().join("tests/check/three-mistakes.test.zone"),
        d.join("three-mistakes.test.zone"),
    )
    .unwrap();
    let (code, _, err) = geosteer(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--zones",
        d.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    // one log line (time, level) per problem, then the count
    let last = err.trim_end().lines().last().unwrap();
    assert!(last.contains(" ERROR "), "{err}");
    assert!(last.ends_with("4 problem(s) found, not started"), "{err}");
}
