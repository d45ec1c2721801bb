"""integration.ctl: the issue-3 workflow driven through tallinnctl only, as a
new user would after reading --help: contexts from a config file in a
temporary XDG_CONFIG_HOME (one per role, token files made here), donors and
pledges, a need from DRAFT to FULFILLED through two matches from two donors,
a refused transition, table and JSON output, the get -o json | update -f -
round trip, and bad input (each a one-line cause and a documented exit code).

Usage: ctl_test.py TALLINND TALLINNCTL"""
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TALLINND, CTL = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="tallinnctl-test-")
XDG = os.path.join(TMP, "xdg")
ENV = {k: v for k, v in os.environ.items() if not k.startswith("TALLINN_")}
ENV.update({"XDG_CONFIG_HOME": XDG, "HOME": TMP, "NO_COLOR": "",
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0"})


class Result:
    def __init__(self, p):
        self.rc, self.out, self.err = p.returncode, p.stdout, p.stderr

    def json(self):
        return json.loads(self.out)

    def lines(self):
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


def ctl(*args, context=None, stdin=None, env=None, rc=0):
    """Runs tallinnctl; checks the exit status (never a signal)."""
    argv = [CTL] + (["--context", context] if context else []) + list(args)
    e = dict(ENV)
    if env:
        e.update(env)
    p = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=e, timeout=60)
    r = Result(p)
    assert p.returncode >= 0, "killed by signal %d: %s\n%s" % (-p.returncode, argv, p.stderr)
    if rc is not None:
        assert p.returncode == rc, "%s: exit %d, wanted %d\nstdout: %s\nstderr: %s" % (
            " ".join(argv), p.returncode, rc, p.stdout, p.stderr)
    return r


def one_line_error(r, *needles):
    """stderr is one line starting with 'tallinnctl: ' holding each needle."""
    lines = r.err.splitlines()
    assert len(lines) == 1, "wanted one line on stderr, got:\n" + r.err
    assert lines[0].startswith("tallinnctl: "), lines[0]
    for n in needles:
        assert n in lines[0], "%r not in %r" % (n, lines[0])


def table(r):
    """Rows of an aligned table as lists of cells split on 2+ spaces."""
    lines = [line for line in r.out.splitlines() if line.strip()]
    return [re.split(r"\s{2,}", line.strip()) for line in lines]


srv = harness.Tallinnd(TALLINND)
cases = harness.Cases()
state = {}


def write_token(name, token):
    path = os.path.join(TMP, name + ".token")
    with open(path, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return path


def write_config(contexts, default):
    os.makedirs(os.path.join(XDG, "tallinn"), exist_ok=True)
    with open(os.path.join(XDG, "tallinn", "config"), "w") as f:
        f.write("context = %s          # before any section: the default context\n" % default)
        for name, token_file in contexts.items():
            f.write("\n[%s]\naddr = %s\ninsecure = true\ntoken-file = %s\n"
                    % (name, srv.addr, token_file))


CONTEXTS = {"admin": write_token("admin", srv.admin_token)}
for pid, role in (("warsaw", "BACK_OFFICE"), ("kyiv", "FRONT_OFFICE"),
                  ("coordination", "COORDINATOR"), ("audit", "AUDITOR")):
    CONTEXTS[pid] = write_token(pid, srv.create_principal(pid, role))
write_config(CONTEXTS, "warsaw")

COMMANDS = [
    "donors list", "donors get", "donors create", "donors update",
    "pledges list", "pledges get", "pledges create", "pledges update",
    "needs list", "needs get", "needs create", "needs update", "needs submit", "needs validate",
    "needs return", "needs reject", "needs route", "needs hold", "needs resume", "needs cancel",
    "needs close", "matches list", "matches get", "matches propose", "matches approve",
    "matches decline", "matches withdraw", "matches start-delivery", "matches delivered",
    "matches accept", "matches reject-delivery", "suggest", "report coverage",
    "principals list", "principals get", "principals create", "principals disable",
    "principals rotate-token", "audit key", "audit checkpoint", "audit proof", "audit export",
    "health", "version", "whoami", "config get-contexts", "config use-context",
    "config set-context", "rates list", "rates get", "rates create", "rates delete",
    "export csv", "export iati",
]


def t_help():
    top = ctl("--help")
    for noun in ("needs", "donors", "pledges", "matches", "principals", "audit", "report",
                 "config", "export"):
        assert "  %s " % noun in top.out, noun
    for c in COMMANDS:
        r = ctl(*c.split(), "--help")
        assert r.out.startswith("Usage: tallinnctl " + c), r.out[:80]
        assert "Examples:\n" in r.out and "\n  tallinnctl " in r.out, c
    assert "Commands:" in ctl("needs", "--help").out
    man = ctl("help", "--man").out
    assert ".SH EXIT STATUS" in man and "needs reject\\-delivery" not in man
    assert "matches reject\\-delivery" in man
    assert "__complete" in ctl("completion", "bash").out
    assert ctl("__complete", "matches", "reject").out.startswith("reject-delivery\t")
    assert ctl("__complete", "needs", "create", "--estimated").out.startswith("--estimated-cost\t")


def t_donors_and_pledges():
    ctl("donors", "create", "--id", "estonia", "--display-name", "Estonia", "--kind", "state",
        "--country-code", "EE", "--membership", "MEMBER", "--capabilities",
        "INCIDENT_RESPONSE,endpoint_protection")
    ctl("donors", "create", "-f", "-", "--id", "latvia", stdin=json.dumps(
        {"displayName": "Latvia", "kind": "KIND_STATE", "country_code": "LV",
         "membership": "MEMBERSHIP_MEMBER"}))
    rows = table(ctl("donors", "list"))
    assert rows[0][:3] == ["NAME", "DISPLAY NAME", "KIND"], rows[0]
    assert ["donors/estonia", "Estonia", "STATE", "EE", "MEMBER"] in rows, rows
    assert ctl("donors", "list", "-o", "name").out == "donors/estonia\ndonors/latvia\n"
    js = ctl("donors", "list", "-o", "json", "--filter", "country_code = \"LV\"").lines()
    assert [d["displayName"] for d in js] == ["Latvia"], js
    d = ctl("donors", "get", "donors/estonia", "-o", "json").json()
    assert d["capabilities"] == ["CATEGORY_INCIDENT_RESPONSE", "CATEGORY_ENDPOINT_PROTECTION"]
    ctl("pledges", "create", "estonia", "--id", "fy2025", "--amount", "EUR 500,000",
        "--fiscal-year", "2025", "--state", "COMMITTED")
    ctl("pledges", "create", "latvia", "--id", "fy2025", "--amount", "300000",
        "--fiscal-year", "2025", "--source", "development budget")
    ctl("pledges", "update", "latvia", "fy2025", "--state", "COMMITTED")
    view = ctl("pledges", "get", "donors/estonia/pledges/fy2025").out
    assert re.search(r"^Amount: +EUR 500,000\.00$", view, re.M), view
    rows = table(ctl("pledges", "list"))
    assert rows[0][0] == "NAME" and len(rows) == 3, rows
    assert ctl("pledges", "list", "latvia", "-o", "name").out == "donors/latvia/pledges/fy2025\n"
    # the donors' own principals, made through the CLI by the admin context
    for donor in ("estonia", "latvia"):
        path = os.path.join(TMP, donor + ".token")
        r = ctl("principals", "create", "--id", donor, "--display-name", donor, "--role",
                "donor", "--donor", donor, "--save-token", path, context="admin")
        assert "saved to" in r.out and srv.admin_token not in r.out + r.err
        assert os.stat(path).st_mode & 0o777 == 0o600
        CONTEXTS[donor] = path
    write_config(CONTEXTS, "warsaw")
    rows = table(ctl("principals", "list", context="admin"))
    assert any(r[0] == "principals/estonia" and "DONOR" in r for r in rows), rows


NEED = ["--title", "EDR for Kharkiv DSO", "--description", "EDR licences for 400 endpoints",
        "--beneficiary", "Kharkivoblenergo", "--region", "Kharkiv Oblast", "--sector", "ENERGY",
        "--category", "ENDPOINT_PROTECTION", "--priority", "HIGH", "--domain", "CIVILIAN",
        "--estimated-cost", "EUR 100,000"]


def t_need_to_fulfilled():
    r = ctl("needs", "create", "--id", "kharkiv-edr", *NEED, context="kyiv")
    assert re.search(r"^State: +DRAFT$", r.out, re.M), r.out
    ctl("needs", "submit", "kharkiv-edr", context="kyiv")
    n = ctl("needs", "validate", "needs/kharkiv-edr", "-o", "json").json()
    assert n["state"] == "STATE_OPEN" and n["estimatedCost"]["units"] == "100000", n
    # a refused transition: one line naming the state, exit 6
    r = ctl("needs", "submit", "kharkiv-edr", context="kyiv", rc=6)
    one_line_error(r, "OPEN", "FAILED_PRECONDITION")
    # a role that may not: exit 5
    one_line_error(ctl("needs", "validate", "kharkiv-edr", context="kyiv", rc=5),
                   "PERMISSION_DENIED")
    sug = table(ctl("suggest", "kharkiv-edr"))
    assert sug[0][0] == "DONOR" and any(row[0] == "donors/estonia" for row in sug), sug
    ctl("matches", "propose", "--id", "m-ee", "--need", "kharkiv-edr", "--donor", "estonia",
        "--pledge", "fy2025", "--amount", "60000", "--description", "EDR licences, part one")
    # A DONOR sees only its own matches, so it may not choose an id: the
    # server picks one, and a request id makes the retry safe.
    propose = ("matches", "propose", "--need", "kharkiv-edr", "--donor", "latvia",
               "--pledge", "donors/latvia/pledges/fy2025", "--amount", "EUR 40,000",
               "--description", "EDR licences, part two", "--request-id",
               "6a0d9d8e-3c1b-4b8f-9a57-2f0e8c6d1b42", "-o", "json")
    m_lv = ctl(*propose, context="latvia").json()["name"].split("/")[1]
    assert ctl(*propose, context="latvia").json()["name"] == "matches/" + m_lv
    ctl("matches", "propose", "--id", "m-lv", *propose[2:-4], context="latvia", rc=6)
    for m in ("m-ee", m_lv):
        ctl("matches", "approve", m, context="coordination")
    rows = table(ctl("matches", "list", "--filter", 'need = "needs/kharkiv-edr"'))
    assert [r[4] for r in rows[1:]] == ["APPROVED", "APPROVED"], rows
    assert ["EUR 60,000.00", "EUR 40,000.00"] == [r[3] for r in rows[1:]], rows
    for donor, m in (("estonia", "m-ee"), ("latvia", m_lv)):
        ctl("matches", "start-delivery", m, context=donor)
        ctl("matches", "delivered", m, context=donor)
    ctl("matches", "accept", "m-ee", context="kyiv")
    r = ctl("matches", "reject-delivery", m_lv, "--reason", "40 licences missing",
            context="kyiv", rc=0)
    assert re.search(r"^State: +IN_DELIVERY$", r.out, re.M), r.out
    ctl("matches", "delivered", m_lv, context="latvia")
    ctl("matches", "accept", "matches/" + m_lv, context="kyiv")
    view = ctl("needs", "get", "kharkiv-edr").out
    assert re.search(r"^State: +FULFILLED$", view, re.M), view
    assert re.search(r"^Delivered amount: +EUR 100,000\.00$", view, re.M), view
    rep = ctl("report", "coverage").out
    assert re.search(r"^TOTAL +1 +EUR 100,000\.00 +EUR 100,000\.00 +100\.00% +EUR 100,000\.00 "
                     r"+100\.00%", rep, re.M), rep
    rj = ctl("report", "coverage", "-o", "json").json()
    assert rj["total"]["delivered"]["units"] == "100000", rj
    assert "\x1b[" not in view + rep  # no colour when not a terminal


def t_round_trip():
    ctl("needs", "create", "--id", "odesa-ddos", *NEED[:-2], "--estimated-cost", "75000.5",
        "--needed-by", "2030-06-30", context="kyiv")
    before = ctl("needs", "get", "odesa-ddos", "-o", "json", context="kyiv").out
    r = ctl("needs", "update", "odesa-ddos", "-f", "-", "-o", "json", stdin=before,
            context="kyiv")
    assert "no changes" in r.err and json.loads(r.out) == json.loads(before)
    after = ctl("needs", "get", "odesa-ddos", "-o", "json", context="kyiv").json()
    b = json.loads(before)
    assert after["etag"] == b["etag"] and after["updateTime"] == b["updateTime"], (b, after)
    assert after["neededBy"] == {"year": 2030, "month": 6, "day": 30}
    # a real change through JSON: only that field changes, the etag moves on
    edited = dict(b, priority="PRIORITY_CRITICAL")
    r = ctl("needs", "update", "odesa-ddos", "-f", "-", "-o", "json", stdin=json.dumps(edited),
            context="kyiv")
    new = r.json()
    assert new["priority"] == "PRIORITY_CRITICAL" and new["etag"] != b["etag"]
    assert {k: v for k, v in new.items() if k not in ("priority", "etag", "updateTime")} == \
        {k: v for k, v in b.items() if k not in ("priority", "etag", "updateTime")}
    # the old document again: someone changed it since; nothing is written
    r = ctl("needs", "update", "odesa-ddos", "-f", "-", stdin=json.dumps(edited),
            context="kyiv", rc=7)
    one_line_error(r, "needs/odesa-ddos changed since you read it")
    # flags: only the flag's field
    r = ctl("needs", "update", "odesa-ddos", "--region", "Odesa Oblast", "-o", "json",
            context="kyiv")
    assert r.json()["region"] == "Odesa Oblast"
    # donors too
    d = ctl("donors", "get", "estonia", "-o", "json").out
    r = ctl("donors", "update", "estonia", "-f", "-", stdin=d)
    assert "no changes" in r.err
    assert ctl("donors", "get", "estonia", "-o", "json").json()["etag"] == json.loads(d)["etag"]
    one_line_error(ctl("donors", "update", "estonia", "-f", "-", rc=2,
                       stdin=json.dumps(dict(json.loads(d), kind="KIND_NGO"))),
                   "kind cannot be changed")


def t_bad_input():
    one_line_error(ctl("needs", "list", "--colour", rc=2), "unknown option --colour")
    one_line_error(ctl("needs", "create", "--title", "x", context="kyiv", rc=2),
                   "missing required", "--estimated-cost")
    one_line_error(ctl("needs", "create", "-f", "-", stdin='{"title": "x",', context="kyiv",
                       rc=2), "malformed JSON")
    one_line_error(ctl("needs", "create", "-f", "-", stdin='{"colour": "red"}', context="kyiv",
                       rc=2), "unknown field \"colour\"")
    one_line_error(ctl("needs", "create", *NEED[:-1], "a lot", context="kyiv", rc=2),
                   "--estimated-cost", "not an amount")
    one_line_error(ctl("needs", "create", *NEED[:9], "ENERGIE", *NEED[10:], context="kyiv",
                       rc=2), "--sector", "is not one of")
    one_line_error(ctl("--addr", "127.0.0.1:1", "needs", "list", rc=3), "cannot reach")
    one_line_error(ctl("--deadline", "1ms", "needs", "list", rc=3), "DEADLINE_EXCEEDED")
    one_line_error(ctl("--context", "nowhere", "needs", "list", rc=2), "no context \"nowhere\"")
    one_line_error(ctl("needs", "get", "donors/estonia", rc=2), "not a name in needs")
    one_line_error(ctl("needs", "get", "no-such-need", rc=4), "NOT_FOUND")
    one_line_error(ctl("needs", "reject", "kharkiv-edr", rc=2), "--reason")
    # the server's field violations: the cause, then one line each
    r = ctl("needs", "create", *NEED[:-1], "USD 5", context="kyiv", rc=6)
    lines = r.err.splitlines()
    assert lines[0].startswith("tallinnctl: create need: ") and "INVALID_ARGUMENT" in lines[0]
    assert len(lines) >= 2 and all(line.startswith("  ") for line in lines[1:]), r.err
    one_line_error(ctl("needs", "list", env={"TALLINN_TOKEN": "tln_wrong"}, rc=5),
                   "UNAUTHENTICATED")
    assert "tln_wrong" not in ctl("needs", "list", env={"TALLINN_TOKEN": "tln_wrong"},
                                  rc=5).err


def t_currencies():
    """Rates, a USD pledge and match, the report's options (issue 14)."""
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    r = ctl("rates", "create", "--currency-code", "USD", "--rate", "1.0850", "--rate-date", today,
            "--source", "ECB euro reference rate", "-o", "name")
    assert r.out == "exchangeRates/usd-%s\n" % today, r.out
    rows = table(ctl("rates", "list"))
    assert rows[0][:4] == ["NAME", "CURRENCY", "RATE", "DATE"], rows[0]
    assert rows[1][:3] == ["exchangeRates/usd-" + today, "USD", "1.0850"], rows
    assert "1.0850" in ctl("rates", "get", "usd-" + today).out
    # A rate of zero: the server's violation, one line each; exit 6.
    r = ctl("rates", "create", "--currency-code", "GBP", "--rate", "0", "--rate-date", today,
            "--source", "x", rc=6)
    assert "INVALID_ARGUMENT" in r.err and "exchange_rate.rate" in r.err, r.err
    # A USD pledge: USD 1,000,000.50 / 1.0850 = EUR 921,659.447... -> 921,659.45
    view = ctl("pledges", "create", "estonia", "--id", "usd-2025", "--amount",
               "USD 1,000,000.50", "--fiscal-year", "2025", "--state", "COMMITTED").out
    assert re.search(r"^Amount: +USD 1,000,000\.50$", view, re.M), view
    assert re.search(r"^Accounting amount: +EUR 921,659\.45$", view, re.M), view
    # An unknown currency; more decimals than KWD has (three): refused by
    # tallinnctl before anything is sent (exit 2), and, given as JSON (which
    # tallinnctl passes on as it is), by the server on pledge.amount (exit 6).
    for amount, says in (("ABC 5", "ABC is not an ISO 4217 currency code"),
                         ("KWD 1.0005", "KWD has 3 decimal places (ISO 4217), not 4")):
        one_line_error(ctl("pledges", "create", "latvia", "--amount", amount, "--fiscal-year",
                           "2025", rc=2), "--amount", says)
    for units, nanos, code in (("5", 0, "ABC"), ("1", 500000, "KWD")):
        r = ctl("pledges", "create", "latvia", "--fiscal-year", "2025", "-f", "-", rc=6,
                stdin=json.dumps({"amount": {"currencyCode": code, "units": units,
                                             "nanos": nanos}}))
        assert "INVALID_ARGUMENT" in r.err and "pledge.amount" in r.err, r.err
    # No kept NOK rate: FAILED_PRECONDITION naming it and the day.
    one_line_error(ctl("pledges", "create", "latvia", "--amount", "NOK 100", "--fiscal-year",
                       "2025", rc=6), "FAILED_PRECONDITION", "NOK", today)
    ctl("needs", "create", "--id", "lviv-soc", *NEED[:6], "--region", "Lviv Oblast",
        *NEED[8:], context="kyiv")
    ctl("needs", "submit", "lviv-soc", context="kyiv")
    ctl("needs", "validate", "lviv-soc")
    # USD 1,085.00 / 1.0850 = EUR 1,000.00
    ctl("matches", "propose", "--id", "m-usd", "--need", "lviv-soc", "--donor", "estonia",
        "--pledge", "usd-2025", "--amount", "USD 1,085", "--description", "SOC for a month")
    m = ctl("matches", "approve", "m-usd", "-o", "json", context="coordination").json()
    assert m["accountingAmount"] == {"currencyCode": "EUR", "units": "1000"}, m
    assert m["valueFixed"] and m["exchangeRate"]["rate"] == "1.0850", m
    # The rate a decision rests on stays.
    one_line_error(ctl("rates", "delete", "usd-" + today, rc=6), "FAILED_PRECONDITION", "used")
    rep = ctl("report", "coverage", "--region", "Lviv Oblast", "--start-date", today,
              "--end-date", today).out
    assert re.search(r"^TOTAL +1 +EUR 100,000\.00 +EUR 1,000\.00 +1\.00% ", rep, re.M), rep
    assert "By region" in rep and "Lviv Oblast" in rep and "Kharkiv" not in rep, rep
    assert re.search(r"^USD +pledged USD 1,000,000\.50 = EUR 921,659\.45; committed "
                     r"USD 1,085\.00 = EUR 1,000\.00", rep, re.M), rep
    rj = ctl("report", "coverage", "--fiscal-year", "2025", "-o", "json").json()
    assert [y["fiscalYear"] for y in rj["byFiscalYear"]] == [2025], rj["byFiscalYear"]
    # A donor gets its statement, and may not narrow by fiscal year.
    mine = ctl("report", "coverage", context="estonia").out
    assert "Your pledges (donors/estonia)" in mine and "donors/estonia/pledges/usd-2025" in mine
    r = ctl("report", "coverage", "--fiscal-year", "2025", context="estonia", rc=6)
    assert "fiscal_year" in r.err, r.err
    r = ctl("report", "coverage", "--start-date", "2025-13-01", rc=6)
    assert "INVALID_ARGUMENT" in r.err and "start_date: not a calendar date" in r.err, r.err
    one_line_error(ctl("report", "coverage", "--end-date", "yesterday", rc=2), "--end-date")


def t_precedence():
    # flags > environment > config file
    ctl("needs", "list", env={"TALLINN_ADDR": "127.0.0.1:1"}, rc=3)
    ctl("--addr", srv.addr, "needs", "list", "-o", "name", env={"TALLINN_ADDR": "127.0.0.1:1"})
    ctl("principals", "list", rc=5)  # the default context is BACK_OFFICE
    ctl("principals", "list", env={"TALLINN_TOKEN_FILE": CONTEXTS["admin"]})
    ctl("--token-file", CONTEXTS["warsaw"], "principals", "list",
        env={"TALLINN_TOKEN_FILE": CONTEXTS["admin"]}, rc=5)
    assert len(ctl("needs", "list", "--limit", "1", "-o", "name").out.splitlines()) == 1


def t_version_and_audit():
    v = ctl("version").out
    assert v.startswith("client: ") and "server: 0." in v and "EUR" in v, v
    r = ctl("audit", "checkpoint", context="audit")
    assert r.out.splitlines()[1].isdigit(), r.out
    out = os.path.join(TMP, "auditlog")
    ctl("audit", "export", out, context="audit")
    ctl("audit", "export", out, context="audit")  # again: resumes, nothing to add
    assert os.path.exists(os.path.join(out, "checkpoint"))
    # the export verifies with tallinn-audit and the key the server printed
    key = [l.split("audit_key=")[1].split()[0] for l in srv.log if "audit_key=" in l][0]
    audit_bin = os.path.join(os.path.dirname(CTL), "tallinn-audit")
    p = subprocess.run([audit_bin, "verify", out, "--key", key], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr


cases.run("help for every command", t_help)
cases.run("donors and pledges", t_donors_and_pledges)
cases.run("need from DRAFT to FULFILLED", t_need_to_fulfilled)
cases.run("get -o json | update -f -", t_round_trip)
cases.run("bad input", t_bad_input)
cases.run("currencies, rates and report options", t_currencies)
cases.run("flags > environment > config", t_precedence)
cases.run("version and audit", t_version_and_audit)
srv.stop()
cases.finish()
