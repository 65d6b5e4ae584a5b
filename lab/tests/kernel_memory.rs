//! Memory counted whole: `lab bench --parts cost` fits the kernel's memory per in-flight connection (growth of
//! `KernelStack` and `Slab` in /proc/meminfo) beside RSS. thread-server holds a thread per connection, and every
//! thread has a kernel stack (16 KiB on x86-64, never less than 8 KiB): its kernel memory per thread must show.

mod common;

use lab::export::json::JsonDocument;
use lab::records::bench::BenchRun;

#[test]
fn thread_server_pays_kernel_memory_per_thread() {
    let (out, code, stderr) = common::run_lab(
        "kernel-memory",
        common::lab()
            .args(["bench", "--parts", "cost", "--servers", "thread-server", "--levels", "50,250"])
            .args(["--cost-ms", "400"]),
    );
    assert_eq!(code, Some(0), "{stderr}");
    let run = BenchRun::load(&common::run_json(&out)).unwrap();
    let fit = run.cost.per_connection.iter().find(|f| f.server == "thread-server").expect("a thread-server fit");
    let threads = fit.threads_per_connection;
    assert!(threads >= 0.5, "{fit:#?}");
    let stack = fit.kernel_stack_kib_per_connection.expect("kernel figures");
    // 200 more connections hold at least 100 more threads: at least 800 KiB more kernel stack, far above what
    // other processes' threads move the machine's total by in the same moments.
    assert!(stack / threads >= 8.0, "kernel stack per thread {:.1} KiB: {fit:#?}", stack / threads);
    let kernel = fit.kernel_kib_per_connection.unwrap();
    assert!(kernel > 0.0, "{fit:#?}");
    let total = fit.total_kib_per_connection.unwrap();
    assert!((total - (kernel + fit.rss_kib_per_connection)).abs() < 1e-6, "{fit:#?}");
    let md = std::fs::read_to_string(common::run_json(&out).with_extension("md")).unwrap();
    assert!(md.contains(&format!("= {kernel:.1} KiB")), "{md}");
}
