"""PostgreSQL crash test: under concurrent write load through tallinnd, the
database server itself is stopped with `pg_ctl stop -m immediate` (every
PostgreSQL process quits at once, no shutdown checkpoint: what a power cut
leaves, WAL replay at the next start) and started again, several times.
tallinnd keeps running throughout. Checked each round: while the database is
down calls fail with UNAVAILABLE (never another code, never a hang); once it
is back the same tallinnd serves again without a restart; every write a
client saw acknowledged is there unchanged; the log only grew (every signed
checkpoint consistent with every later one, RFC 9162 proofs checked with the
independent tests/integration/tlog_ref.py). At the end `tallinn-audit verify
--server` passes and a restarted tallinnd's start-up verification too.

Its own cluster (tests/pg/pgcluster.py), never the shared one of the .pg
tests, which must stay up.

usage: pg_crash_test.py TALLINND TALLINN-AUDIT [--rounds N] [--seed S]
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "pg"))
import harness  # noqa: E402
import pgcluster  # noqa: E402
from tlog_ref import open_checkpoint, verify_consistency  # noqa: E402

need_pb2, audit_pb2 = harness.protos("tallinn/v1/need.proto", "tallinn/v1/audit.proto")
Code = grpc.StatusCode


def unary(ch, path, req_cls, resp_cls):
    return ch.unary_unary(path, request_serializer=req_cls.SerializeToString,
                          response_deserializer=resp_cls.FromString)


class Load:
    """Writers creating needs with client-chosen ids until the first failure
    each; they keep what was acknowledged and the codes of the failures."""

    def __init__(self, addr, token, threads=8):
        self.acked, self.codes = [], []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.ch = grpc.insecure_channel(addr)
        self.create = unary(self.ch, "/tallinn.v1.NeedService/CreateNeed",
                            need_pb2.CreateNeedRequest, need_pb2.Need)
        self.md = harness.bearer(token)
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(threads)]
        for t in self.threads:
            t.start()

    def run(self, n):
        i = 0
        while not self.stop.is_set() and i < 100000:
            nid = "p%s-%d-%d" % (os.urandom(3).hex(), n, i)
            i += 1
            need = need_pb2.Need(title="pg crash " + nid, description="d", beneficiary="b",
                                 region="Kharkiv", sector=1, category=1, priority=2)
            need.estimated_cost.currency_code = "EUR"
            need.estimated_cost.units = 1000 + i
            try:
                r = self.create(need_pb2.CreateNeedRequest(need=need, need_id=nid),
                                metadata=self.md, timeout=15)
            except grpc.RpcError as e:
                with self.lock:
                    self.codes.append(e.code())
                return
            with self.lock:
                self.acked.append((r.name, r.estimated_cost.units, r.etag))

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)
        self.ch.close()


def until_served(call, deadline_s=60):
    """Calls call() until it succeeds (the database is back): its result.
    Only UNAVAILABLE is an acceptable failure meanwhile."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            return call()
        except grpc.RpcError as e:
            assert e.code() == Code.UNAVAILABLE, "while reconnecting: %s %s" % (e.code(),
                                                                               e.details())
            assert time.monotonic() < end, "tallinnd did not recover within %d s" % deadline_s
            time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tallinnd")
    ap.add_argument("audit")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    print("seed %d, %d rounds" % (args.seed, args.rounds))
    sys.stdout.flush()

    cluster = pgcluster.Cluster().start()
    tmp = tempfile.mkdtemp(prefix="tallinn-pgcrash-")
    os.environ["PGPASSFILE"] = cluster.passfile
    url = cluster.url(cluster.create_database())
    data = os.path.join(tmp, "var")
    srv = None
    cases = harness.Cases()
    try:
        subprocess.run([args.tallinnd, "init", "--data-dir", data, "--database", url], check=True,
                       capture_output=True)
        argv = [args.tallinnd, "--listen", "127.0.0.1:0", "--data-dir", data, "--insecure",
                "--quiet", "--database", url]
        srv = harness.Server(argv, harness.PORT_RE)
        with open(os.path.join(data, "admin.token")) as f:
            srv.admin_token = f.read().strip()
        fo = harness.Tallinnd.create_principal(srv, "pgcrash-fo", "FRONT_OFFICE")
        auditor = harness.Tallinnd.create_principal(srv, "pgcrash-auditor", "AUDITOR")
        token_file = os.path.join(tmp, "auditor.token")
        with open(token_file, "w") as f:
            f.write(auditor)
        vkey = [l.split("audit_key=")[1].split()[0] for l in srv.log if "audit_key=" in l][0]

        ch = grpc.insecure_channel(srv.addr)
        get = unary(ch, "/tallinn.v1.NeedService/GetNeed", need_pb2.GetNeedRequest, need_pb2.Need)
        ckpt = unary(ch, "/tallinn.v1.AuditService/GetCheckpoint",
                     audit_pb2.GetCheckpointRequest, audit_pb2.GetCheckpointResponse)
        cons = unary(ch, "/tallinn.v1.AuditService/GetConsistencyProof",
                     audit_pb2.GetConsistencyProofRequest, audit_pb2.GetConsistencyProofResponse)
        md_fo, md_aud = harness.bearer(fo), harness.bearer(auditor)
        acked_all, checkpoints = [], {}

        for n in range(args.rounds):
            load = Load(srv.addr, fo)
            time.sleep(rnd.uniform(0.3, 1.5))
            cluster.crash()  # pg_ctl stop -m immediate, mid-write
            load.join()
            acked_all.extend(load.acked)

            def while_down(load=load):
                assert srv.proc.poll() is None, "tallinnd died with its database:\n" + srv.text()
                bad = [c for c in load.codes if c != Code.UNAVAILABLE]
                assert not bad, "writes failed with %s, not UNAVAILABLE" % bad
                harness.expect_code(get, Code.UNAVAILABLE,
                                    need_pb2.GetNeedRequest(name=load.acked[0][0]),
                                    metadata=md_fo, timeout=15)

            cases.run("round %d: the database down: UNAVAILABLE" % n, while_down)
            cluster.restart()  # WAL replay

            def after(n=n, batch=len(load.acked), acked=list(acked_all)):
                until_served(lambda: get(need_pb2.GetNeedRequest(name=acked[0][0]),
                                         metadata=md_fo, timeout=15))
                for name, units, etag in acked:
                    r = get(need_pb2.GetNeedRequest(name=name), metadata=md_fo, timeout=15)
                    assert r.estimated_cost.units == units and r.etag == etag, \
                        "%s changed after the crash" % name
                _, size, root = open_checkpoint(
                    ckpt(audit_pb2.GetCheckpointRequest(), metadata=md_aud, timeout=15).signed_note,
                    vkey)
                assert size >= len(acked), "log of %d records for %d acknowledged writes" % (
                    size, len(acked))
                for old_size, old_root in sorted(checkpoints.items()):
                    p = cons(audit_pb2.GetConsistencyProofRequest(first_size=old_size,
                                                                  second_size=size),
                             metadata=md_aud, timeout=15)
                    assert verify_consistency(old_size, size, old_root, root, list(p.hashes)), \
                        "checkpoint %d is not consistent with %d" % (old_size, size)
                checkpoints[size] = root
                print("  round %d: %d acknowledged this round, %d in all, log size %d" %
                      (n, batch, len(acked), size))

            cases.run("round %d: back without a restart, acknowledged writes all there" % n,
                      after)
        ch.close()

        def audit_verifies():
            r = subprocess.run([args.audit, "verify", "--server", srv.addr, "--insecure",
                                "--key", vkey, "--token-file", token_file,
                                "--state", os.path.join(tmp, "state")],
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stdout + r.stderr

        cases.run("tallinn-audit verify --server", audit_verifies)
        rc = srv.stop()
        cases.run("clean exit", lambda: None if rc == 0 else (_ for _ in ()).throw(
            AssertionError("exit %d\n%s" % (rc, srv.text()[-3000:]))))
        srv = harness.Server(argv, harness.PORT_RE)  # start-up verification of the whole log
        rc = srv.stop()
        cases.run("restart verifies the log, clean exit", lambda: None if rc == 0 else
                  (_ for _ in ()).throw(AssertionError("exit %d\n%s" % (rc, srv.text()))))
        srv = None
    finally:
        if srv is not None and srv.proc.poll() is None:
            srv.proc.kill()
        cluster.remove()
        if cases.failed == 0:
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
    cases.finish()


main()
