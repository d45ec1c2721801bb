"""Tokens stay secret (issue 7): after creating, rotating, disabling and using
principals with good and bad tokens, no token appears in the server's log, in
any error or response, or in any byte of the data directory (the database,
its WAL, keys) -- not as text, not as its base64url body, not as its raw or
hex bytes, not as an unkeyed hash. admin.token is mode 0600 and the only
place the first ADMIN token is.
Run: /usr/bin/python3 secrets_test.py path/to/tallinnd"""
import base64
import hashlib
import os
import stat
import sys
import time
import uuid

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from authz_test import (Client, Code, Conn, Principal, create_principal, donor_pb2,  # noqa: E402
                        finish, init_data_dir, need_msg, need_pb2, principal_pb2,
                        start_insecure, stop_clean)

BIN = sys.argv[1]


def forms(token):
    """Every form in which a token could sit in a file or a message."""
    body = token[len("tln_"):]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    out = {"token": token.encode(), "base64url body": body.encode(), "raw bytes": raw,
           "hex": raw.hex().encode(), "HEX": raw.hex().upper().encode(),
           "std base64": base64.b64encode(raw).rstrip(b"="),
           # Stored only as a keyed hash: an unkeyed one would let anyone
           # holding the database test guesses.
           "sha256(token)": hashlib.sha256(token.encode()).digest(),
           "blake2b-256(token)": hashlib.blake2b(token.encode(), digest_size=32).digest(),
           "sha256(raw)": hashlib.sha256(raw).digest()}
    assert len(raw) == 32, "a token body should carry 32 random bytes"
    return out


def data_files(d):
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                yield os.path.relpath(p, d), fh.read()


def find(haystacks, tokens, allowed=()):
    """["<what> of <whose token> in <where>"] for every hit outside allowed
    (pairs of token label and place)."""
    hits = []
    for where, data in haystacks:
        for label, tok in tokens.items():
            if (label, where) in allowed:
                continue
            for form, needle in forms(tok).items():
                if needle in data:
                    hits.append("%s of %s's token in %s" % (form, label, where))
    return hits


class State:
    def __init__(self):
        self.dir, self.admin_token, self.init_out = init_data_dir(BIN, "tallinn-secrets-")
        self.tokens = {"admin": self.admin_token}
        self.messages = []  # every error and response the clients saw, as bytes
        self.srv = None


def record(st, fn, *args):
    """Calls fn once; keeps its response or its error (code, message and
    trailing metadata) for test_messages."""
    try:
        resp = fn(*args)
    except grpc.RpcError as e:
        st.messages.append(("%s %s" % (e.code().name, e.details())).encode())
        st.messages += [k.encode() + b"=" + (v if isinstance(v, bytes) else v.encode())
                        for k, v in e.trailing_metadata() or ()]
        return e.code()
    st.messages.append(resp.SerializeToString())
    return Code.OK


def test_admin_token_file(st):
    p = os.path.join(st.dir, "admin.token")
    mode = stat.S_IMODE(os.stat(p).st_mode)
    assert mode == 0o600, "admin.token has mode %o" % mode
    assert not find([("tallinnd init's output", st.init_out.encode())], st.tokens)


