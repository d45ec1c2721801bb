"""End-to-end test of the Tallinn Mechanism API (issue 3) against a real
tallinnd: donors and pledges, a need from DRAFT to FULFILLED, every rejected
transition, the approval guards (overfunding, overspending, concurrency), a
military need, paging over 2,500 needs with filters and ordering, idempotent
retries, etags, BadRequest validation and the coverage report.
Run: /usr/bin/python3 workflow_test.py path/to/tallinnd"""
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BIN = sys.argv[1]
(common_pb2, donor_pb2, need_pb2, match_pb2, report_pb2, status_pb2,
 errdet_pb2) = harness.protos("tallinn/v1/common.proto", "tallinn/v1/donor.proto",
                              "tallinn/v1/need.proto", "tallinn/v1/match.proto",
                              "tallinn/v1/report.proto", "google/rpc/status.proto",
                              "google/rpc/error_details.proto")
from google.protobuf import field_mask_pb2  # noqa: E402  (after protos(): same runtime)

Code = grpc.StatusCode
Donor, Pledge, Need, Match = donor_pb2.Donor, donor_pb2.Pledge, need_pb2.Need, match_pb2.Match
NANO = 10 ** 9


msg_class = harness.message_class


# Who makes each call (docs/authz.md): the front office in Kyiv writes needs
# and accepts deliveries, the back office in Warsaw validates needs, keeps the
# donor register and proposes matches, the coordination group approves, and a
# donor delivers its own matches. Reads go through the back office.
ROLE_OF = {
    "CreateNeed": "FRONT_OFFICE", "UpdateNeed": "FRONT_OFFICE", "SubmitNeed": "FRONT_OFFICE",
    "CancelNeed": "FRONT_OFFICE", "AcceptDelivery": "FRONT_OFFICE",
    "RejectDelivery": "FRONT_OFFICE", "ApproveMatch": "COORDINATOR",
    "DeclineMatch": "COORDINATOR", "WithdrawMatch": "DONOR", "StartDelivery": "DONOR",
    "MarkDelivered": "DONOR",
}


class Principals:
    """Tokens for the roles, one DONOR principal per donor made on demand."""

    def __init__(self, srv):
        self.srv = srv
        self.tokens = {r: srv.create_principal("wf-" + r.lower().replace("_", "-"), r)
                       for r in ("FRONT_OFFICE", "BACK_OFFICE", "COORDINATOR")}
        self.lock = threading.Lock()

    def donor(self, donor):
        with self.lock:
            if donor not in self.tokens:
                self.tokens[donor] = self.srv.create_principal(
                    "wf-donor-" + donor.split("/")[1], "DONOR", donor=donor)
            return self.tokens[donor]


class Stub:
    """One attribute per RPC of a service, built from its descriptor (the
    harness generates messages only, no grpc stubs), each called as the
    principal ROLE_OF names. Default timeout 30 s."""

    def __init__(self, api, mod, service):
        sd = mod.DESCRIPTOR.services_by_name[service]
        self.requests = {}
        for m in sd.methods:
            mc = api.ch.unary_unary("/%s/%s" % (sd.full_name, m.name),
                                    request_serializer=msg_class(m.input_type).SerializeToString,
                                    response_deserializer=msg_class(m.output_type).FromString)
            self.requests[m.name] = msg_class(m.input_type)
            setattr(self, m.name, self._wrap(api, m.name, mc))

    @staticmethod
    def _wrap(api, method, mc):
        def call(req, timeout=30, **kw):
            return mc(req, timeout=timeout, metadata=api.auth(method, req), **kw)
        return call

    def req(self, method, **fields):
        """Request for method with the given fields; fields the request lacks
        (e.g. reason for SubmitNeed) are dropped."""
        cls = self.requests[method]
        return cls(**{k: v for k, v in fields.items() if k in cls.DESCRIPTOR.fields_by_name})


class Api:
    def __init__(self, addr, principals):
        self.ch = grpc.insecure_channel(addr)
        self.who = principals
        self.D = Stub(self, donor_pb2, "DonorService")
        self.N = Stub(self, need_pb2, "NeedService")
        self.M = Stub(self, match_pb2, "MatchService")
        self.R = Stub(self, report_pb2, "ReportService")

    def auth(self, method, req):
        role = ROLE_OF.get(method, "BACK_OFFICE")
        if role != "DONOR":
            return harness.bearer(self.who.tokens[role])
        try:  # a donor acts on its own matches
            m = self.M.GetMatch(match_pb2.GetMatchRequest(name=req.name))
        except grpc.RpcError:
            return harness.bearer(self.who.tokens["BACK_OFFICE"])
        return harness.bearer(self.who.donor(m.donor))


def eur(units, nanos=0, cur="EUR"):
    return common_pb2.Money(currency_code=cur, units=units, nanos=nanos)


def nanos(m):
    return m.units * NANO + m.nanos


def assert_eur(m, units, what=""):
    assert m.currency_code == "EUR" and m.units == units and m.nanos == 0, \
        "%s: expected EUR %d, got %s %d.%09d" % (what, units, m.currency_code, m.units, m.nanos)


def rid():
    return str(uuid.uuid4())


_seq = [0]
_seq_lock = threading.Lock()


def uid(prefix):
    with _seq_lock:
        _seq[0] += 1
        return "%s-%d" % (prefix, _seq[0])


def status_details(err):
    """The google.rpc.Status of an error and its BadRequest field names."""
    for k, v in err.trailing_metadata() or ():
        if k == "grpc-status-details-bin":
            st = status_pb2.Status()
            st.ParseFromString(v)
            fields = []
            for any_ in st.details:
                if any_.type_url.endswith("/google.rpc.BadRequest"):
                    br = errdet_pb2.BadRequest()
                    br.ParseFromString(any_.value)
                    fields += [fv.field for fv in br.field_violations]
            return st, fields
    raise AssertionError("no grpc-status-details-bin trailer on %s: %s" % (err.code(), err.details()))


def expect(call, code, *args, **kw):
    return harness.expect_code(call, code, *args, **kw)


def expect_state_error(call, req, name, state):
    """FAILED_PRECONDITION naming the resource's current state."""
    err = expect(call, Code.FAILED_PRECONDITION, req)
    assert "%s is %s" % (name, state) in err.details(), \
        "message does not say '%s is %s': %r" % (name, state, err.details())
    return err


# ---- Fixtures ----

def need_msg(**kw):
    d = dict(title="EDR licences for a regional power distributor",
             description="Endpoint detection and response for 1,200 workstations.",
             beneficiary="Kharkivoblenergo", region="Kharkiv Oblast",
             sector=common_pb2.SECTOR_ENERGY, category=common_pb2.CATEGORY_ENDPOINT_PROTECTION,
             domain=Need.DOMAIN_CIVILIAN, priority=Need.PRIORITY_HIGH, estimated_cost=eur(10000))
    d.update(kw)
    return Need(**d)


def create_need(api, **kw):
    return api.N.CreateNeed(need_pb2.CreateNeedRequest(need=need_msg(**kw), need_id=uid("need")))


def open_need(api, **kw):
    n = create_need(api, **kw)
    api.N.SubmitNeed(need_pb2.SubmitNeedRequest(name=n.name))
    n = api.N.ValidateNeed(need_pb2.ValidateNeedRequest(name=n.name))
    assert n.state == Need.STATE_OPEN, n.state
    return n


def create_donor(api, donor_id, **kw):
    return api.D.CreateDonor(donor_pb2.CreateDonorRequest(donor=Donor(**kw), donor_id=donor_id))


def create_pledge(api, donor, units, state=Pledge.STATE_COMMITTED, **kw):
    p = Pledge(amount=eur(units), fiscal_year=kw.pop("fiscal_year", 2025),
               source=kw.pop("source", "test budget"), state=state)
    return api.D.CreatePledge(donor_pb2.CreatePledgeRequest(parent=donor, pledge=p,
                                                            pledge_id=uid("p"), **kw))


def create_match(api, need, donor, pledge, units, **kw):
    m = Match(need=need, donor=donor, pledge=pledge, amount=eur(units),
              description=kw.pop("description", "EDR licences, one year"), **kw)
    return api.M.CreateMatch(match_pb2.CreateMatchRequest(match=m, match_id=uid("m")))


def mcall(api, method, name, **kw):
    """A match custom method with a reason where the request has one."""
    kw.setdefault("reason", "test reason")
    return getattr(api.M, method)(api.M.req(method, name=name, **kw))


def ncall(api, method, name, **kw):
    kw.setdefault("reason", "test reason")
    return getattr(api.N, method)(api.N.req(method, name=name, **kw))


