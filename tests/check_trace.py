#!/usr/bin/env python3
"""check_trace.py FILE [--tasks N] [--failed K] [--busy SECONDS] [--retry INDEX] [--cut]

Checks a parc trace with a real JSON parser: it parses (or, with --cut, every
complete line does and the file says it is incomplete), has exactly one X
event per task (N tasks, indices 0..N-1, one try each unless retried),
events of one tid never overlap, durations add up to the group's measured
busy time, K tasks failed, and task INDEX was retried after a crash.
Exit 0 when every check holds; else each failed check is printed."""
import argparse
import json
import sys

ap = argparse.ArgumentParser()
ap.add_argument("file")
ap.add_argument("--tasks", type=int)
ap.add_argument("--failed", type=int)
ap.add_argument("--busy", type=float)
ap.add_argument("--retry", type=int)
ap.add_argument("--cut", action="store_true")
a = ap.parse_args()
problems = []
text = open(a.file).read()
if a.cut:
    lines = text.split("\n")
    if not lines[0].startswith('{"traceEvents":['):
        problems.append("the cut file does not start with the header")
    if '"complete":true' in text:
        problems.append("a cut file claims to be complete")
    events = []
    for line in lines[1:]:
        body = line[1:] if line.startswith(",") else line
        if not body.strip():
            continue
        try:
            events.append(json.loads(body))
        except ValueError:
            if line is not lines[-1]:
                problems.append("a complete line does not parse: %r" % line[:80])
else:
    try:
        doc = json.loads(text)
    except ValueError as e:
        print("check_trace: not JSON:", e)
        sys.exit(1)
    events = doc["traceEvents"]
    if doc.get("otherData", {}).get("complete") is not True:
        problems.append("otherData.complete is not true")
tasks = [e for e in events if e.get("ph") == "X"]
for e in events:
    for field in ("ph", "pid", "tid", "name"):
        if field not in e:
            problems.append("an event lacks %s: %r" % (field, e))
if a.tasks is not None:
    tries = {}
    for e in tasks:
        tries.setdefault(e["args"]["index"], []).append(e)
    if sorted(tries) != list(range(a.tasks)):
        problems.append("indices are not 0..%d: %d distinct, %d events" % (a.tasks - 1, len(tries), len(tasks)))
    for i, es in tries.items():
        if len(es) != 1 and i != a.retry:
            problems.append("task %d has %d events" % (i, len(es)))
if a.cut and not tasks:
    problems.append("the cut trace holds no task event")
by_tid = {}
for e in tasks:
    by_tid.setdefault(e["tid"], []).append((e["ts"], e["ts"] + e["dur"]))
for tid, spans in by_tid.items():
    spans.sort()
    for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
        if s1 < e0 - 0.002:   # microseconds, printed to three decimals
            problems.append("tid %d: events overlap at %.3f us" % (tid, s1))
            break
if a.busy is not None:
    total = sum(e["dur"] for e in tasks) * 1e-6
    if abs(total - a.busy) > 0.1 * a.busy + 1e-3:
        problems.append("durations add up to %.6f s, the group measured %.6f s" % (total, a.busy))
if a.failed is not None:
    failed = sum(1 for e in tasks if e["args"].get("status", "PARC_OK") != "PARC_OK")
    if failed != a.failed:
        problems.append("%d failed task events, expected %d" % (failed, a.failed))
if a.retry is not None:
    es = sorted((e for e in tasks if e["args"]["index"] == a.retry), key=lambda e: e["args"].get("try", 1))
    got = [(e["args"].get("try", 1), e["args"].get("status", "PARC_OK")) for e in es]
    if got != [(1, "PARC_ECRASH"), (2, "PARC_OK")]:
        problems.append("task %d's tries: %r, expected a crash then a success" % (a.retry, got))
    names = [e["name"] for e in events if e.get("ph") == "i" and e["args"].get("index") == a.retry]
    for want in ("crash", "retry", "replace"):
        if want not in names:
            problems.append("no %r instant event for task %d (got %r)" % (want, a.retry, names))
for p in problems:
    print("check_trace:", p)
print("check_trace: %d events, %d task events, %d problems" % (len(events), len(tasks), len(problems)))
sys.exit(1 if problems else 0)
