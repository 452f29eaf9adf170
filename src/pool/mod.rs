//! Pools: owner names answered by steering, compiled from `zones/<zone>.pools.toml`.
//!
//! The types here are immutable parts of a zone (see [`crate::model::Zone::pools`]); [`load`]
//! parses and validates a pool file into them, [`crate::select`] decides answers from them.

pub mod load;
mod spec;

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use crate::geo::Code;
use crate::model::Rdata;

/// A place where members live.
#[derive(Debug, Clone, PartialEq)]
pub struct Datacenter {
    pub name: String,
    /// Latitude and longitude, for `nearest`.
    pub location: Option<(f64, f64)>,
    /// Kilometres subtracted from the distance to this datacenter: positive pulls traffic in,
    /// negative pushes it away (like Route 53's geoproximity bias).
    pub bias_km: f64,
}

/// What a pool answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// A records from IPv4 members, AAAA from IPv6 members.
    Address,
    /// A CNAME to one of the member names.
    Cname,
}

/// One answer a pool can give.
#[derive(Debug, Clone)]
pub struct Member {
    /// The RDATA: 4 or 16 address bytes, or a lower-case wire-format name.
    pub rdata: Rdata,
    pub weight: f64,
    /// Stable hash of the member's data, the member's identity in rendezvous hashing.
    pub key: u64,
    /// Presentation form, for traces.
    pub text: String,
}

/// The members of one datacenter in one pool, by answer type.
#[derive(Debug, Clone, Default)]
pub struct PoolDc {
    /// Index into the zone's datacenters.
    pub dc: usize,
    pub v4: Vec<Member>,
    pub v6: Vec<Member>,
    pub names: Vec<Member>,
}

/// Which members a query can be answered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
    Name,
}

impl PoolDc {
    /// The members of a family.
    #[inline]
    pub fn members(&self, f: Family) -> &[Member] {
        match f {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
            Family::Name => &self.names,
        }
    }
}

/// One step of a failover list.
#[derive(Debug, Clone, PartialEq)]
pub enum Tier {
    /// A datacenter (index into the pool's `dcs`).
    Dc(usize),
    /// A weighted split between datacenters (index, percentage), sticky per client network.
    Split(Vec<(usize, f64)>),
    /// Every datacenter of the pool, closest to the client first.
    Nearest,
}

/// An ordered failover list. Empty: a geofence (matching clients get NODATA).
pub type Tiers = Vec<Tier>;

/// An IP network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    pub addr: IpAddr,
    pub len: u8,
}

fn bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u128::from(u32::from(v)) << 96,
        IpAddr::V6(v) => u128::from(v),
    }
}

/// Number of leading bits two addresses of the same family share.
pub fn common_prefix(a: IpAddr, b: IpAddr) -> u8 {
    let x = (bits(a) ^ bits(b)).leading_zeros() as u8;
    x.min(crate::geo::family_bits(a))
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
        let max = crate::geo::family_bits(addr);
        let len = match l {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|&l| l <= max)
                .ok_or_else(|| format!("'{s}': the prefix length must be 0–{max}"))?,
        };
        let net = Net { addr, len };
        if !net.contains(addr) || common_prefix(addr, mask(addr, len)) < max {
            return Err(format!(
                "'{s}' has bits set after the prefix (did you mean {}/{len}?)",
                mask(addr, len)
            ));
        }
        Ok(net)
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

/// `a` with every bit after `len` cleared.
pub fn mask(a: IpAddr, len: u8) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let m = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len.min(32)))
            };
            IpAddr::V4((u32::from(v) & m).into())
        }
        IpAddr::V6(v) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len.min(128)))
            };
            IpAddr::V6((u128::from(v) & m).into())
        }
    }
}

/// Routing rules of a pool: the most specific match wins.
#[derive(Debug, Clone, Default)]
pub struct Route {
    pub default: Tiers,
    /// Longest prefix first.
    pub networks: Vec<(Net, Tiers)>,
    pub asns: HashMap<u32, Tiers>,
    pub subdivisions: HashMap<Code, Tiers>,
    pub countries: HashMap<Code, Tiers>,
    pub continents: HashMap<Code, Tiers>,
}

/// What a pool answers when no datacenter of its route can.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnAllDown {
    /// Fail open: answer from the first choice as if it were healthy.
    All,
    NoData,
    ServFail,
    /// Answer from another pool of the zone (index).
    Pool(usize),
}

/// One pool.
#[derive(Debug, Clone)]
pub struct Pool {
    pub name: String,
    pub kind: PoolKind,
    pub ttl: u32,
    /// TTL when the answer did not come from the first choice (a failover tier or fail-open),
    /// so clients come back soon.
    pub ttl_degraded: u32,
    pub max_answers: usize,
    pub on_all_down: OnAllDown,
    pub dcs: Vec<PoolDc>,
    pub route: Route,
    /// Seed for sticky choices: zone and pool name, so different pools spread independently.
    pub seed: u64,
    /// Where it was defined, for traces.
    pub file: std::path::PathBuf,
    pub line: usize,
}

/// Most members a pool may return in one answer.
pub const MAX_ANSWERS: usize = 8;

/// A stable 64-bit hash (FNV-1a folded through a SplitMix64 finaliser): the same on every node and
/// every run, which is what makes sticky answers agree across a fleet.
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
        assert_eq!(Net::parse("0.0.0.0/0").unwrap().len, 0);
    }

    #[test]
    fn stable_hash_is_stable() {
        // a fixed value: changing the hash would reshuffle every sticky answer in a fleet
        assert_eq!(
            stable_hash(&[b"example.com.", b"web"]),
            stable_hash(&[b"example.com.", b"web"])
        );
        assert_ne!(stable_hash(&[b"a", b"b"]), stable_hash(&[b"ab"]));
    }
}
