"""integration.export: `tallinnctl export csv` and `tallinnctl export iati`
(issue 14, Exports) against a real tallinnd. A workflow is built through the
API (donors and a company implementer, EUR, USD, JPY and KWD pledges, needs
including a RESTRICTED one, approvals, accepted deliveries); then
- CSV of needs, matches, pledges and donors is exported as BACK_OFFICE,
  DONOR, OBSERVER and ADMIN and parsed with Python's csv module: the header,
  RFC 4180 framing (CRLF, quoting), the rows against what the same role lists
  through the API (need-to-know stays the server's), money columns as exact
  decimals with the currency's minor units, the formula guard, --out's
  atomic replacement;
- IATI XML is exported as a DONOR and as the back office and validated
  against the IATI 2.03 activity schema with libxml2 (xmllint --schema),
  every code checked against the IATI code lists in tests/data/iati-2.03,
  the values and dates against the matches, and no RESTRICTED need's text
  anywhere;
- bad input: an unknown kind, an unknown donor, a donor exporting another
  donor's activities, an observer, a bad --org-ref.

Usage: export_test.py TALLINND TALLINNCTL"""
import csv
import datetime
import io
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from decimal import Decimal

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TALLINND, CTL = sys.argv[1], sys.argv[2]
DATA = os.path.join(harness.REPO, "tests", "data", "iati-2.03")
common_pb2, donor_pb2, need_pb2, match_pb2, rate_pb2 = harness.protos(
    "tallinn/v1/common.proto", "tallinn/v1/donor.proto", "tallinn/v1/need.proto",
    "tallinn/v1/match.proto", "tallinn/v1/rate.proto")
Need, Match, Donor, Pledge = need_pb2.Need, match_pb2.Match, donor_pb2.Donor, donor_pb2.Pledge
NANO = 10 ** 9
TODAY = datetime.datetime.now(datetime.timezone.utc).date()
MINOR = {"EUR": 2, "USD": 2, "JPY": 0, "KWD": 3}

# Text only a RESTRICTED need holds: none of it may leave in an IATI file.
SECRET = {"title": "Zaporizhzhia plant SCADA segmentation SECRET-T",
          "description": "Air-gap the SCADA of unit 3 SECRET-D",
          "beneficiary": "Municipal water utility SECRET-B",
          "region": "Zaporizhzhia Oblast SECRET-R"}
# Hostile-looking text in a STANDARD need: a formula, a comma, quotes, CRLF, Cyrillic.
FORMULA = '=HYPERLINK("http://evil.example","click")'
TRICKY = 'Line one, "quoted"\r\nline two: Харків'

