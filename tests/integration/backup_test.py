"""Online backup: `tallinnd backup` while writes go on gives a copy that,
restored beside the data directory's keys, starts (so its audit log passed the
server's own verification) and holds every write acknowledged before the
backup began. On PostgreSQL (integration.backup.pg) the same with the
database's own tools, as docs/deploy.md says: pg_dump under load, pg_restore
into a new database; `tallinnd backup` refuses a PostgreSQL database."""
import os
import shutil
import subprocess
import sys
import tempfile
import threading

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BIN = sys.argv[1]
need_pb2, audit_pb2 = harness.protos("tallinn/v1/need.proto", "tallinn/v1/audit.proto")


def unary(ch, path, req, resp):
    return ch.unary_unary(path, request_serializer=req.SerializeToString,
                          response_deserializer=resp.FromString)


def new_need(i):
    n = need_pb2.Need(title="backup %d" % i, description="d", beneficiary="b", region="Lviv",
                      sector=2, category=3, priority=3)
    n.estimated_cost.currency_code = "EUR"
    n.estimated_cost.units = 100 + i
    return n


def test_backup_restore():
    srv = harness.Tallinnd(BIN, "--quiet")
    fo = srv.create_principal("b-fo", "FRONT_OFFICE")
    auditor = srv.create_principal("b-auditor", "AUDITOR")
    ch = grpc.insecure_channel(srv.addr)
    create = unary(ch, "/tallinn.v1.NeedService/CreateNeed", need_pb2.CreateNeedRequest, need_pb2.Need)
    before = [create(need_pb2.CreateNeedRequest(need=new_need(i)), metadata=harness.bearer(fo),
                     timeout=10).name for i in range(200)]
    stop = threading.Event()

    def writer():
        i = 1000
        while not stop.is_set() and i < 200000:
            create(need_pb2.CreateNeedRequest(need=new_need(i)), metadata=harness.bearer(fo), timeout=10)
            i += 1

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    out = tempfile.mkdtemp(prefix="tallinn-backup-") + "/copy.db"
    if harness.PG is not None:
        p = subprocess.run(["pg_dump", "-Fc", "-h", "127.0.0.1", "-p", str(harness.PG.port),
                            "-U", "tallinn", "-f", out, harness.database_name(srv.data)],
                           capture_output=True, text=True, timeout=120)
    else:
        p = subprocess.run([BIN, "backup", "--data-dir", srv.data, "--to", out],
                           capture_output=True, text=True, timeout=120)
    stop.set()
    for t in threads:
        t.join(30)
    assert p.returncode == 0, p.stderr
    again = subprocess.run([BIN, "backup", "--data-dir", srv.data, "--to", out] +
                           harness.database_args(srv.data), capture_output=True, text=True,
                           timeout=60)
    if harness.PG is not None:
        assert again.returncode == 2 and "pg_dump" in again.stderr, again.stderr
    else:
        assert again.returncode != 0 and "exists" in again.stderr, "a backup overwrote a file"
    ch.close()
    assert srv.stop() == 0, srv.text()

    restored = tempfile.mkdtemp(prefix="tallinn-restored-") + "/var"
    os.mkdir(restored, 0o700)
    if harness.PG is not None:  # a new, empty database, restored as its owner
        harness.database_args(restored)
        p = subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", "-h", "127.0.0.1",
                            "-p", str(harness.PG.port), "-U", "tallinn",
                            "-d", harness.database_name(restored), out],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
    else:
        shutil.copy(out, restored + "/tallinn.db")
    for key in ("audit.key", "token.key", "page-token.key"):
        shutil.copy(os.path.join(srv.data, key), restored)
    r = harness.Server([BIN, "--listen", "127.0.0.1:0", "--data-dir", restored, "--insecure",
                        "--quiet"] + harness.database_args(restored), harness.PORT_RE)
    try:
        ch = grpc.insecure_channel(r.addr)
        get = unary(ch, "/tallinn.v1.NeedService/GetNeed", need_pb2.GetNeedRequest, need_pb2.Need)
        for name in before:
            assert get(need_pb2.GetNeedRequest(name=name), metadata=harness.bearer(fo),
                       timeout=10).name == name
        ck = unary(ch, "/tallinn.v1.AuditService/GetCheckpoint", audit_pb2.GetCheckpointRequest,
                   audit_pb2.GetCheckpointResponse)(audit_pb2.GetCheckpointRequest(),
                                                    metadata=harness.bearer(auditor), timeout=10)
        size = int(ck.signed_note.split(b"\n")[1])
        assert size >= len(before) + 2, size  # two principals and the creates before
        ch.close()
    finally:
        assert r.stop() == 0, r.text()


cases = harness.Cases()
cases.run("backup under load, restore, start, read", test_backup_restore)
cases.finish()
