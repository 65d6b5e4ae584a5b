//! The floor: the least time any server on this machine could need for C connections that each wait D — a bare
//! connect / accept / wait D / close loop, with no HTTP, no runtime and no per-connection task.
//!
//! Two processes of the lab binary itself (started with [`ROLE_VAR`] set, see [`run_role_from_env`]):
//! - the floor server listens with the servers' own helper (backlog = somaxconn, one SO_REUSEPORT listener per
//!   thread); each of its threads blocks in `accept(2)` and hands the socket to a closer thread, which sleeps
//!   until D after the accept and closes it. Deadlines come in accept order, so a FIFO is the whole timer wheel.
//! - the floor client opens the C connections as fast as its threads can (blocking `connect(2)`, each thread
//!   its share), and a reader thread per connector blocks in `read(2)` on each socket in turn until the server
//!   closes it. Its wall time runs from the first connect to the last close seen.
//!
//! So the floor is what the kernel's connection setup and teardown cost, on the cores the machine has, plus a
//! thread switch or two: a server at the floor has no overhead left to remove. Both sides report their own CPU
//! time (getrusage), so the lab gives the CPU per connection of each side.

use crate::records::bench::Floor;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

/// Set to `server` or `client` in the environment of a floor process.
pub const ROLE_VAR: &str = "LAB_FLOOR_ROLE";
const CONNECTIONS_VAR: &str = "LAB_FLOOR_CONNECTIONS";
const WAIT_MS_VAR: &str = "LAB_FLOOR_WAIT_MS";
const THREADS_VAR: &str = "LAB_FLOOR_THREADS";
const ADDR_VAR: &str = "LAB_FLOOR_ADDR";
const SOURCES_VAR: &str = "LAB_FLOOR_SOURCES";
/// Set to `1` for the floor with HTTP's bytes: the client writes `HTTP_REQUEST` after connecting and reads
/// until EOF; the server reads it and writes `HTTP_RESPONSE` before closing. No parser, no runtime: what the
/// bytes of one request and one response cost the kernel on each side, to split "HTTP framing cost" from "a
/// server's model cost" (results/experiments/reach-vs-floor.txt).
pub const HTTP_VAR: &str = "LAB_FLOOR_HTTP";
/// The lean client's request for `/say/hello?ms=1000`, byte for byte (clients/src/lean/mod.rs).
const HTTP_REQUEST: &[u8] =
    b"GET /say/hello?ms=1000 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: clients/lean\r\nAccept: */*\r\n\r\n";
/// A response of the size hyper writes for `/say/hello`.
const HTTP_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\nserver: floor\r\n\
content-length: 13\r\ndate: Fri, 27 Nov 2026 15:00:00 GMT\r\n\r\nHello, world!";

impl Floor {
    /// One record for a level from its rounds: the round with the median wall, with every round's wall. None for
    /// no rounds.
    pub fn median_round(rounds: Vec<Floor>) -> Option<Floor> {
        let walls: Vec<f64> = rounds.iter().map(|f| f.wall_s).collect();
        let mut floor = rounds.into_iter().nth(harness::stats::median_position(&walls)?)?;
        floor.round_walls_s = walls;
        Some(floor)
    }
}

/// What a floor process prints on stdout when done.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SideReport {
    user_s: f64,
    sys_s: f64,
    wall_s: f64,
    failed: u64,
    connect_p99_us: u64,
    connect_max_us: u64,
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

fn own_cpu() -> (f64, f64) {
    let usage = harness::process::Usage::own();
    (usage.user_s, usage.sys_s)
}

