"""Money sums and report need-to-know against a real tallinnd (issue 10, items
3 and 4): sums of amounts at the EUR 10^9 limit are exact past the int64
nanos range (pledges of one donor, needs across sectors, overfunded
approvals and accepted deliveries on one need), and every role's coverage
report counts exactly the needs that role may see.
Run: /usr/bin/python3 money_test.py path/to/tallinnd [case ...]"""
import os
import sys

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BIN = sys.argv[1]
common_pb2, donor_pb2, need_pb2, match_pb2, report_pb2 = harness.protos(
    "tallinn/v1/common.proto", "tallinn/v1/donor.proto", "tallinn/v1/need.proto",
    "tallinn/v1/match.proto", "tallinn/v1/report.proto")
Code = grpc.StatusCode
Need, Match, Donor, Pledge = need_pb2.Need, match_pb2.Match, donor_pb2.Donor, donor_pb2.Pledge
NANO = 10 ** 9
LIMIT = 10 ** 9  # VALIDATE_MONEY_MAX_UNITS: the largest single amount
INT64_MAX = 2 ** 63 - 1
COUNTED = (Need.STATE_OPEN, Need.STATE_ON_HOLD, Need.STATE_FULFILLED, Need.STATE_CLOSED)
COMMITTED = (Match.STATE_APPROVED, Match.STATE_IN_DELIVERY, Match.STATE_DELIVERED,
             Match.STATE_ACCEPTED)
STAFF = ("FRONT_OFFICE", "BACK_OFFICE", "COORDINATOR", "AUDITOR")


def eur(units, nanos=0):
    return common_pb2.Money(currency_code="EUR", units=units, nanos=nanos)


def nanos(m):
    assert m.currency_code == "EUR", m
    assert (m.units >= 0 and m.nanos >= 0) or (m.units <= 0 and m.nanos <= 0), m
    return m.units * NANO + m.nanos


class Api:
    """Calls by method name as a given token: api.call(token, "NeedService",
    "GetNeed", request)."""


    def __init__(self, srv):
        self.srv = srv
        self.ch = grpc.insecure_channel(srv.addr)
        self.stubs = {}
        self.tok = {r: srv.create_principal("m-" + r.lower().replace("_", "-"), r)
                    for r in STAFF + ("OBSERVER",)}
        self.seq = 0

    def call(self, who, service, method, req):
        key = (service, method)
        if key not in self.stubs:
            self.stubs[key] = harness.unary_by_name(self.ch, service, method)
        token = self.tok.get(who, who)
        return self.stubs[key](req, metadata=harness.bearer(token), timeout=30)

    def uid(self, prefix):
        self.seq += 1
        return "%s-%d" % (prefix, self.seq)

    # ---- the workflow, each step as the role that makes it ----
    def donor(self, donor_id, display):
        d = self.call("BACK_OFFICE", "DonorService", "CreateDonor", donor_pb2.CreateDonorRequest(
            donor_id=donor_id, donor=Donor(display_name=display, kind=Donor.KIND_STATE,
                                           country_code="EE", membership=Donor.MEMBERSHIP_MEMBER)))
        self.tok[d.name] = self.srv.create_principal("m-" + donor_id, "DONOR", donor=d.name)
        return d.name

    def pledge(self, donor, units):
        return self.call("BACK_OFFICE", "DonorService", "CreatePledge", donor_pb2.CreatePledgeRequest(
            parent=donor, pledge_id=self.uid("p"),
            pledge=Pledge(amount=eur(units), fiscal_year=2025, source="budget",
                          state=Pledge.STATE_COMMITTED))).name

    def need(self, units, sector=common_pb2.SECTOR_ENERGY, restricted=False, state="OPEN"):
        n = Need(title="need " + self.uid("t"), description="d", beneficiary="b", region="r",
                 sector=sector, category=common_pb2.CATEGORY_HARDWARE,
                 domain=Need.DOMAIN_CIVILIAN, priority=Need.PRIORITY_HIGH,
                 estimated_cost=eur(units),
                 sensitivity=Need.SENSITIVITY_RESTRICTED if restricted else Need.SENSITIVITY_STANDARD)
        name = self.call("FRONT_OFFICE", "NeedService", "CreateNeed",
                         need_pb2.CreateNeedRequest(need=n, need_id=self.uid("n"))).name
        self.call("FRONT_OFFICE", "NeedService", "SubmitNeed", need_pb2.SubmitNeedRequest(name=name))
        self.call("BACK_OFFICE", "NeedService", "ValidateNeed",
                  need_pb2.ValidateNeedRequest(name=name))
        if state == "ON_HOLD":
            self.call("BACK_OFFICE", "NeedService", "HoldNeed", need_pb2.HoldNeedRequest(name=name))
        elif state == "CLOSED":
            self.call("BACK_OFFICE", "NeedService", "CloseNeed",
                      need_pb2.CloseNeedRequest(name=name, reason="covered elsewhere"))
        return name

    def match(self, need, donor, pledge, units, overfund=False):
        """Proposed by the back office, approved by a coordinator."""
        m = self.call("BACK_OFFICE", "MatchService", "CreateMatch", match_pb2.CreateMatchRequest(
            match_id=self.uid("m"), match=Match(need=need, donor=donor, pledge=pledge,
                                                amount=eur(units), description="d")))
        req = match_pb2.ApproveMatchRequest(name=m.name)
        if overfund:
            req.allow_overfunding = True
            req.reason = "bought in bulk"
        return self.call("COORDINATOR", "MatchService", "ApproveMatch", req)

    def deliver(self, match, donor):
        self.call(donor, "MatchService", "StartDelivery", match_pb2.StartDeliveryRequest(name=match))
        self.call(donor, "MatchService", "MarkDelivered", match_pb2.MarkDeliveredRequest(name=match))
        return self.call("FRONT_OFFICE", "MatchService", "AcceptDelivery",
                         match_pb2.AcceptDeliveryRequest(name=match))

    def report(self, who):
        return self.call(who, "ReportService", "GetCoverageReport",
                         report_pb2.GetCoverageReportRequest())

    def pages(self, who, service, method, req_cls, field, **kw):
        out, tok = [], ""
        while True:
            r = self.call(who, service, method, req_cls(page_size=1000, page_token=tok, **kw))
            out += list(getattr(r, field))
            tok = r.next_page_token
            if not tok:
                return out

    def needs(self, who, **kw):
        return self.pages(who, "NeedService", "ListNeeds", need_pb2.ListNeedsRequest, "needs", **kw)


