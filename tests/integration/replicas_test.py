"""integration.replicas: tallinnctl and tallinn-audit given several addresses
(issue 11 item 5). Replicas sharing one database need PostgreSQL, which is not
here yet, so the servers are two tallinnd on their own data dirs (told apart
by their ports in -v output) plus addresses where nothing listens: a list
passes over the dead ones, one-call processes spread over the live ones, a
replica killed with SIGKILL is skipped, dns:///localhost:PORT works, a list in
a config context works, errors and -v name the replica, a malformed list is a
usage error, and over TLS one server name is checked for every address.

Usage: replicas_test.py TALLINND TALLINNCTL TALLINN-AUDIT"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TALLINND, CTL, AUDIT = sys.argv[1], sys.argv[2], sys.argv[3]
TMP = tempfile.mkdtemp(prefix="tallinn-replicas-test-")
SUPP = os.path.join(harness.REPO, "tests", "lsan-cares.supp")
ENV = {k: v for k, v in os.environ.items() if not k.startswith("TALLINN_")}
ENV.update({"XDG_CONFIG_HOME": os.path.join(TMP, "xdg"), "HOME": TMP, "NO_COLOR": "",
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
            # gRPC resolves "localhost" with c-ares 1.18.1, which leaks the name
            "LSAN_OPTIONS": "suppressions=" + SUPP})


def dead_addr():
    """A loopback address nothing listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "127.0.0.1:%d" % port


def run(binary, *args, rc=0):
    p = subprocess.run([binary] + list(args), capture_output=True, text=True, env=ENV,
                       timeout=60)
    assert p.returncode >= 0, "killed by signal %d: %s\n%s" % (-p.returncode, args, p.stderr)
    assert not re.search(r"Sanitizer|runtime error", p.stderr), p.stderr
    if rc is not None:
        assert p.returncode == rc, "%s: exit %d, wanted %d\nstdout: %s\nstderr: %s" % (
            " ".join(args), p.returncode, rc, p.stdout, p.stderr)
    return p


def ctl(*args, rc=0):
    return run(CTL, *args, rc=rc)


def attempts(p):
    """(method, replica, status) for each line -v wrote."""
    return re.findall(r"^tallinnctl: (\w+) attempt \d+ -> (\S+(?: \w+ \w+)?): (\w+)", p.stderr,
                      re.M)


