#!/usr/bin/env python3
"""Load through the list, mailflow load against smtp-source; for scripts/bench-load.

    load.py MAILFLOW SMTP_SOURCE MESSAGES SESSIONS RUNS

The same MESSAGES posts (from alice@probe.test, a member) to the same list
(probe-test@lists.example.test, two members), SESSIONS at a time, each
timed from the first message sent until every member's copy of every
message has reached the sink: exim, Mailman's LMTP and pipeline, exim again.

  mailflow     `mailflow load --list probe-test --count MESSAGES
               --concurrency SESSIONS --format json scenarios`: the container
               target it starts itself; timed from its `target_ready` line to
               its `{"load": ...}` line (every probe sent, and waited for until
               both copies arrived), as the lines appear.
  smtp-source  postfix's `smtp-source -s SESSIONS -m MESSAGES` to the lists
               container of one `mailflow up` (same image, same suite, kept
               for the whole benchmark); timed from its start until up's sink
               printed 2 x MESSAGES arrivals of this round's subject.

The two take turns in each of RUNS rounds. Prints each round, the medians
and the ratio mailflow / smtp-source; mailflow's own latency percentiles
come with each of its rounds.
"""
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

LABEL = "org.mailflow.owner-pid"
LIST = "probe-test@lists.example.test"
SENDER = "alice@probe.test"
MEMBERS = 2
DEADLINE = 900


def remove_owned(pid):
    run = lambda *a: subprocess.run(["docker", *a], capture_output=True, text=True).stdout.split()
    ids = run("ps", "-aq", "--filter", f"label={LABEL}={pid}")
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
    nets = run("network", "ls", "-q", "--filter", f"label={LABEL}={pid}")
    if nets:
        subprocess.run(["docker", "network", "rm", *nets], capture_output=True)


class Up:
    """`mailflow up scenarios`, its endpoints, and the sink's arrivals (the
    copies per subject) as its lines come."""

    def __init__(self, mailflow):
        env = dict(os.environ, MAILFLOW_WEB="0", NO_COLOR="1")
        self.proc = subprocess.Popen([mailflow, "up", "scenarios"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.copies = {}
        self.cond = threading.Condition()
        self.text = ""
        ready = threading.Event()

        def follow():
            for line in self.proc.stdout:
                with self.cond:
                    self.text += line if not ready.is_set() else ""
                    m = re.search(r" to (.*?) subject \"(.*?)\" id ", line)
                    if m:
                        self.copies[m.group(2)] = self.copies.get(m.group(2), 0) + len(m.group(1).split(", "))
                        self.cond.notify_all()
                if "Arrivals at the sink" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=follow, daemon=True).start()
        if not ready.wait(600) or self.proc.poll() is not None:
            self.stop()
            sys.exit(f"mailflow up did not get ready:\n{self.text}")
        self.smtp = re.search(r"^smtp\s+(\S+)", self.text, re.M).group(1)

    def count(self, subject):
        # Mailman prefixes the subject: "[Probe-test] bench-load round 1".
        return sum(n for s, n in self.copies.items() if s == subject or s.endswith(" " + subject))

    def wait_copies(self, subject, n, deadline):
        with self.cond:
            while self.count(subject) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        remove_owned(self.proc.pid)


def smtp_source(up, source, messages, sessions, subject):
    t0 = time.monotonic()
    subprocess.run([source, "-f", SENDER, "-t", LIST, "-S", subject, "-s", str(sessions), "-m", str(messages), up.smtp], check=True, capture_output=True)
    sent = time.monotonic() - t0
    if not up.wait_copies(subject, MEMBERS * messages, t0 + DEADLINE):
        sys.exit(f"smtp-source: only {up.count(subject)} of {MEMBERS * messages} copies of {subject!r} arrived")
    return time.monotonic() - t0, sent


def mailflow_load(mailflow, messages, sessions):
    args = [mailflow, "load", "--list", "probe-test", "--count", str(messages), "--concurrency", str(sessions), "--format", "json", "scenarios"]
    env = dict(os.environ, MAILFLOW_WEB="0", NO_COLOR="1")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    ready = done = None
    summary = None
    try:
        for line in proc.stdout:
            now = time.monotonic()
            event = json.loads(line)
            if event.get("event") == "target_ready":
                ready = now
            if event.get("event") == "setup_failed":
                summary = event
            if "load" in event:
                done, summary = now, event["load"]
        proc.wait(DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
        remove_owned(proc.pid)
    if proc.returncode != 0 or summary is None or ready is None or "delivered" not in summary:
        sys.exit(f"mailflow load exited {proc.returncode}: {summary}")
    if summary["delivered"] != messages:
        sys.exit(f"mailflow load: {summary['delivered']} of {messages} delivered: {summary}")
    return done - ready, summary


def main():
    mailflow, source, messages, sessions, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    up = Up(mailflow)
    try:
        print(f"mailflow up: lists container SMTP at {up.smtp}")
        # Warm-up: Mailman's first post after start is slower (imports, caches).
        smtp_source(up, source, 2, 1, "bench-load warm-up")
        a, b = [], []
        for r in range(1, runs + 1):
            t, summary = mailflow_load(mailflow, messages, sessions)
            a.append(t)
            e2e = summary["end_to_end_ms"]
            print(f"round {r}: mailflow load {t:.2f}s (end to end p50 {e2e['p50'] / 1000:.2f}s p90 {e2e['p90'] / 1000:.2f}s max {e2e['max'] / 1000:.2f}s)", flush=True)
            t, sent = smtp_source(up, source, messages, sessions, f"bench-load round {r}")
            b.append(t)
            print(f"round {r}: smtp-source {t:.2f}s (all sent after {sent:.2f}s)", flush=True)
        ma, mb = statistics.median(a), statistics.median(b)
        print(f"{messages} messages to {LIST}, {sessions} at a time, until every member's copy arrived; median of {runs}")
        print(f"mailflow load {ma:.2f}s  smtp-source {mb:.2f}s  mailflow/smtp-source {ma / mb:.2f}")
        print(f"  runs: mailflow {' '.join(f'{x:.2f}' for x in a)}; smtp-source {' '.join(f'{x:.2f}' for x in b)}")
    finally:
        up.stop()


if __name__ == "__main__":
    main()
