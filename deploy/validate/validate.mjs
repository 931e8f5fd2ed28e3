// Validates Kubernetes manifests without a cluster (node validate.mjs FILE.yaml ...):
//  1. YAML parses strictly (no duplicate keys), every document has apiVersion and kind;
//  2. each document passes its kind's JSON Schema from the Kubernetes OpenAPI spec
//     (kubernetes-models: types, enums, required fields, quantity/int formats);
//  3. no unknown fields anywhere (a typo like `hostPid` is valid JSON Schema, since the API
//     schemas allow extra properties): each document is type-checked by TypeScript as an object
//     literal of the model's interface, whose excess-property check rejects unknown keys;
//  4. hardening (docs/security.md, "Deployment hardening"): every container has a seccomp
//     profile other than Unconfined, is not privileged, cannot escalate, has a read-only root
//     filesystem and drops ALL capabilities, and runs as non-root unless its pod is a node agent
//     (hostPID); every hostPath is mounted read-only and none is, or holds, /var/lib/kubelet/pods;
//     a NetworkPolicy selects every workload's pods. The rules are first tried on a weakened
//     copy of the manifests, which they must refuse (a check that cannot fail checks nothing).
// Exits 1 listing every problem, 0 printing what was checked.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
const problems = [];
const docs = [];

for (const file of process.argv.slice(2)) {
  const parsed = parseAllDocuments(readFileSync(file, "utf8"), { uniqueKeys: true, strict: true });
  parsed.forEach((d, i) => {
    const where = `${basename(file)} document ${i + 1}`;
    for (const e of d.errors) problems.push(`${where}: YAML: ${e.message}`);
    const obj = d.toJS();
    if (obj == null) return;
    if (!obj.apiVersion || !obj.kind) return problems.push(`${where}: no apiVersion/kind`);
    // core "v1" -> kubernetes-models/v1/Kind; "apps/v1" -> kubernetes-models/apps/v1/Kind
    const module = `kubernetes-models/${obj.apiVersion}/${obj.kind}`;
    docs.push({ where: `${where} (${obj.kind} ${obj.metadata?.name ?? "?"})`, obj, module });
    // ConfigMap files named *.conf are stallscope daemon configs: hand them to the caller
    // (scripts/validate-manifests.sh runs `stallscope daemon --check-config` on each).
    if (obj.kind === "ConfigMap" && process.env.EXTRACT_CONF_DIR)
      for (const [name, text] of Object.entries(obj.data ?? {}))
        if (name.endsWith(".conf"))
          writeFileSync(join(process.env.EXTRACT_CONF_DIR, `${obj.metadata.name}-${name}`), text);
  });
}

for (const d of docs) {
  let cls;
  try {
    cls = (await import(d.module))[d.obj.kind];
  } catch (e) {
    problems.push(`${d.where}: unknown apiVersion/kind (${d.module})`);
    continue;
  }
  try {
    new cls(d.obj).validate();
  } catch (e) {
    problems.push(`${d.where}: schema: ${e.message}`);
  }
}

// Hardening rules (4): the problems of a list of documents.
const WORKLOADS = new Set(["DaemonSet", "Deployment", "StatefulSet", "Job", "CronJob"]);
const KUBELET_PODS = "/var/lib/kubelet/pods";  // every pod's service-account tokens and Secrets

function exposesKubeletPods(path) {
  const p = path.replace(/\/+$/, "");
  return p === "" || p === KUBELET_PODS || KUBELET_PODS.startsWith(`${p}/`);
}

function containerProblems(where, c, spec, hostPaths) {
  const out = [];
  const sc = c.securityContext ?? {};
  const seccomp = sc.seccompProfile?.type ?? spec.securityContext?.seccompProfile?.type;
  if (!seccomp || seccomp === "Unconfined")
    out.push(`${where}: container ${c.name}: seccompProfile ${seccomp ?? "unset"} (RuntimeDefault or Localhost)`);
  if (sc.privileged) out.push(`${where}: container ${c.name}: privileged`);
  if (sc.allowPrivilegeEscalation !== false)
    out.push(`${where}: container ${c.name}: allowPrivilegeEscalation not false`);
  if (sc.readOnlyRootFilesystem !== true) out.push(`${where}: container ${c.name}: root filesystem not read-only`);
  if (!(sc.capabilities?.drop ?? []).includes("ALL"))
    out.push(`${where}: container ${c.name}: capabilities not dropped (ALL)`);
  if (!spec.hostPID && (sc.runAsNonRoot ?? spec.securityContext?.runAsNonRoot) !== true)
    out.push(`${where}: container ${c.name}: runAsNonRoot not true (only a node agent, hostPID, runs as root)`);
  for (const m of c.volumeMounts ?? [])
    if (hostPaths.has(m.name) && m.readOnly !== true)
      out.push(`${where}: container ${c.name}: hostPath ${hostPaths.get(m.name)} mounted writable at ${m.mountPath}`);
  return out;
}

