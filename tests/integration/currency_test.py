"""Money in the donors' currencies and the reports people use (issue 14)
against a real tallinnd: exchange rates as a resource, pledges and matches
in USD, GBP, JPY and KWD valued in EUR (exact, half to even), the worked
example of a USD and a GBP pledge matched to one EUR need with its
arithmetic written out, bad input (unknown currency, missing rate, a rate of
zero or below, amounts at the limits, decimals a currency does not have),
and every role's coverage report checked against sums computed here, in
Python's decimal arithmetic, from what that role may list.
Run: /usr/bin/python3 currency_test.py path/to/tallinnd [case ...]"""
import datetime
import os
import sys
from decimal import ROUND_HALF_EVEN, Decimal

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BIN = sys.argv[1]
# google.rpc first: a namespace package is not searched again once imported.
status_pb2, errdet_pb2 = harness.protos("google/rpc/status.proto",
                                        "google/rpc/error_details.proto")
common_pb2, donor_pb2, need_pb2, match_pb2, report_pb2, rate_pb2 = harness.protos(
    "tallinn/v1/common.proto", "tallinn/v1/donor.proto", "tallinn/v1/need.proto",
    "tallinn/v1/match.proto", "tallinn/v1/report.proto", "tallinn/v1/rate.proto")
from google.protobuf import field_mask_pb2  # noqa: E402

Code = grpc.StatusCode
Need, Match, Donor, Pledge = need_pb2.Need, match_pb2.Match, donor_pb2.Donor, donor_pb2.Pledge
Rate = rate_pb2.ExchangeRate
NANO = 10 ** 9
COUNTED = (Need.STATE_OPEN, Need.STATE_ON_HOLD, Need.STATE_FULFILLED, Need.STATE_CLOSED)
COMMITTED = (Match.STATE_APPROVED, Match.STATE_IN_DELIVERY, Match.STATE_DELIVERED,
             Match.STATE_ACCEPTED)
STAFF = ("FRONT_OFFICE", "BACK_OFFICE", "COORDINATOR", "AUDITOR")
TODAY = datetime.datetime.now(datetime.timezone.utc).date()


def day(d):
    return common_pb2.Date(year=d.year, month=d.month, day=d.day)


def money(cur, amount):
    """Money from a decimal string: money("USD", "1000.50")."""
    n = int(Decimal(amount) * NANO)
    units = abs(n) // NANO * (1 if n >= 0 else -1)
    return common_pb2.Money(currency_code=cur, units=units, nanos=n - units * NANO)


def dec(m):
    """A Money as an exact Decimal."""
    return Decimal(m.units) + Decimal(m.nanos) / NANO


