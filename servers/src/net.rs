//! Binding the listening socket: TCP_NODELAY, SO_REUSEPORT, a backlog as deep as the kernel allows.
//!
//! Servers bind their own listener rather than letting a library do it, for two reasons: TCP_NODELAY set on
//! the listener is inherited by every accepted socket on Linux (without it, Nagle's algorithm delays keep-alive
//! responses by ~40 ms), and SO_REUSEPORT lets several processes listen on one port, with the kernel spreading
//! new connections between them — the multi-process model of the original tornado example.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

/// Listen backlog when `net.core.somaxconn` cannot be read (Linux's default since 5.4).
const FALLBACK_BACKLOG: i32 = 4096;

/// The listen backlog every listener gets: `net.core.somaxconn`, the most the kernel grants (it silently caps
/// a larger request). A connection whose handshake completes while its listener's accept queue holds this many
/// is dropped (`ListenOverflows`), and the client's SYN is retransmitted only after a second: so a burst of
/// connects must find the queue deep and the acceptors quick. Read once; reported by `/health` as `backlog`.
pub fn backlog() -> i32 {
    static BACKLOG: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    *BACKLOG.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .filter(|&n| n > 0)
            .unwrap_or(FALLBACK_BACKLOG)
    })
}

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

/// A listening socket on `addr` with a [`backlog`] of `net.core.somaxconn`, shareable (SO_REUSEPORT) with other
/// listeners on the same port — other processes, or more acceptors of this one ([`listen_again`]) — when
/// `reuse_port`.
pub fn listen(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = socket(addr, reuse_port)?;
    socket.listen(backlog())?;
    Ok(socket.into())
}

/// One more listening socket on the address of `listener` (which must have SO_REUSEPORT): the kernel then
/// spreads new connections over both, each with an accept queue of its own, so that several threads accept
/// at once without contending for one queue.
pub fn listen_again(listener: &TcpListener) -> io::Result<TcpListener> {
    listen(listener.local_addr()?, true)
}

/// A bound but not listening socket with SO_REUSEPORT: it holds the port (resolving port 0) for the worker
/// processes without taking part in accepting connections.
pub fn reserve(addr: SocketAddr) -> io::Result<(Socket, SocketAddr)> {
    let socket = socket(addr, true)?;
    let bound = socket.local_addr()?.as_socket().expect("an inet socket");
    Ok((socket, bound))
}
