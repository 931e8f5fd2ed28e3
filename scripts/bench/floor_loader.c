/* Loads and attaches scripts/bench/floor.bpf.c's programs, prints "attached", and holds them
 * until SIGINT/SIGTERM (the links go away with the process). Usage: floor_loader FLOOR.bpf.o */
#include <bpf/libbpf.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s FLOOR.bpf.o\n", argv[0]);
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
  struct bpf_program *prog;
  struct bpf_link *links[16];
  int n = 0;
  bpf_object__for_each_program(prog, obj) {
    if (n == 16) break;
    struct bpf_link *link = bpf_program__attach(prog);
    if (!link || libbpf_get_error(link)) {
      fprintf(stderr, "cannot attach %s\n", bpf_program__name(prog));
      return 1;
    }
    links[n++] = link;
  }
  printf("attached %d\n", n);
  fflush(stdout);
  while (!stop) pause();
  for (int i = 0; i < n; i++) bpf_link__destroy(links[i]);
  bpf_object__close(obj);
  return 0;
}
