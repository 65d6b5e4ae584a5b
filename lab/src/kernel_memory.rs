//! The kernel's own memory, from `/proc/meminfo`: what a connection or a thread costs outside the process's
//! resident set.
//!
//! RSS counts user memory only. A thread also has a kernel stack (`KernelStack`: 16 KiB per thread on x86-64)
//! and a `task_struct` and friends (in `Slab`); a connection has its socket, its inode and its buffers (in
//! `Slab`). Neither shows in the process's RSS, so a model that pays per thread looks cheaper than it is if only
//! RSS is counted. The kernel does not attribute these to processes (short of a memory cgroup), so the lab reads
//! the machine's totals around a cell: the growth counts everything the machine did meanwhile, including the
//! client's side of each connection (its socket is in `Slab` too) and other processes on a shared machine.
//! Fitted over several levels, the noise averages out and the slope is what one more connection costs.

use crate::records::run::KernelMemory;

impl KernelMemory {
    /// Now; `None` where /proc/meminfo is missing or lacks the lines.
    pub fn read() -> Option<KernelMemory> {
        let meminfo = harness::proc::meminfo()?;
        Some(KernelMemory { kernel_stack_kib: meminfo.kernel_stack_kib?, slab_kib: meminfo.slab_kib })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_peaks_and_totals() {
        let m = KernelMemory { kernel_stack_kib: 2720, slab_kib: 863_652 };
        assert_eq!(m.total_kib(), 866_372);
        let later = KernelMemory { kernel_stack_kib: 3000, slab_kib: 800_000 };
        assert_eq!(later.since(m), KernelMemory { kernel_stack_kib: 280, slab_kib: 0 });
        assert_eq!(later.max(m), KernelMemory { kernel_stack_kib: 3000, slab_kib: 863_652 });
    }

    #[test]
    fn threads_grow_the_kernel_stack() {
        let before = KernelMemory::read().expect("/proc/meminfo");
        let stop = std::sync::Barrier::new(201);
        let peak = std::thread::scope(|scope| {
            for _ in 0..200 {
                scope.spawn(|| stop.wait());
            }
            let peak = KernelMemory::read().unwrap();
            stop.wait();
            peak
        });
        // 200 parked threads hold 200 kernel stacks (16 KiB each on x86-64, 8 KiB at least anywhere); other
        // processes on a shared machine can only add noise of either sign, well under 1,600 KiB in the
        // instant between the two readings.
        let grown = peak.kernel_stack_kib as i64 - before.kernel_stack_kib as i64;
        assert!(grown >= 1_600, "200 threads grew KernelStack by {grown} KiB");
    }
}
