"""Server reflection (v1 and v1alpha) and health per service against a real
tallinnd, from python3-grpcio with the reflection messages generated from
Debian's grpc-proto: the services listed are exactly those of the contract
plus health and reflection; every file comes with its imports, each once per
stream; a descriptor pool built from the answers alone resolves every method
of every service, matches what protoc makes of the .proto files, and is
enough to call the server; every symbol a file defines leads to that file;
unknown names answer NOT_FOUND inside the stream, which stays open.
Run: /usr/bin/python3 reflection_test.py path/to/tallinnd"""
import os
import queue
import subprocess
import sys
import tempfile

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BIN = sys.argv[1]
refl_v1, refl_v1alpha, health_pb2 = harness.protos(
    "grpc/reflection/v1/reflection.proto", "grpc/reflection/v1alpha/reflection.proto",
    "grpc/health/v1/health.proto")
VERSIONS = (("v1", refl_v1), ("v1alpha", refl_v1alpha))
NOT_FOUND = grpc.StatusCode.NOT_FOUND.value[0]
UNIMPLEMENTED = grpc.StatusCode.UNIMPLEMENTED.value[0]
FRAMEWORK = ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
             "grpc.reflection.v1alpha.ServerReflection"]


def protoc_set():
    """What protoc itself makes of the contract and the standard services:
    {file name: FileDescriptorProto}, imports included."""
    v1 = os.path.join(harness.REPO, "proto", "tallinn", "v1")
    files = ["tallinn/v1/" + f for f in sorted(os.listdir(v1)) if f.endswith(".proto")]
    files += ["grpc/health/v1/health.proto", "grpc/reflection/v1/reflection.proto",
              "grpc/reflection/v1alpha/reflection.proto"]
    out = os.path.join(tempfile.mkdtemp(prefix="tallinn-refl-"), "set.binpb")
    subprocess.run(["protoc", "-I" + os.path.join(harness.REPO, "proto"), "-I" + harness.GRPC_PROTO,
                    "-I" + harness.GOOGLEAPIS, "-I" + harness.WKT, "--include_imports",
                    "--descriptor_set_out=" + out] + files, check=True)
    fds = descriptor_pb2.FileDescriptorSet()
    with open(out, "rb") as f:
        fds.ParseFromString(f.read())
    return {f.name: f for f in fds.file}


EXPECTED = protoc_set()
CONTRACT_SERVICES = sorted(f.package + "." + s.name for f in EXPECTED.values()
                           if f.name.startswith("tallinn/") for s in f.service)


class Session:
    """One ServerReflectionInfo stream: ask() sends a request and returns its
    response; close() half-closes and checks the stream ends with OK."""

    def __init__(self, addr, version, mod, metadata=None):
        self.mod, self.q = mod, queue.Queue()
        self.ch = grpc.insecure_channel(addr)
        call = self.ch.stream_stream(
            "/grpc.reflection.%s.ServerReflection/ServerReflectionInfo" % version,
            request_serializer=mod.ServerReflectionRequest.SerializeToString,
            response_deserializer=mod.ServerReflectionResponse.FromString)
        self.it = call(iter(self.q.get, None), metadata=metadata, timeout=60)

    def ask(self, **kw):
        req = self.mod.ServerReflectionRequest(**kw)
        self.q.put(req)
        resp = next(self.it)
        assert resp.original_request == req, "original_request is not the request"
        assert resp.valid_host == req.host
        return resp

    def files(self, **kw):
        """The FileDescriptorProtos of a file_* answer, in order."""
        resp = self.ask(**kw)
        assert resp.WhichOneof("message_response") == "file_descriptor_response", resp
        out = []
        for blob in resp.file_descriptor_response.file_descriptor_proto:
            fdp = descriptor_pb2.FileDescriptorProto()
            fdp.ParseFromString(blob)
            out.append(fdp)
        assert out, "an empty file_descriptor_response"
        return out

    def error(self, **kw):
        resp = self.ask(**kw)
        assert resp.WhichOneof("message_response") == "error_response", resp
        return resp.error_response

    def close(self):
        self.q.put(None)
        assert list(self.it) == []
        self.ch.close()