TMP = tempfile.mkdtemp(prefix="tallinn-export-test-")
ENV = {k: v for k, v in os.environ.items() if not k.startswith("TALLINN_")}
ENV.update({"XDG_CONFIG_HOME": os.path.join(TMP, "xdg"), "HOME": TMP, "NO_COLOR": "",
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0"})


def money(cur, amount):
    n = int(Decimal(amount) * NANO)
    units = abs(n) // NANO * (1 if n >= 0 else -1)
    return common_pb2.Money(currency_code=cur, units=units, nanos=n - units * NANO)


def dec(m):
    return Decimal(m.units) + Decimal(m.nanos) / NANO


class Api:

    def __init__(self, srv):
        self.srv = srv
        self.ch = grpc.insecure_channel(srv.addr)
        self.tok = {r: srv.create_principal("x-" + r.lower().replace("_", "-"), r)
                    for r in ("FRONT_OFFICE", "BACK_OFFICE", "COORDINATOR", "OBSERVER")}
        self.tok["ADMIN"] = srv.admin_token
        self.seq = 0

    def call(self, who, service, method, req):
        stub = harness.unary_by_name(self.ch, service, method)
        return stub(req, metadata=harness.bearer(self.tok[who]), timeout=30)

    def donor(self, donor_id, display, country, kind=Donor.KIND_STATE, parent="", email=""):
        d = self.call("BACK_OFFICE", "DonorService", "CreateDonor", donor_pb2.CreateDonorRequest(
            donor_id=donor_id, donor=Donor(display_name=display, kind=kind, country_code=country,
                                           parent=parent, contact_email=email,
                                           membership=Donor.MEMBERSHIP_MEMBER)))
        if kind == Donor.KIND_STATE:
            self.tok[d.name] = self.srv.create_principal("x-" + donor_id, "DONOR", donor=d.name)
        return d.name

    def rate(self, cur, rate):
        self.call("BACK_OFFICE", "ExchangeRateService", "CreateExchangeRate",
                  rate_pb2.CreateExchangeRateRequest(exchange_rate=rate_pb2.ExchangeRate(
                      currency_code=cur, rate=rate, source="ECB euro reference rate",
                      rate_date=common_pb2.Date(year=TODAY.year, month=TODAY.month,
                                                day=TODAY.day))))

    def pledge(self, donor, pledge_id, amount):
        return self.call("BACK_OFFICE", "DonorService", "CreatePledge",
                         donor_pb2.CreatePledgeRequest(parent=donor, pledge_id=pledge_id,
                                                       pledge=Pledge(amount=amount,
                                                                     fiscal_year=2025,
                                                                     source="-budget line 7",
                                                                     state=Pledge.STATE_COMMITTED)))

    def need(self, need_id, cost, sector, restricted=False, **text):
        t = dict(title="need " + need_id, description="what " + need_id,
                 beneficiary="who " + need_id, region="Kharkiv Oblast")
        t.update(text)
        n = Need(sector=sector, category=common_pb2.CATEGORY_NETWORK_SECURITY,
                 domain=Need.DOMAIN_CIVILIAN, priority=Need.PRIORITY_HIGH,
                 estimated_cost=money("EUR", cost),
                 sensitivity=Need.SENSITIVITY_RESTRICTED if restricted
                 else Need.SENSITIVITY_STANDARD, **t)
        name = self.call("FRONT_OFFICE", "NeedService", "CreateNeed",
                         need_pb2.CreateNeedRequest(need=n, need_id=need_id)).name
        self.call("FRONT_OFFICE", "NeedService", "SubmitNeed", need_pb2.SubmitNeedRequest(name=name))
        self.call("BACK_OFFICE", "NeedService", "ValidateNeed",
                  need_pb2.ValidateNeedRequest(name=name))
        return name

    def match(self, match_id, need, donor, pledge, amount, description, implementer="",
              approve=True, accept=False):
        m = self.call("BACK_OFFICE", "MatchService", "CreateMatch", match_pb2.CreateMatchRequest(
            match_id=match_id, match=Match(need=need, donor=donor, pledge=pledge, amount=amount,
                                           description=description, implementer=implementer)))
        if approve:
            self.call("COORDINATOR", "MatchService", "ApproveMatch",
                      match_pb2.ApproveMatchRequest(name=m.name))
        if accept:
            self.call(donor, "MatchService", "StartDelivery",
                      match_pb2.StartDeliveryRequest(name=m.name))
            self.call(donor, "MatchService", "MarkDelivered",
                      match_pb2.MarkDeliveredRequest(name=m.name))
            self.call("FRONT_OFFICE", "MatchService", "AcceptDelivery",
                      match_pb2.AcceptDeliveryRequest(name=m.name))
        return m.name

    def pages(self, who, service, method, req_cls, field, **kw):
        out, tok = [], ""
        while True:
            r = self.call(who, service, method, req_cls(page_size=1000, page_token=tok, **kw))
            out += list(getattr(r, field))
            tok = r.next_page_token
            if not tok:
                return out


WITHDRAW_REASON = "Funding moved to the grid programme (internal)"


def build(api):
    """The workflow every case reads."""
    api.rate("USD", "1.0850")
    api.rate("JPY", "161.53")
    api.rate("KWD", "0.3312")
    w = {"us": api.donor("united-states", "United States", "US", email="cyber@state.example"),
         "ee": api.donor("estonia", "Estonia", "EE", email="cyber@mfa.example")}
    w["jp"] = api.donor("japan", "Japan", "JP")
    w["corp"] = api.donor("us-corp", "US Corp, Inc.", "US", kind=Donor.KIND_COMPANY,
                          parent=w["us"])
    w["p_us"] = api.pledge(w["us"], "fy2025-usd", money("USD", "1000000.00")).name
    w["p_kwd"] = api.pledge(w["us"], "fy2025-kwd", money("KWD", "1000.125")).name
    w["p_ee"] = api.pledge(w["ee"], "fy2025-eur", money("EUR", "250000.50")).name
    w["p_jp"] = api.pledge(w["jp"], "fy2025-jpy", money("JPY", "5000000")).name
    w["n_grid"] = api.need("kharkiv-grid", "900000.00", common_pb2.SECTOR_ENERGY,
                           title=FORMULA, description=TRICKY)
    w["n_secret"] = api.need("secret-water", "120000.00", common_pb2.SECTOR_WATER,
                             restricted=True, **SECRET)
    w["n_school"] = api.need("lviv-schools", "80000.00", common_pb2.SECTOR_EDUCATION)
    # USD via an implementer, delivered and accepted: commitment + disbursement.
    w["m_us"] = api.match("us-grid", w["n_grid"], w["us"], w["p_us"], money("USD", "400000.00"),
                          "EDR for 3 DSOs", implementer=w["corp"], accept=True)
    # EUR on the RESTRICTED need, approved only: commitment.
    w["m_ee_secret"] = api.match("ee-secret", w["n_secret"], w["ee"], w["p_ee"],
                                 money("EUR", "100000.00"), "Firewalls SECRET-M")
    # EUR delivered by the donor itself: commitment + expenditure.
    w["m_ee_school"] = api.match("ee-school", w["n_school"], w["ee"], w["p_ee"],
                                 money("EUR", "50000.25"), "Training, 40 staff", accept=True)
    # KWD, approved; and a proposal that is no commitment (never in IATI).
    w["m_kwd"] = api.match("us-kwd", w["n_school"], w["us"], w["p_kwd"], money("KWD", "10.125"),
                           "Licences")
    w["m_proposed"] = api.match("us-proposed", w["n_grid"], w["us"], w["p_us"],
                                money("USD", "1000.00"), "Proposed only", approve=False)
    # Approved, then withdrawn: a commitment made and cancelled (in IATI,
    # cancelled, with its reversal); proposed, then withdrawn: never one.
    w["m_withdrawn"] = api.match("us-withdrawn", w["n_grid"], w["us"], w["p_us"],
                                 money("USD", "2500.50"), "Withdrawn after approval")
    w["m_withdrawn_early"] = api.match("us-withdrawn-early", w["n_grid"], w["us"], w["p_us"],
                                       money("USD", "700.00"), "Withdrawn while proposed",
                                       approve=False)
    for m in (w["m_withdrawn"], w["m_withdrawn_early"]):
        api.call(w["us"], "MatchService", "WithdrawMatch", match_pb2.WithdrawMatchRequest(
            name=m, reason=WITHDRAW_REASON))
    return w


# ---- tallinnctl ----

def write_config(srv, api):
    d = os.path.join(TMP, "xdg", "tallinn")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config"), "w") as f:
        f.write("context = back-office\n")
        for ctx, who in (("back-office", "BACK_OFFICE"), ("observer", "OBSERVER"),
                         ("admin", "ADMIN"), ("us", "donors/united-states"),
                         ("ee", "donors/estonia")):
            path = os.path.join(TMP, ctx + ".token")
            with open(path, "w") as t:
                t.write(api.tok[who] + "\n")
            os.chmod(path, 0o600)
            f.write("\n[%s]\naddr = %s\ninsecure = true\ntoken-file = %s\n" % (ctx, srv.addr, path))


def ctl(context, *args, rc=0):
    argv = [CTL, "--context", context] + list(args)
    p = subprocess.run(argv, capture_output=True, env=ENV, timeout=120)
    assert p.returncode >= 0, "killed by signal %d: %s\n%s" % (-p.returncode, argv, p.stderr)
    if rc is not None:
        assert p.returncode == rc, "%s: exit %d, wanted %d\nstdout: %s\nstderr: %s" % (
            " ".join(argv), p.returncode, rc, p.stdout[:2000], p.stderr.decode())
    return p


def one_line_error(p, *needles):
    lines = p.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tallinnctl: "), p.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


# ---- CSV ----

HEADERS = {
    "needs": ["name", "title", "description", "beneficiary", "region", "sector", "category",
              "domain", "priority", "sensitivity", "state", "state_reason", "estimated_cost",
              "estimated_cost_currency", "committed_amount", "committed_amount_currency",
              "delivered_amount", "delivered_amount_currency", "coverage", "needed_by",
              "create_time", "update_time"],
    "matches": ["name", "need", "donor", "pledge", "implementer", "state", "state_reason",
                "description", "amount", "amount_currency", "accounting_amount",
                "accounting_amount_currency", "exchange_rate", "exchange_rate_date",
                "exchange_rate_source", "exchange_rate_name", "value_date", "value_fixed",
                "proposer", "approver", "overfunding_allowed", "overfunding_reason",
                "approve_time", "accept_time", "create_time", "update_time"],
    "pledges": ["name", "fiscal_year", "state", "source", "amount", "amount_currency",
                "accounting_amount", "accounting_amount_currency", "allocated",
                "allocated_currency", "available", "available_currency", "exchange_rate",
                "exchange_rate_date", "exchange_rate_source", "exchange_rate_name", "value_date",
                "value_fixed", "create_time", "update_time"],
    "donors": ["name", "display_name", "kind", "country_code", "parent", "membership",
               "capabilities", "contact_email", "create_time", "update_time"],
}
LISTS = {"needs": ("NeedService", "ListNeeds", need_pb2.ListNeedsRequest, "needs", {}),
         "matches": ("MatchService", "ListMatches", match_pb2.ListMatchesRequest, "matches", {}),
         "pledges": ("DonorService", "ListPledges", donor_pb2.ListPledgesRequest, "pledges",
                     {"parent": "donors/-"}),
         "donors": ("DonorService", "ListDonors", donor_pb2.ListDonorsRequest, "donors", {})}
MONEY_COLS = {"needs": ["estimated_cost", "committed_amount", "delivered_amount"],
              "matches": ["amount", "accounting_amount"],
              "pledges": ["amount", "accounting_amount", "allocated", "available"],
              "donors": []}


def parse_csv(raw):
    """RFC 4180 framing, then rows as dicts (csv module, strict)."""
    text = raw.decode("utf-8")
    assert text.endswith("\r\n"), repr(text[-20:])
    # Every line break outside a quoted field is CRLF: strip the quoted
    # fields, then no bare LF or CR may remain.
    outside = "".join(part for i, part in enumerate(text.split('"')) if i % 2 == 0)
    assert "\n" not in outside.replace("\r\n", "") and "\r" not in outside.replace("\r\n", ""), \
        "a line end that is not CRLF"
    rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]], rows


