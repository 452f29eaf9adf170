//! RDATA from zone-file text to wire format, for every record type NSD reads.
//!
//! Most types are a list of fields of a few kinds (names, integers, character strings, base64,
//! hex, type bitmaps), so each type is a row of [`TYPES`] and one encoder serves them all, the way
//! NSD's own parser does. LOC, APL, WKS, IPSECKEY and HIP have shapes of their own and get a
//! function each; CAA, CERT, SVCB and HTTPS go through hickory-proto's parser, which knows them
//! well. Any type, known or not, may be written in the RFC 3597 generic form (`\# 4 0a000001`),
//! and `TYPEnnn` names any type by number.
//!
//! Why not hickory-proto alone: without its DNSSEC feature it refuses DS, DNSKEY, CDS, CDNSKEY,
//! NSEC, NSEC3 and NSEC3PARAM ("should be dynamically generated"); with it (and `ring`, which
//! compiles C and assembly) it reads DS only; and it does not know SPF, LOC, RP, URI, ZONEMD or the
//! RFC 3597 form at all. Names are ours too, so escapes (`\.`, `\032`) and `@` work everywhere.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
use hickory_proto::serialize::txt::Parser;

use crate::wire::name::{lowercased as lower, parse as parse_name, to_text, unescape, wire_len};
use crate::wire::{Layout, rtype};

/// One token of a record's data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tok<'a> {
    pub text: &'a str,
    pub quoted: bool,
}

/// A record's data in wire format.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    /// Uncompressed; names in the RFC 1035 types that compress are lower-cased, so the query path
    /// can follow them without case folding.
    pub rdata: Box<[u8]>,
    /// The lower-case name additional-section processing follows (NS, MX, SRV).
    pub target: Option<Vec<u8>>,
}

/// The kinds of field a record's data is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum F {
    /// A domain name.
    Name,
    U8,
    U16,
    U32,
    /// A 32-bit number of seconds, with units allowed (`1h30m`).
    Period,
    /// An RRSIG time: `YYYYMMDDHHmmSS` or seconds.
    Time,
    /// One character string.
    Str,
    /// One optional character string (ISDN's subaddress).
    OptStr,
    /// Every remaining token as a character string (TXT).
    Strs,
    /// Every remaining token, concatenated, as hex.
    Hex,
    /// One hex token, `-` for empty, preceded by its length (NSEC3 salt).
    HexLen,
    /// One base32hex token preceded by its length (NSEC3 next hashed owner).
    B32Len,
    /// Every remaining token, concatenated, as base64.
    B64,
    /// Every remaining token a type: the NSEC type bitmap.
    Types,
    A,
    Aaaa,
    /// A DNSSEC algorithm: a number or its mnemonic.
    Alg,
    /// A record type mnemonic (RRSIG's type covered).
    RType,
    Eui48,
    Eui64,
    /// Four groups of 16-bit hex separated by colons (NID, L64).
    Ilnp64,
    /// One string written without a length byte: the rest of the RDATA (URI's target).
    Raw,
    /// `0x` followed by hex, dots allowed (NSAP).
    Nsap,
}

use F::*;

/// How a type's data is read.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Fields(&'static [F]),
    /// A function of its own.
    Special,
    /// hickory-proto's parser.
    Hickory,
    /// Only the RFC 3597 generic form.
    GenericOnly,
}

