//! Immutable domain types the query path reads: zones, nodes, RRsets, pre-encoded RDATA, and the
//! pools bound to names ([`pool`]).
//!
//! A zone is built in two phases: the loader fills a [`ZoneBuilder`] (nodes and RRsets from the
//! zone file), validates the pool file against it, and [`ZoneBuilder::freeze`]s it together with its
//! pools into a [`Zone`]. A `Zone` has no public fields and no `&mut self` method: once frozen it
//! never changes, and a reload builds a new [`ZoneSet`] and swaps it in whole. Names are kept in uncompressed DNS wire format (lower case
//! for lookup keys), and RDATA is pre-encoded, so answering a query is hashing, slicing and copying
//! bytes: no parsing, no formatting, no allocation per record.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

pub mod overrides;
pub mod pool;

pub use pool::{
    Check, Datacenter, Family, Member, OnAllDown, Pool, PoolDc, PoolKind, Probe, Route, Tier, Tiers,
};

use crate::wire::{Layout, name, rtype};

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
        // the multiply mixes entropy upward: the low bits, which pick the bucket, hardly
        // depend on the name's later bytes. Names of one zone differ in a few characters
        // ("h1234.big.test"), so without this they piled into a few buckets (a
        // million-name zone spent 45 % of its load probing). Rotating the well-mixed high bits
        // down is what rustc-hash does too.
        self.0.rotate_left(26)
    }
}

/// Map keyed by wire-format names.
pub type NameMap<V> = HashMap<Box<[u8]>, V, BuildHasherDefault<NameHasher>>;

/// The hash of a wire-format name.
#[inline]
fn hash_name(name: &[u8]) -> u64 {
    let mut h = NameHasher::default();
    h.write(name);
    h.finish()
}

/// Where a node's name sits in its zone's name arena.
#[derive(Debug, Clone, Copy)]
struct NameRef {
    at: u32,
    len: u8,
}

impl NameRef {
    #[inline]
    fn of(self, names: &[u8]) -> &[u8] {
        let at = self.at as usize;
        names.get(at..at + usize::from(self.len)).unwrap_or(&[])
    }
}

/// A zone's nodes by name. The names live in the zone's name arena, so the table holds a 4-byte
/// node number per name instead of a second copy of it (a zone of a million names: 10 MB
/// instead of 80).
#[derive(Debug, Clone, Default)]
struct NodeIndex(hashbrown::HashTable<u32>);

impl NodeIndex {
    #[inline]
    fn get(&self, nodes: &[Node], names: &[u8], name: &[u8]) -> Option<u32> {
        self.0
            .find(hash_name(name), |&i| {
                nodes
                    .get(i as usize)
                    .is_some_and(|n| n.name.of(names) == name)
            })
            .copied()
    }

    /// Adds node `i`, whose name is `name` (not yet in the index).
    fn insert(&mut self, nodes: &[Node], names: &[u8], name: &[u8], i: u32) {
        self.0.insert_unique(hash_name(name), i, |&j| {
            nodes
                .get(j as usize)
                .map_or(0, |n| hash_name(n.name.of(names)))
        });
    }
}

/// RDATA this long or shorter (A, AAAA, most MX and short TXT) is kept inside the record
/// instead of in an allocation of its own: in a zone of a million addresses that is 32 bytes
/// less per record, and one pointer less to follow.
const INLINE: usize = 16;

/// The bytes of one record's RDATA.
#[derive(Clone, PartialEq, Eq)]
enum Bytes {
    Inline(u8, [u8; INLINE]),
    Heap(Box<[u8]>),
}

impl Bytes {
    #[inline]
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Inline(len, b) => b.get(..usize::from(*len)).unwrap_or(b),
            Bytes::Heap(b) => b,
        }
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_slice().fmt(f)
    }
}

/// A list that is almost always of one item (a node's RRsets, an RRset's records): one is kept
/// in place, so a zone of a million single-record names makes no allocation per name for them
/// (each would cost its size rounded up, a header, and the fragmentation of a million small
/// allocations: about 130 bytes a name).
#[derive(Debug, Clone)]
enum Few<T> {
    None,
    One(T),
    Many(Vec<T>),
}

impl<T> Few<T> {
    fn from_vec(mut v: Vec<T>) -> Few<T> {
        match v.len() {
            0 => Few::None,
            1 => v.pop().map_or(Few::None, Few::One),
            _ => {
                v.shrink_to_fit();
                Few::Many(v)
            }
        }
    }

