"""Mutual TLS (issue 7) against a real tallinnd with certificates made at test
time by Debian's openssl: a client certificate's identity (SAN, else CN) maps
to a principal and carries its role's rights; a certificate from an unknown CA
is refused in the handshake; a disabled principal's certificate stops
working; tokens still work over TLS without a client certificate; plaintext
clients cannot talk to the TLS port; plaintext on a non-loopback address is
refused at start.
Run: /usr/bin/python3 mtls_test.py path/to/tallinnd"""
import os
import subprocess
import sys
import tempfile
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from authz_test import (PORT_RE, TEMP_DIRS, Client, Code, Conn, Donor, Need,  # noqa: E402
                        Principal, create_principal, donor_pb2, expect, finish,
                        init_data_dir, need_msg, need_pb2, outcome, principal_pb2,
                        stop_clean, uid)

BIN = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="tallinn-mtls-certs-")
TEMP_DIRS.append(TMP)
FO_SAN = "fo.clients.tallinn.test"     # DNS SAN of the FRONT_OFFICE client
AU_SAN = "auditor.clients.tallinn.test"  # DNS SAN of the AUDITOR client (disabled later)
BO_CN = "warsaw-back-office"           # CN-only BACK_OFFICE client
NOBODY_SAN = "nobody.clients.tallinn.test"  # signed by the CA, mapped to no principal


def path(name):
    return os.path.join(TMP, name)