/// Every type we read: mnemonic, number, shape. NSD's list, less the obsolete ones it refuses too.
const TYPES: &[(&str, u16, Shape)] = &[
    ("A", 1, Shape::Fields(&[A])),
    ("NS", 2, Shape::Fields(&[Name])),
    ("MD", 3, Shape::Fields(&[Name])),
    ("MF", 4, Shape::Fields(&[Name])),
    ("CNAME", 5, Shape::Fields(&[Name])),
    (
        "SOA",
        6,
        Shape::Fields(&[Name, Name, U32, Period, Period, Period, Period]),
    ),
    ("MB", 7, Shape::Fields(&[Name])),
    ("MG", 8, Shape::Fields(&[Name])),
    ("MR", 9, Shape::Fields(&[Name])),
    ("NULL", 10, Shape::GenericOnly),
    ("WKS", 11, Shape::Special),
    ("PTR", 12, Shape::Fields(&[Name])),
    ("HINFO", 13, Shape::Fields(&[Str, Str])),
    ("MINFO", 14, Shape::Fields(&[Name, Name])),
    ("MX", 15, Shape::Fields(&[U16, Name])),
    ("TXT", 16, Shape::Fields(&[Strs])),
    ("RP", 17, Shape::Fields(&[Name, Name])),
    ("AFSDB", 18, Shape::Fields(&[U16, Name])),
    ("X25", 19, Shape::Fields(&[Str])),
    ("ISDN", 20, Shape::Fields(&[Str, OptStr])),
    ("RT", 21, Shape::Fields(&[U16, Name])),
    ("NSAP", 22, Shape::Fields(&[Nsap])),
    ("NSAP-PTR", 23, Shape::Fields(&[Name])),
    (
        "SIG",
        24,
        Shape::Fields(&[RType, Alg, U8, Period, Time, Time, U16, Name, B64]),
    ),
    ("KEY", 25, Shape::Fields(&[U16, U8, Alg, B64])),
    ("PX", 26, Shape::Fields(&[U16, Name, Name])),
    ("GPOS", 27, Shape::Fields(&[Str, Str, Str])),
    ("AAAA", 28, Shape::Fields(&[Aaaa])),
    ("LOC", 29, Shape::Special),
    ("SRV", 33, Shape::Fields(&[U16, U16, U16, Name])),
    ("NAPTR", 35, Shape::Fields(&[U16, U16, Str, Str, Str, Name])),
    ("KX", 36, Shape::Fields(&[U16, Name])),
    ("CERT", 37, Shape::Hickory),
    ("DNAME", 39, Shape::Fields(&[Name])),
    ("APL", 42, Shape::Special),
    ("DS", 43, Shape::Fields(&[U16, Alg, U8, Hex])),
    ("SSHFP", 44, Shape::Fields(&[U8, U8, Hex])),
    ("IPSECKEY", 45, Shape::Special),
    (
        "RRSIG",
        46,
        Shape::Fields(&[RType, Alg, U8, Period, Time, Time, U16, Name, B64]),
    ),
    ("NSEC", 47, Shape::Fields(&[Name, Types])),
    ("DNSKEY", 48, Shape::Fields(&[U16, U8, Alg, B64])),
    ("DHCID", 49, Shape::Fields(&[B64])),
    (
        "NSEC3",
        50,
        Shape::Fields(&[U8, U8, U16, HexLen, B32Len, Types]),
    ),
    ("NSEC3PARAM", 51, Shape::Fields(&[U8, U8, U16, HexLen])),
    ("TLSA", 52, Shape::Fields(&[U8, U8, U8, Hex])),
    ("SMIMEA", 53, Shape::Fields(&[U8, U8, U8, Hex])),
    ("HIP", 55, Shape::Special),
    ("NINFO", 56, Shape::Fields(&[Strs])),
    ("RKEY", 57, Shape::Fields(&[U16, U8, Alg, B64])),
    ("TALINK", 58, Shape::Fields(&[Name, Name])),
    ("CDS", 59, Shape::Fields(&[U16, Alg, U8, Hex])),
    ("CDNSKEY", 60, Shape::Fields(&[U16, U8, Alg, B64])),
    ("OPENPGPKEY", 61, Shape::Fields(&[B64])),
    ("CSYNC", 62, Shape::Fields(&[U32, U16, Types])),
    ("ZONEMD", 63, Shape::Fields(&[U32, U8, U8, Hex])),
    ("SVCB", 64, Shape::Hickory),
    ("HTTPS", 65, Shape::Hickory),
    ("SPF", 99, Shape::Fields(&[Strs])),
    ("NID", 104, Shape::Fields(&[U16, Ilnp64])),
    ("L32", 105, Shape::Fields(&[U16, A])),
    ("L64", 106, Shape::Fields(&[U16, Ilnp64])),
    ("LP", 107, Shape::Fields(&[U16, Name])),
    ("EUI48", 108, Shape::Fields(&[Eui48])),
    ("EUI64", 109, Shape::Fields(&[Eui64])),
    ("URI", 256, Shape::Fields(&[U16, U16, Raw])),
    ("CAA", 257, Shape::Hickory),
    ("AVC", 258, Shape::Fields(&[Strs])),
    ("RESINFO", 261, Shape::Fields(&[Strs])),
    ("WALLET", 262, Shape::Fields(&[Strs])),
    ("TA", 32768, Shape::Fields(&[U16, Alg, U8, Hex])),
    ("DLV", 32769, Shape::Fields(&[U16, Alg, U8, Hex])),
];

