"""Three tallinnd replicas on one PostgreSQL database, each with its own copy
of one data directory (issue 11): concurrent writes through all three while
one is killed with SIGKILL mid-load; every acknowledged write readable
through the others; `tallinn-audit verify --server` against each replica in
turn with one state file (their checkpoints are one log); an export verifies
offline; a token revoked or a principal disabled through one replica refused
by the others at once; request_id idempotency, etags, page tokens and the
overfunding and overspending guards across replicas.

Runs on the throwaway cluster of the `pg` fixture (TALLINN_TEST_ENGINE=
postgresql): integration.pg_replicas.
usage: pg_replicas_test.py TALLINND TALLINNCTL TALLINN-AUDIT"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

TALLINND, CTL, AUDIT = sys.argv[1:4]
Code = grpc.StatusCode
LOAD_SECONDS = 3.0     # concurrent writes through all three replicas
KILL_AFTER = 1.2       # ... one of them killed this far in
WRITERS_PER_REPLICA = 3


WF = harness.load_workflow(TALLINND)
need_pb2, match_pb2, principal_pb2, donor_pb2 = harness.protos(
    "tallinn/v1/need.proto", "tallinn/v1/match.proto", "tallinn/v1/principal.proto",
    "tallinn/v1/donor.proto")


class Cluster:
    """The replicas: r[0..2], one database, three copies of one directory."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="tallinn-replicas-")
        self.dirs = [os.path.join(self.tmp, "r%d" % i, "var") for i in range(3)]
        os.mkdir(os.path.dirname(self.dirs[0]))
        out = harness.init_data(TALLINND, self.dirs[0]).stdout
        self.vkey = [l for l in out.splitlines() if "+" in l and " " not in l][-1]
        for d in self.dirs[1:]:  # every replica gets a copy of the same directory
            shutil.copytree(self.dirs[0], d)
        self.r = [self.start(i) for i in range(3)]
        self.who = WF.Principals(self.r[0])
        self.auditor = self.r[0].create_principal("rep-auditor", "AUDITOR")
        self.token_file = os.path.join(self.tmp, "auditor.token")
        with open(self.token_file, "w") as f:
            f.write(self.auditor + "\n")

    def start(self, i):
        return harness.Tallinnd(TALLINND, "--quiet", data=self.dirs[i], share_with=self.dirs[0])

    def api(self, i):
        return WF.Api(self.r[i].addr, self.who)

    def stop(self):
        for s in self.r:
            if s is not None and s.proc.poll() is None:
                s.stop()


def test_read_your_writes_elsewhere(c):
    """A write acknowledged by one replica is read by the others at once."""
    a = [c.api(i) for i in range(3)]
    for i in range(3):
        n = WF.create_need(a[i], title="written through replica %d" % i)
        for j in range(3):
            g = a[j].N.GetNeed(need_pb2.GetNeedRequest(name=n.name))
            assert g.etag == n.etag and g.title == n.title, (i, j)
    WF.create_donor(a[1], "rep-estonia", display_name="Estonia", kind=WF.Donor.KIND_STATE,
                    country_code="EE", membership=WF.Donor.MEMBERSHIP_MEMBER)
    assert a[2].D.GetDonor(donor_pb2.GetDonorRequest(name="donors/rep-estonia")).country_code == "EE"


FIGURES = {}


