"""Integration test of tallinnd's transport behaviour against python3-grpcio:
health Check/Watch, unknown methods, bad and oversized requests, one log line
per call without metadata values, loopback-only plaintext, and an orderly
SIGTERM shutdown that exits 0 (sanitizer-clean in the test build)."""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BIN = sys.argv[1]
health_pb2, status_pb2 = harness.protos("grpc/health/v1/health.proto", "google/rpc/status.proto")
PORT_RE = r"event=listening .*port=(\d+)"


def start(*extra):
    data = tempfile.mkdtemp(prefix="tallinnd-test-") + "/var"
    harness.init_data(BIN, data)
    return harness.Server([BIN, "--listen", "127.0.0.1:0", "--data-dir", data,
                           "--insecure", "--grace-ms", "3000"] + harness.database_args(data) +
                          list(extra), PORT_RE)


def stubs(addr):
    ch = grpc.insecure_channel(addr)
    check = ch.unary_unary("/grpc.health.v1.Health/Check",
                           request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                           response_deserializer=health_pb2.HealthCheckResponse.FromString)
    watch = ch.unary_stream("/grpc.health.v1.Health/Watch",
                            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                            response_deserializer=health_pb2.HealthCheckResponse.FromString)
    raw = ch.unary_unary("/grpc.health.v1.Health/Check")
    return ch, check, watch, raw


SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def details(err):
    for k, v in err.trailing_metadata() or ():
        if k == "grpc-status-details-bin":
            st = status_pb2.Status()
            st.ParseFromString(v)
            return st
    raise AssertionError("no grpc-status-details-bin trailer")


def test_check(srv):
    _, check, _, _ = stubs(srv.addr)
    assert check(health_pb2.HealthCheckRequest(), timeout=5).status == SERVING
    err = harness.expect_code(check, grpc.StatusCode.NOT_FOUND,
                              health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
    assert "no.such.Service" in err.details()
    st = details(err)
    assert st.code == grpc.StatusCode.NOT_FOUND.value[0] and st.message == err.details()


def test_unimplemented(srv):
    ch = grpc.insecure_channel(srv.addr)
    for path, want in (("/no.such.Service/Method", "unknown service no.such.Service"),
                       ("/grpc.health.v1.Health/Nope", "method /grpc.health.v1.Health/Nope is not implemented")):
        t = time.monotonic()
        err = harness.expect_code(ch.unary_unary(path), grpc.StatusCode.UNIMPLEMENTED, b"", timeout=5)
        took = time.monotonic() - t
        # answered, not left to run into the 5 s deadline
        assert took < 2.5, "UNIMPLEMENTED took %.3f s" % took
        assert err.details() == want, err.details()


def test_bad_requests(srv):
    _, check, _, raw = stubs(srv.addr)
    # A field with tag 1, wire type 7 (no such wire type): not a protobuf message.
    err = harness.expect_code(raw, grpc.StatusCode.INVALID_ARGUMENT, b"\x0f\xff\xfe\x01", timeout=5)
    assert "grpc.health.v1.HealthCheckRequest" in err.details()
    rnd = os.urandom(64)
    rnd = b"\x0a\xff\xff\xff\xff\x0f" + rnd  # a length far past the end
    harness.expect_code(raw, grpc.StatusCode.INVALID_ARGUMENT, rnd, timeout=5)
    harness.expect_code(raw, grpc.StatusCode.RESOURCE_EXHAUSTED, b"\x0a" + b"x" * (5 << 20), timeout=10)
    assert check(health_pb2.HealthCheckRequest(), timeout=5).status == SERVING


def test_log_lines(srv):
    _, check, _, _ = stubs(srv.addr)
    secret = "s3cr3t-token-" + os.urandom(8).hex()
    check(health_pb2.HealthCheckRequest(), timeout=5,
          metadata=(("authorization", "Bearer " + secret), ("x-request-id", secret + "-rid")))
    time.sleep(0.2)
    text = srv.text()
    assert secret not in text, "a metadata value reached the log"
    calls = [l for l in srv.log if "event=call" in l]
    assert calls, "no call log lines"
    fields = dict(kv.split("=", 1) for kv in calls[-1].split())
    for k in ("ts", "method", "code", "duration_ms", "peer", "principal"):
        assert k in fields, "log line lacks %s: %s" % (k, calls[-1])
    assert fields["method"] == "/grpc.health.v1.Health/Check" and fields["code"] == "OK"
    assert fields["peer"].startswith("ipv4:127.0.0.1:")
    float(fields["duration_ms"])


def test_health_per_service(srv):
    """Each served service answers for itself, not only the server ("")."""
    _, check, _, _ = stubs(srv.addr)
    for name in ("tallinn.v1.NeedService", "tallinn.v1.AuditService", "grpc.health.v1.Health",
                 "grpc.reflection.v1.ServerReflection"):
        assert check(health_pb2.HealthCheckRequest(service=name), timeout=5).status == SERVING, name


def test_sigterm_during_watch():
    srv = start()
    _, _, watch, _ = stubs(srv.addr)
    # The whole server and one service: both turn NOT_SERVING as it drains.
    its = [watch(health_pb2.HealthCheckRequest(service=name), timeout=20)
           for name in ("", "tallinn.v1.NeedService")]
    for it in its:
        assert next(it).status == SERVING
    t = time.monotonic()
    srv.signal(signal.SIGTERM)
    for it in its:
        assert next(it).status == NOT_SERVING
        try:
            next(it)
            raise AssertionError("the watch did not end")
        except grpc.RpcError as e:
            assert e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED), e.code()
    rc = srv.wait(10)
    took = time.monotonic() - t
    assert rc == 0, "exit %d:\n%s" % (rc, srv.text())
    assert took < 3.0 + 1.0, "shutdown took %.1f s" % took
    assert "event=stopped" in srv.text()


def test_sigterm_idle():
    srv = start()
    _, check, _, _ = stubs(srv.addr)
    check(health_pb2.HealthCheckRequest(), timeout=5)
    srv.signal(signal.SIGINT)
    assert srv.wait(10) == 0, srv.text()


def test_plaintext_refused_off_loopback():
    for argv, want in ((["--listen", "0.0.0.0:0", "--insecure"], "only on a loopback"),
                       (["--listen", "127.0.0.1:0"], "TLS is the default")):
        p = subprocess.run([BIN, "--data-dir", tempfile.mkdtemp()] + argv,
                           capture_output=True, text=True, timeout=10)
        assert p.returncode == 2, p.returncode
        assert want in p.stderr and p.stderr.count("\n") == 1, p.stderr


def test_bad_flag():
    p = subprocess.run([BIN, "--threads", "lots"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "--threads" in p.stderr, p.stderr


def main():
    cases = harness.Cases()
    srv = start()
    try:
        cases.run("health_check", test_check, srv)
        cases.run("health_per_service", test_health_per_service, srv)
        cases.run("unimplemented_fast", test_unimplemented, srv)
        cases.run("bad_requests", test_bad_requests, srv)
        cases.run("log_lines", test_log_lines, srv)
    finally:
        rc = srv.stop()
    cases.run("clean_exit", lambda: (_ for _ in ()).throw(AssertionError(srv.text())) if rc != 0 else None)
    cases.run("sigterm_during_watch", test_sigterm_during_watch)
    cases.run("sigint_idle", test_sigterm_idle)
    cases.run("plaintext_refused", test_plaintext_refused_off_loopback)
    cases.run("bad_flag", test_bad_flag)
    cases.finish()


main()