    #[inline]
    fn as_slice(&self) -> &[T] {
        match self {
            Few::None => &[],
            Few::One(t) => std::slice::from_ref(t),
            Few::Many(v) => v,
        }
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        match self {
            Few::None => None,
            Few::One(t) => (i == 0).then_some(t),
            Few::Many(v) => v.get_mut(i),
        }
    }

    fn push(&mut self, t: T) {
        *self = match std::mem::replace(self, Few::None) {
            Few::None => Few::One(t),
            Few::One(a) => Few::Many(vec![a, t]),
            Few::Many(mut v) => {
                v.push(t);
                Few::Many(v)
            }
        };
    }

    /// Makes room for `n` items in all (only a list of several allocates).
    fn reserve_exact(&mut self, n: usize) {
        if n > 1
            && let Few::None = self
        {
            *self = Few::Many(Vec::with_capacity(n));
        }
    }
}

/// One resource record's data, already in wire format (names uncompressed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rdata {
    ttl: u32,
    bytes: Bytes,
}

impl Rdata {
    /// Records data with its TTL.
    pub fn new(ttl: u32, bytes: Box<[u8]>) -> Rdata {
        let bytes = match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= INLINE => {
                let mut b = [0u8; INLINE];
                b.iter_mut().zip(bytes.iter()).for_each(|(d, s)| *d = *s);
                Bytes::Inline(len, b)
            }
            _ => Bytes::Heap(bytes),
        };
        Rdata { ttl, bytes }
    }

    /// The record's TTL.
    #[inline]
    pub fn ttl(&self) -> u32 {
        self.ttl
    }

    /// The RDATA in wire format.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }
}

/// All records of one type at one owner name.
#[derive(Debug, Clone)]
pub struct RRset {
    rtype: u16,
    layout: Layout,
    rdata: Few<Rdata>,
    /// Nodes (in the same zone) whose A/AAAA records go into the additional section when this RRset
    /// is answered: targets of NS, MX and SRV records. Resolved when the zone is built.
    additional: Box<[u32]>,
}

impl RRset {
    /// An RRset of `rtype` (at least one record).
    pub fn new(rtype: u16, rdata: Vec<Rdata>) -> RRset {
        RRset {
            rtype,
            layout: Layout::for_type(rtype),
            rdata: Few::from_vec(rdata),
            additional: Box::default(),
        }
    }

    /// The RR type.
    #[inline]
    pub fn rtype(&self) -> u16 {
        self.rtype
    }

    /// How names inside the RDATA compress.
    #[inline]
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The records.
    #[inline]
    pub fn rdata(&self) -> &[Rdata] {
        self.rdata.as_slice()
    }

    /// Nodes whose addresses go into the additional section with this set.
    #[inline]
    pub fn additional(&self) -> &[u32] {
        &self.additional
    }

    /// The RDATA of the first record (a CNAME's target, the SOA).
    #[inline]
    pub fn first(&self) -> &[u8] {
        self.rdata.as_slice().first().map_or(&[], |r| r.bytes())
    }
}

/// One owner name in a zone. Empty non-terminals are nodes with no RRsets. Its name is kept in
/// the zone's name arena ([`Zone::name_of`]): one allocation for all of them, where a million
/// small ones would be spread over every page the loader touched and keep it all resident.
#[derive(Debug, Clone)]
pub struct Node {
    name: NameRef,
    rrsets: Few<RRset>,
    delegation: bool,
    pool: Option<u32>,
}

impl Node {
    /// RRsets sorted by type.
    #[inline]
    pub fn rrsets(&self) -> &[RRset] {
        self.rrsets.as_slice()
    }

    /// The RRset of a type, if present.
    #[inline]
    pub fn rrset(&self, rtype: u16) -> Option<&RRset> {
        self.rrsets.as_slice().iter().find(|s| s.rtype == rtype)
    }

    /// A zone cut below the apex: this node holds NS records of a child zone.
    #[inline]
    pub fn is_delegation(&self) -> bool {
        self.delegation
    }

    /// The pool (index into [`Zone::pools`]) that answers this name.
    #[inline]
    pub fn pool(&self) -> Option<u32> {
        self.pool
    }
}

/// A zone being built: nodes and RRsets can be added until it is frozen.
#[derive(Debug)]
pub struct ZoneBuilder {
    apex: Box<[u8]>,
    file: std::path::PathBuf,
    nodes: Vec<Node>,
    names: Vec<u8>,
    index: NodeIndex,
}

impl ZoneBuilder {
    /// A zone with only its apex node.
    pub fn new(apex: &[u8], file: &std::path::Path) -> ZoneBuilder {
        let mut z = ZoneBuilder {
            apex: apex.into(),
            file: file.to_path_buf(),
            nodes: Vec::new(),
            names: Vec::new(),
            index: NodeIndex::default(),
        };
        z.insert_node(apex);
        z
    }