def unguard(cell):
    return cell[1:] if cell[:2] in ("'=", "'+", "'-", "'@") else cell


def check_money_cell(row, col, m):
    """The amount cell is m exactly, with the currency's minor units."""
    cell, cur = row[col], row[col + "_currency"]
    if not m.currency_code:
        assert cell == "" and cur == "", (col, cell, cur)
        return
    assert cur == m.currency_code, (col, cur, m)
    assert Decimal(cell) == dec(m), (col, cell, m)
    places = len(cell.split(".")[1]) if "." in cell else 0
    assert places == MINOR[cur], (col, cell, cur)


def check_csv(api, ctx, who, kind):
    """Exports kind as who and compares every row with ListX as who."""
    p = ctl(ctx, "export", "csv", kind)
    header, rows, raw_rows = parse_csv(p.stdout)
    assert header == HEADERS[kind], header
    assert all(len(r) == len(header) for r in raw_rows), "ragged rows"
    service, method, req, field, kw = LISTS[kind]
    want = api.pages(who, service, method, req, field, **kw)
    assert [r["name"] for r in rows] == [m.name for m in want], (kind, who)
    for r, m in zip(rows, want):
        for col in MONEY_COLS[kind]:
            check_money_cell(r, col, getattr(m, col))
        for col in ("title", "description", "beneficiary", "region", "display_name",
                    "contact_email", "source", "state_reason"):
            if col in r:
                assert unguard(r[col]) == getattr(m, col), (kind, col, r[col], getattr(m, col))
    return rows


