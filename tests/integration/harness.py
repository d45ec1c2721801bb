"""Shared helpers for integration tests: Python message modules generated from
the project's .proto files at test time, servers started on an ephemeral
loopback port, and a tiny pass/fail counter. Run with /usr/bin/python3 (the
interpreter Debian's python3-grpcio is built for)."""
import importlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

GRPC_PROTO = "/usr/share/grpc-proto"
GOOGLEAPIS = "/usr/share/gocode/src/github.com/gogo/googleapis"
WKT = "/usr/include"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The storage engine every tallinnd of this test runs on: "sqlite" (a file
# in its data directory, the default) or "postgresql" (CTest's `.pg`
# variants: a database of its own per data directory, in the throwaway
# cluster that TALLINN_TEST_PG describes; tests/pg/pgcluster.py).
ENGINE = os.environ.get("TALLINN_TEST_ENGINE", "sqlite")
if ENGINE not in ("sqlite", "postgresql"):
    raise SystemExit("TALLINN_TEST_ENGINE must be sqlite or postgresql, not %r" % ENGINE)
PG = None  # the cluster (pgcluster.Cluster) when ENGINE is postgresql
if ENGINE == "postgresql":
    sys.path.insert(0, os.path.join(REPO, "tests", "pg"))
    import pgcluster  # noqa: E402
    if not os.environ.get("TALLINN_TEST_PG"):
        raise SystemExit("TALLINN_TEST_ENGINE=postgresql needs TALLINN_TEST_PG (the state file "
                         "of `tests/pg/pgcluster.py start`)")
    PG = pgcluster.load(os.environ["TALLINN_TEST_PG"])
    # Every tallinnd and tool this test starts finds the password here: never
    # in a URL, never on a command line.
    os.environ["PGPASSFILE"] = PG.passfile
    print("engine: postgresql (127.0.0.1:%d)" % PG.port)
    sys.stdout.flush()

_databases = {}  # realpath of a data directory -> its database name (PostgreSQL)


def database_args(data, share_with=None):
    """The flags that put a tallinnd (serve or init) of data directory `data`
    on this test's engine: [] on SQLite (the file in the directory); on
    PostgreSQL ["--database", URL] of a database of its own, created at the
    first call for that directory. share_with: another data directory whose
    database this one uses too (replicas: copies of one directory)."""
    if PG is None:
        return []
    key = os.path.realpath(data)
    if share_with is not None:
        _databases[key] = _databases[os.path.realpath(share_with)]
    if key not in _databases:
        _databases[key] = PG.create_database()
    return ["--database", PG.url(_databases[key])]


def database_name(data):
    """The PostgreSQL database of a data directory (database_args made it)."""
    return _databases[os.path.realpath(data)]


def db_query(data, sql):
    """Runs sql on the database of a data directory, whatever the engine
    (sqlite3's or psql's command-line client), and returns its rows as lists
    of strings. For tests that look at or damage what the server stored."""
    if PG is not None:
        out = PG.psql(sql, db=database_name(data))
        return [line.split("|") for line in out.splitlines() if line != ""]
    r = subprocess.run(["sqlite3", "-batch", os.path.join(data, "tallinn.db")], input=sql,
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("sqlite3: %s: %s" % (sql[:80], r.stderr.strip()))
    return [line.split("|") for line in r.stdout.splitlines() if line != ""]


def hexblob(b):
    """A blob literal in the engine's SQL: X'..' (SQLite), '\\x..'::bytea."""
    return ("'\\x%s'::bytea" if PG is not None else "X'%s'") % b.hex()


def copy_data(src, dst):
    """A copy of a stopped server's data directory, and of its database on
    PostgreSQL (CREATE DATABASE … TEMPLATE), for a second server to start on."""
    import shutil
    shutil.copytree(src, dst)
    if PG is not None:
        name = PG.create_database(template=database_name(src))
        _databases[os.path.realpath(dst)] = name
    return dst


def upsert_tile_sql(level, index, hashes):
    """Writes one audit tile over whatever is there, in the engine's SQL."""
    if PG is not None:
        return ("INSERT INTO audit_tiles(level, idx, hashes) VALUES(%d, %d, %s) ON CONFLICT "
                "(level, idx) DO UPDATE SET hashes = EXCLUDED.hashes" %
                (level, index, hexblob(hashes)))
    return "INSERT OR REPLACE INTO audit_tiles(level, idx, hashes) VALUES(%d, %d, %s)" % (
        level, index, hexblob(hashes))


class write_lock:
    """Holds what every write batch of the server of `data` must take first,
    from another process, while the `with` block runs: SQLite's write lock
    (BEGIN IMMEDIATE), or on PostgreSQL the audit head row (SELECT … FOR
    UPDATE in a psql session)."""

    def __init__(self, data):
        self.data = data

    def __enter__(self):
        if PG is None:
            import sqlite3
            self.db = sqlite3.connect(os.path.join(self.data, "tallinn.db"), timeout=10,
                                      isolation_level=None)
            self.db.execute("BEGIN IMMEDIATE")
            return self
        self.p = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", "-h", "127.0.0.1", "-p",
                                   str(PG.port), "-U", pgcluster.ADMIN,
                                   "-d", database_name(self.data)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  env=PG.env())
        self.p.stdin.write("BEGIN; SELECT size FROM audit_head WHERE id = 1 FOR UPDATE;\n"
                           "\\echo locked\n")
        self.p.stdin.flush()
        while True:  # the size, then our mark: the lock is held
            line = self.p.stdout.readline()
            if line == "" or line.strip() == "locked":
                break
        assert line.strip() == "locked", "psql did not take the lock"
        return self

    def __exit__(self, *exc):
        if PG is None:
            self.db.execute("ROLLBACK")
            self.db.close()
            return False
        self.p.stdin.write("ROLLBACK;\n")
        self.p.stdin.close()
        self.p.wait(30)
        return False


def sql_hex(column):
    """The SQL that reads a blob column as hex, whatever the engine."""
    return ("encode(%s, 'hex')" if PG is not None else "hex(%s)") % column


def db_dump(data):
    """Every byte the server stored for a data directory: the SQLite file
    (and its WAL) or, on PostgreSQL, a plain pg_dump of its database."""
    if PG is not None:
        r = subprocess.run(["pg_dump", "-h", "127.0.0.1", "-p", str(PG.port), "-U",
                            pgcluster.ADMIN, "--no-owner", database_name(data)],
                           capture_output=True, env=PG.env(), timeout=120)
        if r.returncode != 0:
            raise RuntimeError("pg_dump: " + r.stderr.decode(errors="replace"))
        return [("the database (pg_dump)", r.stdout)]
    out = []
    for name in sorted(os.listdir(data)):
        if name.startswith("tallinn.db"):
            with open(os.path.join(data, name), "rb") as f:
                out.append((name, f.read()))
    return out


def init_data(binary, data, *extra, share_with=None, check=True):
    """`tallinnd init --data-dir data` on this test's engine; the
    CompletedProcess (text output)."""
    return subprocess.run([binary, "init", "--data-dir", data] +
                          database_args(data, share_with) + list(extra),
                          check=check, capture_output=True, text=True)

_gen_dir = None


def protos(*files):
    """Generates Python modules for the given .proto files (paths relative to
    an import root) once per process and returns them as a list of modules."""
    global _gen_dir
    if _gen_dir is None:
        _gen_dir = tempfile.mkdtemp(prefix="tallinn-py-")
        sys.path.insert(0, _gen_dir)
        # Generated grpc/health/... and grpc/testing/... modules live under a
        # package named like the grpc library: let that package find them.
        import grpc
        grpc.__path__.append(os.path.join(_gen_dir, "grpc"))
    gen = list(files)
    if any(f.startswith("tallinn/") for f in files):  # and the files they import
        v1 = os.path.join(REPO, "proto", "tallinn", "v1")
        gen += ["tallinn/v1/" + f for f in sorted(os.listdir(v1)) if f.endswith(".proto")]
    subprocess.run(["protoc", "-I" + os.path.join(REPO, "proto"), "-I" + GRPC_PROTO,
                    "-I" + GOOGLEAPIS, "-I" + WKT, "--python_out=" + _gen_dir] + sorted(set(gen)),
                   check=True)
    mods = []
    for f in files:
        name = f[:-len(".proto")].replace("/", ".") + "_pb2"
        mods.append(importlib.import_module(name))
    return mods


def message_class(desc):
    """The generated class of a message descriptor (its module imported by
    protos())."""
    from google.protobuf import symbol_database
    return symbol_database.Default().GetSymbol(desc.full_name)


def unary_by_name(ch, service, method):
    """A callable for the unary tallinn.v1.SERVICE/METHOD on channel ch, its
    request and response classes taken from the generated descriptors."""
    from google.protobuf import descriptor_pool
    m = descriptor_pool.Default().FindServiceByName("tallinn.v1." + service) \
        .methods_by_name[method]
    return ch.unary_unary("/tallinn.v1.%s/%s" % (service, method),
                          request_serializer=message_class(m.input_type).SerializeToString,
                          response_deserializer=message_class(m.output_type).FromString)


class Server:
    """A server process on 127.0.0.1 with an ephemeral port. Its stderr is
    collected line by line in .log (a list) while it runs."""

    def __init__(self, argv, port_re, env=None):
        e = dict(os.environ)
        e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        if env:
            e.update(env)
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=e, text=True)
        self.log = []
        self.port = None
        self._ready = threading.Event()
        self._port_re = re.compile(port_re)
        for stream in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=self._pump, args=(stream,), daemon=True).start()
        if not self._ready.wait(30) or self.port is None:
            self.stop()
            raise RuntimeError("server did not report its port:\n" + "".join(self.log))
        self.addr = "127.0.0.1:%d" % self.port

    def _pump(self, stream):
        for line in stream:
            self.log.append(line)
            m = self._port_re.search(line)
            if m and self.port is None:
                self.port = int(m.group(1))
                self._ready.set()
        self._ready.set()

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        return self.proc.wait(timeout)

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def text(self):
        return "".join(self.log)

    def wait_log(self, pattern, timeout=10):
        """The first match of pattern in the log, waiting for it: tallinnd
        writes its call lines from a log thread, after the answer is sent, and
        the pump threads read them later still. Fails with the log's tail."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.text())
            if m or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        assert m, "no line matching %r within %ss:\n%s" % (pattern, timeout, self.text()[-3000:])
        return m


class Cases:
    """Runs named test functions, prints one line per case and the closing
    'N passed, M failed' line; exit status says whether all passed."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, name, fn, *args):
        t = time.monotonic()
        try:
            fn(*args)
        except Exception:  # report and go on: every case runs
            self.failed += 1
            print("FAIL %s (%.0f ms)" % (name, (time.monotonic() - t) * 1e3))
            traceback.print_exc(file=sys.stdout)
        else:
            self.passed += 1
            print("ok   %s (%.0f ms)" % (name, (time.monotonic() - t) * 1e3))
        sys.stdout.flush()

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        sys.exit(0 if self.failed == 0 and self.passed > 0 else 1)


