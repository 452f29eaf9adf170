//! Writing a response into a reused buffer, with name compression and RRset-atomic truncation.
//!
//! The compression table is a fixed array on the stack: names that do not fit in it are simply
//! written uncompressed, so encoding never allocates once the output buffer has grown to size.

use crate::model::{Layout, Rdata};
use crate::wire::name::wire_len;

/// Number of name suffixes remembered for compression. Responses of an authoritative server rarely
/// hold more distinct names; once full, later names are written without compression (still valid).
const TABLE: usize = 48;

/// Response sections, in wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    Answer,
    Authority,
    Additional,
}

/// An in-progress response.
pub struct Writer<'a, 'b> {
    out: &'b mut Vec<u8>,
    /// (offset in `out`, the name suffix written there in uncompressed wire form)
    table: [(u16, &'a [u8]); TABLE],
    table_len: usize,
    limit: usize,
    counts: [u16; 3],
    truncated: bool,
}

impl<'a, 'b> Writer<'a, 'b> {
    /// Starts a response: a header with the given flags, and the question echoed as received.
    /// `limit` is the largest message allowed (the space for the OPT record must already be
    /// subtracted).
    pub fn new(
        out: &'b mut Vec<u8>,
        id: u16,
        flags: u16,
        question: Option<(&'a [u8], &'a [u8])>,
        limit: usize,
    ) -> Writer<'a, 'b> {
        out.clear();
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&[0, u8::from(question.is_some()), 0, 0, 0, 0, 0, 0]);
        let mut w = Writer {
            out,
            table: [(0, &[][..]); TABLE],
            table_len: 0,
            limit,
            counts: [0; 3],
            truncated: false,
        };
        if let Some((qname, rest)) = question {
            // the question is echoed byte for byte, so the client sees its own case
            w.out.extend_from_slice(qname);
            w.out.extend_from_slice(&rest[qname.len()..]);
            w.remember(12, qname);
        }
        w
    }

    /// Whether an RRset of an answer or authority section had to be left out.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Marks the response truncated (TC=1) and stops adding records.
    pub fn set_truncated(&mut self) {
        self.truncated = true;
    }

    fn remember(&mut self, offset: usize, name: &'a [u8]) {
        // every label suffix of the name is a compression target
        let mut p = 0;
        while p < name.len() && name[p] != 0 {
            let off = offset + p;
            if off >= 0x3fff || self.table_len == TABLE {
                return;
            }
            self.table[self.table_len] = (off as u16, &name[p..]);
            self.table_len += 1;
            p += name[p] as usize + 1;
        }
    }

    fn lookup(&self, suffix: &[u8]) -> Option<u16> {
        self.table[..self.table_len]
            .iter()
            .find(|(_, n)| n.len() == suffix.len() && n.eq_ignore_ascii_case(suffix))
            .map(|&(o, _)| o)
    }

    /// Writes a name, compressed against the names already in the message.
    fn name(&mut self, name: &'a [u8]) {
        let start = self.out.len();
        let mut p = 0;
        while p < name.len() && name[p] != 0 {
            if let Some(off) = self.lookup(&name[p..]) {
                self.out.extend_from_slice(&name[..p]);
                self.out.extend_from_slice(&(0xc000 | off).to_be_bytes());
                self.remember_prefix(start, name, p);
                return;
            }
            p += name[p] as usize + 1;
        }
        self.out.extend_from_slice(name);
        self.remember_prefix(start, name, name.len());
    }

    fn remember_prefix(&mut self, start: usize, name: &'a [u8], upto: usize) {
        let mut p = 0;
        while p < upto && name[p] != 0 {
            let off = start + p;
            if off >= 0x3fff || self.table_len == TABLE {
                return;
            }
            self.table[self.table_len] = (off as u16, &name[p..]);
            self.table_len += 1;
            p += name[p] as usize + 1;
        }
    }

    fn rdata(&mut self, layout: Layout, b: &'a [u8]) {
        let len_at = self.out.len();
        self.out.extend_from_slice(&[0, 0]);
        match layout {
            Layout::Raw => self.out.extend_from_slice(b),
            Layout::Name => self.name(b),
            Layout::PrefName => {
                self.out.extend_from_slice(&b[..2]);
                self.name(&b[2..]);
            }
            Layout::Soa => {
                let m = wire_len(b).unwrap_or(b.len());
                self.name(&b[..m]);
                let r = wire_len(&b[m..]).unwrap_or(0);
                self.name(&b[m..m + r]);
                self.out.extend_from_slice(&b[m + r..]);
            }
        }
        let len = (self.out.len() - len_at - 2) as u16;
        self.out[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
    }

    /// Appends a whole RRset, or nothing if it does not fit. A set left out of the answer or
    /// authority section marks the response truncated; the additional section is best effort
    /// (RFC 2181 §9). Returns whether the set was written.
    pub fn rrset(
        &mut self,
        section: Section,
        owner: &'a [u8],
        rtype: u16,
        layout: Layout,
        rdata: impl IntoIterator<Item = &'a Rdata>,
        ttl: Option<u32>,
    ) -> bool {
        if self.truncated {
            return false;
        }
        let start = self.out.len();
        let table_len = self.table_len;
        let mut n = 0;
        for rd in rdata {
            n += 1;
            self.name(owner);
            self.out.extend_from_slice(&rtype.to_be_bytes());
            self.out.extend_from_slice(&1u16.to_be_bytes());
            self.out
                .extend_from_slice(&ttl.unwrap_or(rd.ttl).to_be_bytes());
            self.rdata(layout, &rd.bytes);
        }
        if self.out.len() > self.limit {
            // roll back: no partial RRsets, and forget compression targets that are gone
            self.out.truncate(start);
            self.table_len = table_len;
            if section != Section::Additional {
                self.truncated = true;
            }
            return false;
        }
        self.counts[section as usize] += n;
        true
    }

    /// Finishes the header counts and flags. `extra_additional` counts records (OPT) the caller
    /// appends after this call.
    pub fn finish(self, extra_additional: u16) -> &'b mut Vec<u8> {
        let out = self.out;
        out[6..8].copy_from_slice(&self.counts[0].to_be_bytes());
        out[8..10].copy_from_slice(&self.counts[1].to_be_bytes());
        out[10..12].copy_from_slice(&(self.counts[2] + extra_additional).to_be_bytes());
        if self.truncated {
            out[2] |= 0x02;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RRset;

    fn set(rtype: u16, layout: Layout, rdata: &[&[u8]]) -> RRset {
        RRset {
            rtype,
            layout,
            rdata: rdata
                .iter()
                .map(|b| Rdata {
                    ttl: 60,
                    bytes: b.to_vec().into(),
                })
                .collect(),
            additional: vec![],
        }
    }

    #[test]
    fn compresses_owner_and_rdata_names() {
        let q = b"\x03www\x07example\x03com\x00";
        let question = [&q[..], &[0, 5, 0, 1]].concat();
        let cname = set(5, Layout::Name, &[b"\x03web\x07example\x03com\x00"]);
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf, 1, 0x8400, Some((q, &question)), 512);
        assert!(w.rrset(Section::Answer, q, 5, cname.layout, &cname.rdata, None));
        let out = w.finish(0).clone();
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
        let big = vec![200u8; 201];
        let txt = set(16, Layout::Raw, &[&big, &big, &big]);
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf, 1, 0x8400, Some((q, &question)), 512);
        assert!(!w.rrset(Section::Answer, q, 16, txt.layout, &txt.rdata, None));
        assert!(w.truncated());
        let out = w.finish(0).clone();
        assert_eq!(out.len(), 12 + question.len());
        assert_eq!(out[2] & 0x02, 0x02);
        assert_eq!(&out[6..8], &[0, 0]);
    }
}
