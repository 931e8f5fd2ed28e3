#!/usr/bin/env bash
# Checks deploy/ without a cluster: yamllint (Debian) for YAML, then deploy/validate/validate.mjs
# (npm: kubernetes-models' JSON Schemas of the Kubernetes API, TypeScript excess-property
# checks for unknown fields, and the hardening rules of docs/security.md "Deployment hardening":
# seccomp never Unconfined, hostPaths read-only and never the kubelet's pod directory, a
# NetworkPolicy for every workload, ...), then `stallscope daemon --check-config` on deploy/*.conf and on the
# config embedded in the ConfigMap, then `promtool check rules` on the PrometheusRule's rules
# (deploy/monitoring/: custom resources of the Prometheus Operator and KEDA, yamllint only). Installs what it needs (Debian packages, npm ci into
# $BUILD_DIR/manifest-validator). Exit 0 = all valid, 77 = the npm registry is unreachable.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/packages.sh
ensure_packages yamllint
command -v promtool >/dev/null || ensure_packages prometheus
# node/npm: Debian's nodejs + npm unless a Node.js install is already on PATH.
command -v node >/dev/null && command -v npm >/dev/null || ensure_packages nodejs npm

BUILD_DIR=${BUILD_DIR:-build}
STALLSCOPE_BIN=${STALLSCOPE_BIN:-$BUILD_DIR/bin/stallscope}
VALIDATOR="$BUILD_DIR/manifest-validator"
mkdir -p "$VALIDATOR"
cp deploy/validate/package.json deploy/validate/package-lock.json deploy/validate/validate.mjs "$VALIDATOR/"
if ! cmp -s deploy/validate/package-lock.json "$VALIDATOR/node_modules/.package-lock.json.installed" 2>/dev/null; then
  if ! (cd "$VALIDATOR" && npm ci --no-audit --no-fund --loglevel=error); then
    echo "skipped: cannot install the validator from the npm registry" >&2
    exit 77
  fi
  cp deploy/validate/package-lock.json "$VALIDATOR/node_modules/.package-lock.json.installed"
fi

echo "yamllint:"
# deploy/*.example.yml deploy/monitoring/*.yaml: custom resources (cert-manager) the Kubernetes schemas do not cover.
yamllint -d '{extends: default, rules: {line-length: {max: 120}, document-start: disable, comments: {min-spaces-from-content: 1}}}' deploy/*.yaml deploy/*.example.yml deploy/monitoring/*.yaml
echo "  ok"
echo "Kubernetes schemas:"
confs=$(mktemp -d)
trap 'rm -rf "$confs"' EXIT
EXTRACT_CONF_DIR="$confs" node "$VALIDATOR/validate.mjs" deploy/*.yaml
echo "daemon configs:"
for conf in deploy/*.conf "$confs"/*.conf; do
  "$STALLSCOPE_BIN" daemon --config "$conf" --check-config
done
echo "alert rules (promtool):"
node -e "const {parse} = require(process.argv[1]); const fs = require('fs');
  fs.writeFileSync(process.argv[3], JSON.stringify(parse(fs.readFileSync(process.argv[2], 'utf8')).spec));" \
  "$(realpath "$VALIDATOR")/node_modules/yaml" deploy/monitoring/prometheusrule.yaml "$confs/rules.json"
promtool check rules "$confs/rules.json"