def t_csv_back_office(api, w):
    needs = check_csv(api, "back-office", "BACK_OFFICE", "needs")
    grid = [r for r in needs if r["name"] == w["n_grid"]][0]
    # The formula guard, CSV quoting of comma, quotes and CRLF, UTF-8.
    assert grid["title"] == "'" + FORMULA, grid["title"]
    assert grid["description"] == TRICKY, repr(grid["description"])
    assert (grid["sector"], grid["state"], grid["estimated_cost"],
            grid["estimated_cost_currency"]) == ("ENERGY", "OPEN", "900000.00", "EUR"), grid
    n = api.call("BACK_OFFICE", "NeedService", "GetNeed", need_pb2.GetNeedRequest(name=w["n_grid"]))
    assert grid["create_time"] == n.create_time.ToDatetime().strftime("%Y-%m-%dT%H:%M:%S") + \
        ("" if n.create_time.nanos == 0 else
         ("." + "%09d" % n.create_time.nanos).rstrip("0")) + "Z", grid["create_time"]
    assert any(r["name"] == w["n_secret"] and r["region"] == SECRET["region"] for r in needs)
    raw = ctl("back-office", "export", "csv", "needs", "--no-formula-guard").stdout
    assert [r for r in parse_csv(raw)[1] if r["name"] == w["n_grid"]][0]["title"] == FORMULA
    matches = check_csv(api, "back-office", "BACK_OFFICE", "matches")
    us = [r for r in matches if r["name"] == w["m_us"]][0]
    assert (us["amount"], us["amount_currency"], us["exchange_rate"],
            us["accounting_amount_currency"], us["state"], us["implementer"]) == \
        ("400000.00", "USD", "1.0850", "EUR", "ACCEPTED", w["corp"]), us
    assert Decimal(us["accounting_amount"]) == Decimal("368663.59"), us  # 400000 / 1.085
    assert us["value_date"] == us["exchange_rate_date"] == TODAY.isoformat(), us
    assert (us["value_fixed"], us["overfunding_allowed"]) == ("true", "false"), us
    _, accepted, _ = parse_csv(ctl("back-office", "export", "csv", "matches", "--filter",
                                   "state = ACCEPTED").stdout)
    assert sorted(r["name"] for r in accepted) == sorted([w["m_us"], w["m_ee_school"]]), accepted
    kwd = [r for r in matches if r["name"] == w["m_kwd"]][0]
    assert (kwd["amount"], kwd["amount_currency"]) == ("10.125", "KWD"), kwd
    pledges = check_csv(api, "back-office", "BACK_OFFICE", "pledges")
    by = {r["name"]: r for r in pledges}
    assert (by[w["p_jp"]]["amount"], by[w["p_jp"]]["amount_currency"]) == ("5000000", "JPY")
    assert (by[w["p_kwd"]]["amount"], by[w["p_kwd"]]["amount_currency"]) == ("1000.125", "KWD")
    assert by[w["p_ee"]]["amount"] == "250000.50" and by[w["p_ee"]]["exchange_rate"] == ""
    assert by[w["p_ee"]]["source"] == "'-budget line 7", by[w["p_ee"]]["source"]
    donors = check_csv(api, "back-office", "BACK_OFFICE", "donors")
    corp = [r for r in donors if r["name"] == w["corp"]][0]
    assert (corp["display_name"], corp["kind"], corp["parent"]) == \
        ("US Corp, Inc.", "COMPANY", w["us"]), corp


