"""What only the PostgreSQL engine has (issue 11): the database URL and its
password rules, start-up refusals in one line (a URL with a password, a
wrong URL, an unreachable server, a wrong database or password, a schema
newer than the binary, PGPASSWORD), connections over the unix socket,
synchronous_commit turned on where the database turned it off, text
ordered in byte order in a database whose own collation is not (ICU
English), and keyset pages served by index range scans with no sort at any
depth (every statement's plan logged by auto_explain and read back).

Runs on the throwaway cluster of the `pg` fixture: integration.pg_engine.
usage: pg_engine_test.py TALLINND"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BIN = sys.argv[1]
need_pb2, = harness.protos("tallinn/v1/need.proto")
Code = grpc.StatusCode
PG = harness.PG
SECRET = "hunter2-" + os.urandom(4).hex()  # must never be echoed


def refused(argv, says, env=None, code=1):
    """tallinnd with argv must exit `code` at once with one line saying
    `says`, echoing no secret."""
    e = dict(os.environ)
    e.update(env or {})
    t = time.monotonic()
    p = subprocess.run([BIN] + argv, capture_output=True, text=True, timeout=60, env=e)
    lines = [l for l in p.stderr.splitlines() if " event=error " in l or " event=usage " in l]
    assert p.returncode == code, "exit %d (want %d): %s" % (p.returncode, code, p.stderr)
    assert len(lines) == 1 and says in lines[0], "want one line saying %r:\n%s" % (says, p.stderr)
    assert SECRET not in p.stderr + p.stdout, "the secret was echoed: " + p.stderr
    assert "event=listening" not in p.stderr
    assert time.monotonic() - t < 30
    return lines[0]


def serve_argv(data, url):
    return ["--listen", "127.0.0.1:0", "--data-dir", data, "--insecure", "--database", url]


def test_startup_refusals():
    data = tempfile.mkdtemp(prefix="tallinn-pgengine-") + "/var"
    harness.init_data(BIN, data)
    db = harness.database_name(data)
    port = PG.port
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]  # bound, not listening: connection refused
    for argv, says in (
            (serve_argv(data, "postgresql://tallinn:%s@127.0.0.1:%d/%s" % (SECRET, port, db)),
             "carries a password"),
            (serve_argv(data, "postgresql://tallinn@127.0.0.1:%d/%s?password=%s" %
                        (port, db, SECRET)), "carries a password"),
            (serve_argv(data, "mysql://tallinn:%s@127.0.0.1/x" % SECRET), "not a PostgreSQL URL"),
            (serve_argv(data, "postgresql://tallinn@127.0.0.1:%d/%s?%s=1" % (port, db, SECRET)),
             "not a valid libpq URI"),
            (serve_argv(data, "postgresql://tallinn@127.0.0.1:%d/%s" % (dead, db)),
             "cannot connect to PostgreSQL at 127.0.0.1:%d/%s" % (dead, db)),
            (serve_argv(data, "postgresql://tallinn@127.0.0.1:%d/no_such_db" % port),
             "does not exist"),
            (["init", "--data-dir", data + "-2", "--database",
              "postgresql://tallinn:%s@127.0.0.1:%d/%s" % (SECRET, port, db)],
             "carries a password")):
        refused(argv, says)
    s.close()
    url = PG.url(db)
    refused(serve_argv(data, url), "PGPASSWORD is set", env={"PGPASSWORD": SECRET})
    # A wrong password in the password file.
    bad = os.path.join(tempfile.mkdtemp(prefix="tallinn-pgengine-"), "pgpass")
    with open(bad, "w") as f:
        f.write("*:*:*:tallinn:%s\n" % SECRET)
    os.chmod(bad, 0o600)
    refused(serve_argv(data, url), "password authentication failed", env={"PGPASSFILE": bad})
    # A schema newer than this binary (then the version it had, whatever
    # number of migrations this build holds).
    applied = PG.psql("SELECT version FROM schema_version WHERE id = 1", db=db).strip()
    assert applied.isdigit() and int(applied) >= 1, applied
    PG.psql("UPDATE schema_version SET version = 99", db=db)
    refused(serve_argv(data, url), "has schema version 99, newer than this tallinnd")
    refused(["init", "--data-dir", data + "-3", "--database", url], "newer than this tallinnd")
    PG.psql("UPDATE schema_version SET version = %s" % applied, db=db)
    # An initialised database is not initialised again from another directory.
    refused(["init", "--data-dir", data + "-4", "--database", url], "initialised already")
    assert not os.path.exists(os.path.join(data + "-4", "audit.key")), "init wrote keys anyway"
    # `tallinnd backup` is SQLite's; PostgreSQL has its own tools.
    refused(["backup", "--data-dir", data, "--to", data + ".bak", "--database", url], "pg_dump",
            code=2)
    # And over the unix socket, it serves; a database whose sessions default
    # to synchronous_commit = off gets it on for tallinnd's, and says so.
    PG.psql("ALTER DATABASE %s SET synchronous_commit = off" % db)
    sock_url = "postgresql://tallinn@/%s?host=%s&port=%d" % (db, PG.sock, port)
    srv = harness.Server([BIN] + serve_argv(data, sock_url) + ["--quiet"], harness.PORT_RE)
    PG.psql("ALTER DATABASE %s RESET synchronous_commit" % db)
    assert "engine=postgresql" in srv.text() and srv.stop() == 0, srv.text()
    assert "event=pg_synchronous_commit" in srv.text(), srv.text()


def test_byte_order_and_index_scans():
    db_extra = ("ALTER DATABASE %s SET session_preload_libraries = 'auto_explain';"
                "ALTER DATABASE %s SET auto_explain.log_min_duration = 0;"
                "ALTER DATABASE %s SET auto_explain.log_nested_statements = off;")
    data = tempfile.mkdtemp(prefix="tallinn-pgengine-") + "/var"
    harness.init_data(BIN, data)
    db = harness.database_name(data)
    srv = harness.Tallinnd(BIN, "--quiet", data=data)
    try:
        fo = srv.create_principal("pg-fo", "FRONT_OFFICE")
        bo = srv.create_principal("pg-bo", "BACK_OFFICE")
        ch = grpc.insecure_channel(srv.addr)
        create = ch.unary_unary("/tallinn.v1.NeedService/CreateNeed",
                                request_serializer=need_pb2.CreateNeedRequest.SerializeToString,
                                response_deserializer=need_pb2.Need.FromString)
        lst = ch.unary_unary("/tallinn.v1.NeedService/ListNeeds",
                             request_serializer=need_pb2.ListNeedsRequest.SerializeToString,
                             response_deserializer=need_pb2.ListNeedsResponse.FromString)
        titles = ["b", "B", "a", "A", "\u00e9t\u00e9", "Z", "z", "_x", "0", "\u00c9"]
        for t in titles:
            n = need_pb2.Need(title=t, description="d", beneficiary="b", region="Kyiv",
                              sector=1, category=1, priority=2)
            n.estimated_cost.currency_code = "EUR"
            n.estimated_cost.units = 1
            create(need_pb2.CreateNeedRequest(need=n), metadata=harness.bearer(fo), timeout=10)
        got, token = [], ""
        while True:  # pages of 3: the seek compares text in byte order too
            r = lst(need_pb2.ListNeedsRequest(page_size=3, order_by="title", page_token=token),
                    metadata=harness.bearer(bo), timeout=10)
            got += [n.title for n in r.needs]
            token = r.next_page_token
            if not token:
                break
        want = sorted(titles, key=lambda s: s.encode())
        assert got == want, "not byte order: %s (want %s)" % (got, want)
        # The database's own collation would have said otherwise:
        icu = PG.psql("SELECT string_agg(t, '|' ORDER BY t) FROM unnest(ARRAY['b','B','a','A'])"
                      " AS t", db=db).strip()
        assert icu.split("|") != sorted(["b", "B", "a", "A"]), icu

        # 3,000 more needs, then deep pages in three orders with every plan logged.
        PG.psql(db_extra % (db, db, db))
        srv.stop()
        srv = harness.Tallinnd(BIN, "--quiet", data=data)  # new sessions: auto_explain loaded
        ch = grpc.insecure_channel(srv.addr)
        create = ch.unary_unary("/tallinn.v1.NeedService/CreateNeed",
                                request_serializer=need_pb2.CreateNeedRequest.SerializeToString,
                                response_deserializer=need_pb2.Need.FromString)
        lst = ch.unary_unary("/tallinn.v1.NeedService/ListNeeds",
                             request_serializer=need_pb2.ListNeedsRequest.SerializeToString,
                             response_deserializer=need_pb2.ListNeedsResponse.FromString)
        import threading

        def bulk(k):  # real creates: the stored message and its columns agree
            for i in range(250):
                n = need_pb2.Need(title="bulk %d-%d" % (k, i), description="d", beneficiary="b",
                                  region="Kyiv", sector=1, category=1, priority=1 + (i % 4))
                n.estimated_cost.currency_code = "EUR"
                n.estimated_cost.units = 1
                create(need_pb2.CreateNeedRequest(need=n), metadata=harness.bearer(fo),
                       timeout=30)

        ts = [threading.Thread(target=bulk, args=(k,)) for k in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        PG.psql("ANALYZE needs", db=db)
        log_at = os.path.getsize(PG.log)
        for order in ("create_time", "priority, create_time desc", "create_time desc"):
            token, pages = "", 0
            while pages < 30:
                r = lst(need_pb2.ListNeedsRequest(page_size=50, order_by=order, page_token=token),
                        metadata=harness.bearer(bo), timeout=10)
                pages += 1
                token = r.next_page_token
                if not token:
                    break
            assert pages == 30, (order, pages)
        ch.close()
        time.sleep(0.5)
        with open(PG.log, errors="replace") as f:
            f.seek(log_at)
            text = f.read()
        # the seek arms (a page answered as stored also selects the columns
        # it decides on: SELECT data, sensitivity, create_time, name FROM …)
        plans = [p for p in text.split("LOG:  duration: ")
                 if re.search(r"Query Text: SELECT data(, [a-z_]+)* FROM needs WHERE", p)]
        assert len(plans) >= 60, "too few seek plans logged (%d): is auto_explain there?" % (
            len(plans))
        for p in plans:
            plan = p.split("Query Text:", 1)[1].split("\n", 1)[1]
            assert "Index Scan" in plan and "Seq Scan" not in plan and \
                not re.search(r"\bSort\b", plan), "a keyset page not served by an index range:\n" + p
        print("     %d keyset page plans: all index scans, no sort" % len(plans))
        PG.psql("ALTER DATABASE %s RESET ALL" % db)
    finally:
        srv.stop()


def main():
    if PG is None:
        print("this test needs TALLINN_TEST_ENGINE=postgresql (ctest: integration.pg_engine)")
        sys.exit(1)
    cases = harness.Cases()
    cases.run("start-up refusals in one line, no secret echoed; the unix socket",
              test_startup_refusals)
    cases.run("text in byte order under an ICU database; keyset pages by index range",
              test_byte_order_and_index_scans)
    cases.finish()


main()
