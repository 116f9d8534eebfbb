#!/usr/bin/env python3
"""Port verdicts and time, mailflow against nmap; for scripts/bench-ports.

    ports.py MAILFLOW POLICY.toml RUNS

POLICY.toml is a scenario of `expect_ports` (or `expect_port`) steps (the shipped
scenarios/network/port-policy.toml). One `mailflow up` is started and kept;
in each of RUNS rounds:

  nmap      `nmap -Pn -n -sT` on every (vantage, port) of the policy, against
            up's lists container: from this machine for "outside", and, with
            nsenter into a container's network namespace, from the bastion
            and old-host containers (to the lists container's address) and
            from the lists container itself (to 127.0.0.1) for "inside". One
            nmap per vantage, one after the other.
  outside   `mailflow run --target FILE`: the policy's "outside" steps
            against up's lists container as a hosts target (the same
            container nmap scans, from the same machine).
  shipped   `mailflow run scenarios --filter network/port-policy`: the
            shipped scenario against the container target it starts (same
            image and network layout, its own containers).

Verdicts (open, refused = nmap's closed, filtered) of every (vantage, port)
must agree between the policy, nmap and both mailflow runs; the script exits
1 when one does not. Prints per round and the medians.
"""
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib

LABEL = "org.mailflow.owner-pid"


def humantime(s):
    return sum(float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)", s))


def policy(path):
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    rows = []
    for step in doc["step"]:
        if "expect_port" in step:
            p = step["expect_port"]
            rows.append({"vantage": p["vantage"], "port": int(p["port"]), "verdict": p["verdict"], "within": p["within"]})
        if "expect_ports" in step:
            p = step["expect_ports"]
            for verdict in ("open", "refused", "filtered"):
                for port in p.get(verdict, []):
                    rows.append({"vantage": p["vantage"], "port": int(port), "verdict": verdict, "within": p.get("within", "5s")})
    return rows


def docker(*args):
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout.strip()


def remove_owned(pid):
    ids = docker("ps", "-aq", "--filter", f"label={LABEL}={pid}").split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
    nets = docker("network", "ls", "-q", "--filter", f"label={LABEL}={pid}").split()
    if nets:
        subprocess.run(["docker", "network", "rm", *nets], capture_output=True)


