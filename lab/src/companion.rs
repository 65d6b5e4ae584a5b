//! Companion runs (`lab matrix --with FILE`, `lab report --with FILE`): a `lab capacity` run's figures fill the
//! headline's capacity columns, a `lab bench` run's reach part its column at scale and its cost part the memory
//! per connection, a `lab primitives` run the chain's predictions (`crate::chain`). The figures taken are copied
//! into the run's JSON ([`Companion`]) with their source file and commit, and only from a run that measured the
//! same code trees (one answer comes from one code). The file is read by `export::json::load_companion`.

use crate::records::bench::{BenchRun, PartStatus};
use crate::records::capacity::CapacityRun;
use crate::records::header::{CodeTrees, RunHeader};
use crate::records::run::{CapacityFigure, Companion, CompanionKind, ReachFigure};

/// The part of a companion every kind fills: where it came from and the code it measured.
pub fn head(kind: CompanionKind, header: &RunHeader, source: &str) -> Companion {
    Companion {
        kind,
        source: source.to_string(),
        run_id: header.run_id.clone(),
        git_commit: header.environment.git_commit.clone(),
        git_dirty: header.environment.git_dirty,
        trees: header.environment.trees.clone(),
        client: None,
        capacity: vec![],
        reach: vec![],
        per_connection: vec![],
        primitives: None,
    }
}

/// The capacity figures of a `lab capacity` run.
pub fn of_capacity(run: &CapacityRun, source: &str) -> Result<Companion, String> {
    let mut companion = head(CompanionKind::Capacity, &run.header, source);
    companion.client = Some(run.settings.client.clone());
    companion.capacity = run
        .cells
        .iter()
        .map(|cell| CapacityFigure {
            server: cell.server.clone(),
            workload: cell.workload,
            capacity_rps: cell.capacity_rps,
            first_failed_rps: cell.first_failed_rps,
            status: cell.status,
            client_bound: cell.client_bound.clone(),
        })
        .collect();
    if companion.capacity.is_empty() {
        return Err("a capacity run without cells".into());
    }
    Ok(companion)
}

/// The reach figures and the cost per connection of a `lab bench` run.
pub fn of_bench(run: &BenchRun, source: &str) -> Result<Companion, String> {
    let mut companion = head(CompanionKind::Reach, &run.header, source);
    let reach = &run.reach;
    if reach.status == PartStatus::NotRequested {
        return Err("a bench run without its reach part (--parts reach)".into());
    }
    companion.client = Some(reach.client.clone());
    companion.reach = reach
        .cells
        .iter()
        .map(|cell| ReachFigure {
            server: cell.server.clone(),
            connections: cell.connections,
            wall_s: cell.wall_s,
            failed: cell.failed,
            status: cell.status,
            stopped: cell.stopped.as_ref().map(|cause| cause.word().to_string()),
        })
        .collect();
    if companion.reach.is_empty() {
        return Err("a bench run whose reach part has no cells".into());
    }
    companion.per_connection = run.cost.per_connection.clone();
    Ok(companion)
}

/// Refuses a companion that measured other code than the run it joins (`trees`, `dirty`: that run's): one answer
/// comes from one code. The reason in one line, for `--with`'s error.
pub fn same_code(companion: &Companion, trees: Option<&CodeTrees>, dirty: bool) -> Result<(), String> {
    let commit = &companion.git_commit;
    if dirty {
        return Err("this run's tree has uncommitted changes, so no companion can be shown to measure the same code: \
                    commit, then run both from that commit"
            .into());
    }
    if companion.git_dirty {
        return Err(format!(
            "it was made from a tree with uncommitted changes (commit {commit}): rerun it from a clean tree"
        ));
    }
    let Some(theirs) = &companion.trees else {
        return Err(format!(
            "it does not record the code it measured (commit {commit}, made before runs recorded their trees): rerun it"
        ));
    };
    let Some(ours) = trees else {
        return Err("this run does not record the code it measured, so nothing can be held against it".into());
    };
    match theirs.first_difference(ours) {
        None => Ok(()),
        Some(part) => Err(format!(
            "it measured other code: its {part}/ differs from this run's (commit {commit}): rerun it from this run's commit"
        )),
    }
}

