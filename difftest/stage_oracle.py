#!/usr/bin/env python3
"""Reference side of the rule-file differential test (`sensor-user/tests/rule_difftest.rs`):
Elastic's Python EQL engine (`eql` 1.0.1) decides, event by event, which events satisfy each
stage of a rule file's sequence.

    stage_oracle.py RULE.toml < events.ndjson > verdicts.ndjson

Input, one event per line: {"id": <int>, "t": "process"|"network", "e": {<nested ECS event>}}.
Output: one line per stage, {"stage": 1|2, "ids": [<ids of the events that satisfy it>]}, then
one line per `like~` of the query, {"check": <field>, "events": N, "matched": M}.

The query comes from the TOML file and is adapted to what the Python engine accepts by
`eql_adapt.py` (shared with the sequence oracle, `oracle.py`): `cidrmatch` spelled `cidrMatch`,
"::1" written "::1/128", and `like~` emulated as `like` against lower-cased copies of the fields
under `lc.`, which the caller adds; the emulation is checked on every event against an
independent model (fnmatch over lower-cased strings), and a disagreement is an error. Each stage
runs as the standalone query `<category> where <condition>`.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import eql  # noqa: E402

import eql_adapt  # noqa: E402


def stage_queries(query):
    sequence = eql_adapt.parse(query).first
    return [str(sub.query) for sub in sequence.queries]


def main():
    query, insensitive = eql_adapt.adapt(eql_adapt.rule_query(sys.argv[1]))
    stages = [eql_adapt.parse(text) for text in stage_queries(query)]
    emulation = eql_adapt.LikeEmulation(insensitive)

    events = []
    for line in sys.stdin:
        rec = json.loads(line)
        event = eql.Event(rec["t"], 0, rec["e"])
        emulation.verify(event)
        events.append(event)

    for number, stage in enumerate(stages, 1):
        ids = []
        engine = eql.PythonEngine()
        engine.add_output_hook(lambda out, ids=ids: ids.extend(e.data["id"] for e in out.events))
        engine.add_query(stage)
        engine.stream_events(events, finalize=True)
        print(json.dumps({"stage": number, "ids": ids}))

    for name, checked, matched in emulation.summary():
        print(json.dumps({"check": name, "events": checked, "matched": matched}))


if __name__ == "__main__":
    main()
