#!/usr/bin/env python3
"""Writes N Elastic Defend shaped events (~0.5 KB each, process and network, time ordered) as
NDJSON for the replay benchmark: gen_defend.py N > events.ndjson"""
import json, sys, random, datetime
n = int(sys.argv[1]); rnd = random.Random(7)
t = datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc).timestamp()
out = sys.stdout
for i in range(n):
    t += rnd.random() * 0.002
    ts = datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    h = "host-%d" % rnd.randrange(20); sess = "%s-bash%d" % (h, rnd.randrange(200))
    if rnd.random() < 0.5:
        parent = "/usr/sbin/sshd" if rnd.random() < 0.1 else "/usr/bin/bash"
        d = {"@timestamp": ts, "agent": {"id": "a1b2c3", "type": "endpoint", "version": "8.13.0"},
             "event": {"id": "E%d" % i, "kind": "event", "category": ["process"], "type": ["start"], "action": "exec",
                       "module": "endpoint", "dataset": "endpoint.events.process"},
             "host": {"id": h, "name": h + ".example", "os": {"type": "linux", "name": "Debian"}},
             "process": {"pid": 1000 + i % 30000, "entity_id": sess, "executable": "/usr/bin/bash", "name": "bash",
                         "args": ["bash", "-c", "true"], "parent": {"pid": 900, "entity_id": h + "-sshd", "executable": parent}},
             "user": {"id": "1000", "name": "alice"}}
    else:
        d = {"@timestamp": ts, "agent": {"id": "a1b2c3", "type": "endpoint", "version": "8.13.0"},
             "event": {"id": "E%d" % i, "kind": "event", "category": ["network"], "type": ["start"],
                       "action": "connection_attempted", "module": "endpoint", "dataset": "endpoint.events.network"},
             "host": {"id": h, "name": h + ".example", "os": {"type": "linux"}},
             "process": {"pid": 3000 + i % 30000, "entity_id": "%s-c%d" % (h, i), "executable": "/usr/bin/curl", "name": "curl",
                         "parent": {"entity_id": sess}},
             "destination": {"ip": rnd.choice(["93.184.216.34", "10.1.2.3", "8.8.8.8", "2606:4700::1111"]), "port": 443},
             "source": {"ip": "192.0.2.10", "port": 40000 + i % 20000}, "network": {"transport": "tcp", "direction": "egress"},
             "user": {"id": "1000", "name": "alice"}}
    out.write(json.dumps(d, separators=(",", ":")) + "\n")