    /// Lower-case wire-format apex name.
    pub fn apex(&self) -> &[u8] {
        &self.apex
    }

    /// Presentation form of the apex.
    pub fn origin(&self) -> String {
        name::to_text(&self.apex)
    }

    /// Finds a node by lower-case wire name.
    pub fn node(&self, lc_name: &[u8]) -> Option<&Node> {
        self.index_of(lc_name)
            .and_then(|i| self.nodes.get(i as usize))
    }

    /// The index of a node by lower-case wire name.
    pub fn index_of(&self, lc_name: &[u8]) -> Option<u32> {
        self.index.get(&self.nodes, &self.names, lc_name)
    }

    /// A node's lower-case wire-format name.
    pub fn name_of(&self, node: &Node) -> &[u8] {
        node.name.of(&self.names)
    }

    /// The node of `lc_name` (below or at the apex), created if needed together with every
    /// ancestor up to the apex: those are empty non-terminals (RFC 4592 §2.2.2).
    pub fn insert_node(&mut self, lc_name: &[u8]) -> u32 {
        if let Some(i) = self.index_of(lc_name) {
            return i;
        }
        // ancestors first, so every name between the apex and this one exists
        if lc_name.len() > self.apex.len()
            && let Some(parent) = lc_name.get(usize::from(lc_name[0]) + 1..)
        {
            self.insert_node(parent);
        }
        let i = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
        let name = NameRef {
            at: u32::try_from(self.names.len()).unwrap_or(u32::MAX),
            len: u8::try_from(lc_name.len()).unwrap_or(u8::MAX),
        };
        self.names.extend_from_slice(lc_name);
        self.nodes.push(Node {
            name,
            rrsets: Few::None,
            delegation: false,
            pool: None,
        });
        self.index.insert(&self.nodes, &self.names, lc_name, i);
        i
    }

    /// Makes room for `n` more nodes (the loader knows how many names it has): the index and
    /// the node list are sized once instead of doubling their way there.
    pub fn reserve_nodes(&mut self, n: usize) {
        self.nodes.reserve_exact(n);
        let (nodes, names) = (&self.nodes, &self.names);
        self.index.0.reserve(n, |&j| {
            nodes
                .get(j as usize)
                .map_or(0, |x| hash_name(x.name.of(names)))
        });
    }

    /// Makes room for exactly `n` RRsets at a node (a node's list never grows past what it
    /// holds, which in a zone of a million names is most of a gigabyte).
    pub fn reserve_rrsets(&mut self, node: u32, n: usize) {
        if let Some(x) = self.nodes.get_mut(node as usize) {
            x.rrsets.reserve_exact(n);
        }
    }

    /// Adds an RRset to a node, marking it a delegation when asked.
    pub fn add_rrset(&mut self, node: u32, set: RRset, delegation: bool) -> usize {
        let n = &mut self.nodes[node as usize];
        n.delegation |= delegation;
        n.rrsets.push(set);
        n.rrsets.as_slice().len() - 1
    }

    /// Sets the additional-section targets of a node's RRset.
    pub fn set_additional(&mut self, node: u32, set: usize, targets: Vec<u32>) {
        if let Some(s) = self.nodes[node as usize].rrsets.get_mut(set) {
            s.additional = targets.into_boxed_slice();
        }
    }

    /// Freezes the zone with its pools: `bindings` are the owner names each pool answers.
    /// Returns `None` when the apex has no SOA (validation reports that before freezing).
    pub fn freeze(
        mut self,
        datacenters: Vec<Datacenter>,
        pools: Vec<Pool>,
        bindings: Vec<(Vec<u8>, u32)>,
    ) -> Option<Zone> {
        for (owner, pool) in bindings {
            let i = self.insert_node(&owner);
            self.nodes[i as usize].pool = Some(pool);
        }
        let apex = self.nodes.first()?;
        let soa = apex.rrset(rtype::SOA)?.clone();
        let minimum = soa
            .first()
            .get(soa.first().len().saturating_sub(4)..)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, u32::from_be_bytes);
        let negative_ttl = soa.rdata().first().map_or(0, |r| r.ttl).min(minimum);
        Some(Zone {
            position: 0,
            origin: name::to_text(&self.apex),
            apex: self.apex,
            nodes: self.nodes.into_boxed_slice(),
            names: self.names.into_boxed_slice(),
            index: self.index,
            soa,
            negative_ttl,
            file: self.file,
            datacenters,
            pools,
        })
    }
}

