//! The EDNS Client Subnet option (RFC 7871): strict parsing, and the echo in responses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// EDNS option code of ECS.
pub const CODE: u16 = 8;

/// A well-formed ECS option from a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ecs<'a> {
    /// 1 (IPv4) or 2 (IPv6).
    pub family: u16,
    pub source_prefix: u8,
    /// The address, zero-padded to its family's size.
    pub addr: IpAddr,
    /// The address bytes exactly as sent (`ceil(source_prefix / 8)` of them).
    pub addr_bytes: &'a [u8],
}

/// Why an ECS option is malformed; each is FORMERR (RFC 7871 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcsError {
    TooShort,
    BadFamily,
    SourcePrefixTooLong,
    WrongAddressLength,
    BitsBeyondPrefix,
}

/// Parses the data of an ECS option.
pub fn parse(data: &[u8]) -> Result<Ecs<'_>, EcsError> {
    let (&[f0, f1, source_prefix, _scope], addr_bytes) =
        data.split_first_chunk::<4>().ok_or(EcsError::TooShort)?;
    let family = u16::from_be_bytes([f0, f1]);
    let max = match family {
        1 => 32,
        2 => 128,
        _ => return Err(EcsError::BadFamily),
    };
    if source_prefix > max {
        return Err(EcsError::SourcePrefixTooLong);
    }
    if addr_bytes.len() != (source_prefix as usize).div_ceil(8) {
        return Err(EcsError::WrongAddressLength);
    }
    if let Some(&last) = addr_bytes.last() {
        let used = source_prefix % 8;
        if used != 0 && last & (0xff >> used) != 0 {
            return Err(EcsError::BitsBeyondPrefix);
        }
    }
    let addr = if family == 1 {
        let mut b = [0u8; 4];
        b.iter_mut().zip(addr_bytes).for_each(|(d, s)| *d = *s);
        IpAddr::V4(Ipv4Addr::from(b))
    } else {
        let mut b = [0u8; 16];
        b.iter_mut().zip(addr_bytes).for_each(|(d, s)| *d = *s);
        IpAddr::V6(Ipv6Addr::from(b))
    };
    Ok(Ecs {
        family,
        source_prefix,
        addr,
        addr_bytes,
    })
}

impl Ecs<'_> {
    /// Bytes of the option in a response (code and length included).
    pub fn echo_len(&self) -> usize {
        4 + 4 + self.addr_bytes.len()
    }

    /// Appends the option for a response: family, source prefix and address as received, and
    /// `scope` (RFC 7871 §7.2.1).
    pub fn write_echo(&self, out: &mut Vec<u8>, scope: u8) {
        let [c0, c1] = CODE.to_be_bytes();
        let [l0, l1] = ((4 + self.addr_bytes.len()) as u16).to_be_bytes();
        let [f0, f1] = self.family.to_be_bytes();
        let source = self.source_prefix;
        out.extend_from_slice(&[c0, c1, l0, l1, f0, f1, source, scope.min(source)]);
        out.extend_from_slice(self.addr_bytes);
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_malformed() {
        let e = parse(&[0, 1, 24, 0, 192, 0, 2]).unwrap();
        assert_eq!(e.addr.to_string(), "192.0.2.0");
        assert_eq!(e.source_prefix, 24);
        let e = parse(&[0, 2, 48, 0, 0x20, 1, 0x0d, 0xb8, 0, 1]).unwrap();
        assert_eq!(e.addr.to_string(), "2001:db8:1::");
        assert_eq!(parse(&[0, 1, 0, 0]).unwrap().addr.to_string(), "0.0.0.0");
        assert_eq!(parse(&[0, 1, 24]), Err(EcsError::TooShort));
        assert_eq!(parse(&[0, 3, 24, 0, 1, 2, 3]), Err(EcsError::BadFamily));
        assert_eq!(
            parse(&[0, 1, 33, 0, 1, 2, 3, 4, 5]),
            Err(EcsError::SourcePrefixTooLong)
        );
        assert_eq!(
            parse(&[0, 1, 24, 0, 1, 2, 3, 4]),
            Err(EcsError::WrongAddressLength)
        );
        assert_eq!(
            parse(&[0, 1, 24, 0, 1, 2]),
            Err(EcsError::WrongAddressLength)
        );
        assert_eq!(
            parse(&[0, 1, 20, 0, 1, 2, 0x1f]),
            Err(EcsError::BitsBeyondPrefix)
        );
        let mut out = Vec::new();
        parse(&[0, 1, 24, 0, 192, 0, 2])
            .unwrap()
            .write_echo(&mut out, 16);
        assert_eq!(out, [0, 8, 0, 7, 0, 1, 24, 16, 192, 0, 2]);
    }
}
