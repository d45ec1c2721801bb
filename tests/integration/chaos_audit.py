"""The chaos test's checks of the audit log after a restart
(chaos_test.py): every record decodes with a standard client and fits a
tlog-tiles entry; the records are exactly those of the calls made (refusals
included: issue 10 item 5) and hold no token or RESTRICTED value; the export
of `tallinnctl audit export` verifies with `tallinn-audit verify`, with
`tallinn-audit verify --server` and with the independent Python verifier
(tlog_ref.read_tiles); `tallinn-audit show` prints one line per record and no
control characters, and its JSON keeps every field (item 2)."""
import collections
import json
import os
import re
import sqlite3
import subprocess

import grpc

import harness
from chaos_model import MARK_RE, TOKEN_RE, Need, audit_pb2, principal_pb2
from tlog_ref import read_tiles

C = grpc.StatusCode
READS = ("Get", "List", "Stream", "Suggest", "Noop")
TOOL_ENV = dict(os.environ, ASAN_OPTIONS="exitcode=99:detect_leaks=1",
                UBSAN_OPTIONS="exitcode=98:print_stacktrace=1")
# audit.proto: a record is at most 4,096 bytes, each string field at most
# 512 bytes of UTF-8 without controls, separators or bidi overrides.
RECORD_MAX, TEXT_MAX = 4096, 512
TEXT_FIELDS = ((3, "principal"), (5, "method"), (6, "resource"), (7, "request_id"), (10, "etag"),
               (11, "server_version"))
UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
UUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")


def is_write(path):
    return path.startswith("/tallinn.v1.") and not path.rsplit("/", 1)[1].startswith(READS)


def compact(s, limit=600):
    """s with long runs of one character shortened, and cut at limit."""
    s = re.sub(r"(.)\1{39,}", lambda m: "%s<x%d>" % (m.group(1), len(m.group(0))), s)
    return s if len(s) <= limit else s[:limit] + "..."


