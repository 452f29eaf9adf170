//! Response headers and the replies that carry no records: FORMERR, NOTIMP, REFUSED, BADVERS.

use crate::wire::encode::{Opt, Writer};

/// Header flags of a response: QR, the query's OPCODE, AA, RD and CD copied, and the RCODE's low
/// four bits (`q_hi`, `q_lo`: bytes 2 and 3 of the query's header).
pub fn flags(q_hi: u8, q_lo: u8, aa: bool, rcode: u16) -> u16 {
    let hi = 0x80 | (q_hi & 0x78) | if aa { 0x04 } else { 0 } | (q_hi & 0x01);
    let lo = (q_lo & 0x10) | u8::try_from(rcode & 0x0f).unwrap_or(0);
    u16::from_be_bytes([hi, lo])
}

/// Writes a response carrying only a header, the question (`packet[12..question_end]`, when it
/// could be parsed) and an OPT record advertising `payload` (when the query had one). A packet
/// shorter than a header gets no reply: returns false.
pub fn error(
    packet: &[u8],
    question_end: Option<usize>,
    edns: bool,
    rcode: u16,
    payload: u16,
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
    let w = Writer::new(out, id, flags, question, usize::MAX);
    let opt = edns.then_some(Opt {
        payload,
        rcode,
        dnssec_ok: false,
        ecs: None,
        nsid: None,
    });
    w.finish(opt.as_ref());
    true
}
