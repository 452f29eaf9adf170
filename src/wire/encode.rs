//! Writing a response into a reused buffer, with name compression, RRset-atomic truncation and the
//! OPT record (with the ECS echo).
//!
//! The compression table is a fixed array on the stack: names that do not fit in it are simply
//! written uncompressed, so encoding never allocates once the output buffer has grown to size.

use smallvec::SmallVec;

use crate::wire::Layout;
use crate::wire::ecs::Ecs;
use crate::wire::name::wire_len;

/// Number of name suffixes remembered for compression. Responses of an authoritative server rarely
/// hold more distinct names; once full, later names are written without compression (still valid).
const TABLE: usize = 48;

/// EDNS option code of NSID (RFC 5001).
pub const NSID: u16 = 3;

/// Response sections, in wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    Answer,
    Authority,
    Additional,
}

impl Section {
    fn index(self) -> usize {
        match self {
            Section::Answer => 0,
            Section::Authority => 1,
            Section::Additional => 2,
        }
    }
}

/// The OPT record of a response (RFC 6891 §6.1.2): our payload size, the upper bits of the
/// response code, the DO bit copied from the query, and the ECS option echoed with its scope
/// (RFC 7871 §7.2.1). The writer is the only place that writes it.
#[derive(Debug, Clone, Copy)]
pub struct Opt<'a> {
    /// The UDP payload size we advertise.
    pub payload: u16,
    /// The response code; its upper 8 bits go into the OPT record.
    pub rcode: u16,
    pub dnssec_ok: bool,
    /// The query's ECS option and the scope to return in it.
    pub ecs: Option<(Ecs<'a>, u8)>,
    /// The server's identity, when the query asked for it (NSID, RFC 5001).
    pub nsid: Option<&'a [u8]>,
    /// The COOKIE option's data: the client's cookie and ours (RFC 7873).
    pub cookie: Option<&'a [u8; crate::wire::cookie::REPLY_LEN]>,
}

impl Opt<'_> {
    /// Bytes of an OPT record (with the echo of `ecs`, the NSID and a cookie, if any) in a
    /// response.
    pub fn wire_len(ecs: Option<&Ecs<'_>>, nsid: Option<&[u8]>, cookie: bool) -> usize {
        11 + Self::options_len(ecs, nsid, cookie)
    }

    fn options_len(ecs: Option<&Ecs<'_>>, nsid: Option<&[u8]>, cookie: bool) -> usize {
        ecs.map_or(0, |e| e.echo_len())
            + nsid.map_or(0, |n| 4 + n.len())
            + if cookie {
                4 + crate::wire::cookie::REPLY_LEN
            } else {
                0
            }
    }

    /// Appends the record to `out` (the caller counts it in the header).
    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        let p = self.payload.to_be_bytes();
        let ext = u8::try_from(self.rcode >> 4).unwrap_or(0);
        let options = Self::options_len(
            self.ecs.as_ref().map(|(e, _)| e),
            self.nsid,
            self.cookie.is_some(),
        );
        let rdlen = u16::try_from(options).unwrap_or(0).to_be_bytes();
        out.extend_from_slice(&[
            0,
            0,
            41,
            p[0],
            p[1],
            ext,
            0,
            if self.dnssec_ok { 0x80 } else { 0 },
            0,
            rdlen[0],
            rdlen[1],
        ]);
        if let Some((e, scope)) = self.ecs {
            e.write_echo(out, scope);
        }
        if let Some(n) = self.nsid {
            out.extend_from_slice(&NSID.to_be_bytes());
            out.extend_from_slice(&u16::try_from(n.len()).unwrap_or(0).to_be_bytes());
            out.extend_from_slice(n);
        }
        if let Some(c) = self.cookie {
            out.extend_from_slice(&crate::wire::cookie::CODE.to_be_bytes());
            out.extend_from_slice(&(c.len() as u16).to_be_bytes());
            out.extend_from_slice(c);
        }
    }
}

