//! Binding the listening socket: TCP_NODELAY, SO_REUSEPORT, a deep backlog.
//!
//! Servers bind their own listener rather than letting a library do it, for two reasons: TCP_NODELAY set on
//! the listener is inherited by every accepted socket on Linux (without it, Nagle's algorithm delays keep-alive
//! responses by ~40 ms), and SO_REUSEPORT lets several processes listen on one port, with the kernel spreading
//! new connections between them — the multi-process model of the original tornado example.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

/// Listen backlog; the kernel caps it at net.core.somaxconn.
const BACKLOG: i32 = 4096;

pub fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{host} resolves to no address")))
}

fn socket(addr: SocketAddr, reuse_port: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(reuse_port)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&SockAddr::from(addr))?;
    Ok(socket)
}

/// A listening socket on `addr`, shareable with other processes when `reuse_port`.
pub fn listen(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = socket(addr, reuse_port)?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// A bound but not listening socket with SO_REUSEPORT: it holds the port (resolving port 0) for the worker
/// processes without taking part in accepting connections.
pub fn reserve(addr: SocketAddr) -> io::Result<(Socket, SocketAddr)> {
    let socket = socket(addr, true)?;
    let bound = socket.local_addr()?.as_socket().expect("an inet socket");
    Ok((socket, bound))
}