def write_token(name, token):
    path = os.path.join(TMP, name + ".token")
    with open(path, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return path


A = harness.Tallinnd(TALLINND)
B = harness.Tallinnd(TALLINND)
DEAD = dead_addr()
B_OFFICE = write_token("b-office", B.create_principal("warsaw", "BACK_OFFICE"))
B_AUDITOR = write_token("b-auditor", B.create_principal("auditor", "AUDITOR"))
B_KEY = re.search(r"audit_key=(\S+)", B.text()).group(1)
cases = harness.Cases()


def t_dead_address_passed_over():
    p = ctl("--insecure", "--addr", "%s,%s,%s" % (DEAD, A.addr, B.addr), "-v", "health")
    assert p.stdout == "SERVING\n", p.stdout
    seen = attempts(p)
    assert len(seen) == 1 and seen[0][0] == "Check" and seen[0][2] == "OK", p.stderr
    assert seen[0][1] in (A.addr, B.addr), seen
    # Reads and writes (a fresh request_id each) through a list whose first
    # address is dead.
    auth = ["--insecure", "--addr", "%s,%s" % (DEAD, B.addr), "--token-file", B_OFFICE]
    ctl(*auth, "donors", "create", "--id", "estonia", "--display-name", "Estonia", "--kind",
        "state", "--country-code", "EE", "--membership", "MEMBER")
    assert ctl(*auth, "donors", "list", "-o", "name").stdout == "donors/estonia\n"


def t_one_call_processes_spread():
    """Each process shuffles the list: one-call clients do not all start on
    the first replica (2^-11 chance of a false failure)."""
    seen = set()
    for _ in range(12):
        p = ctl("--insecure", "--addr", "%s,%s" % (A.addr, B.addr), "-v", "health")
        seen.update(r for _, r, _ in attempts(p))
        if seen == {A.addr, B.addr}:
            return
    raise AssertionError("every call went to %s" % seen)


def t_errors_name_the_replica():
    auth = ["--insecure", "--addr", "%s,%s" % (DEAD, B.addr), "--token-file", B_OFFICE]
    p = ctl(*auth, "needs", "get", "no-such-need", rc=4)
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and "NOT_FOUND from %s" % B.addr in lines[0], p.stderr
    # Nothing reachable: one line naming the list, exit 3, no retry loop.
    p = ctl("--insecure", "--addr", "%s,%s" % (DEAD, dead_addr()), "-v", "health", rc=3)
    assert "cannot reach any server at %s," % DEAD in p.stderr, p.stderr
    assert "not retried: no server is reachable" in p.stderr, p.stderr


def t_dns_target():
    port = B.addr.rsplit(":", 1)[1]
    p = ctl("--insecure", "--addr", "dns:///localhost:" + port, "--token-file", B_OFFICE, "-v",
            "donors", "list", "-o", "name")
    assert p.stdout == "donors/estonia\n", p.stdout
    assert attempts(p)[0][1] == B.addr, p.stderr  # ::1 has no listener: passed over


def t_config_context_list():
    os.makedirs(os.path.join(TMP, "xdg", "tallinn"), exist_ok=True)
    with open(os.path.join(TMP, "xdg", "tallinn", "config"), "w") as f:
        f.write("context = replicas\n\n[replicas]\naddr = %s, %s\ninsecure = true\n"
                "token-file = %s\n" % (DEAD, B.addr, B_OFFICE))
    assert ctl("donors", "list", "-o", "name").stdout == "donors/estonia\n"
    os.unlink(os.path.join(TMP, "xdg", "tallinn", "config"))


def t_malformed_list():
    p = ctl("--insecure", "--addr", A.addr + ",127.0.0.1", "health", rc=2)
    assert "\"127.0.0.1\" has no port" in p.stderr and len(p.stderr.splitlines()) == 1, p.stderr
    p = ctl("--insecure", "--addr", A.addr + ",,", "health", rc=2)
    assert "empty entry" in p.stderr, p.stderr


def t_killed_replica_skipped():
    A.proc.send_signal(signal.SIGKILL)
    A.proc.wait(10)
    for _ in range(4):
        p = ctl("--insecure", "--addr", "%s,%s" % (A.addr, B.addr), "-v", "health")
        assert [r for _, r, _ in attempts(p)] == [B.addr], p.stderr


def t_audit_verify_through_list():
    state = os.path.join(TMP, "audit-state")
    args = ["verify", "--server", "%s,%s" % (DEAD, B.addr), "--insecure", "--key", B_KEY,
            "--token-file", B_AUDITOR, "--state", state, "--verbose"]
    p = run(AUDIT, *args)
    assert "GetCheckpoint attempt 1 -> %s: OK" % B.addr in p.stderr, p.stderr
    assert "verified" in p.stdout + p.stderr, p.stdout
    # Errors name the replica that answered.
    p = run(AUDIT, "verify", "--server", "%s,%s" % (DEAD, B.addr), "--insecure", "--key", B_KEY,
            "--token-file", B_OFFICE, "--state", state, rc=5)
    assert "the server refused" in p.stderr and "PERMISSION_DENIED" in p.stderr and "[replica %s, attempt 1]" % B.addr in p.stderr, \
        p.stderr


def openssl(*args):
    r = subprocess.run(["openssl"] + list(args), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "openssl %s: %s" % (" ".join(args), r.stderr)


def t_tls_one_name_for_all():
    """A certificate for localhost and 127.0.0.1: a list of one host is
    checked against that host; a list of several hosts needs --server-name,
    which is then checked (a wrong one fails the handshake)."""
    def p(name):
        return os.path.join(TMP, name)
    openssl("req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-keyout", p("ca.key"), "-out", p("ca.pem"),
            "-days", "2", "-subj", "/CN=Replicas Test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", p("server.key"), "-out", p("server.csr"), "-subj", "/CN=localhost")
    with open(p("server.ext"), "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
            "-CAcreateserial", "-out", p("server.pem"), "-days", "2", "-extfile", p("server.ext"))
    data = os.path.join(TMP, "tls-data")
    harness.init_data(TALLINND, data)
    srv = harness.Server([TALLINND, "--listen", "127.0.0.1:0", "--data-dir", data,
                          "--tls-cert", p("server.pem"), "--tls-key", p("server.key")] +
                         harness.database_args(data), harness.PORT_RE)
    try:
        port = str(srv.port)
        tls = ["--ca", p("ca.pem")]
        assert ctl(*tls, "--addr", "%s,127.0.0.1:%s" % (DEAD, port), "health").stdout == \
            "SERVING\n"
        both = "localhost:%s,127.0.0.1:%s" % (port, port)
        r = ctl(*tls, "--addr", both, "health", rc=1)
        assert "--server-name" in r.stderr, r.stderr
        assert ctl(*tls, "--addr", both, "--server-name", "localhost", "health").stdout == \
            "SERVING\n"
        r = ctl(*tls, "--addr", both, "--server-name", "wrong.example", "health", rc=3)
        assert "does not match (Peer name wrong.example is not in peer certificate)" in \
            r.stderr, r.stderr
    finally:
        srv.stop()


try:
    cases.run("a dead address in the list is passed over (reads and writes)",
              t_dead_address_passed_over)
    cases.run("one-call processes spread over the replicas", t_one_call_processes_spread)
    cases.run("errors name the replica; nothing reachable fails at once",
              t_errors_name_the_replica)
    cases.run("dns:///localhost:PORT", t_dns_target)
    cases.run("a list in a config context", t_config_context_list)
    cases.run("a malformed list is a usage error", t_malformed_list)
    cases.run("tallinn-audit verify --server through a list", t_audit_verify_through_list)
    cases.run("a replica killed with SIGKILL is skipped", t_killed_replica_skipped)
    cases.run("TLS: one server name for every address", t_tls_one_name_for_all)
finally:
    for s in (A, B):
        if s.proc.poll() is None:
            s.stop()
cases.finish()
