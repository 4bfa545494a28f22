"""Vendors the Kubernetes JSON schemas the k8s manifest tests validate against.

Source: the `kubernetes-validate` wheel from PyPI (`pip download
kubernetes-validate==1.37.0 --no-deps`), which bundles yannh/kubernetes-json-schema.
Pinned to Kubernetes v1.33.0, strict variant (additionalProperties: false),
JSON Schema draft 2020-12. Each
kind's schema is made standalone: the definitions it reaches are copied in and
its `/api/_definitions.json#/$defs/...` references rewritten to `#/$defs/...`, so a file holds
only what one kind needs. Run: python3 vendor.py WHEEL (writes next to itself).

Not written by this script, copied verbatim (byte for byte) from their sources:
- servicemonitor-monitoring-v1.json: datreeio/CRDs-catalog
  monitoring.coreos.com/servicemonitor_v1.json at commit
  303a98c77be9fb31961a2f7624a5aa00fc3e3d09 (the prometheus-operator CRD's
  openAPIV3Schema, additionalProperties: false added by the catalog).
- kustomization.json: SchemaStore/schemastore src/schemas/json/kustomization.json
  at commit 03af011cacf2cb8c88abc529bdfca5f44f2cfad9 (draft-04; the
  Kustomization's top-level keys are closed).
"""
import json, os, sys, zipfile

VERSION = "v1.33.0-local-strict"
KINDS = ["deployment-apps-v1", "service-v1", "configmap-v1", "secret-v1",
         "persistentvolumeclaim-v1", "cronjob-batch-v1"]

wheel = zipfile.ZipFile(sys.argv[1])
base = f"kubernetes_validate/kubernetes-json-schema/{VERSION}/"
definitions = json.loads(wheel.read(base + "_definitions.json"))["$defs"]
here = os.path.dirname(os.path.abspath(__file__))

def refs(node, found):
    if isinstance(node, dict):
        ref = node.get("$ref")
        # Kinds point into /api/_definitions.json; definitions point at each other.
        if isinstance(ref, str) and (ref.startswith("/api/_definitions.json#/$defs/") or ref.startswith("#/$defs/")):
            name = ref.split("/")[-1]
            node["$ref"] = "#/$defs/" + name
            if name not in found:
                found[name] = json.loads(json.dumps(definitions[name]))
                refs(found[name], found)
        for value in node.values():
            refs(value, found)
    elif isinstance(node, list):
        for value in node:
            refs(value, found)

for kind in KINDS:
    schema = json.loads(wheel.read(base + kind + ".json"))
    found = {}
    refs(schema, found)
    schema["$defs"] = dict(sorted(found.items()))
    with open(os.path.join(here, kind + ".json"), "w") as out:
        json.dump(schema, out, indent=1, sort_keys=True)
        out.write("\n")
