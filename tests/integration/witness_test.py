"""Witnesses (C2SP tlog-witness, tlog-cosignature/v1): `tallinn-audit witness`
as a server driven over raw HTTP from Python (every status code of
add-checkpoint, checked against an independent Python verifier of the
cosignatures), durable state across restarts and across a SIGKILL between
storing and answering, two logs on one witness, a split view (two forked
histories under one log key) refused by the witnesses and caught by
`verify --quorum`, and three witnesses with a quorum of two while one is down
(`witness cosign`, `verify`, `prove`, `check-proof`).
Usage: witness_test.py TALLINN-AUDIT AUDIT_MKLOG   (run with /usr/bin/python3)"""
import base64
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from tlog_ref import (consistency_proof, leaf_hash, mth, open_checkpoint,  # noqa: E402
                      open_cosignature, sha)

AUDIT, MKLOG = sys.argv[1], sys.argv[2]
# The Tessera test log's published key pair (tests/data/tessera/README.md).
LOG_SKEY = "PRIVATE+KEY+example.com/log/testdata+33d7b496+AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg"
LOG_VKEY = "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx"
TMP = tempfile.mkdtemp(prefix="tallinn-witness-test-")
EM = "\u2014 "
# No config file or context of the caller's: tallinn-audit would read them.
ENV = {k: v for k, v in os.environ.items() if not k.startswith("TALLINN_")}
ENV["XDG_CONFIG_HOME"] = os.path.join(TMP, "config")
ENV["ASAN_OPTIONS"] = ENV.get("ASAN_OPTIONS", "") + ":exitcode=99"
ENV["UBSAN_OPTIONS"] = ENV.get("UBSAN_OPTIONS", "") + ":exitcode=98"


# ---- keys and logs ----

def note_keys(name, label):
    """A log key pair (signed-note Ed25519, type 0x01) derived from a label."""
    import nacl.signing
    seed = sha(label.encode())
    pub = bytes(nacl.signing.SigningKey(seed).verify_key)
    kid = sha(name.encode() + b"\n\x01" + pub)[:4].hex()
    return ("PRIVATE+KEY+%s+%s+%s" % (name, kid, base64.b64encode(b"\x01" + seed).decode()),
            "%s+%s+%s" % (name, kid, base64.b64encode(b"\x01" + pub).decode()))


OTHER_SKEY, OTHER_VKEY = note_keys("other.example/log", "other log")
EMPTY_SKEY, EMPTY_VKEY = note_keys("empty.example/log", "empty log")
STRANGER_SKEY, _ = note_keys("stranger.example/log", "stranger")
IMPOSTOR_SKEY, _ = note_keys("example.com/log/testdata", "impostor with the log's name")


def sign_note(text, skey):
    import nacl.signing
    _, _, name, key_id, b64 = skey.split("+", 4)
    sig = nacl.signing.SigningKey(base64.b64decode(b64)[1:]).sign(text).signature
    return text + ("\n" + EM + "%s %s\n" % (name, base64.b64encode(
        bytes.fromhex(key_id) + sig).decode())).encode()


def entries(count, fork_at=None):
    """audit_mklog's entries: "entry <i>[ fork]" and i % 16 dots."""
    fork_at = count if fork_at is None else fork_at
    return [b"entry %d%s%s" % (i, b" fork" if i >= fork_at else b"", b"." * (i % 16))
            for i in range(count)]


def mklog(name, count, fork_at=None, skey=LOG_SKEY):
    d = os.path.join(TMP, name)
    args = [MKLOG, d, str(count), skey] + ([str(fork_at)] if fork_at is not None else [])
    subprocess.run(args, check=True, capture_output=True)
    return d


def checkpoint_of(d):
    with open(os.path.join(d, "checkpoint"), "rb") as f:
        return f.read()


def made_checkpoint(origin, size, root, skey):
    text = ("%s\n%d\n%s\n" % (origin, size, base64.b64encode(root).decode())).encode()
    return sign_note(text, skey)


