"""tallinnd's Prometheus endpoint and its log lines (issue 13, Operators).
A server with --metrics-listen on a run-time loopback port takes calls that
succeed, calls refused by authz and validation, failed authentications (no
credentials, a wrong token) and a call to an unknown method; the scrapes
before and after must show exactly those counts moved, pass `promtool check
metrics`, and answer 404/405 off /metrics. The example alert rules in
docs/operations.md pass `promtool check rules`. Every log line (logfmt and
JSON) starts with an RFC 3339 UTC timestamp with milliseconds, --log-level
filters, and no form of any token reaches the log.
Run: /usr/bin/python3 metrics_test.py path/to/tallinnd"""
import base64
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BIN = sys.argv[1]
PROMTOOL = shutil.which("promtool")
principal_pb2, = harness.protos("tallinn/v1/principal.proto")
need_pb2, = harness.protos("tallinn/v1/need.proto")
TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
METRICS_PORT = re.compile(r"event=metrics_listening .*port=(\d+)")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(page):
    """{(name, frozenset(labels)): value}; every line is a comment or a sample."""
    out = {}
    family, kind, seen = None, None, set()
    for line in page.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            family, kind = line.split()[2:4]
            assert family not in seen, "family %s twice" % family
            seen.add(family)
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        # Samples follow their own family's TYPE line.
        names = [family] + ([family + s for s in ("_bucket", "_sum", "_count")]
                            if kind == "histogram" else [])
        assert m.group(1) in names, "%s outside its family (under %s)" % (m.group(1), family)
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def val(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def get(port, method="GET", path="/metrics"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path)
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r.status, r.getheader("Content-Type"), body


def scrape(port):
    status, ctype, body = get(port)
    assert status == 200, (status, body)
    assert ctype == "text/plain; version=0.0.4; charset=utf-8", ctype
    assert body.endswith("\n") and "# TYPE tallinn_rpc_calls_total counter" in body, body[:300]
    return body


def promtool_check(page):
    assert PROMTOOL, "promtool is missing: scripts/install-deps installs Debian's prometheus"
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=page, capture_output=True, text=True)
    assert r.returncode == 0, "promtool check metrics:\n" + r.stdout + r.stderr


def metrics_port(srv):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in list(srv.log):
            m = METRICS_PORT.search(line)
            if m:
                return int(m.group(1))
        time.sleep(0.05)
    raise AssertionError("no metrics_listening line:\n" + srv.text())


def stub(ch, method, req, resp):
    return ch.unary_unary(method, request_serializer=req.SerializeToString,
                          response_deserializer=resp.FromString)


def list_principals(ch):
    return stub(ch, "/tallinn.v1.PrincipalService/ListPrincipals",
                principal_pb2.ListPrincipalsRequest, principal_pb2.ListPrincipalsResponse)


