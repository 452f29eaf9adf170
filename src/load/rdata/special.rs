//! The types whose data has a shape of its own (LOC, APL, WKS, IPSECKEY, HIP), the RFC 3597
//! generic form, and the types hickory-proto reads for us.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
use hickory_proto::serialize::txt::Parser;

use super::fields::{base64, fields, hex, int};
use super::{F, Tok};
use crate::wire::name::{parse as parse_name, to_text};

use F::*;

/// LOC (RFC 1876 §3).
pub(super) fn loc(toks: &[Tok<'_>], out: &mut Vec<u8>) -> Result<(), String> {
    let bad = || {
        "LOC data must be: d [m [s]] N|S d [m [s]] E|W alt[m] [size[m] [hp[m] [vp[m]]]]".to_string()
    };
    let mut i = 0;
    let mut coord = |pos: char, neg: char, max: f64| -> Result<u32, String> {
        let mut parts = [0f64; 3];
        let mut n = 0;
        loop {
            let t = toks.get(i).ok_or_else(bad)?;
            i += 1;
            let up = t.text.to_ascii_uppercase();
            if up.len() == 1 && (up.starts_with(pos) || up.starts_with(neg)) {
                if n == 0 {
                    return Err(bad());
                }
                let secs = parts[0] * 3600.0 + parts[1] * 60.0 + parts[2];
                if parts[0] > max || parts[1] >= 60.0 || parts[2] >= 60.0 {
                    return Err(bad());
                }
                let thousandths = (secs * 1000.0).round() as i64;
                let v = if up.starts_with(pos) {
                    (1i64 << 31) + thousandths
                } else {
                    (1i64 << 31) - thousandths
                };
                return u32::try_from(v).map_err(|_| bad());
            }
            if n == 3 {
                return Err(bad());
            }
            parts[n] = t.text.parse::<f64>().map_err(|_| bad())?;
            n += 1;
        }
    };
    let lat = coord('N', 'S', 90.0)?;
    let lon = coord('E', 'W', 180.0)?;
    let metres = |t: &Tok<'_>| -> Result<f64, String> {
        t.text
            .trim_end_matches(['m', 'M'])
            .parse::<f64>()
            .map_err(|_| bad())
    };
    let alt = metres(toks.get(i).ok_or_else(bad)?)?;
    let alt = u32::try_from(((alt * 100.0).round() as i64) + 10_000_000).map_err(|_| bad())?;
    // size, horizontal and vertical precision as mantissa/exponent of centimetres
    let prec = |m: f64| -> Result<u8, String> {
        let mut cm = (m * 100.0).round() as u64;
        let mut e = 0u8;
        while cm >= 10 {
            cm /= 10;
            e += 1;
        }
        if e > 9 {
            return Err(bad());
        }
        Ok((u8::try_from(cm).unwrap_or(9) << 4) | e)
    };
    let mut p = [prec(1.0)?, prec(10_000.0)?, prec(10.0)?];
    for (k, t) in toks.get(i + 1..).unwrap_or_default().iter().enumerate() {
        let slot = p.get_mut(k).ok_or_else(bad)?;
        *slot = prec(metres(t)?)?;
    }
    out.push(0);
    out.extend_from_slice(&p);
    out.extend_from_slice(&lat.to_be_bytes());
    out.extend_from_slice(&lon.to_be_bytes());
    out.extend_from_slice(&alt.to_be_bytes());
    Ok(())
}

/// APL (RFC 3123): `[!]afi:address/prefix` items.
pub(super) fn apl(toks: &[Tok<'_>], out: &mut Vec<u8>) -> Result<(), String> {
    for t in toks {
        let bad = || {
            format!(
                "'{}' is not an APL item ([!]1:192.0.2.0/24 or [!]2:2001:db8::/32)",
                t.text
            )
        };
        let (neg, rest) = match t.text.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, t.text),
        };
        let (afi, rest) = rest.split_once(':').ok_or_else(bad)?;
        let (addr, len) = rest.split_once('/').ok_or_else(bad)?;
        let len: u8 = len.parse().map_err(|_| bad())?;
        let mut bytes = match afi {
            "1" if len <= 32 => addr
                .parse::<Ipv4Addr>()
                .map_err(|_| bad())?
                .octets()
                .to_vec(),
            "2" if len <= 128 => addr
                .parse::<Ipv6Addr>()
                .map_err(|_| bad())?
                .octets()
                .to_vec(),
            _ => return Err(bad()),
        };
        while bytes.last() == Some(&0) {
            bytes.pop();
        }
        out.extend_from_slice(&afi.parse::<u16>().map_err(|_| bad())?.to_be_bytes());
        out.push(len);
        out.push(u8::try_from(bytes.len()).unwrap_or(0) | if neg { 0x80 } else { 0 });
        out.extend_from_slice(&bytes);
    }
    Ok(())
}