def got(t):
    return (t.needs_count, nanos(t.estimated), nanos(t.committed), nanos(t.delivered))


def expected_totals(needs):
    """Totals the report must give over these needs (the caller's own view)."""
    ns = [n for n in needs if n.state in COUNTED]

    def tot(group):
        return (len(group), sum(nanos(n.estimated_cost) for n in group),
                sum(nanos(n.committed_amount) for n in group),
                sum(nanos(n.delivered_amount) for n in group))
    by_sector = [(s, tot([n for n in ns if n.sector == s])) for s in sorted({n.sector for n in ns})]
    by_cat = [(c, tot([n for n in ns if n.category == c]))
              for c in sorted({n.category for n in ns})]
    return tot(ns), by_sector, by_cat


def check_report_is_view(api, who, rep):
    """The report's need totals are exactly the sums over the needs `who` can
    list itself, and they agree with each other."""
    total, by_sector, by_cat = expected_totals(api.needs(who))
    assert got(rep.total) == total, (who, got(rep.total), total)
    assert [(e.sector, got(e.totals)) for e in rep.by_sector] == by_sector, who
    assert [(e.category, got(e.totals)) for e in rep.by_category] == by_cat, who


# ---- Item 3: sums past the int64 nanos range ----

def test_pledges_of_one_donor(api):
    """Ten EUR 10^9 pledges of one donor: 10^19 nanos, beyond int64."""
    d = api.donor("big-pledger", "Big pledger")
    api.BIG = d
    api.BIG_PLEDGES = [api.pledge(d, LIMIT) for _ in range(10)]
    for who in STAFF + ("OBSERVER", d):
        rep = api.report(who)
        line = [e for e in rep.by_donor if e.donor == d]
        assert len(line) == 1, (who, [e.donor for e in rep.by_donor])
        assert nanos(line[0].pledged) == 10 * LIMIT * NANO, (who, line[0].pledged)
        assert line[0].pledged.units == 10 * LIMIT and line[0].pledged.nanos == 0


