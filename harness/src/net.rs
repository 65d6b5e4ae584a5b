//! Sockets as the lab's servers, clients and floor open them: listeners with the deepest backlog the kernel
//! grants (`net.core.somaxconn`), SO_REUSEPORT for one accept queue per acceptor, and client sockets whose
//! source port is chosen at connect time (IP_BIND_ADDRESS_NO_PORT); and the kernel's table of TCP sockets
//! (`/proc/net/tcp`), read to see accept queues, listeners and unread bytes from outside a process.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};

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

/// `st` of a listening socket in `/proc/net/tcp` (the kernel's `TCP_LISTEN`).
pub const TCP_LISTEN: u8 = 0x0A;
/// `st` of an established connection (`TCP_ESTABLISHED`).
pub const TCP_ESTABLISHED: u8 = 0x01;

/// One row of `/proc/net/tcp` or `/proc/net/tcp6` (proc(5)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRow {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The socket's state: [`TCP_LISTEN`], [`TCP_ESTABLISHED`], ...
    pub state: u8,
    pub tx_queue: u64,
    /// Bytes received and not yet read; for a listening socket, the connections waiting in its accept queue.
    pub rx_queue: u64,
}

/// The rows of one `/proc/net/tcp{,6}` text (its header line and any malformed row skipped).
pub fn tcp_rows(table: &str) -> impl Iterator<Item = TcpRow> + '_ {
    table.lines().skip(1).filter_map(tcp_row)
}

fn tcp_row(line: &str) -> Option<TcpRow> {
    let mut fields = line.split_whitespace();
    let (_slot, local, remote, state, queues) =
        (fields.next()?, fields.next()?, fields.next()?, fields.next()?, fields.next()?);
    let (tx, rx) = queues.split_once(':')?;
    Some(TcpRow {
        local: table_addr(local)?,
        remote: table_addr(remote)?,
        state: u8::from_str_radix(state, 16).ok()?,
        tx_queue: u64::from_str_radix(tx, 16).ok()?,
        rx_queue: u64::from_str_radix(rx, 16).ok()?,
    })
}

/// The listening sockets of `ip`'s address family now — `/proc/net/tcp` for IPv4, `/proc/net/tcp6` for IPv6 —
/// read only as far as the kernel lists them. It prints every listening socket before any other
/// (`tcp_get_idx` walks the listening hash, then the established one: net/ipv4/tcp_ipv4.c), and generates the
/// file as it is read, so the read stops at the first row in another state. The whole table is no sampler's
/// business during a burst: with 20,000 connections open and 80,000 more in TIME_WAIT it is 12 MB of text and
/// about 90 ms of CPU to generate; the listening part is a page (results/experiments/burst-timeline.txt).
///
/// One family only, because the two files walk one established hash: when every connection is IPv4, the
/// first page of `/proc/net/tcp6` finds no row after the listeners and walks all of it — 2.7 ms of CPU with
/// 90,000 sockets in TIME_WAIT, which at a sample every 5 ms took a third of a core from the burst it watched
/// (results/experiments/queue-sampler-tcp6.txt).
pub fn listening_sockets(ip: IpAddr) -> Vec<TcpRow> {
    use std::io::BufRead;
    let mut rows = Vec::new();
    let path = if ip.is_ipv4() { "/proc/net/tcp" } else { "/proc/net/tcp6" };
    let Ok(file) = std::fs::File::open(path) else { return rows };
    for line in io::BufReader::new(file).lines().skip(1) {
        let Ok(line) = line else { break };
        match tcp_row(&line) {
            Some(row) if row.state == TCP_LISTEN => rows.push(row),
            _ => break,
        }
    }
    rows
}

/// `HEXIP:HEXPORT` as the table prints it: the address as the in-memory 32-bit words, in host order.
fn table_addr(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let word = |i: usize| u32::from_str_radix(ip.get(8 * i..8 * i + 8)?, 16).ok().map(u32::to_ne_bytes);
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[4 * i..4 * i + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, u16::from_str_radix(port, 16).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_the_kernel_table_read_as_addresses() {
        // proc(5): the address is printed as the kernel's in-memory words; on this little-endian machine
        // 127.0.0.1:8080 reads 0100007F:1F90, and [::1]:80 has its 1 in the last word's low byte.
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt\n\
           0: 0100007F:1F90 0100007F:C350 01 00000002:00000005 00:00000000 00000000\n\
           1: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000009 00:0\n\
           2: garbage\n";
        let rows: Vec<TcpRow> = tcp_rows(table).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(rows[0].remote, "127.0.0.1:50000".parse().unwrap());
        assert_eq!((rows[0].state, rows[0].tx_queue, rows[0].rx_queue), (TCP_ESTABLISHED, 2, 5));
        assert_eq!(rows[1].local, "[::1]:80".parse().unwrap());
        assert_eq!((rows[1].state, rows[1].rx_queue), (TCP_LISTEN, 9));
    }

    #[test]
    fn the_kernel_lists_listeners_first_and_the_early_stop_finds_them() {
        // A listener with two connections nobody accepts (its accept queue: 2), and those connections'
        // established ends in the same table.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _a = std::net::TcpStream::connect(addr).unwrap();
        let _b = std::net::TcpStream::connect(addr).unwrap();
        // The rule the early stop relies on, checked on a whole read of the table: no listening row after a
        // row in another state.
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
        let states: Vec<u8> = tcp_rows(&table).map(|r| r.state).collect();
        let first_other = states.iter().position(|&s| s != TCP_LISTEN).expect("our connections are in the table");
        assert!(!states[first_other..].contains(&TCP_LISTEN), "a listening row after another state: {states:?}");
        let ours: Vec<TcpRow> = listening_sockets(addr.ip()).into_iter().filter(|r| r.local == addr).collect();
        assert_eq!(ours.len(), 1, "{ours:?}");
        assert_eq!(ours[0].rx_queue, 2);
        assert!(listening_sockets(addr.ip()).iter().all(|r| r.state == TCP_LISTEN));
    }
}