/// WKS (RFC 1035 §3.4.2): address, protocol, services by number or well-known name.
pub(super) fn wks(toks: &[Tok<'_>], out: &mut Vec<u8>) -> Result<(), String> {
    let mut names = Vec::new();
    fields(
        &[A],
        toks.get(..1).unwrap_or_default(),
        &[0],
        out,
        &mut names,
    )?;
    let proto = toks.get(1).ok_or("missing the protocol")?;
    out.push(match proto.text.to_ascii_lowercase().as_str() {
        "tcp" => 6,
        "udp" => 17,
        other => other
            .parse()
            .map_err(|_| format!("unknown protocol '{other}'"))?,
    });
    const SERVICES: &[(&str, u16)] = &[
        ("ftp", 21),
        ("ssh", 22),
        ("telnet", 23),
        ("smtp", 25),
        ("domain", 53),
        ("http", 80),
        ("pop3", 110),
        ("ntp", 123),
        ("imap", 143),
        ("snmp", 161),
        ("ldap", 389),
        ("https", 443),
        ("submission", 587),
        ("imaps", 993),
        ("pop3s", 995),
    ];
    let mut bits: Vec<u8> = Vec::new();
    for t in toks.get(2..).unwrap_or_default() {
        let lc = t.text.to_ascii_lowercase();
        let port = match lc.parse::<u16>() {
            Ok(p) => p,
            Err(_) => SERVICES
                .iter()
                .find(|(n, _)| *n == lc)
                .map(|&(_, p)| p)
                .ok_or_else(|| format!("unknown service '{}' (use its port number)", t.text))?,
        };
        let byte = usize::from(port / 8);
        if bits.len() <= byte {
            bits.resize(byte + 1, 0);
        }
        if let Some(b) = bits.get_mut(byte) {
            *b |= 0x80 >> (port % 8);
        }
    }
    out.extend(bits);
    Ok(())
}

/// IPSECKEY (RFC 4025): precedence, gateway type, algorithm, gateway, public key.
pub(super) fn ipseckey(toks: &[Tok<'_>], origin: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let mut names = Vec::new();
    fields(
        &[U8, U8, U8],
        toks.get(..3).unwrap_or(toks),
        origin,
        out,
        &mut names,
    )?;
    let gw_type = out.get(1).copied().unwrap_or(0);
    let gw = toks.get(3).ok_or("missing the gateway")?;
    match gw_type {
        0 if gw.text == "." => {}
        1 => fields(&[A], &[*gw], origin, out, &mut names)?,
        2 => fields(&[Aaaa], &[*gw], origin, out, &mut names)?,
        3 => out.extend(parse_name(gw.text, Some(origin))?),
        _ => {
            return Err(format!(
                "gateway '{}' does not fit gateway type {gw_type}",
                gw.text
            ));
        }
    }
    let key: String = toks
        .get(4..)
        .unwrap_or_default()
        .iter()
        .map(|t| t.text)
        .collect();
    if !key.is_empty() {
        out.extend(base64(&key)?);
    }
    Ok(())
}

/// HIP (RFC 8005): algorithm, HIT (hex), public key (base64), rendezvous servers.
pub(super) fn hip(toks: &[Tok<'_>], origin: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let alg: u8 = int(toks.first().ok_or("missing the algorithm")?, "8-bit number")?;
    let hit = hex(toks.get(1).ok_or("missing the HIT")?.text)?;
    let pk = base64(toks.get(2).ok_or("missing the public key")?.text)?;
    out.push(u8::try_from(hit.len()).map_err(|_| "the HIT is too long")?);
    out.push(alg);
    out.extend_from_slice(
        &u16::try_from(pk.len())
            .map_err(|_| "the key is too long")?
            .to_be_bytes(),
    );
    out.extend(hit);
    out.extend(pk);
    for t in toks.get(3..).unwrap_or_default() {
        out.extend(parse_name(t.text, Some(origin))?);
    }
    Ok(())
}

/// The RFC 3597 generic form: `\# length hex…`.
pub(super) fn generic(toks: &[Tok<'_>]) -> Result<Vec<u8>, String> {
    let len: usize = toks
        .get(1)
        .and_then(|t| t.text.parse().ok())
        .ok_or("\\# must be followed by the data length")?;
    let data: String = toks
        .get(2..)
        .unwrap_or_default()
        .iter()
        .map(|t| t.text)
        .collect();
    let bytes = if data.is_empty() {
        Vec::new()
    } else {
        hex(&data)?
    };
    if bytes.len() != len {
        return Err(format!(
            "\\# says {len} bytes but the data has {}",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// Types hickory-proto reads for us: its parser, then its encoder.
pub(super) fn with_hickory(t: u16, toks: &[Tok<'_>], origin: &[u8]) -> Result<Vec<u8>, String> {
    let mut text = String::new();
    for tok in toks {
        if !text.is_empty() {
            text.push(' ');
        }
        if tok.quoted {
            text.push('"');
            text.push_str(tok.text);
            text.push('"');
        } else {
            text.push_str(tok.text);
        }
    }
    let rt = RecordType::from(t);
    let origin = Name::from_ascii(to_text(origin)).map_err(|e| e.to_string())?;
    let zone = format!("@ 0 IN {rt} {text}\n");
    let parsed = Parser::new(zone, None, Some(origin))
        .parse()
        .map_err(|e| e.to_string().lines().next().unwrap_or("").to_string())?;
    let rdata = parsed
        .1
        .into_values()
        .flat_map(|set| set.records_without_rrsigs().cloned().collect::<Vec<_>>())
        .map(|r| r.data)
        .next()
        .ok_or("no data")?;
    let mut buf = Vec::new();
    let mut enc = BinEncoder::new(&mut buf);
    enc.set_name_encoding(NameEncoding::Uncompressed);
    rdata.emit(&mut enc).map_err(|e| e.to_string())?;
    Ok(buf)
}
