//! A small MaxMind DB writer for test fixtures (format 2.0: binary search tree, data section,
//! metadata). IPv6 trees with IPv4 networks under ::/96, 24-bit records.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// A value of the MaxMind DB data section.
#[derive(Debug, Clone)]
pub enum V {
    Str(String),
    U16(u16),
    U32(u32),
    U64(u64),
    F64(f64),
    /// A float (extended type 15), as ip-location-db's city databases store coordinates.
    F32(f32),
    Map(BTreeMap<String, V>),
    Arr(Vec<V>),
}

/// A map from pairs.
pub fn map(pairs: &[(&str, V)]) -> V {
    V::Map(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

/// A string.
pub fn s(x: &str) -> V {
    V::Str(x.into())
}

fn ctrl(out: &mut Vec<u8>, ty: u8, size: usize) {
    assert!(size < 285, "the fixture writer keeps sizes small");
    let (low, extra) = if size < 29 {
        (size as u8, None)
    } else {
        (29, Some((size - 29) as u8))
    };
    if ty <= 7 {
        out.push((ty << 5) | low);
    } else {
        out.push(low);
        out.push(ty - 7);
    }
    out.extend(extra);
}

fn uint(out: &mut Vec<u8>, ty: u8, b: &[u8]) {
    let skip = b.iter().take_while(|&&x| x == 0).count();
    ctrl(out, ty, b.len() - skip);
    out.extend(&b[skip..]);
}

fn encode(v: &V, out: &mut Vec<u8>) {
    match v {
        V::Str(x) => {
            ctrl(out, 2, x.len());
            out.extend(x.as_bytes());
        }
        V::F64(f) => {
            ctrl(out, 3, 8);
            out.extend(f.to_be_bytes());
        }
        V::F32(f) => {
            ctrl(out, 15, 4);
            out.extend(f.to_be_bytes());
        }
        V::U16(n) => uint(out, 5, &n.to_be_bytes()),
        V::U32(n) => uint(out, 6, &n.to_be_bytes()),
        V::U64(n) => uint(out, 9, &n.to_be_bytes()),
        V::Map(m) => {
            ctrl(out, 7, m.len());
            for (k, v) in m {
                encode(&s(k), out);
                encode(v, out);
            }
        }
        V::Arr(a) => {
            ctrl(out, 11, a.len());
            for v in a {
                encode(v, out);
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Rec {
    Empty,
    Node(usize),
    Data(usize),
}

/// Builds a database from (network, prefix length, record) entries.
pub fn build(kind: &str, entries: &[(&str, u8, V)]) -> Vec<u8> {
    let mut data = Vec::new();
    let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty; 2]];
    let mut sorted: Vec<_> = entries.iter().collect();
    // general networks first, so more specific ones split them
    sorted.sort_by_key(|e| (e.1, e.0));
    for (net, len, value) in sorted {
        let addr: IpAddr = net.parse().unwrap();
        let (bits, depth): (u128, u32) = match addr {
            IpAddr::V4(v) => (u128::from(u32::from(v)), 96 + u32::from(*len)),
            IpAddr::V6(v) => (u128::from(v), u32::from(*len)),
        };
        let offset = data.len();
        encode(value, &mut data);
        let mut node = 0;
        for d in 0..depth {
            let bit = ((bits >> (127 - d)) & 1) as usize;
            if d + 1 == depth {
                nodes[node][bit] = Rec::Data(offset);
                break;
            }
            node = match nodes[node][bit] {
                Rec::Node(n) => n,
                other => {
                    // empty, or a less specific network's data: split it
                    let fill = if let Rec::Data(_) = other {
                        other
                    } else {
                        Rec::Empty
                    };
                    nodes.push([fill, fill]);
                    let n = nodes.len() - 1;
                    nodes[node][bit] = Rec::Node(n);
                    n
                }
            };
        }
    }
    let count = nodes.len();
    let mut out = Vec::new();
    let val = |r: Rec| -> u32 {
        match r {
            Rec::Empty => count as u32,
            Rec::Node(n) => n as u32,
            Rec::Data(o) => (count + 16 + o) as u32,
        }
    };
    for n in &nodes {
        for r in n {
            out.extend(&val(*r).to_be_bytes()[1..]);
        }
    }
    out.extend([0u8; 16]);
    out.extend(&data);
    out.extend(b"\xAB\xCD\xEFMaxMind.com");
    let meta = map(&[
        ("binary_format_major_version", V::U16(2)),
        ("binary_format_minor_version", V::U16(0)),
        ("build_epoch", V::U64(1_700_000_000)),
        ("database_type", s(kind)),
        ("description", map(&[("en", s("geosteer test fixture"))])),
        ("ip_version", V::U16(6)),
        ("languages", V::Arr(vec![s("en")])),
        ("node_count", V::U32(count as u32)),
        ("record_size", V::U16(24)),
    ]);
    encode(&meta, &mut out);
    out
}
