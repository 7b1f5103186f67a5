#!/usr/bin/env python3
"""The reference side of the replay differential test (`sensor-user/tests/replay_difftest.rs`):
Elastic's Python EQL engine (`eql` 1.0.1) running a rule file's whole sequence.

    oracle.py RULE.toml < streams.ndjson > matches.ndjson

RULE.toml is the rule file itself (the test passes the embedded profiles,
`sensor-user/src/rule/profiles/persistence_ssh_netcon.{v4,latest}.toml`). Its query is adapted
to what the Python engine accepts by `eql_adapt.py` (shared with `stage_oracle.py`):
`cidrmatch` spelled `cidrMatch`, "::1" written "::1/128", and `like~` emulated as `like` against
lower-cased copies of the fields under `lc.` (which the events carry: the test adds them to
this side's input only), the emulation checked on every event against fnmatch. The engine runs
case-sensitively with Elasticsearch syntax over streams given as NDJSON on stdin, one event per
line:

    {"s": <stream id>, "t": "process"|"network", "ms": <integer ms>, "e": {<nested event>}}

Events of one stream are consecutive and in the order to feed them (the merge order). Each event
carries a unique `event.id`. Writes, for every stream, one line to stdout:

    {"s": <stream id>, "m": [[<stage-1 event.id>, <stage-2 event.id>], ...]}

Events must already avoid the Python engine's known departures from Elasticsearch (missing
fields, null join keys, IPv4-mapped addresses, sub-second maxspan, a value ending in a newline,
which Python's `$` lets match a pattern's end): the generator does that, and for a `like~` field
the emulation check stops the run on the last.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import eql  # noqa: E402

import eql_adapt  # noqa: E402


def compile_query(rule_path):
    """The adapted query of the rule file at `rule_path`, parsed, and its like~ emulation."""
    query, insensitive = eql_adapt.adapt(eql_adapt.rule_query(rule_path))
    return eql_adapt.parse(query), eql_adapt.LikeEmulation(insensitive)


def run_stream(query, events):
    engine = eql.PythonEngine({"time_unit": 1000})
    matches = []

    def hook(output):
        evs = output.events
        matches.append([evs[0].data["event"]["id"], evs[1].data["event"]["id"]])

    engine.add_output_hook(hook)
    engine.add_query(query)
    engine.stream_events(events, finalize=True)
    return matches


def main():
    query, emulation = compile_query(sys.argv[1])
    current, events = None, []
    out = sys.stdout

    def flush():
        if current is not None:
            out.write(json.dumps({"s": current, "m": run_stream(query, events)}) + "\n")

    for line in sys.stdin:
        rec = json.loads(line)
        if rec["s"] != current:
            flush()
            current, events = rec["s"], []
        event = eql.Event(rec["t"], rec["ms"], rec["e"])
        emulation.verify(event)
        events.append(event)
    flush()


if __name__ == "__main__":
    main()
