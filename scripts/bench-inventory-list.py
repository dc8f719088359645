#!/usr/bin/env python3
"""Statement bytes of a report before and after moving its package list into an
inventory list (attest.report/v3), from `attest-agent collect --format json` output.

    target/debug/attest-agent collect --root tests/fixtures/hosts/NAME --format json > r.json
    scripts/bench-inventory-list.py r.json [...]

The statement is built as the agent builds it (compact JSON, fields in wire order,
a 32-hex agent id, seq 1, a sha256 prev); the inventory list as
attest_proto::inventory builds it (canonical: packages sorted by their digest line).
"""
import hashlib
import json
import sys


def compact(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()


def statement(report):
    report = dict(report)
    report["agent_id"] = "agt_" + "0" * 32
    report["seq"] = 1
    report["prev"] = "sha256:" + "0" * 64
    host = report["host"]
    return compact({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "host/" + host["hostname"],
                     "digest": {"sha256": hashlib.sha256(host["machine_id"].encode()).hexdigest()}}],
        "predicateType": "urn:attest:evidence-report:v1",
        "predicate": report,
    })


for path in sys.argv[1:]:
    report = json.load(open(path))
    before = statement(report)
    v3 = json.loads(json.dumps(report))
    sw = next(r for r in v3["results"] if r["check"] == "inventory.software")
    packages = sw["facts"].pop("packages")
    packages.sort(key=lambda p: (p["name"] + "\t" + p["version"] + "\t" + p["architecture"] + "\n").encode())
    document = compact({"schema": "attest.inventory-list/v1", "packages": packages})
    sw["facts"]["inventory_list"] = "sha256:" + hashlib.sha256(document).hexdigest()
    v3["schema"] = "attest.report/v3"
    after = statement(v3)
    print(f"{path}: {len(packages)} packages; statement {len(before)} -> {len(after)} bytes "
          f"({100 * (len(before) - len(after)) / len(before):.0f}% less); list document {len(document)} bytes")
