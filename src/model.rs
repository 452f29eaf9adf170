//! Immutable domain types the query path reads: zones, nodes, RRsets and pre-encoded RDATA.
//!
//! Everything here is built once by [`crate::zone`] and never changed afterwards; a reload builds a
//! new [`ZoneSet`] and swaps it in whole. Names are kept in uncompressed DNS wire format (lower case
//! for lookup keys), and RDATA is pre-encoded, so answering a query is hashing, slicing and copying
//! bytes: no parsing, no formatting, no allocation per record.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::wire::name;

/// A fast, non-cryptographic hasher for name lookups (the FxHash mixing step, eight bytes at a
/// time). The tables are built from zone data only; a query can make a lookup probe, never insert,
/// so flooding attacks on the hash do not apply and SipHash's cost buys nothing here.
#[derive(Default, Clone, Copy)]
pub struct NameHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl NameHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}

impl Hasher for NameHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b));
        }
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Map keyed by wire-format names.
pub type NameMap<V> = HashMap<Box<[u8]>, V, BuildHasherDefault<NameHasher>>;

/// RR type numbers the engine treats specially.
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
    pub const DNAME: u16 = 39;
    pub const OPT: u16 = 41;
    pub const DS: u16 = 43;
    pub const RRSIG: u16 = 46;
    pub const NSEC: u16 = 47;
    pub const IXFR: u16 = 251;
    pub const AXFR: u16 = 252;
    pub const MAILB: u16 = 253;
    pub const MAILA: u16 = 254;
    pub const ANY: u16 = 255;
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
}

/// One resource record's data, already in wire format (names uncompressed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rdata {
    pub ttl: u32,
    pub bytes: Box<[u8]>,
}

/// All records of one type at one owner name.
#[derive(Debug, Clone)]
pub struct RRset {
    pub rtype: u16,
    pub layout: Layout,
    pub rdata: Vec<Rdata>,
    /// Nodes (in the same zone) whose A/AAAA records go into the additional section when this RRset
    /// is answered: targets of NS, MX and SRV records. Resolved when the zone is built.
    pub additional: Vec<u32>,
}

/// One owner name in a zone. Empty non-terminals are nodes with no RRsets.
#[derive(Debug, Clone)]
pub struct Node {
    /// Lower-case wire-format name.
    pub name: Box<[u8]>,
    /// RRsets sorted by type.
    pub rrsets: Vec<RRset>,
    /// A zone cut below the apex: this node holds NS records of a child zone.
    pub delegation: bool,
    /// The pool (index into [`Zone::pools`]) that answers this name.
    pub pool: Option<u32>,
}

impl Node {
    /// The RRset of a type, if present.
    #[inline]
    pub fn rrset(&self, rtype: u16) -> Option<&RRset> {
        self.rrsets.iter().find(|s| s.rtype == rtype)
    }
}

/// One authoritative zone.
#[derive(Debug, Clone)]
pub struct Zone {
    /// Lower-case wire-format apex name.
    pub apex: Box<[u8]>,
    /// Presentation form of the apex, for logs and errors.
    pub origin: String,
    /// Node 0 is the apex.
    pub nodes: Vec<Node>,
    /// Lower-case wire name → index into `nodes`.
    pub index: NameMap<u32>,
    /// TTL of the SOA in negative answers: min(SOA TTL, SOA MINIMUM) (RFC 2308 §5).
    pub negative_ttl: u32,
    /// The file the zone came from.
    pub file: std::path::PathBuf,
    /// Datacenters named in the zone's pool file.
    pub datacenters: Vec<crate::pool::Datacenter>,
    /// Pools bound to names of this zone.
    pub pools: Vec<crate::pool::Pool>,
}

impl Zone {
    /// The apex node.
    #[inline]
    pub fn apex_node(&self) -> &Node {
        &self.nodes[0]
    }

    /// Finds a node by lower-case wire name.
    #[inline]
    pub fn node(&self, lc_name: &[u8]) -> Option<(u32, &Node)> {
        self.index
            .get(lc_name)
            .map(|&i| (i, &self.nodes[i as usize]))
    }

    /// An empty zone to fill with [`Zone::insert_node`].
    pub fn new(apex: &[u8], file: &std::path::Path) -> Zone {
        let mut z = Zone {
            apex: apex.into(),
            origin: name::to_text(apex),
            nodes: Vec::new(),
            index: NameMap::default(),
            negative_ttl: 0,
            file: file.to_path_buf(),
            datacenters: Vec::new(),
            pools: Vec::new(),
        };
        z.insert_node(apex);
        z
    }

    /// The node of `lc_name` (below or at the apex), created if needed together with every
    /// ancestor up to the apex: those are empty non-terminals (RFC 4592 §2.2.2).
    pub fn insert_node(&mut self, lc_name: &[u8]) -> u32 {
        if let Some(&i) = self.index.get(lc_name) {
            return i;
        }
        // ancestors first, so every name between the apex and this one exists
        if lc_name.len() > self.apex.len() {
            let parent = &lc_name[lc_name[0] as usize + 1..];
            self.insert_node(parent);
        }
        let i = self.nodes.len() as u32;
        self.nodes.push(Node {
            name: lc_name.into(),
            rrsets: Vec::new(),
            delegation: false,
            pool: None,
        });
        self.index.insert(lc_name.into(), i);
        i
    }

    /// The SOA RRset (validation guarantees it exists).
    #[inline]
    pub fn soa(&self) -> &RRset {
        self.apex_node()
            .rrset(rtype::SOA)
            .expect("validated zone has an SOA")
    }

    /// The serial number from the SOA, for logs.
    pub fn serial(&self) -> u32 {
        let soa = &self.soa().rdata[0].bytes;
        let mut p = 0;
        p += name::wire_len(&soa[p..]).unwrap_or(0);
        p += name::wire_len(&soa[p..]).unwrap_or(0);
        soa.get(p..p + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or(0)
    }
}

/// Every zone served, indexed by apex so the most specific zone of a name is found by walking the
/// name's suffixes.
#[derive(Debug, Clone, Default)]
pub struct ZoneSet {
    pub zones: Vec<Zone>,
    pub by_apex: NameMap<usize>,
}

impl ZoneSet {
    /// Builds the index over the given zones.
    pub fn new(zones: Vec<Zone>) -> ZoneSet {
        let by_apex = zones
            .iter()
            .enumerate()
            .map(|(i, z)| (z.apex.clone(), i))
            .collect();
        ZoneSet { zones, by_apex }
    }

    /// The most specific zone containing `lc_name` (lower-case wire format), if any.
    #[inline]
    pub fn find(&self, lc_name: &[u8]) -> Option<&Zone> {
        self.find_from(lc_name, 0)
    }

    /// Like [`ZoneSet::find`], but only considers zones whose apex is at least `skip` labels above
    /// `lc_name`'s own level — used to find the parent zone of a zone apex (DS queries).
    pub fn find_from(&self, lc_name: &[u8], skip: usize) -> Option<&Zone> {
        let mut pos = 0;
        let mut skipped = 0;
        loop {
            if skipped >= skip
                && let Some(&i) = self.by_apex.get(&lc_name[pos..])
            {
                return Some(&self.zones[i]);
            }
            let len = *lc_name.get(pos)? as usize;
            if len == 0 {
                return None;
            }
            pos += len + 1;
            skipped += 1;
        }
    }
}