def proof_between(m, n, fork_at=None):
    return consistency_proof([leaf_hash(e) for e in entries(n, fork_at)], m)


# ---- HTTP, from Python: an independent client of the protocol ----

def body(old, proof, note):
    return (b"old %d\n" % old + b"".join(base64.b64encode(h) + b"\n" for h in proof) +
            b"\n" + note)


def request(url, method, path, data=None):
    host, port = url[len("http://"):].rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    c.request(method, path, body=data)
    r = c.getresponse()
    out = (r.status, r.getheader("Content-Type"), r.read())
    c.close()
    return out


def post(w, old, proof, note):
    return request(w.url, "POST", "/add-checkpoint", body(old, proof, note))


def expect_post(w, want, old, proof, note, says=None):
    status, ctype, data = post(w, old, proof, note)
    assert status == want, "expected %d, got %d: %r" % (want, status, data)
    if says:
        assert says in data.decode(), "%r does not say %r" % (data, says)
    return ctype, data


def expect_cosigned(w, old, proof, note):
    """200 with exactly one cosignature line by w that verifies in Python
    over the checkpoint; returns (line, timestamp)."""
    t0 = int(time.time())
    _, data = expect_post(w, 200, old, proof, note)
    lines = data.decode().splitlines(keepends=True)
    assert len(lines) == 1 and lines[0].startswith(EM) and lines[0].endswith("\n"), data
    ts = open_cosignature(note + data, w.vkey)
    assert t0 - 5 <= ts <= int(time.time()) + 5, "timestamp %d is not now" % ts
    return data, ts


def expect_stale(w, old, note, size):
    ctype, data = expect_post(w, 409, old, [], note)
    assert ctype == "text/x.tlog.size", ctype
    assert data == b"%d\n" % size, data


def origin_hash(origin):
    return sha(origin.encode()).hex()


def monitored(w, origin):
    status, _, data = request(w.url, "GET", "/%s/checkpoint" % origin_hash(origin))
    return status, data


def tool(*args, env=None):
    r = subprocess.run([AUDIT] + list(args), capture_output=True, text=True,
                       env=env or ENV, timeout=120)
    assert not re.search(r"Sanitizer|runtime error", r.stderr), r.stderr
    return r


def expect_tool(rc, *args, says=()):
    r = tool(*args)
    assert r.returncode == rc, "exit %d, expected %d: %s\n--- stdout\n%s--- stderr\n%s" % (
        r.returncode, rc, " ".join(args), r.stdout, r.stderr)
    for s in ([says] if isinstance(says, str) else says):
        assert s in r.stdout + r.stderr, "output does not say %r:\n%s%s" % (s, r.stdout, r.stderr)
    return r


def witness(name, logs=(LOG_VKEY,), env=None, port=0, extra=(), scheme="http"):
    d = os.path.join(TMP, "w-" + name.replace("/", "_"))
    e = dict(ENV)
    if env:
        e.update(env)
    return harness.Witness(AUDIT, d, "witness.test/" + name, list(logs), env=e, port=port,
                           extra=extra, scheme=scheme)


def stop(w):
    rc = w.stop()
    assert rc == 0, "witness exited %d:\n%s" % (rc, w.text())
    assert not re.search(r"Sanitizer|runtime error", w.text()), w.text()


# ---- the cases ----

