//! `lab verify` rejects a server that answers `/fact` wrongly (a Python script of the tests), accepts the same
//! script answering correctly, and `lab matrix` then skips the wrong one with the reason.

mod common;

use lab::results::Run;

#[test]
fn verify_rejects_a_wrong_factorial_and_accepts_a_right_one() {
    let marker = common::marker("verify");
    let output = common::lab()
        .args(["verify", "--servers", "none"])
        .arg("--server")
        .arg(format!("right={}", common::fixture_server("")))
        .arg("--server")
        .arg(format!("wrong={}", common::fixture_server("--wrong-fact")))
        .arg("--server")
        .arg(format!("quiet={}", common::fixture_server("--silent")))
        .env(common::MARKER_VAR, &marker)
        .output()
        .unwrap();
    let stdout = common::text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "one server is wrong: exit 1\n{stdout}");
    assert!(stdout.contains("✔ right: passed"), "{stdout}");
    // Readiness through /health when no `listening on` line is printed.
    assert!(stdout.contains("✔ quiet: passed"), "{stdout}");
    assert!(stdout.contains("✘ wrong: failed"), "{stdout}");
    assert!(
        stdout.contains("fail GET /fact?n=20: expected body \"2432902008176640000\", got \"2432902008176640001\""),
        "{stdout}"
    );
    // Only the factorial is wrong: every other route passed.
    let wrong_fails: Vec<&str> = stdout.lines().filter(|l| l.trim_start().starts_with("fail ")).collect();
    assert!(wrong_fails.iter().all(|l| l.contains("/fact?")), "{wrong_fails:?}");
    common::assert_no_process_left(&marker);
}

#[test]
fn matrix_skips_a_server_that_fails_verify() {
    let (out, code, stderr) = common::run_lab(
        "verify-matrix",
        common::lab()
            .args(["matrix", "--profile", "quick", "--servers", "none", "--clients", "async-client"])
            .args(["--workloads", "baseline", "--concurrency", "10", "--requests", "100"])
            .arg("--server")
            .arg(format!("wrong={}", common::fixture_server("--wrong-fact"))),
    );
    assert_eq!(code, Some(0), "a wrong server costs its cells, not the run:\n{stderr}");
    let run = Run::load(&common::run_json(&out)).unwrap();
    let wrong = &run.servers[0];
    assert_eq!(
        (wrong.name.as_str(), wrong.kind.as_str(), wrong.verify.status.as_str()),
        ("wrong", "foreign", "failed")
    );
    assert!(wrong.verify.reason.as_deref().unwrap().contains("/fact"), "{:?}", wrong.verify.reason);
    assert!(!run.cells.is_empty());
    for cell in &run.cells {
        assert_eq!(cell.status, "skipped", "{}", cell.id);
        let reason = cell.reason.as_deref().unwrap();
        assert!(reason.starts_with("failed verify: GET /fact"), "{reason}");
        assert!(cell.wall_s.is_none());
    }
    let md = std::fs::read_to_string(out.join(format!("{}.md", run.run_id))).unwrap();
    assert!(md.contains("| wrong | foreign |") && md.contains("failed verify: GET /fact"), "{md}");
}

/// A protocol detail (a 405 without `Allow`) is a warning: `lab verify` passes the server and says so;
/// `--strict` makes it a failure.
#[test]
fn verify_warns_on_a_missing_allow_and_strict_fails_it() {
    let marker = common::marker("verify-warn");
    let run = |strict: bool| {
        let mut lab = common::lab();
        lab.args(["verify", "--servers", "none"]);
        if strict {
            lab.arg("--strict");
        }
        let output = lab
            .arg("--server")
            .arg(format!("noallow={}", common::fixture_server("--no-allow")))
            .env(common::MARKER_VAR, &marker)
            .output()
            .unwrap();
        (output.status.code(), common::text(&output.stdout))
    };
    let (code, stdout) = run(false);
    assert_eq!(code, Some(0), "a warning is not a failure\n{stdout}");
    assert!(stdout.contains("✔ noallow: passed"), "{stdout}");
    assert!(stdout.contains("warn POST /no/param: 405 without an Allow header"), "{stdout}");
    let (code, stdout) = run(true);
    assert_eq!(code, Some(1), "--strict: the warning fails the server\n{stdout}");
    assert!(stdout.contains("✘ noallow: failed"), "{stdout}");
    common::assert_no_process_left(&marker);
}

/// In the matrix, a server with only warnings is measured and the warning is recorded and shown beside its
/// name; a wrong one is still skipped; with `--strict` the warned one is skipped too.
#[test]
fn matrix_measures_a_server_with_warnings_unless_strict() {
    for strict in [false, true] {
        let mut lab = common::lab();
        lab.args(["matrix", "--profile", "quick", "--servers", "none", "--clients", "async-client"])
            .args(["--workloads", "baseline", "--concurrency", "10", "--requests", "100"])
            .arg("--server")
            .arg(format!("noallow={}", common::fixture_server("--no-allow")))
            .arg("--server")
            .arg(format!("wrong={}", common::fixture_server("--wrong-fact")));
        if strict {
            lab.arg("--strict");
        }
        let (out, code, stderr) =
            common::run_lab(if strict { "verify-strict" } else { "verify-warn-matrix" }, &mut lab);
        assert_eq!(code, Some(0), "{stderr}");
        let run = Run::load(&common::run_json(&out)).unwrap();
        let noallow = run.servers.iter().find(|s| s.name == "noallow").unwrap();
        assert!(noallow.verify.warnings >= 1, "{:?}", noallow.verify);
        let cells = |server: &'static str| run.cells.iter().filter(move |c| c.server == server);
        assert!(cells("wrong").all(|c| c.status == "skipped"));
        if strict {
            assert_eq!(noallow.verify.status.as_str(), "failed");
            assert!(cells("noallow").all(|c| c.status == "skipped"));
        } else {
            assert_eq!(noallow.verify.status.as_str(), "passed");
            assert!(cells("noallow").count() > 0 && cells("noallow").all(|c| c.status == "ok"));
            let md = std::fs::read_to_string(out.join(format!("{}.md", run.run_id))).unwrap();
            assert!(md.contains("noallow ⚠") && md.contains("405 without an Allow header"), "{md}");
        }
    }
}
