// Where a hand-off between two threads on ONE CPU spends its time here.
//
// `lab primitives` measured a hand-off between two threads pinned to one CPU at 3.8 µs (condition variable) and
// 2.7 µs (a pipe each way), against 1.7 µs published (jimblandy/context-switch, 2020). This machine is a VM
// whose kernel applies software mitigations on every kernel entry and return (/sys/devices/system/cpu/
// vulnerabilities: spectre_v2 "Retpolines; RSB filling", spec_rstack_overflow "Safe RET"). Hypothesis: the
// hand-off costs more here because entering and leaving the kernel costs more, not because the scheduler's
// switch itself does.
//
// Pinned to CPU 0, each repeated in rounds (medians printed):
//   null-syscall   getppid(): one kernel entry and return, nothing else
//   futex-wake     FUTEX_WAKE on a word nobody waits on: the wake system call alone
//   yield-switch   two threads on the CPU calling sched_yield() in turn: one system call and one switch
//                  between threads per hand-off, no sleeping and no waking
//   condvar        the lab's hand-off (mutex + condition variable: futex wait and wake)
//   pipe           a pipe each way, one byte
//   socketpair     a Unix socket pair, one byte each way, blocking read and write
//   epoll-socket   the same, each thread waiting in epoll_wait() before it reads, as a reactor does: what the
//                  readiness step adds (`lab primitives`' smol-socketpair, 6.3 µs, is this plus an executor)
// The hypothesis holds if the system calls a hand-off makes, at null-syscall's price, account for most of the
// condvar and pipe figures, and yield-switch (a switch with one system call) is close to null-syscall.
//
// Build and run: gcc -O2 -pthread same-cpu-switch.c -o /tmp/same-cpu-switch && /tmp/same-cpu-switch 7
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static void pin_self(int cpu) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

static double null_syscall(long n) {
    double t0 = now_ns();
    for (long i = 0; i < n; i++) syscall(SYS_getppid);
    return (now_ns() - t0) / n;
}

static int futex_word;
static double futex_wake(long n) {
    double t0 = now_ns();
    for (long i = 0; i < n; i++) syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    return (now_ns() - t0) / n;
}

static long rounds;
static atomic_int go;
static void *yielder(void *arg) {
    (void)arg;
    pin_self(0);
    while (!atomic_load(&go)) sched_yield();
    for (long i = 0; i < rounds; i++) sched_yield();  // the other thread runs until it yields back
    return NULL;
}
static double yield_switch(long n) {
    rounds = n;
    atomic_store(&go, 0);
    pthread_t t;
    pthread_create(&t, NULL, yielder, NULL);
    atomic_store(&go, 1);
    double t0 = now_ns();
    for (long i = 0; i < n; i++) sched_yield();
    double t1 = now_ns();
    pthread_join(t, NULL);
    return (t1 - t0) / (2.0 * n);  // each round: a switch there and a switch back
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int turn;
static void *cv_partner(void *arg) {
    (void)arg;
    pin_self(0);
    for (long i = 0; i < rounds; i++) {
        pthread_mutex_lock(&mu);
        while (turn != 1) pthread_cond_wait(&cv, &mu);
        turn = 0;
        pthread_cond_signal(&cv);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}
static double condvar(long n) {
    rounds = n;
    turn = 0;
    pthread_t t;
    pthread_create(&t, NULL, cv_partner, NULL);
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&mu);
        turn = 1;
        pthread_cond_signal(&cv);
        while (turn != 0) pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
    }
    double t1 = now_ns();
    pthread_join(t, NULL);
    return (t1 - t0) / (2.0 * n);
}

static int ab[2], ba[2];
static void *pipe_partner(void *arg) {
    (void)arg;
    pin_self(0);
    char c;
    for (long i = 0; i < rounds; i++) {
        if (read(ab[0], &c, 1) != 1 || write(ba[1], &c, 1) != 1) abort();
    }
    return NULL;
}
static double pipes(long n) {
    rounds = n;
    pthread_t t;
    pthread_create(&t, NULL, pipe_partner, NULL);
    char c = 'x';
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1) abort();
    }
    double t1 = now_ns();
    pthread_join(t, NULL);
    return (t1 - t0) / (2.0 * n);
}

static int sp[2];  // sp[0]: the main thread's end, sp[1]: the partner's
static int use_epoll;
static void wait_readable(int fd, int ep) {
    if (!use_epoll) return;
    struct epoll_event e;
    while (epoll_wait(ep, &e, 1, -1) != 1) {  // blocks until the socket is readable: the reactor's wait
    }
    (void)fd;
}
static int epoll_for(int fd) {
    int ep = epoll_create1(0);
    struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
    return ep;
}
static void *sock_partner(void *arg) {
    (void)arg;
    pin_self(0);
    int ep = epoll_for(sp[1]);
    char c;
    for (long i = 0; i < rounds; i++) {
        wait_readable(sp[1], ep);
        if (read(sp[1], &c, 1) != 1 || write(sp[1], &c, 1) != 1) abort();
    }
    close(ep);
    return NULL;
}
static double sockets(long n, int epoll) {
    rounds = n;
    use_epoll = epoll;
    int ep = epoll_for(sp[0]);
    pthread_t t;
    pthread_create(&t, NULL, sock_partner, NULL);
    char c = 'x';
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        if (write(sp[0], &c, 1) != 1) abort();
        wait_readable(sp[0], ep);
        if (read(sp[0], &c, 1) != 1) abort();
    }
    double t1 = now_ns();
    pthread_join(t, NULL);
    close(ep);
    return (t1 - t0) / (2.0 * n);
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define SUBJECTS 7
static const char *names[SUBJECTS] = {"null-syscall", "futex-wake",   "yield-switch", "condvar",
                                      "pipe",         "socketpair",   "epoll-socket"};

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (pipe(ab) || pipe(ba) || socketpair(AF_UNIX, SOCK_STREAM, 0, sp)) return 1;
    pin_self(0);
    double *v[SUBJECTS];
    for (int s = 0; s < SUBJECTS; s++) v[s] = calloc(reps, sizeof(double));
    for (int r = 0; r < reps; r++) {
        v[0][r] = null_syscall(2000000);
        v[1][r] = futex_wake(2000000);
        v[2][r] = yield_switch(200000);
        v[3][r] = condvar(100000);
        v[4][r] = pipes(100000);
        v[5][r] = sockets(100000, 0);
        v[6][r] = sockets(100000, 1);
        fprintf(stderr, "round %d done\n", r + 1);
    }
    printf("%-14s %10s %10s %10s   (ns, pinned to CPU 0; %d rounds)\n", "subject", "median", "min", "max", reps);
    for (int s = 0; s < SUBJECTS; s++) {
        qsort(v[s], reps, sizeof(double), cmp);
        printf("%-14s %10.0f %10.0f %10.0f\n", names[s], v[s][reps / 2], v[s][0], v[s][reps - 1]);
    }
    return 0;
}