def test_init_and_keys():
    d = os.path.join(TMP, "init")
    r = expect_tool(0, "witness", "init", "--dir", d, "--name", "witness.example.ee/tallinn")
    vkey = r.stdout.strip()
    m = re.fullmatch(r"witness\.example\.ee/tallinn\+([0-9a-f]{8})\+([A-Za-z0-9+/]{44})", vkey)
    assert m, vkey
    raw = base64.b64decode(m.group(2))
    assert raw[0] == 4, "a cosignature/v1 key is type 0x04"
    assert sha(b"witness.example.ee/tallinn\n\x04" + raw[1:])[:4].hex() == m.group(1)
    key = os.path.join(d, "witness.key")
    assert os.stat(key).st_mode & 0o777 == 0o600
    with open(key) as f:
        skey = f.read().strip()
    # The private key's seed gives the printed public key (Python, not C).
    import nacl.signing
    _, _, name, kid, b64 = skey.split("+", 4)
    seed = base64.b64decode(b64)
    assert seed[0] == 4 and kid == m.group(1) and name == "witness.example.ee/tallinn"
    assert bytes(nacl.signing.SigningKey(seed[1:]).verify_key) == raw[1:]
    with open(os.path.join(d, "witness.vkey")) as f:
        assert f.read() == vkey + "\n"
    # Never replaces a key; bad names refused.
    expect_tool(1, "witness", "init", "--dir", d, "--name", "other", says="already exists")
    with open(key) as f:
        assert f.read().strip() == skey
    expect_tool(1, "witness", "init", "--dir", d + "2", "--name", "has space")
    expect_tool(2, "witness", "init", "--dir", d)
    # Serving: loopback only without TLS; a witness key is not a log key; the
    # key file must be private.
    expect_tool(2, "witness", "serve", "--dir", d, "--listen", "0.0.0.0:0", "--log", LOG_VKEY,
                says="loopback")
    expect_tool(1, "witness", "serve", "--dir", d, "--listen", "127.0.0.1:0", "--log", vkey,
                says="0x04")
    os.chmod(key, 0o644)
    expect_tool(1, "witness", "serve", "--dir", d, "--listen", "127.0.0.1:0", "--log", LOG_VKEY,
                says="chmod 600")
    os.chmod(key, 0o600)
    # A log key is not a witness key either.
    expect_tool(2, "verify", "x", "--key", LOG_VKEY, "--witness", LOG_VKEY, says="0x01")
    expect_tool(2, "verify", "x", "--key", LOG_VKEY, "--quorum", "1", says="--witness")
    expect_tool(2, "verify", "x", "--key", LOG_VKEY, "--witness", vkey, "--quorum", "2",
                says="never")