def test_needs_across_sectors(api):
    """Ten EUR 10^9 needs across sectors: the total estimated cost is
    EUR 10^10, not a wrapped negative number."""
    sectors = [common_pb2.SECTOR_ENERGY, common_pb2.SECTOR_TELECOM, common_pb2.SECTOR_FINANCE,
               common_pb2.SECTOR_HEALTH, common_pb2.SECTOR_GOVERNMENT]
    for i in range(10):
        api.need(LIMIT, sector=sectors[i % len(sectors)])
    for who in STAFF + ("OBSERVER",):
        rep = api.report(who)
        assert rep.total.estimated.units >= 10 * LIMIT, (who, rep.total.estimated)
        check_report_is_view(api, who, rep)


def test_overfunded_need(api):
    """Ten overfunded EUR 10^9 approvals on one need, then ten accepted
    deliveries: committed and delivered EUR 10^10 each, exact."""
    d, pledges = api.BIG, api.BIG_PLEDGES
    n = api.need(LIMIT, sector=common_pb2.SECTOR_WATER)
    ms = [api.match(n, d, pledges[i], LIMIT, overfund=i > 0).name for i in range(10)]
    g = api.call("BACK_OFFICE", "NeedService", "GetNeed", need_pb2.GetNeedRequest(name=n))
    assert g.committed_amount.units == 10 * LIMIT and g.committed_amount.nanos == 0, g
    assert g.coverage == Need.COVERAGE_FULL
    for p in pledges:
        p = api.call("BACK_OFFICE", "DonorService", "GetPledge", donor_pb2.GetPledgeRequest(name=p))
        assert nanos(p.allocated) == LIMIT * NANO and nanos(p.available) == 0, p
    # An eleventh approval on an exhausted pledge is refused exactly, not wrapped.
    extra = api.pledge(d, 1)
    m = api.call("BACK_OFFICE", "MatchService", "CreateMatch", match_pb2.CreateMatchRequest(
        match_id=api.uid("m"), match=Match(need=n, donor=d, pledge=pledges[0],
                                           amount=eur(0, 10 ** 7), description="d")))
    e = harness.expect_code(lambda: api.call("COORDINATOR", "MatchService", "ApproveMatch",
                                             match_pb2.ApproveMatchRequest(
                                                 name=m.name, allow_overfunding=True,
                                                 reason="r")), Code.FAILED_PRECONDITION)
    assert "overspend" in e.details() and "EUR 0.00 available" in e.details(), e.details()
    a = api.match(n, d, extra, 1, overfund=True)
    assert a.state == Match.STATE_APPROVED
    for x in ms:
        api.deliver(x, d)
    g = api.call("BACK_OFFICE", "NeedService", "GetNeed", need_pb2.GetNeedRequest(name=n))
    assert (g.committed_amount.units, g.committed_amount.nanos) == (10 * LIMIT + 1, 0), g
    assert (g.delivered_amount.units, g.delivered_amount.nanos) == (10 * LIMIT, 0), g
    assert g.state == Need.STATE_FULFILLED, Need.State.Name(g.state)
    for who in STAFF + ("OBSERVER",):
        rep = api.report(who)
        check_report_is_view(api, who, rep)
        water = [e for e in rep.by_sector if e.sector == common_pb2.SECTOR_WATER]
        assert got(water[0].totals) == (1, LIMIT * NANO, (10 * LIMIT + 1) * NANO,
                                        10 * LIMIT * NANO), (who, water)
        line = [e for e in rep.by_donor if e.donor == d][0]
        assert got(line.totals) == (1, LIMIT * NANO, (10 * LIMIT + 1) * NANO,
                                    10 * LIMIT * NANO), (who, line)
    # Filters and order_by on the amount still work: past the int64 nanos
    # range it compares as the largest amount a filter can name.
    for f in ("committed_amount > 9000000000", "committed_amount >= 9223372036.854775807"):
        got_n = api.needs("BACK_OFFICE", filter=f)
        assert [x.name for x in got_n] == [n], (f, [x.name for x in got_n])
    top = api.call("BACK_OFFICE", "NeedService", "ListNeeds", need_pb2.ListNeedsRequest(
        page_size=1, order_by="committed_amount desc"))
    assert [x.name for x in top.needs] == [n]
    rest = api.call("BACK_OFFICE", "NeedService", "ListNeeds", need_pb2.ListNeedsRequest(
        page_size=1000, page_token=top.next_page_token, order_by="committed_amount desc"))
    assert n not in [x.name for x in rest.needs]
    assert len(rest.needs) == len(api.needs("BACK_OFFICE")) - 1


