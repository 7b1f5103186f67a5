#!/usr/bin/env python3
"""The Python side of `cargo xtask replay-bench`: Elastic's Python EQL engine (`eql` 1.0.1) running
the rule (the same query text and adaptations as `difftest/oracle.py`, from the v4 rule file:
the benchmark's events carry no `lc.` copies, which only a `like~` needs) over the first N lines of
an NDJSON file of Elastic Defend events, timed end to end (reading, `json.loads`, `@timestamp`
to ms, the engine). One-element `event.type` / `event.category` arrays are unwrapped first, as
the oracle does (the Python engine compares arrays as a whole). Prints one JSON line:

    {"events": N, "bytes": B, "seconds": S, "cpu_seconds": C, "matches": M}

(`seconds` wall, `cpu_seconds` this process's CPU time, both for the streaming loop only.)

Usage: eql_bench.py RULE.toml FILE MAX_EVENTS
"""

import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import eql  # noqa: E402

from oracle import compile_query  # noqa: E402

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def ms_of(ts):
    # `2024-05-01T00:00:00.000648Z`: fromisoformat takes at most 6 fractional digits before 3.11;
    # the benchmark file has 6.
    dt = datetime.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return (dt - _EPOCH) // datetime.timedelta(milliseconds=1)


def events(path, limit, counters):
    with open(path, "rb") as f:
        for n, line in enumerate(f):
            if n >= limit:
                break
            counters[1] += len(line.rstrip(b"\r\n"))
            doc = json.loads(line)
            ev = doc.get("event", {})
            for key in ("type", "category"):
                v = ev.get(key)
                if isinstance(v, list) and len(v) == 1:
                    ev[key] = v[0]
            category = ev.get("category")
            counters[0] += 1
            yield eql.Event(category, ms_of(doc["@timestamp"]), doc)


def main():
    rule, path, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    query, _like_emulation = compile_query(rule)
    engine = eql.PythonEngine({"time_unit": 1000})
    matches = [0]

    def hook(_output):
        matches[0] += 1

    engine.add_output_hook(hook)
    engine.add_query(query)
    counters = [0, 0]
    start, cpu_start = time.perf_counter(), time.process_time()
    engine.stream_events(events(path, limit, counters), finalize=True)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    out = {"events": counters[0], "bytes": counters[1], "seconds": seconds,
           "cpu_seconds": cpu_seconds, "matches": matches[0]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
