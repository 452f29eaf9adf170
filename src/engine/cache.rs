//! A UDP worker's cache of answers from static zone data.
//!
//! An answer no pool took part in depends only on the zones, the question name and type: the
//! client, its subnet and its EDNS options change the header, the echoed question and the OPT
//! record, never the records. A batched UDP worker keeps the records of such answers (the bytes
//! between the question and the OPT record, compressed against a question at offset 12) and
//! writes a repeat question's response from them with the header, the question and the OPT
//! record the writer would have written. The full path costs more than the whole rest of
//! answering a static query; this is a hash, two comparisons and three copies.
//!
//! A question a pool answers directly (its own name, its records and nothing else) depends on
//! the client, but which pool answers it does not: that is kept instead (the zone and the node),
//! and a repeat question goes straight to the pool's decision and the writer, without the zone
//! and name lookups. When the pool's outcome is not records (its members are down), the full
//! path answers.
//!
//! What keeps it right:
//! - Entries are keyed by the snapshot's generation: a reload's first query of a name misses.
//!   Generation 0 (a snapshot never installed) is never cached.
//! - Only complete answers are kept: nothing truncated, no additional RRset left out for size.
//!   A hit is used only when the whole message fits the query's own size limit, so the full
//!   path would have written every RRset too: the bytes are the same (tested against the
//!   engine, `engine::tests::cached_answers_equal_the_engine`).
//! - Names compress case-insensitively against the question, so the records do not depend on
//!   the case the client used; the question is echoed as received.
//! - A fixed table, allocated when the worker starts, owned by one thread: no lock, no
//!   allocation per query, and a name no longer asked for is simply overwritten.

use std::hash::Hasher;

use crate::model::NameHasher;

/// How many answers a worker keeps.
const SLOTS: usize = 256;
/// Room in one slot for the question name and the records.
const ROOM: usize = 480;

#[derive(Clone)]
struct Slot {
    /// The snapshot generation the answer was made from; 0: empty.
    generation: u64,
    zone: Option<u32>,
    /// Answer, authority and additional records (the OPT record not counted).
    counts: [u16; 3],
    qtype: u16,
    rcode: u16,
    body_len: u16,
    name_len: u8,
    aa: bool,
    /// The question is answered by the pool at this node (zone position, node number): no
    /// records are kept.
    pool: Option<(u32, u32)>,
    /// The lower-case question name, then the records.
    bytes: [u8; ROOM],
}

const EMPTY: Slot = Slot {
    generation: 0,
    zone: None,
    counts: [0; 3],
    qtype: 0,
    rcode: 0,
    body_len: 0,
    name_len: 0,
    aa: false,
    pool: None,
    bytes: [0; ROOM],
};

/// What the cache knows of a question.
pub(super) enum Hit<'a> {
    /// The records of a static answer.
    Static(Records<'a>),
    /// The pool at this node of this zone answers it.
    Pool { zone: u32, node: u32 },
}

/// A static answer: what [`AnswerCache::get`] gives back and [`AnswerCache::put`] keeps.
pub(super) struct Records<'a> {
    pub zone: Option<u32>,
    pub counts: [u16; 3],
    pub rcode: u16,
    pub aa: bool,
    /// The records, as they follow the question.
    pub body: &'a [u8],
}

/// One worker's answers from static data. See the module documentation.
pub struct AnswerCache {
    slots: Box<[Slot]>,
}

impl Default for AnswerCache {
    fn default() -> Self {
        Self::new()
    }
}

impl AnswerCache {
    /// An empty cache (128 KB).
    pub fn new() -> AnswerCache {
        AnswerCache {
            slots: vec![EMPTY; SLOTS].into_boxed_slice(),
        }
    }

    #[inline]
    fn index(name: &[u8], qtype: u16) -> usize {
        let mut h = NameHasher::default();
        h.write(name);
        h.write_usize(usize::from(qtype));
        (h.finish() as usize) & (SLOTS - 1)
    }

    /// What is kept for `name` (lower case) and `qtype` from snapshot `generation`.
    #[inline]
    pub(super) fn get(&self, generation: u64, name: &[u8], qtype: u16) -> Option<Hit<'_>> {
        if generation == 0 {
            return None;
        }
        let s = self.slots.get(Self::index(name, qtype))?;
        let n = usize::from(s.name_len);
        if s.generation != generation || s.qtype != qtype || s.bytes.get(..n)? != name {
            return None;
        }
        if let Some((zone, node)) = s.pool {
            return Some(Hit::Pool { zone, node });
        }
        Some(Hit::Static(Records {
            zone: s.zone,
            counts: s.counts,
            rcode: s.rcode,
            aa: s.aa,
            body: s.bytes.get(n..n + usize::from(s.body_len))?,
        }))
    }

    /// Keeps that the pool at `node` of the zone at `zone` answers `name` and `qtype`.
    pub(super) fn put_pool(
        &mut self,
        generation: u64,
        name: &[u8],
        qtype: u16,
        zone: u32,
        node: u32,
    ) {
        let none = Records {
            zone: Some(zone),
            counts: [0; 3],
            rcode: 0,
            aa: true,
            body: &[],
        };
        self.fill(generation, name, qtype, &none, Some((zone, node)));
    }

    /// Keeps an answer (one too large for a slot is not kept).
    pub(super) fn put(&mut self, generation: u64, name: &[u8], qtype: u16, made: &Records<'_>) {
        self.fill(generation, name, qtype, made, None);
    }

    fn fill(
        &mut self,
        generation: u64,
        name: &[u8],
        qtype: u16,
        made: &Records<'_>,
        pool: Option<(u32, u32)>,
    ) {
        let (Ok(name_len), Ok(body_len)) =
            (u8::try_from(name.len()), u16::try_from(made.body.len()))
        else {
            return;
        };
        if generation == 0 || name.len() + made.body.len() > ROOM {
            return;
        }
        let Some(s) = self.slots.get_mut(Self::index(name, qtype)) else {
            return;
        };
        let Some(room) = s.bytes.get_mut(..name.len() + made.body.len()) else {
            return;
        };
        let (n, b) = room.split_at_mut(name.len());
        n.copy_from_slice(name);
        b.copy_from_slice(made.body);
        s.generation = generation;
        s.zone = made.zone;
        s.counts = made.counts;
        s.qtype = qtype;
        s.rcode = made.rcode;
        s.body_len = body_len;
        s.name_len = name_len;
        s.aa = made.aa;
        s.pool = pool;
    }
}