# ---- Item 4: each role's report counts what that role may see ----

def test_report_per_role(api):
    a = api.donor("alpha", "Alpha")
    b = api.donor("beta", "Beta")
    pa, pb = api.pledge(a, 100000), api.pledge(b, 100000)
    energy, health = common_pb2.SECTOR_ENERGY, common_pb2.SECTOR_HEALTH
    n1 = api.need(1000, sector=energy)                       # STANDARD, OPEN
    n2 = api.need(5000, sector=energy, restricted=True)      # RESTRICTED, beta's match
    n3 = api.need(7000, sector=health, restricted=True)      # RESTRICTED, alpha's match
    api.need(900, sector=health, state="CLOSED")             # STANDARD, CLOSED
    api.need(800, sector=energy, state="ON_HOLD")            # STANDARD, ON_HOLD
    api.need(300, sector=health, restricted=True)            # RESTRICTED, no match
    api.match(n1, a, pa, 400)
    api.match(n2, b, pb, 2000)
    m3 = api.match(n3, a, pa, 3000).name
    api.deliver(m3, a)

    staff = api.report("BACK_OFFICE")
    obs = api.report("OBSERVER")
    # The restricted needs are in the staff totals and not in the observer's.
    assert got(staff.total) != got(obs.total)
    for who in STAFF:
        rep = api.report(who)
        check_report_is_view(api, who, rep)
        assert got(rep.total) == got(staff.total)
        assert {e.donor for e in rep.by_donor} >= {a, b}
    check_report_is_view(api, "OBSERVER", obs)
    assert not any(n.sensitivity == Need.SENSITIVITY_RESTRICTED for n in api.needs("OBSERVER"))

    def line(rep, d):
        return [got(e.totals) + (nanos(e.pledged),) for e in rep.by_donor if e.donor == d]
    # Staff: alpha has n1 and n3, beta n2.
    assert line(staff, a) == [(2, 8000 * NANO, 3400 * NANO, 3000 * NANO, 100000 * NANO)]
    assert line(staff, b) == [(1, 5000 * NANO, 2000 * NANO, 0, 100000 * NANO)]
    # Observer: every member's line, but nothing of the RESTRICTED needs.
    assert line(obs, a) == [(1, 1000 * NANO, 400 * NANO, 0, 100000 * NANO)], line(obs, a)
    assert line(obs, b) == [(0, 0, 0, 0, 100000 * NANO)], line(obs, b)
    assert [e.donor for e in obs.by_donor] == [e.donor for e in staff.by_donor]
    # A donor: its own line only, and totals over the needs it may see (OPEN
    # STANDARD needs and those it has a live match on).
    for d, other, want in ((a, b, line(staff, a)), (b, a, line(staff, b))):
        rep = api.report(d)
        assert [e.donor for e in rep.by_donor] == [d], (d, [e.donor for e in rep.by_donor])
        assert line(rep, d) == want and line(rep, other) == []
        check_report_is_view(api, d, rep)
    seen_a = {n.name for n in api.needs(a)}
    assert n3 in seen_a and n2 not in seen_a
    assert got(api.report(a).total) != got(api.report(b).total)


def main():
    only = set(sys.argv[2:])  # case names to run (default: all)
    cases = harness.Cases()
    srv = harness.Tallinnd(BIN, "--quiet")
    try:
        api = Api(srv)
        for name, fn in (("pledges_of_one_donor_past_int64", test_pledges_of_one_donor),
                         ("needs_across_sectors_past_int64", test_needs_across_sectors),
                         ("overfunded_need_past_int64", test_overfunded_need),
                         ("report_per_role", test_report_per_role)):
            if not only or name in only:
                cases.run(name, fn, api)
    finally:
        rc = srv.stop()
    if rc != 0:
        print(srv.text()[-4000:])
    cases.run("clean_exit", lambda: None if rc == 0 else (_ for _ in ()).throw(
        AssertionError("tallinnd exited %d" % rc)))
    cases.finish()


main()