function hardeningProblems(list) {
  const out = [];
  const policies = list.filter((d) => d.obj.kind === "NetworkPolicy");
  if (!policies.length) out.push("no NetworkPolicy among the manifests");
  for (const d of list) {
    if (!WORKLOADS.has(d.obj.kind)) continue;
    const pod = d.obj.kind === "CronJob" ? d.obj.spec?.jobTemplate?.spec?.template : d.obj.spec?.template;
    const spec = pod?.spec ?? {};
    const hostPaths = new Map((spec.volumes ?? []).filter((v) => v.hostPath).map((v) => [v.name, v.hostPath.path]));
    for (const [name, path] of hostPaths)
      if (exposesKubeletPods(path)) out.push(`${d.where}: hostPath volume ${name} (${path}) exposes ${KUBELET_PODS}`);
    for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])])
      out.push(...containerProblems(d.where, c, spec, hostPaths));
    const labels = pod?.metadata?.labels ?? {};
    const namespace = d.obj.metadata?.namespace ?? "default";
    const selected = policies.some((p) => (p.obj.metadata?.namespace ?? "default") === namespace &&
      Object.entries(p.obj.spec?.podSelector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v));
    if (!selected) out.push(`${d.where}: no NetworkPolicy selects its pods`);
  }
  return out;
}

// The rules must refuse a weakened copy: Unconfined seccomp, the kubelet's pod directory mounted
// writable, no NetworkPolicy.
function hardeningSelfTest(list) {
  const agent = list.find((d) => d.obj.kind === "DaemonSet");
  if (!agent) return;
  const weak = structuredClone(agent);
  const spec = weak.obj.spec.template.spec;
  spec.containers[0].securityContext.seccompProfile = { type: "Unconfined" };
  spec.volumes.push({ name: "kubelet-pods", hostPath: { path: "/var/lib/kubelet/pods" } });
  spec.containers[0].volumeMounts.push({ name: "kubelet-pods", mountPath: "/host/var/lib/kubelet/pods" });
  const found = hardeningProblems([weak]).join("\n");
  const expectations = ["seccompProfile Unconfined", `exposes ${KUBELET_PODS}`, "mounted writable", "no NetworkPolicy"];
  for (const expected of expectations)
    if (!found.includes(expected)) problems.push(`hardening self-test: a weakened DaemonSet was not refused for "${expected}"`);
}

hardeningSelfTest(docs);
problems.push(...hardeningProblems(docs));

// Unknown fields: one TypeScript file, one typed constant per document.
const work = mkdtempSync(join(tmpdir(), "stallscope-manifests-"));
try {
  const lines = docs.map((d, i) =>
    `import type { I${d.obj.kind} as T${i} } from "${d.module}";\n` +
    `// ${d.where}\nexport const doc${i}: T${i} = ${JSON.stringify(d.obj, null, 1)};\n`);
  writeFileSync(join(work, "manifests.ts"), lines.join("\n"));
  writeFileSync(join(work, "tsconfig.json"), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, module: "nodenext", moduleResolution: "nodenext",
                       target: "es2022", skipLibCheck: true, typeRoots: [], baseUrl: here,
                       paths: { "kubernetes-models/*": [join(here, "node_modules/kubernetes-models/*")] } },
    files: ["manifests.ts"],
  }));
  try {
    execFileSync(process.execPath, [join(here, "node_modules/typescript/bin/tsc"), "-p", work],
                 { cwd: here, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const ts = readFileSync(join(work, "manifests.ts"), "utf8").split("\n");
    for (const line of `${e.stdout}${e.stderr}`.split("\n").filter((l) => l.includes("error TS"))) {
      // map "manifests.ts(LINE,COL)" back to the document it is in
      const n = Number((line.match(/manifests\.ts\((\d+),/) || [])[1] || 0);
      const owner = ts.slice(0, n).reverse().find((l) => l.startsWith("// "));
      problems.push(`${owner ? owner.slice(3) : "?"}: ${line.replace(/^.*error /, "")}`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

if (problems.length) {
  console.error(problems.join("\n"));
  console.error(`${problems.length} problem(s) in ${docs.length} documents`);
  process.exit(1);
}
console.log(`${docs.length} documents valid (schema + no unknown fields + hardening): ${docs.map((d) => d.where).join("; ")}`);
