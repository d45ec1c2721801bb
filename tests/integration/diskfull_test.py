"""Disk full and read-only storage, with the data directory on a small tmpfs
(mounted here; the test runs as root like CI). Full: writes fail with
RESOURCE_EXHAUSTED / UNAVAILABLE and a clear log line while reads keep working,
nothing is corrupted, writes resume when space returns, and a restart verifies
the audit log and finds every acknowledged write. Read-only (the kernel refuses
a read-only remount under a running writer, so the server starts on it): a
warning line, reads served, writes refused with UNAVAILABLE saying so, and
writes back once the storage is writable."""
import os
import subprocess
import sys
import tempfile

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BIN = sys.argv[1]
need_pb2, = harness.protos("tallinn/v1/need.proto")


def unary(ch, path, req, resp):
    return ch.unary_unary(path, request_serializer=req.SerializeToString,
                          response_deserializer=resp.FromString)


def need(i):
    n = need_pb2.Need(title="disk %d" % i, description="x" * 2000, beneficiary="b",
                      region="Odesa", sector=3, category=4, priority=4)
    n.estimated_cost.currency_code = "EUR"
    n.estimated_cost.units = 10 + i
    return n


def mount(mnt, opts):
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", mnt], check=True)


def test_disk_full():
    mnt = tempfile.mkdtemp(prefix="tallinn-disk-")
    mount(mnt, "size=6m,mode=0700")
    srv = None
    try:
        srv = harness.Tallinnd.__new__(harness.Tallinnd)
        data = os.path.join(mnt, "var")
        subprocess.run([BIN, "init", "--data-dir", data], check=True, capture_output=True)
        srv.data = data
        with open(os.path.join(data, "admin.token")) as f:
            srv.admin_token = f.read().strip()
        harness.Server.__init__(srv, [BIN, "--listen", "127.0.0.1:0", "--data-dir", data,
                                      "--insecure", "--quiet"], harness.PORT_RE)
        fo = srv.create_principal("disk-fo", "FRONT_OFFICE")
        ch = grpc.insecure_channel(srv.addr)
        md = harness.bearer(fo)
        create = unary(ch, "/tallinn.v1.NeedService/CreateNeed", need_pb2.CreateNeedRequest, need_pb2.Need)
        get = unary(ch, "/tallinn.v1.NeedService/GetNeed", need_pb2.GetNeedRequest, need_pb2.Need)
        lst = unary(ch, "/tallinn.v1.NeedService/ListNeeds", need_pb2.ListNeedsRequest,
                    need_pb2.ListNeedsResponse)

        acked = []
        err = None
        for i in range(5000):  # 6 MiB fill up long before this bound
            try:
                acked.append(create(need_pb2.CreateNeedRequest(need=need(i)), metadata=md,
                                    timeout=10).name)
            except grpc.RpcError as e:
                err = e
                break
        assert err is not None, "the disk never filled"
        assert err.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE), err
        assert "storage" in err.details() and "retry" in err.details(), err.details()
        assert acked, "nothing was written before the disk filled"
        # reads keep working while full
        assert get(need_pb2.GetNeedRequest(name=acked[0]), metadata=md, timeout=10).name == acked[0]
        assert len(lst(need_pb2.ListNeedsRequest(page_size=10), metadata=md, timeout=10).needs) == 10
        assert "event=write_batch_failed" in srv.text(), "no log line for the failed write"

        # space returns: writes resume
        subprocess.run(["mount", "-o", "remount,size=64m", mnt], check=True)
        acked.append(create(need_pb2.CreateNeedRequest(need=need(9999)), metadata=md, timeout=10).name)

        ch.close()
        assert srv.stop() == 0, srv.text()

        # nothing corrupted: a restart verifies the audit log and finds every write
        srv2 = harness.Server([BIN, "--listen", "127.0.0.1:0", "--data-dir", data, "--insecure",
                               "--quiet"], harness.PORT_RE)
        try:
            ch = grpc.insecure_channel(srv2.addr)
            get = unary(ch, "/tallinn.v1.NeedService/GetNeed", need_pb2.GetNeedRequest, need_pb2.Need)
            for name in acked:
                get(need_pb2.GetNeedRequest(name=name), metadata=md, timeout=10)
            ch.close()
        finally:
            assert srv2.stop() == 0, srv2.text()

        # read-only data directory: reads are served, writes refused, then
        # writable again and writes resume
        subprocess.run(["mount", "-o", "remount,ro", mnt], check=True)
        srv3 = harness.Server([BIN, "--listen", "127.0.0.1:0", "--data-dir", data, "--insecure"],
                              harness.PORT_RE)
        try:
            assert "event=read_only" in srv3.text(), srv3.text()
            ch = grpc.insecure_channel(srv3.addr)
            get = unary(ch, "/tallinn.v1.NeedService/GetNeed", need_pb2.GetNeedRequest, need_pb2.Need)
            create = unary(ch, "/tallinn.v1.NeedService/CreateNeed", need_pb2.CreateNeedRequest,
                           need_pb2.Need)
            lst = unary(ch, "/tallinn.v1.NeedService/ListNeeds", need_pb2.ListNeedsRequest,
                        need_pb2.ListNeedsResponse)
            assert get(need_pb2.GetNeedRequest(name=acked[-1]), metadata=md, timeout=10).name
            assert len(lst(need_pb2.ListNeedsRequest(page_size=5), metadata=md, timeout=10).needs) == 5
            err = harness.expect_code(create, grpc.StatusCode.UNAVAILABLE,
                                      need_pb2.CreateNeedRequest(need=need(20000)), metadata=md,
                                      timeout=10)
            assert "read-only" in err.details(), err.details()
            ch.close()
        finally:
            assert srv3.stop() == 0, srv3.text()
        subprocess.run(["mount", "-o", "remount,rw", mnt], check=True)
        srv4 = harness.Server([BIN, "--listen", "127.0.0.1:0", "--data-dir", data, "--insecure",
                               "--quiet"], harness.PORT_RE)
        try:
            ch = grpc.insecure_channel(srv4.addr)
            create = unary(ch, "/tallinn.v1.NeedService/CreateNeed", need_pb2.CreateNeedRequest,
                           need_pb2.Need)
            assert create(need_pb2.CreateNeedRequest(need=need(20001)), metadata=md, timeout=10).name
            ch.close()
        finally:
            assert srv4.stop() == 0, srv4.text()
    finally:
        if srv is not None and srv.proc.poll() is None:
            srv.proc.kill()
        subprocess.run(["umount", "-l", mnt])


cases = harness.Cases()
cases.run("disk full, space returns, restart verifies, read-only storage", test_disk_full)
cases.finish()
