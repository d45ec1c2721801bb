"""Nothing a caller sends may break the audit log (issue 10, item 1): refused
writes carrying hostile names — about 8 KiB, about 70 KB, invalid UTF-8,
terminal escapes and newlines, an oversized request_id — must leave a log
whose every record is at most AUDIT_RECORD_MAX (4,096) bytes, holds only
valid, control-free text of at most 512 bytes per field (a replaced value
names the field, the original's SHA-256 and its size), decodes in a standard
protobuf client (Python's StreamAuditRecords), exports with `tallinnctl audit
export`, verifies with `tallinn-audit verify` (offline and --server) and lets
the server start again.

The requests are encoded by hand (raw bytes on the wire): Python's protobuf
refuses to build a message with invalid UTF-8, a hostile client need not.

Run: /usr/bin/python3 audit_bounds_test.py TALLINND TALLINN-AUDIT TALLINNCTL"""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TALLINND, AUDIT, CTL = sys.argv[1:4]
(audit_pb2,) = harness.protos("tallinn/v1/audit.proto")
Code = grpc.StatusCode
RECORD_MAX = 4096  # AUDIT_RECORD_MAX, service/audit/audit.h and docs/audit.md
TEXT_MAX = 512     # AUDIT_TEXT_MAX
TEXT_FIELDS = ("principal", "method", "resource", "request_id", "etag", "server_version")
# What no record field may hold: C0 controls, DEL, C1 controls, line and
# paragraph separators, bidirectional overrides and isolates.
FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
TOOL_ENV = dict(os.environ, ASAN_OPTIONS="exitcode=99:detect_leaks=1",
                UBSAN_OPTIONS="exitcode=98:print_stacktrace=1")


# ---- Protobuf by hand ----

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num, data):
    """A length-delimited field (string, bytes or message)."""
    return varint(num << 3 | 2) + varint(len(data)) + data


# Hostile values sent by an OBSERVER, who may call no write method: every
# call is refused (PERMISSION_DENIED) and recorded with the name as sent.
ESCAPES = b"needs/x\x1b[2J\x1b[31mfake\n1   2099-01-01 principals/admin ADMIN\r\xc2\x9b\xe2\x80\xae"
HOSTILE = [
    # (what, method, request bytes, the original value that reaches the record)
    ("8 KiB name", "/tallinn.v1.NeedService/SubmitNeed",
     field(1, b"needs/" + b"a" * 8192), b"needs/" + b"a" * 8192),
    ("70 KB name", "/tallinn.v1.NeedService/SubmitNeed",
     field(1, b"needs/" + b"b" * 70000), b"needs/" + b"b" * 70000),
    ("invalid UTF-8", "/tallinn.v1.NeedService/SubmitNeed",
     field(1, b"needs/\xff\xfe"), b"needs/\xff\xfe"),
    ("escapes and newlines", "/tallinn.v1.NeedService/CancelNeed",
     field(1, ESCAPES), ESCAPES),
    ("70 KB name inside the resource", "/tallinn.v1.NeedService/UpdateNeed",
     field(1, field(1, b"needs/" + b"c" * 70000)), b"needs/" + b"c" * 70000),
    ("invalid UTF-8 parent", "/tallinn.v1.DonorService/CreatePledge",
     field(1, b"donors/\xc0\xaf\xed\xa0\x80"), b"donors/\xc0\xaf\xed\xa0\x80"),
]
HOSTILE_RID = b"\x1b[2J" + b"r" * 40000  # a request_id no UUID parser would accept
# Invalid UTF-8 may be refused at request decode (INVALID_ARGUMENT, nothing
# recorded) before the role check: then only the unit test (test_audit.c)
# shows the record's guarantee for it. Everything else must be recorded.
INVALID_UTF8 = ("invalid UTF-8", "invalid UTF-8 parent")


class World:
    def __init__(self):
        self.srv = harness.Tallinnd(TALLINND)
        self.obs = self.srv.create_principal("bounds-obs", "OBSERVER")
        self.aud = self.srv.create_principal("bounds-aud", "AUDITOR")
        self.tmp = tempfile.mkdtemp(prefix="tallinn-audit-bounds-")
        self.token_file = os.path.join(self.tmp, "auditor.token")
        with open(self.token_file, "w") as f:
            f.write(self.aud + "\n")
        self.vkey = re.search(r"audit_key=(\S+)", self.srv.text()).group(1)
        self.recorded = []  # (what, original value) of each hostile call refused and recorded
        self.rs = []        # the records, as streamed

    def raw(self, method, data, token, codes=(Code.PERMISSION_DENIED,)):
        ch = grpc.insecure_channel(self.srv.addr)
        try:
            call = ch.unary_unary(method, request_serializer=lambda b: b,
                                  response_deserializer=lambda b: b)
            call(data, metadata=harness.bearer(token), timeout=30)
        except grpc.RpcError as e:
            assert e.code() in codes, "%s: expected %s, got %s: %s" % (
                method, "/".join(c.name for c in codes), e.code().name, e.details())
            return e.code()
        finally:
            ch.close()
        raise AssertionError("%s succeeded for an OBSERVER" % method)

    def records(self):
        ch = grpc.insecure_channel(self.srv.addr)
        try:
            stream = ch.unary_stream(
                "/tallinn.v1.AuditService/StreamAuditRecords",
                request_serializer=audit_pb2.StreamAuditRecordsRequest.SerializeToString,
                response_deserializer=audit_pb2.StreamAuditRecordsResponse.FromString)
            return list(stream(audit_pb2.StreamAuditRecordsRequest(),
                               metadata=harness.bearer(self.aud), timeout=60))
        finally:
            ch.close()


