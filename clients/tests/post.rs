//! A `--url` that names its method: `POST http://…/db/visit?name=X` is sent as a POST by every client and
//! engine, and the server's SQLite count moves by exactly the requests sent (warm-up included) — read back from
//! the server itself (`GET /db/visits`), and every logged request a POST.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{run_json, start_logging_server};
use servers::process::ServerProcess;

/// `GET /db/visits?name=NAME` on a fresh connection: the count the server's database holds.
fn visits(server: &ServerProcess, name: &str) -> u64 {
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = format!("GET /db/visits?name={name} HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a response");
    assert!(head.starts_with("HTTP/1.1 200 "), "{response}");
    body.trim().parse().unwrap_or_else(|_| panic!("not a count: {response}"))
}

/// The access log's lines for `/db/visit?name=NAME`, waiting until `expected` are there (the last may still be
/// in the pipe when the client exits).
fn logged(server: &ServerProcess, name: &str, expected: usize) -> Vec<String> {
    let target = format!(" /db/visit?name={name} ");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines: Vec<String> = server.stderr_lines().into_iter().filter(|line| line.contains(&target)).collect();
        if lines.len() >= expected || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_engine_posts_and_each_post_counts_one_visit() {
    // (client, its flags, requests, warm-up)
    let cases: [(&str, &[&str], u64, u64); 6] = [
        ("blocking-client", &[], 12, 2),
        ("pool-client", &["-c", "3"], 20, 3),
        ("async-client", &["-c", "4", "--engine", "surf"], 20, 3),
        ("async-client", &["-c", "4", "--engine", "lean"], 20, 3),
        ("async-client", &["-c", "4", "--engine", "loop"], 20, 3),
        // The children get the method with the URL.
        ("async-client", &["-c", "2", "--processes", "2", "--engine", "lean"], 21, 0),
    ];
    for server_name in ["smol-server", "thread-server", "lean-server", "coroutine-server"] {
        let server = start_logging_server(server_name);
        for (i, (client, flags, requests, warmup)) in cases.into_iter().enumerate() {
            let name = format!("post{i}");
            assert_eq!(visits(&server, &name), 0);
            let url = format!("POST http://{}/db/visit?name={name}", server.addr);
            let (n, w) = (requests.to_string(), warmup.to_string());
            let mut args = vec!["--url", &url, "-n", &n, "--warmup", &w, "--timeout", "20"];
            args.extend_from_slice(flags);
            let (run, report) = run_json(client, &args);
            let what = format!("{client} {flags:?} on {server_name}");
            assert_eq!((report.succeeded, report.failed), (requests, 0), "{what}: {report:#?}\n{}", run.stderr);
            assert_eq!(report.urls, std::slice::from_ref(&url), "{what}: the report names the method");
            let lines = logged(&server, &name, (requests + warmup) as usize);
            assert_eq!(lines.len() as u64, requests + warmup, "{what}: {lines:#?}");
            assert!(lines.iter().all(|line| line.contains(" 200 POST /db/visit?")), "{what}: {lines:#?}");
            assert_eq!(visits(&server, &name), requests + warmup, "{what}: the count in SQLite");
        }
    }
}

#[test]
fn a_method_other_than_get_or_post_is_refused() {
    let run = common::run("blocking-client", &["--url", "DELETE http://127.0.0.1:9/db/visit?name=x"]);
    assert_eq!(run.code(), Some(2), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(run.stderr.contains(r#"method "DELETE" is not supported; use GET or POST"#), "{run:?}");
}
