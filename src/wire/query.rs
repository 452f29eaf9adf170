//! Parsing of an incoming query, without allocation.
//!
//! The parser is strict where RFC 6891 and RFC 1035 ask for FORMERR (several OPT records, an OPT
//! that is not at the root, truncated records, trailing bytes) and returns the reason so the engine
//! can answer or drop accordingly.

use std::net::IpAddr;

use crate::net::mask;
use crate::wire::rtype;

/// Builds a query packet: one question, RD=0, class IN; an OPT record advertising `edns` when
/// given, carrying an ECS option for `ecs` (address and source prefix) when given. `qname` is an
/// uncompressed wire name. Used by `geosteer explain`, the benchmarks and the tests.
pub fn build(
    id: u16,
    qname: &[u8],
    qtype: u16,
    edns: Option<u16>,
    ecs: Option<(IpAddr, u8)>,
) -> Vec<u8> {
    let mut v = Vec::with_capacity(12 + qname.len() + 4 + 11 + 12);
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())]);
    v.extend_from_slice(qname);
    v.extend_from_slice(&qtype.to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes());
    let Some(payload) = edns else {
        return v;
    };
    let mut opt = Vec::new();
    if let Some((addr, len)) = ecs {
        let (family, bytes): (u16, Vec<u8>) = match mask(addr, len) {
            IpAddr::V4(a) => (1, a.octets().to_vec()),
            IpAddr::V6(a) => (2, a.octets().to_vec()),
        };
        let n = (len as usize).div_ceil(8);
        opt.extend_from_slice(&crate::wire::ecs::CODE.to_be_bytes());
        opt.extend_from_slice(&((4 + n) as u16).to_be_bytes());
        opt.extend_from_slice(&family.to_be_bytes());
        opt.extend_from_slice(&[len, 0]);
        opt.extend_from_slice(bytes.get(..n).unwrap_or(&bytes));
    }
    v.extend_from_slice(&[0, 0, 41]);
    v.extend_from_slice(&payload.to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 0]);
    v.extend_from_slice(&(opt.len() as u16).to_be_bytes());
    v.extend_from_slice(&opt);
    v
}

/// Fields of the header the response needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    /// Byte 2 of the header: QR, OPCODE, AA, TC, RD.
    pub flags_hi: u8,
    /// Byte 3 of the header: RA, Z, AD, CD, RCODE.
    pub flags_lo: u8,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

// Constant offsets into a 12-byte array: checked by the compiler, not reachable by input.
#[allow(clippy::indexing_slicing)]
impl Header {
    /// Reads the 12-byte header.
    pub fn read(b: &[u8]) -> Option<Header> {
        let h: &[u8; 12] = b.get(..12)?.try_into().ok()?;
        let u = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
        Some(Header {
            id: u(0),
            flags_hi: h[2],
            flags_lo: h[3],
            qdcount: u(4),
            ancount: u(6),
            nscount: u(8),
            arcount: u(10),
        })
    }

    /// The QR bit: set on responses.
    pub fn is_response(&self) -> bool {
        self.flags_hi & 0x80 != 0
    }

    /// The OPCODE field.
    pub fn opcode(&self) -> u8 {
        (self.flags_hi >> 3) & 0x0f
    }
}

/// The EDNS(0) OPT record of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns<'a> {
    /// Requestor's UDP payload size (the OPT CLASS field).
    pub payload: u16,
    pub version: u8,
    /// The DNSSEC OK bit (copied into the response, RFC 3225).
    pub dnssec_ok: bool,
    /// The option bytes (RDATA of the OPT record), already checked to be well-formed TLVs.
    pub options: &'a [u8],
    /// The data of the first COOKIE option (RFC 7873), found while the options were checked so
    /// the engine does not walk them again.
    pub cookie: Option<&'a [u8]>,
    /// The data of the first Client Subnet option (RFC 7871).
    pub ecs: Option<&'a [u8]>,
    /// More than one Client Subnet option (FORMERR when ECS is used, RFC 7871 §6).
    pub ecs_repeated: bool,
    /// An NSID option asks for the server's identity (RFC 5001).
    pub nsid: bool,
}

impl<'a> Edns<'a> {
    /// The options as (code, data) pairs.
    pub fn option_iter(&self) -> impl Iterator<Item = (u16, &'a [u8])> + 'a {
        let mut b = self.options;
        std::iter::from_fn(move || {
            let code = u16_at(b, 0)?;
            let len = u16_at(b, 2)? as usize;
            let data = b.get(4..4 + len)?;
            b = b.get(4 + len..)?;
            Some((code, data))
        })
    }
}

/// A parsed query.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    pub header: Header,
    /// The question's name exactly as received (case preserved, uncompressed).
    pub qname: &'a [u8],
    /// The question's name in lower case, in the buffer the caller gave [`parse`].
    pub qname_lc: &'a [u8],
    pub qtype: u16,
    pub qclass: u16,
    /// The whole question section as received, for echoing.
    pub question: &'a [u8],
    pub edns: Option<Edns<'a>>,
    /// A TSIG record (RFC 8945), always the last of the additional section: its owner (the key
    /// name) and RDATA, uncompressed, as received.
    pub tsig: Option<Tsig<'a>>,
}

