"""A PostgreSQL connection lost exactly while a write batch commits
(issue 11, STORE_INDOUBT): tallinnd reaches its database through a proxy in
this test that speaks enough of PostgreSQL's wire protocol to find the COMMIT
of a write transaction, and cuts both sides there — once after the database
answered COMMIT (the batch is stored; the answer never arrives) and once
before the COMMIT reached it (the database rolls back). Either way tallinnd
cannot know, so the caller must hear UNAVAILABLE "may or may not have been
made; retry with the same request_id", never a plain failure; the retry with
the same request_id must answer the one need (stored once, not twice); the
server must go on writing on a fresh connection; and the audit log must stay
one log: `tallinn-audit verify --server` with the state from before the cut
and the offline verification of an export pass.

PostgreSQL only: the `pg` fixture's cluster (integration.pg_indoubt).
usage: pg_indoubt_test.py TALLINND TALLINNCTL TALLINN-AUDIT"""
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import types

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

TALLINND, CTL, AUDIT = sys.argv[1:4]
Code = grpc.StatusCode
PG = harness.PG
need_pb2, = harness.protos("tallinn/v1/need.proto")
SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104


WF = harness.load_workflow(TALLINND)


class Proxy:
    """A loopback TCP proxy to the cluster that follows each connection's
    PostgreSQL messages (frontend: Query, Parse, Bind; backend:
    CommandComplete) and, when armed, cuts the first write transaction's
    COMMIT: mode "after" drops the database's CommandComplete "COMMIT" and
    closes both sides (stored, never acknowledged), mode "before" closes both
    sides instead of passing the COMMIT on (never stored). Only the COMMIT of
    a write transaction that remembered a request is cut: one begun with
    "... READ WRITE" (how tallinnd's committer begins its batches) in which
    a row went into `requests` (a write carrying a request_id; reads and
    the principals' last-use writes are never cut)."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.lock = threading.Lock()
        self.mode = None      # None, "after" or "before": what the next cut is
        self.cuts = []        # the cuts made, in order
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, mode):
        with self.lock:
            self.mode = mode

    def _take(self, mode):
        """True (and disarmed) if the proxy is armed for this cut."""
        with self.lock:
            if self.mode != mode:
                return False
            self.mode = None
            self.cuts.append(mode)
            return True

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.upstream))
            for s in (c, u):  # message by message: no Nagle delay between them
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = types.SimpleNamespace(client=c, server=u, write_tx=False, remembers=False,
                                         statements={}, owed_bytes=0, closed=False)
            threading.Thread(target=self._frontend, args=(conn,), daemon=True).start()
            threading.Thread(target=self._backend, args=(conn,), daemon=True).start()

    @staticmethod
    def _recv_exact(s, n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _close(self, conn):
        conn.closed = True
        for s in (conn.client, conn.server):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _frontend(self, conn):
        """Client to database: the untyped start-up messages, then typed ones."""
        try:
            while True:  # SSLRequest / GSSENCRequest (answered by one byte), then StartupMessage
                head = self._recv_exact(conn.client, 8)
                length, code = struct.unpack("!II", head)
                body = self._recv_exact(conn.client, length - 8)
                if code in (SSL_REQUEST, GSSENC_REQUEST):
                    conn.owed_bytes += 1
                    conn.server.sendall(head + body)
                    continue
                conn.server.sendall(head + body)
                break
            while True:
                kind = self._recv_exact(conn.client, 1)
                length, = struct.unpack("!I", self._recv_exact(conn.client, 4))
                body = self._recv_exact(conn.client, length - 4)
                text = None
                if kind == b"Q":
                    text = body.split(b"\0", 1)[0]
                elif kind == b"P":
                    name, query = body.split(b"\0", 2)[:2]
                    conn.statements[name] = query
                elif kind == b"B":
                    stmt = body.split(b"\0", 2)[1]
                    text = conn.statements.get(stmt, b"")
                if text is not None:
                    t = text.strip().upper()
                    if t.startswith(b"BEGIN") and b"READ WRITE" in t:
                        conn.write_tx = True
                    elif t.startswith(b"INSERT INTO REQUESTS"):
                        conn.remembers = conn.write_tx
                    elif t == b"COMMIT" and conn.remembers and self._take("before"):
                        self._close(conn)
                        return
                conn.server.sendall(kind + struct.pack("!I", length) + body)
        except (EOFError, OSError):
            if not conn.closed:
                self._close(conn)

    def _backend(self, conn):
        """Database to client: typed messages (after any one-byte answers)."""
        try:
            while True:
                if conn.owed_bytes > 0:
                    b = self._recv_exact(conn.server, 1)
                    conn.owed_bytes -= 1
                    assert b == b"N", "the cluster accepted SSL/GSS: the proxy cannot read it"
                    conn.client.sendall(b)
                    continue
                kind = self._recv_exact(conn.server, 1)
                length, = struct.unpack("!I", self._recv_exact(conn.server, 4))
                body = self._recv_exact(conn.server, length - 4)
                if kind == b"C":
                    tag = body.split(b"\0", 1)[0]
                    if tag in (b"COMMIT", b"ROLLBACK"):
                        if tag == b"COMMIT" and conn.remembers and self._take("after"):
                            self._close(conn)
                            return
                        conn.write_tx = conn.remembers = False
                conn.client.sendall(kind + struct.pack("!I", length) + body)
        except (EOFError, OSError):
            if not conn.closed:
                self._close(conn)

    def close(self):
        self.sock.close()


def serve(data, proxy):
    """tallinnd on the test database, reached only through the proxy."""
    url = PG.url(harness.database_name(data)).replace(":%d/" % PG.port, ":%d/" % proxy.port)
    assert ":%d/" % proxy.port in url, url
    return harness.Tallinnd(TALLINND, data=data, database=url + "?sslmode=disable")


def titled(data, title):
    return int(harness.db_query(data, "SELECT count(*) FROM needs WHERE title = '%s'" %
                                title)[0][0])


def verify(addr, vkey, token_file, state):
    r = subprocess.run([AUDIT, "verify", "--server", addr, "--insecure", "--key", vkey,
                        "--token-file", token_file, "--state", state],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "verify --server: %s%s" % (r.stdout, r.stderr)


def cut_once(api, data, proxy, mode):
    """One CreateNeed whose batch's COMMIT is cut (mode), then its retry."""
    title = "in doubt (%s) %s" % (mode, WF.rid())
    req = need_pb2.CreateNeedRequest(need=WF.need_msg(title=title), need_id=WF.uid("doubt"),
                                     request_id=WF.rid())
    proxy.arm(mode)
    try:
        api.N.CreateNeed(req)
        raise AssertionError("%s: the cut CreateNeed was acknowledged" % mode)
    except grpc.RpcError as e:
        assert e.code() == Code.UNAVAILABLE, "%s: %s %s" % (mode, e.code(), e.details())
        assert "may or may not have been made" in e.details() and "request_id" in e.details(), \
            "%s: the answer does not say the write is in doubt: %r" % (mode, e.details())
    assert proxy.cuts[-1:] == [mode], "%s: the proxy made no cut (%s)" % (mode, proxy.cuts)
    stored = titled(data, title)
    assert stored == (1 if mode == "after" else 0), "%s: %d stored before the retry" % (mode, stored)
    again = api.N.CreateNeed(req)  # the same request_id: the one need
    assert again.title == title and again.name.endswith(req.need_id), again
    got = api.N.GetNeed(need_pb2.GetNeedRequest(name=again.name))
    assert got.etag == again.etag, (got.etag, again.etag)
    assert titled(data, title) == 1, "%s: stored %d times" % (mode, titled(data, title))
    return again