/// When this process is a floor process, runs its side and returns the exit code; otherwise `None`.
pub fn run_role_from_env() -> Option<ExitCode> {
    let role = std::env::var(ROLE_VAR).ok()?;
    let connections = env_number(CONNECTIONS_VAR).unwrap_or(1);
    let threads = env_number(THREADS_VAR).unwrap_or(1).max(1) as usize;
    let http = env_number(HTTP_VAR) == Some(1);
    // As the servers and the clients do: the table holds every connection before the first one.
    harness::limits::reserve_descriptors(connections + 64);
    let result = match role.as_str() {
        "server" => {
            floor_server(connections, Duration::from_millis(env_number(WAIT_MS_VAR).unwrap_or(0)), threads, http)
        }
        "client" => match std::env::var(ADDR_VAR).ok().and_then(|a| a.parse().ok()) {
            Some(addr) => floor_client(addr, connections, threads, env_number(SOURCES_VAR).unwrap_or(1).max(1), http),
            None => Err(std::io::Error::other(format!("{ADDR_VAR} is not an address"))),
        },
        other => Err(std::io::Error::other(format!("unknown {ROLE_VAR} {other:?}"))),
    };
    Some(match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lab floor {role}: {e}");
            ExitCode::from(1)
        }
    })
}

fn floor_server(connections: u64, wait: Duration, threads: usize, http: bool) -> std::io::Result<()> {
    let first = harness::net::listen("127.0.0.1:0".parse().expect("an address"), true)?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..threads {
        listeners.push(harness::net::listen_again(&listeners[0])?);
    }
    let closed = Arc::new(AtomicU64::new(0));
    let (done_tx, done) = mpsc::channel::<()>();
    for listener in listeners {
        let (to_closer, closing) = mpsc::channel::<(Instant, TcpStream)>();
        let (closed, done_tx) = (Arc::clone(&closed), done_tx.clone());
        thread::spawn(move || {
            let mut request = [0u8; 1024];
            for (deadline, mut stream) in closing {
                // Blocks this closer until the connection has waited D.
                thread::sleep(deadline.saturating_duration_since(Instant::now()));
                if http {
                    // The request has been in the socket's queue since long before D: one read takes it.
                    let _ = stream.read(&mut request);
                    let _ = stream.write_all(HTTP_RESPONSE);
                }
                drop(stream);
                if closed.fetch_add(1, Ordering::Relaxed) + 1 == connections {
                    let _ = done_tx.send(());
                }
            }
        });
        thread::spawn(move || loop {
            // Blocks this acceptor until a connection is in its queue.
            match listener.accept() {
                Ok((stream, _)) => {
                    if to_closer.send((Instant::now() + wait, stream)).is_err() {
                        return;
                    }
                }
                Err(_) => thread::sleep(Duration::from_millis(10)),
            }
        });
    }
    println!("listening on http://{addr}");
    std::io::stdout().flush()?;
    let _ = done.recv();
    let (user_s, sys_s) = own_cpu();
    println!("{}", serde_json::to_string(&SideReport { user_s, sys_s, ..SideReport::default() })?);
    Ok(())
}

/// A blocking connect to `addr`, from 127.0.0.`host` when `host` is given.
fn connect_from(addr: SocketAddr, host: Option<u8>) -> std::io::Result<TcpStream> {
    let Some(host) = host else { return TcpStream::connect(addr) };
    // The port is chosen at connect(2), for the 4-tuple (`harness::net::no_port_at_bind`).
    let socket = harness::net::socket_from(SocketAddr::from(([127, 0, 0, host], 0)))?;
    socket.connect(&addr.into())?;
    Ok(socket.into())
}

