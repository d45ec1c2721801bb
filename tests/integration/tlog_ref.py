"""RFC 9162 Merkle hashing and proof checking, and C2SP signed-checkpoint
verification, re-implemented in Python as an independent check of the C
library (lib/) and the server: tests compare the two, never one with itself."""
import base64
import hashlib


def sha(b):
    return hashlib.sha256(b).digest()


def leaf_hash(b):
    return sha(b"\x00" + b)


def node(left, right):
    return sha(b"\x01" + left + right)


def mth(hashes):
    n = len(hashes)
    if n == 0:
        return sha(b"")
    if n == 1:
        return hashes[0]
    k = 1 << ((n - 1).bit_length() - 1)
    return node(mth(hashes[:k]), mth(hashes[k:]))


def _split(n):
    return 1 << ((n - 1).bit_length() - 1)


def consistency_proof(hashes, m):
    """RFC 9162 §2.1.4.1 PROOF(m, D[n]) over leaf hashes, 0 < m <= n."""
    def subproof(m, d, b):
        n = len(d)
        if m == n:
            return [] if b else [mth(d)]
        k = _split(n)
        if m <= k:
            return subproof(m, d[:k], b) + [mth(d[k:])]
        return subproof(m - k, d[k:], False) + [mth(d[:k])]
    assert 0 < m <= len(hashes)
    return subproof(m, hashes, True)


def open_cosignature(note, vkey):
    """The timestamp of witness vkey's C2SP cosignature/v1 (Ed25519, key type
    0x04) on a signed checkpoint note; raises if there is none or it does not
    verify."""
    import nacl.signing
    name, key_id, b64 = vkey.split("+", 2)
    raw = base64.b64decode(b64)
    assert raw[0] == 4 and len(raw) == 33, vkey
    assert sha(name.encode() + b"\n\x04" + raw[1:])[:4].hex() == key_id, "key ID"
    cut = note.rindex(b"\n\n")
    text, sigs = note[:cut + 1], note[cut + 2:].decode().splitlines()
    for line in sigs:
        who, sig = line[2:].rsplit(" ", 1)
        sig = base64.b64decode(sig)
        if who == name and sig[:4] == bytes.fromhex(key_id):
            assert len(sig) == 76, "not a cosignature/v1"
            t = int.from_bytes(sig[4:12], "big")
            msg = b"cosignature/v1\ntime %d\n" % t + text
            nacl.signing.VerifyKey(raw[1:]).verify(msg, sig[12:])  # raises if bad
            return t
    raise AssertionError("no cosignature by %s" % vkey)


def verify_inclusion(index, size, leaf, proof, root):
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not (fn & 1 or fn == 0):
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(s1, s2, r1, r2, proof):
    if s1 == 0 or s1 > s2:
        return False
    if s1 == s2:
        return not proof and r1 == r2
    proof = list(proof)
    if s1 & (s1 - 1) == 0:
        proof = [r1] + proof
    if not proof:
        return False
    fn, sn = s1 - 1, s2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            while not (fn & 1 or fn == 0):
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == r1 and sr == r2


def open_checkpoint(note, vkey):
    """Verifies a signed checkpoint note with a verifier key string (C2SP
    signed-note, Ed25519) and returns (origin, size, root)."""
    import nacl.signing
    name, key_id, b64 = vkey.split("+", 2)
    raw = base64.b64decode(b64)
    assert raw[0] == 1 and len(raw) == 33, vkey
    cut = note.rindex(b"\n\n")
    text, sigs = note[:cut + 1], note[cut + 2:].decode().splitlines()
    ok = 0
    for line in sigs:
        assert line.startswith("\u2014 "), line
        who, sig = line[2:].rsplit(" ", 1)
        sig = base64.b64decode(sig)
        if who == name and sig[:4] == bytes.fromhex(key_id):
            nacl.signing.VerifyKey(raw[1:]).verify(text, sig[4:])  # raises if bad
            ok += 1
    assert ok == 1, "no signature by %s" % vkey
    origin, size, root = text.decode().split("\n")[:3]
    return origin, int(size), base64.b64decode(root)


def tile_path(level, n, width):
    """C2SP tlog-tiles path of tile n at level ("entries" for data tiles),
    width hashes or entries wide (256 = full)."""
    s = "%d" % n
    s = s.zfill((len(s) + 2) // 3 * 3)
    groups = [s[i:i + 3] for i in range(0, len(s), 3)]
    p = "tile/%s/%s" % (level, "/".join(["x" + g for g in groups[:-1]] + [groups[-1]]))
    return p if width == 256 else p + ".p/%d" % width


def read_tiles(d, vkey):
    """Verifies a tlog-tiles directory (an export of the log) from scratch:
    the checkpoint's signature, every entry bundle (16-bit big-endian length
    prefixes), every hash tile against the leaves, and the root. Returns the
    leaves; raises AssertionError naming what does not hold."""
    import os
    note = open(os.path.join(d, "checkpoint"), "rb").read()
    _, size, root = open_checkpoint(note, vkey)
    leaves = []
    for n in range((size + 255) // 256):
        width = min(256, size - n * 256)
        data = open(os.path.join(d, tile_path("entries", n, width)), "rb").read()
        i, got = 0, []
        while i < len(data):
            assert i + 2 <= len(data), "entry bundle %d: truncated length" % n
            ln = int.from_bytes(data[i:i + 2], "big")
            assert i + 2 + ln <= len(data), "entry bundle %d: truncated entry" % n
            got.append(data[i + 2:i + 2 + ln])
            i += 2 + ln
        assert len(got) == width, "entry bundle %d holds %d entries, not %d" % (n, len(got), width)
        leaves += got
    level, lv = [leaf_hash(e) for e in leaves], 0
    assert mth(level) == root, "the leaves do not hash to the checkpoint's root"
    while len(level) > 0:
        for n in range((len(level) + 255) // 256):
            want = b"".join(level[n * 256:(n + 1) * 256])
            p = os.path.join(d, tile_path(lv, n, len(want) // 32))
            assert open(p, "rb").read() == want, "hash tile %s differs" % tile_path(
                lv, n, len(want) // 32)
        level = [mth(level[i * 256:(i + 1) * 256]) for i in range(len(level) // 256)]
        lv += 1
    return leaves
