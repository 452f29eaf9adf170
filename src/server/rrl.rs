//! Response rate limiting (RRL), as NSD, Knot and BIND do it: responses per second per client
//! network (/24 for IPv4, /56 for IPv6) and response kind (answer, NODATA, NXDOMAIN, referral,
//! error). Past the limit a response is dropped, except every `slip`-th, which goes out truncated
//! (TC=1, no records) so a real client behind a spoofed flood retries over TCP and gets its
//! answer. This is what keeps the server from being an amplifier: a forged source cannot draw
//! more than the limit of large answers.
//!
//! The state is a fixed table of counters, one atomic word each, indexed by a hash of the
//! network and kind: no lock, no allocation, and the same memory whatever the number of clients.
//! Two networks that share a counter share its limit, which errs on the side of the victim.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::net::stable_hash;

/// Counters in the table (a power of two).
const SLOTS: usize = 1 << 16;

/// RRL settings (`[rrl]` in the config).
pub use crate::config::Rrl as Settings;

/// What to do with one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Send,
    /// Send it truncated instead (TC=1, no records).
    Slip,
    Drop,
}

/// The limiter shared by every UDP worker.
#[derive(Debug)]
pub struct Rrl {
    settings: Settings,
    /// (second << 32) | responses in that second, per slot.
    table: Box<[AtomicU64]>,
    start: std::time::Instant,
}

/// The kind of a response, read from its header: limits apply per kind, so a flood of NXDOMAIN
/// does not starve the positive answers of the same network.
fn kind(response: &[u8]) -> u8 {
    let (Some(&flags_hi), Some(&flags_lo)) = (response.get(2), response.get(3)) else {
        return 0;
    };
    let ancount = response
        .get(6..8)
        .and_then(|b| b.first_chunk::<2>())
        .map_or(0, |b| u16::from_be_bytes(*b));
    let aa = flags_hi & 0x04 != 0;
    match flags_lo & 0x0f {
        0 if aa && ancount > 0 => 1, // answer
        0 if aa => 2,                // NODATA
        0 => 3,                      // referral
        3 => 4,                      // NXDOMAIN
        _ => 5,                      // error
    }
}

impl Rrl {
    /// A limiter with `settings`.
    pub fn new(settings: Settings) -> Rrl {
        Rrl {
            settings,
            table: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            start: std::time::Instant::now(),
        }
    }

    /// Whether a valid server cookie exempts a response (`rrl.exempt_cookies`).
    pub fn exempt_cookies(&self) -> bool {
        self.settings.exempt_cookies
    }

    /// The verdict for `response` to `client`, counting it.
    pub fn check(&self, client: IpAddr, response: &[u8]) -> Verdict {
        let limit = self.settings.responses_per_second;
        if limit == 0 {
            return Verdict::Send;
        }
        let client = client.to_canonical();
        if self.settings.exempt.iter().any(|n| n.contains(client)) {
            return Verdict::Send;
        }
        let net = match client {
            IpAddr::V4(_) => crate::net::mask(client, self.settings.ipv4_prefix),
            IpAddr::V6(_) => crate::net::mask(client, self.settings.ipv6_prefix),
        };
        let k = [kind(response)];
        let h = match net {
            IpAddr::V4(a) => stable_hash(&[&a.octets(), &k]),
            IpAddr::V6(a) => stable_hash(&[&a.octets(), &k]),
        };
        let Some(slot) = self.table.get((h as usize) & (SLOTS - 1)) else {
            return Verdict::Send;
        };
        let sec = self.start.elapsed().as_secs() & 0xffff_ffff;
        let mut cur = slot.load(Ordering::Relaxed);
        let count = loop {
            let (s, n) = (cur >> 32, cur & 0xffff_ffff);
            let (next, count) = if s == sec {
                (cur.saturating_add(1), n + 1)
            } else {
                ((sec << 32) | 1, 1)
            };
            match slot.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break count,
                Err(now) => cur = now,
            }
        };
        if count <= u64::from(limit) {
            return Verdict::Send;
        }
        let over = count - u64::from(limit);
        match self.settings.slip {
            0 => Verdict::Drop,
            s if over.is_multiple_of(u64::from(s)) => Verdict::Slip,
            _ => Verdict::Drop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer() -> Vec<u8> {
        // header: QR AA, NOERROR, one answer
        vec![0, 1, 0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0]
    }

    #[test]
    fn limits_per_network_and_kind_with_slip() {
        let r = Rrl::new(Settings {
            responses_per_second: 5,
            slip: 2,
            ..Settings::default()
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let same_net: IpAddr = "192.0.2.200".parse().unwrap();
        let other: IpAddr = "198.51.100.1".parse().unwrap();
        let v: Vec<Verdict> = (0..9)
            .map(|i| r.check(if i % 2 == 0 { a } else { same_net }, &answer()))
            .collect();
        assert_eq!(
            v,
            [
                Verdict::Send,
                Verdict::Send,
                Verdict::Send,
                Verdict::Send,
                Verdict::Send,
                Verdict::Drop,
                Verdict::Slip,
                Verdict::Drop,
                Verdict::Slip
            ]
        );
        // another network, and another kind from the same network, have their own counts
        assert_eq!(r.check(other, &answer()), Verdict::Send);
        let nxdomain = vec![0, 1, 0x84, 3, 0, 1, 0, 0, 0, 1, 0, 0];
        assert_eq!(r.check(a, &nxdomain), Verdict::Send);
    }

    /// A million client networks later the table is the same 512 KiB: a flood from every
    /// address there is cannot grow it (a boxed slice has no way to).
    #[test]
    fn the_table_is_fixed_whatever_the_clients() {
        let r = Rrl::new(Settings::default());
        let before = std::mem::size_of_val(&*r.table);
        assert_eq!(before, 512 * 1024);
        for i in 0..1_000_000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(i << 8));
            r.check(ip, &answer());
        }
        assert_eq!(std::mem::size_of_val(&*r.table), before);
        assert_eq!(r.table.len(), SLOTS);
    }

    #[test]
    fn exempt_networks_and_off() {
        let r = Rrl::new(Settings {
            responses_per_second: 1,
            slip: 0,
            exempt: vec![crate::net::Net::parse("192.0.2.0/24").unwrap()],
            ..Settings::default()
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert!((0..10).all(|_| r.check(a, &answer()) == Verdict::Send));
        let b: IpAddr = "203.0.113.1".parse().unwrap();
        assert_eq!(r.check(b, &answer()), Verdict::Send);
        assert_eq!(r.check(b, &answer()), Verdict::Drop);
        let off = Rrl::new(Settings {
            responses_per_second: 0,
            ..Settings::default()
        });
        assert!((0..1000).all(|_| off.check(b, &answer()) == Verdict::Send));
    }
}
