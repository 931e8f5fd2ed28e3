/* Loads a BPF object of scripts/bench (floor.bpf.c, storm_ref.bpf.c), attaches its programs,
 * prints "attached N", and holds them until SIGINT/SIGTERM (the links go away with the process).
 * Usage: floor_loader OBJ.bpf.o [PROG | PROG@PID:BINARY:FUNC ...]
 * Without PROG arguments every program is attached where its section says; with them only
 * those, a PROG@PID:BINARY:FUNC one as a uprobe on FUNC of BINARY in process PID only. */
#include <bpf/libbpf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { kMaxLinks = 16 };

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

/* "PROG" or "PROG@PID:BINARY:FUNC" (BINARY holds no ':'); NULL on a malformed argument. */
static struct bpf_link *attach_arg(struct bpf_object *obj, char *arg) {
  char *at = strchr(arg, '@');
  if (at) *at = '\0';
  struct bpf_program *prog = bpf_object__find_program_by_name(obj, arg);
  if (!prog) {
    fprintf(stderr, "no program %s\n", arg);
    return NULL;
  }
  if (!at) return bpf_program__attach(prog);
  char *pid_s = at + 1, *binary = strchr(pid_s, ':');
  char *func = binary ? strchr(binary + 1, ':') : NULL;
  if (!binary || !func) {
    fprintf(stderr, "expected PROG@PID:BINARY:FUNC\n");
    return NULL;
  }
  *binary++ = '\0';
  *func++ = '\0';
  LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = func);
  return bpf_program__attach_uprobe_opts(prog, atoi(pid_s), binary, 0, &opts);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s OBJ.bpf.o [PROG | PROG@PID:BINARY:FUNC ...]\n", argv[0]);
    return 2;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
  if (!obj || libbpf_get_error(obj)) {
    fprintf(stderr, "cannot open %s\n", argv[1]);
    return 1;
  }
  if (bpf_object__load(obj)) {
    fprintf(stderr, "cannot load %s\n", argv[1]);
    return 1;
  }
  struct bpf_link *links[kMaxLinks];
  int n = 0;
  if (argc > 2) {
    for (int i = 2; i < argc && n < kMaxLinks; i++) {
      struct bpf_link *link = attach_arg(obj, argv[i]);
      if (!link || libbpf_get_error(link)) {
        fprintf(stderr, "cannot attach %s\n", argv[i]);
        return 1;
      }
      links[n++] = link;
    }
  } else {
    struct bpf_program *prog;
    bpf_object__for_each_program(prog, obj) {
      if (n == kMaxLinks) break;
      struct bpf_link *link = bpf_program__attach(prog);
      if (!link || libbpf_get_error(link)) {
        fprintf(stderr, "cannot attach %s\n", bpf_program__name(prog));
        return 1;
      }
      links[n++] = link;
    }
  }
  printf("attached %d\n", n);
  fflush(stdout);
  while (!stop) pause();
  for (int i = 0; i < n; i++) bpf_link__destroy(links[i]);
  bpf_object__close(obj);
  return 0;
}
