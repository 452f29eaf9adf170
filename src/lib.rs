//! geosteer: a GeoDNS authoritative nameserver.
//!
//! See `ARCHITECTURE.md` for the map of modules and the invariants they keep.

// `unsafe` is denied everywhere but `sys`, the one call into the C library (see there).
#![deny(unsafe_code)]

pub(crate) mod admin;
pub mod admin_client;
pub mod app;
pub mod config;
pub mod engine;
pub mod error;
pub mod explain;
pub mod geo;
pub mod health;
pub mod load;
pub mod metrics;
pub mod model;
pub mod net;
pub mod querylog;
pub mod reload;
pub mod select;
pub(crate) mod server;
pub mod state;
pub mod sys;
pub mod systemd;
pub mod time;
pub mod wire;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod testutil {
    /// A fresh directory per call: tests run in parallel and must not share files.
    pub fn dir(tag: &str) -> std::path::PathBuf {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let d = std::env::temp_dir().join(format!("geosteer-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