def pledge_amounts(api, name):
    p = api.D.GetPledge(donor_pb2.GetPledgeRequest(name=name))
    return p.allocated.units, p.available.units


# Donors shared by the cases; created by test_donors_and_pledges.
ESTONIA, NETHERLANDS, POLAND = "donors/estonia", "donors/netherlands", "donors/poland"
CYBERCORP, EU = "donors/cybercorp-ee", "donors/eu"


# ---- Cases ----

def test_donors_and_pledges(api):
    D = api.D
    ee = create_donor(api, "estonia", display_name="Estonia", kind=Donor.KIND_STATE,
                      country_code="EE", membership=Donor.MEMBERSHIP_MEMBER,
                      capabilities=[common_pb2.CATEGORY_TRAINING,
                                    common_pb2.CATEGORY_ENDPOINT_PROTECTION],
                      contact_email="cyber@mfa.example")
    assert ee.name == ESTONIA and ee.kind == Donor.KIND_STATE and ee.country_code == "EE"
    assert ee.membership == Donor.MEMBERSHIP_MEMBER and ee.parent == ""
    assert ee.etag and ee.create_time.seconds > 0
    assert D.GetDonor(donor_pb2.GetDonorRequest(name=ESTONIA)) == ee
    for did, name, cc in (("netherlands", "Netherlands", "NL"), ("poland", "Poland", "PL")):
        create_donor(api, did, display_name=name, kind=Donor.KIND_STATE, country_code=cc,
                     membership=Donor.MEMBERSHIP_MEMBER)
    co = create_donor(api, "cybercorp-ee", display_name="CyberCorp Eesti AS",
                      kind=Donor.KIND_COMPANY, country_code="EE", parent=ESTONIA,
                      membership=Donor.MEMBERSHIP_MEMBER)
    assert co.parent == ESTONIA and co.kind == Donor.KIND_COMPANY
    eu = create_donor(api, "eu", display_name="European Union",
                      kind=Donor.KIND_INTERNATIONAL_ORGANIZATION,
                      membership=Donor.MEMBERSHIP_OBSERVER)
    assert eu.membership == Donor.MEMBERSHIP_OBSERVER and eu.country_code == ""
    # ALREADY_EXISTS for a taken id.
    expect(api.D.CreateDonor, Code.ALREADY_EXISTS, donor_pb2.CreateDonorRequest(
        donor=Donor(display_name="Estonia again", kind=Donor.KIND_STATE, country_code="EE",
                    membership=Donor.MEMBERSHIP_MEMBER), donor_id="estonia"))
    # A company needs a STATE parent: missing, unknown or a company are refused.
    for parent in ("", "donors/no-such-state", CYBERCORP):
        err = expect(D.CreateDonor, Code.INVALID_ARGUMENT, donor_pb2.CreateDonorRequest(
            donor=Donor(display_name="Orphan Ltd", kind=Donor.KIND_COMPANY, country_code="EE",
                        parent=parent, membership=Donor.MEMBERSHIP_MEMBER)))
        assert "donor.parent" in status_details(err)[1], (parent, status_details(err)[1])
    # A state must not have a parent.
    err = expect(D.CreateDonor, Code.INVALID_ARGUMENT, donor_pb2.CreateDonorRequest(
        donor=Donor(display_name="Latvia", kind=Donor.KIND_STATE, country_code="LV",
                    parent=ESTONIA, membership=Donor.MEMBERSHIP_MEMBER)))
    assert "donor.parent" in status_details(err)[1]
    # Observers never pledge.
    expect(D.CreatePledge, Code.FAILED_PRECONDITION, donor_pb2.CreatePledgeRequest(
        parent=EU, pledge=Pledge(amount=eur(1000), fiscal_year=2024)))
    # Estonia's pledge from the article.
    p = D.CreatePledge(donor_pb2.CreatePledgeRequest(
        parent=ESTONIA, pledge_id="fy2024",
        pledge=Pledge(amount=eur(500000), fiscal_year=2024,
                      source="2024 development cooperation budget")))
    assert p.name == ESTONIA + "/pledges/fy2024" and p.state == Pledge.STATE_ANNOUNCED
    assert_eur(p.amount, 500000, "amount")
    assert_eur(p.allocated, 0, "allocated")
    assert_eur(p.available, 500000, "available")
    assert p.source == "2024 development cooperation budget" and p.fiscal_year == 2024
    # ANNOUNCED -> COMMITTED through UpdatePledge(state).
    p = D.UpdatePledge(donor_pb2.UpdatePledgeRequest(
        pledge=Pledge(name=p.name, state=Pledge.STATE_COMMITTED, etag=p.etag),
        update_mask=field_mask_pb2.FieldMask(paths=["state"])))
    assert p.state == Pledge.STATE_COMMITTED
    # Money in no ISO 4217 currency, a fiscal year out of range.
    err = expect(D.CreatePledge, Code.INVALID_ARGUMENT, donor_pb2.CreatePledgeRequest(
        parent=NETHERLANDS, pledge=Pledge(amount=eur(1000, cur="ABC"), fiscal_year=1999)))
    fields = status_details(err)[1]
    assert any(f.startswith("pledge.amount") for f in fields), fields
    assert "pledge.fiscal_year" in fields, fields
    # Lists: by membership, and pledges of all donors.
    r = D.ListDonors(donor_pb2.ListDonorsRequest(filter="membership = OBSERVER"))
    assert [d.name for d in r.donors] == [EU], [d.name for d in r.donors]
    r = D.ListDonors(donor_pb2.ListDonorsRequest(filter="kind = KIND_STATE", order_by="display_name"))
    assert [d.display_name for d in r.donors] == ["Estonia", "Netherlands", "Poland"]
    r = D.ListPledges(donor_pb2.ListPledgesRequest(parent="donors/-"))
    assert [x.name for x in r.pledges] == [p.name]
    # Capabilities come back in ascending enum order (checked last: the other
    # cases need the donors above).
    assert list(ee.capabilities) == [common_pb2.CATEGORY_ENDPOINT_PROTECTION,
                                     common_pb2.CATEGORY_TRAINING], list(ee.capabilities)


