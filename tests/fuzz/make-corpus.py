#!/usr/bin/python3
"""make-corpus.py — writes the seed corpora of the fuzz targets into
tests/fuzz/corpus/<target>/: valid filters and order_by texts, real page
tokens (HMAC-SHA-512-256 and BLAKE2b as libsodium computes them), the Tessera
checkpoints, tile paths and bundles, the tlog-proof fixtures, and packed and
JSON request messages (encoded here from the .proto files: no protobuf
package needed). Deterministic; run it again after changing the formats:

    /usr/bin/python3 tests/fuzz/make-corpus.py

Each file name says what the seed is. Keep the corpus small (well under 1 MB).
"""
import hashlib
import hmac
import json
import os
import re
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(HERE, "corpus")
DATA = os.path.join(SRC, "tests", "data")
PROTO = os.path.join(SRC, "proto", "tallinn", "v1")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- filters (fuzz_filter: byte 0 = schema, filter, 0xFF, order_by) ----
# Schema order: store kinds DONOR, PLEDGE, NEED, MATCH, PRINCIPAL, then the
# target's own schema with every type.
FILTERS = [
    (0, "kind = STATE AND membership = MEMBER", "display_name, create_time desc"),
    (0, 'country_code = "EE" OR parent = "donors/ee"', "country_code"),
    (1, "amount >= 1000000 AND fiscal_year = 2025", "amount desc"),
    (1, "state != WITHDRAWN AND available > 0.5", "fiscal_year, amount"),
    (2, "sector = ENERGY AND (priority = CRITICAL OR priority = HIGH)", "priority, create_time desc"),
    (2, 'estimated_cost >= 50000 AND needed_by < "2025-06-30"', "estimated_cost desc"),
    (2, 'NOT state = DRAFT AND create_time > "2025-01-01T00:00:00Z"', "update_time"),
    (2, '-(region = "Kharkiv") AND title != "x\\"y\\\\z"', "title asc, needed_by desc"),
    (2, 'state = "STATE_OPEN" AND coverage <= PARTIAL', ""),
    (3, 'need = "needs/abc" AND state >= APPROVED', "amount desc, create_time"),
    (3, 'amount < 12.5 OR proposer = "principals/p1"', "state"),
    (4, "role = ADMIN AND state = ACTIVE", "display_name"),
    (4, 'last_use_time < "2025-03-01T10:00:00+02:00"', "last_use_time desc"),
    (5, 'done = true AND count > -5 AND due = "2024-02-29"', "count desc, due"),
    (5, 'color = RED OR color = "COLOR_MINUS" OR nested.value != 0', "score, nested.value desc"),
    (5, 'cost >= 0.000000001 AND notes = "" AND create_time <= "1970-01-01T00:00:00.5Z"', "cost"),
    (5, "((((title = \"a\"))))", "title"),
    (2, 'title : "ОДЕСА" AND NOT title : "%_\\\\"', "create_time desc"),
    (0, 'display_name : "estonia"', "display_name"),
    (2, "", ""),
]


def filters():
    for i, (schema, f, o) in enumerate(FILTERS):
        write("filter", "filter-%02d" % i, bytes([schema]) + f.encode() + b"\xff" + o.encode())


# ---- page tokens ----
KEY = b"fuzz-page-token-key-0123456789ab"  # fuzz_pagetoken.c's KEY
NOW = 1750000000


def bind(*fields):
    h = hashlib.blake2b(digest_size=32)
    for s in ("tallinn.pagetoken.binding.v1",) + fields:
        b = (s or "").encode()
        h.update(struct.pack(">Q", len(b)) + b)
    return h.digest()


BINDING = bind("needs", "", "state = STATE_OPEN", "priority asc", "principals/fuzz")


def value(v):
    if isinstance(v, int):
        return b"\x01" + struct.pack(">q", v)
    return b"\x02" + struct.pack(">H", len(v)) + v


def body(keys, last_id, issue=NOW, binding=BINDING):
    raw = b"\x01" + binding + struct.pack(">q", issue) + bytes([len(keys)])
    for k in keys:
        raw += value(k)
    return raw + value(last_id)


def token(raw):
    import base64
    mac = hmac.new(KEY, raw, hashlib.sha512).digest()[:32]
    return base64.urlsafe_b64encode(raw + mac).rstrip(b"=")


