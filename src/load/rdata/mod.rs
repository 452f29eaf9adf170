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

mod fields;
mod special;

use fields::fields;
pub(crate) use fields::period;
use special::{apl, generic, hip, ipseckey, loc, with_hickory, wks};

use crate::wire::name::{lowercased as lower, wire_len};
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