def test_need_to_fulfilled(api):
    """DRAFT -> FULFILLED through two partial matches from two donors."""
    N, M = api.N, api.M
    pe = create_pledge(api, ESTONIA, 20000).name
    pn = create_pledge(api, NETHERLANDS, 20000).name
    n = create_need(api, estimated_cost=eur(10000), sector=common_pb2.SECTOR_WATER,
                    category=common_pb2.CATEGORY_RECOVERY, title="Restore SCADA at Mykolaiv water")
    assert n.state == Need.STATE_DRAFT and n.coverage == Need.COVERAGE_NONE
    assert_eur(n.committed_amount, 0)
    assert_eur(n.delivered_amount, 0)
    assert n.sensitivity == Need.SENSITIVITY_STANDARD
    n = N.SubmitNeed(need_pb2.SubmitNeedRequest(name=n.name))
    assert n.state == Need.STATE_SUBMITTED
    n = N.ValidateNeed(need_pb2.ValidateNeedRequest(name=n.name, etag=n.etag))
    assert n.state == Need.STATE_OPEN

    m1 = create_match(api, n.name, ESTONIA, pe, 6000, implementer=CYBERCORP)
    m2 = create_match(api, n.name, NETHERLANDS, pn, 4000)
    assert m1.state == m2.state == Match.STATE_PROPOSED and m1.implementer == CYBERCORP
    assert m1.need == n.name and m1.pledge == pe and m1.donor == ESTONIA
    assert not m1.overfunding_allowed and m1.approver == ""
    assert m1.proposer == "principals/wf-back-office", m1.proposer
    g = N.GetNeed(need_pb2.GetNeedRequest(name=n.name))
    assert_eur(g.committed_amount, 0, "proposed matches commit nothing")
    assert g.coverage == Need.COVERAGE_NONE
    assert pledge_amounts(api, pe) == (0, 20000)

    def check(committed, delivered, coverage, state, alloc_e, alloc_n):
        g = N.GetNeed(need_pb2.GetNeedRequest(name=n.name))
        assert_eur(g.committed_amount, committed, "committed")
        assert_eur(g.delivered_amount, delivered, "delivered")
        assert g.coverage == coverage, Need.Coverage.Name(g.coverage)
        assert g.state == state, Need.State.Name(g.state)
        assert pledge_amounts(api, pe) == (alloc_e, 20000 - alloc_e), pledge_amounts(api, pe)
        assert pledge_amounts(api, pn) == (alloc_n, 20000 - alloc_n), pledge_amounts(api, pn)
        return g

    m1 = M.ApproveMatch(match_pb2.ApproveMatchRequest(name=m1.name, etag=m1.etag))
    assert m1.state == Match.STATE_APPROVED and not m1.overfunding_allowed
    assert m1.approver == "principals/wf-coordinator", m1.approver
    check(6000, 0, Need.COVERAGE_PARTIAL, Need.STATE_OPEN, 6000, 0)
    m2 = M.ApproveMatch(match_pb2.ApproveMatchRequest(name=m2.name))
    check(10000, 0, Need.COVERAGE_FULL, Need.STATE_OPEN, 6000, 4000)
    for m in (m1, m2):
        assert M.StartDelivery(match_pb2.StartDeliveryRequest(name=m.name)).state == \
            Match.STATE_IN_DELIVERY
    check(10000, 0, Need.COVERAGE_FULL, Need.STATE_OPEN, 6000, 4000)
    assert M.MarkDelivered(match_pb2.MarkDeliveredRequest(name=m1.name)).state == \
        Match.STATE_DELIVERED
    check(10000, 0, Need.COVERAGE_FULL, Need.STATE_OPEN, 6000, 4000)
    # The beneficiary sends it back once, then accepts.
    r = M.RejectDelivery(match_pb2.RejectDeliveryRequest(name=m1.name, reason="3 sites missing"))
    assert r.state == Match.STATE_IN_DELIVERY and r.state_reason == "3 sites missing"
    M.MarkDelivered(match_pb2.MarkDeliveredRequest(name=m1.name))
    r = M.AcceptDelivery(match_pb2.AcceptDeliveryRequest(name=m1.name))
    assert r.state == Match.STATE_ACCEPTED
    check(10000, 6000, Need.COVERAGE_FULL, Need.STATE_OPEN, 6000, 4000)  # not yet FULFILLED
    M.MarkDelivered(match_pb2.MarkDeliveredRequest(name=m2.name))
    check(10000, 6000, Need.COVERAGE_FULL, Need.STATE_OPEN, 6000, 4000)
    M.AcceptDelivery(match_pb2.AcceptDeliveryRequest(name=m2.name))
    g = check(10000, 10000, Need.COVERAGE_FULL, Need.STATE_FULFILLED, 6000, 4000)
    assert g.update_time.ToNanoseconds() > n.update_time.ToNanoseconds()
    r = M.ListMatches(match_pb2.ListMatchesRequest(filter='need = "%s"' % n.name))
    assert sorted((m.name, m.state) for m in r.matches) == \
        sorted([(m1.name, Match.STATE_ACCEPTED), (m2.name, Match.STATE_ACCEPTED)])


NEED_STATES = ["DRAFT", "SUBMITTED", "RETURNED", "REJECTED", "ROUTED_TO_IT_COALITION", "OPEN",
               "ON_HOLD", "FULFILLED", "CLOSED", "CANCELLED"]
NEED_ALLOWED = {
    "SubmitNeed": {"DRAFT", "RETURNED"},
    "ValidateNeed": {"SUBMITTED"},
    "ReturnNeed": {"SUBMITTED"},
    "RejectNeed": {"SUBMITTED"},
    "RouteNeed": {"SUBMITTED"},
    "HoldNeed": {"OPEN"},
    "ResumeNeed": {"ON_HOLD"},
    "CancelNeed": {"DRAFT", "SUBMITTED", "RETURNED", "OPEN", "ON_HOLD"},
    "CloseNeed": {"OPEN"},
}
MATCH_STATES = ["PROPOSED", "APPROVED", "DECLINED", "WITHDRAWN", "IN_DELIVERY", "DELIVERED",
                "ACCEPTED"]
MATCH_ALLOWED = {
    "ApproveMatch": {"PROPOSED"},
    "DeclineMatch": {"PROPOSED"},
    "WithdrawMatch": {"PROPOSED", "APPROVED"},
    "StartDelivery": {"APPROVED"},
    "MarkDelivered": {"IN_DELIVERY"},
    "AcceptDelivery": {"DELIVERED"},
    "RejectDelivery": {"DELIVERED"},
}
NEED_PATH = {  # calls that bring a new DRAFT need to each state
    "DRAFT": [], "SUBMITTED": ["SubmitNeed"], "RETURNED": ["SubmitNeed", "ReturnNeed"],
    "REJECTED": ["SubmitNeed", "RejectNeed"], "ROUTED_TO_IT_COALITION": ["SubmitNeed", "RouteNeed"],
    "OPEN": ["SubmitNeed", "ValidateNeed"], "ON_HOLD": ["SubmitNeed", "ValidateNeed", "HoldNeed"],
    "CLOSED": ["SubmitNeed", "ValidateNeed", "CloseNeed"], "CANCELLED": ["CancelNeed"],
}
MATCH_PATH = {
    "PROPOSED": [], "APPROVED": ["ApproveMatch"], "DECLINED": ["DeclineMatch"],
    "WITHDRAWN": ["WithdrawMatch"], "IN_DELIVERY": ["ApproveMatch", "StartDelivery"],
    "DELIVERED": ["ApproveMatch", "StartDelivery", "MarkDelivered"],
    "ACCEPTED": ["ApproveMatch", "StartDelivery", "MarkDelivered", "AcceptDelivery"],
}


def need_in_state(api, state, pledge):
    if state == "FULFILLED":
        n = open_need(api, estimated_cost=eur(100))
        m = create_match(api, n.name, POLAND, pledge, 100)
        for meth in MATCH_PATH["ACCEPTED"]:
            mcall(api, meth, m.name)
    else:
        n = create_need(api)
        for meth in NEED_PATH[state]:
            ncall(api, meth, n.name)
    n = api.N.GetNeed(need_pb2.GetNeedRequest(name=n.name))
    assert Need.State.Name(n.state) == "STATE_" + state, (state, Need.State.Name(n.state))
    return n


def test_rejected_transitions(api):
    pledge = create_pledge(api, POLAND, 100000).name
    needs = {s: need_in_state(api, s, pledge) for s in NEED_STATES}
    tried = 0
    for method, allowed in NEED_ALLOWED.items():
        for s in NEED_STATES:
            if s in allowed:
                continue
            n = needs[s]
            expect_state_error(getattr(api.N, method),
                               api.N.req(method, name=n.name, reason="test reason"), n.name, s)
            tried += 1
    # UpdateNeed only in DRAFT or RETURNED.
    for s in NEED_STATES:
        if s in ("DRAFT", "RETURNED"):
            continue
        n = needs[s]
        expect_state_error(api.N.UpdateNeed, need_pb2.UpdateNeedRequest(
            need=Need(name=n.name, title="new title"),
            update_mask=field_mask_pb2.FieldMask(paths=["title"])), n.name, s)
        tried += 1
    # Nothing changed: every need is still in its state, with its etag.
    for s, n in needs.items():
        g = api.N.GetNeed(need_pb2.GetNeedRequest(name=n.name))
        assert g.state == n.state and g.etag == n.etag, s

    need = open_need(api, estimated_cost=eur(1000000))
    matches = {}
    for s in MATCH_STATES:
        m = create_match(api, need.name, POLAND, pledge, 100)
        for meth in MATCH_PATH[s]:
            mcall(api, meth, m.name)
        matches[s] = api.M.GetMatch(match_pb2.GetMatchRequest(name=m.name))
        assert Match.State.Name(matches[s].state) == "STATE_" + s
    for method, allowed in MATCH_ALLOWED.items():
        for s in MATCH_STATES:
            if s in allowed:
                continue
            m = matches[s]
            expect_state_error(getattr(api.M, method),
                               api.M.req(method, name=m.name, reason="test reason"), m.name, s)
            tried += 1
    for s, m in matches.items():
        g = api.M.GetMatch(match_pb2.GetMatchRequest(name=m.name))
        assert g.state == m.state and g.etag == m.etag, s
    assert tried == 9 * 10 - 14 + 8 + 7 * 7 - 8, tried