def main():
    tmp = tempfile.mkdtemp(prefix="tallinn-indoubt-")
    data = os.path.join(tmp, "var")
    out = harness.init_data(TALLINND, data).stdout
    vkey = [l for l in out.splitlines() if "+" in l and " " not in l][-1]
    proxy = Proxy(PG.port)
    srv = serve(data, proxy)
    cases = harness.Cases()
    try:
        who = WF.Principals(srv)
        token_file = os.path.join(tmp, "auditor.token")
        with open(token_file, "w") as f:
            f.write(srv.create_principal("indoubt-auditor", "AUDITOR") + "\n")
        api = WF.Api(srv.addr, who)
        state = os.path.join(tmp, "verifier.state")
        WF.create_need(api, title="before any cut")
        verify(srv.addr, vkey, token_file, state)

        cases.run("COMMIT stored, its answer lost: UNAVAILABLE 'may or may not', the retry "
                  "answers the one need", cut_once, api, data, proxy, "after")
        cases.run("COMMIT never reached the database: UNAVAILABLE 'may or may not', the retry "
                  "stores it once", cut_once, api, data, proxy, "before")

        def after_the_cuts():
            for i in range(5):  # the server writes on, on fresh connections
                WF.create_need(api, title="after the cuts %d" % i)
            verify(srv.addr, vkey, token_file, state)  # one log, extending the first check
            export = os.path.join(tmp, "export")
            subprocess.run([CTL, "--addr", srv.addr, "--insecure", "--token-file", token_file,
                            "audit", "export", export], check=True, capture_output=True,
                           timeout=120)
            r = subprocess.run([AUDIT, "verify", export, "--key", vkey], capture_output=True,
                               text=True, timeout=120)
            assert r.returncode == 0 and "verified" in r.stdout, r.stdout + r.stderr
            cut = srv.wait_log(r"(?s)(method=/tallinn\.v1\.NeedService/CreateNeed code=UNAVAILABLE"
                               r".*){2}")  # both cut calls in the call log, as UNAVAILABLE
            assert cut
        cases.run("writes go on; verify --server with the state from before the cuts; the "
                  "export verifies offline", after_the_cuts)
    finally:
        srv.stop()
        proxy.close()
    return cases.finish()


if __name__ == "__main__":
    sys.exit(main())