/// One authoritative zone, frozen.
#[derive(Debug, Clone)]
pub struct Zone {
    /// Position in its [`ZoneSet`], set when the set is made.
    position: u32,
    apex: Box<[u8]>,
    origin: String,
    /// Node 0 is the apex (a zone always has it: [`ZoneBuilder::new`] creates it).
    nodes: Box<[Node]>,
    /// Every node's name, one after the other.
    names: Box<[u8]>,
    index: NodeIndex,
    soa: RRset,
    negative_ttl: u32,
    file: std::path::PathBuf,
    datacenters: Vec<Datacenter>,
    pools: Vec<Pool>,
}

impl Zone {
    /// Lower-case wire-format apex name.
    #[inline]
    pub fn apex(&self) -> &[u8] {
        &self.apex
    }

    /// Position of the zone in its [`ZoneSet`].
    #[inline]
    pub fn position(&self) -> usize {
        self.position as usize
    }

    /// Presentation form of the apex, for logs and errors.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The apex node.
    #[inline]
    pub fn apex_node(&self) -> &Node {
        &self.nodes[0]
    }

    /// Every node (the apex first).
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// A node by its index.
    #[inline]
    pub fn node_at(&self, i: u32) -> Option<&Node> {
        self.nodes.get(i as usize)
    }

    /// Finds a node by lower-case wire name.
    #[inline]
    pub fn node(&self, lc_name: &[u8]) -> Option<(u32, &Node)> {
        let i = self.index.get(&self.nodes, &self.names, lc_name)?;
        Some((i, self.nodes.get(i as usize)?))
    }

    /// A node's lower-case wire-format name.
    #[inline]
    pub fn name_of(&self, node: &Node) -> &[u8] {
        node.name.of(&self.names)
    }

    /// The SOA RRset.
    #[inline]
    pub fn soa(&self) -> &RRset {
        &self.soa
    }

    /// TTL of the SOA in negative answers: min(SOA TTL, SOA MINIMUM) (RFC 2308 §5).
    #[inline]
    pub fn negative_ttl(&self) -> u32 {
        self.negative_ttl
    }

    /// The file the zone came from.
    pub fn file(&self) -> &std::path::Path {
        &self.file
    }

    /// Datacenters named in the zone's pool file.
    #[inline]
    pub fn datacenters(&self) -> &[Datacenter] {
        &self.datacenters
    }

    /// Pools bound to names of this zone.
    #[inline]
    pub fn pools(&self) -> &[Pool] {
        &self.pools
    }

    /// A pool by index.
    #[inline]
    pub fn pool(&self, i: u32) -> Option<&Pool> {
        self.pools.get(i as usize)
    }

    /// The serial number from the SOA, for logs.
    pub fn serial(&self) -> u32 {
        let soa = self.soa.first();
        let mut p = 0;
        p += soa.get(p..).and_then(name::wire_len).unwrap_or(0);
        p += soa.get(p..).and_then(name::wire_len).unwrap_or(0);
        soa.get(p..p + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, u32::from_be_bytes)
    }
}

/// Every zone served, indexed by apex so the most specific zone of a name is found by walking the
/// name's suffixes.
#[derive(Debug, Clone, Default)]
pub struct ZoneSet {
    zones: Vec<Zone>,
    by_apex: NameMap<usize>,
    /// Bit n set when some apex is n octets long: a suffix of another length is no apex, and
    /// is passed over without hashing it.
    apex_lens: [u64; 4],
}

impl ZoneSet {
    /// Builds the index over the given zones.
    pub fn new(mut zones: Vec<Zone>) -> ZoneSet {
        for (i, z) in zones.iter_mut().enumerate() {
            z.position = u32::try_from(i).unwrap_or(u32::MAX);
        }
        let by_apex = zones
            .iter()
            .enumerate()
            .map(|(i, z)| (z.apex.clone(), i))
            .collect();
        let mut apex_lens = [0u64; 4];
        for z in &zones {
            let n = z.apex.len().min(255);
            if let Some(w) = apex_lens.get_mut(n / 64) {
                *w |= 1 << (n % 64);
            }
        }
        ZoneSet {
            zones,
            by_apex,
            apex_lens,
        }
    }

    /// Whether some apex is `n` octets long.
    #[inline]
    fn apex_len(&self, n: usize) -> bool {
        self.apex_lens
            .get(n / 64)
            .is_some_and(|w| w & (1 << (n % 64)) != 0)
    }

    /// The zones, in file order.
    pub fn zones(&self) -> &[Zone] {
        &self.zones
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
                && self.apex_len(lc_name.len().saturating_sub(pos))
                && let Some(&i) = lc_name.get(pos..).and_then(|n| self.by_apex.get(n))
            {
                return self.zones.get(i);
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