def tool(argv, rc=0, says=()):
    r = subprocess.run(argv, capture_output=True, env=TOOL_ENV, timeout=120)
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    assert not re.search(r"Sanitizer|runtime error", out), out
    assert r.returncode == rc, "exit %d, expected %d: %s\n%s" % (r.returncode, rc,
                                                                " ".join(argv), out[-3000:])
    for s in ([says] if isinstance(says, str) else says):
        assert s in out, "output does not say %r:\n%s" % (s, out[-3000:])
    return r


def test_refused_writes(w):
    for what, method, data, original in HOSTILE:
        codes = (Code.PERMISSION_DENIED, Code.INVALID_ARGUMENT) if what in INVALID_UTF8 else \
            (Code.PERMISSION_DENIED,)
        if w.raw(method, data, w.obs, codes) == Code.PERMISSION_DENIED:
            w.recorded.append((what, original))
    assert len(w.recorded) >= len(HOSTILE) - len(INVALID_UTF8)
    # The request_id of a refused write is recorded too.
    w.raw("/tallinn.v1.NeedService/SubmitNeed",
          field(1, b"needs/with-rid") + field(2, HOSTILE_RID), w.obs)


def test_stream_decodes(w):
    """Python's protobuf refuses invalid UTF-8 in a string field: the whole
    stream fails to decode if one record holds it."""
    w.rs = w.records()
    assert len(w.rs) >= len(w.recorded) + 1, len(w.rs)


def test_records_bounded_and_clean(w):
    rs = w.rs
    by_digest = {}
    for r in rs:
        rec = audit_pb2.AuditRecord.FromString(r.leaf)
        assert rec == r.record
        assert len(r.leaf) <= RECORD_MAX, "record %d is %d bytes" % (rec.index, len(r.leaf))
        for f in TEXT_FIELDS:
            v = getattr(rec, f)
            assert len(v.encode()) <= TEXT_MAX, "record %d: %s is %d bytes" % (
                rec.index, f, len(v.encode()))
            assert not FORBIDDEN.search(v), "record %d: %s holds %r" % (rec.index, f, v[:80])
        for rp in rec.replaced:
            assert rp.field in TEXT_FIELDS and len(rp.sha256) == 32, rp
            by_digest[(rp.field, rp.sha256)] = (rec, rp)
    # Each hostile value is identified by its SHA-256 and size, and the field
    # keeps an escaped prefix of it.
    for what, original in w.recorded:
        key = ("resource", hashlib.sha256(original).digest())
        assert key in by_digest, "no record identifies the %s (%d bytes)" % (what, len(original))
        rec, rp = by_digest[key]
        assert rp.size == len(original), (what, rp.size, len(original))
        assert rec.status_code == 7 and rec.principal == "principals/bounds-obs", rec
        prefix = original[:40].decode("utf-8", errors="ignore").split("\x1b")[0]
        assert rec.resource.startswith(prefix[:6]), (what, rec.resource[:60])
    esc = by_digest[("resource", hashlib.sha256(ESCAPES).digest())][0].resource
    assert esc.startswith("needs/x\\x1B[2J\\x1B[31mfake\\x0A1 "), esc
    assert esc.endswith("ADMIN\\x0D\\u{009B}\\u{202E}"), esc
    key = ("request_id", hashlib.sha256(HOSTILE_RID).digest())
    assert key in by_digest and by_digest[key][1].size == len(HOSTILE_RID), \
        "the hostile request_id is not identified"
    # Well-formed values are kept as they were sent, with nothing replaced.
    plain = [audit_pb2.AuditRecord.FromString(r.leaf) for r in rs]
    assert any(p.method.endswith("/CreatePrincipal") and not p.replaced and
               p.resource == "principals/bounds-obs" for p in plain), "plain records changed"


def test_export_verify_show(w):
    d = os.path.join(w.tmp, "export")
    tool([CTL, "--addr", w.srv.addr, "--insecure", "--token-file", w.token_file,
          "audit", "export", d])
    tool([AUDIT, "verify", d, "--key", w.vkey], says="verified")
    r = tool([AUDIT, "show", d, "--key", w.vkey])
    assert b"\x1b" not in r.stdout and b"\r" not in r.stdout, r.stdout[-2000:]
    lines = r.stdout.decode().splitlines()
    assert len(lines) == len(w.rs) + 1, (len(lines), len(w.rs))


