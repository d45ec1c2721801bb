"""Disk full and read-only storage, with the data directory on a small tmpfs
(mounted here; the test runs as root like CI). Full: writes fail with
RESOURCE_EXHAUSTED / UNAVAILABLE and a clear log line while reads keep working,
nothing is corrupted, writes resume when space returns, and a restart verifies
the audit log and finds every acknowledged write. Read-only (the kernel refuses
a read-only remount under a running writer, so the server starts on it): a
warning line, reads served, writes refused with UNAVAILABLE saying so, and
writes back once the storage is writable.

On PostgreSQL (integration.diskfull.pg) the database lives in a tablespace
on the small tmpfs: full is SQLSTATE 53100, with the same answers and the
same recovery; a read-only database (default_transaction_read_only) is
refused at start with one line, and served again once writable."""
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
        srv.wait_log(r"event=write_batch_failed")  # the failed write's log line

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
            srv3.wait_log(r"event=read_only")
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


def pg_serve(data):
    return harness.Server([BIN, "--listen", "127.0.0.1:0", "--data-dir", data, "--insecure",
                           "--quiet"] + harness.database_args(data), harness.PORT_RE)


def test_pg_disk_full():
    import base64
    import pwd
    pg = harness.PG
    mnt = tempfile.mkdtemp(prefix="tallinn-disk-")
    mount(mnt, "size=12m,mode=0700")  # a new database takes about 7.5 MiB of it
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(mnt, pw.pw_uid, pw.pw_gid)
    ts = "ts_" + os.urandom(4).hex()
    srv = db = None
    try:
        pg.psql("CREATE TABLESPACE %s LOCATION '%s'" % (ts, mnt))
        db = "full_" + os.urandom(4).hex()
        pg.psql("CREATE DATABASE %s OWNER tallinn TEMPLATE template0 ENCODING 'UTF8' "
                "TABLESPACE %s" % (db, ts))
        data = tempfile.mkdtemp(prefix="tallinn-disk-") + "/var"
        harness._databases[os.path.realpath(data)] = db
        harness.init_data(BIN, data)
        with open(os.path.join(data, "admin.token")) as f:
            admin = f.read().strip()
        srv = pg_serve(data)
        srv.admin_token = admin
        fo = harness.Tallinnd.create_principal(srv, "disk-fo", "FRONT_OFFICE")
        ch = grpc.insecure_channel(srv.addr)
        md = harness.bearer(fo)
        create = unary(ch, "/tallinn.v1.NeedService/CreateNeed", need_pb2.CreateNeedRequest,
                       need_pb2.Need)
        get = unary(ch, "/tallinn.v1.NeedService/GetNeed", need_pb2.GetNeedRequest, need_pb2.Need)
        lst = unary(ch, "/tallinn.v1.NeedService/ListNeeds", need_pb2.ListNeedsRequest,
                    need_pb2.ListNeedsResponse)
        acked, err = [], None
        for i in range(5000):  # 12 MiB fill up long before this bound
            n = need(i)  # PostgreSQL compresses repeated text: fill with random text
            n.description = base64.b64encode(os.urandom(1500)).decode()
            try:
                acked.append(create(need_pb2.CreateNeedRequest(need=n), metadata=md,
                                    timeout=10).name)
            except grpc.RpcError as e:
                err = e
                break
        assert err is not None, "the disk never filled"
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (err.code(), err.details())
        assert "storage" in err.details() and "retry" in err.details(), err.details()
        # The log line: the statement that met the full disk may be a job's
        # (that job alone fails) or the batch's audit tail (the batch fails).
        srv.wait_log(r"level=warn event=pg_error sqlstate=53100 db=127\.0\.0\.1:\d+/%s " % db)
        assert acked, "nothing was written before the disk filled"
        assert get(need_pb2.GetNeedRequest(name=acked[0]), metadata=md, timeout=10).name
        assert len(lst(need_pb2.ListNeedsRequest(page_size=10), metadata=md, timeout=10).needs) == 10
        subprocess.run(["mount", "-o", "remount,size=64m", mnt], check=True)
        acked.append(create(need_pb2.CreateNeedRequest(need=need(9999)), metadata=md,
                            timeout=10).name)
        ch.close()
        assert srv.stop() == 0, srv.text()
        srv = None
        # nothing corrupted: a restart verifies the audit log and finds every write
        srv2 = pg_serve(data)
        try:
            ch = grpc.insecure_channel(srv2.addr)
            get = unary(ch, "/tallinn.v1.NeedService/GetNeed", need_pb2.GetNeedRequest,
                        need_pb2.Need)
            for name in acked:
                get(need_pb2.GetNeedRequest(name=name), metadata=md, timeout=10)
            ch.close()
        finally:
            assert srv2.stop() == 0, srv2.text()
        # a read-only database: one line and a non-zero exit, then served again
        pg.psql("ALTER DATABASE %s SET default_transaction_read_only = on" % db)
        p = subprocess.run([BIN, "--listen", "127.0.0.1:0", "--data-dir", data, "--insecure"] +
                           harness.database_args(data), capture_output=True, text=True,
                           timeout=60)
        err_lines = [l for l in p.stderr.splitlines() if " event=error " in l or " event=usage " in l]
        assert p.returncode == 1 and len(err_lines) == 1 and "read-only" in err_lines[0], p.stderr
        assert "event=listening" not in p.stderr
        pg.psql("ALTER DATABASE %s RESET default_transaction_read_only" % db)
        srv4 = pg_serve(data)
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
        if db is not None:
            pg.psql("DROP DATABASE IF EXISTS %s" % db)
        pg.psql("DROP TABLESPACE IF EXISTS %s" % ts)
        subprocess.run(["umount", "-l", mnt])


cases = harness.Cases()
if harness.PG is not None:
    cases.run("database full, space returns, restart verifies, read-only database refused",
              test_pg_disk_full)
else:
    cases.run("disk full, space returns, restart verifies, read-only storage", test_disk_full)
cases.finish()
