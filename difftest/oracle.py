#!/usr/bin/env python3
"""The reference side of the differential test: Elastic's Python EQL engine (`eql` 1.0.1).

Reads the rule's query text from the seed, adapts it to what the Python engine accepts
(`cidrmatch` spelled `cidrMatch`, "::1" written "::1/128"), and runs it case-sensitively with
Elasticsearch syntax over streams given as NDJSON on stdin, one event per line:

    {"s": <stream id>, "t": "process"|"network", "ms": <integer ms>, "e": {<nested event>}}

Events of one stream are consecutive and in the order to feed them (the merge order). Each event
carries a unique `event.id`. Writes, for every stream, one line to stdout:

    {"s": <stream id>, "m": [[<stage-1 event.id>, <stage-2 event.id>], ...]}

Events must already avoid the Python engine's known departures from Elasticsearch (missing
fields, null join keys, IPv4-mapped addresses, sub-second maxspan): the generator does that.
"""

import json
import re
import sys

import eql
import eql.utils

eql.utils.CASE_INSENSITIVE = False


def query_text(seed_path):
    text = open(seed_path, encoding="utf-8").read()
    start = text.index("sequence by host.id")
    end = text.index("] by process.parent.entity_id") + len("] by process.parent.entity_id")
    query = text[start:end]
    query = re.sub(r"\bcidrmatch\(", "cidrMatch(", query)
    query = query.replace('"::1"', '"::1/128"')
    return query


def compile_query(seed_path):
    with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
        return eql.parse_query(query_text(seed_path))


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
    seed = sys.argv[1]
    query = compile_query(seed)
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
        events.append(eql.Event(rec["t"], rec["ms"], rec["e"]))
    flush()


if __name__ == "__main__":
    main()
