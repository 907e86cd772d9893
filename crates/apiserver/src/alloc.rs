//! Service address allocation, as kube-apiserver's registry does on Service create and delete:
//! ClusterIPs from the service CIDR (default 10.96.0.0/12) and NodePorts from 30000-32767, each range
//! split into a static band (first addresses/ports, for users who pick their own) and a dynamic
//! band tried first for automatic allocation (KEP-3070 for IPs, KEP-3668 for ports).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use rand::Rng;

/// Why an address or port cannot be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// Outside the range.
    #[error("provided {what} is not in the valid range. The range of valid {what}s is {range}")]
    OutOfRange {
        /// "IP" or "port".
        what: &'static str,
        /// The range.
        range: String,
    },
    /// Taken.
    #[error("provided {what} is already allocated")]
    Taken {
        /// "IP" or "port".
        what: &'static str,
    },
    /// Nothing left.
    #[error("range is full")]
    Full,
}

/// A range of `size` items (offsets 0..size) with a static band at the start.
#[derive(Debug, Clone)]
pub struct Range {
    what: &'static str,
    describe: String,
    first: u32,
    size: u32,
    static_band: u32,
    used: BTreeSet<u32>,
}

impl Range {
    /// ClusterIPs of `cidr`: network and broadcast addresses excluded; static band
    /// min(max(16, size/16), 256) (KEP-3070).
    pub fn cluster_ips(cidr: ipnet::Ipv4Net) -> Range {
        let first = u32::from(cidr.network()) + 1;
        let size = (u32::from(cidr.broadcast()) - first).max(1);
        Range {
            what: "IP",
            describe: cidr.to_string(),
            first,
            size,
            static_band: (size / 16).clamp(16, 256).min(size),
            used: BTreeSet::new(),
        }
    }

    /// NodePorts `first..=last`; static band min(max(16, size/32), 128) (KEP-3668).
    pub fn node_ports(first: u16, last: u16) -> Range {
        let size = u32::from(last.saturating_sub(first)) + 1;
        Range {
            what: "port",
            describe: format!("{first}-{last}"),
            first: u32::from(first),
            size,
            static_band: (size / 32).clamp(16, 128).min(size),
            used: BTreeSet::new(),
        }
    }

    fn offset(&self, value: u32) -> Result<u32, AllocError> {
        value
            .checked_sub(self.first)
            .filter(|o| *o < self.size)
            .ok_or_else(|| AllocError::OutOfRange {
                what: self.what,
                range: self.describe.clone(),
            })
    }

    /// Takes a value chosen by the user.
    pub fn take(&mut self, value: u32) -> Result<(), AllocError> {
        let o = self.offset(value)?;
        if !self.used.insert(o) {
            return Err(AllocError::Taken { what: self.what });
        }
        Ok(())
    }

    /// Marks a value as used (rebuilding from stored objects); out-of-range values are ignored.
    pub fn mark(&mut self, value: u32) {
        if let Ok(o) = self.offset(value) {
            self.used.insert(o);
        }
    }

    /// A free value: a random one of the dynamic band, else of the static band.
    pub fn allocate(&mut self) -> Result<u32, AllocError> {
        let mut rng = rand::rng();
        for (lo, hi) in [(self.static_band, self.size), (0, self.static_band)] {
            if lo >= hi {
                continue;
            }
            let start = rng.random_range(lo..hi);
            let mut o = start;
            loop {
                if !self.used.contains(&o) {
                    self.used.insert(o);
                    return Ok(self.first + o);
                }
                o = if o + 1 >= hi { lo } else { o + 1 };
                if o == start {
                    break;
                }
            }
        }
        Err(AllocError::Full)
    }

    /// Gives a value back.
    pub fn release(&mut self, value: u32) {
        if let Ok(o) = self.offset(value) {
            self.used.remove(&o);
        }
    }
}

/// An IPv4 address as a range value.
pub fn ip_value(ip: Ipv4Addr) -> u32 {
    u32::from(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_cluster_ips_come_from_the_dynamic_band_and_are_unique() {
        let mut r = Range::cluster_ips("10.96.0.0/12".parse().unwrap());
        let mut seen = BTreeSet::new();
        for _ in 0..500 {
            let ip = Ipv4Addr::from(r.allocate().unwrap());
            assert!(seen.insert(ip));
            assert!(
                u32::from(ip) >= u32::from(Ipv4Addr::new(10, 96, 1, 1)),
                "dynamic band: {ip}"
            );
        }
    }

    #[test]
    fn a_requested_ip_is_honoured_once_and_only_in_range() {
        let mut r = Range::cluster_ips("10.96.0.0/12".parse().unwrap());
        r.take(ip_value(Ipv4Addr::new(10, 96, 0, 10))).unwrap();
        assert_eq!(
            r.take(ip_value(Ipv4Addr::new(10, 96, 0, 10))),
            Err(AllocError::Taken { what: "IP" })
        );
        let e = r.take(ip_value(Ipv4Addr::new(192, 0, 2, 1))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12"
        );
        r.release(ip_value(Ipv4Addr::new(10, 96, 0, 10)));
        r.take(ip_value(Ipv4Addr::new(10, 96, 0, 10))).unwrap();
    }

    #[test]
    fn a_small_range_fills_up_then_frees() {
        let mut r = Range::node_ports(30000, 30003);
        let mut got: Vec<u32> = (0..4).map(|_| r.allocate().unwrap()).collect();
        got.sort();
        assert_eq!(got, vec![30000, 30001, 30002, 30003]);
        assert_eq!(r.allocate(), Err(AllocError::Full));
        r.release(30002);
        assert_eq!(r.allocate(), Ok(30002));
    }
}
