//! The article's own server (`examples/tornado/app.py`) in the lab: verified like any foreign server — right
//! answers everywhere, tornado's protocol details as warnings — and the article's experiment holds on it:
//! ten blocking requests take ten waits, ten concurrent ones take one (its coroutines wait on the event loop).
//!
//! It needs tornado (`python3 -m pip install tornado`; `.ci/run` installs it). Without it the test fails under CI
//! and is a visible skip elsewhere (`harness::tools`), after checking that the lab says how to get it.

mod common;

use harness::tools;
use lab::export::json::JsonDocument;
use lab::records::run::Run;
use std::path::Path;

fn app() -> String {
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tornado/app.py");
    format!("tornado=python3 {} --port={{port}} --quiet", app.display())
}

#[test]
fn the_article_app_is_verified_with_warnings_and_the_experiment_holds_on_it() {
    let installed = tools::python_module("tornado");
    if !installed {
        // The lab says how to get it…
        let output = common::lab().args(["matrix", "--profile", "original", "--servers", "bogus"]).output().unwrap();
        assert!(common::text(&output.stderr).contains("pip install tornado"));
    }
    // … and the rest needs it.
    let test = "the_article_app_is_verified_with_warnings_and_the_experiment_holds_on_it";
    if !tools::require(test, "tornado", installed, tools::INSTALL_TORNADO) {
        return;
    }
    let marker = common::marker("tornado");
    let output = common::lab()
        .args(["verify", "--servers", "none", "--server", &app()])
        .env(common::MARKER_VAR, &marker)
        .output();
    let output = output.unwrap();
    let stdout = common::text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("✔ tornado: passed"), "{stdout}");
    // tornado's bodies are text/html, its default: a warning, not a failure. Its 405 lists the route's methods
    // in Allow (RFC 9110 §15.5.6), as the app's base handler adds it.
    assert!(stdout.contains("warn header Content-Type of /say/hello"), "{stdout}");
    assert!(!stdout.contains("405 without an Allow header"), "{stdout}");
    assert!(!stdout.contains("    fail "), "{stdout}");
    common::assert_no_process_left(&marker);

    // The original profile on the io workload only: --check-shape and the timings below read io cells alone
    // (`lab::analysis::find`), so the profile's blocking cells would be measured for nothing.
    let (out, code, stderr) = common::run_lab(
        "tornado",
        common::lab()
            .args(["matrix", "--profile", "original", "--check-shape", "--servers", "none", "--server", &app()])
            .args(["--clients", "blocking-client,async-client", "--workloads", "io", "--hello-ms", "200"]),
    );
    assert_eq!(code, Some(0), "the article's shape holds on the article's server:\n{stderr}");
    let run = Run::load(&common::run_json(&out)).unwrap();
    let wall = |id: &str| run.cells.iter().find(|c| c.id == id).and_then(|c| c.wall_s).unwrap();
    let (blocking, concurrent) = (wall("tornado/blocking-client/io/c1/n10"), wall("tornado/async-client/io/c10/n10"));
    assert!(blocking > 1.6, "ten blocking requests take about ten waits of 0.2 s: {blocking}");
    assert!(concurrent < 0.6, "ten concurrent requests take about one wait: {concurrent}");
}
