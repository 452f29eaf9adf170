//! DNS Cookies (RFC 7873), with the interoperable server cookie of RFC 9018: the COOKIE option's
//! bytes, the server cookie made and checked with SipHash-2-4, the age rules.
//!
//! A server cookie proves that a client received an earlier answer at the address it claims,
//! so a query carrying a valid one cannot have a forged source: rate limiting can let it
//! through (`rrl.exempt_cookies`). The construction is RFC 9018's, so a cluster of servers
//! (geosteer, BIND, Knot, NSD) sharing one secret accepts each other's cookies behind anycast.

use std::hash::Hasher;
use std::net::IpAddr;

/// EDNS option code of COOKIE (RFC 7873 §4).
pub const CODE: u16 = 10;

/// Extended response code BADCOOKIE (RFC 7873 §8).
pub const BADCOOKIE: u16 = 23;

/// Bytes of the COOKIE option we send: the client's 8 and our 16.
pub const REPLY_LEN: usize = 24;

/// A server cookie older than this is replaced by a fresh one in the reply (RFC 9018 §4.3).
const RENEW_AFTER: u32 = 1800;
/// A server cookie older than this is not accepted (RFC 9018 §4.3: one hour).
const LIFETIME: u32 = 3600;
/// A server cookie stamped at most this far in the future is accepted (clock skew between
/// the servers of a cluster, RFC 9018 §4.3).
const SKEW: u32 = 300;

/// The COOKIE option of a query (RFC 7873 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cookie<'a> {
    pub client: [u8; 8],
    /// The server cookie the client returns: empty, or 8 to 32 bytes.
    pub server: &'a [u8],
}

/// Reads a COOKIE option's data. A length other than 8 or 16 to 40 bytes is malformed, which
/// is FORMERR (RFC 7873 §5.2.2).
pub fn parse(data: &[u8]) -> Option<Cookie<'_>> {
    let (client, server) = data.split_first_chunk::<8>()?;
    if !server.is_empty() && !(8..=32).contains(&server.len()) {
        return None;
    }
    Some(Cookie {
        client: *client,
        server,
    })
}

/// What a query's cookie proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Only a client cookie: a first contact, or a client that lost ours.
    ClientOnly,
    /// A server cookie we made for this client and address, in its lifetime.
    Valid,
    /// A server cookie we did not make, made for another address, or expired.
    Invalid,
}

impl Verdict {
    /// Every verdict, in the order of their numbers.
    pub const ALL: [Verdict; 3] = [Verdict::ClientOnly, Verdict::Valid, Verdict::Invalid];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::ClientOnly => "client_only",
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
        }
    }
}

/// The secrets server cookies are made with: the current one, and the one before it while a
/// rollover is under way (RFC 9018 §5: accept both, make new cookies with the current one).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Secrets {
    current: [u8; 16],
    previous: Option<[u8; 16]>,
}

impl std::fmt::Debug for Secrets {
    // the secret never reaches a log
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

/// The secret of this process when the config names none: random, made once, so that cookies
/// survive reloads (a restart hands out new ones, which clients take without a round trip).
static RANDOM: std::sync::LazyLock<[u8; 16]> = std::sync::LazyLock::new(|| {
    let mut s = [0u8; 16];
    if getrandom::fill(&mut s).is_err() {
        // no system randomness: a secret from the clock and the process still differs per
        // server and per start, which is what keeps one server's cookies from another's
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut h = siphasher::sip::SipHasher24::new();
        h.write(&t.to_le_bytes());
        h.write(&std::process::id().to_le_bytes());
        s[..8].copy_from_slice(&h.finish().to_le_bytes());
        h.write_u8(1);
        s[8..].copy_from_slice(&h.finish().to_le_bytes());
    }
    s
});

impl Secrets {
    /// Secrets from the config: `current` (none: this process's random secret) and `previous`.
    pub fn new(current: Option<[u8; 16]>, previous: Option<[u8; 16]>) -> Secrets {
        Secrets {
            current: current.unwrap_or(*RANDOM),
            previous,
        }
    }

    /// Checks `cookie` from `client` at Unix time `now` and writes the COOKIE option's data for
    /// the reply into `reply`: the client cookie, then ours, renewed when it is missing,
    /// invalid, half-way through its life, or made with the previous secret.
    pub fn check(
        &self,
        cookie: &Cookie<'_>,
        client: IpAddr,
        now: u32,
        reply: &mut [u8; REPLY_LEN],
    ) -> Verdict {
        let client = client.to_canonical();
        let verdict = if cookie.server.is_empty() {
            Verdict::ClientOnly
        } else {
            match self.made_with(cookie, client, now) {
                Some(current) => {
                    if let Ok(server) = <&[u8; 16]>::try_from(cookie.server)
                        && current
                        && age(stamp(server), now) < RENEW_AFTER
                    {
                        reply[..8].copy_from_slice(&cookie.client);
                        reply[8..].copy_from_slice(server);
                        return Verdict::Valid;
                    }
                    Verdict::Valid
                }
                None => Verdict::Invalid,
            }
        };
        reply[..8].copy_from_slice(&cookie.client);
        reply[8..].copy_from_slice(&server_cookie(&self.current, &cookie.client, client, now));
        verdict
    }

