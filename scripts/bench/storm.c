/* Syscall storm for scripts/bench.sh: N calls of one cheap syscall per kind, timed per kind.
 * Kinds: getppid (no wait hook runs: the syscall path alone), epoll (epoll_wait timeout 0 on an
 * empty epoll set: what an event loop pays per wait), pipe (write one byte to a pipe and read it
 * back, one write + read pair counted as one call), futex (FUTEX_WAKE on a private futex nobody
 * waits on: what a lock or a condition variable pays without contention). Prints, per kind, the
 * mean wall time and CPU time (user + system of this process, CLOCK_PROCESS_CPUTIME_ID) per
 * call; CPU time is the figure to trust on a shared machine, where the wall clock includes time
 * spent waiting for a CPU. With "hold" it prints "ready" and waits for SIGUSR1 before starting,
 * so an agent can attach to it first (the tracked storm).
 * Usage: storm N [KIND[,KIND...]] [hold]   (default kind getppid)
 * Output: one line per kind, in the order given:
 *   kind K calls N wall_ns_per_call W cpu_ns_per_call C */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { kMaxKinds = 8, kWarmup = 2000 };

static double ns_of(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static volatile sig_atomic_t go;

static void on_go(int sig) {
  (void)sig;
  go = 1;
}

static int epfd = -1;
static int pipefd[2] = {-1, -1};
static int futex_word;

static void run_getppid(long n) {
  for (long i = 0; i < n; i++) syscall(SYS_getppid);
}

static void run_epoll(long n) {
  struct epoll_event ev;
  for (long i = 0; i < n; i++) epoll_wait(epfd, &ev, 1, 0);
}

static void run_pipe(long n) {
  char c = 'x';
  for (long i = 0; i < n; i++) {
    if (write(pipefd[1], &c, 1) != 1 || read(pipefd[0], &c, 1) != 1) exit(1);
  }
}

static void run_futex(long n) {
  for (long i = 0; i < n; i++)
    syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

struct kind {
  const char *name;
  void (*run)(long);
};

static const struct kind kKinds[] = {
    {"getppid", run_getppid}, {"epoll", run_epoll}, {"pipe", run_pipe}, {"futex", run_futex}};

static const struct kind *find_kind(const char *name) {
  for (size_t i = 0; i < sizeof(kKinds) / sizeof(kKinds[0]); i++)
    if (strcmp(kKinds[i].name, name) == 0) return &kKinds[i];
  return NULL;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 5000000;
  if (n <= 0) return 2;
  const struct kind *kinds[kMaxKinds];
  int nkinds = 0;
  char list[256] = "getppid";
  if (argc > 2 && strcmp(argv[2], "hold") != 0) snprintf(list, sizeof(list), "%s", argv[2]);
  char *save = NULL;
  for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (nkinds == kMaxKinds || !(kinds[nkinds] = find_kind(tok))) {
      fprintf(stderr, "storm: unknown kind or too many kinds: %s\n", tok);
      return 2;
    }
    nkinds++;
  }
  if ((epfd = epoll_create1(0)) < 0 || pipe(pipefd) != 0) return 1;
  if (strcmp(argv[argc - 1], "hold") == 0) {
    signal(SIGUSR1, on_go);
    printf("ready\n");
    fflush(stdout);
    while (!go) pause();
  }
  for (int k = 0; k < nkinds; k++) {
    kinds[k]->run(kWarmup);
    double wall0 = ns_of(CLOCK_MONOTONIC), cpu0 = ns_of(CLOCK_PROCESS_CPUTIME_ID);
    kinds[k]->run(n);
    double cpu1 = ns_of(CLOCK_PROCESS_CPUTIME_ID), wall1 = ns_of(CLOCK_MONOTONIC);
    printf("kind %s calls %ld wall_ns_per_call %.1f cpu_ns_per_call %.1f\n", kinds[k]->name, n,
           (wall1 - wall0) / n, (cpu1 - cpu0) / n);
    fflush(stdout);
  }
  return 0;
}