def test_protocol():
    """Every status code of add-checkpoint, in the spec's order, on one
    witness of three logs."""
    w = witness("proto", logs=(LOG_VKEY, OTHER_VKEY, EMPTY_VKEY))
    try:
        n10, n20, n30 = (checkpoint_of(mklog("p%d" % n, n)) for n in (10, 20, 30))
        # First contact: old 0, no proof. Then the witness's size is 10.
        expect_cosigned(w, 0, [], n10)
        expect_stale(w, 0, n20, 10)
        expect_stale(w, 15, n20, 10)
        expect_cosigned(w, 10, proof_between(10, 20), n20)
        expect_cosigned(w, 20, [], n20)  # the same checkpoint again
        p = proof_between(20, 30)
        bad = [p[0][:5] + bytes([p[0][5] ^ 1]) + p[0][6:]] + p[1:]
        expect_post(w, 422, 20, bad, n30, says="does not verify")
        expect_post(w, 422, 20, p[:-1], n30)
        expect_post(w, 422, 20, p + [p[0]], n30)
        expect_post(w, 400, 31, [], n30, says="above the checkpoint size")
        expect_cosigned(w, 20, p, n30)
        # Same size, another root, validly signed: a fork. Every validly
        # signed request refused as inconsistent (the three bad proofs above
        # too) is kept as evidence, verbatim.
        fork30 = checkpoint_of(mklog("p30fork", 30, fork_at=25))
        expect_post(w, 422, 30, [], fork30, says="another root")
        ev_dir = os.path.join(w.dir, "evidence")
        ev = sorted(os.listdir(ev_dir))
        assert len(ev) == 4, ev
        assert all(f.startswith(origin_hash("example.com/log/testdata")) and
                   f.endswith(".422.txt") for f in ev), ev
        kept = []
        for name in ev:
            with open(os.path.join(ev_dir, name), "rb") as f:
                kept.append(f.read())
        assert body(30, [], fork30) in kept and body(20, bad, n30) in kept
        # Signatures: a key of the log's name but not its key; a flipped
        # signature by the right key; a log the witness does not know.
        text = n30[:n30.rindex(b"\n\n") + 1]
        expect_post(w, 403, 30, [], sign_note(text, IMPOSTOR_SKEY))
        flipped = bytearray(n30)
        flipped[-10] = ord("A") if flipped[-10] != ord("A") else ord("B")
        expect_post(w, 403, 30, [], bytes(flipped))
        expect_post(w, 404, 0, [], made_checkpoint("stranger.example/log", 1,
                                                   leaf_hash(b"x"), STRANGER_SKEY))
        # Malformed requests.
        for raw in (b"old 01\n\n" + n30, b"old 30\n" + n30, b"old 30\n\n",
                    b"old 30\n" + b"PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n" * 64 + b"\n" +
                    n30, b"old 30\n\nnot a checkpoint\n"):
            status, _, data = request(w.url, "POST", "/add-checkpoint", raw)
            assert status == 400, (raw[:40], status, data)
        assert request(w.url, "GET", "/add-checkpoint")[0] == 405
        assert request(w.url, "POST", "/add-checkpoint", b"x" * 20000)[0] == 413
        # Size 0 must have the empty root; old 0 takes no proof (a fresh log).
        expect_post(w, 422, 0, [], made_checkpoint("empty.example/log", 0, leaf_hash(b"x"),
                                                   EMPTY_SKEY), says="empty tree")
        e3 = made_checkpoint("empty.example/log", 3, mth([leaf_hash(b"%d" % i) for i in range(3)]),
                             EMPTY_SKEY)
        expect_post(w, 422, 0, [leaf_hash(b"0")], e3, says="empty proof")
        expect_cosigned(w, 0, [], made_checkpoint("empty.example/log", 0, sha(b""), EMPTY_SKEY))
        # A second log on the same witness keeps its own state.
        o5 = checkpoint_of(mklog("o5", 5, skey=OTHER_SKEY))
        expect_cosigned(w, 0, [], o5)
        expect_stale(w, 0, n30, 30)
        expect_stale(w, 0, o5, 5)
        assert len(os.listdir(os.path.join(w.dir, "logs"))) == 3
        # The monitoring endpoint: the latest cosigned checkpoint per log.
        for origin, size, vkey in (("example.com/log/testdata", 30, LOG_VKEY),
                                   ("other.example/log", 5, OTHER_VKEY)):
            status, note = monitored(w, origin)
            assert status == 200
            assert open_checkpoint(note, vkey)[1] == size
            open_cosignature(note, w.vkey)
        assert monitored(w, "stranger.example/log")[0] == 404
        assert request(w.url, "GET", "/nothing")[0] == 404
    finally:
        stop(w)
    return w


def test_restart_keeps_state():
    w = witness("restart")
    n10, n20 = checkpoint_of(mklog("r10", 10)), checkpoint_of(mklog("r20", 20))
    try:
        expect_cosigned(w, 0, [], n10)
        before = monitored(w, "example.com/log/testdata")[1]
        # A second process on the same directory is refused while it runs.
        r = tool("witness", "serve", "--dir", w.dir, "--listen", "127.0.0.1:0", "--log", LOG_VKEY)
        assert r.returncode == 1 and "locked" in r.stderr, r.stderr
    finally:
        stop(w)
    w = witness("restart")
    try:
        expect_stale(w, 0, n20, 10)
        assert monitored(w, "example.com/log/testdata")[1] == before
        expect_cosigned(w, 10, proof_between(10, 20), n20)
    finally:
        stop(w)
    # A damaged state is not silently forgotten: the witness refuses to start.
    path = os.path.join(w.dir, "logs", origin_hash("example.com/log/testdata") + ".checkpoint")
    with open(path, "rb") as f:
        good = f.read()
    bad = bytearray(good)
    bad[-20] = ord("A") if bad[-20] != ord("A") else ord("B")
    with open(path, "wb") as f:
        f.write(bytes(bad))
    r = tool("witness", "serve", "--dir", w.dir, "--listen", "127.0.0.1:0", "--log", LOG_VKEY)
    assert r.returncode == 1 and "refusing to start" in r.stderr, r.stderr
    with open(path, "wb") as f:
        f.write(good)
    w = witness("restart")
    try:
        expect_stale(w, 0, n20, 20)
    finally:
        stop(w)


