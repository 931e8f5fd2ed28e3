# Multi-stage: build with the same script as the README, ship only the binaries and the
# shared libraries they load. The BPF programs are embedded in the agent (CO-RE), so no image
# needs a compiler or kernel headers. Building needs the build host's /sys/kernel/btf/vmlinux
# (docker build sees the host's /sys); see cmake/BpfObject.cmake.
#
#   docker build --target agent     -t stallscope-agent .      # the DaemonSet (deploy/daemonset.yaml)
#   docker build --target collector -t stallscope-collector .  # the fleet collector (deploy/collector.yaml)
FROM debian:12 AS build
WORKDIR /src
COPY . .
# Same script as a developer runs; tests are not built into the image.
RUN BUILD_DIR=build scripts/build.sh --target stallscope stallscope-collector \
 && strip build/bin/stallscope build/bin/stallscope-collector

# Shared runtime: the Debian libraries both binaries load (ldd-checked; apt adds their own deps).
FROM debian:12-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libbpf1 libelf1 zlib1g libprotobuf32 libgrpc++1.51 libabsl20220623 libcpp-httplib0.11 libre2-9 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 65532 --home-dir /var/lib/stallscope --create-home stallscope

# The node agent. It stays uid 0 because loading BPF needs capabilities a non-root user cannot
# hold in Kubernetes (no ambient capabilities); the DaemonSet drops every capability but
# CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE (and CAP_SYS_RESOURCE on kernels before 5.11) and runs
# with a read-only root filesystem, not privileged.
FROM runtime AS agent
COPY --from=build /src/build/bin/stallscope /usr/bin/stallscope
COPY deploy/stallscope-daemon.conf /etc/stallscope/stallscope-daemon.conf
EXPOSE 7702
ENTRYPOINT ["/usr/bin/stallscope"]
CMD ["daemon", "--config", "/etc/stallscope/stallscope-daemon.conf"]

# The collector needs no privileges at all: it runs as an unprivileged user.
FROM runtime AS collector
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsqlite3-0 libpq5 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/bin/stallscope-collector /usr/bin/stallscope-collector
USER 65532:65532
WORKDIR /var/lib/stallscope
EXPOSE 7700 7701
ENTRYPOINT ["/usr/bin/stallscope-collector"]
CMD ["--grpc-listen", ":7700", "--http-listen", ":7701", "--db", "/var/lib/stallscope/fleet.db"]