def t_csv_donor(api, w):
    needs = check_csv(api, "us", "donors/united-states", "needs")
    assert w["n_secret"] not in [r["name"] for r in needs], "RESTRICTED need of another donor"
    needs = check_csv(api, "ee", "donors/estonia", "needs")
    assert w["n_secret"] in [r["name"] for r in needs], "its own match's RESTRICTED need"
    matches = check_csv(api, "us", "donors/united-states", "matches")
    assert {r["donor"] for r in matches} == {w["us"]}, matches
    assert {r["name"] for r in matches} == {w["m_us"], w["m_kwd"], w["m_proposed"],
                                            w["m_withdrawn"], w["m_withdrawn_early"]}
    pledges = check_csv(api, "us", "donors/united-states", "pledges")
    assert {r["name"] for r in pledges} == {w["p_us"], w["p_kwd"]}, pledges
    donors = {r["name"]: r for r in check_csv(api, "us", "donors/united-states", "donors")}
    assert donors[w["us"]]["contact_email"] == "cyber@state.example"
    assert donors[w["ee"]]["contact_email"] == "", "another donor's contact e-mail"


def t_csv_observer(api, w):
    needs = check_csv(api, "observer", "OBSERVER", "needs")
    assert w["n_secret"] not in [r["name"] for r in needs]
    assert needs and all(r["description"] == r["beneficiary"] == r["region"] == ""
                         for r in needs), needs
    for kind in ("matches", "pledges"):
        one_line_error(ctl("observer", "export", "csv", kind, rc=5), "PERMISSION_DENIED")
    check_csv(api, "observer", "OBSERVER", "donors")


