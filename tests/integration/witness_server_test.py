#!/usr/bin/python3
"""tallinnd asks witnesses (issue 15, phase 2), on either engine: a real
tallinnd configured with three `tallinn-audit witness serve` processes on
loopback (two that witness its log, one that does not know it), quorum 2.

- cosignatures arrive for the newest checkpoint; GetCheckpoint carries them
  (checked with python3-nacl, independently of lib/cosig.c), counts them and
  names the newest checkpoint the quorum cosigned; they are in the database;
- `tallinn-audit verify --server --witness A --witness B --quorum 2` passes;
  `tallinnctl audit export` keeps the cosignatures and `verify DIR --quorum 2`
  passes on it;
- `audit export --cosigned` exports the newest checkpoint the quorum
  cosigned;
- a cosignature row forged in the database never makes a quorum (and
  verify reports it as an invalid cosignature);
- the witness that does not know the log refuses (404): logged loudly, one
  logfmt line each time, counted;
- a witness that is down blocks no write; the quorum checkpoint stays the
  older one, verify --quorum 2 still passes against it; once the witness is
  back, it cosigns the newest checkpoint;
- a restarted tallinnd learns what each witness cosigned from the database,
  and (PostgreSQL) a second replica serves the cosignatures the first
  collected and sends the witnesses nothing they cosigned;
- a split view: a forked copy of the data shows witness B another history
  than the original shows A: verify --quorum 2 fails with SECURITY ERROR on
  either server, and A refuses the fork's checkpoint (422), logged loudly.

usage: witness_server_test.py TALLINND TALLINN-AUDIT TALLINNCTL
"""
import base64
import copy
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from tlog_ref import open_checkpoint, open_cosignature  # noqa: E402

TALLINND, AUDIT, CTL = sys.argv[1:4]
TOOL_ENV = dict(os.environ)
TOOL_ENV["ASAN_OPTIONS"] = "exitcode=99:detect_leaks=1"
TOOL_ENV["UBSAN_OPTIONS"] = "exitcode=98:print_stacktrace=1"
audit_pb2, = harness.protos("tallinn/v1/audit.proto")


def tool(argv, rc=0, says=()):
    r = subprocess.run(argv, capture_output=True, text=True, env=TOOL_ENV, timeout=120)
    assert r.returncode == rc, "exit %d, expected %d: %s\n--- stdout\n%s--- stderr\n%s" % (
        r.returncode, rc, " ".join(argv), r.stdout, r.stderr)
    for s in ([says] if isinstance(says, str) else says):
        assert s in r.stdout + r.stderr, "output does not say %r:\n%s%s" % (s, r.stdout, r.stderr)
    return r


class World:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="witness-server-")
        self.data = os.path.join(self.tmp, "var")
        out = harness.init_data(TALLINND, self.data).stdout
        self.vkey = out.strip().splitlines()[-1]
        # A log key of another log, for the witness that does not know ours.
        self.other_log = harness.init_data(TALLINND, os.path.join(self.tmp, "var-other"),
                                           "--origin", "other.test/log").stdout.strip()
        self.other_log = self.other_log.splitlines()[-1]
        self.a = harness.Witness(AUDIT, os.path.join(self.tmp, "wa"), "witness.ee/tallinn",
                                 [self.vkey], env=TOOL_ENV)
        self.b = harness.Witness(AUDIT, os.path.join(self.tmp, "wb"), "witness.ca/tallinn",
                                 [self.vkey], env=TOOL_ENV)
        self.c = harness.Witness(AUDIT, os.path.join(self.tmp, "wc"), "witness.xx/other",
                                 [self.other_log], env=TOOL_ENV)
        self.srv = None
        self.start()
        self.auditor = self.srv.create_principal("auditor-1", "AUDITOR")
        self.token_file = os.path.join(self.tmp, "auditor.token")
        with open(self.token_file, "w") as f:
            f.write(self.auditor + "\n")
        self.n = 0
        self.prefix = "p"

    def start(self, witnesses=None, quorum=2, share_with=None):
        args = []
        for w in witnesses or (self.a, self.b, self.c):
            args += ["--witness", "%s %s" % (w.vkey, w.url)]
        self.srv = harness.Tallinnd(TALLINND, *args, "--witness-quorum", str(quorum),
                                    "--witness-timeout-ms", "2000",
                                    "--metrics-listen", "127.0.0.1:0", data=self.data,
                                    share_with=share_with)
        self.ch = grpc.insecure_channel(self.srv.addr)
        self.get = self.ch.unary_unary(
            "/tallinn.v1.AuditService/GetCheckpoint",
            request_serializer=audit_pb2.GetCheckpointRequest.SerializeToString,
            response_deserializer=audit_pb2.GetCheckpointResponse.FromString)

    def checkpoint(self, size=0):
        return self.get(audit_pb2.GetCheckpointRequest(tree_size=size),
                        metadata=harness.bearer(self.auditor), timeout=10)

    def write(self):
        """One write (a principal): one record, one checkpoint."""
        self.n += 1
        t = time.monotonic()
        self.srv.create_principal("%s-%d" % (self.prefix, self.n), "OBSERVER")
        return time.monotonic() - t

    def until(self, what, fn, timeout=30):
        end = time.monotonic() + timeout
        while True:
            r = fn()
            if r:
                return r
            if time.monotonic() > end:
                raise AssertionError("no %s within %d s; tallinnd said:\n%s" % (
                    what, timeout, self.srv.text()[-4000:]))
            time.sleep(0.1)

    def server_args(self):
        return ["--server", self.srv.addr, "--insecure", "--key", self.vkey,
                "--token-file", self.token_file]

    def stop(self):
        self.ch.close()
        rc = self.srv.stop()
        assert rc == 0, "tallinnd exited %d:\n%s" % (rc, self.srv.text()[-3000:])


