//! The workload contract (docs/workload.md), checked route by route on every server binary over real TCP:
//! exact status and body for every route and every kind of bad input, and the headers every response carries
//! (`Server::get` checks `Content-Length`, `Date` and `Server` on every single response these tests receive).

mod common;

use common::{decimal_factorial, decimal_mod, factorial_mod, Server};
use std::time::{Duration, Instant};

for_each_server!(
    say_hello,
    say_hello_default_wait,
    fact,
    fact_largest,
    fact_bad_input,
    no_param,
    db_visits,
    db_visit_by_post,
    db_visit_expect_continue,
    cache_control,
    block,
    health,
    unknown_path,
    absolute_form_target,
    wrong_method,
    bad_query,
    access_log,
);

fn say_hello(name: &'static str) {
    let server = Server::start(name, &[]);
    server.expect("/say/hello?name=alice&ms=0", 200, "hello alice");
    server.expect("/say/hello?ms=0&name=bob", 200, "hello bob");
    // `+` is a space, `%XX` a byte, and the bytes must be UTF-8.
    server.expect("/say/hello?name=a%20b+c&ms=0", 200, "hello a b c");
    server.expect("/say/hello?name=%C3%A9t%C3%A9&ms=0", 200, "hello été");
    // Parameters the route does not know are ignored.
    server.expect("/say/hello?name=x&ms=0&other=1", 200, "hello x");

    let started = Instant::now();
    server.expect("/say/hello?name=carol&ms=150", 200, "hello carol");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(150), "{name}: ms=150 answered after {waited:?}");

    server.expect(
        "/say/hello?name=x&ms=60001",
        400,
        r#"parameter "ms" must be a whole number from 0 to 60000, not "60001""#,
    );
    server.expect("/say/hello?name=x&ms=-5", 400, r#"parameter "ms" must be a whole number from 0 to 60000, not "-5""#);
    server.expect(
        "/say/hello?name=x&ms=0.5",
        400,
        r#"parameter "ms" must be a whole number from 0 to 60000, not "0.5""#,
    );
    server.expect("/say/hello?name=x&ms=", 400, r#"parameter "ms" must be a whole number from 0 to 60000, not """#);
    server.expect("/say/hello?ms=0", 400, r#"missing parameter "name""#);
    server.expect("/say/hello", 400, r#"missing parameter "name""#);
    server.expect("/say/hello?name=&ms=0", 400, r#"parameter "name" is empty"#);
    let longest = "n".repeat(256);
    server.expect(&format!("/say/hello?name={longest}&ms=0"), 200, &format!("hello {longest}"));
    server.expect(&format!("/say/hello?name={longest}n&ms=0"), 400, r#"parameter "name" is longer than 256 bytes"#);
}

/// Without `ms=`, `/say/hello` waits the server's `--hello-ms`.
fn say_hello_default_wait(name: &'static str) {
    let server = Server::start(name, &["--hello-ms", "400"]);
    let started = Instant::now();
    server.expect("/say/hello?name=dave", 200, "hello dave");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(400), "{name}: --hello-ms 400 answered after {waited:?}");
    let started = Instant::now();
    server.expect("/say/hello?name=dave&ms=0", 200, "hello dave");
    let quick = started.elapsed();
    assert!(quick < Duration::from_millis(400), "{name}: ms=0 took {quick:?}, as long as the default wait");
}

fn fact(name: &'static str) {
    let server = Server::start(name, &[]);
    for n in [0, 1, 2, 5, 20, 100] {
        let expected = decimal_factorial(n);
        server.expect(&format!("/fact?n={n}"), 200, &expected);
        // Cached or computed afresh, the answer is the same.
        server.expect(&format!("/fact?n={n}&cache=1"), 200, &expected);
        server.expect(&format!("/fact?n={n}&cache=0"), 200, &expected);
    }
    assert_eq!(decimal_factorial(20), "2432902008176640000");
    // Leading zeros are still a whole number from 0 to 20000.
    server.expect("/fact?n=007", 200, "5040");
}

/// 20000! has 77,338 digits: bigger than tiny_http's 32 KiB chunking threshold, and still one
/// `Content-Length` body. Checked independently of any big-number library: its length, its trailing zeros
/// and its value modulo two primes.
fn fact_largest(name: &'static str) {
    let server = Server::start(name, &[]);
    for target in ["/fact?n=20000", "/fact?n=20000&cache=0", "/fact?n=20000"] {
        let response = server.get(target);
        assert_eq!(response.status, 200, "{name} {target}: {response:?}");
        let digits = response.text();
        assert_eq!(digits.len(), 77_338, "{name} {target}: number of digits");
        assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{name} {target}");
        // Trailing zeros of N!: N/5 + N/25 + N/125 + … = 4999 for N = 20000.
        let zeros = digits.bytes().rev().take_while(|&b| b == b'0').count();
        assert_eq!(zeros, 4999, "{name} {target}: trailing zeros");
        for prime in [1_000_000_007, 998_244_353] {
            assert_eq!(
                decimal_mod(digits, prime),
                factorial_mod(20_000, prime),
                "{name} {target}: value modulo {prime}"
            );
        }
    }
}

fn fact_bad_input(name: &'static str) {
    let server = Server::start(name, &[]);
    let out_of_range = |raw: &str| format!(r#"parameter "n" must be a whole number from 0 to 20000, not "{raw}""#);
    for raw in ["20001", "-1", "1.5", "x", "", "1e3", "99999999999999999999999", " 5"] {
        let encoded = raw.replace(' ', "%20");
        server.expect(&format!("/fact?n={encoded}"), 400, &out_of_range(raw));
    }
    server.expect("/fact", 400, r#"missing parameter "n""#);
    server.expect("/fact?cache=0", 400, r#"missing parameter "n""#);
    server.expect("/fact?m=3", 400, r#"missing parameter "n""#);
    server.expect("/fact?n=3&cache=2", 400, r#"parameter "cache" must be 0 or 1, not "2""#);
    server.expect("/fact?n=3&cache=", 400, r#"parameter "cache" must be 0 or 1, not """#);
    server.expect("/fact?n=3&cache=true", 400, r#"parameter "cache" must be 0 or 1, not "true""#);
    server.expect("/fact?n=3", 200, "6");
}

fn no_param(name: &'static str) {
    let server = Server::start(name, &[]);
    let response = server.expect("/no/param", 200, "");
    assert_eq!(response.header("Content-Length"), Some("0"));
    // Query parameters are decoded (and so checked) even on a route that takes none.
    server.expect("/no/param?a=1", 200, "");
    server.expect("/no/param?a=%zz", 400, r#"bad percent-encoding in "%zz""#);
}

fn db_visits(name: &'static str) {
    let server = Server::start(name, &[]);
    let in_turn = [
        ("/db/visits?name=alice", 200, "0"),
        ("/db/visit?name=alice", 200, "1"),
        ("/db/visit?name=alice", 200, "2"),
        ("/db/visit?name=bob", 200, "1"),
        ("/db/visit?name=alice", 200, "3"),
        ("/db/visits?name=alice", 200, "3"),
        // Reading does not count as a visit.
        ("/db/visits?name=alice", 200, "3"),
        ("/db/visits?name=bob", 200, "1"),
        ("/db/visits?name=nobody", 200, "0"),
        // Names are decoded before they are counted.
        ("/db/visit?name=a%20b", 200, "1"),
        ("/db/visits?name=a+b", 200, "1"),
    ];
    for (target, status, body) in in_turn {
        server.expect(target, status, body);
    }
    for route in ["/db/visit", "/db/visits"] {
        server.expect(route, 400, r#"missing parameter "name""#);
        server.expect(&format!("{route}?name="), 400, r#"parameter "name" is empty"#);
    }
    assert!(server.db.exists(), "{name}: the counts live in the --db file {}", server.db.display());
}

/// `POST /db/visit` counts a visit, the name in the query or in an `application/x-www-form-urlencoded` body
/// (RFC 9110 §9.3.3; the form's encoding is the query's, docs/workload.md), and refuses what it cannot read.
fn db_visit_by_post(name: &'static str) {
    let server = Server::start(name, &[]);
    const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");
    let post = |target: &str, fields: &[(&str, &str)], body: &str| server.send("POST", target, fields, body.as_bytes());
    post("/db/visit?name=p", &[], "").assert(200, "1", name);
    post("/db/visit", &[FORM], "name=p").assert(200, "2", name);
    // Parameters are case-insensitive in the media type, and a charset parameter is fine (RFC 9110 §8.3.1).
    post("/db/visit", &[("Content-Type", "Application/X-WWW-Form-Urlencoded; charset=utf-8")], "name=p")
        .assert(200, "3", name);
    // A form is decoded like a query: `+` is a space.
    post("/db/visit", &[FORM], "name=a+b").assert(200, "1", name);
    server.expect("/db/visits?name=a%20b", 200, "1");
    // A chunked body is read to its end.
    post("/db/visit", &[FORM, ("Transfer-Encoding", "chunked")], "3\r\nnam\r\n3\r\ne=p\r\n0\r\n\r\n")
        .assert(200, "4", name);
    // GET still counts, for the article's parity.
    server.expect("/db/visit?name=p", 200, "5");
    let response = post("/db/visit?name=p", &[], "");
    response.assert(200, "6", name);
    assert_eq!(response.header("Cache-Control"), Some("no-store"), "{name}: {response:?}");

    // Refusals: none of these counts.
    post("/db/visit", &[], "").assert(400, r#"missing parameter "name""#, name);
    post("/db/visit", &[FORM], "name=").assert(400, r#"parameter "name" is empty"#, name);
    post("/db/visit?name=p", &[FORM], "name=q").assert(400, r#"parameter "name" is given more than once"#, name);
    post("/db/visit", &[FORM], "name=%zz").assert(400, r#"bad percent-encoding in "%zz""#, name);
    post("/db/visit", &[FORM], "name=%ff").assert(400, r#"query component "%ff" is not UTF-8"#, name);
    post("/db/visit", &[("Content-Type", "application/json")], r#"{"name":"p"}"#).assert(
        415,
        r#"POST /db/visit takes an application/x-www-form-urlencoded body, not "application/json""#,
        name,
    );
    // Larger than the route reads (4 KiB): 413, and the connection is not kept (RFC 9110 §15.5.14).
    let long = format!("name=p&pad={}", "x".repeat(5000));
    let response = post("/db/visit", &[FORM], &long);
    response.assert(413, "the request body is larger than 4096 bytes", name);
    server.expect("/db/visits?name=p", 200, "6");
}

/// A client that sends `Expect: 100-continue` holds its form body back until told: the server says
/// `100 Continue` (RFC 9110 §10.1.1, §15.2.1), then reads the body and answers.
fn db_visit_expect_continue(name: &'static str) {
    use std::io::{BufRead, BufReader, Write};
    let server = Server::start(name, &[]);
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(common::READ_TIMEOUT)).unwrap();
    let head = "POST /db/visit HTTP/1.1\r\nHost: lab\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                Content-Length: 6\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut interim = String::new();
    while !interim.ends_with("\r\n\r\n") {
        let n = reader.read_line(&mut interim).unwrap_or_else(|e| panic!("{name}: waiting for 100 Continue: {e}"));
        assert!(n > 0, "{name}: closed before 100 Continue: {interim:?}");
    }
    assert!(interim.starts_with("HTTP/1.1 100 "), "{name}: want 100 Continue first, got {interim:?}");
    stream.write_all(b"name=e").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
    assert!(rest.starts_with("HTTP/1.1 200 "), "{name}: {rest:?}");
    assert!(rest.ends_with("\r\n\r\n1"), "{name}: the new count, 1: {rest:?}");
    server.expect("/db/visits?name=e", 200, "1");
}

/// Every answer says how long a cache may keep it (RFC 9111 §5.2.2), from the one policy in the workload
/// module: `/fact` is a function of its target and may be kept a day; the rest changes or is the work being
/// measured, and errors are never stored.
fn cache_control(name: &'static str) {
    let server = Server::start(name, &[]);
    for (method, target, status, cache) in [
        ("GET", "/fact?n=5", 200, "max-age=86400"),
        ("GET", "/fact?n=5&cache=0", 200, "max-age=86400"),
        ("GET", "/say/hello?name=x&ms=0", 200, "no-store"),
        ("GET", "/no/param", 200, "no-store"),
        ("GET", "/db/visit?name=c", 200, "no-store"),
        ("POST", "/db/visit?name=c", 200, "no-store"),
        ("GET", "/db/visits?name=c", 200, "no-store"),
        ("GET", "/block?ms=0", 200, "no-store"),
        ("GET", "/health", 200, "no-store"),
        ("GET", "/fact?n=-1", 400, "no-store"),
        ("GET", "/nope", 404, "no-store"),
        ("POST", "/fact?n=5", 405, "no-store"),
    ] {
        let response = server.request(method, target);
        assert_eq!(response.status, status, "{name} {method} {target}: {response:?}");
        assert_eq!(response.header_count("Cache-Control"), 1, "{name} {method} {target}: {response:?}");
        assert_eq!(response.header("Cache-Control"), Some(cache), "{name} {method} {target}: {response:?}");
    }
}

fn block(name: &'static str) {
    let server = Server::start(name, &[]);
    let started = Instant::now();
    server.expect("/block?ms=100", 200, "blocked 100 ms");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(100), "{name}: /block?ms=100 answered after {waited:?}");
    server.expect("/block?ms=0", 200, "blocked 0 ms");
    server.expect("/block", 400, r#"missing parameter "ms""#);
    server.expect("/block?ms=60001", 400, r#"parameter "ms" must be a whole number from 0 to 60000, not "60001""#);
}

fn health(name: &'static str) {
    // thread-server has no thread budget (0 = one thread per request); the others run exactly --threads.
    let (extra, threads): (&[&str], u64) = if name == "thread-server" { (&[], 0) } else { (&["--threads", "3"], 3) };
    let server = Server::start(name, extra);
    let response = server.get("/health");
    assert_eq!(response.status, 200, "{name}: {response:?}");
    assert_eq!(response.header("Content-Type"), Some("application/json"), "{name}");
    let health = server.health();
    assert_eq!(health["server"], name, "{name}: {health}");
    assert!(health["model"].as_str().is_some_and(|m| !m.is_empty()), "{name}: model: {health}");
    assert_eq!(health["pid"].as_u64(), Some(u64::from(server.process.pid())), "{name}: {health}");
    assert_eq!(health["threads"].as_u64(), Some(threads), "{name}: {health}");
    assert_eq!(health["processes"].as_u64(), Some(1), "{name}: {health}");
    // The listen backlog is the most the kernel grants: net.core.somaxconn, read by the server.
    let somaxconn: u64 = std::fs::read_to_string("/proc/sys/net/core/somaxconn").unwrap().trim().parse().unwrap();
    assert_eq!(health["backlog"].as_u64(), Some(somaxconn), "{name}: {health}");
    let fields: Vec<&String> = health.as_object().expect("an object").keys().collect();
    assert_eq!(
        fields.len(),
        6,
        "{name}: /health has exactly server, model, pid, threads, processes, backlog: {health}"
    );
    // The rule of docs/workload.md, by model: servers whose threads each run tasks or an event loop accept on
    // every one of them, from a listener of its own (SO_REUSEPORT), all open before `listening on`; thread
    // servers accept on one thread (tiny_http's), from one listener.
    let model = health["model"].as_str().unwrap_or_default();
    let listeners = if accepts_on_every_thread(model) { threads } else { 1 };
    assert_eq!(listening_sockets(server.addr()), listeners, "{name} ({model}): listening sockets on its port");
}

/// Whether a server of this `/health` model accepts on every thread: the async models ("async tasks …"), the
/// event-loop models ("event loops …"), the completion-loop models ("completion loops …") and the coroutine models
/// ("stackful coroutines …", whose workers each run many coroutines) do, the thread models ("thread per request …",
/// "fixed thread pool …") do not. A model this rule does not know fails the test, so that a new server states
/// which it is.
fn accepts_on_every_thread(model: &str) -> bool {
    if ["async tasks", "event loops", "completion loops", "stackful coroutines"]
        .iter()
        .any(|kind| model.starts_with(kind))
    {
        true
    } else if model.starts_with("thread per request") || model.starts_with("fixed thread pool") {
        false
    } else {
        panic!("/health model {model:?} is neither an async, event-loop, completion-loop nor thread model (docs/workload.md)")
    }
}

/// Sockets in state LISTEN on `addr`'s port (the listening part of the kernel's table for its family).
fn listening_sockets(addr: std::net::SocketAddr) -> u64 {
    harness::net::listening_sockets(addr.ip()).iter().filter(|row| row.local.port() == addr.port()).count() as u64
}

fn unknown_path(name: &'static str) {
    let server = Server::start(name, &[]);
    for target in ["/", "/nope", "/nope?name=x", "/say/hello/", "/SAY/HELLO?name=x", "/say"] {
        // The reason names the path, without the query.
        let path = target.split('?').next().unwrap_or_default();
        server.expect(target, 404, &format!("no route for {path}"));
    }
    // An unknown path is a 404 whatever the method.
    let response = server.request("POST", "/nope");
    response.assert(404, "no route for /nope", &format!("{name} POST /nope"));
}

/// HTTP/1.1 servers must accept a request target in absolute form (`http://host/path`, as sent to proxies), and
/// route it by its path like the usual origin form.
fn absolute_form_target(name: &'static str) {
    let server = Server::start(name, &[]);
    let origin = format!("http://{}", server.addr());
    server.expect(&format!("{origin}/say/hello?name=abs&ms=0"), 200, "hello abs");
    server.expect(&format!("{origin}/fact?n=5"), 200, "120");
    server.expect(&format!("{origin}/nope?x=1"), 404, "no route for /nope");
    server.expect(
        &format!("{origin}/fact?n=x"),
        400,
        r#"parameter "n" must be a whole number from 0 to 20000, not "x""#,
    );
    server.expect(&origin, 404, "no route for /");
}

fn wrong_method(name: &'static str) {
    let server = Server::start(name, &[]);
    for (method, path) in [
        ("POST", "/say/hello"),
        ("PUT", "/say/hello"),
        ("DELETE", "/fact"),
        ("PUT", "/no/param"),
        ("POST", "/db/visits"),
        ("POST", "/fact"),
        ("POST", "/health"),
    ] {
        let response = server.request(method, &format!("{path}?name=x&n=3"));
        response.assert(
            405,
            &format!("{method} is not allowed on {path}; use GET"),
            &format!("{name} {method} {path}"),
        );
        assert_eq!(response.header("Allow"), Some("GET"), "{name} {method} {path}: {response:?}");
    }
    // A refused POST must not have counted a visit.
    server.expect("/db/visits?name=x", 200, "0");
    // `/db/visit` takes POST as well: its 405 lists both (RFC 9110 §15.5.6: a 405 MUST carry Allow).
    for method in ["DELETE", "PUT", "PATCH"] {
        let response = server.request(method, "/db/visit?name=x");
        response.assert(405, &format!("{method} is not allowed on /db/visit; use GET or POST"), name);
        assert_eq!(response.header("Allow"), Some("GET, POST"), "{name} {method} /db/visit: {response:?}");
    }
    server.expect("/db/visits?name=x", 200, "0");
}

fn bad_query(name: &'static str) {
    let server = Server::start(name, &[]);
    for (query, reason) in [
        ("name=%zz", r#"bad percent-encoding in "%zz""#),
        ("name=%4", r#"bad percent-encoding in "%4""#),
        ("name=abc%", r#"bad percent-encoding in "abc%""#),
        ("name=%+1", r#"bad percent-encoding in "%+1""#),
        ("na%g0me=x", r#"bad percent-encoding in "na%g0me""#),
        ("name=%ff", r#"query component "%ff" is not UTF-8"#),
        ("name=%C3", r#"query component "%C3" is not UTF-8"#),
        ("name=a&name=b", r#"parameter "name" is given more than once"#),
        ("name=a&ms=1&ms=1", r#"parameter "ms" is given more than once"#),
        ("name=a&%6Eame=b", r#"parameter "name" is given more than once"#),
    ] {
        server.expect(&format!("/say/hello?{query}"), 400, reason);
    }
    // After all that, the server goes on serving, and nothing panicked.
    server.expect("/say/hello?name=ok&ms=0", 200, "hello ok");
    server.expect("/no/param", 200, "");
    let stderr = server.process.stderr_lines();
    assert!(!stderr.iter().any(|line| line.contains("panicked")), "{name}: {stderr:?}");
}

/// Without `--quiet`, one line per request on stderr: time, status, method, target, peer, duration.
fn access_log(name: &'static str) {
    let server = Server::start_logging(name, &[]);
    server.expect("/no/param?x=1", 200, "");
    server.expect("/nope", 404, "no route for /nope");
    let logged = |needle: &str| {
        common::wait_until(Duration::from_secs(5), || {
            server.process.stderr_lines().iter().any(|line| line.contains(needle))
        })
    };
    assert!(logged(" 200 GET /no/param?x=1 127.0.0.1:"), "{name}: {:?}", server.process.stderr_lines());
    assert!(logged(" 404 GET /nope 127.0.0.1:"), "{name}: {:?}", server.process.stderr_lines());
    let lines = server.process.stderr_lines();
    let line = lines.iter().find(|line| line.contains(" 200 GET /no/param?x=1 ")).expect("found above");
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields.len(), 6, "{name}: {line}");
    assert!(humantime::parse_rfc3339(fields[0]).is_ok(), "{name}: time: {line}");
    assert!(fields[5].strip_suffix("ms").is_some_and(|ms| ms.parse::<f64>().is_ok()), "{name}: duration: {line}");
}
