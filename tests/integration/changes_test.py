"""integration.changes: ChangeService against a real tallinnd (issues 13 and
14), driven by python3-grpcio. The feed in commit order, each position an
audit record of a change; resuming exactly after a position (no gap, no
duplicate), also across a restart; need-to-know for every role, checked as
an invariant — a client that applies the feed (bodies in, tombstones out)
ends with exactly what its List calls return — plus tombstones only for what
a caller saw; RESTRICTED needs handed out are recorded reads; two live
watchers; the per-principal stream budget; draining at shutdown; bad
requests. ListHistory: entries with who, what, why and their audit index,
the records and inclusion proofs checked against the signed checkpoint in
Python (tlog_ref), what DONOR and OBSERVER callers get, paging. tallinnctl:
`changes watch` (as the API's feed, resumed with --after, and across a
server restart on the same port), `get --watch`, `list --watch`, `needs
history --prove`, and --prove failing on a record tampered in the database.

Usage: changes_test.py TALLINND TALLINNCTL"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import tlog_ref  # noqa: E402

BIN, CTL = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="tallinn-changes-test-")
ENV = {k: v for k, v in os.environ.items() if not k.startswith("TALLINN_")}
ENV.update({"XDG_CONFIG_HOME": os.path.join(TMP, "xdg"), "HOME": TMP, "NO_COLOR": "",
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0", "TZ": "UTC"})
(common_pb2, donor_pb2, need_pb2, match_pb2, change_pb2, audit_pb2, rate_pb2) = harness.protos(
    "tallinn/v1/common.proto", "tallinn/v1/donor.proto", "tallinn/v1/need.proto",
    "tallinn/v1/match.proto", "tallinn/v1/change.proto", "tallinn/v1/audit.proto",
    "tallinn/v1/rate.proto")
from google.protobuf import field_mask_pb2  # noqa: E402  (after protos(): same runtime)

Code = grpc.StatusCode
Need, Match, Donor, Pledge = need_pb2.Need, match_pb2.Match, donor_pb2.Donor, donor_pb2.Pledge
WC = change_pb2.WatchChangesResponse
Kind = change_pb2.ResourceKind
KIND_FIELD = {Kind.Value("RESOURCE_KIND_DONOR"): "donor", Kind.Value("RESOURCE_KIND_PLEDGE"): "pledge",
              Kind.Value("RESOURCE_KIND_NEED"): "need", Kind.Value("RESOURCE_KIND_MATCH"): "match",
              Kind.Value("RESOURCE_KIND_EXCHANGE_RATE"): "exchange_rate"}
READS = ("Get", "List", "Stream", "Watch", "Suggest", "Noop")
BUDGET = 3  # --max-streams-per-principal


def eur(units):
    return common_pb2.Money(currency_code="EUR", units=units)


class World:
    """A server, one principal per role (two donors), and call helpers."""

    def __init__(self):
        self.srv = harness.Tallinnd(BIN, "--watch-poll-ms", "100",
                                    "--max-streams-per-principal", str(BUDGET))
        self.vkey = re.search(r"audit_key=(\S+)", self.srv.text()).group(1)
        self.tok = {r: self.srv.create_principal("t-" + r.lower().replace("_", "-"), r)
                    for r in ("FRONT_OFFICE", "BACK_OFFICE", "COORDINATOR", "OBSERVER",
                              "AUDITOR", "ADMIN")}
        self.connect()

    def connect(self):
        self.ch = grpc.insecure_channel(self.srv.addr)

    def donors(self):
        for d in ("alpha", "beta"):
            self.tok[d] = self.srv.create_principal("donor-" + d, "DONOR", donor="donors/" + d)

    def call(self, who, path, req, resp_cls, timeout=15):
        fn = self.ch.unary_unary(path, request_serializer=req.SerializeToString,
                                 response_deserializer=resp_cls.FromString)
        md = harness.bearer(self.tok[who]) if who else ()
        return fn(req, metadata=md, timeout=timeout)

    def need(self, who, method, **kw):
        req = getattr(need_pb2, method + "Request")(**kw)
        return self.call(who, "/tallinn.v1.NeedService/" + method, req, Need)

    def match(self, who, method, **kw):
        req = getattr(match_pb2, method + "Request")(**kw)
        return self.call(who, "/tallinn.v1.MatchService/" + method, req, Match)

    def watch(self, who, timeout=20, **kw):
        fn = self.ch.unary_stream("/tallinn.v1.ChangeService/WatchChanges",
                                  request_serializer=change_pb2.WatchChangesRequest.SerializeToString,
                                  response_deserializer=WC.FromString)
        md = harness.bearer(self.tok[who]) if who else ()
        return fn(change_pb2.WatchChangesRequest(**kw), metadata=md, timeout=timeout)

    def feed(self, who, **kw):
        """Every message up to the first TYPE_CAUGHT_UP (included)."""
        out, it = [], self.watch(who, **kw)
        for m in it:
            out.append(m)
            if m.type == WC.TYPE_CAUGHT_UP:
                break
        it.cancel()
        return out

    def history(self, who, name, **kw):
        return self.call(who, "/tallinn.v1.ChangeService/ListHistory",
                         change_pb2.ListHistoryRequest(name=name, **kw),
                         change_pb2.ListHistoryResponse)

    def records(self):
        fn = self.ch.unary_stream("/tallinn.v1.AuditService/StreamAuditRecords",
                                  request_serializer=audit_pb2.StreamAuditRecordsRequest.SerializeToString,
                                  response_deserializer=audit_pb2.StreamAuditRecordsResponse.FromString)
        return [r.record for r in fn(audit_pb2.StreamAuditRecordsRequest(),
                                     metadata=harness.bearer(self.tok["AUDITOR"]), timeout=30)]

    def list_all(self, who, kind):
        svc, method, resp, field, extra = {
            "need": ("NeedService", "ListNeeds", need_pb2.ListNeedsResponse, "needs", {}),
            "match": ("MatchService", "ListMatches", match_pb2.ListMatchesResponse, "matches", {}),
            "donor": ("DonorService", "ListDonors", donor_pb2.ListDonorsResponse, "donors", {}),
            "pledge": ("DonorService", "ListPledges", donor_pb2.ListPledgesResponse, "pledges",
                       {"parent": "donors/-"}),
            "exchange_rate": ("ExchangeRateService", "ListExchangeRates",
                              rate_pb2.ListExchangeRatesResponse, "exchange_rates", {}),
        }[kind]
        req_cls = getattr({"NeedService": need_pb2, "MatchService": match_pb2,
                           "ExchangeRateService": rate_pb2}.get(svc, donor_pb2), method + "Request")
        out, token = {}, ""
        while True:
            r = self.call(who, "/tallinn.v1.%s/%s" % (svc, method),
                          req_cls(page_size=1000, page_token=token, **extra), resp)
            for x in getattr(r, field):
                out[x.name] = x
            token = r.next_page_token
            if not token:
                return out


# ---- The workflow every case reads ----

def workflow(w):
    """Donors, pledges, needs and matches through their life cycles; returns
    what happened, by name."""
    bo, fo, co = "BACK_OFFICE", "FRONT_OFFICE", "COORDINATOR"
    for d in ("alpha", "beta"):
        w.call(bo, "/tallinn.v1.DonorService/CreateDonor", donor_pb2.CreateDonorRequest(
            donor_id=d, donor=Donor(display_name=d.title(), kind=Donor.KIND_STATE,
                                    country_code="EE" if d == "alpha" else "LV",
                                    membership=Donor.MEMBERSHIP_MEMBER,
                                    contact_email="cyber@%s.example" % d)), Donor)
        w.call(bo, "/tallinn.v1.DonorService/CreatePledge", donor_pb2.CreatePledgeRequest(
            parent="donors/" + d, pledge_id="p",
            pledge=Pledge(amount=eur(1000000), fiscal_year=2025,
                          state=Pledge.STATE_COMMITTED)), Pledge)
    w.donors()

    def new_need(nid, sensitivity=Need.SENSITIVITY_STANDARD, open_it=True):
        n = Need(title="Need " + nid, description="secret detail of " + nid,
                 beneficiary="Beneficiary " + nid, region="Kharkiv Oblast",
                 sector=Need.DESCRIPTOR.fields_by_name["sector"].enum_type.values_by_name[
                     "SECTOR_ENERGY"].number,
                 category=Need.DESCRIPTOR.fields_by_name["category"].enum_type.values_by_name[
                     "CATEGORY_HARDWARE"].number,
                 domain=Need.DOMAIN_CIVILIAN, priority=Need.PRIORITY_HIGH,
                 estimated_cost=eur(100000), sensitivity=sensitivity)
        w.need(fo, "CreateNeed", need_id=nid, need=n)
        if open_it:
            w.need(fo, "SubmitNeed", name="needs/" + nid)
            w.need(bo, "ValidateNeed", name="needs/" + nid)

    new_need("n-open")
    # RESTRICTED, returned once with a reason, edited, validated
    new_need("n-secret", Need.SENSITIVITY_RESTRICTED, open_it=False)
    w.need(fo, "SubmitNeed", name="needs/n-secret")
    w.need(bo, "ReturnNeed", name="needs/n-secret", reason="add the endpoint count")
    w.need(fo, "UpdateNeed", need=Need(name="needs/n-secret", title="Need n-secret, 400 endpoints"),
           update_mask=field_mask_pb2.FieldMask(paths=["title"]))
    w.need(fo, "SubmitNeed", name="needs/n-secret")
    w.need(bo, "ValidateNeed", name="needs/n-secret")
    new_need("n-draft", open_it=False)
    new_need("n-hold")
    w.need(bo, "HoldNeed", name="needs/n-hold", reason="awaiting a site survey")

    def propose(mid, donor, need):
        return w.call(bo, "/tallinn.v1.MatchService/CreateMatch", match_pb2.CreateMatchRequest(
            match_id=mid, match=Match(need="needs/" + need, donor="donors/" + donor,
                                      pledge="donors/%s/pledges/p" % donor, amount=eur(10000),
                                      description="help from " + donor)), Match)

    # alpha gains sight of the RESTRICTED need through its match, then loses it
    propose("m-alpha-secret", "alpha", "n-secret")
    w.match(co, "DeclineMatch", name="matches/m-alpha-secret", reason="pledge earmarked")
    # beta keeps sight of it
    propose("m-beta-secret", "beta", "n-secret")
    # beta's approval moves n-open (alpha sees the need change, not the match)
    propose("m-beta-open", "beta", "n-open")
    w.match(co, "ApproveMatch", name="matches/m-beta-open")
    # alpha's own match, delivered and accepted
    propose("m-alpha-open", "alpha", "n-open")
    w.match(co, "ApproveMatch", name="matches/m-alpha-open")
    w.match("alpha", "StartDelivery", name="matches/m-alpha-open")
    w.match("alpha", "MarkDelivered", name="matches/m-alpha-open")
    w.match(fo, "AcceptDelivery", name="matches/m-alpha-open")
    w.need(bo, "ResumeNeed", name="needs/n-hold")
    # exchange rates: two recorded, one deleted (every role but ADMIN reads them)
    for cur, rate in (("USD", "1.0850"), ("GBP", "0.8420")):
        w.call(bo, "/tallinn.v1.ExchangeRateService/CreateExchangeRate",
               rate_pb2.CreateExchangeRateRequest(exchange_rate=rate_pb2.ExchangeRate(
                   currency_code=cur, rate=rate, rate_date=common_pb2.Date(year=2025, month=3,
                                                                           day=14),
                   source="ECB euro foreign exchange reference rate")), rate_pb2.ExchangeRate)
    w.call(bo, "/tallinn.v1.ExchangeRateService/DeleteExchangeRate",
           rate_pb2.DeleteExchangeRateRequest(name="exchangeRates/gbp-2025-03-14"),
           rate_pb2.ExchangeRate)


def changes(msgs):
    return [m for m in msgs if m.type == WC.TYPE_CHANGES]


def mirror(msgs):
    """What a client that applies the feed holds: kind -> name -> resource."""
    out = {k: {} for k in KIND_FIELD.values()}
    for m in changes(msgs):
        for c in m.changes:
            field = KIND_FIELD[c.kind]
            if c.tombstone:
                assert c.name in out[field], "tombstone for %s, never shown" % c.name
                del out[field][c.name]
            else:
                assert c.WhichOneof("resource") == field, c
                out[field][c.name] = getattr(c, field)
    return out


# ---- Cases ----

def test_commit_order(w):
    """The auditor's feed: one message per audit record of a change, in index
    order, each with the resources that record's call changed; every
    successful write has its position."""
    msgs = w.feed("AUDITOR")
    assert msgs[-1].type == WC.TYPE_CAUGHT_UP
    ch = changes(msgs)
    idx = [m.index for m in ch]
    assert idx == sorted(set(idx)), idx
    assert all(m.next_start_index == m.index + 1 for m in ch)
    recs = w.records()
    # every change but principals' (they are no resource the feed carries)
    writes = [r.index for r in recs if r.status_code == 0 and "PrincipalService" not in r.method
              and not r.method.rsplit("/", 1)[1].startswith(READS)]
    assert idx == writes, (idx, writes)
    assert msgs[-1].next_start_index <= len(recs)
    assert all(r.method.endswith(("/GetNeed", "/ListNeeds", "/WatchChanges"))
               for r in recs[msgs[-1].next_start_index:])  # this feed's own recorded reads
    for m in ch:
        r = recs[m.index]
        assert m.commit_time == r.time
        named = [c for c in m.changes if c.name == r.resource]
        assert len(named) == 1, (r, m)
        if named[0].tombstone:  # a removal: no body
            assert r.method.endswith("/DeleteExchangeRate"), (r, m)
        else:
            assert getattr(named[0], KIND_FIELD[named[0].kind]).etag == r.etag
    # ApproveMatch changed the match, its pledge and its need, in that order
    approve = [m for m in ch if recs[m.index].method.endswith("/ApproveMatch")][0]
    assert [c.name for c in approve.changes] == [
        "matches/m-beta-open", "donors/beta/pledges/p", "needs/n-open"], approve


def test_mirror_per_role(w):
    """Need-to-know: each role's feed, applied, is exactly what its lists
    show (redaction included); tombstones only for what was shown."""
    every = ("need", "match", "pledge", "donor", "exchange_rate")
    cases = {"FRONT_OFFICE": every, "BACK_OFFICE": every, "COORDINATOR": every,
             "AUDITOR": every, "alpha": every, "beta": every,
             "OBSERVER": ("need", "donor", "exchange_rate")}
    for who, kinds in cases.items():
        m = mirror(w.feed(who))
        assert sorted(m["exchange_rate"]) == ["exchangeRates/usd-2025-03-14"], (who, m)
        for kind in every:
            if kind in kinds:
                want = w.list_all(who, kind)
                assert sorted(m[kind]) == sorted(want), (who, kind, sorted(m[kind]), sorted(want))
                for name, x in want.items():
                    got = m[kind][name]
                    if kind == "match":
                        # ListMatches leaves delivery evidence out (api.md);
                        # the feed carries the match as GetMatch shows it.
                        one = w.call(who, "/tallinn.v1.MatchService/GetMatch",
                                     match_pb2.GetMatchRequest(name=name), match_pb2.Match)
                        assert got == one, (who, name, got, one)
                        got = match_pb2.Match()
                        got.CopyFrom(m[kind][name])
                        got.ClearField("delivery_evidence")
                    assert got == x, (who, name, got, x)
            else:
                assert not m[kind], (who, kind)


def test_donor_tombstones(w):
    """alpha: the RESTRICTED need appears with its match and goes with the
    decline; the held need goes and comes back; never a draft, another
    donor's match or pledge, or a need it never saw."""
    msgs = changes(w.feed("alpha"))
    seen = [(c.name, c.tombstone) for m in msgs for c in m.changes]
    names = {n for n, _ in seen}
    for never in ("needs/n-draft", "matches/m-beta-open", "matches/m-beta-secret",
                  "donors/beta/pledges/p"):
        assert never not in names, never
    secret = [t for n, t in seen if n == "needs/n-secret"]
    assert secret == [False, True], secret  # shown with alpha's match, gone at the decline
    hold = [t for n, t in seen if n == "needs/n-hold"]
    assert hold == [False, True, False], hold  # OPEN, held, resumed
    # beta keeps the RESTRICTED need from its match on
    beta = [(c.name, c.tombstone) for m in changes(w.feed("beta")) for c in m.changes]
    assert ("needs/n-secret", False) in beta and ("needs/n-secret", True) not in beta
    # other donors' contact e-mail is never sent to a donor
    for m in msgs:
        for c in m.changes:
            if c.WhichOneof("resource") == "donor":
                assert c.donor.contact_email == ("cyber@alpha.example"
                                                 if c.name == "donors/alpha" else ""), c


