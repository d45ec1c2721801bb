"""Crash test: under concurrent write load, kill -9 tallinnd at random moments,
restart it each time, and check that every write a client saw acknowledged is
there, that nothing half-written is visible, that the server's own start-up
verification of the audit log passes, and that every checkpoint it ever
signed is consistent with every later one (checked here with an independent
RFC 9162 verifier and Ed25519 signatures checked with PyNaCl).

usage: crash_test.py TALLINND [--rounds N] [--seed S]
"""
import argparse
import base64
import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time

import grpc
import nacl.exceptions
import nacl.signing

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402

need_pb2, audit_pb2 = harness.protos("tallinn/v1/need.proto", "tallinn/v1/audit.proto")


def unary(ch, path, req_cls, resp_cls):
    return ch.unary_unary(path, request_serializer=req_cls.SerializeToString,
                          response_deserializer=resp_cls.FromString)


# ---- an independent RFC 9162 consistency verifier (§2.1.4.2) ----
def node(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


def verify_consistency(size1, size2, root1, root2, proof):
    if size1 == size2:
        return not proof and root1 == root2
    if size1 > size2 or size1 == 0:
        return False
    if size1 & (size1 - 1) == 0:  # a power of two: root1 starts the path
        proof = [root1] + list(proof)
    if not proof:
        return False
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == root1 and sr == root2


def parse_vkey(vkey):
    name, keyid, b64 = vkey.split("+", 2)
    raw = base64.b64decode(b64)
    assert raw[0] == 1 and len(raw) == 33, "not an Ed25519 verifier key"
    return name, bytes.fromhex(keyid), nacl.signing.VerifyKey(raw[1:])


def open_checkpoint(note, vkey):
    """Verifies the note's signature; returns (origin, size, root)."""
    name, keyid, vk = parse_vkey(vkey)
    text, sigs = note.split(b"\n\n", 1)
    text += b"\n"
    ok = False
    for line in sigs.decode().splitlines():
        if not line.startswith("\u2014 "):
            continue
        sname, sig = line[2:].split(" ", 1)
        raw = base64.b64decode(sig)
        if sname == name and raw[:4] == keyid:
            vk.verify(text, raw[4:])  # raises on a bad signature
            ok = True
    assert ok, "no signature by the server's key"
    origin, size, root = text.decode().split("\n")[:3]
    return origin, int(size), base64.b64decode(root)


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
                              "--insecure", "--quiet"], harness.PORT_RE)

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