def t_csv_admin_and_out(api, w):
    out = os.path.join(TMP, "out")
    os.makedirs(out)
    target = os.path.join(out, "needs.csv")
    ctl("back-office", "export", "csv", "needs", "--out", target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600, oct(os.stat(target).st_mode)
    with open(target, "rb") as f:
        before = f.read()
    assert parse_csv(before)[0] == HEADERS["needs"] and ctl(
        "back-office", "export", "csv", "needs").stdout == before
    # ADMIN reads no needs: refused, and the file and its directory stay as they were.
    for kind in ("needs", "matches", "pledges", "donors"):
        p = ctl("admin", "export", "csv", kind, "--out", target, rc=5)
        one_line_error(p, "PERMISSION_DENIED")
        assert p.stdout == b""
    with open(target, "rb") as f:
        assert f.read() == before
    assert os.listdir(out) == ["needs.csv"], os.listdir(out)
    p = ctl("back-office", "export", "csv", "needs", "--out",
            os.path.join(TMP, "no-such-dir", "x.csv"), rc=1)
    one_line_error(p, "--out")


# ---- IATI ----

def codes(path):
    t = ET.parse(os.path.join(DATA, path))
    return {i.findtext("code") for i in t.getroot().iter("codelist-item")
            if i.get("status", "active") == "active"}


CODELISTS = {
    "ActivityStatus": codes("codelists/ActivityStatus.xml"),
    "ActivityDateType": codes("codelists/ActivityDateType.xml"),
    "OrganisationRole": codes("codelists/OrganisationRole.xml"),
    "TransactionType": codes("codelists/TransactionType.xml"),
    "Sector": codes("codelists-nonembedded/Sector.xml"),
    "SectorVocabulary": codes("codelists-nonembedded/SectorVocabulary.xml"),
    "OrganisationType": codes("codelists-nonembedded/OrganisationType.xml"),
    "Country": codes("codelists-nonembedded/Country.xml"),
    "Currency": codes("codelists-nonembedded/Currency.xml"),
    "DescriptionType": codes("codelists-nonembedded/DescriptionType.xml"),
}


def validate(xml_bytes, name):
    path = os.path.join(TMP, name)
    with open(path, "wb") as f:
        f.write(xml_bytes)
    p = subprocess.run(["xmllint", "--noout", "--schema",
                        os.path.join(DATA, "iati-activities-schema.xsd"), path],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "validates" in p.stderr, p.stderr
    return ET.fromstring(xml_bytes)


def check_codes(root):
    """Every coded attribute of the file is in its IATI code list."""
    def need(code, lst, where):
        assert code in CODELISTS[lst], "%s: %r is not in %s" % (where, code, lst)
    seen = 0
    for a in root.iter("iati-activity"):
        need(a.get("default-currency"), "Currency", "default-currency")
        for o in a.iter():
            if o.tag in ("reporting-org", "participating-org", "provider-org", "receiver-org"):
                need(o.get("type"), "OrganisationType", o.tag + "/@type")
            if o.tag == "participating-org":
                need(o.get("role"), "OrganisationRole", "participating-org/@role")
        need(a.find("activity-status").get("code"), "ActivityStatus", "activity-status")
        for d in a.findall("activity-date"):
            need(d.get("type"), "ActivityDateType", "activity-date/@type")
        for d in a.findall("description"):
            need(d.get("type"), "DescriptionType", "description/@type")
        for c in a.findall("recipient-country"):
            need(c.get("code"), "Country", "recipient-country")
            assert c.get("code") == "UA"
        for s in a.findall("sector"):
            need(s.get("vocabulary"), "SectorVocabulary", "sector/@vocabulary")
            assert s.get("vocabulary") == "1" and len(s.get("code")) == 5, s.attrib
            need(s.get("code"), "Sector", "sector/@code")
        for t in a.findall("transaction"):
            need(t.find("transaction-type").get("code"), "TransactionType", "transaction-type")
            need(t.find("value").get("currency"), "Currency", "value/@currency")
        seen += 1
    assert seen > 0


def no_secret(xml_bytes):
    """No text of the RESTRICTED need (nor of the match on it) is in the file."""
    text = xml_bytes.decode("utf-8")
    for k, v in SECRET.items():
        assert v not in text, "RESTRICTED %s in the IATI export: %r" % (k, v)
    assert "SECRET" not in text, "a RESTRICTED need's (or its match's) words in the export"


def activities(root):
    return {a.findtext("iati-identifier"): a for a in root.iter("iati-activity")}


def iso(ts):
    return datetime.datetime.fromtimestamp(ts.seconds, datetime.timezone.utc).date().isoformat()


def check_activity(api, a, match_name, ref, donor_name):
    """One activity against its match, as the back office reads it."""
    m = api.call("BACK_OFFICE", "MatchService", "GetMatch", match_pb2.GetMatchRequest(
        name=match_name))
    assert a.findtext("iati-identifier") == "%s-TM-%s" % (ref, match_name.split("/")[1])
    ro = a.find("reporting-org")
    assert (ro.get("ref"), ro.get("type"), ro.findtext("narrative")) == (ref, "10", donor_name)
    roles = {(p.get("role"), p.findtext("narrative")) for p in a.findall("participating-org")}
    assert ("1", donor_name) in roles, roles
    tx = [(t.find("transaction-type").get("code"), t.find("transaction-date").get("iso-date"),
           t.find("value").get("currency"), t.find("value").get("value-date"),
           Decimal(t.findtext("value"))) for t in a.findall("transaction")]
    vd = "%04d-%02d-%02d" % (m.value_date.year, m.value_date.month, m.value_date.day)
    assert tx[0] == ("2", iso(m.approve_time), m.amount.currency_code, vd, dec(m.amount)), tx
    places = len(a.findall("transaction")[0].findtext("value").split(".")[1]) \
        if "." in a.findall("transaction")[0].findtext("value") else 0
    assert places == MINOR[m.amount.currency_code], a.findall("transaction")[0].findtext("value")
    if m.state == Match.STATE_ACCEPTED:
        kind = "3" if m.implementer else "4"
        assert tx[1:] == [(kind, iso(m.accept_time), m.amount.currency_code,
                           iso(m.accept_time), dec(m.amount))], tx
        assert a.find("activity-status").get("code") == "4"
        assert [d.get("type") for d in a.findall("activity-date")] == ["2", "4"]
    elif m.state == Match.STATE_WITHDRAWN:  # cancelled: the commitment reversed
        assert tx[1:] == [("2", iso(m.update_time), m.amount.currency_code,
                           iso(m.update_time), -dec(m.amount))], tx
        assert a.find("activity-status").get("code") == "5"
        assert [(d.get("type"), d.get("iso-date")) for d in a.findall("activity-date")] == \
            [("2", iso(m.approve_time)), ("4", iso(m.update_time))]
    else:
        assert len(tx) == 1, tx
        assert a.find("activity-status").get("code") == "2"
    return roles


def t_iati_donor(api, w):
    p = ctl("us", "export", "iati")
    root = validate(p.stdout, "us.xml")
    check_codes(root)
    no_secret(p.stdout)
    acts = activities(root)
    assert sorted(acts) == ["TALLINN-UNITED-STATES-TM-us-grid", "TALLINN-UNITED-STATES-TM-us-kwd",
                            "TALLINN-UNITED-STATES-TM-us-withdrawn"], sorted(acts)
    check_activity(api, acts["TALLINN-UNITED-STATES-TM-us-withdrawn"], w["m_withdrawn"],
                   "TALLINN-UNITED-STATES", "United States")
    assert WITHDRAW_REASON not in p.stdout.decode("utf-8")  # the staff's words stay out
    roles = check_activity(api, acts["TALLINN-UNITED-STATES-TM-us-grid"], w["m_us"],
                           "TALLINN-UNITED-STATES", "United States")
    assert ("4", "US Corp, Inc.") in roles, roles
    grid = acts["TALLINN-UNITED-STATES-TM-us-grid"]
    assert grid.findtext("title/narrative") == FORMULA  # a STANDARD need's title, as XML text
    assert grid.find("sector").get("code") == "23630", grid.find("sector").attrib  # ENERGY
    check_activity(api, acts["TALLINN-UNITED-STATES-TM-us-kwd"], w["m_kwd"],
                   "TALLINN-UNITED-STATES", "United States")
    # Stable: the same identifiers again; --org-ref and --out.
    target = os.path.join(TMP, "us-iati.xml")
    ctl("us", "export", "iati", "--donor", "united-states", "--org-ref", "US-GOV-1", "--out",
        target)
    with open(target, "rb") as f:
        acts2 = activities(validate(f.read(), "us2.xml"))
    assert sorted(acts2) == ["US-GOV-1-TM-us-grid", "US-GOV-1-TM-us-kwd",
                             "US-GOV-1-TM-us-withdrawn"], sorted(acts2)
    # Estonia: its RESTRICTED need's activity is there, without the need's words.
    p = ctl("ee", "export", "iati")
    root = validate(p.stdout, "ee.xml")
    check_codes(root)
    no_secret(p.stdout)
    acts = activities(root)
    assert sorted(acts) == ["TALLINN-ESTONIA-TM-ee-school", "TALLINN-ESTONIA-TM-ee-secret"]
    secret = acts["TALLINN-ESTONIA-TM-ee-secret"]
    check_activity(api, secret, w["m_ee_secret"], "TALLINN-ESTONIA", "Estonia")
    assert secret.find("sector").get("code") == "14010"  # WATER
    school = acts["TALLINN-ESTONIA-TM-ee-school"]
    roles = check_activity(api, school, w["m_ee_school"], "TALLINN-ESTONIA", "Estonia")
    assert roles == {("1", "Estonia"), ("4", "Estonia")}, roles  # delivered itself: expenditure


def t_iati_staff(api, w):
    p = ctl("back-office", "export", "iati")
    root = validate(p.stdout, "all.xml")
    check_codes(root)
    no_secret(p.stdout)
    assert sorted(activities(root)) == sorted([
        "TALLINN-UNITED-STATES-TM-us-grid", "TALLINN-UNITED-STATES-TM-us-kwd",
        "TALLINN-UNITED-STATES-TM-us-withdrawn",
        "TALLINN-ESTONIA-TM-ee-school", "TALLINN-ESTONIA-TM-ee-secret"])
    p = ctl("back-office", "export", "iati", "--donor", "donors/estonia", "--org-ref", "EE-TEST.1")
    acts = activities(validate(p.stdout, "ee-staff.xml"))
    assert sorted(acts) == ["EE-TEST.1-TM-ee-school", "EE-TEST.1-TM-ee-secret"], sorted(acts)
    no_secret(p.stdout)


def t_bad_input(api, w):
    p = ctl("back-office", "export", "csv", "rates", rc=2)
    assert "unknown kind" in p.stderr.decode() and p.stdout == b""
    ctl("back-office", "export", "csv", rc=2)
    p = ctl("back-office", "export", "iati", "--donor", "atlantis", rc=4)
    one_line_error(p, "donors/atlantis", "NOT_FOUND")
    p = ctl("us", "export", "iati", "--donor", "estonia", rc=5)
    one_line_error(p, "donors/united-states", "donors/estonia")
    assert p.stdout == b""
    p = ctl("us", "export", "iati", "--donor", "atlantis", rc=5)
    one_line_error(p, "only its own")
    one_line_error(ctl("observer", "export", "iati", rc=5), "PERMISSION_DENIED")
    one_line_error(ctl("admin", "export", "iati", rc=5), "PERMISSION_DENIED")
    p = ctl("back-office", "export", "iati", "--donor", "estonia", "--org-ref", "EE 1/x", rc=2)
    assert "--org-ref" in p.stderr.decode()
    p = ctl("back-office", "export", "iati", "--org-ref", "EE-1", rc=2)
    assert "--donor" in p.stderr.decode()
    p = ctl("back-office", "export", "iati", "--donor", 'x" OR donor != "', rc=2)
    # Japan has a pledge but no approved match: an empty file would not be IATI.
    p = ctl("back-office", "export", "iati", "--donor", "japan", rc=1)
    one_line_error(p, "nothing to export", "donors/japan")
    assert p.stdout == b""


def main():
    srv = harness.Tallinnd(TALLINND)
    cases = harness.Cases()
    try:
        api = Api(srv)
        w = build(api)
        write_config(srv, api)
        for name, fn in (("csv_back_office", t_csv_back_office), ("csv_donor", t_csv_donor),
                         ("csv_observer", t_csv_observer),
                         ("csv_admin_and_out", t_csv_admin_and_out),
                         ("iati_donor", t_iati_donor), ("iati_staff", t_iati_staff),
                         ("bad_input", t_bad_input)):
            cases.run(name, fn, api, w)
    finally:
        srv.stop()
        shutil.rmtree(TMP, ignore_errors=True)  # token files and exports
    cases.finish()


main()
