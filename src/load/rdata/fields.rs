//! Reading the fields of a record's data: names, numbers, periods and times, character strings,
//! hex, base64 and base32hex, type bitmaps, addresses, algorithms; and the reader that walks a
//! type's row of [`super::TYPES`].

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{F, Tok, type_code};
use crate::wire::name::{parse as parse_name, unescape};

use F::*;

/// One character string: the token's bytes with escapes resolved, at most 255 of them.
fn char_string(t: &Tok<'_>) -> Result<Vec<u8>, String> {
    let b = t.text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let (c, used) = unescape(b, i).map_err(|why| format!("'{}': {why}", t.text))?;
        out.push(c);
        i += used;
    }
    if out.len() > 255 {
        return Err(format!(
            "a character string is longer than 255 bytes ({}); split it into several",
            out.len()
        ));
    }
    Ok(out)
}

fn push_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(u8::try_from(s.len()).unwrap_or(255));
    out.extend_from_slice(s);
}

pub(super) fn int<T: TryFrom<u64>>(t: &Tok<'_>, what: &str) -> Result<T, String> {
    t.text
        .parse::<u64>()
        .ok()
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| format!("'{}' is not a valid {what}", t.text))
}

/// A TTL-like period: seconds, or units `1w2d3h4m5s` (any case).
pub(crate) fn period(s: &str) -> Option<u32> {
    if let Ok(v) = s.parse::<u32>() {
        return Some(v);
    }
    let mut total: u64 = 0;
    let mut num: Option<u64> = None;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            num = Some(
                num.unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(u64::from(d))?,
            );
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            'w' => 604_800,
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total = total.checked_add(num.take()?.checked_mul(unit)?)?;
    }
    if let Some(n) = num {
        total = total.checked_add(n)?;
    }
    u32::try_from(total).ok()
}

/// An RRSIG time: `YYYYMMDDHHmmSS` (UTC) or a number of seconds.
fn sig_time(s: &str) -> Option<u32> {
    if s.len() != 14 {
        return s.parse().ok();
    }
    let n = |a: usize, b: usize| s.get(a..b)?.parse::<i64>().ok();
    let secs = crate::time::unix_from_civil(
        n(0, 4)?,
        n(4, 6)?,
        n(6, 8)?,
        n(8, 10)?,
        n(10, 12)?,
        n(12, 14)?,
    )?;
    // serial number arithmetic (RFC 4034 §3.1.5): the value modulo 2^32
    Some(u32::try_from(secs.rem_euclid(1 << 32)).unwrap_or(0))
}

fn alg(s: &str) -> Option<u8> {
    if let Ok(v) = s.parse() {
        return Some(v);
    }
    const ALGS: &[(&str, u8)] = &[
        ("RSAMD5", 1),
        ("DH", 2),
        ("DSA", 3),
        ("RSASHA1", 5),
        ("DSA-NSEC3-SHA1", 6),
        ("RSASHA1-NSEC3-SHA1", 7),
        ("RSASHA256", 8),
        ("RSASHA512", 10),
        ("ECC-GOST", 12),
        ("ECDSAP256SHA256", 13),
        ("ECDSAP384SHA384", 14),
        ("ED25519", 15),
        ("ED448", 16),
        ("INDIRECT", 252),
        ("PRIVATEDNS", 253),
        ("PRIVATEOID", 254),
    ];
    let up = s.to_ascii_uppercase();
    ALGS.iter().find(|(n, _)| *n == up).map(|&(_, v)| v)
}

pub(super) fn hex(s: &str) -> Result<Vec<u8>, String> {
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(s.as_bytes())
        .map_err(|_| format!("'{s}' is not hexadecimal"))
}

pub(super) fn base64(s: &str) -> Result<Vec<u8>, String> {
    data_encoding::BASE64
        .decode(s.as_bytes())
        .map_err(|_| "the data is not valid base64".to_string())
}

/// An NSEC-style type bitmap (RFC 4034 §4.1.2).
fn type_bitmap(toks: &[Tok<'_>], out: &mut Vec<u8>) -> Result<(), String> {
    let mut types = Vec::new();
    for t in toks {
        types.push(type_code(t.text).ok_or_else(|| format!("unknown record type '{}'", t.text))?);
    }
    types.sort_unstable();
    types.dedup();
    let mut window: Option<(u8, [u8; 32], usize)> = None;
    let flush = |w: Option<(u8, [u8; 32], usize)>, out: &mut Vec<u8>| {
        if let Some((n, bits, len)) = w {
            out.push(n);
            out.push(u8::try_from(len).unwrap_or(32));
            out.extend_from_slice(bits.get(..len).unwrap_or(&bits));
        }
    };
    for t in types {
        let [hi, lo] = t.to_be_bytes();
        if window.is_some_and(|w| w.0 != hi) {
            flush(window.take(), out);
        }
        let w = window.get_or_insert((hi, [0; 32], 0));
        let byte = usize::from(lo / 8);
        if let Some(b) = w.1.get_mut(byte) {
            *b |= 0x80 >> (lo % 8);
        }
        w.2 = w.2.max(byte + 1);
    }
    flush(window, out);
    Ok(())
}

fn hex_groups(s: &str, groups: usize, sep: char) -> Result<Vec<u8>, String> {
    let parts: Vec<&str> = s.split(sep).collect();
    let width = if sep == '-' { 2 } else { 4 };
    if parts.len() != groups || parts.iter().any(|p| p.len() != width) {
        return Err(format!(
            "'{s}' is not {groups} groups of {width} hex digits"
        ));
    }
    hex(&parts.concat())
}

/// Walks the tokens of a record's data.
struct Cursor<'t, 'a> {
    toks: &'t [Tok<'a>],
    i: usize,
}

