#!/usr/bin/python3
"""witness_bench.py — add-checkpoint on one loopback `tallinn-audit witness`,
one keep-alive connection, 3 s per kind: the baseline (409: parse, verify the
log's signature, answer; nothing written) and a cosignature (200: the same,
plus the durable state write — temporary file, fsync, rename, fsync of the
directory — and the Ed25519 cosignature). Prints requests/s for both.
Usage: bench/witness_bench.py BUILD_DIR   (a Release build with tallinn-audit
and tests/audit_mklog built). Results: docs/audit.md ("Measured")."""
import http.client
import re
import shutil
import subprocess
import sys
import tempfile
import time

B = sys.argv[1]
SKEY = "PRIVATE+KEY+example.com/log/testdata+33d7b496+AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg"
VKEY = "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx"
SECONDS, MAX_REQUESTS = 3, 100000

t = tempfile.mkdtemp(prefix="tallinn-witness-bench-")
subprocess.run([B + "/tests/audit_mklog", t + "/log", "1000", SKEY], check=True)
with open(t + "/log/checkpoint", "rb") as f:
    note = f.read()
subprocess.run([B + "/bin/tallinn-audit", "witness", "init", "--dir", t + "/w", "--name",
                "bench/w"], check=True, capture_output=True)
log = open(t + "/w.log", "w")  # a file: a full pipe would block the witness
p = subprocess.Popen([B + "/bin/tallinn-audit", "witness", "serve", "--dir", t + "/w",
                      "--listen", "127.0.0.1:0", "--log", VKEY], stderr=log)
try:
    port = None
    for _ in range(200):
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", open(t + "/w.log").read())
        if m:
            port = int(m.group(1))
            break
        time.sleep(0.05)
    assert port, "the witness did not start"
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(old):
        c.request("POST", "/add-checkpoint", body=b"old %d\n\n" % old + note)
        r = c.getresponse()
        r.read()
        return r.status
    assert post(0) == 200
    for name, old, want in (("409 stale: no write, no signature", 5, 409),
                            ("200 cosigned: durable write + signature", 1000, 200)):
        n, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < SECONDS and n < MAX_REQUESTS:
            assert post(old) == want
            n += 1
        dt = time.monotonic() - t0
        print("%-42s %6d requests in %.2f s: %6.0f/s, %.2f ms each" % (name, n, dt, n / dt,
                                                                      dt / n * 1e3))
finally:
    p.terminate()
    p.wait(30)
    shutil.rmtree(t, ignore_errors=True)