def expect_code(call, code, *args, **kw):
    """Calls call(*args, **kw) and asserts it fails with the grpc code; returns
    the error."""
    import grpc
    try:
        call(*args, **kw)
    except grpc.RpcError as e:
        assert e.code() == code, "expected %s, got %s: %s" % (code, e.code(), e.details())
        return e
    raise AssertionError("expected %s, the call succeeded" % code)


PORT_RE = r"event=listening .*port=(\d+)"


class Tallinnd(Server):
    """An initialised tallinnd (plaintext on loopback) with its first ADMIN
    token, and a way to create principals for the other roles."""

    def __init__(self, binary, *extra, env=None, data=None, share_with=None, database=None):
        """A new data directory (initialised on the test's engine), or the
        one given (initialised already: a restart, or a replica's copy).
        database: a URL to reach the test's database by instead (a proxy)."""
        if data is None:
            self.data = tempfile.mkdtemp(prefix="tallinnd-test-") + "/var"
            init_data(binary, self.data)
        else:
            self.data = data
        with open(os.path.join(self.data, "admin.token")) as f:
            self.admin_token = f.read().strip()
        super().__init__([binary, "--listen", "127.0.0.1:0", "--data-dir", self.data,
                          "--insecure", "--grace-ms", "3000"] +
                         (["--database", database] if database is not None
                          else database_args(self.data, share_with)) + list(extra), PORT_RE,
                         env=env)

    def create_principal(self, principal_id, role, donor="", cert_identity=""):
        """Creates a principal (role: "BACK_OFFICE", ...) and returns its token."""
        import grpc
        principal_pb2, = protos("tallinn/v1/principal.proto")
        ch = grpc.insecure_channel(self.addr)
        create = ch.unary_unary(
            "/tallinn.v1.PrincipalService/CreatePrincipal",
            request_serializer=principal_pb2.CreatePrincipalRequest.SerializeToString,
            response_deserializer=principal_pb2.CreatePrincipalResponse.FromString)
        p = principal_pb2.Principal(display_name=principal_id, donor=donor,
                                    cert_identity=cert_identity,
                                    role=principal_pb2.Principal.Role.Value("ROLE_" + role))
        resp = create(principal_pb2.CreatePrincipalRequest(principal_id=principal_id, principal=p),
                      metadata=(("authorization", "Bearer " + self.admin_token),), timeout=10)
        ch.close()
        return resp.token