/// The compression targets of a response: (offset in the message, the name suffix written there
/// in uncompressed wire form). It lives in the caller's frame and the [`Writer`] borrows it:
/// moved inside the writer it made every writer 1.2 KB to copy. Its inline storage is never
/// initialised as a whole (a response uses a few entries of it) and never spills:
/// [`Writer::remember`] stops at [`TABLE`].
pub struct Names<'a> {
    table: SmallVec<[(u16, &'a [u8]); TABLE]>,
}

impl Names<'_> {
    /// An empty table.
    #[inline]
    pub fn new() -> Self {
        Names {
            table: SmallVec::new(),
        }
    }
}

impl Default for Names<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// An in-progress response.
pub struct Writer<'a, 'b> {
    out: &'b mut Vec<u8>,
    table: &'b mut SmallVec<[(u16, &'a [u8]); TABLE]>,
    limit: usize,
    counts: [u16; 3],
    truncated: bool,
    /// An additional-section RRset was left out for size (best effort, no TC).
    omitted: bool,
    /// The class of the records written (IN, or CH for the server's identity).
    class: u16,
}

/// Every label suffix of `name` (up to `upto` bytes into it), with its offset inside `name`.
fn suffixes(name: &[u8], upto: usize) -> impl Iterator<Item = (usize, &[u8])> {
    let mut p = 0;
    std::iter::from_fn(move || {
        let l = *name.get(p)?;
        if l == 0 || p >= upto {
            return None;
        }
        let here = (p, name.get(p..)?);
        p += usize::from(l) + 1;
        Some(here)
    })
}

// The writer indexes only into the header it wrote itself (`out` always holds at least the 12
// header bytes once `new` returns) and into its own fixed arrays: no offset comes from input.
#[allow(clippy::indexing_slicing)]
impl<'a, 'b> Writer<'a, 'b> {
    /// Starts a response: a header with the given flags, and the question echoed as received.
    /// `limit` is the largest message allowed (the space for the OPT record must already be
    /// subtracted: see [`Opt::wire_len`]). `names` is emptied and holds the compression targets.
    #[inline]
    pub fn new(
        out: &'b mut Vec<u8>,
        names: &'b mut Names<'a>,
        id: u16,
        flags: u16,
        question: Option<(&'a [u8], &'a [u8])>,
        limit: usize,
    ) -> Writer<'a, 'b> {
        out.clear();
        let [i0, i1] = id.to_be_bytes();
        let [f0, f1] = flags.to_be_bytes();
        let qd = u8::from(question.is_some());
        out.extend_from_slice(&[i0, i1, f0, f1, 0, qd, 0, 0, 0, 0, 0, 0]);
        names.table.clear();
        let mut w = Writer {
            out,
            table: &mut names.table,
            limit,
            counts: [0; 3],
            truncated: false,
            omitted: false,
            class: 1,
        };
        if let Some((qname, question)) = question {
            // the question is echoed byte for byte, so the client sees its own case
            w.out.extend_from_slice(question);
            w.remember(12, qname, qname.len());
        }
        w
    }

    /// Whether an RRset of an answer or authority section had to be left out.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Whether every RRset given was written: none truncated away, none of the additional
    /// section left out for size.
    pub fn complete(&self) -> bool {
        !self.truncated && !self.omitted
    }

    /// Records written so far in the answer, authority and additional sections (the OPT
    /// record, which [`Writer::finish`] adds, not counted).
    pub fn counts(&self) -> [u16; 3] {
        self.counts
    }

    /// Bytes of the message so far: where the OPT record will start.
    pub fn written(&self) -> usize {
        self.out.len()
    }

    /// The class of the records written from now on (IN unless set).
    pub fn set_class(&mut self, class: u16) {
        self.class = class;
    }

    /// Marks the response truncated (TC=1) and stops adding records.
    pub fn set_truncated(&mut self) {
        self.truncated = true;
    }

