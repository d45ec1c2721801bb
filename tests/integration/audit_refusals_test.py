"""Every refused write is recorded, exactly once (issue 10, item 5): every
write method called by every role (the role x method table of authz_test.py,
with its fixtures and its "@other" need-to-know rows), a DONOR proposing a
match for another donor, a coordinator deciding on its own proposal, and
state refusals (FAILED_PRECONDITION). Afterwards the log must hold exactly one
record per write call that answered OK, PERMISSION_DENIED or
FAILED_PRECONDITION — same principal, method, status and request hash — and
no other write record.

Run: /usr/bin/python3 audit_refusals_test.py TALLINND"""
import collections
import hashlib
import os
import sys
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import authz_test as az  # noqa: E402  (its World, fixtures and table; main() not run)
import harness  # noqa: E402

Code = grpc.StatusCode
RECORDED = (Code.OK, Code.PERMISSION_DENIED, Code.FAILED_PRECONDITION)
READS = ("Get", "List", "Stream", "Suggest", "Noop")
CALLS = []  # (principal, path, request, code) of every call any Client made

_call = az.Client.call


def recording_call(self, path, req, timeout=30):
    try:
        out = _call(self, path, req, timeout)
    except grpc.RpcError as e:
        CALLS.append((self.name, path, req, e.code()))
        raise
    CALLS.append((self.name, path, req, Code.OK))
    return out


az.Client.call = recording_call


def is_write(path):
    service, method = path.split(".", 1)
    return service != "AuditService" and not method.startswith(READS)


def write_rows():
    return [(row, exp) for row, exp in az.EXPECTED if is_write(row.split("@")[0])]


def test_matrix(w):
    """Every write method, every role: the table's outcome."""
    bad = []
    for row, exp in write_rows():
        try:
            az.matrix_row(w, row, exp)
        except AssertionError as e:
            bad.append(str(e))
    assert not bad, "\n".join(bad)


def test_state_refusals(w):
    """FAILED_PRECONDITION from the resource's state, in several services."""
    fo, bo, admin = w.c["fo"], w.c["bo"], w.c["admin"]
    opened = w.need("OPEN")
    az.expect(fo.N.SubmitNeed, Code.FAILED_PRECONDITION, az.need_pb2.SubmitNeedRequest(name=opened))
    az.expect(bo.N.ValidateNeed, Code.FAILED_PRECONDITION,
              az.need_pb2.ValidateNeedRequest(name=w.need("DRAFT")))
    az.expect(admin.P.DisablePrincipal, Code.FAILED_PRECONDITION,
              az.principal_pb2.DisablePrincipalRequest(name="principals/admin"))
    m = w.match(az.GAMMA, "APPROVED")
    az.expect(w.c["donor-g"].M.MarkDelivered, Code.FAILED_PRECONDITION,
              az.match_pb2.MarkDeliveredRequest(name=m))


def test_records_exactly_once(w):
    aud = w.c["aud"]
    got = collections.Counter()
    for r in aud.call("AuditService.StreamAuditRecords", az.audit_pb2.StreamAuditRecordsRequest()):
        rec = az.audit_pb2.AuditRecord.FromString(r.leaf)
        path = rec.method[len("/tallinn.v1."):].replace("/", ".")
        if rec.method.startswith("/tallinn.v1.") and is_write(path):
            got[(rec.principal, path, rec.status_code, bytes(rec.request_sha256))] += 1
    want = collections.Counter()
    seen_rid = set()
    for principal, path, req, code in CALLS:
        if not is_write(path) or code not in RECORDED:
            continue
        rid = getattr(req, "request_id", "")
        if code == Code.OK and rid:
            if (principal, path, rid) in seen_rid:
                continue  # a replay: the first result again, nothing recorded
            seen_rid.add((principal, path, rid))
        want[(principal, path, code.value[0],
              hashlib.sha256(req.SerializeToString()).digest())] += 1
    refusals = collections.Counter(k[2] for k in want.elements())
    assert refusals[7] >= 150 and refusals[9] >= 4, refusals  # the calls above were made
    missing, extra = want - got, got - want
    fmt = lambda c: "\n  ".join("%s %s status %d (x%d)" % (k[0], k[1], k[2], n)  # noqa: E731
                                for k, n in list(c.items())[:20])
    assert not missing and not extra, "refusals or changes without exactly one record:\n" \
        "missing:\n  %s\nunexpected:\n  %s" % (fmt(missing), fmt(extra))
    print("     %d write records checked: %d OK, %d PERMISSION_DENIED, %d FAILED_PRECONDITION"
          % (sum(want.values()), refusals[0], refusals[7], refusals[9]))


def main():
    cases = harness.Cases()
    t0 = time.monotonic()
    w = az.World(sys.argv[1])
    try:
        cases.run("set-up: principals per role and fixtures", w.setup)
        cases.run("every write method x every role", test_matrix, w)
        cases.run("cross-donor attempts (a DONOR proposing for another)", az.test_cross_donor, w)
        cases.run("separation of duties", az.test_separation_of_duties, w)
        cases.run("state refusals", test_state_refusals, w)
        cases.run("one record per change and per refusal, no other", test_records_exactly_once, w)
    finally:
        rc = w.srv.stop()
    cases.run("server exits 0", lambda: None if rc == 0 else (_ for _ in ()).throw(
        AssertionError("exit %d:\n%s" % (rc, "".join(w.srv.log[-40:])))))
    print("     %.1f s" % (time.monotonic() - t0))
    az.finish(cases)


if __name__ == "__main__":
    main()