WITNESS_PORT_RE = r"listening on 127\.0\.0\.1:(\d+)"


class Witness(Server):
    """`tallinn-audit witness serve` on 127.0.0.1 (plain HTTP) for the given
    log verifier keys, its key in d (made with `witness init` the first
    time). .vkey is its cosignature key, .url its submission prefix."""

    def __init__(self, audit, d, name, logs, env=None, port=0, extra=(), scheme="http"):
        if not os.path.exists(os.path.join(d, "witness.key")):
            self.vkey = subprocess.run([audit, "witness", "init", "--dir", d, "--name", name],
                                       check=True, capture_output=True, text=True).stdout.strip()
        else:
            with open(os.path.join(d, "witness.vkey")) as f:
                self.vkey = f.read().strip()
        self.dir = d
        argv = [audit, "witness", "serve", "--dir", d, "--listen", "127.0.0.1:%d" % port]
        for k in logs:
            argv += ["--log", k]
        super().__init__(argv + list(extra), WITNESS_PORT_RE, env=env)
        self.url = scheme + "://" + self.addr


def bearer(token):
    """Call metadata for a bearer token."""
    return (("authorization", "Bearer " + token),)


def load_workflow(tallinnd):
    """workflow_test.py as a module (its API helpers: Principals, Api,
    need_msg, create_need, ...), without running its main(); its argv is
    [path, tallinnd] while it loads."""
    import types
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workflow_test.py")
    src = open(path).read().rstrip()
    assert src.endswith("\nmain()"), "workflow_test.py no longer ends in main()"
    mod = types.ModuleType("workflow_test")
    mod.__file__ = path
    argv, sys.argv = sys.argv, [path, tallinnd]
    try:
        exec(compile(src[:-len("main()")], path, "exec"), mod.__dict__)
    finally:
        sys.argv = argv
    return mod