def test_verify_server(w):
    tool([AUDIT, "verify", "--server", w.srv.addr, "--insecure", "--key", w.vkey,
          "--token-file", w.token_file, "--state", os.path.join(w.tmp, "state")],
         says="verified")


def test_restart(w):
    """Start-up re-decodes every record: each one the server wrote must."""
    rc = w.srv.stop()
    assert rc == 0, "tallinnd exited %d:\n%s" % (rc, w.srv.text()[-3000:])
    data = w.srv.data
    try:
        w.srv = harness.Server([TALLINND, "--listen", "127.0.0.1:0", "--data-dir", data,
                                "--insecure", "--grace-ms", "3000"] +
                               harness.database_args(data), harness.PORT_RE)
    except RuntimeError as e:
        w.srv = None
        raise AssertionError("tallinnd does not start again on its own log:\n%s" % e)
    w.srv.data = data
    assert len(w.records()) == len(w.rs)


def sign_note(text, skey):
    """A C2SP signed note of text with the server's PRIVATE+KEY+name+id+base64 key."""
    import base64
    import nacl.signing
    _, _, name, key_id, b64 = skey.split("+", 4)
    sig = nacl.signing.SigningKey(base64.b64decode(b64)[1:]).sign(text).signature
    line = "\u2014 %s %s\n" % (name, base64.b64encode(bytes.fromhex(key_id) + sig).decode())
    return text + b"\n" + line.encode()


def test_legacy_oversized(w):
    """A log written before records were bounded may hold a record too large
    for a tlog-tiles entry: start-up must still decode it (on the heap, past
    its fixed buffer) and start, warning that it cannot be exported. The
    record is appended, the tile rebuilt and the checkpoint signed here, as an
    older tallinnd would have."""
    import base64
    import time
    from tlog_ref import leaf_hash, mth
    data = w.srv.data
    assert w.srv.stop() == 0
    w.srv = None
    q = harness.db_query  # either engine: the rows as an older tallinnd wrote them
    n = int(q(data, "SELECT COUNT(*) FROM audit_leaves")[0][0])
    assert n < 256, n  # one level-0 tile is enough here
    rec = audit_pb2.AuditRecord(index=n, principal="principals/legacy", role=5,
                                method="/tallinn.v1.NeedService/SubmitNeed",
                                resource="needs/" + "z" * 70000, status_code=7,
                                request_sha256=b"\0" * 32, server_version="0.0.9")
    rec.time.seconds = int(time.time())
    q(data, "INSERT INTO audit_leaves(idx, data) VALUES(%d, %s)" %
      (n, harness.hexblob(rec.SerializeToString())))
    hashes = [leaf_hash(bytes.fromhex(d)) for (d,) in
              q(data, "SELECT %s FROM audit_leaves ORDER BY idx" % harness.sql_hex("data"))]
    q(data, harness.upsert_tile_sql(0, 0, b"".join(hashes)))
    skey = open(os.path.join(data, "audit.key")).read().strip()
    origin = skey.split("+")[2]
    text = ("%s\n%d\n%s\n" % (origin, n + 1, base64.b64encode(mth(hashes)).decode())).encode()
    q(data, "INSERT INTO audit_checkpoints(size, note, time) VALUES(%d, %s, %d)" %
      (n + 1, harness.hexblob(sign_note(text, skey)), int(time.time())))
    # The head an upgrade sets over a log an older tallinnd wrote
    # (schema migration 6: the records' count).
    q(data, "UPDATE audit_head SET size = %d" % (n + 1))
    try:
        w.srv = harness.Server([TALLINND, "--listen", "127.0.0.1:0", "--data-dir", data,
                                "--insecure", "--grace-ms", "3000"] +
                               harness.database_args(data), harness.PORT_RE)
    except RuntimeError as e:
        raise AssertionError("tallinnd does not start on a log with an oversized record:\n%s" % e)
    w.srv.data = data
    w.srv.wait_log(r"event=audit_records_oversized count=1 first=%d\b" % n)
    assert len(w.records()) == n + 1


def main():
    cases = harness.Cases()
    w = World()
    try:
        cases.run("refused writes with hostile names", test_refused_writes, w)
        cases.run("StreamAuditRecords decodes in Python", test_stream_decodes, w)
        cases.run("every record bounded, valid, hostile values identified",
                  test_records_bounded_and_clean, w)
        cases.run("tallinnctl audit export, tallinn-audit verify and show offline",
                  test_export_verify_show, w)
        cases.run("tallinn-audit verify --server", test_verify_server, w)
        cases.run("the server starts again on its log", test_restart, w)
        if w.srv is not None:
            cases.run("a record from before the bound: start-up decodes it, warns",
                      test_legacy_oversized, w)
    finally:
        if w.srv is not None:
            w.srv.stop()
    if cases.failed == 0:
        shutil.rmtree(w.tmp, ignore_errors=True)
    cases.finish()


if __name__ == "__main__":
    main()
