//! The DNS wire format, as the query path needs it: query parsing and response writing without
//! allocation. hickory-proto does the heavy lifting at load time (parsing RDATA from zone files,
//! encoding it once); this module only moves bytes.

pub mod ecs;
pub mod encode;
pub mod name;
pub mod query;
