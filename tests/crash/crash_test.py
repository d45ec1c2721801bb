"""Crash test: under concurrent write load, kill -9 tallinnd at random moments,
restart it each time, and check that every write a client saw acknowledged is
there, that nothing half-written is visible, that the server's own start-up
verification of the audit log passes, and that every checkpoint it ever
signed is consistent with every later one (checked with the independent
RFC 9162 / C2SP verifier in tests/integration/tlog_ref.py).

usage: crash_test.py TALLINND [--rounds N] [--seed S]
"""
import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402

need_pb2, audit_pb2 = harness.protos("tallinn/v1/need.proto", "tallinn/v1/audit.proto")


def unary(ch, path, req_cls, resp_cls):
    return ch.unary_unary(path, request_serializer=req_cls.SerializeToString,
                          response_deserializer=resp_cls.FromString)


from tlog_ref import open_checkpoint, verify_consistency  # noqa: E402


class Load:
    """Writers creating needs with client-chosen ids; they remember which
    creations were acknowledged."""

    def __init__(self, addr, token, threads=8):
        self.acked = []
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
            nid = "c%s-%d-%d" % (os.urandom(3).hex(), n, i)
            i += 1
            need = need_pb2.Need(title="crash " + nid, description="d", beneficiary="b",
                                 region="Kyiv", sector=1, category=1, priority=2,
                                 estimated_cost=need_pb2.Need().estimated_cost)
            need.estimated_cost.currency_code = "EUR"
            need.estimated_cost.units = 1000 + i
            try:
                r = self.create(need_pb2.CreateNeedRequest(need=need, need_id=nid),
                                metadata=self.md, timeout=5)
            except grpc.RpcError:
                return  # the server is gone: this writer stops
            with self.lock:
                self.acked.append((r.name, r.estimated_cost.units, r.etag))

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)
        self.ch.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tallinnd")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    print("seed %d, %d rounds" % (args.seed, args.rounds))

    srv = harness.Tallinnd(args.tallinnd, "--quiet")
    fo = srv.create_principal("crash-fo", "FRONT_OFFICE")
    auditor = srv.create_principal("crash-auditor", "AUDITOR")
    data = srv.data
    vkey = None
    for line in srv.log:
        if "audit_key=" in line:
            vkey = line.split("audit_key=")[1].split()[0]
    assert vkey, "the server did not print its verifier key"

    acked_all = []
    checkpoints = {}  # size -> root, every checkpoint seen
    cases = harness.Cases()
    for rnd_no in range(args.rounds):
        load = Load(srv.addr, fo)
        time.sleep(rnd.uniform(0.3, 1.5))
        srv.proc.send_signal(signal.SIGKILL)  # mid-write, no warning
        srv.proc.wait(10)
        load.join()
        acked_all.extend(load.acked)

        # Restart on the same data: its start-up check of the audit log must pass.
        srv = harness.Server([args.tallinnd, "--listen", "127.0.0.1:0", "--data-dir", data,
                              "--insecure", "--quiet"] + harness.database_args(data),
                             harness.PORT_RE)

        def check_round(srv=srv, n=rnd_no, acked=list(acked_all), batch=len(load.acked)):
            ch = grpc.insecure_channel(srv.addr)
            get = unary(ch, "/tallinn.v1.NeedService/GetNeed", need_pb2.GetNeedRequest, need_pb2.Need)
            for name, units, etag in acked:
                r = get(need_pb2.GetNeedRequest(name=name), metadata=harness.bearer(fo), timeout=10)
                assert r.estimated_cost.units == units and r.etag == etag and r.state == 1, \
                    "%s changed after the crash" % name
            ckpt = unary(ch, "/tallinn.v1.AuditService/GetCheckpoint",
                         audit_pb2.GetCheckpointRequest, audit_pb2.GetCheckpointResponse)
            cons = unary(ch, "/tallinn.v1.AuditService/GetConsistencyProof",
                         audit_pb2.GetConsistencyProofRequest, audit_pb2.GetConsistencyProofResponse)
            md = harness.bearer(auditor)
            _, size, root = open_checkpoint(ckpt(audit_pb2.GetCheckpointRequest(), metadata=md,
                                                 timeout=10).signed_note, vkey)
            # every acknowledged create has its record: the log only grows
            assert size >= len(acked), "log of %d records for %d acknowledged writes" % (size, len(acked))
            for old_size, old_root in sorted(checkpoints.items()):
                p = cons(audit_pb2.GetConsistencyProofRequest(first_size=old_size, second_size=size),
                         metadata=md, timeout=10)
                assert verify_consistency(old_size, size, old_root, root, list(p.hashes)), \
                    "checkpoint %d is not consistent with %d" % (old_size, size)
            checkpoints[size] = root
            ch.close()
            print("  round %d: %d acknowledged this round, %d in all, log size %d" %
                  (n, batch, len(acked), size))

        cases.run("round %d: acknowledged writes survive kill -9" % rnd_no, check_round)
    rc = srv.stop()
    cases.run("clean exit after the last restart", lambda: None if rc == 0 else
              (_ for _ in ()).throw(AssertionError("exit %d\n%s" % (rc, srv.text()))))
    cases.finish()


main()
