//! Binding the listening socket: TCP_NODELAY, SO_REUSEPORT, a backlog as deep as the kernel allows.
//!
//! Servers bind their own listener rather than letting a library do it, for two reasons: TCP_NODELAY set on
//! the listener is inherited by every accepted socket on Linux (without it, Nagle's algorithm delays keep-alive
//! responses by ~40 ms), and SO_REUSEPORT lets several processes listen on one port, with the kernel spreading
//! new connections between them — the multi-process model of the original tornado example.

use socket2::Socket;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

pub use harness::net::{backlog, listen, listen_again};

pub fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{host} resolves to no address")))
}

/// A bound but not listening socket with SO_REUSEPORT: it holds the port (resolving port 0) for the worker
/// processes without taking part in accepting connections.
pub fn reserve(addr: SocketAddr) -> io::Result<(Socket, SocketAddr)> {
    let socket = harness::net::bound_socket(addr, true)?;
    let bound = socket.local_addr()?.as_socket().expect("an inet socket");
    Ok((socket, bound))
}
