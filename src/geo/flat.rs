//! A flat copy of a database's IPv4 half, made when the database is opened, so that locating an
//! IPv4 client costs two or three memory reads instead of a walk of up to 32 tree nodes (each a
//! likely cache miss in a database of megabytes) and a decode of the record on every query.
//!
//! The copy holds every network of the IPv4 space in order, those without data included, with
//! its prefix length and the number of its record; each distinct record is decoded once, into
//! [`Facts`]. A table of the 65,536 /16s points into the networks, and a short binary search
//! finishes. The copy is only used when the networks tile the whole IPv4 space exactly; anything
//! else keeps the tree (and IPv6 always does): the answer must be the one the tree gives, which
//! `tests::the_flat_copy_answers_as_the_tree` checks address by address.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use maxminddb::{Reader, WithinOptions};

use super::Facts;

/// The record number of a network without data.
const NO_DATA: u32 = 0x00FF_FFFF;

/// The IPv4 networks of one database, in order.
pub(super) struct Flat {
    /// For the /16 `h`: the position of the network that holds its first address. One more
    /// entry at the end (the last network), so `index[h + 1]` always exists.
    index: Box<[u32]>,
    /// Each network: its first address, and its record number (24 bits, [`NO_DATA`] for none)
    /// << 8 | its prefix length. Side by side, so the search and its answer share cache lines.
    nets: Box<[(u32, u32)]>,
}

