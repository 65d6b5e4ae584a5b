#!/usr/bin/env bash
# The suite's stability on one commit: the README's test command (`cargo nextest run --workspace`) run up to RUNS
# times in a row in a clean checkout, stopping at the first failure, one line per run (exit code, end time UTC,
# wall seconds, nextest's summary line). A flaky test shows up as a red run somewhere in the series; a series is
# only as good as the machine is quiet, so run it with nothing else of ours on the machine.
#
# Usage: results/experiments/suite-stability.sh RUNS LOG [CHECKOUT]
#   CHECKOUT defaults to this repository's top; it must be clean (`git status --porcelain` empty), so that the
#   commit the log names is what ran. Each run's full nextest output goes to LOG.run-N (not committed).
set -euo pipefail
RUNS=${1:?RUNS}
LOG=$(realpath -m "${2:?LOG}")
cd "${3:-$(git rev-parse --show-toplevel)}"
if [ -n "$(git status --porcelain)" ]; then
    echo "suite-stability: $(pwd) has uncommitted changes; commit or stash them first" >&2
    exit 2
fi
commit=$(git rev-parse --short HEAD)
echo "commit $commit $(git log -1 --format=%cs) runs=$RUNS machine: $(nproc) CPUs, $(uname -r), $(rustc --version)" >>"$LOG"
cargo nextest run --workspace --no-run >/dev/null 2>&1 # build first: the runs time the tests, not the compiler
for i in $(seq 1 "$RUNS"); do
    start=$(date +%s)
    rc=0
    cargo nextest run --workspace >"$LOG.run-$i" 2>&1 || rc=$?
    summary=$(grep -E '^ *Summary ' "$LOG.run-$i" | tail -1 | sed -E 's/^ +//')
    echo "run $i rc=$rc $(date -u +%H:%M:%S) $(($(date +%s) - start))s $summary" >>"$LOG"
    if [ "$rc" -ne 0 ]; then
        grep -E '^ +(FAIL|TIMEOUT|SIGSEGV|SIGABRT) ' "$LOG.run-$i" | awk '!seen[$0]++' | sed 's/^/    /' >>"$LOG" || true
        echo "stopped: run $i failed" >>"$LOG"
        exit 1
    fi
done
echo "all $RUNS runs green" >>"$LOG"
