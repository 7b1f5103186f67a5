#!/usr/bin/env python3
"""Reference side of the rule-file differential test: Elastic's Python EQL engine (`eql` 1.0.1)
decides, event by event, which events satisfy each stage of a rule file's sequence.

    stage_oracle.py RULE.toml < events.ndjson > verdicts.ndjson

Input, one event per line: {"id": <int>, "t": "process"|"network", "e": {<nested ECS event>}}.
Output: one line per stage, {"stage": 1|2, "ids": [<ids of the events that satisfy it>]}.

The query comes from the TOML file and is adapted to what the Python engine accepts, each change
keeping Elasticsearch's meaning:
- `cidrmatch(` is spelled `cidrMatch(`, and "::1" is written "::1/128";
- `like~` (case-insensitive in Elasticsearch; with CASE_INSENSITIVE off, eql 1.0.1 parses it but
  compares case-sensitively) becomes `like` against a lower-cased copy of the field (under `lc.`,
  which the caller adds) with lower-cased patterns. The emulation is checked on every event
  against an independent model (fnmatch over lower-cased strings); a disagreement is an error.
Each stage runs as the standalone query `<category> where <condition>`.
"""

import fnmatch
import json
import re
import sys

import eql
import eql.utils

eql.utils.CASE_INSENSITIVE = False

LIKE_I = re.compile(r"([A-Za-z_.@]+)\s+like~\s*\(([^)]*)\)", re.S)
STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def rule_query(path):
    text = open(path, encoding="utf-8").read()
    start = text.index("query = '''") + len("query = '''")
    return text[start:text.index("'''", start)]


def adapt(query):
    """Returns (adapted query, [(field, [lower-cased patterns])] of every like~)."""
    query = re.sub(r"//[^\n]*", "", query)
    query = re.sub(r"\bcidrmatch\(", "cidrMatch(", query, flags=re.I)
    query = query.replace('"::1"', '"::1/128"')
    insensitive = []

    def lower(m):
        patterns = [p.lower() for p in STRING.findall(m.group(2))]
        insensitive.append((m.group(1), patterns))
        return "lc.%s like (%s)" % (m.group(1), ", ".join('"%s"' % p for p in patterns))

    return LIKE_I.sub(lower, query), insensitive


def stage_queries(query):
    with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
        parsed = eql.parse_query(query)
    sequence = parsed.first
    return [str(sub.query) for sub in sequence.queries]


def field(event, dotted):
    for part in dotted.split("."):
        if not isinstance(event, dict) or part not in event:
            return None
        event = event[part]
    return event


def main():
    query, insensitive = adapt(rule_query(sys.argv[1]))
    stages = []
    with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
        for text in stage_queries(query):
            stages.append(eql.parse_query(text))
    checks = []
    with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
        for name, patterns in insensitive:
            alone = "any where lc.%s like (%s)" % (name, ", ".join('"%s"' % p for p in patterns))
            checks.append((name, patterns, eql.parse_query(alone)))

    events = []
    for line in sys.stdin:
        rec = json.loads(line)
        events.append(eql.Event(rec["t"], 0, rec["e"]))

    for number, stage in enumerate(stages, 1):
        ids = []
        engine = eql.PythonEngine()
        engine.add_output_hook(lambda out, ids=ids: ids.extend(e.data["id"] for e in out.events))
        engine.add_query(stage)
        engine.stream_events(events, finalize=True)
        print(json.dumps({"stage": number, "ids": ids}))

    for name, patterns, check in checks:
        seen = set()
        engine = eql.PythonEngine()
        engine.add_output_hook(lambda out: seen.update(e.data["id"] for e in out.events))
        engine.add_query(check)
        engine.stream_events(events, finalize=True)
        for ev in events:
            value = field(ev.data, name)
            model = isinstance(value, str) and any(
                fnmatch.fnmatchcase(value.lower(), p.replace("[", "[[]")) for p in patterns)
            if model != (ev.data["id"] in seen):
                sys.exit("like~ emulation disagrees with fnmatch on %s=%r (event %d)"
                         % (name, value, ev.data["id"]))
        print(json.dumps({"check": name, "events": len(events), "matched": len(seen)}))


if __name__ == "__main__":
    main()
