//! IP networks (`10.0.0.0/8`, `fd00::/8`): parsing a config's CIDR strictly, and the one
//! membership test every caller shares (`NO_PROXY` networks, trusted proxy sources).

use std::net::IpAddr;

/// An IP network: an address whose host bits are zero, and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    addr: IpAddr,
    bits: u8,
}

impl IpNetwork {
    /// `ADDR/BITS`, or a bare address (one host: /32 or /128). Strict, for a config: host
    /// bits set (`10.0.0.1/8`) are refused with the network that was probably meant, since
    /// a typo there would trust more or less than the operator thinks.
    pub fn parse(text: &str) -> Result<IpNetwork, String> {
        let (addr, bits) = match text.split_once('/') {
            Some((addr, bits)) => (addr, Some(bits)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| {
            format!(
                "expected an IP address or network such as 10.0.0.0/8 or fd00::/8; got {text:?}"
            )
        })?;
        let max = max_bits(addr);
        let bits = match bits {
            None => max,
            Some(digits) => match digits.parse::<u8>() {
                // No sign and no leading zero: `/08` is more likely a typo than eight.
                Ok(bits) if bits <= max && (digits == "0" || !digits.starts_with(['+', '0'])) => {
                    bits
                }
                _ => {
                    return Err(format!(
                        "expected a prefix length 0 to {max} after '/'; got {text:?}"
                    ));
                }
            },
        };
        let network = IpNetwork {
            addr: mask(addr, bits),
            bits,
        };
        if network.addr != addr {
            return Err(format!(
                "{text:?} has host bits set: did you mean {network}?"
            ));
        }
        Ok(network)
    }

    /// Whether this is a /0: every address of its family.
    pub fn is_everything(&self) -> bool {
        self.bits == 0
    }

    /// Whether `addr` is in this network; an IPv4-mapped IPv6 address (`::ffff:10.1.2.3`,
    /// as a dual-stack socket reports IPv4 peers) counts as its IPv4 address.
    pub fn contains(&self, addr: IpAddr) -> bool {
        in_network(addr.to_canonical(), self.addr, self.bits)
    }
}

impl std::fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.bits)
    }
}

fn max_bits(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

fn mask(addr: IpAddr, bits: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) & top(32, bits) as u32).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) & top(128, bits)).into()),
    }
}

/// The top `bits` (at most `width`) of a `width`-bit number; `checked_shl` because a /0
/// shifts by the width.
fn top(width: u32, bits: u8) -> u128 {
    let bits = u32::from(bits).min(width);
    let ones = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    ones.checked_shl(width - bits).unwrap_or(0) & ones
}

/// Whether `addr` is in `net/bits` (a different family never is; `bits` beyond the
/// family's width counts as the whole width).
pub fn in_network(addr: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            u128::from(u32::from(a) ^ u32::from(n)) & top(32, bits) == 0
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a) ^ u128::from(n)) & top(128, bits) == 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_parse_strictly_and_name_the_mistake() {
        let net = IpNetwork::parse("10.0.0.0/8").unwrap();
        assert_eq!(net.to_string(), "10.0.0.0/8");
        assert_eq!(IpNetwork::parse("::1").unwrap().to_string(), "::1/128");
        assert_eq!(
            IpNetwork::parse("0.0.0.0/0").unwrap().to_string(),
            "0.0.0.0/0"
        );
        let typo = IpNetwork::parse("10.0.0.1/8").unwrap_err();
        assert!(typo.contains("did you mean 10.0.0.0/8"), "{typo}");
        for bad in [
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/08",
            "ten",
            "10.0.0.0/8/8",
            "fd00::/129",
        ] {
            assert!(IpNetwork::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn membership_covers_the_prefix_only_and_maps_ipv4_in_ipv6() {
        let net = IpNetwork::parse("10.0.0.0/8").unwrap();
        assert!(net.contains(ip("10.255.1.2")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(
            net.contains(ip("::ffff:10.1.2.3")),
            "a dual-stack socket's IPv4 peer"
        );
        assert!(!net.contains(ip("::1")), "another family never matches");
        let v6 = IpNetwork::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("fe80::1")));
        assert!(
            IpNetwork::parse("0.0.0.0/0")
                .unwrap()
                .contains(ip("203.0.113.9"))
        );
        assert!(
            IpNetwork::parse("127.0.0.1")
                .unwrap()
                .contains(ip("127.0.0.1"))
        );
        assert!(
            !IpNetwork::parse("127.0.0.1")
                .unwrap()
                .contains(ip("127.0.0.2"))
        );
    }
}
