"""A DNS server for the DANE and MTA-STS tests that behaves like a validating resolver on the
machine (unbound): it answers from a JSON file of records and sets the AD bit on answers for
names in the zones the file calls signed, but only when the query asked for DNSSEC (the DO bit),
as RFC 6840 section 5.7 says a validating resolver does.

Usage: dns_server.py PORT RECORDS.json; prints "ready" once it serves UDP and TCP on 127.0.0.1.
RECORDS.json: {"signed": ["dane.test"], "records": [["name", "TYPE", "value"], ...]} with TXT
text, an A address, MX "PRIO HOST", TLSA "USAGE SELECTOR MATCHING HEX".
"""

import json
import sys
import time

from dnslib import A, MX, QTYPE, RCODE, RD, RR, TXT
from dnslib.server import BaseResolver, DNSLogger, DNSServer


def rdata(rtype, value):
    if rtype == "TXT":
        return TXT(value)
    if rtype == "A":
        return A(value)
    if rtype == "MX":
        prio, host = value.split()
        return MX(host, int(prio))
    if rtype == "TLSA":
        usage, selector, matching, data = value.split()
        return RD(bytes([int(usage), int(selector), int(matching)]) + bytes.fromhex(data))
    raise ValueError(rtype)


def norm(name):
    return str(name).rstrip(".").lower()


class Zone(BaseResolver):
    def __init__(self, spec):
        self.signed = [norm(z) for z in spec.get("signed", [])]
        self.records = [(norm(n), t, rdata(t, v)) for n, t, v in spec["records"]]

    def is_signed(self, name):
        return any(name == z or name.endswith("." + z) for z in self.signed)

    def resolve(self, request, handler):
        reply = request.reply()
        name = norm(request.q.qname)
        qtype = QTYPE[request.q.qtype]
        found = [r for r in self.records if r[0] == name]
        for _, rtype, data in found:
            if rtype == qtype:
                reply.add_answer(RR(request.q.qname, getattr(QTYPE, rtype), rdata=data, ttl=60))
        if not found:
            reply.header.rcode = RCODE.NXDOMAIN
        do = any(rr.rtype == QTYPE.OPT and (rr.ttl >> 15) & 1 for rr in request.ar)
        reply.header.ad = 1 if do and self.is_signed(name) else 0
        return reply


port, path = int(sys.argv[1]), sys.argv[2]
with open(path) as f:
    zone = Zone(json.load(f))
# Only errors, and on stderr: stdout carries "ready".
logger = DNSLogger("-request,-reply,-truncated,-send,-recv,-data", False, lambda s: print(s, file=sys.stderr))
servers = [
    DNSServer(zone, port=port, address="127.0.0.1", tcp=tcp, logger=logger) for tcp in (False, True)
]
for s in servers:
    s.start_thread()
print("ready", flush=True)
try:
    sys.stdin.read()
finally:
    for s in servers:
        s.stop()
