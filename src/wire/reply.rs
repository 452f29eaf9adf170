//! Response headers and the replies that carry no records: FORMERR, NOTIMP, REFUSED, BADVERS.

use crate::wire::encode::{Names, Opt, Writer};

/// Header flags of a response: QR, the query's OPCODE, AA, RD and CD copied, and the RCODE's low
/// four bits (`q_hi`, `q_lo`: bytes 2 and 3 of the query's header).
pub fn flags(q_hi: u8, q_lo: u8, aa: bool, rcode: u16) -> u16 {
    let hi = 0x80 | (q_hi & 0x78) | if aa { 0x04 } else { 0 } | (q_hi & 0x01);
    let lo = (q_lo & 0x10) | u8::try_from(rcode & 0x0f).unwrap_or(0);
    u16::from_be_bytes([hi, lo])
}

/// Writes a response carrying only a header, the question (`packet[12..question_end]`, when it
/// could be parsed) and an OPT record advertising `payload` (when the query had one), with the
/// COOKIE option when given. A packet shorter than a header gets no reply: returns false.
pub fn error(
    packet: &[u8],
    question_end: Option<usize>,
    edns: bool,
    rcode: u16,
    payload: u16,
    cookie: Option<&[u8; crate::wire::cookie::REPLY_LEN]>,
    out: &mut Vec<u8>,
) -> bool {
    let (Some(&[id0, id1, q_hi, q_lo]), Some(_)) = (packet.first_chunk::<4>(), packet.get(..12))
    else {
        return false;
    };
    let id = u16::from_be_bytes([id0, id1]);
    let flags = flags(q_hi & !0x04, q_lo, false, rcode);
    // the question: the name, then type and class
    let question = question_end
        .and_then(|end| packet.get(12..end))
        .and_then(|q| Some((q.get(..q.len().checked_sub(4)?)?, q)));
    let mut names = Names::new();
    let w = Writer::new(out, &mut names, id, flags, question, usize::MAX);
    let opt = edns.then_some(Opt {
        payload,
        rcode,
        dnssec_ok: false,
        ecs: None,
        nsid: None,
        cookie,
    });
    w.finish(opt.as_ref());
    true
}

/// TSIG error BADKEY (RFC 8945 §5.2).
pub const BADKEY: u16 = 17;

/// The answer to a query signed with a key this server does not have (RFC 8945 §5.2): NOTAUTH,
/// and an unsigned TSIG record with the query's key name, algorithm, time and original ID, an
/// empty MAC and error BADKEY. `false` when the query's TSIG RDATA is too short to echo.
pub fn badkey(
    packet: &[u8],
    question_end: usize,
    edns: bool,
    tsig: &crate::wire::query::Tsig<'_>,
    payload: u16,
    out: &mut Vec<u8>,
) -> bool {
    // RDATA: algorithm name, time signed (6), fudge (2), MAC size (2), MAC, original ID (2),
    // error (2), other length (2), other data
    let Some(alg_end) = super::query::skip_name(tsig.rdata, 0) else {
        return false;
    };
    let fixed = tsig.rdata.get(alg_end..alg_end + 10);
    let mac_len = tsig
        .rdata
        .get(alg_end + 8..)
        .and_then(|m| m.first_chunk::<2>())
        .map(|m| u16::from_be_bytes(*m) as usize);
    let (Some(fixed), Some(mac_len)) = (fixed, mac_len) else {
        return false;
    };
    let Some(original_id) = tsig
        .rdata
        .get(alg_end + 10 + mac_len..alg_end + 12 + mac_len)
    else {
        return false;
    };
    if !error(
        packet,
        Some(question_end),
        edns,
        crate::wire::rcode::NOTAUTH,
        payload,
        None,
        out,
    ) {
        return false;
    }
    let (Some(alg), Some(time_fudge)) = (tsig.rdata.get(..alg_end), fixed.get(..8)) else {
        return false;
    };
    out.extend_from_slice(tsig.key);
    out.extend_from_slice(&crate::wire::rtype::TSIG.to_be_bytes());
    out.extend_from_slice(&255u16.to_be_bytes()); // class ANY
    out.extend_from_slice(&0u32.to_be_bytes()); // TTL 0
    let rdlen = alg.len() + 8 + 2 + 2 + 2 + 2;
    out.extend_from_slice(&u16::try_from(rdlen).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(alg);
    out.extend_from_slice(time_fudge);
    out.extend_from_slice(&0u16.to_be_bytes()); // MAC size 0: unsigned
    out.extend_from_slice(original_id);
    out.extend_from_slice(&BADKEY.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes()); // no other data
    // one more additional record
    if let Some(ar) = out.get_mut(10..).and_then(|a| a.first_chunk_mut::<2>()) {
        *ar = u16::from_be_bytes(*ar).saturating_add(1).to_be_bytes();
    }
    true
}

/// Turns a response into its slipped form for rate limiting: the header with TC=1 and no
/// records, and the question. `false` when `out` does not hold a whole question.
pub fn slip(out: &mut Vec<u8>) -> bool {
    let Some(end) = super::query::skip_name(out, 12).map(|p| p + 4) else {
        return false;
    };
    if end > out.len() {
        return false;
    }
    out.truncate(end);
    if let Some(f) = out.get_mut(2) {
        *f |= 0x02; // TC
    }
    if let Some(counts) = out.get_mut(6..12) {
        counts.fill(0);
    }
    true
}

/// Turns a response into BADCOOKIE (RFC 7873 §5.2.3) for rate limiting, in place of a slip, when
/// the client sent a cookie: no records, the question, and an OPT record with a fresh server
/// cookie, so a real client retries at once with a cookie that exempts it (`payload`: the size
/// we advertise). `false` when `out` does not hold a whole question.
pub fn badcookie(
    out: &mut Vec<u8>,
    cookie: &[u8; crate::wire::cookie::REPLY_LEN],
    payload: u16,
) -> bool {
    if !slip(out) {
        return false;
    }
    let rcode = crate::wire::cookie::BADCOOKIE;
    if let Some(f) = out.get_mut(2) {
        *f &= !0x06; // neither AA nor TC: nothing was answered, and TCP is not needed
    }
    if let Some(f) = out.get_mut(3) {
        *f = (*f & 0xf0) | u8::try_from(rcode & 0x0f).unwrap_or(0);
    }
    if let Some(ar) = out.get_mut(10..12) {
        ar.copy_from_slice(&1u16.to_be_bytes());
    }
    let opt = Opt {
        payload,
        rcode,
        dnssec_ok: false,
        ecs: None,
        nsid: None,
        cookie: Some(cookie),
    };
    opt.write_to(out);
    true
}