/// A capacity run and a companion read back from a file, for the tests that join companions to a run.
#[cfg(test)]
pub(crate) use tests::{capacity_run, companion_from_file};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::json::load_companion;
    use crate::records::capacity::CapacityCell;
    use crate::records::header::RunKind;
    use crate::records::run::{Status, Workload};
    use std::path::Path;

    /// A capacity run of `cells` (server, io capacity, first failed rate), as `lab capacity` records it.
    pub(crate) fn capacity_run(run_id: &str, commit: &str, cells: &[(&str, f64, f64)]) -> CapacityRun {
        let mut run = CapacityRun::default();
        run.header.written_by = Some(RunKind::Capacity);
        run.header.schema_version = crate::records::capacity::SCHEMA_VERSION;
        run.header.run_id = run_id.into();
        run.header.environment.git_commit = commit.into();
        run.settings.client = "async-client:lean".into();
        run.cells = cells
            .iter()
            .map(|&(server, rps, failed)| CapacityCell {
                server: server.into(),
                workload: Workload::Io,
                paths: vec![],
                target_p99_ms: 100.0,
                capacity_rps: Some(rps),
                first_failed_rps: Some(failed),
                client_bound: None,
                status: Status::Ok,
                reason: None,
                probes: vec![],
            })
            .collect();
        run
    }

    /// Writes `document` as JSON under `dir` and reads it back as a companion.
    pub(crate) fn companion_from_file(
        dir: &Path,
        name: &str,
        document: &impl serde::Serialize,
    ) -> Result<Companion, String> {
        let path = dir.join(name);
        std::fs::write(&path, serde_json::to_string(document).unwrap()).unwrap();
        load_companion(&path).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_a_capacity_run_as_lab_capacity_writes_it() {
        let mut run = capacity_run("R9", "0123abc", &[("smol-server", 3_000.0, 3_100.0)]);
        run.cells[0].workload = Workload::Cpu;
        run.cells[0].first_failed_rps = None;
        run.cells[0].client_bound = Some("the client's connection cap (16384)".into());
        let dir = tempfile::tempdir().unwrap();
        let companion = companion_from_file(dir.path(), "capacity-R9.json", &run).unwrap();
        assert_eq!(companion.kind, CompanionKind::Capacity);
        assert_eq!((companion.source.as_str(), companion.run_id.as_str()), ("capacity-R9.json", "R9"));
        assert_eq!(companion.git_commit, "0123abc");
        assert_eq!(companion.client.as_deref(), Some("async-client:lean"));
        let figure = &companion.capacity[0];
        assert_eq!(
            (figure.server.as_str(), figure.workload, figure.capacity_rps),
            ("smol-server", Workload::Cpu, Some(3_000.0))
        );
        assert_eq!((figure.first_failed_rps, figure.status), (None, Status::Ok));
        assert_eq!(figure.client_bound.as_deref(), Some("the client's connection cap (16384)"));
    }

    #[test]
    fn a_run_of_another_kind_or_without_figures_is_refused_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut bench = BenchRun::default();
        bench.header.written_by = Some(RunKind::Bench);
        bench.header.schema_version = crate::records::bench::BENCH_SCHEMA_VERSION;
        bench.reach.head.status = PartStatus::NotRequested;
        let e = companion_from_file(dir.path(), "b.json", &bench).unwrap_err();
        assert!(e.contains("without its reach part"), "{e}");
        let e = companion_from_file(dir.path(), "c.json", &capacity_run("R3", "abc1234", &[])).unwrap_err();
        assert!(e.contains("a capacity run without cells"), "{e}");
        let e = companion_from_file(dir.path(), "x.json", &crate::records::run::Run::default()).unwrap_err();
        assert!(e.contains("not a capacity, bench or primitives run (kind matrix)"), "{e}");
    }
}
