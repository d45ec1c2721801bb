"""What the systemd unit relies on, against a real tallinnd: Type=notify (a
fake NOTIFY_SOCKET, a Python unix datagram socket, gets READY=1 once the port
answers and STOPPING=1 on SIGTERM; without NOTIFY_SOCKET, or with one that
leads nowhere, it serves as before), and --listen [::]:PORT serving IPv4 and
IPv6 alike. The dual-stack case runs in a private network namespace
(unshare -rn) whose only interface is loopback, so the wildcard address
reaches nothing else.

Usage: systemd_test.py TALLINND   (TALLINND --netns-child: internal)"""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TALLINND = os.path.abspath(sys.argv[1])
TMP = tempfile.mkdtemp(prefix="tallinn-systemd-")
health_pb2, = harness.protos("grpc/health/v1/health.proto")


def health(addr, creds=None, options=()):
    import grpc
    ch = grpc.secure_channel(addr, creds, options) if creds else grpc.insecure_channel(addr)
    try:
        check = ch.unary_unary("/grpc.health.v1.Health/Check",
                               request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                               response_deserializer=health_pb2.HealthCheckResponse.FromString)
        return check(health_pb2.HealthCheckRequest(), timeout=5).status
    finally:
        ch.close()


def init(name):
    data = os.path.join(TMP, name)
    subprocess.run([TALLINND, "init", "--data-dir", data], check=True, capture_output=True)
    return data


def start(data, env, *args):
    e = dict(os.environ)
    e.pop("NOTIFY_SOCKET", None)
    e.update(env)
    return subprocess.Popen([TALLINND, "--data-dir", data, "--grace-ms", "2000"] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=e, text=True)


def notify_socket(abstract):
    """A datagram socket as systemd's, with sender credentials on."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    if abstract:
        name = "tallinn-notify-%d-%d" % (os.getpid(), time.monotonic_ns())
        s.bind("\0" + name)
        return s, "@" + name
    path = os.path.join(TMP, "notify-%d.sock" % time.monotonic_ns())
    s.bind(path)
    return s, path


def receive(s, timeout):
    """One notification: (the fields as a dict, the sender's pid)."""
    s.settimeout(timeout)
    data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = None
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", payload[:12])[0]
    fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
    return fields, pid


def check_notify(abstract):
    s, name = notify_socket(abstract)
    data = init("notify-%s" % ("abstract" if abstract else "path"))
    t0 = time.monotonic()
    p = start(data, {"NOTIFY_SOCKET": name}, "--listen", "127.0.0.1:0", "--insecure")
    try:
        ready, pid = receive(s, 30)
        assert ready.get("READY") == "1", ready
        assert pid == p.pid, "sent by pid %s, the server is %d" % (pid, p.pid)
        m = re.fullmatch(r"serving on 127\.0\.0\.1:(\d+)", ready.get("STATUS", ""))
        assert m, ready
        # READY means serving: the very next call is answered.
        assert health("127.0.0.1:" + m.group(1)) == health_pb2.HealthCheckResponse.SERVING
        p.send_signal(signal.SIGTERM)
        stopping, pid = receive(s, 10)
        assert stopping.get("STOPPING") == "1", stopping
        assert pid == p.pid
        assert stopping.get("STATUS", "").startswith("draining calls"), stopping
        assert p.wait(30) == 0
        assert "READY=1" not in p.stdout.read()  # nothing of it reaches the log
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        s.close()
    print("  notified in %.0f ms" % ((time.monotonic() - t0) * 1e3))


def t_notify_path():
    check_notify(False)


def t_notify_abstract():
    check_notify(True)


def t_without_notify_socket():
    """No NOTIFY_SOCKET, or one nobody listens on: it serves all the same."""
    for env in ({}, {"NOTIFY_SOCKET": os.path.join(TMP, "nobody-listens.sock")}):
        data = init("plain-%d" % len(env))
        p = start(data, env, "--listen", "127.0.0.1:0", "--insecure")
        try:
            port = None
            deadline = time.monotonic() + 30
            while port is None and time.monotonic() < deadline:
                line = p.stdout.readline()
                assert line, "tallinnd exited early"
                m = re.search(harness.PORT_RE, line)
                port = m and m.group(1)
            assert health("127.0.0.1:" + port) == health_pb2.HealthCheckResponse.SERVING
            p.send_signal(signal.SIGTERM)
            assert p.wait(30) == 0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


def t_dual_stack():
    """--listen [::]:0 in a network namespace of its own: IPv4 and IPv6 both."""
    r = subprocess.run(["unshare", "-rn", "/usr/bin/python3", os.path.abspath(__file__), TALLINND,
                        "--netns-child"], capture_output=True, text=True, timeout=120)
    sys.stdout.write(r.stdout)
    assert r.returncode == 0, "in the namespace: exit %d\n%s%s" % (r.returncode, r.stdout,
                                                                     r.stderr)


def netns_child():
    """Runs inside unshare -rn: loopback up, a TLS server on [::]:0."""
    import grpc
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with open("/proc/net/if_inet6") as f:
        assert [line.split()[-1] for line in f] == ["lo"], "not a private namespace"
    key, crt = os.path.join(TMP, "tls.key"), os.path.join(TMP, "tls.crt")
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-keyout", key, "-out", crt, "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    data = init("dual")
    p = start(data, {}, "--listen", "[::]:0", "--tls-cert", crt, "--tls-key", key)
    try:
        bound = None
        deadline = time.monotonic() + 30
        while bound is None and time.monotonic() < deadline:
            line = p.stdout.readline()
            assert line, "tallinnd exited early"
            m = re.search(r"event=listening .*port=(\d+) bound=(\S+)", line)
            bound = m and (m.group(1), m.group(2))
        port, addrs = bound
        print("  bound=%s" % addrs)
        with open(crt, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        opts = (("grpc.ssl_target_name_override", "localhost"),)
        for host in ("127.0.0.1", "[::1]"):
            assert health("%s:%s" % (host, port), creds, opts) == \
                health_pb2.HealthCheckResponse.SERVING, host
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


if __name__ == "__main__":
    try:
        if sys.argv[2:] == ["--netns-child"]:
            netns_child()
            sys.exit(0)
        cases = harness.Cases()
        cases.run("notify: READY=1 once serving, STOPPING=1 on SIGTERM (path)", t_notify_path)
        cases.run("notify: the same on an abstract socket", t_notify_abstract)
        cases.run("notify: none without NOTIFY_SOCKET, none lost to a dead one",
                  t_without_notify_socket)
        cases.run("--listen [::]:0 answers on 127.0.0.1 and ::1 (private netns)", t_dual_stack)
        cases.finish()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
