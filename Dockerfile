# One image for every manifest in deploy/: the node agent (deploy/daemonset.yaml, the default
# command) and the fleet collector (deploy/collector.yaml runs /usr/bin/stallscope-collector).
# It is built from the Debian package (scripts/package.sh), so apt installs exactly the shared
# libraries the binaries load (the package's Depends). The BPF programs are embedded in the
# agent (CO-RE): no image needs a compiler or kernel headers. Building needs the build host's
# /sys/kernel/btf/vmlinux (docker build sees the host's /sys); see cmake/BpfObject.cmake.
#
#   docker build -t stallscope:0.1.0 .
FROM debian:12 AS build
WORKDIR /src
COPY . .
# Same scripts as a developer runs: the two binaries, man pages, then the .deb.
RUN BUILD_DIR=build scripts/package.sh

FROM debian:12-slim
COPY --from=build /src/build/package/ /tmp/package/
RUN apt-get update \
 && apt-get install -y --no-install-recommends /tmp/package/stallscope_*.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/package \
 && useradd --system --uid 65532 --home-dir /var/lib/stallscope --create-home stallscope
COPY deploy/stallscope-daemon.conf /etc/stallscope/stallscope-daemon.conf
# The agent stays uid 0 because loading BPF needs capabilities a non-root user cannot hold in
# Kubernetes (no ambient capabilities); the DaemonSet drops every capability but the few BPF
# tracing needs and is not privileged. The collector's manifest runs it as uid 65532.
EXPOSE 7700 7701 7702
ENTRYPOINT ["/usr/bin/stallscope"]
CMD ["daemon", "--config", "/etc/stallscope/stallscope-daemon.conf"]