def cosigned_by(note, *ws):
    """The witnesses among ws whose cosignature on note verifies (nacl)."""
    out = []
    for w in ws:
        try:
            open_cosignature(note, w.vkey)
            out.append(w)
        except Exception:
            pass
    return out


def test_cosignatures_arrive(w):
    for _ in range(3):
        w.write()
    r = w.until("quorum on the newest checkpoint",
                lambda: (lambda c: c if c.cosignatures == 2 and c.quorum_signed_note ==
                         c.signed_note else None)(w.checkpoint()))
    _, size, _ = open_checkpoint(r.signed_note, w.vkey)
    assert cosigned_by(r.signed_note, w.a, w.b, w.c) == [w.a, w.b]
    assert r.witness_quorum == 2 and r.witnesses == 3, r
    # Kept in the database, one line per (size, witness).
    rows = harness.db_query(w.data, "SELECT witness, size FROM audit_cosignatures WHERE size = %d"
                            % size)
    assert sorted(x for x, _ in rows) == sorted([w.a.vkey, w.b.vkey]), rows
    rows = dict(harness.db_query(w.data, "SELECT witness, size FROM audit_witnesses"))
    assert int(rows[w.a.vkey]) == size and int(rows[w.b.vkey]) == size, rows
    # An earlier checkpoint by size: its own cosignatures (if any), no quorum field.
    older = w.checkpoint(size - 1)
    assert older.quorum_signed_note == b"" and older.witness_quorum == 2
    assert len(cosigned_by(older.signed_note, w.a, w.b)) == older.cosignatures


def test_refusal_logged(w):
    # Lines are read from tallinnd's stderr by a pump thread: wait for them.
    line = w.until("the refusal line", lambda: next(
        (x for x in reversed(w.srv.log) if "event=witness_refused" in x), None))
    assert re.match(r"ts=\S+ level=error ", line) and "witness=witness.xx/other" in line, line
    assert "http_status=404" in line and re.search(r" count=\d+ ", line), line
    assert w.auditor not in w.srv.text() and w.srv.admin_token not in w.srv.text()
    print("     " + line.strip())


def test_witness_metrics(w):
    """/metrics counts each witness's answers by outcome: A cosigned, the
    witness of another log refused; promtool accepts the page."""
    port = int(w.srv.wait_log(r"event=metrics_listening .*port=(\d+)").group(1))
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics")
    r = c.getresponse()
    page = r.read().decode()
    c.close()
    assert r.status == 200, (r.status, page[:300])

    def value(name, **labels):
        want = ",".join('%s="%s"' % kv for kv in labels.items())
        m = re.search(r"^%s\{%s\} (\S+)$" % (re.escape(name), re.escape(want)), page, re.M)
        assert m, "no %s{%s} in:\n%s" % (name, want, page)
        return float(m.group(1))

    assert re.search(r"^tallinn_witness_quorum 2$", page, re.M), page
    assert value("tallinn_witness_answers_total", witness="witness.ee/tallinn",
                 outcome="cosigned") >= 1
    assert value("tallinn_witness_answers_total", witness="witness.xx/other",
                 outcome="refused") >= 1
    assert value("tallinn_witness_answers_total", witness="witness.ee/tallinn",
                 outcome="inconsistent") == 0
    assert value("tallinn_witness_requests_total", witness="witness.xx/other") >= 1
    assert value("tallinn_witness_cosigned_size", witness="witness.ee/tallinn") >= 1
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: scripts/install-deps installs Debian's prometheus"
    p = subprocess.run([promtool, "check", "metrics"], input=page, capture_output=True,
                       text=True)
    assert p.returncode == 0, "promtool check metrics:\n" + p.stdout + p.stderr


