"""Figures of one `mailflow sweep --format json` run (scripts/bench-sweep):
wall time, start phases, the sweep step's duration, outcomes, and per-list
latency percentiles (nearest rank, as `mailflow load` computes them)."""
import json
import math
import sys

events = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
wall = float(sys.argv[2])
ready = next((e for e in events if e["event"] == "target_ready"), None)
steps = [e for e in events if e["event"] == "step_finished" and e["key"] == "expect_every_list_answers"]
if not steps:
    failed = next((e for e in events if e["event"] == "setup_failed"), None)
    sys.exit(f"no sweep step in the events; setup: {failed}")
step = steps[0]
rows = step["rows"]


def rank(sorted_values, p):
    return sorted_values[max(1, math.ceil(p * len(sorted_values) / 100)) - 1]


print(f"process wall           {wall:8.1f} s")
for phase in (ready or {}).get("phases", []):
    print(f"  phase {phase['name']:<40} {phase['took_s']:7.1f} s")
print(f"sweep step             {step['duration_s']:8.1f} s ({len(rows)} lists)")
answered = sorted(r["took_s"] for r in rows if r["outcome"] == "passed" and r["took_s"] is not None)
refused = [r for r in rows if r["outcome"] == "failed" and r["observed"].startswith("refused")]
silent = [r for r in rows if r["outcome"] == "failed" and not r["observed"].startswith("refused")]
print(f"answered {len(answered)}, refused {len(refused)}, no answer or late {len(silent)}")
for r in (refused + silent)[:5]:
    print(f"  {r['property']}: {r['observed']}")
if answered:
    print("latency (s)    count     p50     p90     p99     max")
    print(f"answer       {len(answered):7d} {rank(answered, 50):7.2f} {rank(answered, 90):7.2f} {rank(answered, 99):7.2f} {answered[-1]:7.2f}")