fn floor_client(addr: SocketAddr, connections: u64, threads: usize, sources: u64, http: bool) -> std::io::Result<()> {
    let started = Instant::now();
    let workers: Vec<_> = (0..threads as u64)
        .map(|t| {
            let mine = connections / threads as u64 + u64::from(t < connections % threads as u64);
            thread::spawn(move || {
                let (to_reader, opened) = mpsc::channel::<TcpStream>();
                let reader = thread::spawn(move || {
                    let mut response = [0u8; 1024];
                    for mut stream in opened {
                        // Blocks until the server closes this connection (EOF), in the order they were opened.
                        while let Ok(1..) = stream.read(&mut response) {}
                    }
                    started.elapsed()
                });
                let (mut times, mut failed) = (Vec::with_capacity(mine as usize), 0u64);
                for i in 0..mine {
                    let host = (sources > 1).then(|| 1 + ((i * threads as u64 + t) % sources) as u8);
                    let connecting = Instant::now();
                    // Blocks until the handshake completes (on loopback, usually inside the call).
                    match connect_from(addr, host) {
                        Ok(mut stream) => {
                            times.push(connecting.elapsed().as_micros() as u64);
                            if http && stream.write_all(HTTP_REQUEST).is_err() {
                                failed += 1;
                                continue;
                            }
                            let _ = to_reader.send(stream);
                        }
                        Err(_) => failed += 1,
                    }
                }
                drop(to_reader);
                let last_close = reader.join().unwrap_or_default();
                (times, failed, last_close)
            })
        })
        .collect();
    let (mut times, mut failed, mut wall) = (Vec::new(), 0, Duration::ZERO);
    for worker in workers {
        let (t, f, w) = worker.join().map_err(|_| std::io::Error::other("a connector thread panicked"))?;
        times.extend(t);
        failed += f;
        wall = wall.max(w);
    }
    times.sort_unstable();
    let p99 = times.get((times.len() * 99 / 100).min(times.len().saturating_sub(1))).copied().unwrap_or(0);
    let (user_s, sys_s) = own_cpu();
    let report = SideReport {
        user_s,
        sys_s,
        wall_s: wall.as_secs_f64(),
        failed,
        connect_p99_us: p99,
        connect_max_us: times.last().copied().unwrap_or(0),
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// Measures the floor at `connections` with `threads` threads a side: starts the two processes from `lab`,
/// waits for the client, then for the server (which exits when it has closed every connection).
/// With `http`, the floor with HTTP's bytes ([`HTTP_VAR`]).
pub fn measure(
    lab: &Path,
    connections: u64,
    wait: Duration,
    threads: u64,
    sources: u64,
    http: bool,
) -> Result<Floor, String> {
    let side = |role: &str| {
        let mut command = Command::new(lab);
        command
            .env(ROLE_VAR, role)
            .env(CONNECTIONS_VAR, connections.to_string())
            .env(WAIT_MS_VAR, wait.as_millis().to_string())
            .env(THREADS_VAR, threads.to_string())
            .env(SOURCES_VAR, sources.to_string())
            .env(HTTP_VAR, if http { "1" } else { "0" })
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        crate::process::isolate(&mut command);
        command
    };
    let mut server = side("server").spawn().map_err(|e| format!("cannot start the floor server: {e}"))?;
    let mut server_out = BufReader::new(server.stdout.take().expect("piped"));
    let mut line = String::new();
    let _ = server_out.read_line(&mut line);
    let Some(addr) = line.trim().strip_prefix("listening on http://").map(str::to_string) else {
        let _ = server.kill();
        let _ = server.wait();
        return Err(format!("the floor server did not start (it said {:?})", line.trim()));
    };
    let client = side("client").env(ADDR_VAR, &addr).output();
    let report = |text: &str| serde_json::from_str::<SideReport>(text.trim()).ok();
    let client = match client {
        Ok(out) => report(&String::from_utf8_lossy(&out.stdout)),
        Err(e) => {
            let _ = server.kill();
            let _ = server.wait();
            return Err(format!("cannot start the floor client: {e}"));
        }
    };
    // The server exits once it has closed every connection; one that never got them all is stopped.
    let waiting = Instant::now();
    while server.try_wait().ok().flatten().is_none() && waiting.elapsed() < wait + Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(10));
    }
    let _ = server.kill();
    let _ = server.wait();
    let mut text = String::new();
    let _ = server_out.read_to_string(&mut text);
    let server = report(&text);
    let Some(client) = client else { return Err("the floor client printed no report".to_string()) };
    let server = server.unwrap_or_default();
    let per = |s: f64| s * 1e6 / connections.max(1) as f64;
    let (server_cpu_s, client_cpu_s) = (server.user_s + server.sys_s, client.user_s + client.sys_s);
    Ok(Floor {
        connections,
        http,
        threads,
        source_addresses: sources,
        wall_s: client.wall_s,
        efficiency: if client.wall_s > 0.0 { wait.as_secs_f64() / client.wall_s } else { 0.0 },
        failed: client.failed,
        connect_p99_us: client.connect_p99_us,
        connect_max_us: client.connect_max_us,
        server_cpu_s,
        client_cpu_s,
        server_cpu_us_per_connection: per(server_cpu_s),
        client_cpu_us_per_connection: per(client_cpu_s),
        round_walls_s: vec![client.wall_s],
    })
}
