//! A free local port, for the benches that start a server on one.
#![allow(unreachable_pub)] // a bench has no API: `pub` shares the helper between its modules

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