def test_hold_resume_cancel(api):
    """ON_HOLD blocks approvals; HoldNeed's reason is optional; cancel
    releases nothing it should not."""
    p = create_pledge(api, POLAND, 5000).name
    n = open_need(api, estimated_cost=eur(3000))
    m = create_match(api, n.name, POLAND, p, 1000)
    h = api.N.HoldNeed(need_pb2.HoldNeedRequest(name=n.name))  # reason is optional
    assert h.state == Need.STATE_ON_HOLD
    # No new matches, no approvals while ON_HOLD.
    expect(api.M.ApproveMatch, Code.FAILED_PRECONDITION, match_pb2.ApproveMatchRequest(name=m.name))
    expect(create_match, Code.FAILED_PRECONDITION, api, n.name, POLAND, p, 500)
    r = api.N.ResumeNeed(need_pb2.ResumeNeedRequest(name=n.name))
    assert r.state == Need.STATE_OPEN
    a = api.M.ApproveMatch(match_pb2.ApproveMatchRequest(name=m.name))
    assert a.state == Match.STATE_APPROVED
    assert pledge_amounts(api, p) == (1000, 4000)
    w = api.M.WithdrawMatch(match_pb2.WithdrawMatchRequest(name=m.name, reason="donor changed plans"))
    assert w.state == Match.STATE_WITHDRAWN and w.state_reason == "donor changed plans"
    assert pledge_amounts(api, p) == (0, 5000)
    g = api.N.GetNeed(need_pb2.GetNeedRequest(name=n.name))
    assert_eur(g.committed_amount, 0)
    assert g.coverage == Need.COVERAGE_NONE
    c = api.N.CancelNeed(need_pb2.CancelNeedRequest(name=n.name, reason="covered bilaterally"))
    assert c.state == Need.STATE_CANCELLED and c.state_reason == "covered bilaterally"
    # Reasons are required where the contract says so.
    n2 = create_need(api)
    err = expect(api.N.CancelNeed, Code.INVALID_ARGUMENT, need_pb2.CancelNeedRequest(name=n2.name))
    assert "reason" in status_details(err)[1]


def test_overfunding(api):
    p = create_pledge(api, NETHERLANDS, 10000).name
    n = open_need(api, estimated_cost=eur(1000), sector=common_pb2.SECTOR_HEALTH)
    m1 = create_match(api, n.name, NETHERLANDS, p, 800)
    m2 = create_match(api, n.name, NETHERLANDS, p, 300)
    api.M.ApproveMatch(match_pb2.ApproveMatchRequest(name=m1.name))
    err = expect(api.M.ApproveMatch, Code.FAILED_PRECONDITION,
                 match_pb2.ApproveMatchRequest(name=m2.name))
    assert "allow_overfunding" in err.details() or "estimated" in err.details(), err.details()
    assert api.M.GetMatch(match_pb2.GetMatchRequest(name=m2.name)).state == Match.STATE_PROPOSED
    # allow_overfunding without a reason is not enough.
    err = expect(api.M.ApproveMatch, Code.INVALID_ARGUMENT,
                 match_pb2.ApproveMatchRequest(name=m2.name, allow_overfunding=True))
    assert "reason" in status_details(err)[1]
    g = api.N.GetNeed(need_pb2.GetNeedRequest(name=n.name))
    assert_eur(g.committed_amount, 800)
    assert g.coverage == Need.COVERAGE_PARTIAL
    why = "licence bundle only sold in 300-seat packs"
    a = api.M.ApproveMatch(match_pb2.ApproveMatchRequest(name=m2.name, allow_overfunding=True,
                                                          reason=why))
    assert a.state == Match.STATE_APPROVED and a.overfunding_allowed and a.overfunding_reason == why
    a = api.M.GetMatch(match_pb2.GetMatchRequest(name=m2.name))
    assert a.overfunding_allowed and a.overfunding_reason == why
    first = api.M.GetMatch(match_pb2.GetMatchRequest(name=m1.name))
    assert not first.overfunding_allowed and first.overfunding_reason == ""
    g = api.N.GetNeed(need_pb2.GetNeedRequest(name=n.name))
    assert_eur(g.committed_amount, 1100)
    assert g.coverage == Need.COVERAGE_FULL
    assert pledge_amounts(api, p) == (1100, 8900)


def test_overspending(api):
    p = create_pledge(api, POLAND, 1000).name
    n = open_need(api, estimated_cost=eur(100000))
    m1 = create_match(api, n.name, POLAND, p, 700)
    m2 = create_match(api, n.name, POLAND, p, 400)
    api.M.ApproveMatch(match_pb2.ApproveMatchRequest(name=m1.name))
    assert pledge_amounts(api, p) == (700, 300)
    expect(api.M.ApproveMatch, Code.FAILED_PRECONDITION, match_pb2.ApproveMatchRequest(name=m2.name))
    # allow_overfunding never allows overspending a pledge.
    expect(api.M.ApproveMatch, Code.FAILED_PRECONDITION, match_pb2.ApproveMatchRequest(
        name=m2.name, allow_overfunding=True, reason="please"))
    assert pledge_amounts(api, p) == (700, 300)
    assert api.M.GetMatch(match_pb2.GetMatchRequest(name=m2.name)).state == Match.STATE_PROPOSED
    api.M.WithdrawMatch(match_pb2.WithdrawMatchRequest(name=m1.name, reason="re-scoped"))
    assert pledge_amounts(api, p) == (0, 1000)
    api.M.ApproveMatch(match_pb2.ApproveMatchRequest(name=m2.name))
    assert pledge_amounts(api, p) == (400, 600)
    g = api.N.GetNeed(need_pb2.GetNeedRequest(name=n.name))
    assert_eur(g.committed_amount, 400)
    # A pledge cannot shrink below what it has allocated, nor be withdrawn
    # while it has allocations.
    for pl, path in ((Pledge(name=p, amount=eur(399)), "amount"),
                     (Pledge(name=p, state=Pledge.STATE_WITHDRAWN), "state")):
        expect(api.D.UpdatePledge, Code.FAILED_PRECONDITION, donor_pb2.UpdatePledgeRequest(
            pledge=pl, update_mask=field_mask_pb2.FieldMask(paths=[path])))
    u = api.D.UpdatePledge(donor_pb2.UpdatePledgeRequest(
        pledge=Pledge(name=p, amount=eur(400)), update_mask=field_mask_pb2.FieldMask(paths=["amount"])))
    assert_eur(u.amount, 400)
    assert_eur(u.available, 0)