impl Flat {
    /// Copies the IPv4 networks of `reader`, decoding each distinct record once with `decode`
    /// (`None`: no usable data). `None` when the networks do not tile the IPv4 space (an
    /// IPv6 database without an IPv4 subtree), outnumber the leaves the tree can have, or hold
    /// too many records to number.
    pub(super) fn build<F>(reader: &Reader<Vec<u8>>, decode: F) -> Option<(Flat, Vec<Facts>)>
    where
        F: Fn(&maxminddb::LookupResult<'_, Vec<u8>>) -> Option<Facts>,
    {
        // a search tree of n nodes has at most n + 1 leaves; more means nodes are shared (a
        // corrupt or hostile file can make 2^32 networks of 32 nodes): keep the tree then
        let most = usize::try_from(reader.metadata().node_count)
            .ok()?
            .saturating_add(1);
        Flat::build_at_most(reader, decode, most)
    }

    /// [`Flat::build`], giving up (`None`) past `most` networks.
    fn build_at_most<F>(
        reader: &Reader<Vec<u8>>,
        decode: F,
        most: usize,
    ) -> Option<(Flat, Vec<Facts>)>
    where
        F: Fn(&maxminddb::LookupResult<'_, Vec<u8>>) -> Option<Facts>,
    {
        let all =
            ipnetwork::IpNetwork::V4(ipnetwork::Ipv4Network::new(Ipv4Addr::UNSPECIFIED, 0).ok()?);
        let networks = reader
            .within(
                all,
                WithinOptions::default().include_networks_without_data(),
            )
            .ok()?;
        let mut nets: Vec<(u32, u32)> = Vec::new();
        let mut facts = Vec::new();
        let mut numbered: HashMap<usize, u32> = HashMap::new();
        let mut next: u64 = 0;
        for item in networks {
            if nets.len() >= most {
                return None;
            }
            let res = item.ok()?;
            let ipnetwork::IpNetwork::V4(net) = res.network().ok()? else {
                return None;
            };
            let start = u32::from(net.network());
            if u64::from(start) != next || net.prefix() > 32 {
                return None;
            }
            next = u64::from(start) + (1u64 << (32 - u32::from(net.prefix())));
            let record = match res.offset() {
                None => NO_DATA,
                Some(offset) => match numbered.get(&offset) {
                    Some(&n) => n,
                    None => {
                        let n = match decode(&res) {
                            Some(f) => {
                                facts.push(f);
                                u32::try_from(facts.len() - 1)
                                    .ok()
                                    .filter(|&n| n < NO_DATA)?
                            }
                            None => NO_DATA,
                        };
                        numbered.insert(offset, n);
                        n
                    }
                },
            };
            nets.push((start, record << 8 | u32::from(net.prefix())));
        }
        if next != 1u64 << 32 || nets.is_empty() {
            return None;
        }
        // index[h]: the last network starting at or before h << 16
        let mut index = Vec::with_capacity(65_537);
        let mut pos = 0usize;
        for h in 0u32..65_536 {
            let first = h << 16;
            while nets.get(pos + 1).is_some_and(|&(s, _)| s <= first) {
                pos += 1;
            }
            index.push(u32::try_from(pos).ok()?);
        }
        index.push(u32::try_from(nets.len() - 1).ok()?);
        Some((
            Flat {
                index: index.into_boxed_slice(),
                nets: nets.into_boxed_slice(),
            },
            facts,
        ))
    }

    /// The prefix length of the network holding `ip`, and its record number (`None`: no data).
    #[inline]
    pub(super) fn find(&self, ip: Ipv4Addr) -> (u8, Option<usize>) {
        let ip = u32::from(ip);
        let h = (ip >> 16) as usize;
        let (Some(&lo), Some(&hi)) = (self.index.get(h), self.index.get(h + 1)) else {
            return (0, None);
        };
        let (lo, hi) = (lo as usize, hi as usize);
        // the network holding ip is the last one in lo..=hi that starts at or before it
        let at = self.nets.get(lo..=hi).map_or(lo, |n| {
            lo + n.partition_point(|&(s, _)| s <= ip).saturating_sub(1)
        });
        let entry = self.nets.get(at).map_or(NO_DATA << 8, |&(_, e)| e);
        let record = entry >> 8;
        (
            (entry & 0xFF) as u8,
            (record != NO_DATA).then_some(record as usize),
        )
    }

    /// Starts fetching the index entry of `ip`'s /16 ([`crate::sys::prefetch`]).
    #[inline]
    pub(super) fn prefetch_index(&self, ip: Ipv4Addr) {
        if let Some(e) = self.index.get((u32::from(ip) >> 16) as usize) {
            crate::sys::prefetch(e);
        }
    }

    /// Starts fetching the networks of `ip`'s /16 that its search will read (reads the index
    /// entry, so call [`Flat::prefetch_index`] for a whole batch first): all of them when they
    /// fill a few cache lines (most /16s hold a handful of networks), else lines spread over
    /// the range, where the binary search's first steps land.
    #[inline]
    pub(super) fn prefetch_networks(&self, ip: Ipv4Addr) {
        /// Networks per cache line (8 bytes each).
        const LINE: usize = 8;
        /// Most lines fetched for one client.
        const LINES: usize = 8;
        let h = (u32::from(ip) >> 16) as usize;
        let (Some(&lo), Some(&hi)) = (self.index.get(h), self.index.get(h + 1)) else {
            return;
        };
        let (lo, hi) = (lo as usize, hi as usize);
        let step = (hi.saturating_sub(lo) / LINES).max(LINE);
        let mut at = lo;
        while at <= hi {
            if let Some(n) = self.nets.get(at) {
                crate::sys::prefetch(n);
            }
            at += step;
        }
    }

    /// How many networks the copy holds.
    pub(super) fn len(&self) -> usize {
        self.nets.len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::path::{Path, PathBuf};

    use crate::geo::{Database, Geo, Location};

    /// The shipped DB-IP database.
    fn shipped() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("geodata/dbip-country.mmdb")
    }

    /// Every network's first and last address, the address before it and a spread of others:
    /// the flat copy gives what the tree walk gives, for the shipped DB-IP database and the test
    /// fixtures in the GeoIP2 city, ASN and flat layouts.
    #[test]
    fn the_flat_copy_answers_as_the_tree() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for file in [
            "geodata/dbip-country.mmdb",
            "tests/fuzz/corpus/geoip/city.mmdb",
            "tests/fuzz/corpus/geoip/asn.mmdb",
            "tests/fuzz/corpus/geoip/flat.mmdb",
        ] {
            let db = Database::open(&root.join(file)).unwrap();
            let flat = db
                .flat
                .as_ref()
                .unwrap_or_else(|| panic!("{file}: no flat copy"));
            let mut probes: Vec<u32> = Vec::new();
            for (i, &(start, _)) in flat.nets.iter().enumerate() {
                let end = flat.nets.get(i + 1).map_or(u32::MAX, |&(next, _)| next - 1);
                probes.extend([start, end, start.wrapping_sub(1), start / 2 + end / 2]);
            }
            let mut x: u32 = 0x9e37_79b9;
            for _ in 0..100_000 {
                // xorshift: addresses spread over the whole space, the same on every run
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                probes.push(x);
            }
            let mut found = 0;
            for &ip in &probes {
                let addr = IpAddr::from(std::net::Ipv4Addr::from(ip));
                let flat = db.find(addr).unwrap();
                assert_eq!(Some(flat), db.find_in_tree(addr), "{file}: {addr}");
                found += usize::from(flat.1.is_some());
            }
            assert!(found > 0, "{file}: nothing found");
            // alone, the database locates by its flat copy and the locations worked out at
            // open: the same as a tree walk and the merge every other case goes through
            let geo = Geo {
                databases: vec![db],
            };
            let db = geo.databases.first().unwrap();
            for ip in probes {
                let addr = IpAddr::from(std::net::Ipv4Addr::from(ip));
                let mut merged = Location::default();
                if let Some((prefix, facts)) = db.find_in_tree(addr) {
                    merged.add(prefix, facts);
                }
                merged.fill_from_country();
                assert_eq!(geo.locate(addr), merged, "{file}: {addr}");
            }
        }
    }

    /// The copy stops at as many networks as the tree has leaves at most (nodes + 1): a file
    /// whose nodes are shared stands for up to 2^32 networks of 32 nodes. Past the bound the
    /// copy is given up and the tree stays in use.
    #[test]
    fn the_copy_stops_at_the_leaves_a_tree_can_have() {
        let reader = maxminddb::Reader::from_source(std::fs::read(shipped()).unwrap()).unwrap();
        let nodes = reader.metadata().node_count as usize;
        let (flat, _) = super::Flat::build(&reader, crate::geo::facts_of).unwrap();
        assert!(
            flat.len() <= nodes + 1,
            "{} networks, {nodes} nodes",
            flat.len()
        );
        let at_most = |n| super::Flat::build_at_most(&reader, crate::geo::facts_of, n).is_some();
        assert!(at_most(flat.len()));
        assert!(!at_most(flat.len() - 1));
    }

    /// A network's first /16 entry points at the network that holds it, even when that network
    /// started in an earlier /16 (a /8 spans 256 of them).
    #[test]
    fn a_network_wider_than_a_slash_16_is_found_from_each_of_them() {
        let db = Database::open(&shipped()).unwrap();
        let flat = db.flat.as_ref().unwrap();
        let (start, entry) = *flat
            .nets
            .iter()
            .find(|(_, e)| e & 0xFF < 16)
            .expect("a network shorter than /16");
        let prefix = entry & 0xFF;
        let last = start + ((1u64 << (32 - prefix)) - 1) as u32;
        for ip in [start, start + 0x1_0000, last] {
            let (p, _) = flat.find(std::net::Ipv4Addr::from(ip));
            assert_eq!(u32::from(p), prefix, "{}", std::net::Ipv4Addr::from(ip));
        }
    }
}
