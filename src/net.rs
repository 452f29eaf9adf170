//! Networks and hashing: the leaf every layer may use. IP prefixes and masks, the stable hash that
//! makes sticky answers agree across a fleet, and the short codes of continents, countries and
//! subdivisions. No I/O, no DNS, nothing above it.

use std::fmt;
use std::net::IpAddr;

/// Bits of an address family.
#[inline]
pub fn family_bits(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// An address as 128 bits, IPv4 in the top 32 (so prefix arithmetic is the same for both).
#[inline]
fn bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u128::from(u32::from(v)) << 96,
        IpAddr::V6(v) => u128::from(v),
    }
}

/// Number of leading bits two addresses of the same family share.
#[inline]
pub fn common_prefix(a: IpAddr, b: IpAddr) -> u8 {
    // at most 128, so the narrowing cannot lose anything
    let x = u8::try_from((bits(a) ^ bits(b)).leading_zeros()).unwrap_or(128);
    x.min(family_bits(a))
}

/// `a` with every bit after `len` cleared.
#[inline]
pub fn mask(a: IpAddr, len: u8) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let m = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            IpAddr::V4((u32::from(v) & m).into())
        }
        IpAddr::V6(v) => {
            let m = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            IpAddr::V6((u128::from(v) & m).into())
        }
    }
}

/// An IP network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    pub addr: IpAddr,
    pub len: u8,
}

impl Net {
    /// Parses `addr/len` (a bare address is a host network). Host bits must be zero.
    pub fn parse(s: &str) -> Result<Net, String> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("'{s}' is not an IP network"))?;
        let max = family_bits(addr);
        let len = match l {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|&l| l <= max)
                .ok_or_else(|| format!("'{s}': the prefix length must be 0–{max}"))?,
        };
        if mask(addr, len) != addr {
            return Err(format!(
                "'{s}' has bits set after the prefix (did you mean {}/{len}?)",
                mask(addr, len)
            ));
        }
        Ok(Net { addr, len })
    }

    /// Whether `a` is inside the network.
    #[inline]
    pub fn contains(&self, a: IpAddr) -> bool {
        a.is_ipv4() == self.addr.is_ipv4() && common_prefix(a, self.addr) >= self.len
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// A stable 64-bit hash (FNV-1a folded through a SplitMix64 finaliser): the same on every node,
/// every build and every run, which is what makes sticky answers agree across a fleet. Its values
/// are pinned by a test; changing it reshuffles every sticky answer.
pub fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    mix(h)
}

/// SplitMix64's finaliser: spreads every input bit over the output.
#[inline]
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Continent codes as GeoIP databases write them.
pub const CONTINENTS: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];

/// A short ASCII code (continent `EU`, country `DE`, subdivision `US-CA`) stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Code {
    len: u8,
    bytes: [u8; 7],
}

impl Code {
    /// An upper-cased code, if it is 1–7 ASCII alphanumerics or dashes.
    pub fn new(s: &str) -> Option<Code> {
        let b = s.as_bytes();
        if b.is_empty() || b.len() > 7 || !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        {
            return None;
        }
        let mut bytes = [0u8; 7];
        for (slot, c) in bytes.iter_mut().zip(b) {
            *slot = c.to_ascii_uppercase();
        }
        Some(Code {
            len: u8::try_from(b.len()).ok()?,
            bytes,
        })
    }

    /// `CC-SUB` from a country and a subdivision code, without allocating.
    pub fn subdivision(country: Code, sub: &str) -> Option<Code> {
        let mut buf = [0u8; 7];
        let cc = country.as_str().as_bytes();
        let n = cc.len() + 1 + sub.len();
        let out = buf.get_mut(..n)?;
        let (head, tail) = out.split_at_mut(cc.len());
        head.copy_from_slice(cc);
        let (dash, rest) = tail.split_first_mut()?;
        *dash = b'-';
        rest.copy_from_slice(sub.as_bytes());
        Code::new(std::str::from_utf8(out).ok()?)
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        self.bytes
            .get(..usize::from(self.len))
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let n = Net::parse("10.0.0.0/8").unwrap();
        assert!(n.contains("10.200.1.1".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        assert!(!n.contains("::a00:1".parse().unwrap()));
        assert!(
            Net::parse("10.0.0.1/8")
                .unwrap_err()
                .contains("did you mean 10.0.0.0/8")
        );
        assert!(Net::parse("10.0.0.0/33").is_err());
        let v6 = Net::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert_eq!(
            common_prefix("10.1.0.0".parse().unwrap(), "10.2.3.4".parse().unwrap()),
            14
        );
        assert_eq!(
            mask("192.0.2.77".parse().unwrap(), 24).to_string(),
            "192.0.2.0"
        );
        assert_eq!(
            mask("192.0.2.77".parse().unwrap(), 0).to_string(),
            "0.0.0.0"
        );
        assert_eq!(
            mask("2001:db8::1".parse().unwrap(), 128).to_string(),
            "2001:db8::1"
        );
        assert_eq!(Net::parse("0.0.0.0/0").unwrap().len, 0);
    }

    #[test]
    fn stable_hash_is_pinned() {
        // literal values: a change of the hash would reshuffle every sticky answer of a fleet, so
        // it must be a deliberate, visible change of this test
        assert_eq!(
            stable_hash(&[b"example.com.", b"web"]),
            0xa263_27c7_9ecb_18ff
        );
        assert_eq!(stable_hash(&[&[192, 0, 2, 0]]), 0x03ce_1a82_6fc3_64e7);
        assert_eq!(stable_hash(&[]), 0xf52a_15e9_a9b5_e89b);
        assert_eq!(mix(1), 0x5692_161d_100b_05e5);
        assert_ne!(stable_hash(&[b"a", b"b"]), stable_hash(&[b"ab"]));
    }

    #[test]
    fn codes() {
        assert_eq!(Code::new("de").unwrap().as_str(), "DE");
        assert!(Code::new("").is_none());
        assert!(Code::new("TOOLONGX").is_none());
        let us = Code::new("US").unwrap();
        assert_eq!(Code::subdivision(us, "CA").unwrap().as_str(), "US-CA");
        assert!(Code::subdivision(us, "CALIF").is_none());
    }
}