def test_concurrent_approvals(api, addr):
    """Two approvals that together exceed a pledge, at the same moment, from
    two connections: exactly one wins, every round."""
    n = open_need(api, estimated_cost=eur(1000000))
    apis = [Api(addr, api.who), Api(addr, api.who)]
    for rnd in range(6):
        p = create_pledge(api, NETHERLANDS, 1000).name
        ms = [create_match(api, n.name, NETHERLANDS, p, 600 + i * 50) for i in range(2)]
        barrier = threading.Barrier(2)
        results = [None, None]

        def approve(i):
            barrier.wait()
            try:
                apis[i].M.ApproveMatch(match_pb2.ApproveMatchRequest(name=ms[i].name))
                results[i] = Code.OK
            except grpc.RpcError as e:
                results[i] = e.code()

        ts = [threading.Thread(target=approve, args=(i,)) for i in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert sorted(results, key=str) == sorted([Code.OK, Code.FAILED_PRECONDITION], key=str), \
            "round %d: %s" % (rnd, results)
        won = results.index(Code.OK)
        alloc, avail = pledge_amounts(api, p)
        assert (alloc, avail) == (600 + won * 50, 400 - won * 50), (rnd, alloc, avail)
        states = [api.M.GetMatch(match_pb2.GetMatchRequest(name=m.name)).state for m in ms]
        assert states[won] == Match.STATE_APPROVED and states[1 - won] == Match.STATE_PROPOSED


def test_military_need(api):
    p = create_pledge(api, POLAND, 1000).name
    n = create_need(api, domain=Need.DOMAIN_MILITARY, title="Secure radios for a brigade")
    api.N.SubmitNeed(need_pb2.SubmitNeedRequest(name=n.name))
    err = expect(api.N.ValidateNeed, Code.FAILED_PRECONDITION,
                 need_pb2.ValidateNeedRequest(name=n.name))
    assert "RouteNeed" in err.details(), err.details()
    assert api.N.GetNeed(need_pb2.GetNeedRequest(name=n.name)).state == Need.STATE_SUBMITTED
    r = api.N.RouteNeed(need_pb2.RouteNeedRequest(name=n.name, reason="military domain"))
    assert r.state == Need.STATE_ROUTED_TO_IT_COALITION and r.state_reason == "military domain"
    expect(create_match, Code.FAILED_PRECONDITION, api, n.name, POLAND, p, 100)
    # An UNSPECIFIED domain must be set before validation.
    u = create_need(api, domain=Need.DOMAIN_UNSPECIFIED)
    api.N.SubmitNeed(need_pb2.SubmitNeedRequest(name=u.name))
    expect(api.N.ValidateNeed, Code.FAILED_PRECONDITION, need_pb2.ValidateNeedRequest(name=u.name))


def test_match_guards(api):
    pp = create_pledge(api, POLAND, 1000).name
    pn = create_pledge(api, NETHERLANDS, 1000).name
    draft = create_need(api)
    expect(create_match, Code.FAILED_PRECONDITION, api, draft.name, POLAND, pp, 100)
    n = open_need(api, estimated_cost=eur(5000))
    # An observer is never matched (it cannot have a pledge).
    err = expect(create_match, Code.FAILED_PRECONDITION, api, n.name, EU, EU + "/pledges/none", 100)
    assert EU in err.details(), err.details()
    # The pledge must belong to the donor: visible from the names alone, so a
    # field violation (the CreateMatch comment in match.proto says
    # FAILED_PRECONDITION; reported to the lead).
    err = expect(create_match, Code.INVALID_ARGUMENT, api, n.name, POLAND, pn, 100)
    assert "match.pledge" in status_details(err)[1]
    # A withdrawn pledge is not used.
    pw = create_pledge(api, POLAND, 1000)
    api.D.UpdatePledge(donor_pb2.UpdatePledgeRequest(
        pledge=Pledge(name=pw.name, state=Pledge.STATE_WITHDRAWN),
        update_mask=field_mask_pb2.FieldMask(paths=["state"])))
    expect(create_match, Code.FAILED_PRECONDITION, api, n.name, POLAND, pw.name, 100)
    # Money in the pledge's currency (EUR here), and above zero.
    err = expect(api.M.CreateMatch, Code.INVALID_ARGUMENT, match_pb2.CreateMatchRequest(
        match=Match(need=n.name, donor=POLAND, pledge=pp, amount=eur(100, cur="USD"),
                    description="x")))
    assert any(f.startswith("match.amount") for f in status_details(err)[1])
    err = expect(api.M.CreateMatch, Code.INVALID_ARGUMENT, match_pb2.CreateMatchRequest(
        match=Match(need=n.name, donor=POLAND, pledge=pp, amount=eur(0), description="x")))
    assert any(f.startswith("match.amount") for f in status_details(err)[1])
    # A need that does not exist.
    err = expect(create_match, Code.NOT_FOUND, api, "needs/no-such-need", POLAND, pp, 100)
    assert "needs/no-such-need" in err.details(), err.details()
    # An implementer must be a company or NGO of the donor.
    for impl in (CYBERCORP, NETHERLANDS):
        err = expect(api.M.CreateMatch, Code.INVALID_ARGUMENT, match_pb2.CreateMatchRequest(
            match=Match(need=n.name, donor=POLAND, pledge=pp, amount=eur(100), description="x",
                        implementer=impl)))
        assert "match.implementer" in status_details(err)[1]
    r = api.M.ListMatches(match_pb2.ListMatchesRequest(filter='need = "%s"' % n.name))
    assert len(r.matches) == 0


def test_pledge_source_lines(api):
    """donor.proto: a pledge's source may span lines; other controls are refused."""
    d = create_donor(api, uid("lines"), display_name="Multi-line Budget Office",
                     kind=Donor.KIND_STATE, country_code="LT",
                     membership=Donor.MEMBERSHIP_MEMBER)
    for m in (api.D.CreatePledge, ):
        p = m(donor_pb2.CreatePledgeRequest(parent=d.name, pledge=Pledge(
            amount=eur(1), fiscal_year=2024, source="line one\nline two")))
        assert p.source == "line one\nline two", p.source
    expect(api.D.CreatePledge, Code.INVALID_ARGUMENT, donor_pb2.CreatePledgeRequest(
        parent=d.name, pledge=Pledge(amount=eur(1), fiscal_year=2024, source="bell \a")))


def test_suggest_matches(api):
    n = open_need(api, estimated_cost=eur(50000), category=common_pb2.CATEGORY_TRAINING,
                  sector=common_pb2.SECTOR_EDUCATION)
    r = api.M.SuggestMatches(match_pb2.SuggestMatchesRequest(need=n.name))
    donors = {d.name: d for d in list_everything(api)[2]}
    assert r.suggestions, "no suggestions"
    assert len(r.suggestions) <= 10
    for s in r.suggestions:
        assert donors[s.donor].membership == Donor.MEMBERSHIP_MEMBER, s.donor
        assert s.donor_display_name == donors[s.donor].display_name
        assert 0 <= s.score <= 100 and s.reasons, s
        if s.pledge:
            assert s.pledge.startswith(s.donor + "/pledges/")
            assert nanos(s.available) == nanos(api.D.GetPledge(
                donor_pb2.GetPledgeRequest(name=s.pledge)).available)
    keys = [(-s.score, s.donor) for s in r.suggestions]
    assert keys == sorted(keys), keys
    # Estonia offers TRAINING: it ranks above a member without the capability
    # and with as much or less money.
    assert any("TRAINING" in x for s in r.suggestions if s.donor == ESTONIA for x in s.reasons), \
        [list(s.reasons) for s in r.suggestions if s.donor == ESTONIA]
    r1 = api.M.SuggestMatches(match_pb2.SuggestMatchesRequest(need=n.name, max_suggestions=1))
    assert len(r1.suggestions) == 1 and r1.suggestions[0] == r.suggestions[0]
    # match.proto: 0 means 10; larger than 100 means 100 (never refused).
    for big in (75, 100, 101, 2**31 - 1):
        rb = api.M.SuggestMatches(match_pb2.SuggestMatchesRequest(need=n.name, max_suggestions=big))
        assert list(rb.suggestions[:len(r.suggestions)]) == list(r.suggestions[:len(rb.suggestions)])
        assert len(r.suggestions) <= len(rb.suggestions) <= min(big, 100), (big, len(rb.suggestions))
    expect(api.M.SuggestMatches, Code.INVALID_ARGUMENT,
           match_pb2.SuggestMatchesRequest(need=n.name, max_suggestions=-1))
    expect(api.M.SuggestMatches, Code.FAILED_PRECONDITION,
           match_pb2.SuggestMatchesRequest(need=create_need(api).name))
    expect(api.M.SuggestMatches, Code.NOT_FOUND, match_pb2.SuggestMatchesRequest(need="needs/nope"))


PAGER = "Paging Test Org"
N_PAGE = 2500
SECTORS3 = [common_pb2.SECTOR_ENERGY, common_pb2.SECTOR_TELECOM, common_pb2.SECTOR_FINANCE]


def page_all(api, page_size, filt, order, check_sizes=True):
    out, token, pages = [], "", 0
    while True:
        r = api.N.ListNeeds(need_pb2.ListNeedsRequest(page_size=page_size, page_token=token,
                                                      filter=filt, order_by=order))
        pages += 1
        assert r.needs or not r.next_page_token, "an empty page with a next token"
        if check_sizes and r.next_page_token:
            assert len(r.needs) == page_size, "page %d has %d" % (pages, len(r.needs))
        out += list(r.needs)
        token = r.next_page_token
        if not token:
            return out, pages
        assert pages < 1000


def test_pagination(api):
    def make(i):
        d0 = 1 + (i * 7) % 28
        return api.N.CreateNeed(need_pb2.CreateNeedRequest(need=need_msg(
            title="pg-%04d" % i, beneficiary=PAGER, sector=SECTORS3[i % 3],
            priority=1 + (i * 13) % 4, estimated_cost=eur(1000 + (i * 37) % 5000, (i % 2) * 500000000),
            needed_by=common_pb2.Date(year=2025, month=1 + i % 6, day=d0))))

    t = time.monotonic()
    with ThreadPoolExecutor(16) as ex:
        created = list(ex.map(make, range(N_PAGE)))
    print("     created %d needs in %.1f s" % (N_PAGE, time.monotonic() - t))
    assert len({n.name for n in created}) == N_PAGE

    def ns(n):
        return n.create_time.seconds * NANO + n.create_time.nanos

    combos = [
        # (filter, order_by, page_size, predicate, sort key)
        ('beneficiary = "%s" AND sector = ENERGY AND estimated_cost > 1500' % PAGER,
         "estimated_cost desc, title", 100,
         lambda n: n.sector == common_pb2.SECTOR_ENERGY and nanos(n.estimated_cost) > 1500 * NANO,
         lambda n: (-nanos(n.estimated_cost), n.title)),
        ('beneficiary = "%s" AND (priority = CRITICAL OR priority = PRIORITY_HIGH)' % PAGER,
         "priority, create_time desc", 333,
         lambda n: n.priority in (Need.PRIORITY_CRITICAL, Need.PRIORITY_HIGH),
         # ties on create_time go by name, the way of the last key (desc)
         lambda n: (n.priority, -ns(n), tuple(-b for b in n.name.encode()))),
        ('beneficiary = "%s" AND needed_by < "2025-03-01" AND NOT sector = TELECOM' % PAGER,
         "needed_by desc, title", 150,
         lambda n: (n.needed_by.year, n.needed_by.month, n.needed_by.day) < (2025, 3, 1)
         and n.sector != common_pb2.SECTOR_TELECOM,
         lambda n: (-(n.needed_by.month * 100 + n.needed_by.day), n.title)),
        ('beneficiary = "%s" AND state = STATE_DRAFT AND estimated_cost <= 1200.5' % PAGER,
         "title desc", 17,
         lambda n: nanos(n.estimated_cost) <= 1200 * NANO + 500000000,
         lambda n: tuple(-ord(c) for c in n.title)),
    ]
    for filt, order, size, pred, key in combos:
        want = sorted((n for n in created if pred(n)), key=key)
        got, pages = page_all(api, size, filt, order)
        names = [n.name for n in got]
        assert len(set(names)) == len(names), "duplicates with %r" % filt
        assert names == [n.name for n in want], \
            "%r / %r: got %d rows, want %d; first difference at %s" % (
                filt, order, len(names), len(want),
                next((i for i, (a, b) in enumerate(zip(names, [w.name for w in want])) if a != b),
                     min(len(names), len(want))))
        assert len(want) > 2 * size, (filt, len(want))  # really several pages
        full = (len(want) + size - 1) // size
        assert pages in (full, full + 1), (pages, len(want), size)  # + an empty last page

    # Timestamps: everything created after the 1250th need (by create_time).
    by_time = sorted(created, key=ns)
    cut = by_time[1249].create_time.ToJsonString()
    got, _ = page_all(api, 1000, 'beneficiary = "%s" AND create_time > "%s"' % (PAGER, cut), "")
    want = {n.name for n in created if ns(n) > ns(by_time[1249])}
    assert {n.name for n in got} == want and len(got) == len(want), (len(got), len(want), cut)
    # Enum values with and without their prefix; string equality.
    a = page_all(api, 1000, 'beneficiary = "%s" AND sector = TELECOM' % PAGER, "")[0]
    b = page_all(api, 1000, 'beneficiary = "%s" AND sector = SECTOR_TELECOM' % PAGER, "")[0]
    assert [n.name for n in a] == [n.name for n in b] and len(a) == N_PAGE // 3
    a = page_all(api, 1000, 'title = "pg-0042"', "")[0]
    assert [n.name for n in a] == [created[42].name]

    base = 'beneficiary = "%s"' % PAGER
    # page_size: 0 means 50, above 1000 means 1000, negative is refused.
    r = api.N.ListNeeds(need_pb2.ListNeedsRequest(page_size=0, filter=base))
    assert len(r.needs) == 50 and r.next_page_token
    r = api.N.ListNeeds(need_pb2.ListNeedsRequest(page_size=5000, filter=base))
    assert len(r.needs) == 1000 and r.next_page_token
    err = expect(api.N.ListNeeds, Code.INVALID_ARGUMENT, need_pb2.ListNeedsRequest(page_size=-1))
    assert "page_size" in status_details(err)[1]
    # The default order pages the whole set once; page_size may change between pages.
    first = api.N.ListNeeds(need_pb2.ListNeedsRequest(page_size=700, filter=base))
    rest, _ = page_all_from(api, first.next_page_token, 900, base, "")
    names = [n.name for n in first.needs] + [n.name for n in rest]
    assert len(names) == N_PAGE and set(names) == {n.name for n in created}
    PAGED[:] = created
    # The token is bound to the filter and the order, and cannot be edited.
    tok = api.N.ListNeeds(need_pb2.ListNeedsRequest(page_size=10, filter=base,
                                                    order_by="title")).next_page_token
    assert tok
    for filt, order in ((base + " AND sector = ENERGY", "title"), (base, "title desc"),
                        ("", "title")):
        expect(api.N.ListNeeds, Code.INVALID_ARGUMENT, need_pb2.ListNeedsRequest(
            page_size=10, page_token=tok, filter=filt, order_by=order))
    k = len(tok) // 2
    for bad in (tok[:k] + ("A" if tok[k] != "A" else "B") + tok[k + 1:], tok[:-4], tok + "AAAA",
                "not a token", "x" * 2000):
        expect(api.N.ListNeeds, Code.INVALID_ARGUMENT, need_pb2.ListNeedsRequest(
            page_size=10, page_token=bad, filter=base, order_by="title"))
    # The genuine token still works after the failed attempts.
    r = api.N.ListNeeds(need_pb2.ListNeedsRequest(page_size=10, page_token=tok, filter=base,
                                                  order_by="title"))
    assert [n.title for n in r.needs] == ["pg-%04d" % i for i in range(10, 20)]
    # A bad filter says where.
    err = expect(api.N.ListNeeds, Code.INVALID_ARGUMENT,
                 need_pb2.ListNeedsRequest(filter="bogus = 1"))
    assert "column 1" in err.details() and "unknown field" in err.details(), err.details()
    err = expect(api.N.ListNeeds, Code.INVALID_ARGUMENT,
                 need_pb2.ListNeedsRequest(filter="state = OPEN AND sector = NUCLEAR"))
    assert "column" in err.details(), err.details()
    for bad in ("estimated_cost >", "(state = OPEN", "title = ", "priority = CRITICAL OR"):
        expect(api.N.ListNeeds, Code.INVALID_ARGUMENT, need_pb2.ListNeedsRequest(filter=bad))
    err = expect(api.N.ListNeeds, Code.INVALID_ARGUMENT,
                 need_pb2.ListNeedsRequest(order_by="colour desc"))
    assert "order_by" in err.details(), err.details()


PAGED = []  # the needs test_pagination created


def test_default_order(api):
    """Without order_by, needs come in creation order (server ids are random,
    so name order would differ)."""
    assert PAGED, "test_pagination did not run"
    got, _ = page_all(api, 1000, 'beneficiary = "%s"' % PAGER, "")
    names = [n.name for n in got]
    key = lambda n: (n.create_time.ToNanoseconds(), n.name)  # noqa: E731
    want = [n.name for n in sorted(PAGED, key=key)]
    assert names == want, "not creation order: first difference at %d" % next(
        i for i, (a, b) in enumerate(zip(names, want)) if a != b)


def page_all_from(api, token, page_size, filt, order):
    out = []
    while token:
        r = api.N.ListNeeds(need_pb2.ListNeedsRequest(page_size=page_size, page_token=token,
                                                      filter=filt, order_by=order))
        out += list(r.needs)
        token = r.next_page_token
    return out, None


def test_idempotent_retries(api):
    title = "Idempotent need " + uid("t")
    key = rid()
    req = need_pb2.CreateNeedRequest(need=need_msg(title=title), request_id=key)
    a = api.N.CreateNeed(req)
    b = api.N.CreateNeed(req)
    assert a == b, "a retry returned a different need"
    r = api.N.ListNeeds(need_pb2.ListNeedsRequest(filter='title = "%s"' % title))
    assert [n.name for n in r.needs] == [a.name], "a retry created a second need"
    # Same request_id, different body.
    req2 = need_pb2.CreateNeedRequest(need=need_msg(title=title + " (edited)"), request_id=key)
    err = expect(api.N.CreateNeed, Code.INVALID_ARGUMENT, req2)
    assert "request_id" in err.details() or "request_id" in status_details(err)[1]
    r = api.N.ListNeeds(need_pb2.ListNeedsRequest(filter='title = "%s (edited)"' % title))
    assert len(r.needs) == 0
    # Not a UUID.
    err = expect(api.N.CreateNeed, Code.INVALID_ARGUMENT, need_pb2.CreateNeedRequest(
        need=need_msg(), request_id="not-a-uuid"))
    assert "request_id" in status_details(err)[1]
    # A custom method replays its first result even after the need moved on.
    k2 = rid()
    s1 = api.N.SubmitNeed(need_pb2.SubmitNeedRequest(name=a.name, request_id=k2))
    s2 = api.N.SubmitNeed(need_pb2.SubmitNeedRequest(name=a.name, request_id=k2))
    assert s1 == s2 and s1.state == Need.STATE_SUBMITTED
    v = api.N.ValidateNeed(need_pb2.ValidateNeedRequest(name=a.name))
    s3 = api.N.SubmitNeed(need_pb2.SubmitNeedRequest(name=a.name, request_id=k2))
    assert s3 == s1, "the replay is not the first result"
    g = api.N.GetNeed(need_pb2.GetNeedRequest(name=a.name))
    assert g.state == Need.STATE_OPEN and g.etag == v.etag, "a replay changed the need"
    other = create_need(api)
    expect(api.N.SubmitNeed, Code.INVALID_ARGUMENT,
           need_pb2.SubmitNeedRequest(name=other.name, request_id=k2))
    assert api.N.GetNeed(need_pb2.GetNeedRequest(name=other.name)).state == Need.STATE_DRAFT
    # Donors, pledges and matches: one resource, allocated once.
    kd = rid()
    dreq = donor_pb2.CreateDonorRequest(donor=Donor(
        display_name="Denmark", kind=Donor.KIND_STATE, country_code="DK",
        membership=Donor.MEMBERSHIP_MEMBER), request_id=kd, donor_id="kingdom-of-denmark")
    d1, d2 = api.D.CreateDonor(dreq), api.D.CreateDonor(dreq)
    assert d1 == d2
    r = api.D.ListDonors(donor_pb2.ListDonorsRequest(filter='display_name = "Denmark"'))
    assert len(r.donors) == 1
    preq = donor_pb2.CreatePledgeRequest(parent=d1.name, request_id=rid(), pledge=Pledge(
        amount=eur(2000), fiscal_year=2025, state=Pledge.STATE_COMMITTED))
    p1, p2 = api.D.CreatePledge(preq), api.D.CreatePledge(preq)
    assert p1 == p2
    assert len(api.D.ListPledges(donor_pb2.ListPledgesRequest(parent=d1.name)).pledges) == 1
    mreq = match_pb2.CreateMatchRequest(request_id=rid(), match=Match(
        need=a.name, donor=d1.name, pledge=p1.name, amount=eur(1500), description="training"))
    m1, m2 = api.M.CreateMatch(mreq), api.M.CreateMatch(mreq)
    assert m1 == m2
    r = api.M.ListMatches(match_pb2.ListMatchesRequest(filter='need = "%s"' % a.name))
    assert [m.name for m in r.matches] == [m1.name]
    areq = match_pb2.ApproveMatchRequest(name=m1.name, request_id=rid())
    x1, x2 = api.M.ApproveMatch(areq), api.M.ApproveMatch(areq)
    assert x1 == x2 and x1.state == Match.STATE_APPROVED
    assert pledge_amounts(api, p1.name) == (1500, 500)
    assert_eur(api.N.GetNeed(need_pb2.GetNeedRequest(name=a.name)).committed_amount, 1500)


def test_etag_conflicts(api):
    n = create_need(api)
    mask = field_mask_pb2.FieldMask(paths=["title"])
    u = api.N.UpdateNeed(need_pb2.UpdateNeedRequest(
        need=Need(name=n.name, title="Renamed once", etag=n.etag), update_mask=mask))
    assert u.title == "Renamed once" and u.etag != n.etag
    assert u.description == n.description, "the mask was not respected"
    expect(api.N.UpdateNeed, Code.ABORTED, need_pb2.UpdateNeedRequest(
        need=Need(name=n.name, title="Stale write", etag=n.etag), update_mask=mask))
    assert api.N.GetNeed(need_pb2.GetNeedRequest(name=n.name)).title == "Renamed once"
    # Without an etag the last writer wins.
    u2 = api.N.UpdateNeed(need_pb2.UpdateNeedRequest(need=Need(name=n.name, title="Renamed twice"),
                                                     update_mask=mask))
    assert u2.title == "Renamed twice" and u2.etag != u.etag
    # Custom methods check the etag too.
    expect(api.N.SubmitNeed, Code.ABORTED, need_pb2.SubmitNeedRequest(name=n.name, etag=u.etag))
    assert api.N.GetNeed(need_pb2.GetNeedRequest(name=n.name)).state == Need.STATE_DRAFT
    # Output-only fields and empty masks are refused.
    for paths in (["state"], ["committed_amount"], [], ["title", "etag"], ["no_such_field"]):
        expect(api.N.UpdateNeed, Code.INVALID_ARGUMENT, need_pb2.UpdateNeedRequest(
            need=Need(name=n.name, title="x"), update_mask=field_mask_pb2.FieldMask(paths=paths)))
    # Donors and matches.
    d = api.D.GetDonor(donor_pb2.GetDonorRequest(name=POLAND))
    d2 = api.D.UpdateDonor(donor_pb2.UpdateDonorRequest(
        donor=Donor(name=POLAND, contact_email="cyber@msz.example", etag=d.etag),
        update_mask=field_mask_pb2.FieldMask(paths=["contact_email"])))
    assert d2.contact_email == "cyber@msz.example" and d2.etag != d.etag
    expect(api.D.UpdateDonor, Code.ABORTED, donor_pb2.UpdateDonorRequest(
        donor=Donor(name=POLAND, display_name="Polska", etag=d.etag),
        update_mask=field_mask_pb2.FieldMask(paths=["display_name"])))
    expect(api.D.UpdateDonor, Code.INVALID_ARGUMENT, donor_pb2.UpdateDonorRequest(
        donor=Donor(name=POLAND, kind=Donor.KIND_NGO),
        update_mask=field_mask_pb2.FieldMask(paths=["kind"])))
    p = create_pledge(api, POLAND, 1000).name
    o = open_need(api, estimated_cost=eur(1000))
    m = create_match(api, o.name, POLAND, p, 100)
    a = api.M.ApproveMatch(match_pb2.ApproveMatchRequest(name=m.name, etag=m.etag))
    assert a.etag != m.etag
    expect(api.M.StartDelivery, Code.ABORTED, match_pb2.StartDeliveryRequest(name=m.name, etag=m.etag))
    assert api.M.GetMatch(match_pb2.GetMatchRequest(name=m.name)).state == Match.STATE_APPROVED
    # Pledge etags change with allocations.
    pl = api.D.GetPledge(donor_pb2.GetPledgeRequest(name=p))
    m2 = create_match(api, o.name, POLAND, p, 100)
    api.M.ApproveMatch(match_pb2.ApproveMatchRequest(name=m2.name))
    expect(api.D.UpdatePledge, Code.ABORTED, donor_pb2.UpdatePledgeRequest(
        pledge=Pledge(name=p, source="changed", etag=pl.etag),
        update_mask=field_mask_pb2.FieldMask(paths=["source"])))


def raw_create_need(api, need, title_bytes):
    """CreateNeed with a title that is not valid UTF-8 (python protobuf will
    not build one): serialize with a placeholder and patch the bytes."""
    placeholder = "\u2603" * 4  # 12 bytes
    need.title = placeholder
    data = need_pb2.CreateNeedRequest(need=need).SerializeToString()
    enc = placeholder.encode()
    assert len(title_bytes) == len(enc)
    data = data.replace(enc, title_bytes)
    mc = api.ch.unary_unary("/tallinn.v1.NeedService/CreateNeed")
    return mc(data, timeout=30, metadata=api.auth("CreateNeed", None))


def test_validation_all_violations(api):
    bad = Need(title="", description="", beneficiary="", region="Kyiv\x07City",
               sector=common_pb2.SECTOR_UNSPECIFIED, category=99,
               priority=Need.PRIORITY_UNSPECIFIED, estimated_cost=eur(100, cur="USD"),
               needed_by=common_pb2.Date(year=2025, month=2, day=30))
    err = expect(api.N.CreateNeed, Code.INVALID_ARGUMENT, need_pb2.CreateNeedRequest(
        need=bad, need_id="Bad_Id", request_id="123"))
    st, fields = status_details(err)
    assert st.code == Code.INVALID_ARGUMENT.value[0] and st.message == err.details()
    want = ["need.title", "need.description", "need.beneficiary", "need.region", "need.sector",
            "need.category", "need.priority", "need.needed_by", "need_id", "request_id"]
    missing = [f for f in want if f not in fields]
    assert not missing, "missing violations %s; got %s" % (missing, fields)
    assert any(f.startswith("need.estimated_cost") for f in fields), fields
    # Too long, and invalid UTF-8.
    err = expect(api.N.CreateNeed, Code.INVALID_ARGUMENT, need_pb2.CreateNeedRequest(
        need=need_msg(title="x" * 201, region="r" * 101)))
    assert sorted(status_details(err)[1]) == ["need.region", "need.title"], status_details(err)[1]
    assert api.N.CreateNeed(need_pb2.CreateNeedRequest(need=need_msg(title="ж" * 200))).title == \
        "ж" * 200  # 200 characters, 400 bytes: fine
    err = expect(raw_create_need, Code.INVALID_ARGUMENT, api, need_msg(),
                 b"EDR \xff\xfe licen")
    assert "need.title" in status_details(err)[1]
    # A donor with everything wrong at once.
    err = expect(api.D.CreateDonor, Code.INVALID_ARGUMENT, donor_pb2.CreateDonorRequest(
        donor=Donor(display_name="", kind=Donor.KIND_UNSPECIFIED, country_code="XX",
                    membership=Donor.MEMBERSHIP_UNSPECIFIED, contact_email="not-an-address",
                    capabilities=[common_pb2.CATEGORY_TRAINING, 0])))
    fields = status_details(err)[1]
    for f in ("donor.display_name", "donor.kind", "donor.country_code", "donor.membership",
              "donor.contact_email"):
        assert f in fields, "missing %s in %s" % (f, fields)
    assert any(f.startswith("donor.capabilities") for f in fields), fields
    # Not found, and malformed names.
    for call, req in ((api.N.GetNeed, need_pb2.GetNeedRequest(name="needs/nope")),
                      (api.M.GetMatch, match_pb2.GetMatchRequest(name="matches/nope")),
                      (api.D.GetDonor, donor_pb2.GetDonorRequest(name="donors/nope")),
                      (api.D.GetPledge, donor_pb2.GetPledgeRequest(name=ESTONIA + "/pledges/nope")),
                      (api.N.SubmitNeed, need_pb2.SubmitNeedRequest(name="needs/nope"))):
        expect(call, Code.NOT_FOUND, req)
    for call, req in ((api.N.GetNeed, need_pb2.GetNeedRequest(name="donors/estonia")),
                      (api.M.GetMatch, match_pb2.GetMatchRequest(name="")),
                      (api.D.GetPledge, donor_pb2.GetPledgeRequest(name=ESTONIA))):
        expect(call, Code.INVALID_ARGUMENT, req)
    # Capabilities: no duplicates (donor.proto).
    err = expect(api.D.CreateDonor, Code.INVALID_ARGUMENT, donor_pb2.CreateDonorRequest(
        donor=Donor(display_name="Sweden", kind=Donor.KIND_STATE, country_code="SE",
                    membership=Donor.MEMBERSHIP_MEMBER,
                    capabilities=[common_pb2.CATEGORY_TRAINING, common_pb2.CATEGORY_TRAINING])))
    assert any(f.startswith("donor.capabilities") for f in status_details(err)[1])


COUNTED = {Need.STATE_OPEN, Need.STATE_ON_HOLD, Need.STATE_FULFILLED, Need.STATE_CLOSED}
COMMITTED = {Match.STATE_APPROVED, Match.STATE_IN_DELIVERY, Match.STATE_DELIVERED,
             Match.STATE_ACCEPTED}


def list_everything(api):
    def pages(call, req_cls, field, **kw):
        out, tok = [], ""
        while True:
            r = call(req_cls(page_size=1000, page_token=tok, **kw))
            out += list(getattr(r, field))
            tok = r.next_page_token
            if not tok:
                return out
    return (pages(api.N.ListNeeds, need_pb2.ListNeedsRequest, "needs"),
            pages(api.M.ListMatches, match_pb2.ListMatchesRequest, "matches"),
            pages(api.D.ListDonors, donor_pb2.ListDonorsRequest, "donors"),
            pages(api.D.ListPledges, donor_pb2.ListPledgesRequest, "pledges", parent="donors/-"))


def test_coverage_report(api):
    # A need cancelled after a member's match on it was approved is not
    # counted, in the donor's line either (report.proto: counted needs only).
    p = create_pledge(api, POLAND, 700).name
    gone = open_need(api, estimated_cost=eur(900), sector=common_pb2.SECTOR_TRANSPORT)
    m = create_match(api, gone.name, POLAND, p, 600)
    api.M.ApproveMatch(match_pb2.ApproveMatchRequest(name=m.name))
    c = api.N.CancelNeed(need_pb2.CancelNeedRequest(name=gone.name, reason="no longer needed"))
    assert c.state == Need.STATE_CANCELLED
    rep = api.R.GetCoverageReport(report_pb2.GetCoverageReportRequest())
    needs, matches, donors, pledges = list_everything(api)
    assert rep.currency_code == "EUR" and rep.report_time.seconds > 0
    by_need = {n.name: n for n in needs}
    # Every need's own totals agree with its matches.
    for n in needs:
        ms = [m for m in matches if m.need == n.name]
        assert nanos(n.committed_amount) == sum(nanos(m.amount) for m in ms if m.state in COMMITTED), n.name
        assert nanos(n.delivered_amount) == sum(nanos(m.amount) for m in ms
                                                if m.state == Match.STATE_ACCEPTED), n.name
    for p in pledges:
        al = sum(nanos(m.amount) for m in matches if m.pledge == p.name and m.state in COMMITTED)
        assert nanos(p.allocated) == al and nanos(p.available) == nanos(p.amount) - al, p.name

    def totals(ns, ms):
        return (len(ns), sum(nanos(n.estimated_cost) for n in ns),
                sum(nanos(m.amount) for m in ms if m.state in COMMITTED),
                sum(nanos(m.amount) for m in ms if m.state == Match.STATE_ACCEPTED))

    def got(t):
        for m in (t.estimated, t.committed, t.delivered):
            assert m.currency_code == "EUR", m
        return (t.needs_count, nanos(t.estimated), nanos(t.committed), nanos(t.delivered))

    counted = [n for n in needs if n.state in COUNTED]
    cm = [m for m in matches if m.need in by_need and by_need[m.need].state in COUNTED]
    assert got(rep.total) == totals(counted, cm), (got(rep.total), totals(counted, cm))
    want = []
    for s in sorted({n.sector for n in counted}):
        ns = [n for n in counted if n.sector == s]
        want.append((s, totals(ns, [m for m in cm if by_need[m.need].sector == s])))
    assert [(e.sector, got(e.totals)) for e in rep.by_sector] == want, rep.by_sector
    want = []
    for c in sorted({n.category for n in counted}):
        ns = [n for n in counted if n.category == c]
        want.append((c, totals(ns, [m for m in cm if by_need[m.need].category == c])))
    assert [(e.category, got(e.totals)) for e in rep.by_category] == want, rep.by_category
    want = []
    for d in sorted((d for d in donors if d.membership == Donor.MEMBERSHIP_MEMBER),
                    key=lambda d: d.display_name):
        dm = [m for m in cm if m.donor == d.name]
        dn = [by_need[x] for x in sorted({m.need for m in dm if m.state in COMMITTED})]
        pl = sum(nanos(p.amount) for p in pledges if p.name.startswith(d.name + "/")
                 and p.state in (Pledge.STATE_ANNOUNCED, Pledge.STATE_COMMITTED))
        t = totals(dn, dm)
        want.append((d.name, d.display_name, t, pl))
    have = [(e.donor, e.donor_display_name, got(e.totals), nanos(e.pledged)) for e in rep.by_donor]
    assert have == want, "\n%s\n%s" % (have, want)
    # And the one WATER need is the one fulfilled by two matches.
    water = [e for e in rep.by_sector if e.sector == common_pb2.SECTOR_WATER]
    assert len(water) == 1 and got(water[0].totals) == (1, 10000 * NANO, 10000 * NANO, 10000 * NANO)
    assert rep.total.needs_count > 10


def main():
    t0 = time.monotonic()
    cases = harness.Cases()
    srv = harness.Tallinnd(BIN)
    try:
        api = Api(srv.addr, Principals(srv))
        cases.run("donors_and_pledges", test_donors_and_pledges, api)
        cases.run("need_draft_to_fulfilled", test_need_to_fulfilled, api)
        cases.run("rejected_transitions", test_rejected_transitions, api)
        cases.run("hold_resume_withdraw_cancel", test_hold_resume_cancel, api)
        cases.run("overfunding", test_overfunding, api)
        cases.run("overspending", test_overspending, api)
        cases.run("concurrent_approvals", test_concurrent_approvals, api, srv.addr)
        cases.run("military_need", test_military_need, api)
        cases.run("match_guards", test_match_guards, api)
        cases.run("suggest_matches", test_suggest_matches, api)
        cases.run("pledge_source_lines", test_pledge_source_lines, api)
        cases.run("idempotent_retries", test_idempotent_retries, api)
        cases.run("etag_conflicts", test_etag_conflicts, api)
        cases.run("validation_all_violations", test_validation_all_violations, api)
        cases.run("pagination_2500", test_pagination, api)
        cases.run("default_order_is_creation_order", test_default_order, api)
        cases.run("coverage_report", test_coverage_report, api)
    finally:
        rc = srv.stop()
    if rc != 0:
        print(srv.text()[-4000:])
    cases.run("clean_exit", lambda: None if rc == 0 else (_ for _ in ()).throw(
        AssertionError("tallinnd exited %d" % rc)))
    print("     total %.1f s" % (time.monotonic() - t0))
    cases.finish()


main()