    /// Whether the server cookie was made by one of our secrets for this client (`Some(true)`:
    /// the current one) and is in its lifetime.
    fn made_with(&self, cookie: &Cookie<'_>, client: IpAddr, now: u32) -> Option<bool> {
        let server: &[u8; 16] = cookie.server.try_into().ok()?;
        let (head, mac) = server.split_first_chunk::<8>()?;
        // version 1 is the only one defined (RFC 9018 §4.2)
        if head.first() != Some(&1) || !usable(stamp(server), now) {
            return None;
        }
        let ok = |secret: &[u8; 16]| hash(secret, &cookie.client, head, client) == *mac;
        if ok(&self.current) {
            Some(true)
        } else if self.previous.as_ref().is_some_and(ok) {
            Some(false)
        } else {
            None
        }
    }
}

/// The timestamp of a server cookie.
fn stamp(server: &[u8; 16]) -> u32 {
    u32::from_be_bytes([server[4], server[5], server[6], server[7]])
}

/// Seconds since `ts` at `now`, modulo 2^32 (RFC 9018 §4.3 uses serial-number arithmetic:
/// the field wraps in 2106).
fn age(ts: u32, now: u32) -> u32 {
    now.wrapping_sub(ts)
}

/// Whether a cookie stamped `ts` is accepted at `now`: at most an hour old, at most five
/// minutes ahead.
fn usable(ts: u32, now: u32) -> bool {
    age(ts, now) <= LIFETIME || ts.wrapping_sub(now) <= SKEW
}

/// A fresh server cookie (RFC 9018 §4.2): version 1, three reserved zero bytes, the time, and
/// SipHash-2-4 of the client cookie, those eight bytes and the client's address.
pub fn server_cookie(secret: &[u8; 16], client_cookie: &[u8; 8], ip: IpAddr, now: u32) -> [u8; 16] {
    let mut head = [1, 0, 0, 0, 0, 0, 0, 0];
    head[4..].copy_from_slice(&now.to_be_bytes());
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&head);
    out[8..].copy_from_slice(&hash(secret, client_cookie, &head, ip));
    out
}

/// SipHash-2-4 over client cookie | version | reserved | timestamp | client address, keyed
/// with the secret; the 64-bit result in little-endian order, as the reference
/// implementation writes it.
fn hash(secret: &[u8; 16], client_cookie: &[u8; 8], head: &[u8; 8], ip: IpAddr) -> [u8; 8] {
    let mut h = siphasher::sip::SipHasher24::new_with_key(secret);
    h.write(client_cookie);
    h.write(head);
    match ip.to_canonical() {
        IpAddr::V4(a) => h.write(&a.octets()),
        IpAddr::V6(a) => h.write(&a.octets()),
    }
    h.finish().to_le_bytes()
}