def pagetokens():
    # mode 0: token strings (a real one, and one from another binding)
    write("pagetoken", "text-real", b"\x00" + token(body([2, 1735689600000000000], b"needs/abc")))
    write("pagetoken", "text-other-binding",
          b"\x00" + token(body([], b"donors/ee", binding=bind("donors", "", "", "", "x"))))
    # mode 1: bodies that the target MACs
    write("pagetoken", "body-two-keys", b"\x01" + body([3, b"Kharkiv"], b"needs/n1"))
    write("pagetoken", "body-int-id", b"\x01" + body([], 42))
    write("pagetoken", "body-eight-keys", b"\x01" + body(list(range(8)), b"matches/m"))
    # mode 2: values (age u16, nkeys, then kind/len-coded values)
    write("pagetoken", "values", b"\x02" + b"\x10\x00" + b"\x02" + b"\x00" + struct.pack(">q", 7)
          + b"\x03\x05hello" + b"\x03\x09needs/abc")


# ---- notes and checkpoints ----
def notes():
    log = os.path.join(DATA, "tessera", "log")
    for n in (0, 1, 7, 15):
        write("note", "tessera-checkpoint-%d" % n, open(os.path.join(log, "checkpoint.%d" % n), "rb").read())
    cp = open(os.path.join(log, "checkpoint.15"), "rb").read()
    text = cp[: cp.index(b"\n\n") + 1]
    write("note", "checkpoint-text", text)
    write("note", "checkpoint-text-extension", text + b"extension line\n")
    sig = cp[cp.index(b"\n\n") + 2:]
    write("note", "two-signatures", text + b"\n" + sig + "— other.example/key AAAAAAAA\n".encode())


# ---- tiles ----
def tiles():
    for p in ("tile/0/000", "tile/0/000.p/15", "tile/entries/000.p/3", "tile/1/x001/x234/067",
              "tile/entries/x123/456.p/255", "tile/63/x018/x446/x744/x073/x709/x551/615"):
        write("tiles", "path-" + p.replace("/", "_"), p)
    ents = os.path.join(DATA, "tessera", "log", "tile", "entries", "000.p")
    for w in (1, 3, 15):
        write("tiles", "bundle-%d" % w, open(os.path.join(ents, str(w)), "rb").read())
    write("tiles", "geometry", bytes([1]) + struct.pack(">QQ", 3, 70000))


# ---- tlog-proof ----
def tlogproofs():
    d = os.path.join(DATA, "tlogproof")
    for f in sorted(os.listdir(d)):
        if f.endswith(".tlog-proof"):
            shutil.copy(os.path.join(d, f), os.path.join(OUT, "tlogproof", f))


# ---- tlog-witness add-checkpoint bodies (real Tessera checkpoints, real proofs) ----
def witness():
    sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
    from tlog_ref import consistency_proof, leaf_hash
    import base64
    names = ["one", "two", "three", "four", "five", "six", "seven", "eit", "nain", "ten",
             "ileven", "twelf", "threeten", "fourten", "fivten"]
    hashes = [leaf_hash(n.encode()) for n in names]
    log = os.path.join(DATA, "tessera", "log")
    for m, n in ((0, 0), (0, 7), (3, 3), (3, 12), (4, 15), (8, 13), (13, 14)):
        note = open(os.path.join(log, "checkpoint.%d" % n), "rb").read()
        proof = consistency_proof(hashes[:n], m) if 0 < m < n else []
        body = b"old %d\n" % m + b"".join(base64.b64encode(h) + b"\n" for h in proof) + b"\n"
        write("witness", "old%d-to-%d" % (m, n), body + note)
    cosigs = [ln for ln in open(os.path.join(DATA, "cosig", "vectors.txt"), encoding="utf-8")
              if ln.startswith("cosig 1 9 ")]
    note = open(os.path.join(log, "checkpoint.9"), "rb").read()
    write("witness", "old0-to-9-cosigned", b"old 0\n\n" + note +
          cosigs[0].split(" ", 4)[4].encode())