LP = "/tallinn.v1.PrincipalService/ListPrincipals"
GP = "/tallinn.v1.PrincipalService/GetPrincipal"
LN = "/tallinn.v1.NeedService/ListNeeds"
WRONG_TOKEN = "tln_" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def test_metrics(srv):
    port = metrics_port(srv)
    before = parse(scrape(port))
    admin = harness.bearer(srv.admin_token)
    ch = grpc.insecure_channel(srv.addr)
    lp = list_principals(ch)
    for _ in range(3):
        lp(principal_pb2.ListPrincipalsRequest(), metadata=admin, timeout=10)
    # Refused: ADMIN may not read needs (audited: a write batch), a bad name.
    ln = stub(ch, LN, need_pb2.ListNeedsRequest, need_pb2.ListNeedsResponse)
    harness.expect_code(ln, grpc.StatusCode.PERMISSION_DENIED, need_pb2.ListNeedsRequest(),
                        metadata=admin, timeout=10)
    gp = stub(ch, GP, principal_pb2.GetPrincipalRequest, principal_pb2.Principal)
    harness.expect_code(gp, grpc.StatusCode.INVALID_ARGUMENT,
                        principal_pb2.GetPrincipalRequest(name="not a name"), metadata=admin,
                        timeout=10)
    # Failed authentications: none, and a wrong token.
    harness.expect_code(lp, grpc.StatusCode.UNAUTHENTICATED, principal_pb2.ListPrincipalsRequest(),
                        timeout=10)
    harness.expect_code(lp, grpc.StatusCode.UNAUTHENTICATED, principal_pb2.ListPrincipalsRequest(),
                        metadata=harness.bearer(WRONG_TOKEN), timeout=10)
    unknown = ch.unary_unary("/tallinn.v1.NoSuchService/Nothing")
    harness.expect_code(unknown, grpc.StatusCode.UNIMPLEMENTED, b"", timeout=10)
    # A write that commits: a principal (its token goes to the log test).
    srv.tokens = [srv.create_principal("metrics-bo", "BACK_OFFICE")]

    calls = "tallinn_rpc_calls_total"
    want = [((calls, (("method", LP), ("code", "OK"))), 3),
             ((calls, (("method", LP), ("code", "UNAUTHENTICATED"))), 2),
             ((calls, (("method", LN), ("code", "PERMISSION_DENIED"))), 1),
             ((calls, (("method", GP), ("code", "INVALID_ARGUMENT"))), 1),
             ((calls, (("method", ""), ("code", "UNIMPLEMENTED"))), 1),
             ((calls, (("method", "/tallinn.v1.PrincipalService/CreatePrincipal"),
                       ("code", "OK"))), 1)]
    # A call is counted where it ends, once its status is sent and the
    # client's close is back, so the last may trail its answer a little.
    deadline = time.monotonic() + 10
    while True:
        page = scrape(port)  # the channel is still open: a connection
        after = parse(page)
        if all(val(after, n, **dict(l)) - val(before, n, **dict(l)) >= w
               for (n, l), w in want) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    promtool_check(page)

    def delta(name, **labels):
        return val(after, name, **labels) - val(before, name, **labels)

    assert delta(calls, method=LP, code="OK") == 3, page
    assert delta(calls, method=LP, code="UNAUTHENTICATED") == 2
    assert delta(calls, method=LN, code="PERMISSION_DENIED") == 1
    assert delta(calls, method=GP, code="INVALID_ARGUMENT") == 1
    assert delta(calls, method="", code="UNIMPLEMENTED") == 1, "unknown methods: method=\"\""
    assert "NoSuchService" not in page, "a caller's method path must not become a label"
    assert delta(calls, method="/tallinn.v1.PrincipalService/CreatePrincipal", code="OK") == 1
    # The histogram counts every call of the method once.
    assert delta("tallinn_rpc_call_duration_seconds_count", method=LP) == 5
    assert val(after, "tallinn_rpc_call_duration_seconds_bucket", method=LP, le="+Inf") == \
        val(after, "tallinn_rpc_call_duration_seconds_count", method=LP)
    assert delta("tallinn_authn_failures_total", reason="no_credentials") == 1
    assert delta("tallinn_authn_failures_total", reason="invalid_token") == 1
    assert delta("tallinn_authn_failures_total", reason="throttled") == 0
    assert WRONG_TOKEN not in page and srv.admin_token not in page
    # The new principal: a committed batch with its audit record and a
    # checkpoint (refused reads are not audited).
    assert delta("tallinn_store_commit_batch_jobs_count") >= 1
    assert delta("tallinn_store_commit_duration_seconds_count") >= 1
    assert delta("tallinn_audit_log_size") >= 1, [l for l in page.splitlines() if "audit" in l]
    age = val(after, "tallinn_audit_checkpoint_age_seconds")
    assert 0 <= age < 60, age
    assert val(after, "tallinn_rpc_active_connections") >= 1, page
    assert ("tallinn_rpc_active_streams", frozenset()) in after
    ch.close()


