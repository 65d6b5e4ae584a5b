//! Bad arguments get one line on stderr and exit code 2 — never a panic, never a request.

mod common;

use common::run;

#[test]
fn bad_arguments_exit_2_with_one_line() {
    let cases: &[(&[&str], &str)] = &[
        (&["-n", "0"], "at least 1"),
        (&["-n", "x"], "whole number"),
        (&["--url", "not a url"], "not a URL"),
        (&["--url", "https://127.0.0.1:8888/"], "scheme 'https'"),
        (&["--url", "ftp://127.0.0.1/"], "scheme 'ftp'"),
        (&["--url", "http://no-such-host.invalid/"], "cannot resolve"),
        (&["--timeout", "0"], "more than 0"),
        (&["--timeout", "soon"], "seconds"),
        (&["--keep-alive", "maybe"], "on, off"),
        (&["--rate", "0"], "at least"),
        (&["--rate", "fast"], "requests per second"),
        (&["--rate", "1e12"], "at most"),
        (&["--no-such-flag"], "--no-such-flag"),
        (&["-n", "5", "--duration", "1"], "cannot be used with"),
        (&["--duration", "0"], "more than 0"),
        (&["--duration", "soon"], "seconds"),
    ];
    for client in ["blocking-client", "pool-client", "async-client"] {
        for (args, expected) in cases {
            assert_usage_error(client, args, expected);
        }
    }
    for client in ["pool-client", "async-client"] {
        assert_usage_error(client, &["-c", "0"], "at least 1");
    }
    assert_usage_error("async-client", &["--processes", "0"], "at least 1");
    assert_usage_error("async-client", &["--threads", "0"], "at least 1");
    assert_usage_error("async-client", &["--threads", "100000"], "at most 1024");
    assert_usage_error("async-client", &["--processes", "100000"], "at most 256");
    assert_usage_error("async-client", &["--timeout", "1e9"], "at most");
    assert_usage_error("async-client", &["--engine", "curl"], "surf, lean");
    let loop_at_a_rate = ["--url", "http://127.0.0.1:9/", "--engine", "loop", "--rate", "10"];
    assert_usage_error("async-client", &loop_at_a_rate, "closed loop only");
    assert_usage_error("blocking-client", &["-c", "3"], "-c");
}

fn assert_usage_error(client: &str, args: &[&str], expected: &str) {
    let run = run(client, args);
    let what = format!("{client} {args:?}: {run:?}");
    assert_eq!(run.code(), Some(2), "{what}");
    let stderr = run.stderr.trim_end();
    assert_eq!(stderr.lines().count(), 1, "{what}");
    assert!(stderr.starts_with(&format!("{client}: ")), "{what}");
    assert!(stderr.contains(expected), "{what}");
    assert!(run.stdout.is_empty(), "{what}");
}

#[test]
fn help_exits_0() {
    for client in ["blocking-client", "pool-client", "async-client"] {
        let run = run(client, &["--help"]);
        assert_eq!(run.code(), Some(0), "{run:?}");
        assert!(run.stdout.contains("--url"), "{run:?}");
        // The cycling rule of a repeated --url is part of the help text.
        assert!(run.stdout.contains("goes to URL number i mod K"), "{run:?}");
    }
}
