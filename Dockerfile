# Multi-stage: build with the same script as the README, ship only the binary and its shared
# libraries. The BPF programs are embedded in the binary (CO-RE), so the image needs no compiler
# or kernel headers. Building needs the build host's /sys/kernel/btf/vmlinux (docker build sees
# the host's /sys); see cmake/BpfObject.cmake.
FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN scripts/build.sh && strip build/bin/stallscope

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libbpf1 libelf1 zlib1g libprotobuf32 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/bin/stallscope /usr/bin/stallscope
# Loading BPF needs CAP_BPF + CAP_PERFMON (and CAP_SYS_PTRACE to read other processes' /proc
# entries); run with those capabilities and --pid=host rather than as a privileged container.
ENTRYPOINT ["/usr/bin/stallscope"]
CMD ["--help"]