/// Types that are never zone data.
const META: &[(&str, u16)] = &[
    ("OPT", 41),
    ("TKEY", 249),
    ("TSIG", 250),
    ("IXFR", 251),
    ("AXFR", 252),
    ("MAILB", 253),
    ("MAILA", 254),
    ("ANY", 255),
];

/// The number of a type mnemonic (any case) or of `TYPEnnn`.
pub(crate) fn type_code(s: &str) -> Option<u16> {
    let up = s.to_ascii_uppercase();
    if let Some(n) = up.strip_prefix("TYPE")
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
    {
        return n.parse().ok();
    }
    TYPES
        .iter()
        .map(|&(n, c, _)| (n, c))
        .chain(META.iter().copied())
        .find(|(n, _)| *n == up)
        .map(|(_, c)| c)
}

/// A type's mnemonic, or `TYPEnnn`.
pub(crate) fn type_name(t: u16) -> String {
    TYPES
        .iter()
        .map(|&(n, c, _)| (n, c))
        .chain(META.iter().copied())
        .find(|(_, c)| *c == t)
        .map_or_else(|| format!("TYPE{t}"), |(n, _)| n.to_string())
}

/// Lower-cases `names` consecutive wire names starting at `p`.
fn lowercase_names(buf: &mut [u8], mut p: usize, names: usize) {
    for _ in 0..names {
        while let Some(&l) = buf.get(p) {
            if l == 0 {
                break;
            }
            let end = (p + 1 + usize::from(l)).min(buf.len());
            if let Some(label) = buf.get_mut(p + 1..end) {
                label.make_ascii_lowercase();
            }
            p += usize::from(l) + 1;
        }
        p += 1;
    }
}

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

