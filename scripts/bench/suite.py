#!/usr/bin/env python3
"""One `mailflow run` with --json, its event lines timestamped as they are
written (the file is flushed per event), for scripts/bench-suite.

    suite.py MAILFLOW OUT.ndjson [ARGS...]   runs `MAILFLOW run ARGS --json OUT`
                                             and prints one JSON object of figures

Figures (seconds): wall (the process), run (run_finished.duration_s), phases
(target_ready's, by name), suite (target_ready written to the last
scenario_finished written: the suite after the container is up), slowest
(the longest scenario and its duration), port_policy (that scenario's
duration and its longest `within` from the file), verdict.
"""
import json
import os
import re
import subprocess
import sys
import time
import tomllib


def humantime(s):
    total = 0.0
    for n, unit in re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)", s):
        total += float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def longest_within(path):
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError:
        return None
    withins = []
    for step in doc.get("step", []):
        for v in step.values():
            if isinstance(v, dict) and "within" in v:
                withins.append(humantime(v["within"]))
    return max(withins) if withins else None


def main():
    mailflow, out, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if os.path.exists(out):
        os.remove(out)
    t0 = time.monotonic()
    proc = subprocess.Popen([mailflow, "run", *args, "--json", out], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = []  # (monotonic, event)
    pos = 0
    buf = b""

    def drain():
        nonlocal pos, buf
        try:
            with open(out, "rb") as f:
                f.seek(pos)
                data = f.read()
        except FileNotFoundError:
            return
        pos += len(data)
        buf += data
        now = time.monotonic()
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                seen.append((now, json.loads(line)))

    while proc.poll() is None:
        drain()
        time.sleep(0.01)
    drain()
    wall = time.monotonic() - t0
    stderr = proc.stderr.read().decode(errors="replace")
    events = [e for _, e in seen]
    ready = next(((t, e) for t, e in seen if e["event"] == "target_ready"), None)
    finished = [(t, e) for t, e in seen if e["event"] == "scenario_finished"]
    run_finished = next((e for e in events if e["event"] == "run_finished"), None)
    summary = next((e for e in events if e["event"] == "summary"), None)
    if not ready or not finished or not run_finished:
        print(json.dumps({"pid": proc.pid, "error": "incomplete run", "exit": proc.returncode, "stderr": stderr[-2000:]}))
        sys.exit(1)
    slowest = max(finished, key=lambda te: te[1]["duration_s"])[1]
    port = next((e for _, e in finished if e["path"].endswith("network/port-policy.toml")), None)
    figures = {
        "pid": proc.pid,
        "exit": proc.returncode,
        "verdict": summary["verdict"] if summary else None,
        "wall": round(wall, 3),
        "run": run_finished["duration_s"],
        "phases": {p["name"]: p["took_s"] for p in ready[1]["phases"]},
        "suite": round(max(t for t, _ in finished) - ready[0], 3),
        "scenarios": len(finished),
        "slowest": {"path": slowest["path"], "duration_s": slowest["duration_s"]},
        "failed": [e["path"] for _, e in finished if e["verdict"] != "passed"],
    }
    if port:
        figures["port_policy"] = {"duration_s": port["duration_s"], "longest_within_s": longest_within(port["path"])}
    print(json.dumps(figures))


main()
