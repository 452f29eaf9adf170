//! The DNS wire format, as the query path needs it: query parsing, the OPT record and its ECS
//! option, and response writing, without allocation. This is a leaf: it knows DNS bytes only, no
//! zone, pool or snapshot type. Callers hand it pre-encoded RDATA and a [`Layout`] saying where
//! compressible names sit. hickory-proto does the heavy lifting at load time; this module only
//! moves bytes.
//!
//! Indexing that input can reach is forbidden here (`clippy::indexing_slicing`): every access to
//! packet bytes is checked.
#![deny(clippy::indexing_slicing)]

pub mod cookie;
pub(crate) mod ecs;
pub(crate) mod encode;
pub mod name;
pub mod query;
pub(crate) mod reply;

/// RR type numbers the server treats specially.
pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const PTR: u16 = 12;
    pub const MX: u16 = 15;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const SRV: u16 = 33;
    pub const NAPTR: u16 = 35;
    pub const DNAME: u16 = 39;
    pub const OPT: u16 = 41;
    pub const DS: u16 = 43;
    pub const RRSIG: u16 = 46;
    pub const NSEC: u16 = 47;
    pub const DNSKEY: u16 = 48;
    pub const SVCB: u16 = 64;
    pub const HTTPS: u16 = 65;
    pub const TSIG: u16 = 250;
    pub const IXFR: u16 = 251;
    pub const AXFR: u16 = 252;
    pub const MAILB: u16 = 253;
    pub const MAILA: u16 = 254;
    pub const ANY: u16 = 255;
    pub const CAA: u16 = 257;
}

/// Response codes (RFC 1035, RFC 6891).
pub mod rcode {
    pub const NOERROR: u16 = 0;
    pub const FORMERR: u16 = 1;
    pub const SERVFAIL: u16 = 2;
    pub const NXDOMAIN: u16 = 3;
    pub const NOTIMP: u16 = 4;
    pub const REFUSED: u16 = 5;
    pub const NOTAUTH: u16 = 9;
    pub const BADVERS: u16 = 16;
}

/// Where compressible domain names sit inside pre-encoded RDATA.
///
/// Only the RFC 1035 types may have their RDATA names compressed (RFC 3597 §4); every other type is
/// copied verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Opaque bytes.
    Raw,
    /// The whole RDATA is one name (NS, CNAME, PTR).
    Name,
    /// A 16-bit preference, then a name (MX).
    PrefName,
    /// Two names, then 20 bytes of counters (SOA).
    Soa,
}

impl Layout {
    /// The layout used for a type's RDATA.
    pub fn for_type(t: u16) -> Layout {
        match t {
            rtype::NS | rtype::CNAME | rtype::PTR => Layout::Name,
            rtype::MX => Layout::PrefName,
            rtype::SOA => Layout::Soa,
            _ => Layout::Raw,
        }
    }

    /// Where the names sit: the offset of the first and how many follow each other from there.
    pub fn names(self) -> (usize, usize) {
        match self {
            Layout::Raw => (0, 0),
            Layout::Name => (0, 1),
            Layout::PrefName => (2, 1),
            Layout::Soa => (0, 2),
        }
    }
}