def symbols(fdp):
    """Every symbol a file defines, as (name, kind)."""
    out = []

    def enum(scope, e):
        out.append((scope + e.name, "enum"))
        out.extend((scope + v.name, "value") for v in e.value)

    def message(scope, m):
        full = scope + m.name
        out.append((full, "message"))
        out.extend((full + "." + f.name, "field") for f in m.field)
        out.extend((full + "." + o.name, "oneof") for o in m.oneof_decl)
        for e in m.enum_type:
            enum(full + ".", e)
        for n in m.nested_type:
            message(full + ".", n)

    pkg = fdp.package + "." if fdp.package else ""
    for m in fdp.message_type:
        message(pkg, m)
    for e in fdp.enum_type:
        enum(pkg, e)
    for s in fdp.service:
        out.append((pkg + s.name, "service"))
        out.extend((pkg + s.name + "." + m.name, "method") for m in s.method)
    return out


def pool_from(files):
    """A descriptor pool built from reflected files only (imports first)."""
    pool, added = descriptor_pool.DescriptorPool(), set()
    pending = dict(files)
    while pending:
        ready = [n for n, f in pending.items() if all(d in added for d in f.dependency)]
        assert ready, "files whose imports never arrive: %s" % sorted(pending)
        for n in sorted(ready):
            pool.Add(pending.pop(n))
            added.add(n)
    return pool


def test_services_and_files(srv, version, mod):
    """list_services, then each service's file: with its imports, each file
    once per stream; the answers alone resolve every method, and equal what
    protoc makes of the .proto files."""
    s = Session(srv.addr, version, mod)
    listed = [x.name for x in s.ask(host="tallinn.test", list_services="").list_services_response.service]
    assert listed == sorted(CONTRACT_SERVICES + FRAMEWORK), listed
    got, sent = {}, set()
    for name in listed:
        files = s.files(file_containing_symbol=name)
        assert name.rsplit(".", 1)[1] in [x.name for x in files[0].service], (name, files[0].name)
        for i, f in enumerate(files):
            # The requested file always; any other only once on this stream.
            assert i == 0 or f.name not in sent, "%s sent twice on one stream" % f.name
            sent.add(f.name)
            got[f.name] = f
    for f in got.values():
        for d in f.dependency:
            assert d in got, "%s imports %s, which never came" % (f.name, d)
        assert f == EXPECTED[f.name], "%s differs from protoc's descriptor" % f.name
    pool = pool_from(got)
    methods = 0
    for name in listed:
        sd = pool.FindServiceByName(name)
        for m in sd.methods:
            pool.FindMessageTypeByName(m.input_type.full_name)
            pool.FindMessageTypeByName(m.output_type.full_name)
            methods += 1
    want = sum(len(sv.method) for f in EXPECTED.values() for sv in f.service
               if (f.package + "." + sv.name) in listed)
    assert methods == want, (methods, want)
    # A new stream starts afresh: the imports come again.
    s.close()
    s = Session(srv.addr, version, mod)
    names = [f.name for f in s.files(file_by_filename="tallinn/v1/need.proto")]
    assert names[0] == "tallinn/v1/need.proto" and len(names) == len(set(names)), names
    closure, todo = set(), ["tallinn/v1/need.proto"]
    while todo:
        n = todo.pop()
        if n not in closure:
            closure.add(n)
            todo.extend(EXPECTED[n].dependency)
    assert set(names) == closure, (names, closure)
    # ... and asked again on the same stream, only the file itself.
    assert [f.name for f in s.files(file_by_filename="tallinn/v1/need.proto")] == [names[0]]
    s.close()
    print("     %s: %d services, %d files, %d methods resolved" % (version, len(listed), len(got),
                                                                    methods))


def test_every_symbol(srv, version, mod):
    """Every message, enum, value, field, oneof, service and method of every
    served file, nested ones included, leads to its file (first in the
    answer), and every file by its name."""
    s = Session(srv.addr, version, mod)
    count = 0
    for fname, fdp in sorted(EXPECTED.items()):
        assert s.files(file_by_filename=fname)[0].name == fname
        for sym, kind in symbols(fdp):
            got = s.files(file_containing_symbol=sym)[0].name
            assert got == fname, "%s %s: got %s, expected %s" % (kind, sym, got, fname)
            count += 1
    nested = [x for f in EXPECTED.values() for x in symbols(f)
              if x[1] in ("message", "enum") and x[0].count(".") > len(f.package.split("."))]
    assert nested, "no nested type in the contract to check"
    s.close()
    print("     %s: %d symbols in %d files" % (version, count, len(EXPECTED)))