    /// Remembers the suffixes of `name` (written at `offset`) as compression targets.
    fn remember(&mut self, offset: usize, name: &'a [u8], upto: usize) {
        for (p, suffix) in suffixes(name, upto) {
            let Ok(off) = u16::try_from(offset + p) else {
                return;
            };
            if off >= 0x3fff || self.table.len() == TABLE {
                return;
            }
            self.table.push((off, suffix));
        }
    }

    #[inline]
    fn lookup(&self, suffix: &[u8]) -> Option<u16> {
        self.table
            .iter()
            // zone data is lower case: equal bytes settle most comparisons without folding case
            .find(|(_, n)| {
                n.len() == suffix.len() && (*n == suffix || n.eq_ignore_ascii_case(suffix))
            })
            .map(|&(o, _)| o)
    }

    /// Writes a name, compressed against the names already in the message. Returns where a
    /// later copy of the same name may point to: the target its first suffix matched, or the
    /// place it was written whole when that was remembered (`None`: neither).
    fn name(&mut self, name: &'a [u8]) -> Option<u16> {
        let start = self.out.len();
        for (p, suffix) in suffixes(name, name.len()) {
            if let Some(off) = self.lookup(suffix) {
                self.out
                    .extend_from_slice(name.get(..p).unwrap_or_default());
                self.out.extend_from_slice(&(0xc000 | off).to_be_bytes());
                let remembered = self.table.len();
                self.remember(start, name, p);
                return if p == 0 {
                    Some(off)
                } else {
                    // the whole name was remembered first, at `start`
                    (self.table.len() > remembered).then_some(start as u16)
                };
            }
        }
        self.out.extend_from_slice(name);
        let remembered = self.table.len();
        self.remember(start, name, name.len());
        (self.table.len() > remembered).then_some(start as u16)
    }

