#!/usr/bin/python3
"""Known answers for C2SP tlog-cosignature/v1 (Ed25519), computed with an
implementation independent of lib/cosig.c (hashlib, base64, python3-nacl):
two test witnesses cosign every checkpoint of the Tessera test log
(../tessera/log/checkpoint.N) at fixed timestamps. Writes vectors.txt beside
this script; with --check, only compares with the file there (exit 1 if it
differs). The seeds are derived from fixed strings: test keys only."""
import base64
import hashlib
import os
import sys

import nacl.signing

HERE = os.path.dirname(os.path.abspath(__file__))
LOG = os.path.join(HERE, "..", "tessera", "log")
WITNESSES = [("witness.tallinn.test/w1", b"tallinn cosignature test witness 1"),
             ("witness.tallinn.test/w2", b"tallinn cosignature test witness 2")]
EM = "\u2014 "


def key_id(name, pub):
    # tlog-cosignature: SHA-256(<name> || "\n" || 0x04 || 32-byte key)[:4]
    return hashlib.sha256(name.encode() + b"\n" + b"\x04" + pub).digest()[:4]


def keys(name, label):
    seed = hashlib.sha256(label).digest()
    sk = nacl.signing.SigningKey(seed)
    pub = bytes(sk.verify_key)
    kid = key_id(name, pub)
    vkey = "%s+%s+%s" % (name, kid.hex(), base64.b64encode(b"\x04" + pub).decode())
    skey = "PRIVATE+KEY+%s+%s+%s" % (name, kid.hex(), base64.b64encode(b"\x04" + seed).decode())
    return sk, kid, vkey, skey


def note_text(note):
    cut = note.rindex(b"\n\n")
    return note[:cut + 1]


def cosign(sk, kid, name, text, t):
    msg = b"cosignature/v1\ntime %d\n" % t + text
    sig = sk.sign(msg).signature
    return EM + name + " " + base64.b64encode(kid + t.to_bytes(8, "big") + sig).decode()


def main():
    out = ["# tlog-cosignature/v1 known answers over tests/data/tessera/log/checkpoint.N,",
           "# written by make_vectors.py (Python, hashlib + python3-nacl). Lines:",
           "#   witness <vkey> <private key>",
           "#   cosig <witness number, from 1> <N> <timestamp> <signature line, em dash first>",
           "#   message <N> <timestamp> <base64 of the signed message>"]
    ws = []
    for name, label in WITNESSES:
        sk, kid, vkey, skey = keys(name, label)
        ws.append((name, sk, kid))
        out.append("witness %s %s" % (vkey, skey))
    for n in range(16):
        with open(os.path.join(LOG, "checkpoint.%d" % n), "rb") as f:
            text = note_text(f.read())
        # Timestamps cover small, 10-digit and 2^63 - 1 (the largest allowed).
        t = (2**63 - 1) if n == 15 else (1 if n == 0 else 1700000000 + n * 3600)
        out.append("message %d %d %s" % (n, t, base64.b64encode(
            b"cosignature/v1\ntime %d\n" % t + text).decode()))
        for i, (name, sk, kid) in enumerate(ws):
            out.append("cosig %d %d %d %s" % (i + 1, n, t, cosign(sk, kid, name, text, t)))
    data = "\n".join(out) + "\n"
    path = os.path.join(HERE, "vectors.txt")
    if sys.argv[1:] == ["--check"]:
        with open(path, encoding="utf-8") as f:
            if f.read() != data:
                print("vectors.txt differs from what make_vectors.py computes", file=sys.stderr)
                return 1
        print("vectors.txt: %d lines reproduced" % len(out))
        return 0
    with open(path, "w", encoding="utf-8") as f:
        f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