impl<'a> Cursor<'_, 'a> {
    fn next(&mut self, what: &str) -> Result<Tok<'a>, String> {
        let t = self
            .toks
            .get(self.i)
            .copied()
            .ok_or_else(|| format!("missing {what}"))?;
        self.i += 1;
        Ok(t)
    }
}

/// Reads `toks` as `fields`, appending the wire form to `out`; the names it reads go to `names`.
pub(super) fn fields(
    fs: &[F],
    toks: &[Tok<'_>],
    origin: &[u8],
    out: &mut Vec<u8>,
    names: &mut Vec<(usize, Vec<u8>)>,
) -> Result<(), String> {
    let mut c = Cursor { toks, i: 0 };
    for f in fs {
        match f {
            Name => {
                let t = c.next("a domain name")?;
                let n = parse_name(t.text, Some(origin))?;
                names.push((out.len(), n.clone()));
                out.extend_from_slice(&n);
            }
            U8 => out.push(int::<u8>(&c.next("a number")?, "8-bit number")?),
            U16 => out.extend_from_slice(
                &int::<u16>(&c.next("a number")?, "16-bit number")?.to_be_bytes(),
            ),
            U32 => out.extend_from_slice(
                &int::<u32>(&c.next("a number")?, "32-bit number")?.to_be_bytes(),
            ),
            Period => {
                let t = c.next("a time value")?;
                let v =
                    period(t.text).ok_or_else(|| format!("'{}' is not a time value", t.text))?;
                out.extend_from_slice(&v.to_be_bytes());
            }
            Time => {
                let t = c.next("a time")?;
                let v = sig_time(t.text)
                    .ok_or_else(|| format!("'{}' is not a time (YYYYMMDDHHmmSS)", t.text))?;
                out.extend_from_slice(&v.to_be_bytes());
            }
            Str => push_string(out, &char_string(&c.next("a character string")?)?),
            OptStr => {
                if let Some(t) = toks.get(c.i) {
                    push_string(out, &char_string(t)?);
                    c.i += 1;
                }
            }
            Strs => {
                let rest = toks.get(c.i..).unwrap_or_default();
                if rest.is_empty() {
                    return Err("missing a character string".into());
                }
                for t in rest {
                    push_string(out, &char_string(t)?);
                }
                c.i = toks.len();
            }
            Hex | B64 => {
                let rest: String = toks
                    .get(c.i..)
                    .unwrap_or_default()
                    .iter()
                    .map(|t| t.text)
                    .collect();
                if rest.is_empty() {
                    return Err("missing data".into());
                }
                out.extend(if *f == Hex {
                    hex(&rest)?
                } else {
                    base64(&rest)?
                });
                c.i = toks.len();
            }
            HexLen => {
                let t = c.next("a salt")?;
                let v = if t.text == "-" {
                    Vec::new()
                } else {
                    hex(t.text)?
                };
                push_string(out, &v);
            }
            B32Len => {
                let t = c.next("a hashed owner name")?;
                let v = data_encoding::BASE32HEX_NOPAD
                    .decode(t.text.to_ascii_uppercase().as_bytes())
                    .map_err(|_| format!("'{}' is not base32hex", t.text))?;
                push_string(out, &v);
            }
            Types => {
                type_bitmap(toks.get(c.i..).unwrap_or_default(), out)?;
                c.i = toks.len();
            }
            A => {
                let t = c.next("an IPv4 address")?;
                let a: Ipv4Addr = t
                    .text
                    .parse()
                    .map_err(|_| format!("'{}' is not an IPv4 address", t.text))?;
                out.extend_from_slice(&a.octets());
            }
            Aaaa => {
                let t = c.next("an IPv6 address")?;
                let a: Ipv6Addr = t
                    .text
                    .parse()
                    .map_err(|_| format!("'{}' is not an IPv6 address", t.text))?;
                out.extend_from_slice(&a.octets());
            }
            Alg => {
                let t = c.next("an algorithm")?;
                out.push(alg(t.text).ok_or_else(|| format!("unknown algorithm '{}'", t.text))?);
            }
            RType => {
                let t = c.next("a record type")?;
                let v =
                    type_code(t.text).ok_or_else(|| format!("unknown record type '{}'", t.text))?;
                out.extend_from_slice(&v.to_be_bytes());
            }
            Eui48 => out.extend(hex_groups(c.next("an EUI-48")?.text, 6, '-')?),
            Eui64 => out.extend(hex_groups(c.next("an EUI-64")?.text, 8, '-')?),
            Ilnp64 => out.extend(hex_groups(c.next("a locator")?.text, 4, ':')?),
            Raw => out.extend(char_string(&c.next("a target")?)?),
            Nsap => {
                let t = c.next("an NSAP address")?;
                let h = t
                    .text
                    .strip_prefix("0x")
                    .or_else(|| t.text.strip_prefix("0X"))
                    .ok_or_else(|| format!("'{}' must start with 0x", t.text))?;
                out.extend(hex(&h.replace('.', ""))?);
            }
        }
    }
    if let Some(extra) = toks.get(c.i) {
        return Err(format!("unexpected '{}' after the data", extra.text));
    }
    Ok(())
}