def test_observer(w):
    msgs = changes(w.feed("OBSERVER"))
    for m in msgs:
        for c in m.changes:
            assert c.kind in (Kind.Value("RESOURCE_KIND_NEED"), Kind.Value("RESOURCE_KIND_DONOR"),
                              Kind.Value("RESOURCE_KIND_EXCHANGE_RATE"))
            assert c.name != "needs/n-secret"
            if c.WhichOneof("resource") == "need":
                assert c.need.description == "" and c.need.region == "", c


def test_refused_roles(w):
    harness.expect_code(lambda: list(w.watch("ADMIN")), Code.PERMISSION_DENIED)
    harness.expect_code(lambda: list(w.watch(None)), Code.UNAUTHENTICATED)
    harness.expect_code(w.history, Code.PERMISSION_DENIED, "ADMIN", "needs/n-open")


def test_restricted_reads_recorded(w):
    """Every RESTRICTED need version a feed hands out is a recorded read."""
    before = [r for r in w.records() if r.method.endswith("/WatchChanges")]
    sent = sum(1 for m in changes(w.feed("COORDINATOR")) for c in m.changes
               if c.name == "needs/n-secret" and not c.tombstone)
    after = [r for r in w.records() if r.method.endswith("/WatchChanges")]
    new = after[len(before):]
    assert sent >= 5 and len(new) == sent, (sent, len(new))
    assert all(r.resource == "needs/n-secret" and r.principal == "principals/t-coordinator"
               for r in new), new
    # an observer's feed never holds one
    w.feed("OBSERVER")
    assert len([r for r in w.records() if r.method.endswith("/WatchChanges")]) == len(after)


