/* Syscall storm for scripts/bench.sh: N x getppid() from a process stallscope does not track,
 * or with "epoll" N x epoll_wait(timeout 0) on an empty epoll set (a syscall the agent hooks
 * by itself: what an untracked event loop pays). Prints the mean wall time and CPU time (user +
 * system of this process) per syscall; CPU time is the figure to trust on a shared machine,
 * where the wall clock includes time spent waiting for a CPU. With "hold" it prints "ready" and
 * waits for SIGUSR1 before starting, so an agent can attach to it first (the tracked storm).
 * Usage: storm N [epoll|getppid] [hold] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 5000000;
  if (n <= 0) return 2;
  int epfd = -1;
  struct epoll_event ev;
  if (argc > 2 && strcmp(argv[2], "epoll") == 0 && (epfd = epoll_create1(0)) < 0) return 1;
  if (argc > 3 && strcmp(argv[3], "hold") == 0) {
    signal(SIGUSR1, on_go);
    printf("ready\n");
    fflush(stdout);
    while (!go) pause();
  }
  double wall0 = ns_of(CLOCK_MONOTONIC), cpu0 = ns_of(CLOCK_PROCESS_CPUTIME_ID);
  if (epfd >= 0) {
    for (long i = 0; i < n; i++) epoll_wait(epfd, &ev, 1, 0);
  } else {
    for (long i = 0; i < n; i++) syscall(SYS_getppid);
  }
  double cpu1 = ns_of(CLOCK_PROCESS_CPUTIME_ID), wall1 = ns_of(CLOCK_MONOTONIC);
  printf("calls %ld wall_ns_per_call %.1f cpu_ns_per_call %.1f\n", n, (wall1 - wall0) / n,
         (cpu1 - cpu0) / n);
  return 0;
}