# ---- protobuf: a small reader of our .proto files and an encoder ----
def read_protos():
    """Top-level messages in descriptor order (sorted files, declaration
    order), each {field: (number, type, repeated)}; services' methods."""
    messages, order, services = {}, [], []
    for fn in sorted(os.listdir(PROTO)):
        if not fn.endswith(".proto"):
            continue
        text = re.sub(r"//[^\n]*", "", open(os.path.join(PROTO, fn)).read())
        depth, cur = 0, None
        for line in text.splitlines():
            line = line.strip()
            m = re.match(r"message (\w+)\s*\{", line)
            if m and depth == 0:
                cur = m.group(1)
                messages[cur] = {}
                order.append(cur)
            m = re.match(r"service (\w+)\s*\{", line)
            if m and depth == 0:
                services.append((m.group(1), []))
                cur = None
            m = re.match(r"rpc (\w+)\s*\(\s*(\w+)\s*\)", line)
            if m:
                services[-1][1].append((m.group(1), m.group(2)))
            m = re.match(r"(repeated\s+)?([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*[;\[]", line)
            if m and depth == 1 and cur:
                messages[cur][m.group(3)] = (int(m.group(4)), m.group(2), bool(m.group(1)))
            depth += line.count("{") - line.count("}")
            if depth == 0:
                cur = None
    return messages, order, services


MESSAGES, ORDER, SERVICES = read_protos()
WKT = {"google.protobuf.Timestamp": {"seconds": (1, "int64", False), "nanos": (2, "int32", False)},
       "google.protobuf.FieldMask": {"paths": (1, "string", True)}}


def varint(n):
    n &= (1 << 64) - 1
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def encode(msg_type, obj):
    fields = WKT.get(msg_type) or MESSAGES[msg_type.split(".")[-1]]
    out = b""
    for name, v in obj.items():
        num, typ, rep = fields[name]
        for x in (v if rep else [v]):
            if typ in ("string", "bytes"):
                b = x.encode() if isinstance(x, str) else x
                out += varint(num << 3 | 2) + varint(len(b)) + b
            elif typ in ("int32", "int64", "uint32", "uint64", "bool") or isinstance(x, int):
                out += varint(num << 3) + varint(int(x))
            else:
                b = encode(typ, x)
                out += varint(num << 3 | 2) + varint(len(b)) + b
    return out


EUR = lambda units, nanos=0: {"currency_code": "EUR", "units": units, "nanos": nanos}  # noqa: E731
NEED = {"title": "Firewalls for the Kharkiv water utility", "description": "12 units\nwith support",
        "beneficiary": "Kharkivvodokanal", "region": "Kharkiv oblast", "sector": 6, "category": 4,
        "domain": 1, "priority": 1, "estimated_cost": EUR(250000, 500000000),
        "needed_by": {"year": 2025, "month": 6, "day": 30}, "sensitivity": 1}
REQUESTS = {
    "CreateNeedRequest": {"need": NEED, "need_id": "kharkiv-water-fw",
                          "request_id": "3f2c1a9e-8b7d-4c6e-9f1a-2b3c4d5e6f70"},
    "UpdateNeedRequest": {"need": dict(NEED, name="needs/kharkiv-water-fw", etag="0123456789abcdef"),
                          "update_mask": {"paths": ["title", "estimated_cost"]}},
    "ListNeedsRequest": {"page_size": 50, "filter": "sector = ENERGY AND priority <= HIGH",
                         "order_by": "priority, create_time desc", "page_token": "AAAA"},
    "GetNeedRequest": {"name": "needs/kharkiv-water-fw"},
    "RejectNeedRequest": {"name": "needs/n1", "reason": "duplicate of needs/n0",
                          "request_id": "3F2C1A9E-8B7D-4C6E-9F1A-2B3C4D5E6F70"},
    "CreateDonorRequest": {"donor": {"display_name": "Republic of Estonia", "kind": 1, "country_code": "EE",
                                     "membership": 1, "capabilities": [1, 2, 9],
                                     "contact_email": "tallinn@mfa.ee"}, "donor_id": "ee"},
    "CreatePledgeRequest": {"parent": "donors/ee", "pledge": {"amount": EUR(1000000), "fiscal_year": 2025,
                                                             "source": "2025 development cooperation budget"}},
    "ListPledgesRequest": {"parent": "donors/-", "filter": "amount > 1000.25", "order_by": "amount desc"},
    "ListDonorsRequest": {"filter": 'country_code = "EE"', "order_by": "display_name"},
    "CreateMatchRequest": {"match": {"need": "needs/n1", "donor": "donors/ee", "pledge": "donors/ee/pledges/p1",
                                     "amount": EUR(125000), "description": "Delivery of 12 firewalls",
                                     "implementer": "donors/ee-cert"}},
    "ApproveMatchRequest": {"name": "matches/m1", "allow_overfunding": True, "reason": "urgent"},
    "ListMatchesRequest": {"filter": 'need = "needs/n1" AND state = APPROVED', "order_by": "amount"},
    "SuggestMatchesRequest": {"need": "needs/n1"},
    "CreatePrincipalRequest": {"principal": {"display_name": "Kyiv front office", "role": 1,
                                             "cert_identity": "CN=kyiv-1"}, "principal_id": "kyiv-1"},
    "ListPrincipalsRequest": {"filter": "role = DONOR", "order_by": "display_name"},
    "GetCoverageReportRequest": {},
    "GetInclusionProofRequest": {"index": 7, "tree_size": 15},
    "GetConsistencyProofRequest": {"first_size": 3, "second_size": 15},
    "WatchChangesRequest": {"start_index": 42, "kinds": [3, 4], "resource": "needs/n1"},
    "ListHistoryRequest": {"name": "donors/ee/pledges/fy2025", "page_size": 20,
                           "include_proofs": True},
    "CreateExchangeRateRequest": {"exchange_rate": {"currency_code": "USD", "rate": "1.0850",
                                                    "rate_date": {"year": 2025, "month": 3, "day": 14},
                                                    "source": "ECB euro reference rate"},
                                  "request_id": "3f2c1a9e-8b7d-4c6e-9f1a-2b3c4d5e6f71"},
    "ListExchangeRatesRequest": {"filter": 'currency_code = "USD"', "order_by": "rate_date desc"},
    "MarkDeliveredRequest": {"name": "matches/m1", "note": "12 firewalls installed",
                             "documents": [{"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                                            "name": "acceptance-protocol.pdf",
                                            "media_type": "application/pdf"}]},
}