class LogCheck:
    """The checks, over the runner's record of calls (runner.log), model
    and failures."""

    def __init__(self, runner):
        self.r = runner
        self.world = runner.world
        self.failures = runner.failures
        self.log = runner.log
        self.args = runner.args
        self.tmp = runner.tmp
        self.vkey = runner.vkey
        self._secrets = None

    def stream_log(self):
        """All records through StreamAuditRecords, decoded in Python."""
        md = harness.bearer(self.world.tokens["aud"])
        try:
            chunks = list(self.r.stub("/tallinn.v1.AuditService/StreamAuditRecords", True)(
                audit_pb2.StreamAuditRecordsRequest().SerializeToString(), metadata=md,
                timeout=300))
        except grpc.RpcError as e:
            self.failures.add("audit", "StreamAuditRecords of the whole log fails: %s %s" % (
                e.code().name, compact(e.details() or "", 200)), "1")
            return None
        leaves = []
        for i, c in enumerate(chunks):
            leaf = wire_field(c, 2)
            leaves.append(leaf)
            try:
                audit_pb2.StreamAuditRecordsResponse.FromString(c)
            except Exception:
                self.bad_record(i, leaf, "does not decode in Python protobuf (a string field "
                                "holds invalid UTF-8): StreamAuditRecords breaks standard clients")
        return leaves

    def bad_record(self, i, leaf, what):
        """A failure naming the call that wrote the record (by its request
        hash, principal and method)."""
        f = wire_fields(leaf)
        who = (f.get(8, b""), f.get(3, b"").decode("utf-8", "replace"),
               f.get(5, b"").decode("utf-8", "replace"))
        src = next((e for e in self.log if (e["sha"], e["principal"], e["method"]) == who), None)
        self.failures.add("audit", "audit record %d %s%s" % (
            i, what, "; written for action %s: %s as %s [%s] %s" % (
                src["index"], src["method"].rsplit("/", 1)[1], src["role"], src["klass"],
                src["repro"]) if src else ""), "1", index=src["index"] if src else None,
            key=("audit", re.sub(r"\d+", "N", what)))

    def check_records(self, leaves):
        """The records are exactly the calls' (issue 10 item 5 for refusals),
        bounded, and hold no token and no RESTRICTED value."""
        got = collections.Counter()
        fields_of_ok = {}
        roles = {v: k[len("ROLE_"):] for k, v in principal_pb2.Principal.Role.items()}
        for i, leaf in enumerate(leaves):
            if len(leaf) > RECORD_MAX:
                self.bad_record(i, leaf, "is %d bytes, over the %d audit.proto allows%s" % (
                    len(leaf), RECORD_MAX, " and the 65,535 a tlog-tiles entry holds"
                    if len(leaf) > 65535 else ""))
            f = wire_fields(leaf)
            for num, name in TEXT_FIELDS:
                v = f.get(num, b"")
                if len(v) > TEXT_MAX or UNSAFE_TEXT.search(v.decode("utf-8", "replace")):
                    self.bad_record(i, leaf, "has a %s of %d bytes that is not bounded, clean "
                                    "text (audit.proto: at most %d bytes, no controls)" % (
                                        name, len(v), TEXT_MAX))
            method = f.get(5, b"").decode("utf-8", "replace")
            key = (f.get(3, b"").decode("utf-8", "replace"), roles.get(f.get(4, 0), "?"), method,
                   f.get(8, b""), f.get(9, 0))
            if is_write(method):
                got[key + ("",)] += 1
                if f.get(9, 0) == 0:
                    fields_of_ok.setdefault(key, []).append(f)
            else:
                got[key + (f.get(6, b"").decode("utf-8", "replace"),)] += 1
            for what in self.secrets_in(leaf):
                self.bad_record(i, leaf, "holds %s" % what)
        want, maybe, done = collections.Counter(), collections.Counter(), set()
        for e in self.log:
            base = (e["principal"], e["role"], e["method"], e["sha"])
            if is_write(e["method"]) and e["code"] in (C.OK, C.PERMISSION_DENIED,
                                                        C.FAILED_PRECONDITION):
                rid = e["rid"].lower()
                if e["code"] == C.OK and rid:
                    if (e["principal"], e["method"], rid) in done:
                        continue  # a replay: the first result, nothing recorded
                    done.add((e["principal"], e["method"], rid))
                k = base + (e["code"].value[0], "")
                (maybe if e["uncertain"] else want)[k] += 1
                if e["code"] == C.OK:
                    self.check_ok_record(e, fields_of_ok.get(k[:5]))
            elif is_write(e["method"]) and e["code"] not in (C.UNAUTHENTICATED,
                                                             C.RESOURCE_EXHAUSTED):
                # audit.proto records PERMISSION_DENIED and FAILED_PRECONDITION
                # refusals; a log that records other refusals too (with the
                # status the caller got) is not wrong.
                maybe[base + (e["code"].value[0], "")] += 1
            elif e["code"] == C.OK:
                for name in e["reads"]:
                    want[base + (0, name)] += 1
            elif e["uncertain"]:
                for name in e["reads"]:
                    maybe[base + (0, name)] += 1
        want = +want
        missing, extra = want - got, got - want - maybe
        for k in missing:
            src = next(e for e in self.log if (e["principal"], e["role"], e["method"], e["sha"])
                       == k[:4])
            self.failures.add("audit", "no audit record for a %s %s (x%d)" % (
                k[2].rsplit("/", 1)[1], "read of a RESTRICTED need" if k[5] else
                "answered %s" % next(c for c in C if c.value[0] == k[4]).name, missing[k]),
                "5" if k[4] == 7 else "?", method=k[2].rsplit("/", 1)[1], klass=src["klass"],
                who=src["role"], repro=src["repro"], index=src["index"])
        for k in extra:
            self.failures.add("audit", "an audit record that no acknowledged call explains: "
                              "%s %s status %d (x%d)" % (k[1], k[2], k[4], extra[k]), "?")

    def check_ok_record(self, e, fs):
        """The record of a change names the resource, its new etag and the
        request_id (lower case). fs: the records of the same request bytes."""
        if not fs:
            return
        rid = e["rid"].lower() if UUID.match(e["rid"]) else None

        def wrong(f):
            p = []
            if rid is not None and f.get(7, b"").decode("utf-8", "replace") != rid:
                p.append("request_id")
            if e["etag"] and f.get(10, b"").decode("utf-8", "replace") != e["etag"]:
                p.append("etag")
            if e["resp_name"] and f.get(6, b"").decode("utf-8", "replace") != e["resp_name"]:
                p.append("resource")
            return p
        problems = min((wrong(f) for f in fs), key=len)
        if problems:
            self.failures.add("audit", "the record of an acknowledged %s has the wrong %s" % (
                e["method"].rsplit("/", 1)[1], " and ".join(problems)), "?",
                method=e["method"].rsplit("/", 1)[1], klass=e["klass"], who=e["role"],
                repro=e["repro"], index=e["index"])

    def secrets_in(self, blob):
        """What of the secrets no record or log line may hold is in blob:
        tokens and the markers of RESTRICTED needs' fields, found by their
        shapes and looked up (fast over a long log)."""
        if self._secrets is None:
            self._secrets = {t.encode(): "a bearer token" for t in self.world.all_tokens}
            for name, r in self.world.needs.items():
                if r.msg.sensitivity == Need.SENSITIVITY_RESTRICTED:
                    for f, vs in r.markers.items():
                        for v in vs:
                            for m in MARK_RE.findall(v.encode()):
                                self._secrets[m] = "the %s of RESTRICTED %s" % (f, name)
        found = set(TOKEN_RE.findall(blob)) | set(MARK_RE.findall(blob))
        return [self._secrets[x] for x in found if x in self._secrets]

    def export_and_verify(self, n_leaves):
        d = os.path.join(self.tmp, "export-%d" % len(os.listdir(self.tmp)))
        tok = os.path.join(self.tmp, "auditor.token")
        with open(tok, "w") as f:
            f.write(self.world.tokens["aud"] + "\n")
        os.chmod(tok, 0o600)
        r = tool([self.args.tallinnctl, "--addr", self.r.srv.addr, "--insecure", "--token-file", tok,
                  "--deadline", "120s", "audit", "export", d])
        if r.returncode != 0:
            self.failures.add("audit", "tallinnctl audit export fails (exit %d): %s" % (
                r.returncode, compact(r.stderr.strip(), 300)), "1")
            return
        r = tool([self.args.audit, "verify", d, "--key", self.vkey])
        if r.returncode != 0:
            self.failures.add("audit", "tallinn-audit verify of the export fails (exit %d): %s" % (
                r.returncode, compact((r.stdout + r.stderr).strip(), 300)), "1")
        r = tool([self.args.audit, "verify", "--server", self.r.srv.addr, "--insecure", "--key",
                  self.vkey, "--token-file", tok, "--state", os.path.join(self.tmp, "state")])
        if r.returncode != 0:
            self.failures.add("audit", "tallinn-audit verify --server fails (exit %d): %s" % (
                r.returncode, compact((r.stdout + r.stderr).strip(), 300)), "1")
        try:
            leaves = read_tiles(d, self.vkey)
        except Exception as e:
            self.failures.add("audit", "the export does not verify with the Python verifier "
                              "(tlog_ref.read_tiles): %s" % compact(str(e), 200), "1")
            return
        self.check_show(d, leaves)

    def check_show(self, d, leaves):
        """tallinn-audit show: one line per record, no control characters;
        -o json keeps every field (issue 10 item 2)."""
        r = tool([self.args.audit, "show", d, "--key", self.vkey])
        if r.returncode != 0:
            self.failures.add("show", "tallinn-audit show fails (exit %d): %s" % (
                r.returncode, compact(r.stderr, 200)), "2")
        else:
            ctl = sorted({"%02x" % b for b in r.stdout_b if (b < 32 and b not in (9, 10)) or b == 127})
            if ctl:
                self.failures.add("show", "tallinn-audit show prints raw control bytes (%s): a "
                                  "caller's text can draw on an auditor's terminal" % " ".join(ctl),
                                  "2")
            lines = r.stdout_b.count(b"\n")
            if lines != len(leaves) + 1:
                self.failures.add("show", "tallinn-audit show prints %d lines for %d records "
                                  "(caller text breaks lines)" % (lines, len(leaves)), "2")
        r = tool([self.args.audit, "show", d, "-o", "json"])
        try:
            js = json.loads(r.stdout_b.decode("utf-8"))
        except Exception as e:
            self.failures.add("show", "tallinn-audit show -o json is not JSON (exit %d): %s" % (
                r.returncode, compact(str(e), 120)), "2")
            return
        if len(js) != len(leaves):
            self.failures.add("show", "show -o json lists %d of %d records" % (len(js), len(leaves)),
                              "2")
        for j, leaf in zip(js, leaves):
            res = wire_fields(leaf).get(6, b"")
            if res and not j.get("resource"):
                self.failures.add("show", "show -o json drops a record's resource (%r...)" % (
                    res[:24]), "2")
                break

    def offline_audit(self):
        """The server did not come back: check the log in the database."""
        try:
            db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.r.data, "tallinn.db"),
                                 uri=True)
            leaves = [bytes(x) for (x,) in db.execute("SELECT data FROM audit_leaves ORDER BY idx")]
            db.close()
        except Exception as e:
            self.failures.add("audit", "cannot read the log from the database: %s" % e, "?")
            return
        for i, leaf in enumerate(leaves):
            try:
                audit_pb2.AuditRecord.FromString(leaf)
            except Exception:
                self.bad_record(i, leaf, "does not decode in Python protobuf")
        self.check_records(leaves)


def tool(argv):
    r = subprocess.run(argv, capture_output=True, env=TOOL_ENV, timeout=300)
    r.stdout_b = r.stdout
    r.stdout, r.stderr = r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")
    return r


def wire_fields(data):
    """Top-level fields of a protobuf message, read by hand (works where a
    string field is not valid UTF-8): {number: bytes or int}, last wins."""
    out, i = {}, 0
    try:
        while i < len(data):
            tag, i = varint(data, i)
            num, wt = tag >> 3, tag & 7
            if wt == 0:
                out[num], i = varint(data, i)
            elif wt == 2:
                ln, i = varint(data, i)
                out[num] = data[i:i + ln]
                i += ln
            elif wt == 1:
                i += 8
            elif wt == 5:
                i += 4
            else:
                break
    except IndexError:
        pass
    return out


def wire_field(data, num):
    return wire_fields(data).get(num, b"")


def varint(b, i):
    v = s = 0
    while True:
        x = b[i]
        i += 1
        v |= (x & 0x7f) << s
        s += 7
        if x < 0x80:
            return v, i
