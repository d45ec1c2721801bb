"""A throwaway PostgreSQL cluster for tests: initdb in a temporary directory,
a loopback port chosen at run time, the unix socket in that directory,
password (SCRAM) authentication for every connection, removed at the end.

As root (CI) the cluster runs as the `postgres` user (initdb refuses root),
in a directory it owns; as anyone else it runs as that user.

  pgcluster.py start STATE   start one, describe it in the JSON file STATE
                             (a cluster a previous, interrupted run left
                             there is stopped and removed first)
  pgcluster.py stop STATE    stop it and remove its directory and STATE
  pgcluster.py newdb STATE   create a fresh database there and print, for a
                             shell's eval, PGPASSFILE and DATABASE_URL
  pgcluster.py run STATE CMD...  run CMD with a fresh database there in
                             TALLINN_TEST_DATABASE_URL (and PGPASSFILE set)

CTest runs these as the fixtures of every `.pg` test (tests/pg/pg.cmake);
tests that stop the database itself (the crash test) make their own Cluster.
Run with /usr/bin/python3."""
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ADMIN = "tallinn_admin"  # the cluster's superuser: creates a database per server
APP = "tallinn"          # what tallinnd connects as: owns its database, nothing more


def _bindir():
    for v in ("15", "16", "17", "14", "13"):
        d = "/usr/lib/postgresql/%s/bin" % v
        if os.path.exists(os.path.join(d, "initdb")):
            return d
    raise RuntimeError("PostgreSQL server binaries not found (Debian package postgresql; "
                       "scripts/install-deps installs it)")


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Cluster:
    """One cluster. start() makes it; stop() (fast), crash() (immediate: no
    checkpoint, as a power cut would leave it), restart() and remove()."""

    def __init__(self, state=None):
        self.bin = _bindir()
        self.as_root = os.geteuid() == 0
        if state:
            self.__dict__.update(state)

    # -- running commands as the cluster's owner --
    def _run(self, argv, **kw):
        if self.as_root:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)

    def _chown(self, path):
        if self.as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="tallinn-pg-")
        try:
            os.chmod(self.dir, 0o700)
            self._chown(self.dir)
            self.data = os.path.join(self.dir, "data")
            self.sock = self.dir  # the unix socket lives beside the data
            self.log = os.path.join(self.dir, "postgres.log")
            self.admin_password = secrets.token_urlsafe(18)
            self.app_password = secrets.token_urlsafe(18)
            pwfile = os.path.join(self.dir, "pwfile")
            with open(pwfile, "w") as f:
                f.write(self.admin_password + "\n")
            self._chown(pwfile)
            self._run([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", ADMIN,
                       "--pwfile", pwfile, "--auth", "scram-sha-256", "-E", "UTF8",
                       "--locale", "C.UTF-8", "--no-sync"])
            os.unlink(pwfile)
            # The clients' password file (libpq's PGPASSFILE): mode 0600, the
            # test user's. "localhost" stands for the unix socket too.
            self.passfile = os.path.join(self.dir, "pgpass")
            fd = os.open(self.passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write("*:*:*:%s:%s\n*:*:*:%s:%s\n" % (ADMIN, self.admin_password,
                                                        APP, self.app_password))
            for attempt in range(5):
                self.port = _free_port()
                try:
                    self._pg_ctl_start()
                    break
                except subprocess.CalledProcessError:
                    if attempt == 4:
                        raise
            self.psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (APP, self.app_password))
            self.serial = 0
        except BaseException:
            self.remove()
            raise
        return self

    def _pg_ctl_start(self):
        # Small and quick, but durable: fsync stays on (crash tests rely on
        # it), only the checkpoint spacing is relaxed.
        opts = ("-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=300 "
                "-c shared_buffers=32MB -c max_wal_size=256MB -c log_min_messages=warning "
                "-c log_connections=off" % (self.port, self.sock))
        self._run([os.path.join(self.bin, "pg_ctl"), "start", "-w", "-t", "60", "-D", self.data,
                   "-l", self.log, "-o", opts], timeout=90)

    def env(self):
        """The environment a client of this cluster needs (PGPASSFILE)."""
        e = dict(os.environ)
        e["PGPASSFILE"] = self.passfile
        return e

    def psql(self, sql, db="postgres", user=ADMIN, host=None):
        """Runs sql through psql (the server's own client) as the superuser;
        returns its unaligned, tuples-only output."""
        # The statement on stdin: it may be longer than one argument can be.
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-h", host or "127.0.0.1", "-p", str(self.port), "-U", user,
                            "-d", db, "-f", "-"], input=sql,
                           capture_output=True, text=True, env=self.env(), timeout=60)
        if r.returncode != 0:
            raise RuntimeError("psql: %s: %s" % (sql[:80], r.stderr.strip()))
        return r.stdout

    def create_database(self, prefix="t", template=None):
        """A fresh database owned by the application role; returns its name.
        Its collation is ICU's English one, not byte order: a store that
        forgot COLLATE "C" orders text differently there and the tests see it."""
        self.serial = getattr(self, "serial", 0) + 1
        name = "%s_%d_%d_%s" % (prefix, os.getpid(), self.serial, secrets.token_hex(3))
        if template is not None:  # a copy (no session may be connected to it)
            self.psql("CREATE DATABASE %s OWNER %s TEMPLATE %s" % (name, APP, template))
        else:
            self.psql("CREATE DATABASE %s OWNER %s TEMPLATE template0 ENCODING 'UTF8' "
                      "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'" % (name, APP))
        return name

    def url(self, db, user=APP):
        return "postgresql://%s@127.0.0.1:%d/%s" % (user, self.port, db)

    def stop(self, mode="fast"):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._run([os.path.join(self.bin, "pg_ctl"), "stop", "-w", "-t", "60", "-m", mode,
                       "-D", self.data], timeout=90)

    def crash(self):
        """pg_ctl stop -m immediate: every server process quits at once, no
        shutdown checkpoint; the next start replays the WAL."""
        self.stop("immediate")

    def restart(self):
        self._pg_ctl_start()

    def remove(self):
        try:
            if getattr(self, "data", None):
                self.stop("immediate")
        except Exception as e:  # remove the directory anyway
            print("pgcluster: stop failed: %s" % e, file=sys.stderr)
            pidf = os.path.join(self.data, "postmaster.pid")
            try:
                with open(pidf) as f:
                    os.kill(int(f.readline()), signal.SIGKILL)
                time.sleep(0.5)
            except Exception:
                pass
        if getattr(self, "dir", None):
            shutil.rmtree(self.dir, ignore_errors=True)

    def state(self):
        return {k: getattr(self, k) for k in ("dir", "data", "sock", "log", "port", "passfile",
                                               "admin_password", "app_password")}


def load(path):
    with open(path) as f:
        return Cluster(json.load(f))


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "run":
        c = load(sys.argv[2])
        env = c.env()
        env["TALLINN_TEST_DATABASE_URL"] = c.url(c.create_database())
        os.execvpe(sys.argv[3], sys.argv[3:], env)
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop", "newdb"):
        print(__doc__, file=sys.stderr)
        return 2
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "newdb":
        c = load(path)
        print("PGPASSFILE='%s'; DATABASE_URL='%s'; export PGPASSFILE" %
              (c.passfile, c.url(c.create_database())))
        return 0
    if os.path.exists(path):  # left by an interrupted run
        try:
            load(path).remove()
        finally:
            os.unlink(path)
    if cmd == "stop":
        return 0
    c = Cluster().start()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(c.state(), f)
    os.rename(tmp, path)
    print("pgcluster: PostgreSQL on 127.0.0.1:%d, socket and data in %s" % (c.port, c.dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
