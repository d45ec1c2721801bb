"""integration.ctl_staff: what staff reach for at the command line, against a
real tallinnd (issue 13, "Staff at the CLI"): the config file's contexts
made, listed and switched by tallinnctl itself (comments kept, mode 0600),
whoami per role, --version and version, "did you mean", -o csv and
--no-headers (parsed as RFC 4180), the pager on a terminal only, audit key,
strict money input, tables measured in display columns, one line for a
filter error, server hints naming what staff type, and tallinn-audit on the
same contexts with its exit statuses (2 usage, 3 could not reach, 5 refused).

Usage: ctl_staff_test.py TALLINND TALLINNCTL TALLINN-AUDIT"""
import csv
import datetime
import io
import json
import os
import pty
import re
import select
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TALLINND, CTL, AUDIT = sys.argv[1], sys.argv[2], sys.argv[3]
TMP = tempfile.mkdtemp(prefix="tallinnctl-staff-")
XDG = os.path.join(TMP, "xdg")
CONFIG = os.path.join(XDG, "tallinn", "config")
ENV = {k: v for k, v in os.environ.items() if not k.startswith("TALLINN_")}
ENV.update({"XDG_CONFIG_HOME": XDG, "HOME": TMP, "NO_COLOR": "", "PAGER": "cat",
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0"})


class Result:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err


def run(binary, *args, env=None, rc=0, cwd=None, stdin=None):
    e = dict(ENV)
    e.update(env or {})
    p = subprocess.run([binary] + list(args), capture_output=True, text=True, env=e, cwd=cwd,
                       input=stdin, timeout=60)
    assert p.returncode >= 0, "killed by signal %d: %s\n%s" % (-p.returncode, args, p.stderr)
    assert not re.search(r"Sanitizer|runtime error", p.stderr), p.stderr
    if rc is not None:
        assert p.returncode == rc, "%s: exit %d, wanted %d\nstdout: %s\nstderr: %s" % (
            " ".join(args), p.returncode, rc, p.stdout, p.stderr)
    return Result(p.returncode, p.stdout, p.stderr)


def ctl(*args, context=None, **kw):
    return run(CTL, *((["--context", context] if context else []) + list(args)), **kw)


def audit(*args, **kw):
    return run(AUDIT, *args, **kw)


def raw_out(*args):
    """tallinnctl's stdout as bytes (text mode would turn CRLF into LF)."""
    p = subprocess.run([CTL] + list(args), capture_output=True, env=ENV, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def one_line(r, *needles):
    lines = r.err.splitlines()
    assert len(lines) == 1, "wanted one line on stderr, got:\n" + r.err
    for n in needles:
        assert n in lines[0], "%r not in %r" % (n, lines[0])


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "127.0.0.1:%d" % port


def width(s):
    """Terminal columns: East Asian wide 2, combining marks 0."""
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


srv = harness.Tallinnd(TALLINND)
KEY = [ln.split("audit_key=")[1].split()[0] for ln in srv.log if "audit_key=" in ln][0]
cases = harness.Cases()
TOKENS = {}


def token_file(name, token):
    path = os.path.join(TMP, name + ".token")
    with open(path, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    TOKENS[name] = path
    return path


token_file("admin", srv.admin_token)
for pid, role in (("warsaw", "BACK_OFFICE"), ("kyiv", "FRONT_OFFICE"),
                  ("coordination", "COORDINATOR"), ("audit", "AUDITOR"),
                  ("observer", "OBSERVER")):
    token_file(pid, srv.create_principal(pid, role))


def t_contexts():
    r = ctl("config", "get-contexts")
    assert r.out == "" and "No contexts: there is no config file" in r.err, r.err
    # the first context, from the connection options on the line
    r = ctl("config", "set-context", "warsaw", "--addr", srv.addr, "--insecure", "--token-file",
            TOKENS["warsaw"])
    assert 'Context "warsaw" created in %s' % CONFIG in r.out, r.out
    assert stat.S_IMODE(os.stat(CONFIG).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(CONFIG)).st_mode) == 0o700
    ctl("config", "use-context", "warsaw")
    # someone's own comments, which every later edit must keep
    with open(CONFIG) as f:
        text = f.read()
    with open(CONFIG, "w") as f:
        f.write("# my servers\n" + text.replace("[warsaw]\n", "# Warsaw back office\n[warsaw]\n"))
    # a relative token file is stored absolute (the file reads paths relative to itself)
    for name in ("kyiv", "coordination", "audit", "observer", "admin"):
        ctl("config", "set-context", name, "--addr", srv.addr, "--insecure", "--token-file",
            os.path.basename(TOKENS[name]), cwd=TMP)
    with open(CONFIG) as f:
        text = f.read()
    assert text.startswith("# my servers\ncontext = warsaw\n"), text
    assert "# Warsaw back office\n[warsaw]\n" in text, text
    assert "token-file = %s\n" % TOKENS["kyiv"] in text, text
    # the table: * marks the one in use; --context and TALLINN_CONTEXT move it
    rows = [re.split(r"\s{2,}", ln.strip()) for ln in ctl("config", "get-contexts").out.splitlines()]
    assert rows[0] == ["CURRENT", "NAME", "ADDR", "CREDENTIALS", "TLS"], rows
    assert rows[1] == ["*", "warsaw", srv.addr, "token-file " + TOKENS["warsaw"],
                       "none (insecure)"], rows
    assert [r[0] for r in rows[2:]] == ["kyiv", "coordination", "audit", "observer", "admin"]
    names = ctl("config", "get-contexts", "-o", "name").out.split()
    assert names == ["warsaw", "kyiv", "coordination", "audit", "observer", "admin"], names
    assert re.search(r"^\* +kyiv ", ctl("config", "get-contexts",
                                       env={"TALLINN_CONTEXT": "kyiv"}).out, re.M)
    # a token kept in the file is never shown
    ctl("config", "set-context", "scratch", "--addr", "10.0.0.5:50051,10.0.0.6:50051",
        "--token", "tln_secret_value")
    js = [json.loads(ln) for ln in ctl("config", "get-contexts", "-o", "json").out.splitlines()]
    scratch = [j for j in js if j["name"] == "scratch"][0]
    assert scratch == {"name": "scratch", "current": False,
                       "addr": "10.0.0.5:50051,10.0.0.6:50051", "token": "(set)"}, scratch
    for fmt in ("text", "json", "csv", "name"):
        assert "tln_secret_value" not in ctl("config", "get-contexts", "-o", fmt).out
    # a TLS option drops insecure; a token file drops the token
    ca = os.path.join(TMP, "ca.pem")
    open(ca, "w").close()
    ctl("config", "set-context", "scratch", "--ca", ca, "--token-file", TOKENS["warsaw"])
    with open(CONFIG) as f:
        text = f.read()
    section = text.split("[scratch]\n")[1]
    assert "ca = %s\n" % ca in section and "token = " not in section, section
    assert 'Context "scratch" changed' in ctl("config", "set-context", "scratch", "--insecure").out
    with open(CONFIG) as f:
        section = f.read().split("[scratch]\n")[1]
    assert "insecure = true" in section and "ca = " not in section, section
    # refusals: one line, exit 2, nothing written
    with open(CONFIG) as f:
        before = f.read()
    one_line(ctl("config", "use-context", "kyvi", rc=2), 'no context "kyvi"',
             'did you mean "kyiv"?')
    one_line(ctl("config", "set-context", "new", "--insecure", rc=2), "needs --addr")
    one_line(ctl("config", "set-context", "bad name", "--addr", srv.addr, rc=2),
             "not a context name")
    one_line(ctl("config", "set-context", "scratch", "--insecure", "--ca", ca, rc=2),
             "cannot be combined")
    one_line(ctl("config", "set-context", "scratch", rc=2), "nothing to set")
    one_line(ctl("--context", "warsw", "needs", "list", rc=2), 'did you mean "warsaw"?')
    with open(CONFIG) as f:
        assert f.read() == before
    # the context names complete, for --context and for config's commands
    got = ctl("__complete", "config", "use-context", "").out.splitlines()
    assert [g.split("\t")[0] for g in got] == names + ["scratch"], got
    verbs = [g.split("\t")[0] for g in ctl("__complete", "config", "").out.splitlines()]
    assert verbs == ["get-contexts", "use-context", "set-context"], verbs
    assert "csv" in ctl("__complete", "-o", "").out.split()


def t_whoami():
    for context, role in (("warsaw", "BACK_OFFICE"), ("kyiv", "FRONT_OFFICE"),
                          ("audit", "AUDITOR"), ("admin", "ADMIN"), ("observer", "OBSERVER")):
        out = ctl("whoami", context=context).out
        principal = "principals/" + context
        assert re.search(r"^Principal: +%s$" % principal, out, re.M), out
        assert re.search(r"^Role: +%s$" % role, out, re.M), out
        assert re.search(r"^Context: +%s \(%s\)$" % (context, re.escape(CONFIG)), out, re.M), out
        assert re.search(r"^Server: +%s$" % srv.addr, out, re.M), out
        assert "Donor:" not in out
    # a DONOR and its donor, as JSON; the default context when none is named
    ctl("donors", "create", "--id", "estonia", "--display-name", "Estonia", "--kind", "STATE",
        "--country-code", "EE", "--membership", "MEMBER")
    path = os.path.join(TMP, "estonia.token")
    ctl("principals", "create", "--id", "estonia", "--display-name", "Estonia (donor)", "--role",
        "DONOR", "--donor", "estonia", "--save-token", path, context="admin")
    ctl("config", "set-context", "estonia", "--addr", srv.addr, "--insecure", "--token-file",
        path)
    j = json.loads(ctl("whoami", "-o", "json", context="estonia").out)
    assert j == {"principal": "principals/estonia", "displayName": "Estonia (donor)",
                 "role": "ROLE_DONOR", "donor": "donors/estonia", "context": "estonia",
                 "configFile": CONFIG, "addr": srv.addr}, j
    assert "Principal:     principals/warsaw" in ctl("whoami").out
    # bad credentials: the refusal, then where they came from
    r = ctl("whoami", env={"TALLINN_TOKEN": "tln_wrong"}, rc=5)
    assert "UNAUTHENTICATED" in r.err and "context: warsaw" in r.err and "tln_wrong" not in r.err


def t_versions():
    assert ctl("--version").out == "tallinnctl 0.1.0\n"
    assert ctl("--version", "needs", "list").out == "tallinnctl 0.1.0\n"  # the client's alone
    out = ctl("version").out
    assert out == ("client: 0.1.0\nserver: 0.1.0 (%s)\naccounting currency: EUR\n"
                   "audit origin: vm/tallinn\n" % srv.addr), out
    j = json.loads(ctl("version", "-o", "json").out)
    assert j["client"] == j["server"] == "0.1.0" and j["auditOrigin"] == "vm/tallinn", j
    r = ctl("--addr", closed_port(), "version", rc=3)
    assert r.out == "client: 0.1.0\n" and "cannot reach" in r.err, (r.out, r.err)


def t_health():
    """health [SERVICE] as docs/tallinnctl.md says: the server, each served
    service (reflection too), NOT_FOUND for one it does not serve."""
    for args in ([], ["tallinn.v1.NeedService"], ["tallinn.v1.AuditService"],
                 ["grpc.reflection.v1.ServerReflection"]):
        assert ctl("health", *args).out == "SERVING\n", args
    assert json.loads(ctl("health", "tallinn.v1.NeedService", "-o", "json").out) == \
        {"status": "SERVING"}
    r = ctl("health", "tallinn.v1.Nope", rc=4)
    assert r.out == "" and r.err == ('tallinnctl: health check: unknown service '
                                     '"tallinn.v1.Nope" (NOT_FOUND)\n'), r.err


def t_did_you_mean():
    one_line(ctl("neds", "list", rc=2), 'unknown command "neds"', 'did you mean "needs"?')
    one_line(ctl("needs", "lsit", rc=2), 'did you mean "needs list"?')
    one_line(ctl("needs", "list", "--filtr", "x", rc=2), "unknown option --filtr",
             "did you mean --filter?")
    one_line(ctl("donors", "list", "--no-headres", rc=2), "did you mean --no-headers?")
    one_line(ctl("whoamo", rc=2), 'did you mean "whoami"?')
    one_line(ctl("help", "pledgs", rc=2), 'did you mean "pledges"?')
    one_line(ctl("config", "use-contxt", "x", rc=2), 'did you mean "config use-context"?')
    one_line(ctl("needs", "create", "--sector", "ENERGIE", context="kyiv", rc=2),
             "--sector", "is not one of", "(did you mean ENERGY?)")
    one_line(ctl("frobnicate", rc=2), 'unknown command "frobnicate"')
    assert "did you mean" not in ctl("frobnicate", rc=2).err


def t_csv_and_widths():
    # names that take other than one column per byte or per code point
    names = ["T\u00fcrkiye", "U\u0308berland", "\u65e5\u672c", 'Acme "Cyber", Ltd']
    for i, (name, cc) in enumerate(zip(names[:3], ("TR", "DE", "JP"))):
        ctl("donors", "create", "--id", "w%d" % i, "--display-name", name, "--kind", "STATE",
            "--country-code", cc, "--membership", "MEMBER")
    ctl("donors", "create", "--id", "acme", "--display-name", names[3], "--kind", "NGO",
        "--parent", "estonia", "--country-code", "EE", "--membership", "MEMBER")
    out = ctl("donors", "list").out
    lines = out.splitlines()
    kinds = [width(ln[:ln.index(k)]) for ln in lines
             for k in ("KIND", "STATE", "NGO") if re.search(r"  %s  " % k, ln)]
    assert len(kinds) == len(lines) and len(set(kinds)) == 1, (kinds, out)
    # CSV: RFC 4180 (CRLF, quotes doubled), UTF-8, one header row
    text = raw_out("donors", "list", "-o", "csv").decode("utf-8")
    assert text.count("\r\n") == len(names) + 2 and "\n" not in text.replace("\r\n", "")
    assert '"Acme ""Cyber"", Ltd"' in text, text
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["NAME", "DISPLAY NAME", "KIND", "COUNTRY", "MEMBERSHIP", "PARENT"]
    assert {r[1] for r in rows[1:]} == {"Estonia"} | set(names), rows
    assert ["donors/acme", names[3], "NGO", "EE", "MEMBER", "donors/estonia"] in rows
    bare = list(csv.reader(io.StringIO(ctl("donors", "list", "-o", "csv", "--no-headers").out,
                                       newline="")))
    assert bare == rows[1:], bare
    assert ctl("donors", "list", "--no-headers").out.splitlines()[0].startswith("donors/")
    # an empty list: the header row still
    empty = raw_out("matches", "list", "-o", "csv")
    assert empty == b"NAME,NEED,DONOR,AMOUNT,STATE,UPDATED,VALUE\r\n", empty
    # the report: display widths in text, one row per line in CSV
    rep = ctl("report", "coverage").out
    ends = [width(ln[:m.end(1)]) for ln in rep.splitlines()
            for m in [re.match(r"^.*?\s(\d+)  +EUR ", ln)] if m]
    assert len(ends) >= len(names) + 2 and len(set(ends)) == 1, (ends, rep)
    rows = list(csv.reader(io.StringIO(ctl("report", "coverage", "-o", "csv").out, newline="")))
    assert rows[0] == ["GROUP", "NAME", "NEEDS", "ESTIMATED", "COMMITTED", "COVERED",
                       "DELIVERED", "OF COST", "PLEDGED"], rows
    assert rows[1][:3] == ["total", "TOTAL", "0"] and ["donor", names[2]] in [r[:2] for r in rows]
    bare = list(csv.reader(io.StringIO(ctl("report", "coverage", "-o", "csv", "--no-headers").out,
                                       newline="")))
    assert bare == rows[1:], bare
    assert "NEEDS" in rep and "NEEDS" not in ctl("report", "coverage", "--no-headers").out
    # not a table: refused
    one_line(ctl("version", "-o", "csv", rc=2), "version has no -o csv output")
    one_line(ctl("whoami", "--no-headers", rc=2), "whoami prints no table")


def tty_run(args, env):
    """Runs tallinnctl with stdout on a pseudo-terminal; returns (exit, what
    the terminal got, stderr)."""
    master, slave = pty.openpty()
    e = dict(ENV)
    e.update(env)
    p = subprocess.Popen([CTL] + args, stdout=slave, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, env=e)
    os.close(slave)
    got, deadline = b"", time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not chunk:
                break
            got += chunk
        elif p.poll() is not None:
            break
    os.close(master)
    err = p.stderr.read().decode()
    return p.wait(timeout=30), got.decode(errors="replace"), err


def t_pager():
    paged = os.path.join(TMP, "paged")
    pager = {"PAGER": "cat > %s" % paged}
    rc, term, err = tty_run(["donors", "list"], pager)
    assert rc == 0 and err == "", err
    with open(paged) as f:
        assert "donors/estonia" in f.read()
    assert "donors/estonia" not in term, term
    os.unlink(paged)
    # never with --no-pager, never when stdout is not a terminal
    rc, term, err = tty_run(["donors", "list", "--no-pager"], pager)
    assert rc == 0 and "donors/estonia" in term and not os.path.exists(paged)
    assert "donors/estonia" in ctl("donors", "list", env=pager).out
    assert not os.path.exists(paged)
    # a pager quit before the end is no error
    rc, term, err = tty_run(["donors", "list"], {"PAGER": "head -c 10 >/dev/null"})
    assert rc == 0 and err == "", (rc, err)
    # single resources are not paged
    rc, term, err = tty_run(["donors", "get", "estonia"], pager)
    assert rc == 0 and "Estonia" in term and not os.path.exists(paged)


def t_audit_key():
    r = ctl("audit", "key")
    assert r.out == KEY + "\n", (r.out, KEY)
    assert "proves nothing" in r.err and "tallinnd init" in r.err, r.err
    j = json.loads(ctl("audit", "key", "-o", "json", context="kyiv").out)
    assert j == {"verifierKey": KEY, "origin": "vm/tallinn"}, j


NEED = ["--title", "EDR", "--description", "EDR licences", "--beneficiary", "Oblenergo",
        "--region", "Kharkiv Oblast", "--sector", "ENERGY", "--category",
        "ENDPOINT_PROTECTION", "--priority", "HIGH", "--domain", "CIVILIAN"]


def t_money_and_hints():
    for amount, says in (("EUR 1,0000", "a comma goes only between groups of three digits"),
                         ("EUR 0.001", "EUR has 2 decimal places (ISO 4217), not 3"),
                         ("JPY 10.5", "JPY has no decimal places"),
                         ("1.000,50", "unexpected"),
                         ("XYZ 5", "XYZ is not an ISO 4217 currency code")):
        one_line(ctl("needs", "create", *NEED, "--estimated-cost", amount, context="kyiv", rc=2),
                 "--estimated-cost", says, "write it as")
    n = json.loads(ctl("needs", "create", "--id", "exact", *NEED, "--estimated-cost",
                       "EUR 120,000.50", "-o", "json", context="kyiv").out)
    assert n["estimatedCost"] == {"currencyCode": "EUR", "units": "120000",
                                  "nanos": 500000000}, n
    # one line for a filter error (it was repeated as a field violation)
    one_line(ctl("needs", "list", "--filter", "state = BOGUS", rc=6), "BOGUS", "INVALID_ARGUMENT")
    # hints name what staff type
    ctl("needs", "create", "--id", "army", *NEED[:-1], "MILITARY", "--estimated-cost", "100",
        context="kyiv")
    ctl("needs", "submit", "army", context="kyiv")
    one_line(ctl("needs", "validate", "army", rc=6), "tallinnctl: needs route")
    # a command in the wrong state names the command with the RPC
    one_line(ctl("needs", "submit", "army", context="kyiv", rc=6),
             "needs/army is SUBMITTED; SubmitNeed (tallinnctl: needs submit) needs it DRAFT or "
             "RETURNED")
    ctl("needs", "create", "--id", "small", *NEED, "--estimated-cost", "EUR 100",
        context="kyiv")
    ctl("needs", "submit", "small", context="kyiv")
    ctl("needs", "validate", "small")
    ctl("pledges", "create", "estonia", "--id", "fy", "--amount", "EUR 1,000,000",
        "--fiscal-year", "2025", "--state", "COMMITTED")
    ctl("matches", "propose", "--id", "big", "--need", "small", "--donor", "estonia", "--pledge",
        "fy", "--amount", "EUR 150", "--description", "more than the cost")
    one_line(ctl("matches", "approve", "big", context="coordination", rc=6),
             "--allow-overfunding --reason")
    ctl("matches", "approve", "big", "--allow-overfunding", "--reason", "price rose",
        context="coordination")
    one_line(ctl("matches", "accept", "big", context="kyiv", rc=6),
             "matches/big is APPROVED; AcceptDelivery (tallinnctl: matches accept) needs it "
             "DELIVERED")
    rows = list(csv.reader(io.StringIO(ctl("suggest", "small", "-o", "csv").out, newline="")))
    assert rows[0][:3] == ["DONOR", "DISPLAY NAME", "SCORE"], rows


def t_money_output():
    """Amounts are shown with their currency's minor unit (JPY none, KWD
    three) in views, tables, CSV and the report; JSON keeps units and nanos."""
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    for code, rate in (("JPY", "160"), ("KWD", "0.3300")):
        ctl("rates", "create", "--currency-code", code, "--rate", rate, "--rate-date", today,
            "--source", "test rate")
    view = ctl("pledges", "create", "estonia", "--id", "yen", "--amount", "JPY 1,200,000",
               "--fiscal-year", "2025", "--state", "COMMITTED").out
    assert re.search(r"^Amount: +JPY 1,200,000$", view, re.M), view
    assert re.search(r"^Accounting amount: +EUR 7,500\.00$", view, re.M), view
    view = ctl("pledges", "create", "estonia", "--id", "dinar", "--amount", "KWD 5.25",
               "--fiscal-year", "2025", "--state", "COMMITTED").out
    assert re.search(r"^Amount: +KWD 5\.250$", view, re.M), view
    assert re.search(r"^Accounting amount: +EUR 15\.91$", view, re.M), view
    j = json.loads(ctl("pledges", "get", "estonia/pledges/dinar", "-o", "json").out)
    assert j["amount"] == {"currencyCode": "KWD", "units": "5", "nanos": 250000000}, j
    j = json.loads(ctl("pledges", "get", "estonia/pledges/yen", "-o", "json").out)
    assert j["amount"] == {"currencyCode": "JPY", "units": "1200000"}, j
    table = ctl("pledges", "list", "estonia").out
    assert re.search(r"/yen +JPY 1,200,000 ", table), table
    assert re.search(r"/dinar +KWD 5\.250 ", table), table
    rows = list(csv.reader(io.StringIO(ctl("pledges", "list", "estonia", "-o", "csv").out,
                                       newline="")))
    amounts = {r[0].rsplit("/", 1)[1]: r[1] for r in rows[1:]}
    assert amounts["yen"] == "JPY 1,200,000" and amounts["dinar"] == "KWD 5.250", amounts
    rep = ctl("report", "coverage").out
    assert re.search(r"^JPY +pledged JPY 1,200,000 = EUR 7,500\.00;", rep, re.M), rep
    assert re.search(r"^KWD +pledged KWD 5\.250 = EUR 15\.91;", rep, re.M), rep
    rows = list(csv.reader(io.StringIO(ctl("report", "coverage", "-o", "csv").out, newline="")))
    by = {(r[0], r[1]): r for r in rows}
    assert by[("currency", "JPY")][8] == "JPY 1,200,000", by[("currency", "JPY")]
    assert by[("currency in EUR", "KWD")][8] == "EUR 15.91", by[("currency in EUR", "KWD")]


def t_audit_contexts():
    state = os.path.join(TMP, "audit.state")
    r = audit("verify", "--context", "audit", "--key", KEY, "--state", state)
    assert "%s: verified" % srv.addr in r.out, r.out
    r = audit("show", "--from", "0", "--to", "1", "-o", "json", env={"TALLINN_CONTEXT": "audit"})
    assert [x["index"] for x in json.loads(r.out)] in (["0", "1"], [0, 1]), r.out
    text = audit("show", "--from", "0", "--to", "1", "-o", "text", "--context", "audit").out
    assert text == audit("show", "--from", "0", "--to", "1", "-o", "table", "--context",
                         "audit").out
    proof = os.path.join(TMP, "r1.tlog-proof")
    audit("prove", "1", "--context", "audit", "--key", KEY, "--proof-out", proof)
    with open(proof) as f:
        assert f.read().startswith("c2sp.org/tlog-proof@v1\nindex 1\n")
    # the default context is BACK_OFFICE: refused, exit 5 as in tallinnctl
    r = audit("verify", "--key", KEY, "--state", state + "2", rc=5)
    assert "the server refused" in r.err and "PERMISSION_DENIED" in r.err, r.err
    # no server there: 3, "could not reach", never "FAILED"
    for args, env in ((["--server", closed_port(), "--insecure", "--token-file",
                        TOKENS["audit"]], {}),
                      (["--context", "audit"], {"TALLINN_ADDR": closed_port()})):
        r = audit("verify", *args, "--key", KEY, "--state", state, env=env, rc=3)
        assert "could not reach" in r.err and "nothing was verified" in r.err, r.err
        assert "FAILED" not in r.err, r.err
    # usage errors: 2, as tallinnctl's
    r = audit("verify", "--context", "audti", "--key", KEY, rc=2)
    assert 'did you mean "audit"?' in r.err, r.err
    audit("check-proof", proof, rc=2)
    r = audit("prove", "1", "--context", "audit", "--key", KEY, "-o", proof, rc=2)
    assert "--proof-out" in r.err, r.err
    audit("show", TMP, "--context", "audit", rc=2)
    audit("show", "-o", "yaml", "--context", "audit", rc=2)
    audit("frobnicate", rc=2)
    # a path that is not there: a usage error (2) that says nothing was
    # verified, never a log or a proof that FAILED (1)
    missing = os.path.join(TMP, "no-such")
    wkey = audit("witness", "init", "--dir", os.path.join(TMP, "w"), "--name",
                 "example.org/w").out.strip()
    for args in (["verify", missing, "--key", KEY], ["show", missing],
                 ["prove", "1", missing, "--key", KEY], ["check-proof", missing, "--key", KEY],
                 ["check-proof", proof, "--key", KEY, "--entry", missing],
                 ["check-proof", TMP, "--key", KEY],
                 ["witness", "cosign", missing, "--key", KEY, "--witness",
                  "%s http://[::1]:1" % wkey]):
        r = audit(*args, rc=2)
        assert "cannot read" in r.err and "nothing was verified" in r.err, (args, r.err)
        assert "FAILED" not in r.err, (args, r.err)
    # every help says the exit statuses the tools use (SECURITY ERROR is 8)
    for cmd in (["--help"], ["verify", "--help"], ["check-proof", "--help"], ["prove", "--help"],
                ["show", "--help"], ["witness", "cosign", "--help"]):
        h = audit(*cmd).out
        said = re.findall(r"SECURITY\s+ERROR\s+\(exit\s+(\d+)", h)
        assert all(n == "8" for n in said), (cmd, said)
        assert "2 usage error" in h.replace("\n", " "), cmd
    # witness init and serve list their options
    for cmd, opts in ((["witness", "init"], ("--dir", "--name")),
                      (["witness", "serve"], ("--dir", "--listen", "--log", "--tls-cert",
                                              "--prefix"))):
        h = audit(*cmd, "--help").out
        assert "\nOptions:\n" in h and all("      %s " % o in h for o in opts), h


cases.run("config get-contexts, use-context, set-context", t_contexts)
cases.run("whoami per role", t_whoami)
cases.run("--version and version", t_versions)
cases.run("health SERVICE", t_health)
cases.run("did you mean", t_did_you_mean)
cases.run("-o csv, --no-headers, display widths", t_csv_and_widths)
cases.run("a pager on a terminal only", t_pager)
cases.run("audit key", t_audit_key)
cases.run("money input, one-line filter errors, hints", t_money_and_hints)
cases.run("money shown with the currency's minor unit", t_money_output)
cases.run("tallinn-audit on the same contexts", t_audit_contexts)
srv.stop()
cases.finish()