/// The TSIG record of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tsig<'a> {
    pub key: &'a [u8],
    pub rdata: &'a [u8],
}

/// Why a packet could not be parsed as a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Too short for a header, or a response (QR=1): no reply at all.
    Drop,
    /// Malformed: answer FORMERR. Carries the parsed question when there was one, so it can be
    /// echoed, and whether the query carried an OPT record (the reply then carries one too).
    FormErr {
        question_end: Option<usize>,
        edns: bool,
    },
    /// Not a standard query (OPCODE ≠ 0): answer NOTIMP.
    NotImp,
}

fn u16_at(b: &[u8], p: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(p)?, *b.get(p + 1)?]))
}

/// Skips a possibly compressed name starting at `p`, returning the offset after it.
pub(crate) fn skip_name(b: &[u8], mut p: usize) -> Option<usize> {
    let mut total = 0;
    loop {
        let l = *b.get(p)?;
        match l {
            0 => return Some(p + 1),
            1..=63 => {
                p += l as usize + 1;
                total += l as usize + 1;
                // a name is at most 255 octets with its final zero (RFC 1035 §3.1): found by
                // the fuzzer, a 256-octet TSIG key name was echoed into a response no client
                // could read
                if total > 254 {
                    return None;
                }
            }
            0xc0..=0xff => {
                b.get(p + 1)?;
                return Some(p + 2);
            }
            _ => return None,
        }
    }
}

/// Parses a query packet; the lower-case question name is written into `lc`, which the caller
/// owns so that the query stays small to pass around.
#[inline]
pub fn parse<'a>(b: &'a [u8], lc: &'a mut [u8; 255]) -> Result<Query<'a>, ParseError> {
    let header = Header::read(b).ok_or(ParseError::Drop)?;
    if header.is_response() {
        return Err(ParseError::Drop);
    }
    let formerr = |question_end| ParseError::FormErr {
        question_end,
        edns: false,
    };
    if header.opcode() != 0 {
        return Err(ParseError::NotImp);
    }
    if header.qdcount != 1 {
        return Err(formerr(None));
    }
    // the question name: no compression pointers (there is nothing before it to point to)
    let mut p = 12;
    loop {
        let l = *b.get(p).ok_or(formerr(None))? as usize;
        p += l + 1;
        // a name is at most 255 octets with its final zero (RFC 1035 §3.1)
        if l > 63 || p - 12 > 255 {
            return Err(formerr(None));
        }
        if l == 0 {
            break;
        }
    }
    let qname = b.get(12..p).ok_or(formerr(None))?;
    // lower case in one pass: a length octet (at most 63) is never an upper-case letter
    let qname_lc = lc.get_mut(..qname.len()).ok_or(formerr(None))?;
    qname_lc.copy_from_slice(qname);
    qname_lc.make_ascii_lowercase();
    let qtype = u16_at(b, p).ok_or(formerr(None))?;
    let qclass = u16_at(b, p + 2).ok_or(formerr(None))?;
    p += 4;
    let question_end = p;
    let formerr_q = |edns| ParseError::FormErr {
        question_end: Some(question_end),
        edns,
    };
    // A query carries no answer or authority records (RFC 1035 §4.1; UPDATE is not served).
    if header.ancount != 0 || header.nscount != 0 {
        return Err(formerr_q(false));
    }
    let mut edns = None;
    let mut tsig = None;
    let mut opt_count = 0;
    for i in 0..header.arcount {
        let name_start = p;
        p = skip_name(b, p).ok_or(formerr_q(edns.is_some()))?;
        let owner = b.get(name_start..p).ok_or(formerr_q(edns.is_some()))?;
        let rr_type = u16_at(b, p).ok_or(formerr_q(edns.is_some()))?;
        let class = u16_at(b, p + 2).ok_or(formerr_q(edns.is_some()))?;
        let ttl_hi = b.get(p + 4..p + 8).ok_or(formerr_q(edns.is_some()))?;
        let rdlen = u16_at(b, p + 8).ok_or(formerr_q(edns.is_some()))? as usize;
        let rdata = b
            .get(p + 10..p + 10 + rdlen)
            .ok_or(formerr_q(edns.is_some()))?;
        p += 10 + rdlen;
        if rr_type == rtype::TSIG {
            // RFC 8945 §5.1: the last record, its names uncompressed; anything else is FORMERR
            let uncompressed = |n: &[u8]| n.last() == Some(&0) && !has_pointer(n);
            let alg_end = skip_name(rdata, 0).ok_or(formerr_q(edns.is_some()))?;
            if i + 1 != header.arcount
                || !uncompressed(owner)
                || !rdata.get(..alg_end).is_some_and(uncompressed)
            {
                return Err(formerr_q(edns.is_some()));
            }
            tsig = Some(Tsig { key: owner, rdata });
        }
        if rr_type == rtype::OPT {
            opt_count += 1;
            // RFC 6891 §6.1.1: more than one OPT, or an OPT not owned by the root, is FORMERR
            if opt_count > 1 || b.get(name_start) != Some(&0) {
                return Err(formerr_q(true));
            }
            // options must be whole TLVs; the ones the engine reads are noted on the way
            let mut e = Edns {
                payload: class,
                version: ttl_hi.get(1).copied().unwrap_or(0),
                dnssec_ok: ttl_hi.get(2).is_some_and(|f| f & 0x80 != 0),
                options: rdata,
                cookie: None,
                ecs: None,
                ecs_repeated: false,
                nsid: false,
            };
            let mut o = 0;
            while o < rdata.len() {
                let code = u16_at(rdata, o).ok_or(formerr_q(true))?;
                let len = u16_at(rdata, o + 2).ok_or(formerr_q(true))? as usize;
                let data = rdata.get(o + 4..o + 4 + len).ok_or(formerr_q(true))?;
                o += 4 + len;
                match code {
                    crate::wire::cookie::CODE if e.cookie.is_none() => e.cookie = Some(data),
                    crate::wire::ecs::CODE if e.ecs.is_none() => e.ecs = Some(data),
                    crate::wire::ecs::CODE => e.ecs_repeated = true,
                    crate::wire::encode::NSID => e.nsid = true,
                    _ => {}
                }
            }
            edns = Some(e);
        }
    }
    if p != b.len() {
        return Err(formerr_q(edns.is_some()));
    }
    Ok(Query {
        header,
        qname,
        qname_lc,
        qtype,
        qclass,
        question: b.get(12..question_end).ok_or(formerr(None))?,
        edns,
        tsig,
    })
}

