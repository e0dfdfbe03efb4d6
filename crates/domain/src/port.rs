//! Port mappings such as `8080:8080` or `0.0.0.0:8080:80`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A container port published on the host. The host address defaults to loopback so that a
/// model server is not exposed to the network unless the user asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_port: u16,
}

impl PortMapping {
    /// Whether two mappings want the same host port: on the same address, or where either
    /// listens on every address.
    pub fn overlaps(&self, other: &PortMapping) -> bool {
        self.host_port == other.host_port
            && (self.host_ip == other.host_ip
                || self.host_ip.is_unspecified()
                || other.host_ip.is_unspecified())
    }
}

fn parse_port(text: &str, which: &str) -> Result<u16, Error> {
    let value: u64 = text
        .parse()
        .map_err(|_| Error::Invalid(format!("{which} port {text:?} is not a number")))?;
    match u16::try_from(value) {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(Error::Invalid(format!(
            "{which} port {value} is out of range 1–65535"
        ))),
    }
}

impl FromStr for PortMapping {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        // The address may itself hold colons (IPv6), so the two ports are taken from the right.
        let mut parts = text.rsplitn(3, ':');
        let (container, host, ip) = (parts.next(), parts.next(), parts.next());
        let (Some(container), Some(host)) = (container, host) else {
            return Err(Error::Invalid(format!(
                "port mapping {text:?} is not HOST:CONTAINER (for example 8080:8080)"
            )));
        };
        let host_ip = match ip {
            None => IpAddr::from([127, 0, 0, 1]),
            Some(ip) => ip
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| {
                    Error::Invalid(format!("host address {ip:?} in {text:?} is not an IP address"))
                })?,
        };
        Ok(PortMapping {
            host_ip,
            host_port: parse_port(host, "host")?,
            container_port: parse_port(container, "container")?,
        })
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host_ip {
            IpAddr::V6(ip) => write!(f, "[{ip}]:{}:{}", self.host_port, self.container_port),
            IpAddr::V4(ip) => write!(f, "{ip}:{}:{}", self.host_port, self.container_port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_overlap_on_one_address_or_on_every_address() {
        let m = |t: &str| t.parse::<PortMapping>().unwrap();
        assert!(m("8080:80").overlaps(&m("127.0.0.1:8080:81")));
        assert!(m("0.0.0.0:8080:80").overlaps(&m("127.0.0.2:8080:80")));
        assert!(!m("127.0.0.1:8080:80").overlaps(&m("127.0.0.2:8080:80")));
        assert!(!m("8080:80").overlaps(&m("8081:80")));
    }

    #[test]
    fn parses_short_and_long_forms() {
        let p: PortMapping = "8080:80".parse().unwrap();
        assert_eq!(
            (p.host_ip.to_string().as_str(), p.host_port, p.container_port),
            ("127.0.0.1", 8080, 80)
        );
        let p: PortMapping = "0.0.0.0:9000:8080".parse().unwrap();
        assert_eq!(p.to_string(), "0.0.0.0:9000:8080");
        let p: PortMapping = "[::1]:9000:8080".parse().unwrap();
        assert_eq!(p.to_string(), "[::1]:9000:8080");
    }

    #[test]
    fn errors_name_the_problem() {
        let err = |s: &str| s.parse::<PortMapping>().unwrap_err().to_string();
        assert_eq!(err("8080:99999"), "container port 99999 is out of range 1–65535");
        assert_eq!(err("99999:8080"), "host port 99999 is out of range 1–65535");
        assert_eq!(err("0:8080"), "host port 0 is out of range 1–65535");
        assert!(err("8080").contains("is not HOST:CONTAINER"));
        assert!(err("x:80").contains("host port \"x\" is not a number"));
        assert!(err("1.2.3:80:80").contains("is not an IP address"));
    }
}
