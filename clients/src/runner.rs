//! Many requests in flight on a few threads: the async client's engine room.
//!
//! A *slot* is one request in flight at a time — a task that sends, awaits the response, and sends again.
//! `-c N` slots are dealt round-robin to `--threads T` OS threads; each thread runs its own smol
//! [`LocalExecutor`] with its share of the slots, like wrk's `-t` threads each with its own event loop and
//! connections. So connections are spread evenly over the threads, a slot never migrates (its socket stays warm
//! in one core's cache), and each thread's slots record into one [`Recorder`] behind a `RefCell` — no lock:
//! only that thread touches it. Waiting for the network is an `.await`: the thread runs another slot meanwhile,
//! and when none is runnable it blocks in the async-io reactor (`epoll_wait`).
//!
//! A run has two phases over the same slots (and so the same connections): warm-up, then the measured phase.
//! Between them every thread waits on a barrier, so the clock starts only when all warm-up requests are done.
//!
//! Slots take request numbers from one atomic counter per phase. With several `--url`s the number also picks
//! the URL ([`crate::cli::url_index`]): consecutive numbers go to consecutive URLs, so each URL gets its exact
//! share whichever slot happens to take the number, and the slots in flight together are spread over the URLs.
//!
//! Open loop (`--rate`, [`crate::schedule`]): the number also fixes when the request is due. A slot that takes a
//! number early sleeps on a timer until then (yielding to the others); one that takes it late — every slot was
//! busy when it fell due — sends at once, and the latency counts from when it was due.

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use smol::{LocalExecutor, Timer};

use crate::cli::url_index;
use crate::outcome::{FailureKind, Outcome};
use crate::phase::{Phase, Plan, ThreadRun};
use crate::recorder::Recorder;
use crate::schedule::{Departure, Schedule, Stop};

/// One request in flight at a time: an HTTP engine's per-slot state (a connection, buffers, a client handle).
pub trait Slot {
    /// Sends one request to the `url`-th `--url` (an index into the engine's list) and reads the whole response.
    fn send(&mut self, url: usize) -> impl Future<Output = Outcome>;
    /// Called when `--timeout` cut a [`Slot::send`] short: forget any half-used connection.
    fn reset(&mut self);
    /// How long the connection the last [`Slot::send`] opened took to establish, if it opened one and the engine
    /// can tell (an HTTP library that connects inside its own pool cannot).
    fn take_connect_time(&mut self) -> Option<std::time::Duration> {
        None
    }
}

/// The measured phase's result.
pub struct Measured {
    pub recorder: Recorder,
    pub wall: Duration,
}

/// Runs `plan`: every executor thread builds its slots with `make_slot`, runs the warm-up, then waits; the
/// calling thread then runs `before_measure` (an `async-client --processes` child reports ready and waits for
/// the parent's go), starts the clock and releases the executors. The clock stops when every executor has its
/// last response, before any closes its connections: `wall_s` ends at the last response (clients/SCHEMA.md), and
/// one thread's teardown (10,000 closes in a burst) neither counts nor competes with another's last responses.
pub fn run<S, F>(plan: &Plan, make_slot: F, before_measure: impl FnOnce()) -> Measured
where
    S: Slot,
    F: Fn() -> S + Sync,
{
    run_threads(plan, |slots_here| Slots((0..slots_here).map(|_| make_slot()).collect()), before_measure)
}

/// A thread's slots, each driven by a task on a fresh [`LocalExecutor`] per phase.
pub struct Slots<S>(Vec<S>);

impl<S: Slot> ThreadRun for Slots<S> {
    fn phase(&mut self, phase: &Phase) {
        let slots = std::mem::take(&mut self.0);
        self.0 = run_phase(slots, phase);
    }
}

/// [`run`] for any [`ThreadRun`]: `make(n)` builds, on its own thread, what that thread runs with n slots.
pub fn run_threads<T, F>(plan: &Plan, make: F, before_measure: impl FnOnce()) -> Measured
where
    T: ThreadRun,
    F: Fn(usize) -> T + Sync,
{
    let threads = plan.threads.clamp(1, plan.concurrency.max(1));
    let warmup_next = AtomicU64::new(0);
    let next = AtomicU64::new(0);
    let warmed_up = Barrier::new(threads + 1);
    let go = Barrier::new(threads + 1);
    let answered = Barrier::new(threads + 1);
    // The measured phase's start, set before `go` is released: the origin of the open-loop schedule.
    let start = OnceLock::new();

    thread::scope(|scope| {
        let executors: Vec<_> = (0..threads)
            .map(|t| {
                // Round-robin: thread t gets slots t, t + T, t + 2T, …
                let slots_here = plan.concurrency / threads + usize::from(t < plan.concurrency % threads);
                let (make, warmup_next, next, warmed_up, go, answered, start) =
                    (&make, &warmup_next, &next, &warmed_up, &go, &answered, &start);
                thread::Builder::new()
                    .name(format!("executor-{t}"))
                    .spawn_scoped(scope, move || {
                        let mut slots = make(slots_here);
                        let warm = RefCell::new(Recorder::new(false));
                        if plan.warmup > 0 {
                            let stop = Stop::after(plan.warmup);
                            let warmup = Phase {
                                next: warmup_next,
                                plan,
                                stop,
                                recorder: &warm,
                                first_index: 0,
                                schedule: None,
                            };
                            slots.phase(&warmup);
                        }
                        // Blocks until every executor thread has finished its warm-up…
                        warmed_up.wait();
                        // …and until the coordinator has started the clock.
                        go.wait();
                        let recorder = RefCell::new(Recorder::new(plan.echo));
                        let started = *start.get().expect("the coordinator sets the start before go");
                        let schedule = plan.rate.map(|rate| Schedule::new(started, rate));
                        let stop = Stop::at(plan.requests, started, plan.duration);
                        let first_index = plan.first_index;
                        slots.phase(&Phase { next, plan, stop, recorder: &recorder, first_index, schedule });
                        // Blocks until every executor thread has its last response; only then are the
                        // connections closed.
                        answered.wait();
                        drop(slots);
                        recorder.into_inner()
                    })
                    .expect("spawn an executor thread")
            })
            .collect();
        warmed_up.wait();
        before_measure();
        let started = *start.get_or_init(Instant::now);
        go.wait();
        // Blocks until every executor thread has its last response.
        answered.wait();
        let wall = started.elapsed();
        let recorders: Vec<Recorder> =
            executors.into_iter().map(|e| e.join().expect("executor thread panicked")).collect();
        Measured { recorder: Recorder::merge_all(recorders), wall }
    })
}