def test_errors_keep_the_stream(srv, version, mod):
    s = Session(srv.addr, version, mod)
    e = s.error(file_containing_symbol="tallinn.v1.NoSuchThing")
    assert e.error_code == NOT_FOUND and "tallinn.v1.NoSuchThing" in e.error_message, e
    e = s.error(file_by_filename="tallinn/v1/nope.proto")
    assert e.error_code == NOT_FOUND and "nope.proto" in e.error_message, e
    # The interop test service is built, not served: not described either.
    assert s.error(file_by_filename="grpc/testing/test.proto").error_code == NOT_FOUND
    assert s.error(file_containing_symbol="grpc.testing.TestService").error_code == NOT_FOUND
    e = s.error(file_containing_extension=mod.ExtensionRequest(containing_type="tallinn.v1.Need",
                                                                extension_number=1000))
    assert e.error_code == NOT_FOUND, e
    ext = s.ask(all_extension_numbers_of_type="tallinn.v1.Need").all_extension_numbers_response
    assert ext.base_type_name == "tallinn.v1.Need" and list(ext.extension_number) == [], ext
    for name in ("tallinn.v1.NoSuchMessage", "tallinn.v1.NeedService"):  # a service is no type
        assert s.error(all_extension_numbers_of_type=name).error_code == NOT_FOUND
    # A request of no known kind: UNIMPLEMENTED, and the stream goes on.
    assert s.error(host="x").error_code == UNIMPLEMENTED
    # A name that is not printable text is not echoed as is.
    e = s.error(file_containing_symbol="a\x01b" + "c" * 500)
    assert "\x01" not in e.error_message and len(e.error_message) < 300, e
    assert s.ask(list_services="").list_services_response.service
    s.close()


def test_credentials(srv, version, mod):
    """Public like health: no credentials needed, and a bad token is not
    looked at (the contract is public; every other call still needs one)."""
    for md in (None, (("authorization", "Bearer tln_" + "A" * 43),),
               harness.bearer(srv.admin_token)):
        s = Session(srv.addr, version, mod, metadata=md)
        assert s.ask(list_services="").list_services_response.service
        s.close()


def test_call_from_reflection_alone(srv):
    """What grpcurl does: learn the messages by reflection, then call."""
    s = Session(srv.addr, "v1", refl_v1)
    files = {f.name: f for f in s.files(file_containing_symbol="tallinn.v1.DiagnosticsService")}
    s.close()
    pool = pool_from(files)
    m = pool.FindServiceByName("tallinn.v1.DiagnosticsService").FindMethodByName("GetServerInfo")
    req_cls = message_factory.MessageFactory(pool).GetPrototype(m.input_type)
    resp_cls = message_factory.MessageFactory(pool).GetPrototype(m.output_type)
    ch = grpc.insecure_channel(srv.addr)
    call = ch.unary_unary("/tallinn.v1.DiagnosticsService/GetServerInfo",
                          request_serializer=req_cls.SerializeToString,
                          response_deserializer=resp_cls.FromString)
    info = call(req_cls(), metadata=harness.bearer(srv.admin_token), timeout=10)
    assert info.ListFields(), "an empty ServerInfo"
    harness.expect_code(call, grpc.StatusCode.UNAUTHENTICATED, req_cls(), timeout=10)
    ch.close()


def test_health_per_service(srv):
    """Every listed service answers for itself; unknown names NOT_FOUND."""
    s = Session(srv.addr, "v1", refl_v1)
    listed = [x.name for x in s.ask(list_services="").list_services_response.service]
    s.close()
    ch = grpc.insecure_channel(srv.addr)
    check = ch.unary_unary("/grpc.health.v1.Health/Check",
                           request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                           response_deserializer=health_pb2.HealthCheckResponse.FromString)
    for name in [""] + listed:
        st = check(health_pb2.HealthCheckRequest(service=name), timeout=5).status
        assert st == health_pb2.HealthCheckResponse.SERVING, (name, st)
    harness.expect_code(check, grpc.StatusCode.NOT_FOUND,
                        health_pb2.HealthCheckRequest(service="tallinn.v1.NoSuchService"), timeout=5)
    ch.close()


def main():
    cases = harness.Cases()
    srv = harness.Tallinnd(BIN)
    try:
        for version, mod in VERSIONS:
            cases.run(version + ": services, files with imports, a pool from the answers",
                      test_services_and_files, srv, version, mod)
            cases.run(version + ": every symbol and file", test_every_symbol, srv, version, mod)
            cases.run(version + ": errors inside the stream", test_errors_keep_the_stream, srv,
                      version, mod)
            cases.run(version + ": public, like health", test_credentials, srv, version, mod)
        cases.run("a call built from reflection alone", test_call_from_reflection_alone, srv)
        cases.run("health per served service", test_health_per_service, srv)
    finally:
        rc = srv.stop()
    cases.run("server exits 0", lambda: None if rc == 0 else (_ for _ in ()).throw(
        AssertionError("exit %d:\n%s" % (rc, srv.text()))))
    cases.finish()


main()