def test_verify_server_quorum(w):
    state = os.path.join(w.tmp, "state")
    tool([AUDIT, "verify"] + w.server_args() + ["--state", state, "--witness", w.a.vkey,
                                                "--witness", w.b.vkey, "--quorum", "2"],
         says=["verified", "2 of 2 cosigned (quorum 2)"])
    # The witness that does not know the log never cosigns: a quorum with it fails.
    tool([AUDIT, "verify"] + w.server_args() + ["--state", state + "2", "--witness", w.a.vkey,
                                                "--witness", w.c.vkey, "--quorum", "2"],
         rc=8, says="SECURITY ERROR")
    assert not os.path.exists(state + "2")


def test_export_keeps_cosignatures(w):
    d = os.path.join(w.tmp, "export")
    tool([CTL, "--addr", w.srv.addr, "--insecure", "--token-file", w.token_file,
          "audit", "export", d])
    note = open(os.path.join(d, "checkpoint"), "rb").read()
    assert cosigned_by(note, w.a, w.b) == [w.a, w.b], note
    tool([AUDIT, "verify", d, "--key", w.vkey, "--witness", w.a.vkey, "--witness", w.b.vkey,
          "--quorum", "2"], says="2 of 2 cosigned (quorum 2)")


def test_forged_row_not_trusted(w):
    """A cosignature row written behind the server's back (a configured
    witness's key ID, a signature that does not verify) is served as it is
    (verifiers check every line: SECURITY ERROR), but never makes its
    checkpoint the quorum checkpoint."""
    c = w.checkpoint()
    _, size, _ = open_checkpoint(c.signed_note, w.vkey)
    assert c.quorum_signed_note == c.signed_note
    key_id = bytes.fromhex(w.c.vkey.split("+")[1])
    line = ("\u2014 witness.xx/other %s\n" % base64.b64encode(
        key_id + (1700000000).to_bytes(8, "big") + bytes(64)).decode()).encode()
    harness.db_query(w.data, "INSERT INTO audit_cosignatures(size, witness, line, time) "
                     "VALUES(%d, '%s', %s, 0)" % (size, w.c.vkey, harness.hexblob(line)))
    try:
        f = w.checkpoint()
        assert f.cosignatures == 3 and line in f.signed_note, f
        assert f.quorum_signed_note != f.signed_note, "a forged line made a quorum"
        tool([AUDIT, "verify"] + w.server_args() + ["--state", os.path.join(w.tmp, "s-forged"),
                                                    "--witness", w.a.vkey, "--witness",
                                                    w.b.vkey, "--witness", w.c.vkey,
                                                    "--quorum", "2"],
             rc=8, says=["SECURITY ERROR", "invalid cosignature"])
    finally:
        harness.db_query(w.data, "DELETE FROM audit_cosignatures WHERE witness = '%s'" %
                         w.c.vkey)
    assert w.checkpoint().quorum_signed_note == c.signed_note