    fn rdata(&mut self, layout: Layout, b: &'a [u8]) {
        let len_at = self.out.len();
        self.out.extend_from_slice(&[0, 0]);
        match (layout, b.split_at_checked(2)) {
            (Layout::Name, _) => {
                self.name(b);
            }
            (Layout::PrefName, Some((pref, name))) => {
                self.out.extend_from_slice(pref);
                self.name(name);
            }
            (Layout::Soa, _) => {
                let m = wire_len(b).unwrap_or(b.len());
                let (mname, rest) = b.split_at(m);
                let r = wire_len(rest).unwrap_or(0);
                let (rname, counters) = rest.split_at(r);
                self.name(mname);
                self.name(rname);
                self.out.extend_from_slice(counters);
            }
            _ => self.out.extend_from_slice(b),
        }
        let len = u16::try_from(self.out.len() - len_at - 2).unwrap_or(u16::MAX);
        self.out[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
    }

    /// Appends a whole RRset (each record given as TTL and pre-encoded RDATA), or nothing if it does
    /// not fit. A set left out of the answer or authority section marks the response truncated;
    /// the additional section is best effort (RFC 2181 §9). Returns whether the set was written.
    pub fn rrset(
        &mut self,
        section: Section,
        owner: &'a [u8],
        rtype: u16,
        layout: Layout,
        rdata: impl IntoIterator<Item = (u32, &'a [u8])>,
        ttl: Option<u32>,
    ) -> bool {
        if self.truncated {
            return false;
        }
        let start = self.out.len();
        let table_len = self.table.len();
        let [t0, t1] = rtype.to_be_bytes();
        let [c0, c1] = self.class.to_be_bytes();
        let mut n = 0;
        // where later records of the set point for the owner: every record has the same one,
        // and compressing it again would find the same target
        let mut owner_at: Option<u16> = None;
        for (rd_ttl, bytes) in rdata {
            n += 1;
            match owner_at {
                Some(off) if n > 1 => self.out.extend_from_slice(&(0xc000 | off).to_be_bytes()),
                _ => owner_at = self.name(owner),
            }
            let [l0, l1, l2, l3] = ttl.unwrap_or(rd_ttl).to_be_bytes();
            if layout == Layout::Raw {
                // RDATA without names: its length is known, one write for the fixed fields
                let [d0, d1] = u16::try_from(bytes.len()).unwrap_or(u16::MAX).to_be_bytes();
                self.out
                    .extend_from_slice(&[t0, t1, c0, c1, l0, l1, l2, l3, d0, d1]);
                self.out.extend_from_slice(bytes);
            } else {
                self.out
                    .extend_from_slice(&[t0, t1, c0, c1, l0, l1, l2, l3]);
                self.rdata(layout, bytes);
            }
        }
        if self.out.len() > self.limit {
            // roll back: no partial RRsets, and forget compression targets that are gone
            self.out.truncate(start);
            self.table.truncate(table_len);
            if section == Section::Additional {
                self.omitted = true;
            } else {
                self.truncated = true;
            }
            return false;
        }
        self.counts[section.index()] += n;
        true
    }

    /// Finishes the header counts and flags, and appends the OPT record when given.
    pub fn finish(self, opt: Option<&Opt<'_>>) -> &'b mut Vec<u8> {
        let out = self.out;
        out[6..8].copy_from_slice(&self.counts[0].to_be_bytes());
        out[8..10].copy_from_slice(&self.counts[1].to_be_bytes());
        let additional = self.counts[2] + u16::from(opt.is_some());
        out[10..12].copy_from_slice(&additional.to_be_bytes());
        if self.truncated {
            out[2] |= 0x02;
        }
        if let Some(o) = opt {
            o.write_to(out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]
    use super::*;

    struct Set {
        layout: Layout,
        rdata: Vec<(u32, &'static [u8])>,
    }

    fn set(_rtype: u16, layout: Layout, rdata: &[&'static [u8]]) -> Set {
        Set {
            layout,
            rdata: rdata.iter().map(|b| (60, *b)).collect(),
        }
    }

    #[test]
    fn compresses_owner_and_rdata_names() {
        let q = b"\x03www\x07example\x03com\x00";
        let question = [&q[..], &[0, 5, 0, 1]].concat();
        let cname = set(5, Layout::Name, &[b"\x03web\x07example\x03com\x00"]);
        let mut buf = Vec::new();
        let mut names = Names::new();
        let mut w = Writer::new(&mut buf, &mut names, 1, 0x8400, Some((q, &question)), 512);
        assert!(w.rrset(
            Section::Answer,
            q,
            5,
            cname.layout,
            cname.rdata.clone(),
            None
        ));
        let out = w.finish(None).clone();
        // header 12 + question 21 + owner pointer 2 + type/class/ttl/len 10 + "web" + pointer 6
        assert_eq!(out.len(), 12 + 21 + 2 + 10 + 6);
        assert_eq!(&out[33..35], &[0xc0, 12]);
        assert_eq!(&out[45..51], b"\x03web\xc0\x10");
        // hickory agrees it is a valid message
        let m = hickory_proto::op::Message::from_vec(&out).unwrap();
        assert_eq!(m.answers.len(), 1);
    }

    #[test]
    fn truncates_whole_rrsets_only() {
        let q = b"\x01t\x00";
        let question = [&q[..], &[0, 16, 0, 1]].concat();
        let big: &'static [u8] = Box::leak(vec![200u8; 201].into_boxed_slice());
        let txt = set(16, Layout::Raw, &[big, big, big]);
        let mut buf = Vec::new();
        let mut names = Names::new();
        let mut w = Writer::new(&mut buf, &mut names, 1, 0x8400, Some((q, &question)), 512);
        assert!(!w.rrset(Section::Answer, q, 16, txt.layout, txt.rdata.clone(), None));
        assert!(w.truncated());
        let out = w.finish(None).clone();
        assert_eq!(out.len(), 12 + question.len());
        assert_eq!(out[2] & 0x02, 0x02);
        assert_eq!(&out[6..8], &[0, 0]);
    }
}
