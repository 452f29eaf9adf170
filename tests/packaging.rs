//! Installing and running geosteer as a new user would (issue 9): the shipped config and the
//! README's sample config work as written, the manual page and shell completions are generated
//! from the command line's definitions, `geosteer ping` answers for container health checks, and
//! the Docker image builds and answers a query where a Docker daemon is available.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use hickory_proto::rr::RecordType;

use common::*;

#[test]
fn the_shipped_config_checks_clean() {
    let (code, out, err) = check(&[
        "--config",
        root().join("dist/geosteer.toml").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
}

/// The ```toml block of a README section.
fn readme_block(section: &str) -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let at = readme
        .find(section)
        .unwrap_or_else(|| panic!("no {section}"));
    let rest = &readme[at..];
    let start = rest.find("```toml\n").unwrap() + "```toml\n".len();
    let end = rest[start..].find("```").unwrap() + start;
    rest[start..end].to_string()
}

#[test]
fn the_readme_sample_config_works_as_written() {
    // the sample's relative paths are relative to the file: put it beside the shipped data
    let dir = tempdir("readme-config");
    for d in ["zones", "geodata"] {
        std::os::unix::fs::symlink(root().join(d), dir.join(d)).unwrap();
    }
    let config = dir.join("geosteer.toml");
    std::fs::write(&config, readme_block("## Configuration")).unwrap();
    let (code, out, err) = check(&["--config", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn man_page_and_completions_come_from_the_command_line() {
    let (code, man, err) = geosteer(&["man"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        man.starts_with(".ie") || man.contains(".TH geosteer 1"),
        "{man}"
    );
    for sub in [
        "serve",
        "check",
        "explain",
        "reload",
        "ping",
        "drain",
        "down",
        "up",
        "undrain",
        "overrides",
        "completions",
        "man",
    ] {
        assert!(
            man.contains(&format!(".TH geosteer-{sub} 1")),
            "no page for {sub}"
        );
    }
    assert!(man.contains("\\-\\-log\\-format") || man.contains("--log-format"));
    let (code, bash, err) = geosteer(&["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    assert!(bash.contains("_geosteer()"), "{bash}");
    // the script is valid bash
    let f = tempdir("completions").join("geosteer.bash");
    std::fs::write(&f, &bash).unwrap();
    let st = Command::new("bash").arg("-n").arg(&f).status().unwrap();
    assert!(st.success());
    for shell in ["zsh", "fish"] {
        let (code, out, err) = geosteer(&["completions", shell]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("explain"), "{out}");
    }
}

#[test]
fn ping_says_whether_the_server_is_alive_and_ready() {
    let s = Server::start(&["--http", "127.0.0.1:0"]);
    let web = s.http().unwrap().to_string();
    poll(Duration::from_secs(10), "ready", || {
        (geosteer(&["ping", "--ready", "--http", &web]).0 == 0).then_some(())
    });
    let (code, out, _) = geosteer(&["ping", "--http", &format!("http://{web}/")]);
    assert_eq!((code, out.as_str()), (0, "ok\n"));
    drop(s);
    let (code, _, err) = geosteer(&["ping", "--http", &web]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach"), "{err}");
}

/// Whether a Docker daemon answers (the client alone is not enough).
fn docker_available() -> bool {
    Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn the_docker_image_builds_and_answers() {
    // a Docker daemon cannot be installed by `.ci/run` on every CI host (it needs privileges), so
    // this test runs where one is available and otherwise says that it did not
    if !docker_available() {
        eprintln!("SKIPPED: no Docker daemon; the image is built and queried where one runs");
        return;
    }
    // the Dockerfile's base images, local or pulled (a host without a registry cannot build it)
    for base in ["rust:1-bookworm", "debian:bookworm-slim"] {
        let have = |args: &[&str]| {
            Command::new("docker")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !have(&["image", "inspect", base]) && !have(&["pull", "-q", base]) {
            eprintln!("SKIPPED: the base image {base} is neither local nor pullable");
            return;
        }
    }
    let tag = format!("geosteer-test:{}", std::process::id());
    let st = Command::new("docker")
        .args(["build", "-q", "-t", &tag, "."])
        .current_dir(root())
        .status()
        .unwrap();
    assert!(st.success(), "docker build");
    let name = format!("geosteer-test-{}", std::process::id());
    let out = Command::new("docker")
        .args([
            "run",
            "-d",
            "--rm",
            "--name",
            &name,
            "-p",
            "127.0.0.1::5353/udp",
            &tag,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    struct Stop(String);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
        }
    }
    let _stop = Stop(name.clone());
    let port = String::from_utf8(
        Command::new("docker")
            .args(["port", &name, "5353/udp"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let addr: std::net::SocketAddr = port.lines().next().unwrap().trim().parse().unwrap();
    let m = poll(Duration::from_secs(30), "the container to answer", || {
        let p = query(7, "www.example.com", RecordType::A, Some(1232));
        udp_raw(addr, &p).map(|r| parse(&r))
    });
    assert_eq!(m.answers.len(), 2, "{m:?}");
    if have_tool("dig") {
        let out = Command::new("dig")
            .args([
                "@127.0.0.1",
                "-p",
                &addr.port().to_string(),
                "www.example.com",
                "+short",
            ])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    }
    // the image's health check passes
    poll(
        Duration::from_secs(60),
        "the container to be healthy",
        || {
            let o = Command::new("docker")
                .args(["inspect", "-f", "{{.State.Health.Status}}", &name])
                .output()
                .ok()?;
            (String::from_utf8_lossy(&o.stdout).trim() == "healthy").then_some(())
        },
    );
}