def test_down_witness_blocks_nothing(w):
    before = w.checkpoint()
    _, qsize, _ = open_checkpoint(before.quorum_signed_note, w.vkey)
    port = w.b.port
    # Slow first: stopped, its socket still accepts but nothing answers.
    w.b.signal(signal.SIGSTOP)
    times = [w.write() for _ in range(5)]
    # A write waits for its batch, never for a witness (timeouts are 2 s).
    assert max(times) < 1.5, times
    print("     writes with a witness hanging: %s s" % " ".join("%.3f" % t for t in times))
    r = w.until("A's cosignature without B", lambda: (lambda c: c if c.cosignatures == 1 and
                                                      cosigned_by(c.signed_note, w.a) else None)(
                                                          w.checkpoint()))
    _, size, _ = open_checkpoint(r.signed_note, w.vkey)
    assert size > qsize
    _, q, _ = open_checkpoint(r.quorum_signed_note, w.vkey)
    assert q == qsize, (q, qsize)
    w.until("the timeout logged", lambda: any("event=witness_unavailable" in x and
                                              "witness=witness.ca/tallinn" in x
                                              for x in w.srv.log))
    # verify --quorum 2 (the default: every --witness) checks the older
    # checkpoint the quorum reached.
    tool([AUDIT, "verify"] + w.server_args() + ["--state", os.path.join(w.tmp, "s-down"),
                                                "--witness", w.a.vkey, "--witness", w.b.vkey],
         says=["verified", "size:             %d" % qsize, "awaits their cosignatures"])
    # So does an export with --cosigned; the plain one (the latest, A only)
    # is a SECURITY ERROR for the same verifier.
    for flag, rc, says in (("--cosigned", 0, "size:             %d" % qsize),
                           (None, 8, "SECURITY ERROR")):
        d = os.path.join(w.tmp, "export-down" + (flag or ""))
        tool([CTL, "--addr", w.srv.addr, "--insecure", "--token-file", w.token_file,
              "audit", "export", d] + ([flag] if flag else []))
        tool([AUDIT, "verify", d, "--key", w.vkey, "--witness", w.a.vkey, "--witness",
              w.b.vkey], rc=rc, says=says)
    # Then down: killed, and writes still go on.
    w.b.proc.kill()
    w.b.proc.wait()
    times = [w.write() for _ in range(3)]
    assert max(times) < 1.5, times
    # Back on the same port and directory: it cosigns the newest checkpoint.
    w.b = harness.Witness(AUDIT, w.b.dir, "witness.ca/tallinn", [w.vkey], env=TOOL_ENV,
                          port=port)
    r = w.until("B's cosignature after its restart",
                lambda: (lambda c: c if c.quorum_signed_note == c.signed_note and
                         c.cosignatures == 2 else None)(w.checkpoint()), timeout=60)
    assert cosigned_by(r.signed_note, w.a, w.b) == [w.a, w.b]
    w.until("the recovery line", lambda: any(
        "event=witness_recovered witness=witness.ca/tallinn" in x for x in w.srv.log))
    print("     quorum stayed at size %d while B hung (newest %d); B back: %s" % (
        qsize, size, [x.strip() for x in w.srv.log if "event=witness_recovered" in x][-1]))


def test_restart_learns_from_database(w):
    """A new tallinnd process sends from the sizes in the database: the
    witnesses never see a 409 (old size 0) from it."""
    w.stop()
    na = len(w.a.log)
    w.start()
    w.write()
    w.until("the quorum after a restart",
            lambda: (lambda c: c if c.quorum_signed_note == c.signed_note and
                     c.cosignatures == 2 else None)(w.checkpoint()))
    fresh = w.until("A's answer in its log", lambda: (lambda t: t if ": 200 cosigned" in t
                                                      else None)("".join(w.a.log[na:])))
    assert ": 409" not in fresh, fresh
    w.stop()
    stats = w.until("the witness_stats lines", lambda: (lambda x: x if len(x) == 3 else None)(
        [x for x in w.srv.log if "event=witness_stats" in x]))
    assert any("witness=witness.xx/other" in x and "refused=0" not in x for x in stats), stats