fn int<T: TryFrom<u64>>(t: &Tok<'_>, what: &str) -> Result<T, String> {
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
    let (y, mo, d, h, mi, se) = (
        n(0, 4)?,
        n(4, 6)?,
        n(6, 8)?,
        n(8, 10)?,
        n(10, 12)?,
        n(12, 14)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // days from the civil date (Howard Hinnant's algorithm)
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se;
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

fn hex(s: &str) -> Result<Vec<u8>, String> {
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(s.as_bytes())
        .map_err(|_| format!("'{s}' is not hexadecimal"))
}

fn base64(s: &str) -> Result<Vec<u8>, String> {
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
fn fields(
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

/// LOC (RFC 1876 §3).
fn loc(toks: &[Tok<'_>], out: &mut Vec<u8>) -> Result<(), String> {
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
fn apl(toks: &[Tok<'_>], out: &mut Vec<u8>) -> Result<(), String> {
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
fn wks(toks: &[Tok<'_>], out: &mut Vec<u8>) -> Result<(), String> {
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
fn ipseckey(toks: &[Tok<'_>], origin: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
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
fn hip(toks: &[Tok<'_>], origin: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
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
fn generic(toks: &[Tok<'_>]) -> Result<Vec<u8>, String> {
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
fn with_hickory(t: u16, toks: &[Tok<'_>], origin: &[u8]) -> Result<Vec<u8>, String> {
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

/// Reads a record's data of type `t` from its tokens, names relative to `origin` (wire format).
pub(crate) fn parse(t: u16, toks: &[Tok<'_>], origin: &[u8]) -> Result<Parsed, String> {
    let name = type_name(t);
    let shown: Vec<String> = toks
        .iter()
        .map(|t| {
            if t.quoted {
                format!("\"{}\"", t.text)
            } else {
                t.text.to_string()
            }
        })
        .collect();
    let mut shown = shown.join(" ");
    if shown.len() > 80 {
        // long base64 keys: the start is enough to find the record
        let cut = (0..=77)
            .rev()
            .find(|&i| shown.is_char_boundary(i))
            .unwrap_or(0);
        shown.truncate(cut);
        shown.push('…');
    }
    let fail = |m: String| format!("bad {name} data '{shown}': {m}");
    if toks.is_empty() {
        return Err(format!("{name} record has no data"));
    }
    if let Some(&(_, c)) = META.iter().find(|(_, c)| *c == t) {
        return Err(format!(
            "{} is not a record type that can be in a zone",
            type_name(c)
        ));
    }
    let shape = TYPES.iter().find(|(_, c, _)| *c == t).map(|&(_, _, s)| s);
    let mut names = Vec::new();
    let mut out = Vec::new();
    if toks.first().is_some_and(|f| f.text == "\\#" && !f.quoted) {
        out = generic(toks).map_err(fail)?;
        // the generic form of a type whose data holds names must still hold valid names
        let (mut p, count) = Layout::for_type(t).names();
        for _ in 0..count {
            let n = out
                .get(p..)
                .and_then(wire_len)
                .ok_or_else(|| fail("the data does not hold a valid name".into()))?;
            names.push((p, out.get(p..p + n).unwrap_or_default().to_vec()));
            p += n;
        }
        // types of a fixed size: A, AAAA, L32 (6), EUI48 (6), NID and L64 (10), EUI64 (8)
        let fixed = match t {
            rtype::A => Some(4),
            rtype::AAAA => Some(16),
            105 | 108 => Some(6),
            104 | 106 => Some(10),
            109 => Some(8),
            _ => None,
        };
        if let Some(n) = fixed
            && out.len() != n
        {
            return Err(fail(format!("{name} data is {n} bytes, not {}", out.len())));
        }
        if t == rtype::SOA && out.len() != p + 20 {
            return Err(fail("SOA data must end with five 32-bit numbers".into()));
        }
    } else {
        match shape {
            Some(Shape::Fields(fs)) => {
                fields(fs, toks, origin, &mut out, &mut names).map_err(fail)?
            }
            Some(Shape::Special) => match t {
                29 => loc(toks, &mut out),
                42 => apl(toks, &mut out),
                11 => wks(toks, &mut out),
                45 => ipseckey(toks, origin, &mut out),
                _ => hip(toks, origin, &mut out),
            }
            .map_err(fail)?,
            Some(Shape::Hickory) => out = with_hickory(t, toks, origin).map_err(fail)?,
            Some(Shape::GenericOnly) | None => {
                return Err(format!(
                    "unknown record type '{name}' (write its data in the RFC 3597 form: \\# length hex)"
                ));
            }
        }
    }
    let (at, count) = Layout::for_type(t).names();
    lowercase_names(&mut out, at, count);
    let target = match t {
        rtype::NS | rtype::MX | rtype::SRV => names.last().map(|(_, n)| lower(n)),
        _ => None,
    };
    if out.len() > usize::from(u16::MAX) {
        return Err(fail("longer than 65535 bytes".into()));
    }
    Ok(Parsed {
        rdata: out.into_boxed_slice(),
        target,
    })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok<'_>> {
        s.split_whitespace()
            .map(|text| Tok {
                text,
                quoted: false,
            })
            .collect()
    }

    const ORIGIN: &[u8] = b"\x07example\x00";

    #[test]
    fn dnssec_and_other_types() {
        let ds = parse(
            43,
            &toks("60485 RSASHA1 1 2BB183AF5F22588179A53B0A98631FAD1A292118"),
            ORIGIN,
        )
        .unwrap();
        assert_eq!(ds.rdata.len(), 4 + 20);
        assert_eq!(&ds.rdata[..4], &[0xec, 0x45, 5, 1]);
        let nsec = parse(47, &toks("host.example. A MX RRSIG NSEC TYPE1234"), ORIGIN).unwrap();
        let mut want = vec![0, 6, 0x40, 0x01, 0, 0, 0, 0x03, 4, 27];
        want.extend([0; 26]);
        want.push(0x20);
        assert_eq!(&nsec.rdata[14..], &want[..]);
        let loc = parse(
            29,
            &toks("52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m"),
            ORIGIN,
        )
        .unwrap();
        assert_eq!(loc.rdata.len(), 16);
        assert_eq!(type_code("type65280"), Some(65280));
        assert_eq!(type_code("spf"), Some(99));
        let g = parse(65280, &toks("\\# 4 0a000001"), ORIGIN).unwrap();
        assert_eq!(&g.rdata[..], &[10, 0, 0, 1]);
        assert!(parse(1, &toks("\\# 3 0a0000"), ORIGIN).is_err());
        assert!(
            parse(65280, &toks("1 2 3"), ORIGIN)
                .unwrap_err()
                .contains("RFC 3597")
        );
    }
}
