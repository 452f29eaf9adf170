//! geosteer: a GeoDNS authoritative nameserver.
//!
//! See `ARCHITECTURE.md` for the map of modules and the invariants they keep.

pub mod admin;
pub mod app;
pub mod config;
pub mod engine;
pub mod error;
pub mod geo;
pub mod model;
pub mod server;
pub mod state;
pub mod wire;
pub mod zone;