/// Unix seconds now, truncated to the 32 bits of the cookie's timestamp.
pub fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn hex<const N: usize>(s: &str) -> [u8; N] {
        let v = data_encoding::HEXLOWER.decode(s.as_bytes()).unwrap();
        v.try_into().unwrap()
    }

    const SECRET: &str = "e5e973e5a6b2a43f48e7dc849e37bfcf";

    /// RFC 9018 Appendix A.1 to A.3.
    #[test]
    fn the_rfc_9018_test_vectors() {
        let s = hex::<16>(SECRET);
        let cases = [
            (
                "2464c4abcf10c957",
                "198.51.100.100",
                1559731985,
                "010000005cf79f111f8130c3eee29480",
            ),
            (
                "2464c4abcf10c957",
                "198.51.100.100",
                1559734385,
                "010000005cf7a871d4a564a1442aca77",
            ),
            (
                "fc93fc62807ddb86",
                "203.0.113.203",
                1559734700,
                "010000005cf7a9acf73a7810aca2381e",
            ),
        ];
        for (client, ip, now, want) in cases {
            let got = server_cookie(&s, &hex(client), ip.parse().unwrap(), now);
            assert_eq!(got, hex::<16>(want), "{client} from {ip} at {now}");
        }
    }

    fn check(secrets: &Secrets, option: &str, ip: &str, now: u32) -> (Verdict, [u8; 24]) {
        let data = data_encoding::HEXLOWER.decode(option.as_bytes()).unwrap();
        let cookie = parse(&data).unwrap();
        let mut reply = [0u8; 24];
        let v = secrets.check(&cookie, ip.parse().unwrap(), now, &mut reply);
        (v, reply)
    }

    #[test]
    fn a_cookie_is_checked_and_renewed_as_rfc_9018_says() {
        let s = Secrets::new(Some(hex(SECRET)), None);
        // A.1: a client cookie alone gets a server cookie
        let (v, reply) = check(&s, "2464c4abcf10c957", "198.51.100.100", 1559731985);
        assert_eq!(v, Verdict::ClientOnly);
        assert_eq!(
            reply,
            hex::<24>("2464c4abcf10c957010000005cf79f111f8130c3eee29480")
        );
        // A.2: 40 minutes later it is valid, and renewed
        let (v, reply) = check(
            &s,
            "2464c4abcf10c957010000005cf79f111f8130c3eee29480",
            "198.51.100.100",
            1559734385,
        );
        assert_eq!(v, Verdict::Valid);
        assert_eq!(
            reply,
            hex::<24>("2464c4abcf10c957010000005cf7a871d4a564a1442aca77")
        );
        // ten minutes after it was made it is valid and echoed as it is
        let sent = "2464c4abcf10c957010000005cf79f111f8130c3eee29480";
        let (v, reply) = check(&s, sent, "198.51.100.100", 1559731985 + 600);
        assert_eq!(v, Verdict::Valid);
        assert_eq!(reply, hex::<24>(sent));
        // A.3: the reserved bytes the client returns are part of the hash (checked within the
        // cookie's hour: the RFC's example asks 1 h 52 min later and gets a new one)
        let (v, _) = check(
            &s,
            "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5",
            "203.0.113.203",
            0x5cf78f71 + 60,
        );
        assert_eq!(v, Verdict::Valid);
        let (v, reply) = check(
            &s,
            "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5",
            "203.0.113.203",
            1559734700,
        );
        assert_eq!(v, Verdict::Invalid);
        assert_eq!(
            reply,
            hex::<24>("fc93fc62807ddb86010000005cf7a9acf73a7810aca2381e")
        );
        // the same cookie from another address, or past its hour, or from the future
        for (ip, now) in [
            ("203.0.113.204", 0x5cf78f71 + 60),
            ("203.0.113.203", 0x5cf78f71 + 3601),
            ("203.0.113.203", 0x5cf78f71 - 301),
        ] {
            let (v, _) = check(
                &s,
                "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5",
                ip,
                now,
            );
            assert_eq!(v, Verdict::Invalid, "{ip} at {now}");
        }
    }

    /// RFC 9018 Appendix A.4: an IPv6 client during a secret rollover.
    #[test]
    fn the_previous_secret_is_accepted_and_replaced() {
        let cookie = "22681ab97d52c298010000005cf7c57926556bd0934c72f8";
        let ip = "2001:db8:220:1:59de:d0f4:8769:82b8";
        let old = hex::<16>("dd3bdf9344b678b185a6f5cb60fca715");
        let new = hex::<16>("445536bcd2513298075a5d379663c962");
        let now = 0x5cf7c579 + 60;
        let (v, _) = check(&Secrets::new(Some(new), None), cookie, ip, now);
        assert_eq!(v, Verdict::Invalid);
        let (v, reply) = check(&Secrets::new(Some(new), Some(old)), cookie, ip, now);
        assert_eq!(v, Verdict::Valid);
        // the reply carries a cookie made with the new secret
        let fresh = server_cookie(&new, &hex("22681ab97d52c298"), ip.parse().unwrap(), now);
        assert_eq!(reply[8..], fresh);
    }

    #[test]
    fn lengths_rfc_7873_allows() {
        for (len, ok) in [
            (0, false),
            (7, false),
            (8, true),
            (9, false),
            (15, false),
            (16, true),
            (24, true),
            (40, true),
            (41, false),
        ] {
            assert_eq!(parse(&vec![0; len]).is_some(), ok, "{len} bytes");
        }
    }

    #[test]
    fn the_age_window_wraps() {
        assert!(usable(u32::MAX - 100, 1000));
        assert!(!usable(u32::MAX - 3000, 1000));
        assert!(usable(1300, 1000));
        assert!(!usable(1301, 1000));
    }

    #[test]
    fn an_ipv4_mapped_client_is_an_ipv4_client() {
        let s = hex::<16>(SECRET);
        let c = hex::<8>("2464c4abcf10c957");
        assert_eq!(
            server_cookie(&s, &c, "::ffff:198.51.100.100".parse().unwrap(), 1559731985),
            server_cookie(&s, &c, "198.51.100.100".parse().unwrap(), 1559731985)
        );
    }
}