def test_configuration_refused(w):
    """Bad witness settings stop tallinnd before it opens anything (exit 2),
    saying which."""
    base = [TALLINND, "--listen", "127.0.0.1:0", "--data-dir", w.data, "--insecure"]
    good = "%s %s" % (w.a.vkey, w.a.url)
    ini = os.path.join(w.tmp, "witnesses.ini")

    def refused(extra, says):
        r = subprocess.run(base + extra, capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and says in r.stderr, (extra, r.returncode, r.stderr)

    refused(["--witness", "%s %s" % (w.vkey, w.a.url)], "log")  # a log key, not a witness's
    refused(["--witness", w.a.vkey], "'VKEY URL'")
    refused(["--witness", "%s http://u:secret@127.0.0.1:1" % w.a.vkey], "credentials")
    refused(["--witness", "%s http://192.0.2.1:80" % w.a.vkey], "https")
    refused(["--witness", good, "--witness-quorum", "2"], "--witness-quorum 2")
    refused(["--witness", good, "--witness", good], "given twice")
    with open(ini, "w") as f:
        f.write("quorum = 1\n[ee]\nkey = %s\n" % w.a.vkey)
    refused(["--witnesses-file", ini], "needs key = and url =")
    with open(ini, "w") as f:
        f.write("[ee]\nkey = %s\nurl = %s\npassword = x\n" % (w.a.vkey, w.a.url))
    refused(["--witnesses-file", ini], "line 4")
    with open(ini, "w") as f:
        f.write("quorum = 3\n[ee]\nkey = %s\nurl = %s\n[ca]\nkey = %s\nurl = %s\n" % (
            w.a.vkey, w.a.url, w.b.vkey, w.b.url))
    refused(["--witnesses-file", ini], "--witness-quorum 3, but 2")


def newest(w, n):
    """The newest checkpoint once it carries n cosignatures."""
    return w.until("%d cosignatures" % n, lambda: (lambda c: c if c.cosignatures == n else None)(
        w.checkpoint()))


def test_split_view(w):
    """The issue's split view, from the server's side: a forked copy of the
    data under the same key shows witness B another history than the
    original shows witness A. Each verifier demanding both (quorum 2) gets
    a SECURITY ERROR from either server; once the fork asks A too, A
    refuses (422) and the fork logs it loudly and counts it."""
    fork = copy.copy(w)
    fork.data = harness.copy_data(w.data, os.path.join(w.tmp, "var-fork"))
    fork.prefix = "fork"
    w.start([w.a], quorum=1)
    fork.start([w.b], quorum=1)
    try:
        w.write()
        fork.write()
        mine, theirs = newest(w, 1), newest(fork, 1)
        _, size, root = open_checkpoint(mine.signed_note, w.vkey)
        _, fsize, froot = open_checkpoint(theirs.signed_note, w.vkey)
        assert size == fsize and root != froot, "not a fork"
        assert cosigned_by(mine.signed_note, w.a, w.b) == [w.a]
        assert cosigned_by(theirs.signed_note, w.a, w.b) == [w.b]
        for view in (w, fork):
            tool([AUDIT, "verify"] + view.server_args() + [
                "--state", os.path.join(w.tmp, "split-" + view.prefix), "--witness", w.a.vkey,
                "--witness", w.b.vkey, "--quorum", "2"], rc=8,
                says=["SECURITY ERROR", "1 of the 2 witnesses cosigned"])
        fork.stop()
        fork.start([w.a, w.b], quorum=2)
        line = fork.until("A's refusal of the fork", lambda: next(
            (x for x in fork.srv.log if "event=witness_inconsistent" in x), None))
        assert re.match(r"ts=\S+ level=error ", line) and "witness=witness.ee/tallinn" in line, line
        assert "http_status=422" in line and "size=%d" % size in line, line
        print("     " + line.strip())
        c = fork.checkpoint()
        assert c.cosignatures == 1 and c.quorum_signed_note != c.signed_note, c
    finally:
        fork.stop()
        w.stop()


def test_replica_shares_cosignatures(w):
    """PostgreSQL: a second replica of one database serves the cosignatures
    the first collected and sends nothing the witnesses cosigned already."""
    if harness.PG is None:
        print("     (PostgreSQL only: one SQLite database has one server)")
        return
    w.start()
    replica = copy.copy(w)
    replica.data = os.path.join(w.tmp, "var-replica")
    shutil.copytree(w.data, replica.data)
    try:
        w.write()
        c = w.until("the quorum", lambda: (lambda c: c if c.quorum_signed_note == c.signed_note
                                           and c.cosignatures == 2 else None)(w.checkpoint()))
        na, nb = len(w.a.log), len(w.b.log)
        replica.start(share_with=w.data)
        r = replica.checkpoint()
        assert r.signed_note == c.signed_note and r.cosignatures == 2, r
        assert r.quorum_signed_note == c.quorum_signed_note
        time.sleep(1.5)  # a poll interval and more: it would have sent by now
        assert len(w.a.log) == na and len(w.b.log) == nb, (w.a.log[na:], w.b.log[nb:])
    finally:
        replica.stop()
        w.stop()


def main():
    cases = harness.Cases()
    w = World()
    try:
        cases.run("configuration_refused", test_configuration_refused, w)
        cases.run("cosignatures_arrive", test_cosignatures_arrive, w)
        cases.run("refusal_logged", test_refusal_logged, w)
        cases.run("witness_metrics", test_witness_metrics, w)
        cases.run("verify_server_quorum", test_verify_server_quorum, w)
        cases.run("export_keeps_cosignatures", test_export_keeps_cosignatures, w)
        cases.run("forged_row_not_trusted", test_forged_row_not_trusted, w)
        cases.run("down_witness_blocks_nothing", test_down_witness_blocks_nothing, w)
        cases.run("restart_learns_from_database", test_restart_learns_from_database, w)
        cases.run("replica_shares_cosignatures", test_replica_shares_cosignatures, w)
        cases.run("split_view", test_split_view, w)
    finally:
        for s in (w.srv, w.a, w.b, w.c):
            if s is not None and s.proc.poll() is None:
                s.stop()
    if cases.failed == 0:
        shutil.rmtree(w.tmp, ignore_errors=True)
    cases.finish()


if __name__ == "__main__":
    main()