def test_http_surface(srv):
    port = metrics_port(srv)
    assert get(port, path="/")[0] == 404
    assert get(port, path="/metrics/x")[0] == 404
    assert get(port, method="POST")[0] == 405
    assert get(port, method="DELETE")[0] == 405
    status, ctype, body = get(port, method="HEAD")
    assert status == 200 and body == "" and ctype.startswith("text/plain; version=0.0.4")


def test_refuses_remote(data):
    for argv, word in (
            (["--metrics-listen", "0.0.0.0:0"], "--metrics-allow-remote"),
            (["--metrics-listen", "8.8.8.8:9464"], "--metrics-allow-remote"),
            (["--metrics-listen", "nonsense"], "--metrics-listen"),
            (["--metrics-allow-remote"], "needs --metrics-listen")):
        r = subprocess.run([BIN, "--listen", "127.0.0.1:0", "--data-dir", data, "--insecure"] +
                           harness.database_args(data) + argv,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, (argv, r.returncode, r.stderr)
        assert word in r.stderr, (argv, r.stderr)
        assert "event=listening" not in r.stderr, "it must refuse before serving: %s" % r.stderr


def test_alert_rules():
    """The example rules in docs/operations.md are the file promtool checks."""
    rules = os.path.join(harness.REPO, "deploy", "prometheus", "tallinn-alerts.yml")
    with open(rules) as f:
        text = f.read()
    with open(os.path.join(harness.REPO, "docs", "operations.md")) as f:
        doc = f.read()
    assert "```yaml\n" + text + "```" in doc, "docs/operations.md must quote " + rules
    assert PROMTOOL, "promtool is missing: scripts/install-deps installs Debian's prometheus"
    r = subprocess.run([PROMTOOL, "check", "rules", rules], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    for alert in ("TallinnCheckpointStale", "TallinnErrorRate", "TallinnCommitLatency"):
        assert "alert: " + alert in text, alert
    # Each fires on the series that should trip it, for that instance only.
    cases = os.path.join(harness.REPO, "tests", "data", "prometheus", "tallinn-alerts-test.yml")
    r = subprocess.run([PROMTOOL, "test", "rules", cases], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def token_forms(token):
    body = token[len("tln_"):]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    return [token, body, raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode().rstrip("=")]


def check_lines(srv, parse_line):
    """Every line starts with its timestamp; no token in any form."""
    text = srv.text()
    assert text, "no log"
    for line in text.splitlines():
        ts = parse_line(line)
        assert TS.match(ts), "no RFC 3339 UTC ms timestamp: %r" % line
    for tok in [srv.admin_token, WRONG_TOKEN] + getattr(srv, "tokens", []):
        for form in token_forms(tok):
            assert form not in text, "a token form is in the log"


def logfmt_ts(line):
    assert line.startswith("ts="), "not a log line: %r" % line
    return line[3:].split(" ", 1)[0]


def json_ts(line):
    obj = json.loads(line)
    assert obj["level"] in ("debug", "info", "notice", "warn", "error") and obj["event"], line
    return obj["ts"]


def test_logs(srv):
    # The call lines carry the outcome, never the credentials.
    text = srv.text()
    assert re.search(r"event=call method=%s code=UNAUTHENTICATED " % re.escape(LP), text), text
    check_lines(srv, logfmt_ts)


def test_json_logs(data):
    srv = harness.Server([BIN, "--listen", "127.0.0.1:0", "--data-dir", data, "--insecure",
                          "--log-format", "json"] + harness.database_args(data),
                         r'"event":\s*"listening".*?"port":\s*(\d+)',
                         env={"GRPC_VERBOSITY": "info"})  # the core's own lines too
    srv.admin_token = harness_admin(data)
    try:
        ch = grpc.insecure_channel(srv.addr)
        lp = list_principals(ch)
        lp(principal_pb2.ListPrincipalsRequest(), metadata=harness.bearer(srv.admin_token),
           timeout=10)
        harness.expect_code(lp, grpc.StatusCode.UNAUTHENTICATED,
                            principal_pb2.ListPrincipalsRequest(),
                            metadata=harness.bearer(WRONG_TOKEN), timeout=10)
        ch.close()
    finally:
        assert srv.stop() == 0
    check_lines(srv, json_ts)
    events = [json.loads(line) for line in srv.text().splitlines()]
    calls = [e for e in events if e["event"] == "call"]
    assert {e["code"] for e in calls} >= {"OK", "UNAUTHENTICATED"}, calls
    assert all(isinstance(e["duration_ms"], (int, float)) for e in calls)
    assert any(e["event"] == "stopped" for e in events)
    assert any(e["event"] == "grpc" and e["file"] and e["msg"] for e in events), \
        "the gRPC core's lines are not routed through the log"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_at_level(data, level):
    """Starts tallinnd at --log-level LEVEL, makes one call, stops it: its
    stderr lines."""
    port = free_port()
    p = subprocess.Popen([BIN, "--listen", "127.0.0.1:%d" % port, "--data-dir", data,
                          "--insecure", "--log-level", level] + harness.database_args(data),
                         stderr=subprocess.PIPE, text=True)
    try:
        ch = grpc.insecure_channel("127.0.0.1:%d" % port)
        grpc.channel_ready_future(ch).result(timeout=20)
        list_principals(ch)(principal_pb2.ListPrincipalsRequest(),
                            metadata=harness.bearer(harness_admin(data)), timeout=10)
        ch.close()
    finally:
        p.terminate()
        _, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    return err.splitlines()


def test_log_level(data):
    """--log-level notice: the life cycle (listening, shutdown, stopped) and
    nothing below it (call lines are info); --log-level warn: nothing below
    warn."""
    lines = run_at_level(data, "notice")
    events = [re.search(r" event=(\S+)", line).group(1) for line in lines]
    for line in lines:
        assert re.search(r" level=(notice|warn|error) ", line), "below notice: %r" % line
    for ev in ("listening", "shutdown", "stopped"):
        assert ev in events, (ev, lines)
    assert "call" not in events, lines
    for line in run_at_level(data, "warn"):
        assert " level=warn " in line or " level=error " in line, "below warn: %r" % line
    r = subprocess.run([BIN, "--log-level", "loud"], capture_output=True, text=True)
    assert r.returncode == 2 and "event=usage" in r.stderr and \
        "debug, info, notice, warn or error" in r.stderr, r.stderr
    r = subprocess.run([BIN, "--threads", "lots", "--log-format", "json"], capture_output=True,
                       text=True)
    err = json.loads(r.stderr)  # one line, in the format asked for after the bad flag
    assert r.returncode == 2 and err["event"] == "usage" and "--threads" in err["msg"], r.stderr
    assert TS.match(err["ts"]), r.stderr
    r = subprocess.run([BIN, "--no-such-flag"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("ts=") and "--no-such-flag" in r.stderr, \
        r.stderr


def harness_admin(data):
    with open(os.path.join(data, "admin.token")) as f:
        return f.read().strip()


def stopped_cleanly(srv, code):
    assert code == 0, "exit %s:\n%s" % (code, srv.text())


def main():
    cases = harness.Cases()
    srv = harness.Tallinnd(BIN, "--metrics-listen", "127.0.0.1:0")
    try:
        cases.run("metrics", test_metrics, srv)
        cases.run("http surface", test_http_surface, srv)
    finally:
        code = srv.stop()
    cases.run("stopped cleanly", stopped_cleanly, srv, code)
    cases.run("logs (logfmt): timestamps, no tokens", test_logs, srv)
    cases.run("refuses a non-loopback metrics address", test_refuses_remote, srv.data)
    cases.run("alert rules", test_alert_rules)
    cases.run("logs (json)", test_json_logs, srv.data)
    cases.run("log level", test_log_level, srv.data)
    cases.finish()


if __name__ == "__main__":
    main()
