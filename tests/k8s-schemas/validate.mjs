// Validates every custom resource in the YAML files given (multi-document) against the schema
// kubernetes-models generated from its CRD: Istio's groups and Prometheus Operator's
// monitoring.coreos.com. Built-in kinds (apps/v1, v1, networking.k8s.io/v1) are skipped here:
// kubernetes-validate checks those. A custom kind without a model is a failure, never a skip.
// Prints one line per object; exits 1 if any failed.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const packages = {
  "security.istio.io": "@kubernetes-models/istio",
  "networking.istio.io": "@kubernetes-models/istio",
  "install.istio.io": "@kubernetes-models/istio",
  "extensions.istio.io": "@kubernetes-models/istio",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
};

for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    const obj = doc.toJS();
    if (!obj) continue;
    const [group, version] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/") : ["", obj.apiVersion];
    const name = `${file}: ${obj.apiVersion} ${obj.kind} ${obj.metadata?.name ?? ""}`;
    if (!group.includes(".") || group.endsWith(".k8s.io")) {
      console.log(`builtin ${name}`);
      continue;
    }
    const pkg = packages[group];
    let model;
    try {
      model = pkg && (await import(`${pkg}/${group}/${version}/${obj.kind}`))[obj.kind];
    } catch {
      model = undefined;
    }
    if (!model) {
      console.log(`FAIL ${name}: no schema for this kind`);
      process.exitCode = 1;
      continue;
    }
    try {
      new model(obj).validate();
      console.log(`ok ${name}`);
    } catch (e) {
      console.log(`FAIL ${name}: ${e.message}`);
      process.exitCode = 1;
    }
  }
}