def process_state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_sigkill_between_store_and_answer():
    """The witness stores H1@20, is killed before it answers; afterwards it
    cosigns nothing inconsistent with H1@20 (the fork H2), only H1."""
    h1_20 = checkpoint_of(mklog("k-h1-20", 20))
    h2_20 = checkpoint_of(mklog("k-h2-20", 20, fork_at=10))
    h2_25 = checkpoint_of(mklog("k-h2-25", 25, fork_at=10))
    w = witness("kill")
    try:
        expect_cosigned(w, 0, [], checkpoint_of(mklog("k-10", 10)))
    finally:
        stop(w)
    # The test hook: SIGSTOP itself after the state is durable, before the
    # answer is sent.
    w = witness("kill", env={"TALLINN_WITNESS_TEST_STOP_AFTER_STORE": "1"})
    answer = {}

    def submit():
        try:
            answer["r"] = post(w, 10, proof_between(10, 20), h1_20)
        except Exception as e:  # the connection dies with the witness
            answer["error"] = e
    t = threading.Thread(target=submit, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while process_state(w.proc.pid) != "T":
        assert time.monotonic() < deadline, "the witness never stopped:\n" + w.text()
        time.sleep(0.02)
    state = os.path.join(w.dir, "logs", origin_hash("example.com/log/testdata") + ".checkpoint")
    with open(state, "rb") as f:
        stored = f.read()
    assert open_checkpoint(stored, LOG_VKEY)[1] == 20, "not stored before answering"
    open_cosignature(stored, w.vkey)
    assert "r" not in answer, "answered before the test let it"
    w.proc.send_signal(signal.SIGKILL)
    w.proc.wait(10)
    t.join(30)
    assert "r" not in answer, "a killed witness answered: %r" % (answer,)
    w = witness("kill")
    try:
        expect_stale(w, 10, h2_20, 20)
        expect_post(w, 422, 20, [], h2_20)
        expect_post(w, 422, 20, proof_between(20, 25, fork_at=10), h2_25)
        expect_cosigned(w, 20, [], h1_20)
        assert monitored(w, "example.com/log/testdata")[1].startswith(
            h1_20[:h1_20.rindex(b"\n\n")])
    finally:
        stop(w)


def cosign(d, *ws, rc=0, quorum=None, says=()):
    args = ["witness", "cosign", d, "--key", LOG_VKEY]
    for w in ws:
        args += ["--witness", "%s %s" % (w.vkey, w.url)]
    if quorum:
        args += ["--quorum", str(quorum)]
    return expect_tool(rc, *args, says=says)


def wargs(*ws, quorum=None):
    out = []
    for w in ws:
        out += ["--witness", w.vkey]
    return out + (["--quorum", str(quorum)] if quorum else [])


def test_split_view():
    """One log key, two histories sharing 10 entries: witness A is shown
    H1, witness B H2. Each history alone verifies; the witnesses refuse the
    other one, and no checkpoint of either reaches a quorum of both."""
    common = mklog("s-common", 10)
    h1 = mklog("s-h1", 20)
    h2 = mklog("s-h2", 20, fork_at=10)
    a, b = witness("split-a"), witness("split-b")
    try:
        cosign(common, a, b)
        cosign(h1, a)
        cosign(h2, b)
        for d in (h1, h2):
            expect_tool(0, "verify", d, "--key", LOG_VKEY, "-q")  # each alone is self-consistent
        r = cosign(h1, b, rc=8, says=("SECURITY ERROR", "422"))
        cosign(h2, a, rc=8, says="SECURITY ERROR")
        open_cosignature(checkpoint_of(h1), a.vkey)
        for d in (h1, h2):
            expect_tool(8, "verify", d, "--key", LOG_VKEY, *wargs(a, b),
                        says=("SECURITY ERROR", "1 of the 2 witnesses", "split view"))
        expect_tool(0, "verify", h1, "--key", LOG_VKEY, *wargs(a, b, quorum=1),
                    says="1 of 2 cosigned (quorum 1): witness.test/split-a")
        # B's line from H2 pasted under H1: it does not cosign H1.
        b_line = [ln for ln in checkpoint_of(h2).decode().splitlines(keepends=True)
                  if ln.startswith(EM + "witness.test/split-b ")]
        assert len(b_line) == 1
        forged = os.path.join(TMP, "s-forged")
        shutil.copytree(h1, forged)
        with open(os.path.join(forged, "checkpoint"), "ab") as f:
            f.write(b_line[0].encode())
        expect_tool(8, "verify", forged, "--key", LOG_VKEY, *wargs(a, b),
                    says=("SECURITY ERROR", "invalid cosignature", "witness.test/split-b"))
        # The witnesses still stand by their own histories.
        expect_stale(a, 0, checkpoint_of(h1), 20)
        expect_stale(b, 0, checkpoint_of(h2), 20)
        del r
    finally:
        stop(a)
        stop(b)


def test_three_witnesses_one_down():
    log = mklog("q40", 40)
    x, y, z = witness("q-x"), witness("q-y"), witness("q-z")
    stop(z)  # down: its port refuses connections
    try:
        r = cosign(log, x, y, z, quorum=2, says="cosigned by 2 of 3")
        assert "witness.test/q-z" in r.stderr and "no answer" in r.stderr, r.stderr
        # default: all three; one did not answer, so 3 (not reached), not 1
        cosign(log, x, y, z, rc=3, says="could not reach enough witnesses")
        note = checkpoint_of(log)
        open_cosignature(note, x.vkey)
        open_cosignature(note, y.vkey)
        expect_tool(0, "verify", log, "--key", LOG_VKEY, *wargs(x, y, z, quorum=2),
                    says="2 of 3 cosigned (quorum 2)")
        expect_tool(8, "verify", log, "--key", LOG_VKEY, *wargs(x, y, z, quorum=3),
                    says=("SECURITY ERROR", "witness.test/q-z+"))
        # A proof of one record, carrying the cosigned checkpoint, checked
        # fully offline.
        p, e = os.path.join(TMP, "q17.tlog-proof"), os.path.join(TMP, "q17.entry")
        expect_tool(0, "prove", "17", log, "--key", LOG_VKEY, "--proof-out", p, "--entry-out", e,
                    *wargs(x, y, z, quorum=2))
        with open(e, "rb") as f:
            assert f.read() == entries(40)[17]
        expect_tool(8, "prove", "17", log, "--key", LOG_VKEY, "--proof-out", p + ".no",
                    *wargs(x, y, z, quorum=3), says="SECURITY ERROR")
        assert not os.path.exists(p + ".no"), "a proof below the quorum was written"
        expect_tool(0, "check-proof", p, "--key", LOG_VKEY, "--entry", e,
                    *wargs(x, y, z, quorum=2), says="2 of 3 cosigned")
        expect_tool(8, "check-proof", p, "--key", LOG_VKEY, "--entry", e,
                    *wargs(x, y, z, quorum=3), says="SECURITY ERROR")
        with open(p, "rb") as f:
            proof = f.read()
        i = proof.index(b"\n" + EM.encode() + b"witness.test/q-x ") + 30
        with open(p, "wb") as f:
            f.write(proof[:i] + (b"A" if proof[i:i + 1] != b"A" else b"B") + proof[i + 1:])
        expect_tool(8, "check-proof", p, "--key", LOG_VKEY, "--entry", e,
                    *wargs(x, y, z, quorum=2), says="invalid cosignature")
        # Z comes back (same key and state) and cosigns: now all three.
        z = witness("q-z")
        cosign(log, x, y, z, says="cosigned by 3 of 3")
        expect_tool(0, "verify", log, "--key", LOG_VKEY, *wargs(x, y, z),
                    says="3 of 3 cosigned (quorum 3)")
    finally:
        for w in (x, y, z):
            if w.proc.poll() is None:
                stop(w)


def test_https():
    """With a certificate the witness speaks HTTPS (checked from Python's ssl
    and from `witness cosign` with --ca); plain http to it fails. Its
    endpoints live under --prefix."""
    import ssl
    cert, key = os.path.join(TMP, "tls.crt"), os.path.join(TMP, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    w = witness("tls", extra=("--tls-cert", cert, "--tls-key", key, "--prefix", "/tlog"),
                scheme="https")
    w.url += "/tlog"
    try:
        assert "(https)" in w.text() and "at /tlog/add-checkpoint" in w.text(), w.text()
        log = mklog("tls10", 10)
        ctx = ssl.create_default_context(cafile=cert)

        def tls_post(path):
            c = http.client.HTTPSConnection("127.0.0.1", w.port, context=ctx, timeout=30)
            c.request("POST", path, body=body(0, [], checkpoint_of(log)))
            r = c.getresponse()
            out = (r.status, r.read())
            c.close()
            return out
        assert tls_post("/add-checkpoint")[0] == 404  # outside the prefix
        status, data = tls_post("/tlog/add-checkpoint")
        assert status == 200, (status, data)
        open_cosignature(checkpoint_of(log) + data, w.vkey)
        log20 = mklog("tls20", 20)
        r = tool("witness", "cosign", log20, "--key", LOG_VKEY, "--witness",
                 "%s %s" % (w.vkey, w.url), "--ca", cert)
        assert r.returncode == 0 and "cosigned by 1 of 1" in r.stdout, r.stdout + r.stderr
        # Without the CA the certificate is not trusted: no cosignature.
        r = tool("witness", "cosign", log20, "--key", LOG_VKEY, "--witness",
                 "%s %s" % (w.vkey, w.url))
        assert r.returncode == 3 and "no answer" in r.stderr, r.stderr
        assert "could not reach enough witnesses" in r.stderr, r.stderr
        # Plain http to a TLS port is no answer either; http to a remote host
        # is refused before any request.
        r = tool("witness", "cosign", log20, "--key", LOG_VKEY, "--witness",
                 "%s http://127.0.0.1:%d" % (w.vkey, w.port))
        assert r.returncode == 3, r.stderr
        r = tool("witness", "cosign", log20, "--key", LOG_VKEY, "--witness",
                 "%s http://witness.example:80" % w.vkey)
        assert r.returncode == 1 and "plain http only to a loopback host" in r.stderr, r.stderr
    finally:
        stop(w)


def main():
    cases = harness.Cases()
    t0 = time.monotonic()
    cases.run("init_and_keys", test_init_and_keys)
    cases.run("add_checkpoint_status_codes_two_logs", test_protocol)
    cases.run("restart_keeps_state", test_restart_keeps_state)
    cases.run("sigkill_between_store_and_answer", test_sigkill_between_store_and_answer)
    cases.run("split_view_refused_and_caught", test_split_view)
    cases.run("three_witnesses_quorum_two_one_down", test_three_witnesses_one_down)
    cases.run("https", test_https)
    print("     total %.1f s" % (time.monotonic() - t0))
    if cases.failed == 0:
        shutil.rmtree(TMP, ignore_errors=True)
    cases.finish()


if __name__ == "__main__":
    main()
