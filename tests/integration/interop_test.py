#!/usr/bin/python3
"""interop_test.py — drives tallinn-interop-server through the gRPC interop
cases with python3-grpcio, a gRPC stack independent of ours, plus the RPC
runtime's own error paths (size limit, garbage requests, unknown methods).

Message modules are generated at test time with protoc --python_out; calls
use grpcio's generic multicallables, so no grpc_tools are needed.

Usage: interop_test.py --server PATH [--protoc PATH] [--proto-dir DIR]
Prints one line per case and a final "N passed, M failed"; exits 1 on any
failure (including a non-zero server exit status after SIGTERM)."""

import argparse
import importlib.util
import os
import queue
import random
import select
import signal
import subprocess
import sys
import tempfile
import time

import grpc

SVC = "/grpc.testing.TestService/"
SPECIAL_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
ECHO_INITIAL = ("x-grpc-test-echo-initial", "test_initial_metadata_value")
ECHO_TRAILING = ("x-grpc-test-echo-trailing-bin", b"\x0a\x0b\x0a\x0b\x0a\x0b")
CALL_TIMEOUT = 20  # seconds; a hang fails the case instead of the whole run


class CaseFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise CaseFailed(what)


def load_messages(protoc, proto_dir, out_dir):
    """Generates and imports empty_pb2 and messages_pb2 (neither imports
    another .proto). Loaded by path: their package name, grpc.testing, would
    otherwise collide with the grpc package itself."""
    files = ["grpc/testing/empty.proto", "grpc/testing/messages.proto"]
    subprocess.run([protoc, "-I" + proto_dir, "--python_out=" + out_dir] + files, check=True)
    mods = []
    for name in ("empty_pb2", "messages_pb2"):
        path = os.path.join(out_dir, "grpc", "testing", name + ".py")
        spec = importlib.util.spec_from_file_location("interop_" + name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mods.append(mod)
    return mods


class Requests:
    """A request iterator the test feeds one message at a time (ping-pong)."""

    def __init__(self):
        self.q = queue.Queue()

    def __iter__(self):
        return self

    def __next__(self):
        item = self.q.get()
        if item is None:
            raise StopIteration
        return item

    def put(self, msg):
        self.q.put(msg)

    def close(self):
        self.q.put(None)


class Interop:
    def __init__(self, channel, empty_pb2, messages_pb2):
        self.ch = channel
        self.E = empty_pb2
        self.M = messages_pb2

    def _ser(self, m):
        return m.SerializeToString()

    def unary(self, method, resp_cls):
        return self.ch.unary_unary(SVC + method, request_serializer=self._ser,
                                   response_deserializer=resp_cls.FromString)

    def empty_call(self):
        return self.unary("EmptyCall", self.E.Empty)

    def unary_call(self):
        return self.unary("UnaryCall", self.M.SimpleResponse)

    def streaming_output(self):
        return self.ch.unary_stream(SVC + "StreamingOutputCall", request_serializer=self._ser,
                                    response_deserializer=self.M.StreamingOutputCallResponse.FromString)

    def streaming_input(self):
        return self.ch.stream_unary(SVC + "StreamingInputCall", request_serializer=self._ser,
                                    response_deserializer=self.M.StreamingInputCallResponse.FromString)

    def full_duplex(self, method="FullDuplexCall"):
        return self.ch.stream_stream(SVC + method, request_serializer=self._ser,
                                     response_deserializer=self.M.StreamingOutputCallResponse.FromString)

    def payload(self, size):
        return self.M.Payload(type=self.M.COMPRESSABLE, body=b"\0" * size)

    def check_payload(self, payload, size, what):
        check(payload.type == self.M.COMPRESSABLE, "%s: payload type %d" % (what, payload.type))
        check(len(payload.body) == size,
              "%s: payload of %d bytes, expected %d" % (what, len(payload.body), size))
        check(payload.body == b"\0" * size, "%s: payload is not all zeros" % what)

    def out_req(self, sizes, payload_size=0, status=None):
        req = self.M.StreamingOutputCallRequest(
            response_type=self.M.COMPRESSABLE,
            response_parameters=[self.M.ResponseParameters(size=s) for s in sizes])
        if payload_size:
            req.payload.CopyFrom(self.payload(payload_size))
        if status is not None:
            req.response_status.CopyFrom(status)
        return req

    def expect_error(self, fn, code, what, details=None):
        try:
            fn()
        except grpc.RpcError as e:
            check(e.code() == code, "%s: status %s, expected %s (%r)"
                  % (what, e.code(), code, e.details()))
            if details is not None:
                check(e.details() == details,
                      "%s: message %r, expected %r" % (what, e.details(), details))
            return e
        raise CaseFailed("%s: succeeded, expected %s" % (what, code))

    # ---- the interop cases ----

    def empty_unary(self):
        resp = self.empty_call()(self.E.Empty(), timeout=CALL_TIMEOUT)
        check(isinstance(resp, self.E.Empty), "response is not an Empty")
        check(resp.ByteSize() == 0, "Empty response has %d bytes" % resp.ByteSize())

    def large_unary(self):
        req = self.M.SimpleRequest(response_type=self.M.COMPRESSABLE, response_size=314159,
                                   payload=self.payload(271828))
        resp = self.unary_call()(req, timeout=CALL_TIMEOUT)
        self.check_payload(resp.payload, 314159, "response")

    def client_streaming(self):
        sizes = [27182, 8, 1828, 45904]
        reqs = [self.M.StreamingInputCallRequest(payload=self.payload(s)) for s in sizes]
        resp = self.streaming_input()(iter(reqs), timeout=CALL_TIMEOUT)
        check(resp.aggregated_payload_size == 74922,
              "aggregated_payload_size %d, expected 74922" % resp.aggregated_payload_size)

    def server_streaming(self):
        sizes = [31415, 9, 2653, 58979]
        call = self.streaming_output()(self.out_req(sizes), timeout=CALL_TIMEOUT)
        got = list(call)
        check(len(got) == len(sizes), "%d responses, expected %d" % (len(got), len(sizes)))
        for i, (resp, size) in enumerate(zip(got, sizes)):
            self.check_payload(resp.payload, size, "response %d" % i)
        check(call.code() == grpc.StatusCode.OK, "status %s" % call.code())

    def ping_pong(self):
        sizes = [31415, 9, 2653, 58979]
        payloads = [27182, 8, 1828, 45904]
        reqs = Requests()
        call = self.full_duplex()(reqs, timeout=CALL_TIMEOUT)
        try:
            for i, (size, psize) in enumerate(zip(sizes, payloads)):
                reqs.put(self.out_req([size], psize))
                resp = next(call)
                self.check_payload(resp.payload, size, "response %d" % i)
        finally:
            reqs.close()
        rest = list(call)
        check(rest == [], "%d responses after the last request" % len(rest))
        check(call.code() == grpc.StatusCode.OK, "status %s" % call.code())

    def empty_stream(self):
        call = self.full_duplex()(iter([]), timeout=CALL_TIMEOUT)
        got = list(call)
        check(got == [], "%d responses to an empty stream" % len(got))
        check(call.code() == grpc.StatusCode.OK, "status %s" % call.code())

    def cancel_after_begin(self):
        reqs = Requests()
        fut = self.streaming_input().future(reqs, timeout=CALL_TIMEOUT)
        try:
            fut.cancel()
            check(fut.cancelled(), "the call was not cancelled")
            check(fut.code() == grpc.StatusCode.CANCELLED, "status %s" % fut.code())
        finally:
            reqs.close()

    def cancel_after_first_response(self):
        reqs = Requests()
        call = self.full_duplex()(reqs, timeout=CALL_TIMEOUT)
        try:
            reqs.put(self.out_req([31415], 27182))
            resp = next(call)
            self.check_payload(resp.payload, 31415, "first response")
            call.cancel()
            self.expect_error(lambda: next(call), grpc.StatusCode.CANCELLED, "after cancel")
            check(call.code() == grpc.StatusCode.CANCELLED, "status %s" % call.code())
        finally:
            reqs.close()

    def timeout_on_sleeping_server(self):
        reqs = Requests()
        call = self.full_duplex()(reqs, timeout=0.001)
        try:
            reqs.put(self.out_req([], 27182))
            self.expect_error(lambda: list(call), grpc.StatusCode.DEADLINE_EXCEEDED, "stream")
        finally:
            reqs.close()

    def status_code_and_message(self):
        st = self.M.EchoStatus(code=2, message="test status message")
        req = self.M.SimpleRequest(response_status=st)
        self.expect_error(lambda: self.unary_call()(req, timeout=CALL_TIMEOUT),
                          grpc.StatusCode.UNKNOWN, "unary", "test status message")
        reqs = [self.out_req([], status=st)]
        self.expect_error(lambda: list(self.full_duplex()(iter(reqs), timeout=CALL_TIMEOUT)),
                          grpc.StatusCode.UNKNOWN, "bidi", "test status message")

    def special_status_message(self):
        st = self.M.EchoStatus(code=2, message=SPECIAL_MESSAGE)
        req = self.M.SimpleRequest(response_status=st)
        self.expect_error(lambda: self.unary_call()(req, timeout=CALL_TIMEOUT),
                          grpc.StatusCode.UNKNOWN, "unary", SPECIAL_MESSAGE)

    def unimplemented_method(self):
        stub = self.unary("UnimplementedCall", self.E.Empty)
        self.expect_error(lambda: stub(self.E.Empty(), timeout=CALL_TIMEOUT),
                          grpc.StatusCode.UNIMPLEMENTED, "UnimplementedCall")

    def unimplemented_service(self):
        stub = self.ch.unary_unary("/grpc.testing.UnimplementedService/UnimplementedCall",
                                   request_serializer=self._ser,
                                   response_deserializer=self.E.Empty.FromString)
        self.expect_error(lambda: stub(self.E.Empty(), timeout=CALL_TIMEOUT),
                          grpc.StatusCode.UNIMPLEMENTED, "UnimplementedService")

    def _check_echo(self, call, what):
        initial = dict(call.initial_metadata())
        trailing = dict(call.trailing_metadata())
        check(initial.get(ECHO_INITIAL[0]) == ECHO_INITIAL[1],
              "%s: initial metadata %r" % (what, initial.get(ECHO_INITIAL[0])))
        check(trailing.get(ECHO_TRAILING[0]) == ECHO_TRAILING[1],
              "%s: trailing metadata %r" % (what, trailing.get(ECHO_TRAILING[0])))

    def custom_metadata(self):
        md = (ECHO_INITIAL, ECHO_TRAILING)
        req = self.M.SimpleRequest(response_type=self.M.COMPRESSABLE, response_size=314159,
                                   payload=self.payload(271828))
        resp, call = self.unary_call().with_call(req, metadata=md, timeout=CALL_TIMEOUT)
        self.check_payload(resp.payload, 314159, "unary response")
        self._check_echo(call, "unary")

        reqs = Requests()
        call = self.full_duplex()(reqs, metadata=md, timeout=CALL_TIMEOUT)
        try:
            reqs.put(self.out_req([314159], 271828))
            resp = next(call)
            self.check_payload(resp.payload, 314159, "bidi response")
        finally:
            reqs.close()
        rest = list(call)
        check(rest == [], "bidi: %d extra responses" % len(rest))
        check(call.code() == grpc.StatusCode.OK, "bidi: status %s" % call.code())
        self._check_echo(call, "bidi")

    def half_duplex(self):
        sizes = [31415, 9, 2653, 58979]
        reqs = [self.out_req([s]) for s in sizes]
        call = self.full_duplex("HalfDuplexCall")(iter(reqs), timeout=CALL_TIMEOUT)
        got = list(call)
        check(len(got) == len(sizes), "%d responses, expected %d" % (len(got), len(sizes)))
        for i, (resp, size) in enumerate(zip(got, sizes)):
            self.check_payload(resp.payload, size, "response %d" % i)

    # ---- the runtime's error paths ----

    def oversized_request(self):
        req = self.M.SimpleRequest(response_size=1, payload=self.payload(5 * 1024 * 1024))
        e = self.expect_error(lambda: self.unary_call()(req, timeout=CALL_TIMEOUT),
                              grpc.StatusCode.RESOURCE_EXHAUSTED, "5 MiB request")
        # The server must be the one refusing (grpcio sends any size by default).
        check("received from peer" in e.debug_error_string(),
              "the limit was not enforced by the server: %s" % e.debug_error_string())

    def garbage_request(self):
        rng = random.Random(20240)
        data = bytes(rng.getrandbits(8) for _ in range(1024))
        try:
            self.M.SimpleRequest.FromString(data)
            raise CaseFailed("test bug: the random bytes parse as a SimpleRequest")
        except CaseFailed:
            raise
        except Exception:
            pass  # as intended: not a valid message
        raw = self.ch.unary_unary(SVC + "UnaryCall")  # identity (de)serializers
        self.expect_error(lambda: raw(data, timeout=CALL_TIMEOUT),
                          grpc.StatusCode.INVALID_ARGUMENT, "random bytes")

    def garbage_stream_message(self):
        raw = self.ch.stream_stream(SVC + "FullDuplexCall")  # identity (de)serializers
        self.expect_error(lambda: list(raw(iter([b"\xff" * 64]), timeout=CALL_TIMEOUT)),
                          grpc.StatusCode.INVALID_ARGUMENT, "random bytes in a stream")

    def unknown_method_fast(self):
        raw = self.ch.unary_unary(SVC + "NoSuchMethod")
        self.empty_call()(self.E.Empty(), timeout=CALL_TIMEOUT)  # connection is up
        start = time.monotonic()
        self.expect_error(lambda: raw(b"", timeout=CALL_TIMEOUT),
                          grpc.StatusCode.UNIMPLEMENTED, "NoSuchMethod")
        elapsed_ms = (time.monotonic() - start) * 1000
        check(elapsed_ms < 100, "UNIMPLEMENTED took %.1f ms (limit 100 ms)" % elapsed_ms)


CASES = [
    "empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong",
    "empty_stream", "cancel_after_begin", "cancel_after_first_response",
    "timeout_on_sleeping_server", "status_code_and_message", "special_status_message",
    "unimplemented_method", "unimplemented_service", "custom_metadata", "half_duplex",
    "oversized_request", "garbage_request", "garbage_stream_message", "unknown_method_fast",
]


def start_server(path, log, timeout_s=30):
    proc = subprocess.Popen([path, "--port=0", "--host=127.0.0.1"], stdout=subprocess.PIPE,
                            stderr=log, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            break
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            ch = os.read(proc.stdout.fileno(), 1)
            if not ch:
                break
            line += ch
    text = line.decode(errors="replace").strip()
    prefix = "listening on 127.0.0.1:"
    if not text.startswith(prefix) or not text[len(prefix):].isdigit():
        proc.kill()
        proc.wait()
        raise RuntimeError("server did not start (first line %r, exit %s)"
                           % (text, proc.returncode))
    return proc, int(text[len(prefix):])


def tail(path, n=40):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-n:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", required=True)
    ap.add_argument("--protoc", default="protoc")
    ap.add_argument("--proto-dir", default="/usr/share/grpc-proto")
    ap.add_argument("--grace-s", type=float, default=30.0,
                    help="how long the server may take to exit after SIGTERM")
    args = ap.parse_args()

    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="interop-") as tmp:
        empty_pb2, messages_pb2 = load_messages(args.protoc, args.proto_dir, tmp)
        log_path = os.path.join(tmp, "server.log")
        try:
            with open(log_path, "wb") as log:
                proc, port = start_server(args.server, log)
        except (OSError, RuntimeError) as e:
            print("FAIL server_start: %s" % e)
            print("---- server log (tail) ----\n" + tail(log_path), end="")
            print("0 passed, 1 failed", flush=True)
            return 1
        print("server on 127.0.0.1:%d" % port, flush=True)
        channel = grpc.insecure_channel("127.0.0.1:%d" % port)
        t = Interop(channel, empty_pb2, messages_pb2)
        for name in CASES:
            try:
                getattr(t, name)()
                if name != "empty_unary":
                    try:
                        t.empty_unary()
                    except Exception as e:  # noqa: BLE001 - reported as a failure
                        raise CaseFailed("server stopped serving afterwards: %s" % e)
                print("PASS %s" % name, flush=True)
                passed += 1
            except Exception as e:  # noqa: BLE001 - a case failing must not stop the run
                msg = str(e).replace("\n", "\\n")
                print("FAIL %s: %s: %s" % (name, type(e).__name__, msg), flush=True)
                failed += 1
        channel.close()

        # The server must stop cleanly: exit 0 after SIGTERM, sanitizers quiet.
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=args.grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = "timeout"
        log_text = tail(log_path, 100000)
        sanitizer = any(s in log_text for s in ("Sanitizer", "runtime error:"))
        if rc == 0 and not sanitizer:
            print("PASS server_shutdown", flush=True)
            passed += 1
        else:
            print("FAIL server_shutdown: exit status %s%s"
                  % (rc, ", sanitizer report in the log" if sanitizer else ""), flush=True)
            failed += 1
        if failed:
            print("---- server log (tail) ----\n" + tail(log_path), end="", flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
