//! Engines: where Docker jobs run. `local` is the engine `DOCKER_HOST` names (or the default
//! socket), which sees this machine's files; every other engine is named in the config and
//! reached by its address, and is remote: it sees none of this machine's files, so a job's
//! code, image and storage reach it through the Engine API.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::Error;

/// The name of the engine `DOCKER_HOST` names: the default one, beside this machine's files.
pub const LOCAL_ENGINE: &str = "local";

/// The word that asks mlbench to pick an engine (`--engine auto`).
pub const AUTO_ENGINE: &str = "auto";

/// Where a named engine is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineAddress {
    /// Over SSH with the user's own OpenSSH client and config: `ssh://[user@]host[:port]`.
    Ssh {
        user: Option<String>,
        host: String,
        port: Option<u16>,
    },
    /// The Engine API over TCP, with TLS when the engine's table names its files:
    /// `tcp://host:port`.
    Tcp { host: String, port: u16 },
    /// A Unix socket of this machine: `unix:///path`.
    Unix(PathBuf),
}

impl EngineAddress {
    /// The machine the engine runs on, for messages and for the URLs of ports it publishes.
    pub fn host(&self) -> String {
        match self {
            EngineAddress::Ssh { host, .. } | EngineAddress::Tcp { host, .. } => host.clone(),
            EngineAddress::Unix(_) => "127.0.0.1".into(),
        }
    }
}

impl fmt::Display for EngineAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineAddress::Ssh { user, host, port } => {
                write!(f, "ssh://")?;
                if let Some(user) = user {
                    write!(f, "{user}@")?;
                }
                write!(f, "{host}")?;
                if let Some(port) = port {
                    write!(f, ":{port}")?;
                }
                Ok(())
            }
            EngineAddress::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            EngineAddress::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

impl FromStr for EngineAddress {
    type Err = Error;

    fn from_str(text: &str) -> Result<EngineAddress, Error> {
        let bad = |why: &str| {
            Error::Invalid(format!(
                "{text:?} is not an engine's address ({why}): use ssh://[user@]host[:port], tcp://host:port or unix:///path"
            ))
        };
        let (scheme, rest) = text.split_once("://").ok_or_else(|| bad("no scheme"))?;
        match scheme {
            "ssh" => {
                let (user, place) = match rest.rsplit_once('@') {
                    Some((user, place)) => (Some(user), place),
                    None => (None, rest),
                };
                if let Some(user) = user
                    && (user.is_empty()
                        || !user
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
                {
                    return Err(bad("the user is not a user name"));
                }
                let (host, port) = split_port(place).map_err(&bad)?;
                Ok(EngineAddress::Ssh {
                    user: user.map(str::to_string),
                    host,
                    port,
                })
            }
            "tcp" => {
                let (host, port) = split_port(rest).map_err(&bad)?;
                let port = port.ok_or_else(|| bad("tcp:// needs a port, usually 2376"))?;
                Ok(EngineAddress::Tcp { host, port })
            }
            "unix" => {
                if !rest.starts_with('/') {
                    return Err(bad("unix:// needs an absolute path"));
                }
                Ok(EngineAddress::Unix(PathBuf::from(rest)))
            }
            _ => Err(bad("unknown scheme")),
        }
    }
}

/// `host[:port]`, with a host that is a name or an address (`[v6]` in brackets).
fn split_port(place: &str) -> Result<(String, Option<u16>), &'static str> {
    let (host, port) = if let Some(v6) = place.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or("an IPv6 address needs its closing ]")?;
        (host, after.strip_prefix(':'))
    } else {
        match place.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (place, None),
        }
    };
    let name_ok = |c: char| c.is_ascii_alphanumeric() || ".-_:".contains(c);
    if host.is_empty() || host.starts_with('-') || !host.chars().all(name_ok) || place.contains('/') {
        return Err("the host is not a host name or address");
    }
    let port = match port {
        None => None,
        Some(port) => Some(
            port.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or("the port is not a number from 1 to 65535")?,
        ),
    };
    Ok((host.to_string(), port))
}

/// Checks a name the config gives an engine: it names Docker volumes and folders, so lowercase
/// letters, digits and dashes; `local` and `auto` are taken.
pub fn check_engine_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-');
    if !ok {
        return Err(Error::Invalid(format!(
            "{name:?} is not an engine name: use up to 32 lowercase letters, digits and dashes"
        )));
    }
    if name == LOCAL_ENGINE || name == AUTO_ENGINE {
        return Err(Error::Invalid(format!(
            "{name:?} is taken: `local` is the engine DOCKER_HOST names and `auto` lets mlbench pick; choose another name"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_and_print_back() {
        for text in [
            "ssh://alice@gpu1.lab",
            "ssh://gpu1",
            "ssh://root@10.0.0.2:2222",
            "tcp://gpu1.lab:2376",
            "unix:///run/user/1000/docker.sock",
        ] {
            let address: EngineAddress = text.parse().unwrap();
            assert_eq!(address.to_string(), text);
        }
        assert_eq!(
            "ssh://alice@gpu1.lab:2222".parse::<EngineAddress>().unwrap(),
            EngineAddress::Ssh {
                user: Some("alice".into()),
                host: "gpu1.lab".into(),
                port: Some(2222)
            }
        );
        assert_eq!(
            "ssh://[fe80::1]:22".parse::<EngineAddress>().unwrap().host(),
            "fe80::1"
        );
    }

    #[test]
    fn bad_addresses_say_what_to_write() {
        for (text, why) in [
            ("gpu1", "no scheme"),
            ("http://gpu1", "unknown scheme"),
            ("tcp://gpu1", "needs a port"),
            ("ssh://gpu1:99999", "port is not a number"),
            ("ssh://-oProxyCommand=x", "not a host name"),
            ("ssh://@gpu1", "not a user name"),
            ("ssh://gpu1/path", "not a host name"),
            ("unix://relative", "absolute path"),
        ] {
            let err = text.parse::<EngineAddress>().unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
            assert!(err.contains("use ssh://"), "{err}");
        }
    }

    #[test]
    fn engine_names_are_checked() {
        assert!(check_engine_name("gpu-1").is_ok());
        for bad in ["", "GPU", "a b", "-x", "local", "auto", &"x".repeat(33)] {
            assert!(check_engine_name(bad).is_err(), "{bad}");
        }
    }
}
