//! Sockets as the lab's servers, clients and floor open them: listeners with the deepest backlog the kernel
//! grants (`net.core.somaxconn`), SO_REUSEPORT for one accept queue per acceptor, and client sockets whose
//! source port is chosen at connect time (IP_BIND_ADDRESS_NO_PORT); and the kernel's table of TCP sockets
//! (`/proc/net/tcp`), read to see accept queues, listeners and unread bytes from outside a process (read in
//! [`crate::proc`], re-exported here).

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{SocketAddr, TcpListener};

pub use crate::proc::{listening_sockets, tcp_rows, TcpRow, TCP_ESTABLISHED, TCP_LISTEN};

/// Listen backlog when `net.core.somaxconn` cannot be read (Linux's default since 5.4).
const FALLBACK_BACKLOG: i32 = 4096;

/// The listen backlog every listener gets: `net.core.somaxconn`, the most the kernel grants (it silently caps
/// a larger request). A connection whose handshake completes while its listener's accept queue holds this many
/// is dropped (`ListenOverflows`), and the client's SYN is retransmitted only after a second: so a burst of
/// connects must find the queue deep and the acceptors quick. Read once; reported by `/health` as `backlog`.
pub fn backlog() -> i32 {
    static BACKLOG: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    *BACKLOG.get_or_init(|| {
        crate::proc::somaxconn().and_then(|n| i32::try_from(n).ok()).filter(|&n| n > 0).unwrap_or(FALLBACK_BACKLOG)
    })
}

/// A TCP socket bound to `addr`: SO_REUSEADDR, TCP_NODELAY (inherited by accepted sockets on Linux), and
/// SO_REUSEPORT when `reuse_port`.
pub fn bound_socket(addr: SocketAddr, reuse_port: bool) -> io::Result<Socket> {
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
    let socket = bound_socket(addr, reuse_port)?;
    socket.listen(backlog())?;
    Ok(socket.into())
}

/// One more listening socket on the address of `listener` (which must have SO_REUSEPORT): the kernel then
/// spreads new connections over both, each with an accept queue of its own, so that several threads accept
/// at once without contending for one queue.
pub fn listen_again(listener: &TcpListener) -> io::Result<TcpListener> {
    listen(listener.local_addr()?, true)
}

/// IP_BIND_ADDRESS_NO_PORT: `bind(2)` then fixes only the source address, and `connect(2)` picks the port for
/// the whole 4-tuple, as for an unbound socket. Without it `bind` must find a port free on that address for
/// every destination, and ports still in TIME_WAIT from an earlier run are not.
pub fn no_port_at_bind(socket: &Socket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt on a socket we own, reading one c_int we pass with its size; rustix does not wrap
    // this option.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A TCP socket bound to the address of `source` (its port is chosen later, at connect: [`no_port_at_bind`]),
/// for a client that spreads its connections over several loopback addresses.
pub fn socket_from(source: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(source), Type::STREAM, Some(Protocol::TCP))?;
    no_port_at_bind(&socket)?;
    socket.bind(&source.into())?;
    Ok(socket)
}

/// Starts a non-blocking `connect(2)`: `Ok` when the handshake is under way or done (EINPROGRESS is not an
/// error here); the socket turns writable when it completes.
pub fn start_connect(socket: &Socket, addr: SocketAddr) -> io::Result<()> {
    match socket.connect(&addr.into()) {
        Err(e) if e.raw_os_error() != Some(libc::EINPROGRESS) => Err(e),
        _ => Ok(()),
    }
}
