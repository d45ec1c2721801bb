"""What tallinnd binds and holds: plaintext only where every resolved and
bound address is loopback (a "127." prefix proves nothing); a port in use
makes a second server fail instead of sharing it; a data directory in use is
refused, naming the process that holds it, and freed when that process dies;
and a read never waits for the durable write of a principal's last use."""
import os
import signal
import subprocess
import sys
import tempfile
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BIN = sys.argv[1]
donor_pb2, principal_pb2 = harness.protos("tallinn/v1/donor.proto", "tallinn/v1/principal.proto")


def init_dir():
    data = tempfile.mkdtemp(prefix="tallinn-transport-") + "/var"
    harness.init_data(BIN, data)
    return data


def run(*argv, timeout=20):
    """Runs tallinnd expecting it to refuse to start; returns (code, stderr)."""
    p = subprocess.Popen([BIN] + list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGTERM)  # it started: report what it said
        out, err = p.communicate(timeout=30)
        raise AssertionError("tallinnd started:\n" + err)
    return p.returncode, err


def serve(data, listen="127.0.0.1:0"):
    return harness.Server([BIN, "--listen", listen, "--data-dir", data, "--insecure", "--quiet",
                           "--grace-ms", "2000"] + harness.database_args(data), harness.PORT_RE)


def test_loopback_is_resolved():
    data = init_dir()
    code, err = run("--listen", "127.anything.invalid:0", "--data-dir", data, "--insecure")
    assert code == 2 and "does not resolve" in err and err.count("\n") == 1, (code, err)
    # An IPv4-mapped loopback address is loopback, though it does not read "127.":
    # what counts is the address, and the log names the sockets actually bound.
    srv = serve(data, "[::ffff:127.0.0.1]:0")
    try:
        line = [l for l in srv.log if "event=listening" in l][0]
        assert "bound=127.0.0.1:%d " % srv.port in line, line
        ch = grpc.insecure_channel(srv.addr)
        grpc.channel_ready_future(ch).result(timeout=10)
        ch.close()
    finally:
        assert srv.stop() == 0, srv.text()


def test_port_taken():
    a = serve(init_dir())
    try:
        code, err = run("--listen", a.addr, "--data-dir", init_dir(), "--insecure")
        assert code != 0 and "the port is taken" in err, (code, err)
        assert "event=listening" not in err
        ch = grpc.insecure_channel(a.addr)  # the first server is untouched
        grpc.channel_ready_future(ch).result(timeout=10)
        ch.close()
    finally:
        assert a.stop() == 0, a.text()


def test_data_dir_in_use():
    if harness.PG is not None:
        return replicas_share_a_directory()
    data = init_dir()
    a = serve(data)
    try:
        code, err = run("--listen", "127.0.0.1:0", "--data-dir", data, "--insecure")
        assert code == 1, (code, err)
        assert "in use by process %d" % a.proc.pid in err, err
        assert "event=listening" not in err
        # an online backup is not a second server: it still works
        backup = tempfile.mkdtemp(prefix="tallinn-transport-") + "/copy.db"
        subprocess.run([BIN, "backup", "--data-dir", data, "--to", backup], check=True,
                       capture_output=True, timeout=60)
    finally:
        a.signal(signal.SIGKILL)  # a crash: the kernel releases the lock
        a.wait(30)
    b = serve(data)
    assert b.stop() == 0, b.text()


def replicas_share_a_directory():
    """On PostgreSQL the data directory holds keys only and the database
    serialises its writers: a second server on the same directory and
    database is a replica, and both serve."""
    data = init_dir()
    a = serve(data)
    try:
        b = serve(data)
        try:
            for srv in (a, b):
                ch = grpc.insecure_channel(srv.addr)
                grpc.channel_ready_future(ch).result(timeout=10)
                ch.close()
            assert "tallinnd.lock" not in os.listdir(data), os.listdir(data)
        finally:
            assert b.stop() == 0, b.text()
    finally:
        assert a.stop() == 0, a.text()


def test_read_does_not_wait_for_last_use():
    """A new principal's first call records its last use: a durable write. With
    the database's write lock held by another process, that write waits; the
    call must not."""
    data = init_dir()
    srv = harness.Tallinnd.__new__(harness.Tallinnd)
    srv.data = data
    with open(os.path.join(data, "admin.token")) as f:
        srv.admin_token = f.read().strip()
    harness.Server.__init__(srv, [BIN, "--listen", "127.0.0.1:0", "--data-dir", data,
                                  "--insecure", "--quiet"] + harness.database_args(data),
                            harness.PORT_RE)
    try:
        token = srv.create_principal("reader", "OBSERVER")
        ch = grpc.insecure_channel(srv.addr)
        lst = ch.unary_unary("/tallinn.v1.DonorService/ListDonors",
                             request_serializer=donor_pb2.ListDonorsRequest.SerializeToString,
                             response_deserializer=donor_pb2.ListDonorsResponse.FromString)
        get = ch.unary_unary("/tallinn.v1.PrincipalService/GetPrincipal",
                             request_serializer=principal_pb2.GetPrincipalRequest.SerializeToString,
                             response_deserializer=principal_pb2.Principal.FromString)
        admin = harness.bearer(srv.admin_token)
        assert not get(principal_pb2.GetPrincipalRequest(name="principals/reader"),
                       metadata=admin, timeout=10).HasField("last_use_time")

        # the write lock (SQLite) or the audit head (PostgreSQL) held elsewhere:
        # tallinnd's writes wait for it (5 s at most)
        with harness.write_lock(data):
            # the store waits 5 s for a lock: a read that waited would miss this deadline
            lst(donor_pb2.ListDonorsRequest(), metadata=harness.bearer(token), timeout=2)
            time.sleep(0.5)
        # ... and the last use is written once the lock is gone
        deadline = time.monotonic() + 15
        while True:
            p = get(principal_pb2.GetPrincipalRequest(name="principals/reader"), metadata=admin,
                    timeout=10)
            if p.HasField("last_use_time"):
                break
            assert time.monotonic() < deadline, "the last use was never written"
            time.sleep(0.2)
        assert abs(p.last_use_time.seconds - time.time()) < 60
        ch.close()
    finally:
        assert srv.stop() == 0, srv.text()


def main():
    cases = harness.Cases()
    cases.run("plaintext: the name is resolved and the bound sockets checked",
              test_loopback_is_resolved)
    cases.run("a port in use: the second server fails, saying so", test_port_taken)
    cases.run("a data directory in use: refused, naming the holder", test_data_dir_in_use)
    cases.run("a read does not wait for the last-use write", test_read_does_not_wait_for_last_use)
    cases.finish()


main()