def eur_value(amount, rate):
    """What the server must compute: amount / rate, half to even to cents."""
    return (Decimal(amount) / Decimal(rate)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def pct(num, den):
    if den == 0:
        return ""
    return str((Decimal(num) * 100 / Decimal(den)).quantize(Decimal("0.01"),
                                                             rounding=ROUND_HALF_EVEN))


class Api:

    def __init__(self, srv):
        self.srv = srv
        self.ch = grpc.insecure_channel(srv.addr)
        self.stubs = {}
        self.tok = {r: srv.create_principal("c-" + r.lower().replace("_", "-"), r)
                    for r in STAFF + ("OBSERVER",)}
        self.seq = 0

    def call(self, who, service, method, req):
        key = (service, method)
        if key not in self.stubs:
            self.stubs[key] = harness.unary_by_name(self.ch, service, method)
        return self.stubs[key](req, metadata=harness.bearer(self.tok.get(who, who)), timeout=30)

    def uid(self, prefix):
        self.seq += 1
        return "%s-%d" % (prefix, self.seq)

    def rate(self, cur, rate, when=TODAY, source="ECB euro reference rate"):
        return self.call("BACK_OFFICE", "ExchangeRateService", "CreateExchangeRate",
                         rate_pb2.CreateExchangeRateRequest(exchange_rate=Rate(
                             currency_code=cur, rate=rate, rate_date=day(when), source=source)))

    def donor(self, donor_id, display, country):
        d = self.call("BACK_OFFICE", "DonorService", "CreateDonor", donor_pb2.CreateDonorRequest(
            donor_id=donor_id, donor=Donor(display_name=display, kind=Donor.KIND_STATE,
                                           country_code=country,
                                           membership=Donor.MEMBERSHIP_MEMBER)))
        self.tok[d.name] = self.srv.create_principal("c-" + donor_id, "DONOR", donor=d.name)
        return d.name

    def pledge(self, donor, amount, year=2025, state=Pledge.STATE_COMMITTED, rate=None):
        p = Pledge(amount=amount, fiscal_year=year, source="budget", state=state)
        if rate is not None:
            p.exchange_rate.CopyFrom(rate)
        return self.call("BACK_OFFICE", "DonorService", "CreatePledge", donor_pb2.CreatePledgeRequest(
            parent=donor, pledge_id=self.uid("p"), pledge=p))

    def need(self, amount, region="Kharkiv Oblast", sector=common_pb2.SECTOR_ENERGY,
             restricted=False):
        n = Need(title="need " + self.uid("t"), description="d", beneficiary="b", region=region,
                 sector=sector, category=common_pb2.CATEGORY_HARDWARE,
                 domain=Need.DOMAIN_CIVILIAN, priority=Need.PRIORITY_HIGH,
                 estimated_cost=money("EUR", amount),
                 sensitivity=Need.SENSITIVITY_RESTRICTED if restricted else Need.SENSITIVITY_STANDARD)
        name = self.call("FRONT_OFFICE", "NeedService", "CreateNeed",
                         need_pb2.CreateNeedRequest(need=n, need_id=self.uid("n"))).name
        self.call("FRONT_OFFICE", "NeedService", "SubmitNeed", need_pb2.SubmitNeedRequest(name=name))
        self.call("BACK_OFFICE", "NeedService", "ValidateNeed",
                  need_pb2.ValidateNeedRequest(name=name))
        return name

    def propose(self, need, donor, pledge, amount, rate=None):
        m = Match(need=need, donor=donor, pledge=pledge, amount=amount, description="d")
        if rate is not None:
            m.exchange_rate.CopyFrom(rate)
        return self.call("BACK_OFFICE", "MatchService", "CreateMatch", match_pb2.CreateMatchRequest(
            match_id=self.uid("m"), match=m))

    def approve(self, match, rate=None, overfund=False):
        req = match_pb2.ApproveMatchRequest(name=match)
        if rate is not None:
            req.exchange_rate.CopyFrom(rate)
        if overfund:
            req.allow_overfunding, req.reason = True, "on purpose"
        return self.call("COORDINATOR", "MatchService", "ApproveMatch", req)

    def deliver(self, match, donor):
        self.call(donor, "MatchService", "StartDelivery", match_pb2.StartDeliveryRequest(name=match))
        self.call(donor, "MatchService", "MarkDelivered", match_pb2.MarkDeliveredRequest(name=match))
        return self.call("FRONT_OFFICE", "MatchService", "AcceptDelivery",
                         match_pb2.AcceptDeliveryRequest(name=match))

    def report(self, who, **kw):
        return self.call(who, "ReportService", "GetCoverageReport",
                         report_pb2.GetCoverageReportRequest(**kw))

    def pages(self, who, service, method, req_cls, field, **kw):
        out, tok = [], ""
        while True:
            r = self.call(who, service, method, req_cls(page_size=1000, page_token=tok, **kw))
            out += list(getattr(r, field))
            tok = r.next_page_token
            if not tok:
                return out

    def get(self, service, method, req_cls, name, who="BACK_OFFICE"):
        return self.call(who, service, method, req_cls(name=name))


def violations(err):
    for k, v in err.trailing_metadata() or ():
        if k == "grpc-status-details-bin":
            st = status_pb2.Status.FromString(v)
            out = []
            for a in st.details:
                if a.type_url.endswith("BadRequest"):
                    out += [f.field for f in
                            errdet_pb2.BadRequest.FromString(a.value).field_violations]
            return out
    return []


def refused(code, fn, field=None, text=None):
    e = harness.expect_code(fn, code)
    if field is not None:
        assert any(f.startswith(field) for f in violations(e)), (field, violations(e), e.details())
    if text is not None:
        assert text in e.details(), (text, e.details())
    return e


# ---- Rates ----

def test_rates(api):
    r = api.rate("USD", "1.0850")
    assert r.name == "exchangeRates/usd-%s" % TODAY.isoformat(), r.name
    assert (r.base_currency_code, r.rate, r.used) == ("EUR", "1.0850", False), r
    api.rate("GBP", "0.8450")
    api.rate("JPY", "161.53")
    api.rate("KWD", "0.3312")
    refused(Code.ALREADY_EXISTS, lambda: api.rate("USD", "1.0900"), text="already exists")
    bad = [("USD", "0", "exchange_rate.rate"), ("USD", "0.000", "exchange_rate.rate"),
           ("USD", "-1.2", "exchange_rate.rate"), ("USD", "1e3", "exchange_rate.rate"),
           ("USD", "1.0000000001", "exchange_rate.rate"), ("USD", "", "exchange_rate.rate"),
           ("EUR", "1", "exchange_rate.currency_code"), ("ABC", "1", "exchange_rate.currency_code"),
           ("XAU", "1", "exchange_rate.currency_code"), ("usd", "1", "exchange_rate.currency_code")]
    for cur, rate, field in bad:
        refused(Code.INVALID_ARGUMENT,
                lambda: api.rate(cur, rate, when=TODAY - datetime.timedelta(days=30)), field)
    refused(Code.INVALID_ARGUMENT, lambda: api.rate("USD", "1.1", source=""),
            "exchange_rate.source")
    refused(Code.INVALID_ARGUMENT, lambda: api.call(
        "BACK_OFFICE", "ExchangeRateService", "CreateExchangeRate",
        rate_pb2.CreateExchangeRateRequest(exchange_rate=Rate(
            currency_code="USD", rate="1.1", source="s"))), "exchange_rate.rate_date")
    # Every data role reads rates; a filter by currency and day.
    for who in STAFF + ("OBSERVER",):
        got = api.pages(who, "ExchangeRateService", "ListExchangeRates",
                        rate_pb2.ListExchangeRatesRequest, "exchange_rates",
                        filter='currency_code = "USD" AND rate_date >= "%s"' % TODAY.isoformat())
        assert [x.name for x in got] == [r.name], (who, got)
    # An unused rate may be deleted (and recorded again); the deletion is
    # the rate as it was.
    old = api.rate("CHF", "0.9400", when=TODAY - datetime.timedelta(days=40))
    d = api.call("BACK_OFFICE", "ExchangeRateService", "DeleteExchangeRate",
                 rate_pb2.DeleteExchangeRateRequest(name=old.name, etag=old.etag))
    assert d.name == old.name and d.rate == "0.9400"
    refused(Code.NOT_FOUND, lambda: api.get("ExchangeRateService", "GetExchangeRate",
                                            rate_pb2.GetExchangeRateRequest, old.name))


def test_lookback(api):
    """A kept rate serves for up to 7 days after its date (weekends, bank
    holidays); an older one does not, and the error names currency and day."""
    d = api.donor("switzerland", "Switzerland", "CH")
    api.rate("CHF", "0.9400", when=TODAY - datetime.timedelta(days=3))
    p = api.pledge(d, money("CHF", "940.00"), year=2024)
    assert p.exchange_rate.name == "exchangeRates/chf-%s" % (
        TODAY - datetime.timedelta(days=3)).isoformat(), p.exchange_rate
    assert dec(p.accounting_amount) == Decimal("1000.00"), p.accounting_amount
    assert p.value_fixed and p.value_date == day(TODAY)
    api.rate("SEK", "11.20", when=TODAY - datetime.timedelta(days=8))
    e = refused(Code.FAILED_PRECONDITION, lambda: api.pledge(d, money("SEK", "100.00")))
    assert "SEK" in e.details() and TODAY.isoformat() in e.details(), e.details()


# ---- The worked example: a USD and a GBP pledge, one EUR need ----

def test_worked_example(api):
    us = api.donor("united-states", "United States", "US")
    uk = api.donor("united-kingdom", "United Kingdom", "GB")
    api.US, api.UK = us, uk
    # The ECB rates of the day (kept by test_rates): 1 EUR = 1.0850 USD,
    # 1 EUR = 0.8450 GBP. A pledge's EUR value is amount / rate, rounded
    # half to even to the cent, fixed when it is committed:
    #   USD 1,000,000.00 / 1.0850 = 921,658.986175... -> EUR 921,658.99
    #   GBP   500,000.00 / 0.8450 = 591,715.976331... -> EUR 591,715.98
    pu = api.pledge(us, money("USD", "1000000.00"), year=2025)
    pk = api.pledge(uk, money("GBP", "500000.00"), year=2026)
    assert dec(pu.accounting_amount) == Decimal("921658.99") == eur_value("1000000.00", "1.0850")
    assert dec(pk.accounting_amount) == Decimal("591715.98") == eur_value("500000.00", "0.8450")
    assert (pu.amount.currency_code, pu.accounting_amount.currency_code) == ("USD", "EUR")
    assert pu.exchange_rate.rate == "1.0850" and pu.exchange_rate.source.startswith("ECB")
    assert pu.value_fixed and pu.value_date == day(TODAY)
    # The kept rate now carries a decision: it is used, and stays.
    usd = api.get("ExchangeRateService", "GetExchangeRate", rate_pb2.GetExchangeRateRequest,
                  pu.exchange_rate.name)
    assert usd.used
    refused(Code.FAILED_PRECONDITION, lambda: api.call(
        "BACK_OFFICE", "ExchangeRateService", "DeleteExchangeRate",
        rate_pb2.DeleteExchangeRateRequest(name=usd.name)), text="used")
    # One need of EUR 900,000.00 in Kharkiv Oblast, and a second one in Lviv.
    n = api.need("900000.00")
    api.NEED = n
    lviv = api.need("50000.00", region="Lviv Oblast", sector=common_pb2.SECTOR_HEALTH)
    # Matches in each pledge's currency; approval fixes their EUR value:
    #   USD 400,000.00 / 1.0850 = 368,663.594470... -> EUR 368,663.59
    #   GBP 250,000.50 / 0.8450 = 295,858.579881... -> EUR 295,858.58
    mu = api.propose(n, us, pu.name, money("USD", "400000.00"))
    assert not mu.value_fixed and dec(mu.accounting_amount) == Decimal("368663.59")
    mu = api.approve(mu.name)
    mk = api.approve(api.propose(n, uk, pk.name, money("GBP", "250000.50")).name)
    assert mu.value_fixed and mk.value_fixed and mu.approve_time.seconds > 0
    assert dec(mu.accounting_amount) == Decimal("368663.59") == eur_value("400000.00", "1.0850")
    assert dec(mk.accounting_amount) == Decimal("295858.58") == eur_value("250000.50", "0.8450")
    assert mu.value_date == day(TODAY)
    # The US delivers; the beneficiary accepts.
    mu = api.deliver(mu.name, us)
    assert mu.accept_time.seconds > 0
    # The need: committed 368,663.59 + 295,858.58 = EUR 664,522.17, delivered
    # EUR 368,663.59; 664,522.17 / 900,000.00 = 73.8357...% -> "73.84",
    # 368,663.59 / 900,000.00 = 40.9626...% -> "40.96".
    g = api.get("NeedService", "GetNeed", need_pb2.GetNeedRequest, n)
    assert dec(g.committed_amount) == Decimal("664522.17"), g.committed_amount
    assert dec(g.delivered_amount) == Decimal("368663.59"), g.delivered_amount
    assert g.coverage == Need.COVERAGE_PARTIAL
    # The US pledge: allocated EUR 368,663.59, available 921,658.99 -
    # 368,663.59 = EUR 552,995.40.
    p = api.get("DonorService", "GetPledge", donor_pb2.GetPledgeRequest, pu.name)
    assert dec(p.allocated) == Decimal("368663.59") and dec(p.available) == Decimal("552995.40")
    rep = api.report("BACK_OFFICE", region="Kharkiv Oblast", start_date=day(TODAY),
                     end_date=day(TODAY))
    t = rep.total
    assert t.needs_count >= 1
    line = [e for e in rep.by_region if e.region == "Kharkiv Oblast"]
    assert [e.region for e in rep.by_region] == ["Kharkiv Oblast"], rep.by_region
    # The need's own slice: only it was created in Kharkiv Oblast in this run.
    ours = [x for x in api.pages("BACK_OFFICE", "NeedService", "ListNeeds",
                                 need_pb2.ListNeedsRequest, "needs")
            if x.region == "Kharkiv Oblast"]
    assert [x.name for x in ours] == [n], [x.name for x in ours]
    assert dec(line[0].totals.estimated) == Decimal("900000.00")
    assert dec(line[0].totals.committed) == Decimal("664522.17")
    assert dec(line[0].totals.delivered) == Decimal("368663.59")
    assert (line[0].totals.committed_percent, line[0].totals.delivered_percent) == \
        ("73.84", "40.96"), line[0].totals
    assert (t.committed_percent, t.delivered_percent) == ("73.84", "40.96")
    # Both currencies, as pledged and matched and in EUR (pledges have no
    # region: the Swiss franc pledge of test_lookback is a line of its own).
    cur = {c.currency_code: c for c in rep.by_currency}
    assert set(cur) == {"USD", "GBP", "CHF"}, list(cur)
    assert dec(cur["CHF"].committed) == 0
    assert (dec(cur["USD"].pledged), dec(cur["USD"].pledged_accounting)) == \
        (Decimal("1000000.00"), Decimal("921658.99"))
    assert (dec(cur["USD"].committed), dec(cur["USD"].committed_accounting),
            dec(cur["USD"].delivered), dec(cur["USD"].delivered_accounting)) == \
        (Decimal("400000.00"), Decimal("368663.59"), Decimal("400000.00"), Decimal("368663.59"))
    assert cur["USD"].committed.currency_code == "USD"
    assert cur["USD"].committed_accounting.currency_code == "EUR"
    assert (dec(cur["GBP"].committed), dec(cur["GBP"].committed_accounting),
            dec(cur["GBP"].delivered)) == (Decimal("250000.50"), Decimal("295858.58"), 0)
    # By fiscal year: the US's 2025 money, the UK's 2026.
    fy = {f.fiscal_year: f for f in rep.by_fiscal_year}
    assert dec(fy[2025].pledged) == Decimal("921658.99") and \
        dec(fy[2025].committed) == Decimal("368663.59")
    # 368,663.59 / 921,658.99 = 40.0001...% -> "40.00"
    assert fy[2025].committed_percent == pct("368663.59", "921658.99") == "40.00"
    assert dec(fy[2026].committed) == Decimal("295858.58")
    # Narrowed to fiscal year 2026: only the UK's match counts.
    r26 = api.report("BACK_OFFICE", fiscal_year=2026, region="Kharkiv Oblast")
    assert dec(r26.total.committed) == Decimal("295858.58"), r26.total
    assert dec(r26.total.delivered) == 0
    # The region filter leaves Lviv out; without it, Lviv is a line of its own.
    full = api.report("BACK_OFFICE")
    assert lviv and "Lviv Oblast" in [e.region for e in full.by_region]
    # A range that ended yesterday counts none of today's needs or pledges.
    old = api.report("BACK_OFFICE", end_date=day(TODAY - datetime.timedelta(days=1)))
    assert old.total.needs_count == 0 and old.total.committed_percent == ""
    assert not old.by_currency and not old.by_fiscal_year, (old.by_currency, old.by_fiscal_year)


def test_ties_and_minor_units(api):
    """Known answers at the rounding boundary (ties to even), JPY (no
    decimals) and KWD (three), with rates given with the call."""
    d = api.donor("japan", "Japan", "JP")
    n = api.need("1000.00", region="Odesa Oblast")
    given = Rate(currency_code="USD", rate="8", rate_date=day(TODAY), source="Given with the call")
    us_small = api.pledge(api.US, money("USD", "100.00"), rate=given)
    assert dec(us_small.accounting_amount) == Decimal("12.50")
    assert us_small.exchange_rate.name == "" and us_small.exchange_rate.rate == "8"
    # USD 1.00 / 8 = 0.125 -> 0.12 (the even cent); USD 3.00 / 8 = 0.375 -> 0.38.
    for amount, want in (("1.00", "0.12"), ("3.00", "0.38"), ("0.20", "0.02")):
        m = api.approve(api.propose(n, api.US, us_small.name, money("USD", amount)).name,
                        rate=given)
        assert dec(m.accounting_amount) == Decimal(want) == eur_value(amount, "8"), (amount, m)
        assert m.exchange_rate.rate == "8" and m.value_fixed
    # JPY 1,000,000 / 161.53 = 6,190.8005... -> EUR 6,190.80
    pj = api.pledge(d, money("JPY", "1000000"))
    assert dec(pj.accounting_amount) == Decimal("6190.80") == eur_value("1000000", "161.53")
    refused(Code.INVALID_ARGUMENT, lambda: api.pledge(d, money("JPY", "1000.5")), "pledge.amount")
    m = api.approve(api.propose(n, d, pj.name, money("JPY", "15000")).name)
    # JPY 15,000 / 161.53 = 92.8626... -> EUR 92.86
    assert dec(m.accounting_amount) == Decimal("92.86") == eur_value("15000", "161.53")
    refused(Code.INVALID_ARGUMENT, lambda: api.propose(n, d, pj.name, money("JPY", "0.5")),
            "match.amount")
    # KWD 1.000 / 0.3312 = 3.01932... -> EUR 3.02; a fils is 0.001, not less.
    kw = api.donor("kuwait", "Kuwait", "KW")
    pk = api.pledge(kw, money("KWD", "1.000"))
    assert dec(pk.accounting_amount) == Decimal("3.02") == eur_value("1.000", "0.3312")
    pk2 = api.pledge(kw, money("KWD", "12.345"))
    assert dec(pk2.accounting_amount) == eur_value("12.345", "0.3312")
    refused(Code.INVALID_ARGUMENT, lambda: api.pledge(kw, money("KWD", "0.0005")), "pledge.amount")
    # EUR has cents, not less.
    refused(Code.INVALID_ARGUMENT, lambda: api.pledge(kw, money("EUR", "1.001")), "pledge.amount")


def test_bad_input(api):
    d = api.donor("norway", "Norway", "NO")
    n = api.need("500.00", region="Kyiv City")
    # Unknown, withdrawn and metal codes.
    for cur in ("ABC", "HRK", "XAU", "usd", ""):
        refused(Code.INVALID_ARGUMENT, lambda: api.pledge(d, money(cur, "10.00")), "pledge.amount")
    # No kept NOK rate: FAILED_PRECONDITION naming the currency and the day.
    e = refused(Code.FAILED_PRECONDITION, lambda: api.pledge(d, money("NOK", "1000.00")))
    assert "NOK" in e.details() and TODAY.isoformat() in e.details(), e.details()
    # A rate given with the call instead; zero, below zero, or in EUR refused.
    given = Rate(currency_code="NOK", rate="11.7345", rate_date=day(TODAY), source="Norges Bank")
    p = api.pledge(d, money("NOK", "1000.00"), state=Pledge.STATE_ANNOUNCED, rate=given)
    assert not p.value_fixed and dec(p.accounting_amount) == eur_value("1000.00", "11.7345")
    for r in ("0", "-11.7", "0.000000000"):
        refused(Code.INVALID_ARGUMENT, lambda: api.pledge(d, money("NOK", "1.00"), rate=Rate(
            currency_code="NOK", rate=r, rate_date=day(TODAY), source="s")),
            "pledge.exchange_rate.rate")
    refused(Code.INVALID_ARGUMENT, lambda: api.pledge(d, money("NOK", "1.00"), rate=Rate(
        currency_code="SEK", rate="1", rate_date=day(TODAY), source="s")),
        "pledge.exchange_rate.currency_code")
    refused(Code.INVALID_ARGUMENT, lambda: api.pledge(d, money("EUR", "1.00"), rate=given),
            "pledge.exchange_rate")
    # A match is in its pledge's currency.
    refused(Code.INVALID_ARGUMENT, lambda: api.propose(n, d, p.name, money("EUR", "10.00")),
            "match.amount")
    # Committing a NOK pledge without a kept NOK rate: FAILED_PRECONDITION;
    # with a rate given in the same update, fixed at it. The currency stays.
    upd = lambda pl, paths: api.call(  # noqa: E731
        "BACK_OFFICE", "DonorService", "UpdatePledge", donor_pb2.UpdatePledgeRequest(
            pledge=pl, update_mask=field_mask_pb2.FieldMask(paths=paths)))
    refused(Code.FAILED_PRECONDITION,
            lambda: upd(Pledge(name=p.name, state=Pledge.STATE_COMMITTED), ["state"]), text="NOK")
    refused(Code.INVALID_ARGUMENT,
            lambda: upd(Pledge(name=p.name, amount=money("USD", "5.00")), ["amount"]),
            "pledge.amount")
    fixed_rate = Rate(currency_code="NOK", rate="11.5000", rate_date=day(TODAY), source="NB")
    c = upd(Pledge(name=p.name, state=Pledge.STATE_COMMITTED, exchange_rate=fixed_rate),
            ["state", "exchange_rate"])
    assert c.value_fixed and c.exchange_rate.rate == "11.5000"
    assert dec(c.accounting_amount) == eur_value("1000.00", "11.5000")
    # Once fixed, the rate never changes; a new amount is valued at it.
    refused(Code.FAILED_PRECONDITION,
            lambda: upd(Pledge(name=p.name, exchange_rate=given), ["exchange_rate"]))
    c = upd(Pledge(name=p.name, amount=money("NOK", "2300.00")), ["amount"])
    assert c.exchange_rate.rate == "11.5000" and dec(c.accounting_amount) == Decimal("200.00")
    # Approving without a kept NOK rate: FAILED_PRECONDITION naming it; with
    # a rate of zero: INVALID_ARGUMENT; with a good one: fixed at it.
    m = api.propose(n, d, p.name, money("NOK", "115.00"), rate=fixed_rate)
    refused(Code.FAILED_PRECONDITION, lambda: api.approve(m.name), text="NOK")
    refused(Code.INVALID_ARGUMENT, lambda: api.approve(m.name, rate=Rate(
        currency_code="NOK", rate="0", rate_date=day(TODAY), source="s")), "exchange_rate.rate")
    a = api.approve(m.name, rate=fixed_rate)
    assert a.value_fixed and dec(a.accounting_amount) == Decimal("10.00")


def test_limits(api):
    """The largest amount of a currency, and values past the largest EUR
    amount, refused, never wrapped."""
    d = api.donor("limits", "Limits", "EE")
    # USD 1,000,000,000.00 / 1.0850 = EUR 921,658,986.18: fine.
    p = api.pledge(d, money("USD", "1000000000.00"))
    assert dec(p.accounting_amount) == eur_value("1000000000.00", "1.0850") == \
        Decimal("921658986.18")
    refused(Code.INVALID_ARGUMENT, lambda: api.pledge(d, money("USD", "1000000000.01")),
            "pledge.amount")
    # KWD 1,000,000,000.000 / 0.3312 = EUR 3,019,323,671.50: past EUR 10^9.
    refused(Code.INVALID_ARGUMENT, lambda: api.pledge(d, money("KWD", "1000000000.000")),
            "pledge.amount")
    # JPY 10^9 is within reach: EUR 6,190,800.47.
    pj = api.pledge(d, money("JPY", "1000000000"))
    assert dec(pj.accounting_amount) == eur_value("1000000000", "161.53")
    # A value too small to count: USD 0.01 at 1000 is EUR 0.00.
    refused(Code.INVALID_ARGUMENT, lambda: api.pledge(d, money("USD", "0.01"), rate=Rate(
        currency_code="USD", rate="1000", rate_date=day(TODAY), source="s")), "pledge.amount")


# ---- Every role's report, from what that role may list ----

def counted_needs(api, who, region=None):
    ns = [n for n in api.pages(who, "NeedService", "ListNeeds", need_pb2.ListNeedsRequest, "needs")
          if n.state in COUNTED]
    return [n for n in ns if region is None or n.region == region]


def sums(ns):
    return (len(ns), sum(dec(n.estimated_cost) for n in ns),
            sum(dec(n.committed_amount) for n in ns), sum(dec(n.delivered_amount) for n in ns))


def got(t):
    return (t.needs_count, dec(t.estimated), dec(t.committed), dec(t.delivered))


def check_need_lines(api, who, rep):
    ns = counted_needs(api, who)
    assert got(rep.total) == sums(ns), (who, got(rep.total), sums(ns))
    assert rep.total.committed_percent == pct(sums(ns)[2], sums(ns)[1]), who
    for e in rep.by_sector:
        assert got(e.totals) == sums([n for n in ns if n.sector == e.sector]), (who, e)
    assert sorted({n.sector for n in ns}) == [e.sector for e in rep.by_sector]
    if who == "OBSERVER":
        assert not rep.by_region, "an observer never sees regions"
        return
    regions = sorted({n.region for n in ns}, key=lambda r: r.encode())
    assert [e.region for e in rep.by_region] == regions, (who, regions)
    for e in rep.by_region:
        part = sums([n for n in ns if n.region == e.region])
        assert got(e.totals) == part, (who, e.region)
        assert (e.totals.committed_percent, e.totals.delivered_percent) == \
            (pct(part[2], part[1]), pct(part[3], part[1])), (who, e)


def money_lines(pledges, matches, counted):
    """by_fiscal_year and by_currency as this module computes them."""
    fy, cur = {}, {}
    year_of = {p.name: p.fiscal_year for p in pledges}
    for p in pledges:
        if p.state == Pledge.STATE_WITHDRAWN:
            continue
        v = dec(p.accounting_amount) if p.HasField("accounting_amount") else dec(p.amount)
        fy.setdefault(p.fiscal_year, [0, 0, 0])[0] += v
        c = cur.setdefault(p.amount.currency_code, [0] * 6)
        c[0] += dec(p.amount)
        c[1] += v
    for m in matches:
        if m.state not in COMMITTED or m.need not in counted:
            continue
        v = dec(m.accounting_amount) if m.HasField("accounting_amount") else dec(m.amount)
        f = fy.setdefault(year_of.get(m.pledge, 0), [0, 0, 0])
        c = cur.setdefault(m.amount.currency_code, [0] * 6)
        f[1] += v
        c[2] += dec(m.amount)
        c[3] += v
        if m.state == Match.STATE_ACCEPTED:
            f[2] += v
            c[4] += dec(m.amount)
            c[5] += v
    return fy, cur


def check_money_lines(rep, pledges, matches, counted, who):
    fy, cur = money_lines(pledges, matches, counted)
    assert [f.fiscal_year for f in rep.by_fiscal_year] == sorted(fy), (who, sorted(fy))
    for f in rep.by_fiscal_year:
        want = fy[f.fiscal_year]
        assert (dec(f.pledged), dec(f.committed), dec(f.delivered)) == tuple(want), (who, f, want)
        assert f.committed_percent == pct(want[1], want[0]), (who, f)
    assert [c.currency_code for c in rep.by_currency] == sorted(cur), (who, sorted(cur))
    for c in rep.by_currency:
        assert (dec(c.pledged), dec(c.pledged_accounting), dec(c.committed),
                dec(c.committed_accounting), dec(c.delivered),
                dec(c.delivered_accounting)) == tuple(cur[c.currency_code]), (who, c)


def test_report_per_role(api):
    # A RESTRICTED need with a UK match: staff and the UK see it, the US and
    # observers do not.
    r = api.need("7000.00", region="Sumy Oblast", restricted=True)
    pk = [p for p in api.pages("BACK_OFFICE", "DonorService", "ListPledges",
                               donor_pb2.ListPledgesRequest, "pledges", parent=api.UK)][0]
    api.approve(api.propose(r, api.UK, pk.name, money("GBP", "1000.00")).name)
    pledges = api.pages("AUDITOR", "DonorService", "ListPledges", donor_pb2.ListPledgesRequest,
                        "pledges", parent="donors/-")
    matches = api.pages("AUDITOR", "MatchService", "ListMatches", match_pb2.ListMatchesRequest,
                        "matches")
    for who in STAFF:
        rep = api.report(who)
        check_need_lines(api, who, rep)
        counted = {n.name for n in counted_needs(api, who)}
        check_money_lines(rep, pledges, matches, counted, who)
        assert not rep.HasField("statement")
    # OBSERVER: no RESTRICTED need in any figure, no region; every pledge
    # (as its by_donor lines always had), the matches on needs it may see.
    obs = api.report("OBSERVER")
    check_need_lines(api, "OBSERVER", obs)
    seen = {n.name for n in counted_needs(api, "OBSERVER")}
    assert r not in seen
    check_money_lines(obs, pledges, matches, seen, "OBSERVER")
    for kw, field in ((dict(region="Kharkiv Oblast"), "region"), (dict(fiscal_year=2025),
                                                                   "fiscal_year")):
        refused(Code.INVALID_ARGUMENT, lambda: api.report("OBSERVER", **kw), field)
    # A DONOR: its own line, fiscal years, currencies and statement; totals
    # over the needs it may see; never another donor's pledges or matches.
    for d in (api.US, api.UK):
        rep = api.report(d)
        check_need_lines(api, d, rep)
        mine_p = api.pages(d, "DonorService", "ListPledges", donor_pb2.ListPledgesRequest,
                           "pledges", parent="donors/-")
        mine_m = api.pages(d, "MatchService", "ListMatches", match_pb2.ListMatchesRequest,
                           "matches")
        assert {p.name.split("/pledges/")[0] for p in mine_p} == {d}
        counted = {n.name for n in counted_needs(api, d)}
        check_money_lines(rep, mine_p, mine_m, counted, d)
        assert [e.donor for e in rep.by_donor] == [d]
        st = rep.statement
        assert st.donor == d
        assert [p.name for p in st.pledges] == [p.name for p in mine_p], d
        assert sorted(m.name for m in st.matches) == sorted(m.name for m in mine_m), d
        assert sorted(m.name for m in st.deliveries) == sorted(
            m.name for m in mine_m if m.state in (Match.STATE_DELIVERED, Match.STATE_ACCEPTED))
        refused(Code.INVALID_ARGUMENT, lambda: api.report(d, fiscal_year=2025), "fiscal_year")
    us = api.report(api.US)
    assert r not in {n.name for n in counted_needs(api, api.US)}
    assert [c.currency_code for c in us.by_currency] == ["USD"], us.by_currency
    assert len(us.statement.deliveries) == 1
    uk = api.report(api.UK)
    assert "Sumy Oblast" in [e.region for e in uk.by_region]
    assert "Sumy Oblast" not in [e.region for e in us.by_region]
    # Bad parameters.
    refused(Code.INVALID_ARGUMENT, lambda: api.report(
        "BACK_OFFICE", start_date=day(TODAY), end_date=day(TODAY - datetime.timedelta(days=1))),
        "end_date")
    refused(Code.INVALID_ARGUMENT, lambda: api.report(
        "BACK_OFFICE", start_date=common_pb2.Date(year=2025, month=2, day=30)), "start_date")
    refused(Code.INVALID_ARGUMENT, lambda: api.report("BACK_OFFICE", fiscal_year=1999),
            "fiscal_year")
    refused(Code.INVALID_ARGUMENT, lambda: api.report("BACK_OFFICE", region="a\nb"), "region")


def test_pages_by_amount(api):
    """Pledges and matches ordered by amount are ordered by their value in
    the accounting currency (what sums and guards use); paging one row at a
    time must visit each exactly once, in that order, whatever currencies
    (a page token carries the same value the store seeks on)."""
    for cur, rate in (("JPY", "161.53"), ("USD", "1.0850")):  # unless an earlier case made it
        try:
            api.rate(cur, rate)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.ALREADY_EXISTS, e
    d = api.donor("pager", "Pager", "NO")
    # Original amounts that order differently from their EUR values.
    amounts = [money("JPY", "900000"), money("USD", "9000.00"), money("EUR", "7000.00"),
               money("JPY", "1000000"), money("USD", "5000.00"), money("EUR", "8000.00")]
    made = [api.pledge(d, m) for m in amounts]
    want = [p.name for p in sorted(made, key=lambda p: (dec(p.accounting_amount), p.name))]
    assert [p.name for p in sorted(made, key=lambda p: dec(p.amount))] != want  # a real test
    for size in (1, 2, 4):
        seen, tok = [], ""
        while True:
            r = api.call("BACK_OFFICE", "DonorService", "ListPledges", donor_pb2.ListPledgesRequest(
                parent=d, page_size=size, page_token=tok, order_by="amount"))
            seen += [p.name for p in r.pledges]
            tok = r.next_page_token
            if not tok:
                break
            assert len(seen) <= len(made), "pages never end: %s" % seen
        assert seen == want, "page size %d: %s, wanted %s" % (size, seen, want)
    need = api.need("1000000.00")
    ms = [api.propose(need, d, p.name, m) for p, m in zip(made, [
        money("JPY", "90000"), money("USD", "900.00"), money("EUR", "700.00"),
        money("JPY", "100000"), money("USD", "500.00"), money("EUR", "800.00")])]
    for m in ms:
        api.approve(m.name)
    got = [api.get("MatchService", "GetMatch", match_pb2.GetMatchRequest, m.name) for m in ms]
    want = [m.name for m in sorted(got, key=lambda m: (dec(m.accounting_amount), m.name))]
    for size in (1, 3):
        seen, tok = [], ""
        while True:
            r = api.call("BACK_OFFICE", "MatchService", "ListMatches", match_pb2.ListMatchesRequest(
                page_size=size, page_token=tok, order_by="amount",
                filter='need = "%s"' % need))
            seen += [m.name for m in r.matches]
            tok = r.next_page_token
            if not tok:
                break
            assert len(seen) <= len(ms), "pages never end: %s" % seen
        assert seen == want, "page size %d: %s, wanted %s" % (size, seen, want)


def main():
    only = set(sys.argv[2:])
    cases = harness.Cases()
    srv = harness.Tallinnd(BIN, "--quiet")
    try:
        api = Api(srv)
        for name, fn in (("rates", test_rates), ("lookback", test_lookback),
                         ("worked_example_usd_gbp", test_worked_example),
                         ("ties_and_minor_units", test_ties_and_minor_units),
                         ("bad_input", test_bad_input), ("limits", test_limits),
                         ("report_per_role", test_report_per_role),
                         ("pages_by_amount", test_pages_by_amount)):
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
