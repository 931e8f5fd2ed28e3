// Validates Kubernetes manifests without a cluster (node validate.mjs FILE.yaml ...):
//  1. YAML parses strictly (no duplicate keys), every document has apiVersion and kind;
//  2. each document passes its kind's JSON Schema from the Kubernetes OpenAPI spec
//     (kubernetes-models: types, enums, required fields, quantity/int formats);
//  3. no unknown fields anywhere (a typo like `hostPid` is valid JSON Schema, since the API
//     schemas allow extra properties): each document is type-checked by TypeScript as an object
//     literal of the model's interface, whose excess-property check rejects unknown keys.
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
console.log(`${docs.length} documents valid (schema + no unknown fields): ${docs.map((d) => d.where).join("; ")}`);