def start_up(mailflow, workdir):
    log = open(os.path.join(workdir, "up.out"), "w+")
    up = subprocess.Popen([mailflow, "up", "scenarios"], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        log.seek(0)
        text = log.read()
        if "Ctrl-C stops" in text:
            return up, text
        if up.poll() is not None:
            sys.exit(f"mailflow up exited {up.returncode}:\n{text}")
        time.sleep(0.2)
    up.send_signal(signal.SIGINT)
    sys.exit("mailflow up did not get ready in 10 minutes")


def vantage_pids(up_pid, lists_ip):
    """Network-namespace pids of the vantage containers, by their address."""
    base = lists_ip.rsplit(".", 1)[0]
    want = {f"{base}.2": "inside", f"{base}.10": "old-host", f"{base}.11": "bastion"}
    pids = {}
    for cid in docker("ps", "-q", "--filter", f"label={LABEL}={up_pid}").split():
        info = json.loads(docker("inspect", cid))[0]
        for net in info["NetworkSettings"]["Networks"].values():
            if net.get("IPAddress") in want:
                pids[want[net["IPAddress"]]] = info["State"]["Pid"]
    return pids


NMAP_STATE = {"open": "open", "closed": "refused", "filtered": "filtered"}


def nmap(vantage, ports, lists_ip, pids):
    target = "127.0.0.1" if vantage == "inside" else lists_ip
    cmd = ["nmap", "-Pn", "-n", "-sT", "-p", ",".join(str(p) for p in ports), "-oG", "-", target]
    if vantage != "outside":
        cmd = ["nsenter", "-t", str(pids[vantage]), "-n", *cmd]
    t0 = time.monotonic()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    took = time.monotonic() - t0
    found = {}
    for m in re.finditer(r"(\d+)/([a-z|]+)/tcp", out):
        found[int(m.group(1))] = NMAP_STATE.get(m.group(2), m.group(2))
    return found, took


def mailflow_run(mailflow, args, json_out):
    """A `mailflow run`; its port verdicts by (vantage, port), its wall time
    and the scenario's own duration."""
    t0 = time.monotonic()
    proc = subprocess.Popen([mailflow, "run", *args, "--format", "human", "--json", json_out], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate()
    wall = time.monotonic() - t0
    # It removes its own containers; anything left under its pid goes too.
    remove_owned(proc.pid)
    verdicts, duration = {}, None
    with open(json_out) as f:
        for line in f:
            e = json.loads(line)
            if e["event"] == "step_finished" and e["key"] in ("expect_port", "expect_ports"):
                for row in e["rows"]:
                    m = re.match(r"(\d+)/tcp from (\S+)", row["property"])
                    if m:
                        verdicts[(m.group(2), int(m.group(1)))] = row["observed"].split(" ", 1)[0]
            elif e["event"] == "scenario_finished":
                duration = e["duration_s"]
    if duration is None:
        sys.exit(f"mailflow run {' '.join(args)} did not finish a scenario (exit {proc.returncode}):\n{stdout}\n{stderr}")
    return verdicts, wall, duration


def main():
    mailflow, policy_path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rows = policy(policy_path)
    workdir = tempfile.mkdtemp(prefix="bench-ports.")
    up, text = start_up(mailflow, workdir)
    try:
        lists_ip = re.search(r"^smtp\s+([\d.]+):", text, re.M).group(1)
        pids = vantage_pids(up.pid, lists_ip)
        print(f"mailflow up: lists container at {lists_ip}; vantage containers {', '.join(sorted(pids))}")
        # The policy's outside steps, as a suite for a hosts target on up's container.
        suite = os.path.join(workdir, "outside")
        os.makedirs(suite)
        shutil.copy("scenarios/suite.toml", suite)
        with open(os.path.join(suite, "port-policy-outside.toml"), "w") as f:
            f.write('name = "port policy, outside steps only"\n')
            out = [r for r in rows if r["vantage"] == "outside"]
            lists = ", ".join(f'{v} = [{", ".join(str(r["port"]) for r in out if r["verdict"] == v)}]' for v in ("open", "refused", "filtered"))
            within = max((r["within"] for r in out), key=humantime, default="5s")
            f.write(f'\n[[step]]\nexpect_ports = {{ vantage = "outside", {lists}, within = "{within}" }}\n')
        hosts = os.path.join(workdir, "up-as-hosts.toml")
        with open(hosts, "w") as f:
            f.write(f'name = "lists.example.test"\n[smtp]\naddresses = ["{lists_ip}:25"]\nstarttls = "off"\n')
        vantages = []
        for r in rows:
            if r["vantage"] not in vantages:
                vantages.append(r["vantage"])
        disagree = 0
        rounds = []
        for n in range(1, runs + 1):
            nm, nm_took = {}, {}
            for v in vantages:
                found, took = nmap(v, [r["port"] for r in rows if r["vantage"] == v], lists_ip, pids)
                nm_took[v] = took
                for port, state in found.items():
                    nm[(v, port)] = state
            outside, out_wall, out_dur = mailflow_run(mailflow, ["--target", hosts, suite], os.path.join(workdir, f"outside-{n}.ndjson"))
            shipped, sh_wall, sh_dur = mailflow_run(mailflow, ["scenarios", "--filter", "network/port-policy"], os.path.join(workdir, f"shipped-{n}.ndjson"))
            print(f"\nround {n}: vantage  port  policy    nmap      mailflow(shipped)  mailflow(outside, same container)")
            for r in rows:
                key = (r["vantage"], r["port"])
                seen = [nm.get(key, "?"), shipped.get(key, "?")]
                if r["vantage"] == "outside":
                    seen.append(outside.get(key, "?"))
                ok = all(s == r["verdict"] for s in seen)
                disagree += not ok
                extra = seen[2] if len(seen) > 2 else ""
                print(f"  {r['vantage']:>9} {r['port']:>5}  {r['verdict']:<9} {seen[0]:<9} {seen[1]:<18} {extra:<9} {'' if ok else 'DISAGREE'}")
            rd = {
                "nmap": nm_took,
                "nmap_total": sum(nm_took.values()),
                "outside": out_dur,
                "outside_wall": out_wall,
                "shipped": sh_dur,
                "shipped_wall": sh_wall,
            }
            rounds.append(rd)
            print("  nmap s: " + ", ".join(f"{v} {t:.2f}" for v, t in nm_took.items()) + f"; total {rd['nmap_total']:.2f}")
            print(f"  mailflow s: shipped scenario {sh_dur:.2f} (process {sh_wall:.1f} with its container start); outside steps {out_dur:.2f} (process {out_wall:.2f})")
        med = lambda k: statistics.median(r[k] for r in rounds)
        nmap_out = statistics.median(r["nmap"]["outside"] for r in rounds)
        n_rows = len(rows)
        n_out = sum(1 for r in rows if r["vantage"] == "outside")
        print(f"\nmedian of {runs} round(s):")
        print(f"  all {n_rows} (vantage, port) pairs: mailflow's shipped scenario {med('shipped'):.2f} s, nmap (one per vantage, in turn) {med('nmap_total'):.2f} s, ratio {med('shipped') / med('nmap_total'):.2f}")
        print(f"  outside, {n_out} ports, same container: mailflow {med('outside'):.2f} s, nmap {nmap_out:.2f} s, ratio {med('outside') / nmap_out:.2f}")
        print(f"  verdicts: {'all agree' if not disagree else f'{disagree} disagreement(s)'} ({n_rows} pairs x {runs} rounds, plus the outside steps on the same container)")
        return 1 if disagree else 0
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=120)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
        remove_owned(up.pid)


sys.exit(main())
