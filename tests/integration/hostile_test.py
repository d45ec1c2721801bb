"""Slow and hostile clients: many idle connections, a client that never reads
its stream, 10,000 concurrent calls, oversized metadata. Throughout, the
server keeps answering others promptly and its resident memory stays bounded.
The limits are flags (docs/rpc.md)."""
import os
import socket
import sys
import threading
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BIN = sys.argv[1]
diag_pb2, need_pb2, audit_pb2, health_pb2 = harness.protos(
    "tallinn/v1/diagnostics.proto", "tallinn/v1/need.proto", "tallinn/v1/audit.proto",
    "grpc/health/v1/health.proto")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Env:
    def __init__(self):
        self.srv = harness.Tallinnd(BIN, "--quiet", "--max-streams", "64")
        self.token = self.srv.create_principal("h-fo", "FRONT_OFFICE")
        self.auditor = self.srv.create_principal("h-aud", "AUDITOR")
        self.ch = grpc.insecure_channel(self.srv.addr)
        self.noop = self.ch.unary_unary("/tallinn.v1.DiagnosticsService/Noop",
                                        request_serializer=diag_pb2.NoopRequest.SerializeToString,
                                        response_deserializer=diag_pb2.NoopResponse.FromString)

    def probe(self, limit_s=2.0):
        """Another client is served, and promptly."""
        t = time.monotonic()
        self.noop(diag_pb2.NoopRequest(), metadata=harness.bearer(self.token), timeout=10)
        took = time.monotonic() - t
        assert took < limit_s, "a normal call took %.2f s" % took


def test_idle_connections(env):
    host, port = env.srv.addr.split(":")
    socks = []
    try:
        for _ in range(500):  # raw TCP connections that never speak HTTP/2
            s = socket.create_connection((host, int(port)), timeout=5)
            socks.append(s)
        chans = [grpc.insecure_channel(env.srv.addr) for _ in range(50)]
        for c in chans:  # real gRPC connections, then idle
            grpc.channel_ready_future(c).result(timeout=10)
        env.probe()
        for c in chans:
            c.close()
    finally:
        for s in socks:
            s.close()
    env.probe()


def test_never_reads_stream(env):
    # enough records to fill flow-control windows: creates write audit records
    create = env.ch.unary_unary("/tallinn.v1.NeedService/CreateNeed",
                                request_serializer=need_pb2.CreateNeedRequest.SerializeToString,
                                response_deserializer=need_pb2.Need.FromString)
    futs = []
    for i in range(1500):
        n = need_pb2.Need(title="h%d" % i, description="y" * 500, beneficiary="b", region="r",
                          sector=1, category=1, priority=1)
        n.estimated_cost.currency_code = "EUR"
        n.estimated_cost.units = 5
        futs.append(create.future(need_pb2.CreateNeedRequest(need=n),
                                  metadata=harness.bearer(env.token), timeout=60))
    for f in futs:
        f.result()
    slow = grpc.insecure_channel(env.srv.addr, options=[("grpc.http2.lookahead_bytes", 1024)])
    stream = slow.unary_stream("/tallinn.v1.AuditService/StreamAuditRecords",
                               request_serializer=audit_pb2.StreamAuditRecordsRequest.SerializeToString,
                               response_deserializer=audit_pb2.StreamAuditRecordsResponse.FromString)
    calls = [stream(audit_pb2.StreamAuditRecordsRequest(), metadata=harness.bearer(env.auditor),
                    timeout=4) for _ in range(8)]
    first = [next(c) for c in calls]  # started; from here on, never read
    assert all(f.index == 0 for f in first)
    time.sleep(1.0)
    env.probe()
    time.sleep(3.5)  # their deadlines pass: the server drops them
    env.probe()
    slow.close()


def test_ten_thousand_calls(env):
    before = rss_kib(env.srv.proc.pid)
    chans = [grpc.insecure_channel(env.srv.addr, options=[("grpc.use_local_subchannel_pool", 1)])
             for _ in range(8)]
    calls = []
    for i in range(10000):
        c = chans[i % len(chans)]
        noop = c.unary_unary("/tallinn.v1.DiagnosticsService/Noop",
                             request_serializer=diag_pb2.NoopRequest.SerializeToString,
                             response_deserializer=diag_pb2.NoopResponse.FromString)
        calls.append(noop.future(diag_pb2.NoopRequest(), metadata=harness.bearer(env.token),
                                 timeout=120))
    env.probe(limit_s=30.0)
    ok = sum(1 for f in calls if f.exception() is None)
    assert ok == 10000, "%d of 10000 calls succeeded" % ok
    for c in chans:
        c.close()
    after = rss_kib(env.srv.proc.pid)
    print("  rss before %d KiB, after 10,000 calls %d KiB" % (before, after))
    # Under ASan freed memory sits in a 256 MiB quarantine, so the bound is
    # loose here; docs/BENCHMARKS.md has the release build's figure.
    assert after < before + 512 * 1024, "memory grew by %d KiB" % (after - before)


def test_oversized_metadata(env):
    # The offender's own connection may be closed by the server; others
    # (env.ch) must not notice.
    # its own TCP connection (python channels otherwise share one)
    bad = grpc.insecure_channel(env.srv.addr, options=[("grpc.use_local_subchannel_pool", 1)])
    noop = bad.unary_unary("/tallinn.v1.DiagnosticsService/Noop",
                           request_serializer=diag_pb2.NoopRequest.SerializeToString,
                           response_deserializer=diag_pb2.NoopResponse.FromString)
    big = "x" * (64 * 1024)
    env.probe()
    for _ in range(3):
        try:
            noop(diag_pb2.NoopRequest(), metadata=harness.bearer(env.token) + (("x-big", big),),
                 timeout=10)
            raise AssertionError("64 KiB of metadata was accepted")
        except grpc.RpcError as e:
            assert e.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INTERNAL,
                                grpc.StatusCode.UNAVAILABLE), e.code()
        env.probe()
    bad.close()


def main():
    cases = harness.Cases()
    env = Env()
    try:
        cases.run("500 raw + 50 idle gRPC connections", test_idle_connections, env)
        cases.run("clients that never read their stream", test_never_reads_stream, env)
        cases.run("10,000 concurrent calls", test_ten_thousand_calls, env)
        cases.run("oversized metadata", test_oversized_metadata, env)
    finally:
        env.ch.close()
        rc = env.srv.stop()
    cases.run("clean exit", lambda: None if rc == 0 else
              (_ for _ in ()).throw(AssertionError(env.srv.text()[-3000:])))
    cases.finish()


main()
