#!/usr/bin/env python3
# Makes the tlog-proof fixtures from ../tessera/log with an implementation
# independent of lib/ (RFC 9162 PATH, written out here), so the C code is
# checked against it. Run from this directory: python3 gen.py
import base64, hashlib, os

LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tessera", "log")

def leaf(d): return hashlib.sha256(b"\x00" + d).digest()
def node(l, r): return hashlib.sha256(b"\x01" + l + r).digest()

def mth(hs):
    if len(hs) == 1: return hs[0]
    k = 1
    while k * 2 < len(hs): k *= 2
    return node(mth(hs[:k]), mth(hs[k:]))

def path(m, hs):
    if len(hs) <= 1: return []
    k = 1
    while k * 2 < len(hs): k *= 2
    if m < k: return path(m, hs[:k]) + [mth(hs[k:])]
    return path(m - k, hs[k:]) + [mth(hs[:k])]

def entries():
    b = open(os.path.join(LOG, "tile", "entries", "000.p", "15"), "rb").read()
    out, i = [], 0
    while i < len(b):
        n = int.from_bytes(b[i:i + 2], "big")
        out.append(b[i + 2:i + 2 + n]); i += 2 + n
    return out

def write(name, index, size, extra=None):
    es = entries()
    hs = [leaf(e) for e in es[:size]]
    cp = open(os.path.join(LOG, "checkpoint.%d" % size), "rb").read()
    assert base64.b64decode(cp.split(b"\n")[2]) == mth(hs)
    text = b"c2sp.org/tlog-proof@v1\n"
    if extra is not None:
        text += b"extra " + base64.b64encode(extra) + b"\n"
    text += b"index %d\n" % index
    for h in path(index, hs):
        text += base64.b64encode(h) + b"\n"
    text += b"\n" + cp
    open(name + ".tlog-proof", "wb").write(text)
    open(name + ".entry", "wb").write(es[index])

write("tessera-7", 7, 15)
write("tessera-14", 14, 15)
write("tessera-0-size1", 0, 1)
write("tessera-3-size5-extra", 3, 5, extra=b"tallinn extra data")