def test_resume_exactly(w):
    """From any message's next_start_index: exactly the messages after it."""
    full = w.feed("alpha")
    ch = changes(full)
    for k in (0, 1, len(ch) // 2, len(ch) - 2):
        again = changes(w.feed("alpha", start_index=ch[k].next_start_index))
        assert again == ch[k + 1:], (k, [m.index for m in again], [m.index for m in ch[k + 1:]])
    # between two positions, a start in a gap (a refused or another donor's
    # change) is just as exact
    gap = ch[1].index - 1
    if gap > ch[0].index:
        assert changes(w.feed("alpha", start_index=gap)) == ch[1:]
    # from now: nothing old, told where now is
    now = w.feed("alpha", from_now=True)
    assert len(now) == 1 and now[0].type == WC.TYPE_CAUGHT_UP
    # later only by the reads the feeds above recorded, which change nothing
    assert now[0].next_start_index >= full[-1].next_start_index
    assert changes(w.feed("alpha", start_index=full[-1].next_start_index)) == []


def test_filters(w):
    n = changes(w.feed("BACK_OFFICE", kinds=[Kind.Value("RESOURCE_KIND_NEED")]))
    assert n and all(c.kind == Kind.Value("RESOURCE_KIND_NEED") for m in n for c in m.changes)
    one = changes(w.feed("BACK_OFFICE", resource="needs/n-hold"))
    assert [c.need.state for m in one for c in m.changes] == [
        Need.STATE_DRAFT, Need.STATE_SUBMITTED, Need.STATE_OPEN, Need.STATE_ON_HOLD,
        Need.STATE_OPEN]
    # a resource the caller may not see: nothing, as for one that does not exist
    assert changes(w.feed("alpha", resource="needs/n-draft")) == []
    assert changes(w.feed("alpha", resource="needs/no-such")) == []


def test_bad_requests(w):
    head = w.feed("AUDITOR", from_now=True)[0].next_start_index
    for kw, code, word in (({"start_index": -1}, Code.INVALID_ARGUMENT, "start_index"),
                           ({"start_index": head + 1}, Code.OUT_OF_RANGE, "beyond the log"),
                           ({"kinds": [0]}, Code.INVALID_ARGUMENT, "kinds"),
                           ({"kinds": [3, 3]}, Code.INVALID_ARGUMENT, "kinds"),
                           ({"resource": "needs"}, Code.INVALID_ARGUMENT, "resource")):
        e = harness.expect_code(lambda: list(w.watch("AUDITOR", **kw)), code)
        assert word in e.details() or code == Code.INVALID_ARGUMENT, e.details()
    assert changes(w.feed("AUDITOR", start_index=head)) == []
    for kw, code in (({"name": ""}, Code.INVALID_ARGUMENT),
                     ({"name": "principals/x"}, Code.INVALID_ARGUMENT),
                     ({"name": "needs/n-open", "page_size": -1}, Code.INVALID_ARGUMENT),
                     ({"name": "needs/n-open", "page_token": "x"}, Code.INVALID_ARGUMENT)):
        name = kw.pop("name")
        harness.expect_code(w.history, code, "BACK_OFFICE", name, **kw)
    # need-to-know before anything else: hidden and missing answer alike
    e1 = harness.expect_code(w.history, Code.NOT_FOUND, "alpha", "needs/n-draft")
    e2 = harness.expect_code(w.history, Code.NOT_FOUND, "alpha", "needs/nothing-here")
    assert e1.details().replace("n-draft", "X") == e2.details().replace("nothing-here", "X")
    harness.expect_code(w.history, Code.NOT_FOUND, "alpha", "matches/m-beta-open")
    harness.expect_code(w.history, Code.NOT_FOUND, "OBSERVER", "needs/n-secret")


def test_history(w):
    """Who did what, when and why, each entry with its audit index; the
    records are the log's and prove against its signed checkpoint."""
    recs = w.records()
    h = w.history("BACK_OFFICE", "needs/n-secret", include_proofs=True)
    assert not h.next_page_token and h.history_start_index == 0
    steps = [(e.method.rsplit("/", 1)[1], e.state_before, e.state_after, e.reason)
             for e in h.entries]
    assert steps[:6] == [("CreateNeed", "", "DRAFT", ""),
                         ("SubmitNeed", "DRAFT", "SUBMITTED", ""),
                         ("ReturnNeed", "SUBMITTED", "RETURNED", "add the endpoint count"),
                         ("UpdateNeed", "RETURNED", "RETURNED", ""),
                         ("SubmitNeed", "RETURNED", "SUBMITTED", ""),
                         ("ValidateNeed", "SUBMITTED", "OPEN", "")], steps
    _, size, root = tlog_ref.open_checkpoint(h.signed_checkpoint, w.vkey)
    for e in h.entries:
        r = audit_pb2.AuditRecord.FromString(e.record)
        assert r == recs[e.index] and r.index == e.index
        assert e.principal == r.principal and e.method == r.method and e.role == r.role
        assert e.need.etag == r.etag and r.resource == "needs/n-secret"
        assert e.time == r.time
        assert tlog_ref.verify_inclusion(e.index, size, tlog_ref.leaf_hash(e.record),
                                         list(e.inclusion_proof), root), e.index
    # without include_proofs: no proofs, no checkpoint
    plain = w.history("BACK_OFFICE", "needs/n-secret")
    assert not plain.signed_checkpoint and all(not e.inclusion_proof for e in plain.entries)
    # paging: pages of 2 add up to the whole
    got, token = [], ""
    while True:
        p = w.history("BACK_OFFICE", "needs/n-secret", page_size=2, page_token=token)
        assert len(p.entries) == 2 or not p.next_page_token
        got += p.entries
        token = p.next_page_token
        if not token:
            break
    assert [e.index for e in got] == [e.index for e in plain.entries]
    # a page token is the caller's own
    p = w.history("BACK_OFFICE", "needs/n-secret", page_size=2)
    harness.expect_code(w.history, Code.INVALID_ARGUMENT, "COORDINATOR", "needs/n-secret",
                        page_size=2, page_token=p.next_page_token)


def test_history_donor(w):
    """alpha sees n-open from OPEN on; who approved beta's match (and the
    record naming it) is withheld, its own approval is shown and proves."""
    h = w.history("alpha", "needs/n-open", include_proofs=True)
    _, size, root = tlog_ref.open_checkpoint(h.signed_checkpoint, w.vkey)
    methods = [e.method.rsplit("/", 1)[1] for e in h.entries]
    assert methods == ["ValidateNeed", "ApproveMatch", "ApproveMatch", "AcceptDelivery"], methods
    withheld, own = h.entries[1], h.entries[2]
    assert withheld.principal == "" and not withheld.record and not withheld.inclusion_proof
    assert withheld.need.committed_amount.units == 10000
    assert own.principal == "principals/t-coordinator" and own.record
    for e in h.entries:
        if e.record:
            assert tlog_ref.verify_inclusion(e.index, size, tlog_ref.leaf_hash(e.record),
                                             list(e.inclusion_proof), root)
            assert b"m-beta" not in e.record
    # the held need: the hold is a hidden entry, index and time only
    held = w.history("alpha", "needs/n-hold").entries
    assert [(e.hidden, e.method.rsplit("/", 1)[-1]) for e in held] == [
        (False, "ValidateNeed"), (True, ""), (False, "ResumeNeed")], held
    assert held[1].time.seconds > 0 and not held[1].WhichOneof("resource")
    # the RESTRICTED need: alpha may not read it now, so no history
    harness.expect_code(w.history, Code.NOT_FOUND, "alpha", "needs/n-secret")
    # its own match's whole history, with the reasons and every record
    m = w.history("alpha", "matches/m-alpha-open").entries
    assert [e.state_after for e in m] == ["PROPOSED", "APPROVED", "IN_DELIVERY", "DELIVERED",
                                         "ACCEPTED"]
    assert all(e.record for e in m)


def test_history_observer(w):
    h = w.history("OBSERVER", "needs/n-open", include_proofs=True)
    assert h.entries and all(not e.principal and not e.record and not e.request_id and
                             not e.inclusion_proof for e in h.entries)
    assert all(e.need.description == "" for e in h.entries)
    assert h.entries[0].method.endswith("/CreateNeed") and h.entries[0].role


def test_rates(w):
    """Exchange rates are in the feed for every role that reads them: a
    deleted rate comes as a tombstone after its creation; a kinds filter
    selects them; their history, redacted for an OBSERVER; a deleted rate
    has none (NOT_FOUND, as GetExchangeRate)."""
    rk = Kind.Value("RESOURCE_KIND_EXCHANGE_RATE")
    for who in ("alpha", "OBSERVER", "AUDITOR"):
        got = [(c.name, c.tombstone) for m in changes(w.feed(who, kinds=[rk])) for c in m.changes]
        assert got == [("exchangeRates/usd-2025-03-14", False),
                       ("exchangeRates/gbp-2025-03-14", False),
                       ("exchangeRates/gbp-2025-03-14", True)], (who, got)
    first = [c for m in changes(w.feed("alpha", kinds=[rk])) for c in m.changes][0]
    assert first.exchange_rate.rate == "1.0850" and first.exchange_rate.currency_code == "USD"
    for who in ("BACK_OFFICE", "alpha", "OBSERVER"):
        h = w.history(who, "exchangeRates/usd-2025-03-14").entries
        assert [e.method.rsplit("/", 1)[1] for e in h] == ["CreateExchangeRate"], (who, h)
        assert h[0].exchange_rate.rate == "1.0850"
        assert bool(h[0].principal) == (who != "OBSERVER"), (who, h[0])
    harness.expect_code(w.history, Code.NOT_FOUND, "BACK_OFFICE", "exchangeRates/gbp-2025-03-14")
    harness.expect_code(w.history, Code.PERMISSION_DENIED, "ADMIN", "exchangeRates/usd-2025-03-14")


def test_live_two_watchers(w):
    """Two watchers from now: a new need reaches both, each as it may see it."""
    got = {"alpha": [], "BACK_OFFICE": []}
    ready = threading.Barrier(3)

    def run(who):
        it = w.watch(who, timeout=30, from_now=True)
        for m in it:
            if m.type == WC.TYPE_CAUGHT_UP and not got[who]:
                got[who].append(m)
                ready.wait()
            elif m.type == WC.TYPE_CHANGES:
                got[who].append(m)
                if any(c.need.state == Need.STATE_OPEN for c in m.changes):
                    it.cancel()
                    return

    ts = [threading.Thread(target=run, args=(who,)) for who in got]
    for t in ts:
        t.start()
    ready.wait(timeout=20)
    t0 = time.monotonic()
    n = Need(title="Live", description="d", beneficiary="b", region="r",
             sector=Need.DESCRIPTOR.fields_by_name["sector"].enum_type.values_by_name[
                 "SECTOR_WATER"].number,
             category=Need.DESCRIPTOR.fields_by_name["category"].enum_type.values_by_name[
                 "CATEGORY_TRAINING"].number,
             domain=Need.DOMAIN_CIVILIAN, priority=Need.PRIORITY_LOW, estimated_cost=eur(5))
    w.need("FRONT_OFFICE", "CreateNeed", need_id="n-live", need=n)
    w.need("FRONT_OFFICE", "SubmitNeed", name="needs/n-live")
    w.need("BACK_OFFICE", "ValidateNeed", name="needs/n-live")
    for t in ts:
        t.join(timeout=20)
        assert not t.is_alive()
    bo = [c.need.state for m in got["BACK_OFFICE"][1:] for c in m.changes]
    al = [c.need.state for m in got["alpha"][1:] for c in m.changes]
    assert bo == [Need.STATE_DRAFT, Need.STATE_SUBMITTED, Need.STATE_OPEN], bo
    assert al == [Need.STATE_OPEN], al
    print("     both watchers saw the new need %.0f ms after the first write"
          % ((time.monotonic() - t0) * 1e3))


def test_stream_budget(w):
    """Watches count against the principal's stream budget."""
    its = [w.watch("beta", from_now=True) for _ in range(BUDGET)]
    for it in its:
        assert next(it).type == WC.TYPE_CAUGHT_UP
    harness.expect_code(lambda: next(w.watch("beta", from_now=True)), Code.RESOURCE_EXHAUSTED)
    its[0].cancel()
    time.sleep(0.3)
    again = w.watch("beta", from_now=True)
    assert next(again).type == WC.TYPE_CAUGHT_UP
    for it in its[1:] + [again]:
        it.cancel()


def test_restart_and_drain(w):
    """A watcher is ended cleanly at shutdown, told where to resume; after a
    restart on the same data, a stream resumed there continues exactly."""
    before = w.feed("COORDINATOR")
    it = w.watch("COORDINATOR", timeout=60, from_now=True)
    first = next(it)
    assert first.type == WC.TYPE_CAUGHT_UP
    w.srv.signal()
    e = harness.expect_code(lambda: list(it), Code.UNAVAILABLE)
    assert "resume with start_index %d" % first.next_start_index in e.details(), e.details()
    assert w.srv.wait(30) == 0
    assert "Sanitizer" not in w.srv.text()
    data = w.srv.data
    w.srv = harness.Server([BIN, "--listen", "127.0.0.1:0", "--data-dir", data, "--insecure",
                            "--grace-ms", "3000", "--watch-poll-ms", "100",
                            "--max-streams-per-principal", str(BUDGET)] +
                           harness.database_args(data), harness.PORT_RE)
    w.srv.data = data
    w.connect()
    ch = changes(before)
    k = len(ch) // 2
    assert changes(w.feed("COORDINATOR", start_index=ch[k].next_start_index)) == ch[k + 1:]
    assert changes(w.feed("COORDINATOR")) == ch
    w.need("FRONT_OFFICE", "CancelNeed", name="needs/n-draft", reason="no longer needed")
    after = changes(w.feed("COORDINATOR", start_index=before[-1].next_start_index))
    assert [c.need.state for m in after for c in m.changes] == [Need.STATE_CANCELLED]


# ---- tallinnctl ----

def token_file(w, who):
    path = os.path.join(TMP, who + ".token")
    with open(path, "w") as f:
        f.write(w.tok[who] + "\n")
    return path


def ctl_args(w, who):
    return [CTL, "--addr", w.srv.addr, "--insecure", "--token-file", token_file(w, who)]


def ctl(w, who, *args, rc=0):
    p = subprocess.run(ctl_args(w, who) + list(args), capture_output=True, text=True, env=ENV,
                       timeout=60)
    assert p.returncode >= 0, "killed by signal %d: %s\n%s" % (-p.returncode, args, p.stderr)
    assert not re.search(r"Sanitizer|runtime error", p.stderr), p.stderr
    assert p.returncode == rc, "%s: exit %d, wanted %d\nstdout: %s\nstderr: %s" % (
        " ".join(args), p.returncode, rc, p.stdout, p.stderr)
    return p


class Follow:
    """A long-running tallinnctl whose stdout lines are collected."""

    def __init__(self, w, who, *args):
        self.p = subprocess.Popen(ctl_args(w, who) + list(args), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=ENV)
        self.lines, self.err = [], []
        self.cv = threading.Condition()
        threading.Thread(target=self._pump, args=(self.p.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.p.stderr, self.err), daemon=True).start()

    def _pump(self, stream, into):
        for line in stream:
            with self.cv:
                into.append(line.rstrip("\n"))
                self.cv.notify_all()

    def until(self, pred, timeout=20):
        """Waits until pred(lines) is true; returns the lines."""
        with self.cv:
            assert self.cv.wait_for(lambda: pred(self.lines) or self.p.poll() is not None,
                                    timeout), "timed out; lines so far: %s\nstderr: %s" % (
                                        self.lines, self.err)
            assert pred(self.lines), "exited %s: %s\n%s" % (self.p.poll(), self.lines, self.err)
            return list(self.lines)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
        self.p.wait(20)
        assert not any(re.search(r"Sanitizer|runtime error", x) for x in self.err), self.err


def test_ctl_changes_watch(w):
    """changes watch prints the API's feed; --after resumes exactly."""
    api = changes(w.feed("BACK_OFFICE"))
    n = sum(len(m.changes) for m in api)
    out = ctl(w, "BACK_OFFICE", "changes", "watch", "--from-start", "--count", str(n), "-o", "json")
    got = [json.loads(line) for line in out.stdout.splitlines()]
    got = [m for m in got if m.get("type") == "TYPE_CHANGES"]
    assert [int(m["index"]) for m in got] == [m.index for m in api]
    assert [c["name"] for m in got for c in m["changes"]] == [c.name for m in api for c in m.changes]
    text = ctl(w, "alpha", "changes", "watch", "--from-start", "--count", "3").stdout.splitlines()
    assert len(text) == 3 and all(re.match(r"^\d+ +\d{4}-\d\d-\d\d .* (donor|pledge|need|match) ",
                                           line) for line in text), text
    k = len(api) // 2
    tail = ctl(w, "BACK_OFFICE", "changes", "watch", "--after", str(api[k].index), "--count", "2",
               "-o", "name").stdout.split()
    assert tail == [c.name for m in api[k + 1:] for c in m.changes][:2], tail
    only = ctl(w, "BACK_OFFICE", "changes", "watch", "--from-start", "--kind", "pledges",
               "--count", "2", "-o", "name").stdout.split()
    assert only == ["donors/alpha/pledges/p", "donors/beta/pledges/p"], only
    rates = ctl(w, "OBSERVER", "changes", "watch", "--from-start", "--kind", "rates",
                "--count", "3").stdout.splitlines()
    assert [x.split()[4:] for x in rates] == [
        ["rate", "exchangeRates/usd-2025-03-14", "USD", "1.0850"],
        ["rate", "exchangeRates/gbp-2025-03-14", "GBP", "0.8420"],
        ["rate", "exchangeRates/gbp-2025-03-14", "no", "longer", "visible", "to", "you"]], rates
    for bad in (["--kind", "principals"], ["--after", "x"], ["--after", "3", "--from-start"],
                ["--count", "0"]):
        ctl(w, "BACK_OFFICE", "changes", "watch", *bad, rc=2)
    ctl(w, "ADMIN", "changes", "watch", "--count", "1", rc=5)


def other_log_key():
    """A well-formed verifier key of another log (C2SP vkey, Ed25519)."""
    import base64
    import hashlib
    import nacl.signing
    pub = b"\x01" + bytes(nacl.signing.SigningKey.generate().verify_key)
    name = "other.example/log"
    kid = hashlib.sha256(name.encode() + b"\n" + pub).digest()[:4]
    return "%s+%s+%s" % (name, kid.hex(), base64.b64encode(pub).decode())


def test_ctl_history(w):
    out = ctl(w, "BACK_OFFICE", "needs", "history", "n-secret", "--prove", "--log-key", w.vkey)
    lines = out.stdout.splitlines()
    assert lines[0].split()[:4] == ["POSITION", "TIME", "BY", "METHOD"], lines
    assert any("ReturnNeed" in x and "SUBMITTED -> RETURNED" in x and
               "add the endpoint count" in x and "principals/t-back-office (BACK_OFFICE)" in x
               for x in lines), lines
    entries = len(w.history("BACK_OFFICE", "needs/n-secret").entries)
    assert re.search(r"^proved %d entries: each record is in the audit log \S+ of \d+ records"
                     % entries, out.stdout, re.M), out.stdout
    # a donor: who approved another donor's match is withheld, and not proved
    out = ctl(w, "alpha", "needs", "history", "n-open", "--prove", "--log-key", w.vkey)
    assert "(COORDINATOR)" in out.stdout and "1 entry carries no record" in out.stdout, out.stdout
    js = ctl(w, "alpha", "matches", "history", "m-alpha-open", "-o", "json").stdout.splitlines()
    assert [json.loads(x)["stateAfter"] for x in js] == ["PROPOSED", "APPROVED", "IN_DELIVERY",
                                                         "DELIVERED", "ACCEPTED"]
    ctl(w, "alpha", "pledges", "history", "alpha", "p")
    ctl(w, "alpha", "donors", "history", "beta")
    out = ctl(w, "OBSERVER", "rates", "history", "usd-2025-03-14").stdout
    assert "CreateExchangeRate" in out and "principals/" not in out, out
    # --prove needs the key from the user; a key of another log refuses
    ctl(w, "BACK_OFFICE", "needs", "history", "n-secret", "--prove", rc=2)
    other = other_log_key()
    p = ctl(w, "BACK_OFFICE", "needs", "history", "n-secret", "--prove", "--log-key", other, rc=1)
    assert "does not verify with --log-key" in p.stderr, p.stderr
    ctl(w, "alpha", "needs", "history", "n-secret", rc=4)  # not alpha's to see


def new_open_need(w, nid):
    n = Need(title="Need " + nid, description="d", beneficiary="b", region="r",
             sector=Need.DESCRIPTOR.fields_by_name["sector"].enum_type.values_by_name[
                 "SECTOR_HEALTH"].number,
             category=Need.DESCRIPTOR.fields_by_name["category"].enum_type.values_by_name[
                 "CATEGORY_TRAINING"].number,
             domain=Need.DOMAIN_CIVILIAN, priority=Need.PRIORITY_LOW, estimated_cost=eur(7))
    w.need("FRONT_OFFICE", "CreateNeed", need_id=nid, need=n)
    w.need("FRONT_OFFICE", "SubmitNeed", name="needs/" + nid)
    w.need("BACK_OFFICE", "ValidateNeed", name="needs/" + nid)


def test_ctl_get_and_list_watch(w):
    """get --watch prints the need again as it changes; list --watch lists
    again when a need changes; a watched rate that is deleted says so."""
    n = Need(title="Watched", description="d", beneficiary="b", region="r",
             sector=Need.DESCRIPTOR.fields_by_name["sector"].enum_type.values_by_name[
                 "SECTOR_HEALTH"].number,
             category=Need.DESCRIPTOR.fields_by_name["category"].enum_type.values_by_name[
                 "CATEGORY_TRAINING"].number,
             domain=Need.DOMAIN_CIVILIAN, priority=Need.PRIORITY_LOW, estimated_cost=eur(7))
    w.need("FRONT_OFFICE", "CreateNeed", need_id="n-watched", need=n)
    get = Follow(w, "BACK_OFFICE", "needs", "get", "n-watched", "--watch")
    lst = Follow(w, "alpha", "needs", "list", "--watch", "-o", "name")
    try:
        get.until(lambda ls: any(re.match(r"^State: +DRAFT", x) for x in ls))
        lst.until(lambda ls: "needs/n-open" in ls)
        assert "needs/n-watched" not in lst.lines
        w.need("FRONT_OFFICE", "SubmitNeed", name="needs/n-watched")
        w.need("BACK_OFFICE", "ValidateNeed", name="needs/n-watched")
        lines = get.until(lambda ls: any(re.match(r"^State: +OPEN", x) for x in ls))
        seps = [x for x in lines if x.startswith("--- position ")]
        assert len(seps) == 2, lines  # SUBMITTED, then OPEN
        lst.until(lambda ls: "needs/n-watched" in ls)
    finally:
        get.stop()
        lst.stop()
    # a rate watched by a donor, then deleted: it says so
    w.call("BACK_OFFICE", "/tallinn.v1.ExchangeRateService/CreateExchangeRate",
           rate_pb2.CreateExchangeRateRequest(exchange_rate=rate_pb2.ExchangeRate(
               currency_code="JPY", rate="161.53", rate_date=common_pb2.Date(year=2025, month=3,
                                                                             day=17),
               source="ECB euro foreign exchange reference rate")), rate_pb2.ExchangeRate)
    rate = Follow(w, "alpha", "rates", "get", "jpy-2025-03-17", "--watch")
    try:
        rate.until(lambda ls: any("161.53" in x for x in ls))
        w.call("BACK_OFFICE", "/tallinn.v1.ExchangeRateService/DeleteExchangeRate",
               rate_pb2.DeleteExchangeRateRequest(name="exchangeRates/jpy-2025-03-17"),
               rate_pb2.ExchangeRate)
        rate.until(lambda ls: any("no longer visible" in x for x in ls))
    finally:
        rate.stop()


def test_ctl_watch_survives_restart(w):
    """A changes watch resumes after the server restarts (same address):
    nothing lost, nothing twice."""
    f = Follow(w, "BACK_OFFICE", "changes", "watch", "--from-start", "-o", "json")
    try:
        f.until(lambda ls: any('"TYPE_CAUGHT_UP"' in x for x in ls))
        w.srv.signal()
        assert w.srv.wait(30) == 0
        port, data = w.srv.port, w.srv.data
        w.srv = harness.Server([BIN, "--listen", "127.0.0.1:%d" % port, "--data-dir", data,
                                "--insecure", "--grace-ms", "3000", "--watch-poll-ms", "100",
                                "--max-streams-per-principal", str(BUDGET)] +
                               harness.database_args(data), harness.PORT_RE)
        w.srv.data = data
        w.connect()
        new_open_need(w, "n-after-restart")
        lines = f.until(lambda ls: any('"needs/n-after-restart"' in x and "STATE_OPEN" in x
                                       for x in ls), timeout=40)
    finally:
        f.stop()
    idx = [int(json.loads(x)["index"]) for x in lines if '"TYPE_CHANGES"' in x]
    assert idx == sorted(set(idx)), idx
    assert idx == [m.index for m in changes(w.feed("BACK_OFFICE"))][:len(idx)]
    assert any("resuming at position" in x for x in f.err), f.err


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_replicas(w):
    """Two tallinnd processes on one database, each with its own data
    directory holding the same keys: on PostgreSQL two replicas of the same
    database (what deployments run); on SQLite the second directory's
    tallinn.db is a symlink to the first's. A change committed through one
    replica reaches a watcher on the other by polling; a tallinnctl watch
    given both addresses, on the first, resumes on the second when the first
    stops."""
    a = w.srv
    d2 = os.path.join(tempfile.mkdtemp(prefix="tallinnd-replica-"), "var")
    os.makedirs(d2, mode=0o700)
    for f in ("audit.key", "token.key", "page-token.key"):
        shutil.copy2(os.path.join(a.data, f), d2)
    if harness.PG is None:
        os.symlink(os.path.join(a.data, "tallinn.db"), os.path.join(d2, "tallinn.db"))
    port_b = free_port()
    # B is not up yet: the watch is on A
    f = Follow(w, "BACK_OFFICE", "--addr", "%s,127.0.0.1:%d" % (a.addr, port_b), "changes",
               "watch", "--from-start", "-o", "json")
    b = None
    try:
        f.until(lambda ls: any('"TYPE_CAUGHT_UP"' in x for x in ls))
        b = harness.Server([BIN, "--listen", "127.0.0.1:%d" % port_b, "--data-dir", d2,
                            "--insecure", "--grace-ms", "3000", "--watch-poll-ms", "100"] +
                           harness.database_args(d2, share_with=a.data), harness.PORT_RE)
        b.data = d2
        on_b = grpc.insecure_channel(b.addr)
        watch_b = on_b.unary_stream(
            "/tallinn.v1.ChangeService/WatchChanges",
            request_serializer=change_pb2.WatchChangesRequest.SerializeToString,
            response_deserializer=WC.FromString)(
                change_pb2.WatchChangesRequest(from_now=True, resource="needs/n-via-a"),
                metadata=harness.bearer(w.tok["COORDINATOR"]), timeout=30)
        assert next(watch_b).type == WC.TYPE_CAUGHT_UP
        t0 = time.monotonic()
        new_open_need(w, "n-via-a")  # through A
        states = []
        for m in watch_b:
            states += [c.need.state for c in m.changes]
            if Need.STATE_OPEN in states:
                break
        watch_b.cancel()
        assert states == [Need.STATE_DRAFT, Need.STATE_SUBMITTED, Need.STATE_OPEN], states
        print("     a change committed through A reached a watcher on B in %.0f ms "
              "(poll 100 ms)" % ((time.monotonic() - t0) * 1e3))
        # A stops: the tallinnctl watch resumes on B; a change through B reaches it
        f.until(lambda ls: any('"needs/n-via-a"' in x and "STATE_OPEN" in x for x in ls))
        a.signal()
        assert a.wait(30) == 0
        assert not any("Sanitizer" in x for x in a.log)
        w.srv = b
        w.connect()
        new_open_need(w, "n-via-b")
        lines = f.until(lambda ls: any('"needs/n-via-b"' in x and "STATE_OPEN" in x for x in ls),
                        timeout=40)
    finally:
        f.stop()
    assert any("resuming at position" in x for x in f.err), f.err
    idx = [int(json.loads(x)["index"]) for x in lines if '"TYPE_CHANGES"' in x]
    assert idx == [m.index for m in changes(w.feed("BACK_OFFICE"))][:len(idx)], idx
    # the same history from either replica: B answers for what A committed
    assert [e.method for e in w.history("BACK_OFFICE", "needs/n-via-a").entries][-1].endswith(
        "/ValidateNeed")


def test_ctl_prove_fails_on_tampering(w):
    """A record changed in the database behind the server's back: --prove
    says which entry does not prove. (Last: the log is broken afterwards.)"""
    h = w.history("BACK_OFFICE", "needs/n-secret").entries
    victim = h[2]  # ReturnNeed
    (data,), = harness.db_query(w.srv.data, "SELECT %s FROM audit_leaves WHERE idx = %d" %
                                (harness.sql_hex("data"), victim.index))
    data = bytes.fromhex(data)
    forged = data.replace(b"t-back-office", b"t-front-office"[:13])
    assert forged != data and len(forged) == len(data)
    harness.db_query(w.srv.data, "UPDATE audit_leaves SET data = %s WHERE idx = %d" %
                     (harness.hexblob(forged), victim.index))
    p = ctl(w, "BACK_OFFICE", "needs", "history", "n-secret", "--prove", "--log-key", w.vkey, rc=1)
    assert "the entry at position %d does not prove" % victim.index in p.stderr, p.stderr
    # without --prove the forged record is just shown: proving is what catches it
    out = ctl(w, "BACK_OFFICE", "needs", "history", "n-secret").stdout
    assert "t-front-offic" in out, out


def test_truncated_start(w):
    """A database whose change log begins later (one that ran before it, or
    compacted): starting before it is FAILED_PRECONDITION saying where it
    begins; histories say where they begin."""
    harness.db_query(w.srv.data, "UPDATE change_log_start SET idx = 20")
    e = harness.expect_code(lambda: list(w.watch("AUDITOR", start_index=19)),
                            Code.FAILED_PRECONDITION)
    assert "first position 20" in e.details(), e.details()
    md = dict(e.trailing_metadata())
    assert b"CHANGE_LOG_TRUNCATED" in md["grpc-status-details-bin"], md
    assert changes(w.feed("AUDITOR", start_index=20))[0].index >= 20
    h = w.history("BACK_OFFICE", "needs/n-secret")
    assert h.history_start_index == 20 and h.entries[0].index == 20, h.entries[0]


def main():
    cases = harness.Cases()
    w = World()
    try:
        workflow(w)
        for name, fn in [("commit_order", test_commit_order),
                         ("mirror_per_role", test_mirror_per_role),
                         ("donor_tombstones", test_donor_tombstones),
                         ("observer", test_observer),
                         ("refused_roles", test_refused_roles),
                         ("restricted_reads_recorded", test_restricted_reads_recorded),
                         ("resume_exactly", test_resume_exactly),
                         ("filters", test_filters),
                         ("bad_requests", test_bad_requests),
                         ("history", test_history),
                         ("history_donor", test_history_donor),
                         ("history_observer", test_history_observer),
                         ("rates", test_rates),
                         ("live_two_watchers", test_live_two_watchers),
                         ("stream_budget", test_stream_budget),
                         ("restart_and_drain", test_restart_and_drain),
                         ("ctl_changes_watch", test_ctl_changes_watch),
                         ("ctl_history", test_ctl_history),
                         ("ctl_get_and_list_watch", test_ctl_get_and_list_watch),
                         ("ctl_watch_survives_restart", test_ctl_watch_survives_restart),
                         ("replicas", test_replicas),
                         ("ctl_prove_fails_on_tampering", test_ctl_prove_fails_on_tampering),
                         ("truncated_start", test_truncated_start)]:
            cases.run(name, fn, w)
    finally:
        w.srv.stop()
        bad = [line for line in w.srv.log if "Sanitizer" in line or "runtime error" in line]
        if bad:
            print("FAIL sanitizer:\n" + "".join(bad))
            cases.failed += 1
    cases.finish()


if __name__ == "__main__":
    main()