def test_use_tokens(st):
    """Create, rotate, disable, idempotent create; good calls first (they also
    fail with PERMISSION_DENIED, NOT_FOUND, INVALID_ARGUMENT), then bad
    tokens, few enough not to reach the rate limit."""
    st.srv = start_insecure(BIN, st.dir)
    conn = Conn(st.srv.addr)
    admin = Client(conn, st.admin_token)
    R = Principal
    for pid, role in (("fo", R.ROLE_FRONT_OFFICE), ("bo", R.ROLE_BACK_OFFICE),
                      ("aud", R.ROLE_AUDITOR), ("gone", R.ROLE_OBSERVER)):
        _, st.tokens[pid] = create_principal(admin, pid, role)
    r = admin.P.RotateToken(principal_pb2.RotateTokenRequest(name="principals/bo"))
    st.tokens["bo (rotated away)"], st.tokens["bo"] = st.tokens["bo"], r.token
    r = admin.P.RotateToken(principal_pb2.RotateTokenRequest(name="principals/bo",
                                                              request_id=str(uuid.uuid4())))
    st.tokens["bo (rotated away twice)"], st.tokens["bo"] = st.tokens["bo"], r.token
    req = principal_pb2.CreatePrincipalRequest(
        principal=Principal(display_name="Idem", role=R.ROLE_OBSERVER), principal_id="idem",
        request_id=str(uuid.uuid4()))
    st.tokens["idem"] = admin.P.CreatePrincipal(req).token
    assert admin.P.CreatePrincipal(req).token == ""  # a repeat: no token again
    admin.P.DisablePrincipal(principal_pb2.DisablePrincipalRequest(name="principals/gone"))

    fo, bo, aud = (Client(conn, st.tokens[p]) for p in ("fo", "bo", "aud"))
    n = fo.N.CreateNeed(need_pb2.CreateNeedRequest(need=need_msg(), need_id="n1"))
    for fn, req in ((fo.N.SubmitNeed, need_pb2.SubmitNeedRequest(name=n.name)),
                    (bo.N.ValidateNeed, need_pb2.ValidateNeedRequest(name=n.name)),
                    (fo.N.ValidateNeed, need_pb2.ValidateNeedRequest(name=n.name)),  # PD
                    (aud.N.GetNeed, need_pb2.GetNeedRequest(name="needs/absent")),  # NF
                    (bo.D.CreateDonor, donor_pb2.CreateDonorRequest()),  # INVALID_ARGUMENT
                    (aud.P.ListPrincipals, principal_pb2.ListPrincipalsRequest()),
                    (admin.P.GetPrincipal, principal_pb2.GetPrincipalRequest(name="principals/bo")),
                    (admin.N.ListNeeds, need_pb2.ListNeedsRequest())):  # PD
        record(st, fn, req)
    ld = donor_pb2.ListDonorsRequest()
    bad = [("authorization", "Bearer " + st.tokens["bo (rotated away)"]),
           ("authorization", "Bearer " + st.tokens["gone"]),
           ("authorization", "Bearer " + st.tokens["fo"][:-1] + ("A" if st.tokens["fo"][-1] != "A"
                                                                else "B")),
           ("authorization", st.tokens["fo"]),  # no scheme
           ("authorization", "Token " + st.tokens["aud"]),
           ("x-api-key", st.tokens["bo"])]
    codes = [record(st, Client(conn, metadata=[md]).D.ListDonors, ld) for md in bad]
    assert all(c == Code.UNAUTHENTICATED for c in codes), [c.name for c in codes]
    conn.close()


def test_messages(st):
    hits = find([("a response or error", b"\n".join(st.messages))], st.tokens)
    assert not hits, "\n".join(hits)


def test_log_names_principals(st):
    for p in ("admin", "fo", "bo", "aud"):
        st.srv.wait_log(r"principal=principals/%s( |\n)" % p)


def test_data_dir_while_running(st):
    files = list(data_files(st.dir))
    if harness.PG is None:
        assert any(n.startswith("tallinn.db") for n, _ in files), [n for n, _ in files]
    else:  # the data lives in PostgreSQL; the directory holds keys only
        assert not any(n.startswith("tallinn.db") for n, _ in files), [n for n, _ in files]
        files += harness.db_dump(st.dir)
    hits = find(files, st.tokens, allowed={("admin", "admin.token")})
    assert not hits, "\n".join(hits)


def test_after_stop(st):
    stop_clean(st.srv)
    files = list(data_files(st.dir))
    if harness.PG is not None:
        files += harness.db_dump(st.dir)
    hits = find(files, st.tokens, allowed={("admin", "admin.token")})
    hits += find([("the server log", st.srv.text().encode())], st.tokens)
    assert not hits, "\n".join(hits)
    # admin.token holds the token and nothing else (a trailing newline at most).
    with open(os.path.join(st.dir, "admin.token"), "rb") as f:
        assert f.read().strip() == st.admin_token.encode()


def main():
    cases = harness.Cases()
    t0 = time.monotonic()
    st = State()
    cases.run("admin.token is 0600, init prints no token", test_admin_token_file, st)
    cases.run("create, rotate, disable, call with good and bad tokens", test_use_tokens, st)
    cases.run("no token in any response or error", test_messages, st)
    cases.run("log lines name principals", test_log_names_principals, st)
    cases.run("no token in the data dir while serving", test_data_dir_while_running, st)
    cases.run("no token in the data dir or the log after stop", test_after_stop, st)
    if st.srv is not None and st.srv.proc.poll() is None:
        st.srv.stop()
    print("%d tokens, %.1f s" % (len(st.tokens), time.monotonic() - t0))
    finish(cases)


if __name__ == "__main__":
    main()