def openssl(*args):
    r = subprocess.run(["openssl"] + list(args), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "openssl %s: %s" % (" ".join(args), r.stderr)


def make_ca(name, cn):
    openssl("req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-keyout", path(name + ".key"),
            "-out", path(name + ".pem"), "-days", "2", "-subj", "/CN=" + cn,
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")


def make_cert(name, ca, cn, exts):
    """A leaf certificate signed by ca, with the extension lines exts."""
    openssl("req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", path(name + ".key"), "-out", path(name + ".csr"), "-subj", "/CN=" + cn)
    with open(path(name + ".ext"), "w") as f:
        f.write("\n".join(["basicConstraints=critical,CA:FALSE"] + exts) + "\n")
    openssl("x509", "-req", "-in", path(name + ".csr"), "-CA", path(ca + ".pem"),
            "-CAkey", path(ca + ".key"), "-CAcreateserial", "-out", path(name + ".pem"),
            "-days", "2", "-extfile", path(name + ".ext"))


def read(name):
    with open(path(name), "rb") as f:
        return f.read()


def make_certs():
    make_ca("ca", "Tallinn Test CA")
    make_ca("rogue-ca", "Unknown Test CA")
    make_cert("server", "ca", "localhost", ["subjectAltName=IP:127.0.0.1,DNS:localhost",
                                           "extendedKeyUsage=serverAuth"])
    client = "extendedKeyUsage=clientAuth"
    make_cert("fo", "ca", "front office client", ["subjectAltName=DNS:" + FO_SAN, client])
    make_cert("au", "ca", "auditor client", ["subjectAltName=DNS:" + AU_SAN, client])
    make_cert("bo", "ca", BO_CN, [client])
    make_cert("nobody", "ca", "nobody", ["subjectAltName=DNS:" + NOBODY_SAN, client])
    make_cert("rogue", "rogue-ca", "front office client", ["subjectAltName=DNS:" + FO_SAN, client])


class Tls:
    def __init__(self, srv):
        self.addr = srv.addr
        self.ca = read("ca.pem")

    def conn(self, client=None):
        """A TLS connection, with the client certificate named client or none."""
        if client is None:
            creds = grpc.ssl_channel_credentials(root_certificates=self.ca)
        else:
            creds = grpc.ssl_channel_credentials(root_certificates=self.ca,
                                                 private_key=read(client + ".key"),
                                                 certificate_chain=read(client + ".pem"))
        return Conn(self.addr, creds, options=[("grpc.ssl_target_name_override", "localhost")])


LD = donor_pb2.ListDonorsRequest(page_size=1)


def new_need():
    return need_pb2.CreateNeedRequest(need=need_msg(), need_id=uid("need"))


def test_token_without_client_cert(t, st):
    """The client certificate is optional: a token over TLS works."""
    admin = Client(t.conn(), st["admin_token"])
    r = admin.P.ListPrincipals(principal_pb2.ListPrincipalsRequest())
    assert "principals/admin" in {p.name for p in r.principals}
    # And no credentials at all over TLS: UNAUTHENTICATED, not a handshake failure.
    expect(Client(t.conn()).D.ListDonors, Code.UNAUTHENTICATED, LD)
    st["admin"] = admin
    for pid, role, ident in (("fo-cert", Principal.ROLE_FRONT_OFFICE, FO_SAN),
                             ("bo-cert", Principal.ROLE_BACK_OFFICE, BO_CN),
                             ("au-cert", Principal.ROLE_AUDITOR, AU_SAN)):
        p, _ = create_principal(admin, pid, role, cert_identity=ident)
        assert p.cert_identity == ident, p
    # cert_identity is unique among principals (contract).
    expect(admin.P.CreatePrincipal, Code.ALREADY_EXISTS, principal_pb2.CreatePrincipalRequest(
        principal=Principal(display_name="twin", role=Principal.ROLE_OBSERVER,
                            cert_identity=FO_SAN)))


def test_san_cert(t, st):
    """The SAN-mapped certificate acts as the FRONT_OFFICE principal, with
    exactly that role's rights; no token needed."""
    fo = Client(t.conn("fo"))
    n = fo.N.CreateNeed(new_need())
    assert n.state == Need.STATE_DRAFT
    fo.N.SubmitNeed(need_pb2.SubmitNeedRequest(name=n.name))
    st["submitted"] = n.name
    fo.D.ListDonors(LD)  # staff read donors
    expect(fo.N.ValidateNeed, Code.PERMISSION_DENIED, need_pb2.ValidateNeedRequest(name=n.name))
    expect(fo.P.ListPrincipals, Code.PERMISSION_DENIED, principal_pb2.ListPrincipalsRequest())
    g = st["admin"].P.GetPrincipal(principal_pb2.GetPrincipalRequest(name="principals/fo-cert"))
    assert g.last_use_time.seconds > 0, "the certificate's use is not recorded as the principal's"


def test_cn_cert(t, st):
    """A certificate without SAN maps by its CN (BACK_OFFICE)."""
    bo = Client(t.conn("bo"))
    v = bo.N.ValidateNeed(need_pb2.ValidateNeedRequest(name=st["submitted"]))
    assert v.state == Need.STATE_OPEN
    bo.D.CreateDonor(donor_pb2.CreateDonorRequest(
        donor=Donor(display_name="Finland", kind=Donor.KIND_STATE, country_code="FI",
                    membership=Donor.MEMBERSHIP_MEMBER), donor_id="finland"))
    expect(bo.N.CreateNeed, Code.PERMISSION_DENIED, new_need())


def test_unknown_ca(t, st):
    """A certificate from a CA the server does not trust: the handshake fails."""
    c = Client(t.conn("rogue"))
    code, det = outcome(c.D.ListDonors, LD)
    assert code == Code.UNAVAILABLE, (code, det)
    # Even with a valid token beside it: the certificate is checked first.
    c = Client(t.conn("rogue"), st["admin_token"])
    code, det = outcome(c.P.ListPrincipals, principal_pb2.ListPrincipalsRequest())
    assert code == Code.UNAVAILABLE, (code, det)


def test_unmapped_cert(t, st):
    """A verified certificate that maps to no principal: UNAUTHENTICATED."""
    expect(Client(t.conn("nobody")).D.ListDonors, Code.UNAUTHENTICATED, LD)


def test_disabled_cert(t, st):
    """A disabled principal's certificate stops working at once, on a new
    connection and on one that was already open."""
    open_conn = t.conn("au")
    au = Client(open_conn)
    au.D.ListDonors(LD)
    au.P.ListPrincipals(principal_pb2.ListPrincipalsRequest())  # AUDITOR reads principals
    expect(au.N.CreateNeed, Code.PERMISSION_DENIED, new_need())
    st["admin"].P.DisablePrincipal(principal_pb2.DisablePrincipalRequest(
        name="principals/au-cert"))
    expect(au.D.ListDonors, Code.UNAUTHENTICATED, LD)
    expect(Client(t.conn("au")).D.ListDonors, Code.UNAUTHENTICATED, LD)


def test_plaintext_client(t, st):
    """A plaintext client against the TLS port gets nowhere."""
    c = Client(Conn(t.addr), st["admin_token"])
    code, det = outcome(c.P.ListPrincipals, principal_pb2.ListPrincipalsRequest())
    assert code == Code.UNAVAILABLE, (code, det)


def test_log(srv):
    """Every call's log line names the principal, certificates included."""
    log = srv.text()
    for p in ("principals/fo-cert", "principals/bo-cert", "principals/admin"):
        assert "principal=" + p in log, "no call line names " + p


def test_refusals(data_dir):
    """Plaintext only on loopback; TLS is the default; bad TLS files fail."""
    for argv, want in (
            (["--listen", "0.0.0.0:0", "--insecure"], "loopback"),
            (["--listen", "[::]:0", "--insecure"], "loopback"),
            (["--listen", "192.0.2.1:0", "--insecure"], "loopback"),
            (["--listen", "127.0.0.1:0"], "--tls-cert")):
        t0 = time.monotonic()
        r = subprocess.run([BIN] + argv + ["--data-dir", data_dir] +
                           harness.database_args(data_dir), capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 2, "%s: exit %d, %s" % (argv, r.returncode, r.stderr)
        assert want in r.stderr, "%s: the message does not mention %s: %r" % (argv, want,
                                                                                r.stderr)
        assert "event=listening" not in r.stderr
        assert time.monotonic() - t0 < 20


def main():
    cases = harness.Cases()
    t0 = time.monotonic()
    cases.run("make CA, server and client certificates", make_certs)
    data_dir, admin_token, _ = init_data_dir(BIN, "tallinn-mtls-")
    cases.run("plaintext on a non-loopback address is refused", test_refusals, data_dir)
    srv = harness.Server([BIN, "--listen", "127.0.0.1:0", "--data-dir", data_dir,
                          "--tls-cert", path("server.pem"), "--tls-key", path("server.key"),
                          "--client-ca", path("ca.pem"), "--grace-ms", "2000"] +
                         harness.database_args(data_dir), PORT_RE)
    t, st = Tls(srv), {"admin_token": admin_token}
    try:
        cases.run("token over TLS without a client certificate", test_token_without_client_cert,
                  t, st)
        cases.run("SAN certificate acts as its principal", test_san_cert, t, st)
        cases.run("CN-only certificate maps by CN", test_cn_cert, t, st)
        cases.run("certificate from an unknown CA is refused", test_unknown_ca, t, st)
        cases.run("unmapped certificate is UNAUTHENTICATED", test_unmapped_cert, t, st)
        cases.run("disabled principal's certificate", test_disabled_cert, t, st)
        cases.run("plaintext client against the TLS port", test_plaintext_client, t, st)
        cases.run("log names the certificate's principal", test_log, srv)
    finally:
        cases.run("server exits 0 after SIGTERM", stop_clean, srv)
    print("%.1f s" % (time.monotonic() - t0))
    finish(cases)


if __name__ == "__main__":
    main()