def test_load_and_kill(c):
    """Writers on every replica for LOAD_SECONDS; replica 2 SIGKILLed at
    KILL_AFTER. Every acknowledged write is then read, unchanged, through
    replicas 0 and 1; their own writers never failed."""
    token = c.who.tokens["FRONT_OFFICE"]
    acked, failed = [], {0: [], 1: [], 2: []}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(i, k):
        ch = grpc.insecure_channel(c.r[i].addr)
        create = ch.unary_unary("/tallinn.v1.NeedService/CreateNeed",
                                request_serializer=need_pb2.CreateNeedRequest.SerializeToString,
                                response_deserializer=need_pb2.Need.FromString)
        n = 0
        while not stop.is_set() and n < 20000:
            n += 1
            nid = "rep%d-%d-%d-%s" % (i, k, n, os.urandom(2).hex())
            try:
                r = create(need_pb2.CreateNeedRequest(need=WF.need_msg(title="load " + nid),
                                                      need_id=nid),
                           metadata=harness.bearer(token), timeout=15)
            except grpc.RpcError as e:
                with lock:
                    failed[i].append(e.code())
                if i == 2:
                    break  # its replica is gone
                continue
            with lock:
                acked.append((i, r.name, r.etag))
        ch.close()

    ts = [threading.Thread(target=writer, args=(i, k)) for i in range(3)
          for k in range(WRITERS_PER_REPLICA)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    time.sleep(KILL_AFTER)
    c.r[2].signal(signal.SIGKILL)  # mid-write, no warning
    c.r[2].wait(10)
    killed_at = len(acked)
    time.sleep(max(0.0, LOAD_SECONDS - (time.monotonic() - t0)))
    stop.set()
    for t in ts:
        t.join(60)
    assert not failed[0] and not failed[1], "the surviving replicas failed writes: %s" % failed
    by = [sum(1 for a in acked if a[0] == i) for i in range(3)]
    assert all(by), "a replica acknowledged nothing: %s" % by
    # Every acknowledged write, through each survivor.
    verified = 0
    for j in (0, 1):
        ch = grpc.insecure_channel(c.r[j].addr)
        get = ch.unary_unary("/tallinn.v1.NeedService/GetNeed",
                             request_serializer=need_pb2.GetNeedRequest.SerializeToString,
                             response_deserializer=need_pb2.Need.FromString)
        for _, name, etag in acked:
            g = get(need_pb2.GetNeedRequest(name=name), metadata=harness.bearer(token), timeout=15)
            assert g.etag == etag, "%s differs through replica %d" % (name, j)
            verified += 1
        ch.close()
    FIGURES.update(acked=len(acked), by_replica=by, kills=1, verified=verified,
                   acked_before_kill=killed_at, lost_calls_on_killed=len(failed[2]))
    print("     %d writes acknowledged (per replica %s, %d before the kill), 1 replica "
          "killed (%d of its calls cut), %d reads verified through the survivors" %
          (len(acked), by, killed_at, len(failed[2]), verified))
    c.r[2] = c.start(2)  # back: its start-up verification of the log passes


def audit_verify(c, i, state, **kw):
    r = subprocess.run([AUDIT, "verify", "--server", c.r[i].addr, "--insecure", "--key", c.vkey,
                        "--token-file", c.token_file, "--state", state],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "verify against replica %d: %s%s" % (i, r.stdout, r.stderr)
    return r.stdout


def test_audit_across_replicas(c):
    """One state file, each replica in turn, writes in between through
    another: every checkpoint any replica signed extends the last one seen."""
    state = os.path.join(c.tmp, "verifier.state")
    a = [c.api(i) for i in range(3)]
    for i in (0, 1, 2, 0, 2, 1):
        audit_verify(c, i, state)
        WF.create_need(a[(i + 1) % 3], title="between verifications")
    export = os.path.join(c.tmp, "export")
    subprocess.run([CTL, "--addr", c.r[1].addr, "--insecure", "--token-file", c.token_file,
                    "audit", "export", export], check=True, capture_output=True, timeout=120)
    r = subprocess.run([AUDIT, "verify", export, "--key", c.vkey], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and "verified" in r.stdout, r.stdout + r.stderr
    size = [l.split()[-1] for l in r.stdout.splitlines() if l.startswith("records:")]
    FIGURES["records_verified"] = int(size[0]) if size else None
    print("     verify --server against replicas 0,1,2,0,2,1 with one state; the export of "
          "%s records verified offline" % FIGURES["records_verified"])


def principal_call(addr, token):
    ch = grpc.insecure_channel(addr)
    try:
        ch.unary_unary("/tallinn.v1.NeedService/ListNeeds",
                       request_serializer=need_pb2.ListNeedsRequest.SerializeToString,
                       response_deserializer=need_pb2.ListNeedsResponse.FromString)(
            need_pb2.ListNeedsRequest(page_size=1), metadata=harness.bearer(token), timeout=10)
        return Code.OK
    except grpc.RpcError as e:
        return e.code()
    finally:
        ch.close()


def test_revocation_everywhere(c):
    """A token rotated, and a principal disabled, through one replica: the
    others refuse the old credentials from the moment the call returned
    (each had just accepted them, so each had them cached)."""
    admin = harness.bearer(c.r[0].admin_token)
    for rnd, (via, what) in enumerate(((0, "rotate"), (1, "disable"), (2, "rotate"))):
        tok = c.r[0].create_principal("rep-obs-%d" % rnd, "OBSERVER")
        for i in range(3):
            assert principal_call(c.r[i].addr, tok) == Code.OK, (rnd, i)
        ch = grpc.insecure_channel(c.r[via].addr)
        name = "principals/rep-obs-%d" % rnd
        if what == "rotate":
            new = ch.unary_unary("/tallinn.v1.PrincipalService/RotateToken",
                                 request_serializer=principal_pb2.RotateTokenRequest.SerializeToString,
                                 response_deserializer=principal_pb2.RotateTokenResponse.FromString)(
                principal_pb2.RotateTokenRequest(name=name), metadata=admin, timeout=10).token
        else:
            ch.unary_unary("/tallinn.v1.PrincipalService/DisablePrincipal",
                           request_serializer=principal_pb2.DisablePrincipalRequest.SerializeToString,
                           response_deserializer=principal_pb2.Principal.FromString)(
                principal_pb2.DisablePrincipalRequest(name=name), metadata=admin, timeout=10)
        ch.close()
        for i in range(3):  # at once: no wait, no retry
            got = principal_call(c.r[i].addr, tok)
            assert got in (Code.UNAUTHENTICATED, Code.PERMISSION_DENIED), \
                "%s through replica %d, old token on replica %d: %s" % (what, via, i, got)
            if what == "rotate":
                assert principal_call(c.r[i].addr, new) == Code.OK, (rnd, i)


def test_idempotency_across_replicas(c):
    """One request_id sent through all three replicas at once, then again
    one after another: one need, one answer."""
    token = c.who.tokens["FRONT_OFFICE"]
    for rnd in range(4):
        req = need_pb2.CreateNeedRequest(need=WF.need_msg(title="idem %d %s" % (rnd, WF.rid())),
                                         request_id=WF.rid())
        out, barrier = [None] * 3, threading.Barrier(3)

        def send(i):
            ch = grpc.insecure_channel(c.r[i].addr)
            call = ch.unary_unary("/tallinn.v1.NeedService/CreateNeed",
                                  request_serializer=need_pb2.CreateNeedRequest.SerializeToString,
                                  response_deserializer=need_pb2.Need.FromString)
            barrier.wait()
            out[i] = call(req, metadata=harness.bearer(token), timeout=15)
            ch.close()

        ts = [threading.Thread(target=send, args=(i,)) for i in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert out[0] == out[1] == out[2], "replicas answered one request_id differently"
        a = c.api(rnd % 3)
        again = a.N.CreateNeed(req)
        assert again == out[0]
        r = a.N.ListNeeds(need_pb2.ListNeedsRequest(filter='title = "%s"' % req.need.title))
        assert [n.name for n in r.needs] == [out[0].name], "a retry created a second need"


def test_guards_across_replicas(c):
    """Two approvals that together exceed a pledge (overspending) or a need
    (overfunding), at the same moment through two replicas: exactly one wins,
    every round; etags and page tokens work across replicas."""
    a = [c.api(i) for i in range(3)]
    WF.create_donor(a[0], "rep-nl", display_name="Netherlands", kind=WF.Donor.KIND_STATE,
                    country_code="NL", membership=WF.Donor.MEMBERSHIP_MEMBER)
    donor = "donors/rep-nl"
    for rnd in range(6):
        overfund = rnd % 2 == 1
        n = WF.open_need(a[rnd % 3], estimated_cost=WF.eur(1000 if overfund else 1000000))
        p = WF.create_pledge(a[(rnd + 1) % 3], donor, 100000 if overfund else 1000).name
        ms = [WF.create_match(a[i], n.name, donor, p, 600 + i * 50) for i in range(2)]
        via = [rnd % 3, (rnd + 1) % 3]  # two different replicas
        results, barrier = [None, None], threading.Barrier(2)

        def approve(k):
            barrier.wait()
            try:
                a[via[k]].M.ApproveMatch(match_pb2.ApproveMatchRequest(name=ms[k].name))
                results[k] = Code.OK
            except grpc.RpcError as e:
                results[k] = e.code()

        ts = [threading.Thread(target=approve, args=(k,)) for k in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert sorted(results, key=str) == sorted([Code.OK, Code.FAILED_PRECONDITION], key=str), \
            "round %d (%s): %s" % (rnd, "overfunding" if overfund else "overspending", results)
        won = results.index(Code.OK)
        g = a[2].N.GetNeed(need_pb2.GetNeedRequest(name=n.name))
        WF.assert_eur(g.committed_amount, 600 + won * 50, "round %d" % rnd)
    # etags: a change through one replica makes the old etag stale on another
    n = WF.create_need(a[0])
    u = a[1].N.UpdateNeed(need_pb2.UpdateNeedRequest(
        need=need_pb2.Need(name=n.name, title="renamed through replica 1", etag=n.etag),
        update_mask=WF.field_mask_pb2.FieldMask(paths=["title"])))
    err = harness.expect_code(a[2].N.UpdateNeed, Code.ABORTED, need_pb2.UpdateNeedRequest(
        need=need_pb2.Need(name=n.name, title="stale", etag=n.etag),
        update_mask=WF.field_mask_pb2.FieldMask(paths=["title"])))
    assert "etag" in err.details(), err.details()
    assert a[0].N.GetNeed(need_pb2.GetNeedRequest(name=n.name)).etag == u.etag
    # page tokens: page 1 from one replica, the rest from the others in turn
    seen, token, i = [], "", 0
    while True:
        r = a[i % 3].N.ListNeeds(need_pb2.ListNeedsRequest(page_size=7, page_token=token,
                                                           order_by="create_time desc"))
        seen += [x.name for x in r.needs]
        token, i = r.next_page_token, i + 1
        if not token:
            break
    whole = []
    token = ""
    while True:
        r = a[0].N.ListNeeds(need_pb2.ListNeedsRequest(page_size=500, page_token=token,
                                                       order_by="create_time desc"))
        whole += [x.name for x in r.needs]
        token = r.next_page_token
        if not token:
            break
    assert seen == whole and i > 3, (len(seen), len(whole), i)


def main():
    if harness.PG is None:
        print("this test needs TALLINN_TEST_ENGINE=postgresql (ctest: integration.pg_replicas)")
        sys.exit(1)
    cases = harness.Cases()
    c = Cluster()
    try:
        cases.run("a write through one replica is read through the others at once",
                  test_read_your_writes_elsewhere, c)
        cases.run("writes through three replicas, one SIGKILLed mid-load: every "
                  "acknowledged write read through the others", test_load_and_kill, c)
        cases.run("tallinn-audit verify --server against each replica with one state; "
                  "an export verifies offline", test_audit_across_replicas, c)
        cases.run("a token rotated or a principal disabled through one replica is "
                  "refused by all at once", test_revocation_everywhere, c)
        cases.run("request_id: one request through three replicas at once, one need",
                  test_idempotency_across_replicas, c)
        cases.run("overspending and overfunding guards, etags and page tokens across "
                  "replicas", test_guards_across_replicas, c)
    finally:
        c.stop()
    print("     figures: %s" % FIGURES)
    if cases.failed == 0:
        shutil.rmtree(c.tmp, ignore_errors=True)
    cases.finish()


main()