def requests_and_json():
    methods = []  # fuzz_requests.c's order
    svc = dict(SERVICES)
    for s in ("DonorService", "NeedService", "MatchService", "ReportService", "PrincipalService",
              "AuditService", "ChangeService", "ExchangeRateService"):
        methods += svc[s]
    by_input = {inp: i for i, (_, inp) in reversed(list(enumerate(methods)))}
    for msg, obj in REQUESTS.items():
        try:
            packed = encode(msg, obj)
        except KeyError as e:  # a field renamed in the .proto: skip this seed
            print("make-corpus: %s: no field %s" % (msg, e), file=sys.stderr)
            continue
        if msg in by_input:
            write("requests", msg, bytes([by_input[msg]]) + packed)
        write("pbjson", msg + ".bin", bytes([ORDER.index(msg), 1]) + packed)
    # JSON seeds (proto3 JSON mapping) for fuzz_pbjson: byte 0 message, byte 1 even.
    js = {
        "CreateNeedRequest": {"need": {"title": "Firewalls", "description": "x\ny", "sector": "SECTOR_ENERGY",
                                       "priority": 2, "estimatedCost": {"currencyCode": "EUR", "units": "250000",
                                                                         "nanos": 500000000},
                                       "neededBy": {"year": 2025, "month": 6, "day": 30}},
                              "needId": "fw-1", "request_id": "3f2c1a9e-8b7d-4c6e-9f1a-2b3c4d5e6f70"},
        "UpdateNeedRequest": {"need": {"name": "needs/n1", "title": "T"}, "updateMask": "title,estimatedCost"},
        "Need": {"name": "needs/n1", "createTime": "2025-01-02T03:04:05.120Z",
                 "updateTime": "2025-01-02T05:04:05+02:00", "state": "STATE_OPEN", "committedAmount": None},
        "AuditRecord": {"index": "18446744073709551615", "requestSha256": "3q2+7w==",
                        "time": "1970-01-01T00:00:00Z", "principal": "principals/admin"},
        "GetInclusionProofResponse": {"hashes": ["AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "_-8"]},
        "Donor": {"displayName": "Estonia", "capabilities": ["CATEGORY_TRAINING", 3], "kind": 1},
        "ListNeedsResponse": {"needs": [{"name": "needs/a"}, {}], "nextPageToken": "abc"},
        "Money": {"currencyCode": "EUR", "units": -5, "nanos": -500000000},
    }
    for msg, obj in js.items():
        if msg in ORDER:
            write("pbjson", msg + ".json", bytes([ORDER.index(msg), 0]) + json.dumps(obj).encode())


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    for t in ("filter", "pagetoken", "note", "tiles", "tlogproof", "witness", "pbjson",
              "requests"):
        os.makedirs(os.path.join(OUT, t), exist_ok=True)
    filters()
    pagetokens()
    notes()
    tiles()
    tlogproofs()
    witness()
    requests_and_json()
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(OUT) for f in fs)
    print("make-corpus: %d bytes in %s" % (total, OUT))


if __name__ == "__main__":
    main()
