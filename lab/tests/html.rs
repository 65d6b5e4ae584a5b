//! The HTML report, tested like a page: a quick real matrix writes it; an HTML parser (the one browsers' engines
//! follow, html5ever through `scraper`) reads it back. Every number of the verdict and the headline table is one the
//! run's findings give; nothing is loaded or linked from outside the page; every chart carries its title, its axis
//! labels and its legend as SVG text; the timelines the page draws are the clients' own (a blocking client's
//! requests one after another, the async client's all at once); and `lab report` rebuilds the page byte for byte.

mod common;

use lab::export::json::JsonDocument;
use lab::records::run::Run;
use scraper::{Html, Selector};
use std::collections::BTreeSet;

fn select(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

/// The numbers in `text` as written (`1,234`, `0.205`, `10`), without their units.
fn numbers(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut current = String::new();
    let mut flush = |current: &mut String| {
        let n = current.trim_end_matches([',', '.']).to_string();
        if n.chars().any(|c| c.is_ascii_digit()) {
            out.insert(n);
        }
        current.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || ((c == '.' || c == ',') && !current.is_empty()) {
            current.push(c);
        } else {
            flush(&mut current);
        }
    }
    flush(&mut current);
    out
}

/// D, the wait of `/say/hello` in the test's run, in ms: long enough that the async client's ten requests are all
/// sent before the first answer, short because the blocking client's ten wait it one after another.
const D_MS: u64 = 100;

#[test]
fn the_page_shows_the_findings_loads_nothing_and_rebuilds_byte_for_byte() {
    let hello_ms = D_MS.to_string();
    let (out, code, stderr) = common::run_lab(
        "html",
        common::lab()
            .args(["matrix", "--profile", "quick"])
            .args(["--servers", "thread-server,smol-server", "--clients", "blocking-client,async-client"])
            .args(["--workloads", "io,blocking", "--concurrency", "10", "--hello-ms", &hello_ms, "--block-ms", "100"]),
    );
    assert_eq!(code, Some(0), "lab matrix failed:\n{stderr}");
    let json_path = common::run_json(&out);
    let run = Run::load(&json_path).unwrap();
    let page_path = out.join(format!("{}.html", run.run_id));
    let page = std::fs::read_to_string(&page_path).expect("the run's HTML page");
    assert_eq!(std::fs::read_to_string(out.join("latest.html")).unwrap(), page, "latest.html is the newest page");

    // The clients' timelines, held to what a client can do: the blocking client sends a request only after the
    // previous response (a staircase); the async client sends its ten before the first response can arrive
    // (the server waits D before answering); each of those ten waited at least 95 % of D.
    let waited_d_us = D_MS * 1_000 * 95 / 100;
    for server in ["thread-server", "smol-server"] {
        let cell = |id: &str| run.cells.iter().find(|c| c.id == format!("{server}/{id}")).unwrap();
        for m in &cell("blocking-client/io/c1/n10").runs {
            let t = m.timeline.as_ref().expect("a timeline for a cell of ten requests");
            assert_eq!(t.len(), 10, "{t:?}");
            for pair in t.windows(2) {
                assert!(pair[1].start_us >= pair[0].end_us.saturating_sub(1_000), "{server}: {t:?}");
            }
        }
        for m in &cell("async-client/io/c10/n10").runs {
            let t = m.timeline.as_ref().expect("a timeline for a cell of ten requests");
            assert_eq!(t.len(), 10, "{t:?}");
            let last_send = t.iter().map(|e| e.start_us).max().unwrap();
            let first_end = t.iter().map(|e| e.end_us).min().unwrap();
            assert!(last_send < first_end, "{server}: ten at once {t:?}");
            assert!(t.iter().all(|e| e.ok && e.end_us - e.start_us >= waited_d_us), "{server}: each waited D {t:?}");
        }
    }
    // Larger cells carry none.
    assert!(run.cells.iter().filter(|c| c.requests > 10).all(|c| c.runs.iter().all(|m| m.timeline.is_none())));

    let html = Html::parse_document(&page);
    assert!(html.errors.is_empty(), "the page parses cleanly: {:?}", html.errors);

    // Nothing external: no script, no stylesheet or frame or image, no address outside the page's directory.
    assert_eq!(html.select(&select("script, link, iframe, img, object, embed")).count(), 0);
    for element in html.select(&select("[src], [href]")) {
        for attr in ["src", "href"] {
            if let Some(target) = element.value().attr(attr) {
                assert!(!target.contains("://") && !target.starts_with("//"), "{attr}={target}");
            }
        }
    }
    let style: String = html.select(&select("style")).flat_map(|s| s.text()).collect();
    assert!(!style.contains("url(") && !style.contains("@import"), "{style}");

    // The verdict and the table: every number shown is one the run's findings (built from its JSON) give.
    let findings = lab::findings::Findings::of(&run);
    let h = findings.headline.as_ref().expect("a headline");
    let mut source: String = lab::export::prose::claims(&run, &findings).iter().map(|c| c.0.clone() + " ").collect();
    source.push_str(&lab::export::prose::headline::table(&run, h));
    source.push_str(&lab::export::prose::noise_rule());
    let p = &findings.predictions;
    source.push_str(&format!(
        " {} {} {} {}",
        p.misses.len(),
        p.checked,
        lab::findings::MISS_BAND.0,
        lab::findings::MISS_BAND.1
    ));
    let allowed = numbers(&source);
    let answer = html.select(&select("#answer")).next().expect("the answer section");
    let shown: String = answer.text().collect::<Vec<_>>().join(" ");
    let shown_numbers = numbers(&shown);
    assert!(shown_numbers.len() > 10, "{shown}");
    for n in &shown_numbers {
        assert!(allowed.contains(n), "{n} is shown in the answer but is not in the findings: {shown}");
    }
    // And every claim and every server of the table is there.
    assert_eq!(answer.select(&select("ul.claims li")).count(), findings.claims.len() + 1);
    let rows: Vec<String> =
        answer.select(&select("table tbody tr td:first-child")).map(|td| td.text().collect()).collect();
    let servers: Vec<String> = h.rows.iter().map(|r| r.server.clone()).collect();
    assert_eq!(rows, servers);

    // The charts: each has titles, axis labels and a legend, drawn as text of its SVG.
    let charts: Vec<_> = html.select(&select("figure.chart")).collect();
    let experiment = html.select(&select("#experiment figure.chart")).count();
    let block = html.select(&select("#block figure.chart")).count();
    assert_eq!((experiment, block), (2, 1), "a timeline per server; the /block cell of both in one figure");
    assert!(html.select(&select("figure.chart#io")).next().is_some(), "the io chart, where the verdict links");
    for chart in &charts {
        let svg = chart.select(&select("svg")).next().expect("an inline SVG");
        let texts: BTreeSet<String> =
            svg.select(&select("text")).map(|t| t.text().collect::<String>().trim().to_string()).collect();
        for attr in ["data-titles", "data-axes", "data-legend"] {
            let wanted = chart.value().attr(attr).unwrap_or_default();
            assert!(!wanted.is_empty(), "a chart without {attr}");
            for w in wanted.split('|') {
                assert!(texts.contains(w), "{attr} {w:?} is not drawn; texts: {texts:?}");
            }
        }
        assert!(chart.value().attr("data-axes").unwrap().split('|').count() >= 2, "two axes");
    }

    // lab report rebuilds the page from the JSON alone, byte for byte.
    let rebuilt = common::scratch("html-report");
    let output = common::lab().arg("report").arg(&json_path).arg("--out").arg(&rebuilt).output().unwrap();
    assert!(output.status.success(), "{}", common::text(&output.stderr));
    assert_eq!(std::fs::read(rebuilt.join(format!("{}.html", run.run_id))).unwrap(), page.into_bytes());
}