/// The address of a query's Client Subnet option, found without the rest of [`parse`]: a hint
/// for starting the client's GeoIP lookup early ([`crate::geo::Geo::prefetch_index`]). What the
/// query means, and whether its option is used, is still for `parse` and the engine to decide.
/// `None` when the first additional record is not an OPT with a usable ECS option.
pub fn ecs_hint(b: &[u8]) -> Option<IpAddr> {
    if u16_at(b, 10)? == 0 {
        return None;
    }
    // the OPT record's owner is the root: one zero octet after the question
    let p = skip_name(b, 12)? + 4;
    if *b.get(p)? != 0 || u16_at(b, p + 1)? != rtype::OPT {
        return None;
    }
    let rdlen = u16_at(b, p + 9)? as usize;
    let options = b.get(p + 11..p + 11 + rdlen)?;
    let mut o = 0;
    while let (Some(code), Some(len)) = (u16_at(options, o), u16_at(options, o + 2)) {
        let len = len as usize;
        if code == crate::wire::ecs::CODE {
            // what the engine will parse: a /0 subnet asks not to be located by it
            let s = crate::wire::ecs::parse(options.get(o + 4..o + 4 + len)?).ok()?;
            return (s.source_prefix > 0).then(|| s.addr.to_canonical());
        }
        o += 4 + len;
    }
    None
}