/// Runs one phase on this thread: a fresh executor, one task per slot, until the phase's stop is reached.
/// Returns the slots so that the next phase reuses their connections.
fn run_phase<S: Slot>(slots: Vec<S>, phase: &Phase) -> Vec<S> {
    if phase.stop.limit == 0 {
        return slots;
    }
    let executor = LocalExecutor::new();
    let tasks: Vec<_> = slots.into_iter().map(|slot| executor.spawn(drive(slot, phase))).collect();
    // Blocks this thread in the executor (and, when no task can run, in the reactor) until every slot is done.
    smol::block_on(executor.run(async {
        let mut slots = Vec::with_capacity(tasks.len());
        for task in tasks {
            slots.push(task.await);
        }
        slots
    }))
}

/// One slot's loop: take a request number, (open loop) wait until it is due, send to the URL it picks, record;
/// until the numbers run out or the deadline passes (a request already sent then is finished).
async fn drive<S: Slot>(mut slot: S, phase: &Phase<'_>) -> S {
    let Phase { next, plan, stop, recorder, first_index, schedule } = *phase;
    let (urls, timeout) = (plan.urls, plan.timeout);
    // One timer per slot, re-armed lazily. Registering a timer with the reactor wakes the thread blocked in
    // it (an eventfd write and an extra round of epoll), which a timer per request would pay every time.
    // Instead the timer stays armed for an earlier request's deadline; when it fires, the current request's
    // deadline is checked and the timer re-armed for it — about once per `timeout`, not once per request.
    let mut deadline_timer = Timer::never();
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        if stop.reached(index) {
            return slot;
        }
        let number = first_index + index;
        let url = url_index(number, urls);
        // Latency counts from here: the intended send time in open loop, now in closed loop.
        let origin = match schedule {
            None => Instant::now(),
            Some(schedule) => match due(&schedule, index, timeout).await {
                Some((intended, late)) => {
                    if late {
                        recorder.borrow_mut().note_late();
                    }
                    intended
                }
                None => {
                    let unsent =
                        Outcome::failure(FailureKind::Unsent, format!("no free connection within {timeout:?}"));
                    recorder.borrow_mut().record(number, unsent, Duration::ZERO);
                    continue;
                }
            },
        };
        let sent = Instant::now();
        let deadline = sent + timeout;
        if !deadline_timer.will_fire() {
            deadline_timer.set_at(deadline);
        }
        // Yields to the other slots of this thread until the response is in or the deadline passes.
        let outcome =
            match smol::future::or(async { Some(slot.send(url).await) }, expire(&mut deadline_timer, deadline)).await {
                Some(outcome) => outcome,
                None => {
                    slot.reset();
                    Outcome::timed_out(timeout)
                }
            };
        // The borrow lasts for this call only, never across an `.await`.
        let mut recorder = recorder.borrow_mut();
        recorder.record(number, outcome, origin.elapsed());
        if let Some(took) = slot.take_connect_time() {
            recorder.record_connect(took);
        }
    }
}

/// Open loop: waits until request `index` is due and returns its intended send time and whether it leaves late;
/// `None` when it is `timeout` overdue and must be given up.
async fn due(schedule: &Schedule, index: u64, timeout: Duration) -> Option<(Instant, bool)> {
    loop {
        match schedule.departure(index, Instant::now(), timeout) {
            // Yields to the other slots of this thread until the request is due.
            Departure::Early { intended } => {
                Timer::at(intended).await;
            }
            Departure::Now { intended, late } => return Some((intended, late)),
            Departure::GiveUp => return None,
        }
    }
}

/// Completes (with `None`) once `deadline` has passed; `timer` may be armed for an earlier instant.
async fn expire<T>(timer: &mut Timer, deadline: Instant) -> Option<T> {
    loop {
        // Yields until the timer fires.
        (&mut *timer).await;
        if Instant::now() >= deadline {
            return None;
        }
        timer.set_at(deadline);
    }
}
