"""A rule file's EQL query, adapted to what Elastic's Python EQL engine (`eql` 1.0.1) accepts,
each change keeping Elasticsearch's meaning. Shared by the differential tests' oracles
(`oracle.py`: whole sequences; `stage_oracle.py`: each stage event by event) and the benchmark
(`bench/eql_bench.py`), so that they all run the same query the same way:

- comments (`//` and `/* */`, outside strings) are dropped;
- `cidrmatch(` is spelled `cidrMatch(`, and "::1" is written "::1/128";
- `like~` (case-insensitive in Elasticsearch; with CASE_INSENSITIVE off, eql 1.0.1 parses it but
  compares case-sensitively) becomes `like` against a lower-cased copy of the field, under `lc.`
  (`lc.process.name` for `process.name`), with lower-cased patterns. The caller's events carry
  those copies; `LikeEmulation.verify` checks, on every event, that they do (exactly the
  lower-cased value) and that the emulation agrees with an independent model (fnmatch over
  lower-cased strings), and stops the run on any difference.

Not adapted: a `?` in a like pattern (Elasticsearch's one-character wildcard, a literal to
eql 1.0.1): neither embedded rule has one; in a `like~`, the model check stops the run on any
value that tells the two readings apart.

The engine runs case-sensitively (`eql.utils.CASE_INSENSITIVE = False`) with Elasticsearch
syntax: importing this module sets the former, `parse` uses the latter.
"""

import fnmatch
import re

import eql
import eql.utils

eql.utils.CASE_INSENSITIVE = False

_STRING = r'"(?:[^"\\]|\\.)*"'
STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
COMMENT = re.compile(r"(%s)|//[^\n]*|/\*.*?\*/" % _STRING, re.S)
# `field like~ (patterns)` or `field like~ pattern`.
LIKE_I = re.compile(r"([A-Za-z0-9_.@]+)\s+like~\s*(?:\(((?:%s|[^\")])*)\)|(%s))"
                    % (_STRING, _STRING), re.S)


def rule_query(path):
    """The query of the TOML rule file at `path` (its `query = '''...'''`)."""
    text = open(path, encoding="utf-8").read()
    start = text.index("query = '''") + len("query = '''")
    return text[start:text.index("'''", start)]


def adapt(query):
    """Returns (adapted query, [(field, [lower-cased patterns])] of every like~)."""
    query = COMMENT.sub(lambda m: m.group(1) or "", query)
    query = re.sub(r"\bcidrmatch\(", "cidrMatch(", query, flags=re.I)
    query = query.replace('"::1"', '"::1/128"')
    insensitive = []

    def lower(m):
        patterns = [p.lower() for p in STRING.findall(m.group(2) or m.group(3))]
        insensitive.append((m.group(1), patterns))
        return "lc.%s like (%s)" % (m.group(1), ", ".join('"%s"' % p for p in patterns))

    return LIKE_I.sub(lower, query), insensitive


def parse(text):
    """`text` parsed as a query with Elasticsearch syntax."""
    with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
        return eql.parse_query(text)


def field(data, dotted):
    """The value at `dotted` in the nested document `data`, or None."""
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


class LikeEmulation:
    """Checks the `like~` emulation of a query on each event (see the module's doc)."""

    def __init__(self, insensitive):
        engine = eql.PythonEngine()
        self.checks = []
        for name, patterns in insensitive:
            text = "lc.%s like (%s)" % (name, ", ".join('"%s"' % p for p in patterns))
            with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
                expr = eql.parse_expression(text)
            # fnmatch's patterns as one regular expression (fnmatch's own translation; its `[`
            # is a set, EQL's is itself).
            model = re.compile("|".join(fnmatch.translate(p.replace("[", "[[]"))
                                        for p in patterns))
            self.checks.append((name, model, engine.convert(expr, scoped=True)))
        self.events = 0
        self.matched = [0] * len(self.checks)

    def verify(self, event):
        """Raises SystemExit when `event` (an eql.Event) lacks a right `lc.` copy or the
        emulation disagrees with the model on it."""
        self.events += 1
        ident = field(event.data, "event.id") or event.data.get("id")
        for i, (name, model, check) in enumerate(self.checks):
            value = field(event.data, name)
            copy = field(event.data, "lc." + name)
            want = value.lower() if isinstance(value, str) else None
            if copy != want:
                raise SystemExit("event %r: lc.%s is %r, expected %r (the lower-cased %s)"
                                 % (ident, name, copy, want, name))
            expected = isinstance(value, str) and model.match(value.lower()) is not None
            if bool(check(event)) != expected:
                raise SystemExit("like~ emulation disagrees with fnmatch on %s=%r (event %r)"
                                 % (name, value, ident))
            self.matched[i] += expected

    def summary(self):
        """[(field, events checked, events matched)]."""
        return [(name, self.events, m) for (name, _, _), m in zip(self.checks, self.matched)]