/// Whether a wire-format name (as received) holds a compression pointer.
fn has_pointer(name: &[u8]) -> bool {
    let mut p = 0;
    while let Some(&len) = name.get(p) {
        if len == 0 {
            return false;
        }
        if len & 0xc0 != 0 {
            return true;
        }
        p += 1 + len as usize;
    }
    false
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn query(name: &[u8], qtype: u16, extra: &[u8], arcount: u16) -> Vec<u8> {
        let mut v = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0];
        v.extend(arcount.to_be_bytes());
        v.extend(name);
        v.extend(qtype.to_be_bytes());
        v.extend(1u16.to_be_bytes());
        v.extend(extra);
        v
    }

    const OPT: &[u8] = &[0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 0];

    #[test]
    fn parses_question_and_edns() {
        let b = query(b"\x03WwW\x07example\x03com\x00", 1, OPT, 1);
        let q = parse(&b).unwrap();
        assert_eq!(q.qname, b"\x03WwW\x07example\x03com\x00");
        assert_eq!(q.qname_lc, b"\x03www\x07example\x03com\x00");
        assert_eq!(q.qtype, 1);
        let e = q.edns.unwrap();
        assert_eq!(e.payload, 4096);
        assert!(e.dnssec_ok);
        assert_eq!(e.version, 0);
    }

    #[test]
    fn names_end_at_255_octets() {
        // 63 + 63 + 63 + 63 label octets and 4 length octets, then the root: 255
        let mut name = Vec::new();
        for _ in 0..3 {
            name.push(63);
            name.extend([b'a'; 63]);
        }
        name.push(61);
        name.extend([b'a'; 61]);
        name.push(0);
        assert_eq!(name.len(), 255);
        assert_eq!(skip_name(&name, 0), Some(255));
        let mut long = name.clone();
        long[192] = 62;
        long.insert(193, b'a');
        assert_eq!(long.len(), 256);
        assert_eq!(skip_name(&long, 0), None);
    }

    fn parse(b: &[u8]) -> Result<Query<'_>, ParseError> {
        // the lower-case name outlives the test's use of the query
        super::parse(b, Box::leak(Box::new([0; 255])))
    }

    #[test]
    fn finds_the_options_the_engine_reads() {
        // COOKIE (8 bytes), ECS twice, NSID, an unknown option
        let mut opts = vec![0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
        opts.extend([0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2]);
        opts.extend([0, 8, 0, 4, 0, 1, 0, 0]);
        opts.extend([0, 3, 0, 0, 0xff, 0x00, 0, 1, 9]);
        let mut rr = vec![0, 0, 41, 0x10, 0, 0, 0, 0, 0];
        rr.extend((opts.len() as u16).to_be_bytes());
        rr.extend(&opts);
        let b = query(b"\x01a\x00", 1, &rr, 1);
        let e = parse(&b).unwrap().edns.unwrap();
        assert_eq!(e.cookie, Some(&[1, 2, 3, 4, 5, 6, 7, 8][..]));
        assert_eq!(e.ecs, Some(&[0, 1, 24, 0, 192, 0, 2][..]));
        assert!(e.ecs_repeated);
        assert!(e.nsid);
        assert_eq!(e.option_iter().count(), 5);
    }

    #[test]
    fn the_ecs_hint_is_the_subnet_the_engine_would_locate() {
        let ecs = |data: &[u8]| {
            let mut rr = vec![0, 0, 41, 0x10, 0, 0, 0, 0, 0];
            let opt = [&[0, 8][..], &(data.len() as u16).to_be_bytes(), data].concat();
            rr.extend((opt.len() as u16).to_be_bytes());
            rr.extend(&opt);
            query(b"\x03www\x01a\x00", 1, &rr, 1)
        };
        let hint = |b: &[u8]| ecs_hint(b);
        assert_eq!(
            hint(&ecs(&[0, 1, 24, 0, 192, 0, 2])),
            Some("192.0.2.0".parse().unwrap())
        );
        assert_eq!(
            hint(&ecs(&[0, 2, 48, 0, 0x20, 1, 0xd, 0xb8, 0, 1])),
            Some("2001:db8:1::".parse().unwrap())
        );
        // a /0 subnet asks not to be located by it; a malformed one is not used
        assert_eq!(hint(&ecs(&[0, 1, 0, 0])), None);
        assert_eq!(hint(&ecs(&[0, 1, 24, 0, 192, 0])), None);
        assert_eq!(hint(&query(b"\x01a\x00", 1, OPT, 1)), None);
        assert_eq!(hint(&query(b"\x01a\x00", 1, &[], 0)), None);
        assert_eq!(hint(&[0; 11]), None);
    }

    #[test]
    fn rejects_malformed() {
        let two_opts = [OPT, OPT].concat();
        let b = query(b"\x01a\x00", 1, &two_opts, 2);
        assert!(matches!(
            parse(&b),
            Err(ParseError::FormErr { edns: true, .. })
        ));
        let b = query(b"\x01a\x00", 1, &[1, 2], 0);
        assert!(matches!(parse(&b), Err(ParseError::FormErr { .. })));
        let b = query(b"\x01a", 1, &[], 0);
        assert!(matches!(parse(&b), Err(ParseError::FormErr { .. })));
        let mut b = query(b"\x01a\x00", 1, &[], 0);
        b[2] |= 0x80;
        assert_eq!(parse(&b).unwrap_err(), ParseError::Drop);
        assert_eq!(parse(&b[..5]).unwrap_err(), ParseError::Drop);
        let mut b = query(b"\x01a\x00", 1, &[], 0);
        b[2] = 0x28; // opcode 5 (UPDATE)
        assert_eq!(parse(&b).unwrap_err(), ParseError::NotImp);
        // an option that runs past the OPT RDATA
        let bad_opt = [0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 4, 0, 8, 0, 9];
        let b = query(b"\x01a\x00", 1, &bad_opt, 1);
        assert!(matches!(parse(&b), Err(ParseError::FormErr { .. })));
    }
}
