"""Chaos test (issue 10, "a standing test for the whole class"): a real
tallinnd, principals of every role, and random sequences of calls by random
roles with valid and hostile fields (chaos_actions.py, chaos_wire.py). Every
answer is checked against a model of what exists and who may see what
(chaos_model.py): no INTERNAL or UNKNOWN, a status the contract allows for
the input, no leak to a DONOR or OBSERVER, error details a standard client
can decode. Then tallinnd is killed with SIGKILL and restarted on the same
data directory, the log is exported and verified (tallinnctl, tallinn-audit,
tlog_ref.py), streamed and decoded in Python, matched against every call
made, searched for tokens and RESTRICTED values, and the coverage report is
read as every role.

Deterministic from --seed (printed; random when not given). Failures are
listed once per class with a call that reproduces it and the issue 10 item
it belongs to.

Run: /usr/bin/python3 chaos_test.py TALLINND TALLINN-AUDIT TALLINNCTL
         [--seed N] [--seconds S] [--calls N] [--restarts R]"""
import argparse
import collections
import hashlib
import os
import random
import re
import signal
import shutil
import subprocess
import sys
import tempfile
import time

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import chaos_wire as W  # noqa: E402
from chaos_actions import next_action  # noqa: E402
from chaos_audit import LogCheck, compact  # noqa: E402
from chaos_call import Call, Ctx, svc  # noqa: E402
from chaos_model import (DONOR_OF, ROLES, Donor, Need, Pledge, World, audit_pb2,  # noqa: E402
                         authz_matrix, diag_pb2, donor_pb2, errdet_pb2, health_pb2, match_pb2,
                         need_pb2, principal_pb2, report_pb2, status_pb2)
from chaos_reads import check_report  # noqa: E402
from google.protobuf import text_format  # noqa: E402

C = grpc.StatusCode
SANITIZER = re.compile(r"ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:")


def io_types():
    """{method path: (request class, response class, server streaming)}."""
    mods = [need_pb2, donor_pb2, match_pb2, report_pb2, principal_pb2, audit_pb2, diag_pb2,
            health_pb2]
    by_file = {m.DESCRIPTOR.name: m for m in mods}
    out = {}
    for m in mods:
        for s in m.DESCRIPTOR.services_by_name.values():
            for meth in s.methods:
                def cls(d):
                    return getattr(by_file[d.file.name], d.name)
                out["/%s/%s" % (s.full_name, meth.name)] = (
                    cls(meth.input_type), cls(meth.output_type), meth.server_streaming)
    return out


# ---- Results and failures ----

class Result:
    def __init__(self, runner, call, index):
        self.runner, self.call, self.index = runner, call, index
        self.code, self.resp, self.details, self.trailers = None, None, "", ()
        self.status = None
        self.raw = b""

    def check(self, cond, what, item):
        """A failure unless cond; a call with hostile values is blamed on
        them (their item), a plain one on item."""
        if not cond:
            self.runner.fail("check", what, self.call.item if self.call.tags and
                             self.call.item else (item or self.call.item), self.call,
                             self.index, self.code)
        return cond

    def violations(self):
        """The BadRequest field violations, as "field: description"."""
        out = []
        for d in self.status.details if self.status is not None else ():
            if d.type_url.endswith("/google.rpc.BadRequest"):
                for v in errdet_pb2.BadRequest.FromString(d.value).field_violations:
                    out.append("%s: %s" % (v.field, v.description))
        return out

    def norm_details(self, name):
        """The error as the caller sees it, with name replaced."""
        parts = [self.details]
        if self.status is not None:
            parts.append(text_format.MessageToString(self.status, as_one_line=True, as_utf8=True))
        return "|".join(parts).replace(name, "<NAME>")


def crash_item(why):
    """Signed overflow is money arithmetic here (issue 10 item 3)."""
    return "3" if "signed integer overflow" in why else "?"


def norm(what):
    """A failure text without the names, numbers and etags that vary."""
    what = re.sub(r"(needs|matches|donors|principals)/[A-Za-z0-9/_-]+", r"\1/<id>", what)
    what = re.sub(r"\b[0-9a-f]{16}\b", "<etag>", what)
    return re.sub(r"\d+", "N", what)


def family(code, expect):
    """Status families for grouping: where only INVALID_ARGUMENT was allowed,
    any other answer is one failure ("not refused"); otherwise the code."""
    if expect == {C.INVALID_ARGUMENT} and code != C.INVALID_ARGUMENT:
        return "not refused"
    return code.name if code else ""


class Failures:
    """Distinct failure classes, each with its first reproducing call."""

    def __init__(self, seed):
        self.seed = seed
        self.by_key = collections.OrderedDict()

    def add(self, kind, what, item, method="", klass="", who="", code=None, expect=None,
            repro="", index=None, key=None):
        key = key or (kind, method, norm(what))
        f = self.by_key.get(key)
        if f is None:
            f = self.by_key[key] = dict(kind=kind, what=what, item=item or "?", method=method,
                                        klass=klass, who=who, code=code.name if code else "",
                                        expect=sorted(c.name for c in expect) if expect else [],
                                        repro=repro, index=index, count=0, codes=set())
            print("FAILURE [issue 10 item %s] seed=%d%s: %s" % (
                f["item"], self.seed, " action=%s" % index if index is not None else "",
                self.describe(f)))
            sys.stdout.flush()
        f["count"] += 1
        if code is not None:
            f["codes"].add(code.name)

    @staticmethod
    def describe(f):
        s = f["what"]
        if f["method"]:
            s += "\n    call: %s as %s [%s]" % (f["method"], f["who"], f["klass"])
        if f["code"]:
            s += "\n    got %s, allowed %s" % ("/".join(sorted(f["codes"])) or f["code"],
                                             ", ".join(f["expect"]) or "-")
        if f["repro"]:
            s += "\n    request: %s" % f["repro"]
        return s

    def report(self, args):
        items = collections.Counter(f["item"] for f in self.by_key.values())
        print("\n==== chaos: %d distinct failure class(es), seed %d ====" % (
            len(self.by_key), self.seed))
        for i, f in enumerate(sorted(self.by_key.values(), key=lambda f: (f["item"], f["kind"])), 1):
            print("%2d. [item %s] (x%d) %s" % (i, f["item"], f["count"], self.describe(f)))
        if self.by_key:
            print("by issue 10 item: %s" % ", ".join("%s: %d" % kv for kv in sorted(items.items())))
            print("reproduce: /usr/bin/python3 %s TALLINND TALLINN-AUDIT TALLINNCTL --seed %d"
                  " [--calls N, N = the action number above]" % (os.path.relpath(__file__),
                                                                 self.seed))


# ---- The runner ----

class Runner:
    def __init__(self, args):
        self.args = args
        self.seed = args.seed
        self.rng = random.Random(self.seed)
        self.world = World()
        self.matrix = authz_matrix()
        self.types = io_types()
        self.failures = Failures(self.seed)
        self.ctx = Ctx(self.rng, self.world, self.matrix)
        self.ctx.oracle = self.oracle
        self.log = []           # every call made: what the audit log must show
        self.srv = None
        self.servers = []       # every tallinnd started, for their stderr
        self.ch = None
        self.action_index = None
        self.dead = False         # tallinnd died under the calls: stop sending them
        self.unstartable = False  # and then would not start again: nothing more to check
        self.crashes = 0
        self.crash_call = None
        self.quarantine = set()   # (method, tags) of calls that crashed tallinnd
        self.tmp = tempfile.mkdtemp(prefix="tallinn-chaos-")
        self.forge = random.Random(self.seed ^ 0x5eed)

    # ---- Server ----

    def start_first(self):
        self.srv = harness.Tallinnd(self.args.tallinnd, "--quiet", "--max-streams", "64")
        self.servers.append(self.srv)
        m = re.search(r"audit_key=(\S+)", self.srv.text())
        assert m, "no audit_key= at start:\n" + self.srv.text()
        self.vkey = m.group(1)
        self.data = self.srv.data
        self.connect()

    def connect(self):
        if self.ch is not None:
            self.ch.close()
        self.ch = grpc.insecure_channel(self.srv.addr, options=[
            ("grpc.max_receive_message_length", 64 << 20),
            ("grpc.max_send_message_length", 64 << 20)])
        self.stubs = {}

    def restart(self):
        """SIGKILL, then start again on the same data directory."""
        self.srv.proc.send_signal(signal.SIGKILL)
        self.srv.proc.wait(30)
        try:
            srv = harness.Server([self.args.tallinnd, "--listen", "127.0.0.1:0", "--data-dir",
                                  self.data, "--insecure", "--grace-ms", "3000", "--quiet",
                                  "--max-streams", "64"] + harness.database_args(self.data),
                                 harness.PORT_RE)
        except RuntimeError as e:
            text = str(e)
            why = [ln for ln in text.splitlines() if "refusing" in ln or "error" in ln.lower()]
            self.failures.add("restart", "tallinnd does not start again after SIGKILL: %s" % (
                compact(" / ".join(why[-3:]) or text[-400:], 400)),
                "1" if "decode" in text or "record" in text else "?")
            self.unstartable = True
            return False
        self.srv = srv
        self.servers.append(srv)
        self.connect()
        self.dead = False
        return True

    # ---- Calls ----

    def metadata(self, who):
        if who is None or who == "none":
            return ()
        if who == "bad":
            return harness.bearer("tln_" + "".join(self.forge.choice(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
                for _ in range(43)))
        return harness.bearer(self.world.tokens[who])

    def stub(self, path, stream):
        k = (path, stream)
        if k not in self.stubs:
            f = self.ch.unary_stream if stream else self.ch.unary_unary
            self.stubs[k] = f(path, request_serializer=None, response_deserializer=None)
        return self.stubs[k]

    def execute(self, call):
        res = Result(self, call, self.action_index)
        types = self.types.get(call.method)
        stream = types[2] if types else call.stream
        sent_secrets = None
        if call.who in ROLES and ROLES[call.who] in ("DONOR", "OBSERVER"):
            sent_secrets = True
        md = self.metadata(call.who)
        t0 = time.monotonic()
        try:
            if stream:
                chunks = list(self.stub(call.method, True)(call.body, metadata=md,
                                                          timeout=call.timeout))
                res.code = C.OK
                res.raw = b"".join(chunks)
                res.chunks = chunks
            else:
                out, rc = self.stub(call.method, False).with_call(call.body, metadata=md,
                                                                 timeout=call.timeout)
                res.code, res.raw, res.trailers = C.OK, out, rc.trailing_metadata() or ()
        except grpc.RpcError as e:
            res.code, res.details = e.code(), e.details() or ""
            res.trailers = e.trailing_metadata() or ()
        res.elapsed = time.monotonic() - t0
        self.ctx.calls_made += 1
        self.after(call, res, types, stream, sent_secrets)
        return res

    def after(self, call, res, types, stream, sent_secrets):
        item = call.item
        # The answer itself must decode with a standard client.
        if res.code == C.OK and types:
            try:
                if stream:
                    res.resp = [types[1].FromString(c) for c in res.chunks]
                else:
                    res.resp = types[1].FromString(res.raw)
            except Exception as e:  # DecodeError: e.g. invalid UTF-8 in a string field
                self.fail("decode", "the response does not decode in Python protobuf (%s)" % (
                    str(e)[:120]), "1" if "Audit" in call.method else item, call, res.index,
                    res.code)
        for k, v in res.trailers:
            if k == "grpc-status-details-bin":
                try:
                    st = status_pb2.Status.FromString(v)
                    for d in st.details:
                        name = d.type_url.rsplit("/", 1)[-1]
                        cls = {"google.rpc.BadRequest": errdet_pb2.BadRequest,
                               "google.rpc.ErrorInfo": errdet_pb2.ErrorInfo}.get(name)
                        if cls is not None:
                            cls.FromString(d.value)
                    res.status = st
                except Exception as e:
                    self.fail("decode", "error details (grpc-status-details-bin) do not decode"
                              " in Python protobuf (%s): caller text echoed unchecked" % (
                                  str(e)[:80]), "7", call, res.index, res.code)
        if res.code == C.DEADLINE_EXCEEDED:
            self.fail("status", "no answer within %d s" % call.timeout, "8", call, res.index,
                      res.code)
        elif res.code == C.UNAVAILABLE and self.exited():
            why, key = self.crash_reason(self.srv)
            self.failures.add("crash", "tallinnd died: %s; its last lines:\n%s" % (
                why, compact(self.srv.text()[-1200:], 1200)), call.item or crash_item(why),
                method=call.method.rsplit("/", 1)[-1], klass=call.klass,
                who=ROLES.get(call.who, str(call.who)), code=res.code, repro=self.repro(call),
                index=res.index, key=key)
            self.dead = True
            self.crash_call = call
        elif res.code not in call.expect:
            what = "INTERNAL/UNKNOWN answer" if res.code in (C.INTERNAL, C.UNKNOWN) else \
                "status not allowed for this input"
            if res.code == C.RESOURCE_EXHAUSTED and "metadata size" in res.details:
                what, item = "the error is too large for a default client (BadRequest " \
                    "details unbounded)", "8"
            viol = res.violations() if res.code != C.OK else []
            self.fail("status", "%s: %s%s" % (what, compact(res.details, 200), (
                " [%s]" % compact("; ".join(viol[:3]), 300)) if viol else ""), item, call,
                res.index, res.code)
        if sent_secrets:
            blob = res.raw + res.details.encode("utf-8", "replace") + b"".join(
                v if isinstance(v, bytes) else v.encode() for _, v in res.trailers)
            for what in self.world.leaks(call.who, blob, call.body):
                self.fail("leak", "%s shown %s" % (ROLES[call.who], what), "4", call, res.index,
                          res.code)
        elif call.who is not None:
            blob = res.raw + res.details.encode("utf-8", "replace")
            for what in self.world.leaks(call.who, blob, call.body, tokens_only=True):
                self.fail("leak", "%s shown %s" % (ROLES.get(call.who, call.who), what), "4",
                          call, res.index, res.code)
        self.record(call, res)

    def exited(self):
        """Whether tallinnd is gone (given a moment to finish dying)."""
        try:
            self.srv.proc.wait(2)
        except subprocess.TimeoutExpired:
            return False
        return True

    @staticmethod
    def crash_reason(srv):
        """The first sanitizer line of a server's output (else its exit
        status), and the failure key it is grouped under."""
        text = srv.text()
        m = SANITIZER.search(text)
        why = text[text.rfind("\n", 0, m.start()) + 1:].split("\n")[0] if m else \
            "exit %s" % srv.proc.returncode
        at = re.match(r"(\S+?):\d+:\d+: (.*)", why)  # file:line:col: message
        if at:
            return why, ("crash", os.path.basename(at.group(1)), norm(at.group(2)))
        return why, ("crash", norm(why))

    def record(self, call, res):
        """What the audit log must show for this call."""
        who = call.who
        if who not in self.world.who_name:
            return
        entry = dict(principal=self.world.who_name[who], role=ROLES[who], method=call.method,
                     sha=hashlib.sha256(call.body).digest(), code=res.code,
                     rid="", index=res.index, resp_name="", etag="", reads=[],
                     uncertain=res.code in (C.DEADLINE_EXCEEDED, C.UNAVAILABLE, C.CANCELLED),
                     repro=self.repro(call), klass=call.klass)
        if call.msg is not None and "request_id" in call.msg.DESCRIPTOR.fields_by_name:
            rid = call.msg.request_id
            for ph, raw in getattr(call, "subs", ()):
                if rid == ph.decode():
                    rid = raw.decode("utf-8", "replace")
            entry["rid"] = rid
        r = res.resp
        if res.code == C.OK and r is not None and not isinstance(r, list):
            inner = getattr(r, "principal", None) if hasattr(r, "token") else r
            entry["resp_name"] = getattr(inner, "name", "")
            entry["etag"] = getattr(inner, "etag", "")
            if call.method.endswith("/GetNeed"):
                entry["reads"] = [r.name] if r.sensitivity == Need.SENSITIVITY_RESTRICTED else []
            elif call.method.endswith("/ListNeeds"):
                entry["reads"] = [n.name for n in r.needs
                                  if n.sensitivity == Need.SENSITIVITY_RESTRICTED]
        self.log.append(entry)

    def repro(self, call):
        if call.msg is None:
            return "raw body %s" % call.body[:64].hex() + ("..." if len(call.body) > 64 else "")
        txt = text_format.MessageToString(call.msg, as_one_line=True, as_utf8=True)
        txt = re.sub(r"[\x00-\x1f\x7f]", lambda m: "\\x%02x" % ord(m.group()), txt)
        for ph, raw in getattr(call, "subs", ()):
            txt = txt.replace(ph.decode(), "<bytes %r>" % raw)
        if len(call.body) > len(call.msg.SerializeToString()) + len(
                b"".join(r for _, r in getattr(call, "subs", ()))):
            txt += " <+ unknown fields appended>"
        return "%s %s" % (call.msg.DESCRIPTOR.name, compact(txt))

    def fail(self, kind, what, item, call=None, index=None, code=None):
        if call is None:
            self.failures.add(kind, what, item, index=index)
            return
        method = call.method.rsplit("/", 1)[-1]
        if kind == "status":  # grouped by the kinds of input, or the method if plain
            if what.startswith("the error is too large"):
                key = (kind, "too large an error")
            else:
                key = (kind, tuple(sorted({".".join(t.split(".")[:2]) for t in call.tags}))
                       or (method,), family(code, call.expect))
        elif kind in ("leak", "check", "decode"):
            key = (kind, norm(what))
        else:
            key = (kind, method, norm(what))
        self.failures.add(kind, what, item, method=method, klass=call.klass,
                          who=ROLES.get(call.who, str(call.who)), code=code,
                          expect=call.expect if kind == "status" else None,
                          repro=self.repro(call), index=index, key=key)

    def run_action(self, gen):
        try:
            call = next(gen)
            while True:
                if self.dead or self.skipped(call):
                    gen.close()
                    return
                res = self.execute(call)
                call = gen.send(res)
        except StopIteration:
            pass
        except W.Collision:
            pass

    def skipped(self, call):
        """--skip: a call with a tag of a known, reported class is not sent
        (to look past a defect that stops the run, e.g. one that makes the
        restart fail)."""
        return (call.method, call.tags) in self.quarantine or any(
            t.startswith(p) for t in call.tags for p in self.args.skip)

    def must(self, who, path, msg):
        call = Call(who, path, msg.SerializeToString(), msg, {C.OK}, klass="setup", item="?")
        res = self.execute(call)
        if res.code != C.OK:
            raise RuntimeError("setup call %s failed: %s %s" % (path, res.code, res.details))
        return res.resp

    def oracle(self, kind, name):
        """An AUDITOR's read of a resource, to learn what the server did."""
        method, cls = {"needs": ("GetNeed", need_pb2.GetNeedRequest),
                       "pledges": ("GetPledge", donor_pb2.GetPledgeRequest),
                       "matches": ("GetMatch", match_pb2.GetMatchRequest),
                       "donors": ("GetDonor", donor_pb2.GetDonorRequest)}[kind]
        msg = cls(name=name)
        call = Call("aud", svc(method), msg.SerializeToString(), msg, {C.OK},
                      klass="oracle", item="")
        res = self.execute(call)
        if res.code == C.OK and res.resp is not None:
            self.world.put(kind, res.resp)
            return res.resp
        return None

    # ---- Phases ----

    def setup(self):
        """Principals of every role, three member donors (two with DONOR
        principals), a company, an observer donor, pledges and open needs,
        STANDARD and RESTRICTED."""
        w = self.world
        w.tokens["admin"] = self.srv.admin_token
        w.who_name["admin"] = "principals/admin"
        w.all_tokens.add(self.srv.admin_token)
        P = principal_pb2.Principal

        def principal(key, donor=""):
            req = principal_pb2.CreatePrincipalRequest(
                principal_id="chaos-" + key, principal=P(
                    display_name="Chaos %s" % key, role=P.Role.Value("ROLE_" + ROLES[key]),
                    donor=donor))
            r = self.must("admin", svc("CreatePrincipal"), req)
            w.tokens[key] = r.token
            w.all_tokens.add(r.token)
            w.who_name[key] = r.principal.name
            w.principals[r.principal.name] = r.principal
        for key in ("fo", "bo", "co", "co2", "obs", "aud"):
            principal(key)
        mk = self.ctx.mk

        def donor(did, **kw):
            email = "c%s@example.org" % mk().lower()
            d = self.must("bo", svc("CreateDonor"), donor_pb2.CreateDonorRequest(
                donor_id=did, donor=Donor(contact_email=email, **kw)))
            w.put("donors", d, {"contact_email": email})
        donor("donor-a", display_name="Donor A", kind=1, country_code="EE", membership=1,
              capabilities=[1, 3])
        donor("donor-b", display_name="Donor B", kind=1, country_code="PL", membership=1)
        donor("donor-c", display_name="Donor C", kind=1, country_code="DE", membership=1)
        donor("company-a", display_name="Company A", kind=2, country_code="EE", membership=1,
              parent="donors/donor-a")
        donor("observer-eu", display_name="Observer EU", kind=4, membership=2)
        principal("da", DONOR_OF["da"])
        principal("db", DONOR_OF["db"])
        for d in ("donor-a", "donor-b", "donor-c"):
            src = mk()
            p = self.must("bo", svc("CreatePledge"), donor_pb2.CreatePledgeRequest(
                parent="donors/" + d, pledge_id="p-" + d, pledge=Pledge(
                    fiscal_year=2025, state=Pledge.STATE_COMMITTED, source="Budget " + src,
                    amount=dict(currency_code="EUR", units=50_000_000))))
            w.put("pledges", p, {"source": src})
        for i, sens in enumerate([1, 1, 2, 2, 1]):
            marks = {f: mk() for f in ("title", "description", "beneficiary", "region")}
            n = Need(title="Setup %s" % marks["title"], description="Desc %s" % marks["description"],
                     beneficiary="Ben %s" % marks["beneficiary"], region="Reg %s" % marks["region"],
                     sector=1 + i, category=1 + i, domain=1, priority=1 + i % 4, sensitivity=sens,
                     estimated_cost=dict(currency_code="EUR", units=100_000 * (i + 1)))
            got = self.must("fo", svc("CreateNeed"), need_pb2.CreateNeedRequest(
                need=n, need_id="setup-%d" % i))
            w.put("needs", got, marks)
            got = self.must("fo", svc("SubmitNeed"), need_pb2.SubmitNeedRequest(name=got.name))
            w.put("needs", got)
            got = self.must("bo", svc("ValidateNeed"), need_pb2.ValidateNeedRequest(name=got.name))
            w.put("needs", got)

    def chaos(self, deadline, max_actions, restart_at):
        n = 0
        restarts = list(restart_at)
        while n < max_actions and time.monotonic() < deadline and not self.unstartable:
            if self.dead:
                # A crash is reported once; its call is not sent again and
                # the run goes on on the restarted server (a few times).
                self.crashes += 1
                self.quarantine.add((self.crash_call.method, self.crash_call.tags))
                print("chaos: tallinnd died on %s [%s] (action %s); %s" % (
                    self.crash_call.method, self.crash_call.klass, n,
                    "restarting without that call" if self.crashes <= 10 else "stopping"))
                sys.stdout.flush()
                if self.crashes > 10 or not self.restart():
                    break
                self.check_server_log(self.servers[-2])
            if restarts and time.monotonic() >= restarts[0]:
                restarts.pop(0)
                self.cycle(final=False)
                if self.dead or self.unstartable:
                    break
            self.action_index = n
            fn = next_action(self.ctx)
            self.run_action(fn(self.ctx))
            n += 1
        self.action_index = None
        return n

    def throttle_check(self):
        """Ten bad tokens from this address must not lock out valid ones
        (issue 10 item 8)."""
        bad = Call("bad", "/tallinn.v1.DiagnosticsService/Noop", b"", None,
                     {C.UNAUTHENTICATED, C.RESOURCE_EXHAUSTED}, klass="throttle.bad_tokens",
                     item="8")
        for _ in range(12):
            self.execute(bad)
        for key in ("fo", "aud", "obs"):
            call = Call(key, "/tallinn.v1.DiagnosticsService/Noop", b"", diag_pb2.NoopRequest(),
                          {C.OK}, klass="throttle.valid_after_bad_tokens", item="8")
            self.execute(call)

    def stream_budget_check(self):
        """Unauthenticated Health/Watch streams past the stream limit (64
        here) must leave room for an AUDITOR's StreamAuditRecords (issue 10
        item 8)."""
        chans = [grpc.insecure_channel(self.srv.addr, options=[
            ("grpc.use_local_subchannel_pool", 1)]) for _ in range(2)]
        watches = []
        try:
            for i in range(70):
                w = chans[i % 2].unary_stream("/grpc.health.v1.Health/Watch",
                                              request_serializer=None,
                                              response_deserializer=None)(b"", timeout=60)
                watches.append(w)
            for w in watches:
                try:
                    next(w)  # established: the first status came back
                except (grpc.RpcError, StopIteration):
                    pass
            msg = audit_pb2.StreamAuditRecordsRequest(start=0, end=1)
            self.execute(Call("aud", "/tallinn.v1.AuditService/StreamAuditRecords",
                              msg.SerializeToString(), msg, {C.OK},
                              klass="streams.auditor_after_70_watch_streams", item="8",
                              tags=["streams.auditor_after_70_watch_streams"]))
        finally:
            for w in watches:
                w.cancel()
            for c in chans:
                c.close()

    def second_instance(self):
        """A second tallinnd on the data directory in use, or on the port in
        use, must refuse to start (issue 10 item 9). On PostgreSQL a second
        server on the same directory and database is a replica (issue 11):
        only the port is checked there."""
        fresh = self.fresh_data()
        cases = [("the same port (another data directory)",
                  ["--listen", self.srv.addr, "--data-dir", fresh] + harness.database_args(fresh))]
        if harness.PG is None:
            cases.append(("the same data directory (another port)",
                          ["--listen", "127.0.0.1:0", "--data-dir", self.data]))
        for what, argv in cases:
            try:
                s = harness.Server([self.args.tallinnd] + argv + ["--insecure", "--quiet"],
                                   harness.PORT_RE)
            except RuntimeError:
                continue
            s.stop()
            self.failures.add("transport", "a second tallinnd started on %s" % what, "9")

    def fresh_data(self):
        d = os.path.join(self.tmp, "other-%d" % len(os.listdir(self.tmp)))
        harness.init_data(self.args.tallinnd, d)
        return d

    def reconcile(self):
        """Everything the server lists (as an AUDITOR) is what the model
        holds, etag for etag: nothing was created or changed behind an
        answer the test saw (e.g. by a name cut short at a NUL)."""
        lists = (("needs", "ListNeeds", need_pb2.ListNeedsRequest, {}),
                 ("matches", "ListMatches", match_pb2.ListMatchesRequest, {}),
                 ("pledges", "ListPledges", donor_pb2.ListPledgesRequest, {"parent": "donors/-"}),
                 ("donors", "ListDonors", donor_pb2.ListDonorsRequest, {}))
        for kind, method, cls, base in lists:
            seen, token = {}, ""
            while True:
                msg = cls(page_size=1000, page_token=token, **base)
                res = self.execute(Call("aud", svc(method), msg.SerializeToString(), msg,
                                          {C.OK}, klass="reconcile", item="?"))
                if res.code != C.OK or res.resp is None:
                    return
                for r in getattr(res.resp, kind):
                    seen[r.name] = r
                token = res.resp.next_page_token
                if not token:
                    break
            model = getattr(self.world, kind)
            unknown = sorted(set(seen) - set(model))
            changed = sorted(n for n in seen if n in model and seen[n].etag != model[n].msg.etag)
            if unknown or changed:
                self.failures.add("model", "the server holds %d %s the test never saw created%s "
                                  "and %d changed behind its back%s" % (
                                      len(unknown), kind, " (%s)" % ", ".join(unknown[:3])
                                      if unknown else "", len(changed),
                                      " (%s)" % ", ".join(changed[:3]) if changed else ""), "?")
                for n in unknown + changed:
                    self.world.put(kind, seen[n])

    def cycle(self, final):
        """Kill, restart, and check everything that must survive."""
        if self.unstartable:
            return
        if self.srv.proc.poll() is None:
            self.reconcile()
            if final:  # the throttle last: it may lock this address out
                self.stream_budget_check()
                self.throttle_check()
        self.check_server_log(self.srv)
        if not self.restart():
            LogCheck(self).offline_audit()
            return
        self.check_after_restart()

    # ---- After a restart ----

    def check_after_restart(self):
        t = time.monotonic()
        self.readback()
        log = LogCheck(self)
        leaves = log.stream_log()
        t1 = time.monotonic()
        if leaves is not None:
            log.check_records(leaves)
            t2 = time.monotonic()
            log.export_and_verify(len(leaves))
            print("chaos: after restart: %d resources read back and %d records streamed in "
                  "%.1f s, records checked in %.1f s, export verified in %.1f s" % (
                      sum(len(getattr(self.world, k)) for k in ("needs", "matches", "pledges",
                                                                "donors")),
                      len(leaves), t1 - t, t2 - t1, time.monotonic() - t2))
            sys.stdout.flush()
        for key in ROLES:
            if ("/tallinn.v1.ReportService/GetCoverageReport", ()) in self.quarantine:
                break  # it crashed tallinnd already: reported once
            call = Call(key, "/tallinn.v1.ReportService/GetCoverageReport",
                          report_pb2.GetCoverageReportRequest().SerializeToString(),
                          report_pb2.GetCoverageReportRequest(),
                          {C.OK} if ROLES[key] in self.matrix[
                              "/tallinn.v1.ReportService/GetCoverageReport"] else
                          {C.PERMISSION_DENIED}, klass="report_after_restart", item="3")
            res = self.execute(call)
            if res.code == C.OK and res.resp is not None:
                check_report(self.world, res, key, res.resp)
            if self.dead:
                break

    def readback(self):
        """Every acknowledged write survived the kill."""
        lost = []
        for kind in ("needs", "matches", "pledges", "donors"):
            for name, r in list(getattr(self.world, kind).items()):
                before = r.msg.etag
                got = self.oracle(kind, name)
                if got is None or got.etag != before:
                    lost.append(name)
        if lost:
            self.failures.add("durability", "%d acknowledged resources lost or changed by a "
                              "SIGKILL, e.g. %s" % (len(lost), ", ".join(lost[:3])), "?")

    def check_server_log(self, srv):
        text = srv.text()
        if SANITIZER.search(text):
            why, key = self.crash_reason(srv)
            self.failures.add("sanitizer", "a sanitizer report in tallinnd's output:\n%s" % compact(
                text[SANITIZER.search(text).start():][:1500], 1500), crash_item(why), key=key)
        for what in LogCheck(self).secrets_in(text.encode("utf-8", "replace")):
            self.failures.add("log", "tallinnd's log holds %s" % what, "4")

    def stop(self):
        if self.ch is not None:
            self.ch.close()
        if self.srv is not None and self.srv.proc.poll() is None:
            try:
                rc = self.srv.stop()
            except subprocess.TimeoutExpired:
                rc = "timeout"
            if rc != 0:
                self.failures.add("exit", "tallinnd exited %s on SIGTERM" % rc, "?")
            self.check_server_log(self.srv)



def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tallinnd")
    ap.add_argument("audit")
    ap.add_argument("tallinnctl")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--calls", type=int, default=10 ** 9, help="at most this many actions")
    ap.add_argument("--skip", action="append", default=[], metavar="TAG",
                    help="do not send calls with a tag starting with TAG (e.g. name.huge); "
                    "for looking past a known failure, never in make test")
    ap.add_argument("--restarts", type=int, default=1,
                    help="kill/restart cycles; the last is after the random calls")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 2 ** 31)
    print("chaos: seed %d, %.0f s, %s actions, %d restart(s)%s" % (
        args.seed, args.seconds, args.calls if args.calls < 10 ** 9 else "unbounded",
        args.restarts, "; skipping " + ", ".join(args.skip) if args.skip else ""))
    sys.stdout.flush()
    t0 = time.monotonic()
    r = Runner(args)
    try:
        r.start_first()
        r.setup()
        r.second_instance()  # while the log is clean: a refusal then is the lock's
        end = time.monotonic() + args.seconds
        step = args.seconds / max(1, args.restarts)
        n = r.chaos(end, args.calls, [t0 + step * (k + 1) for k in range(args.restarts - 1)])
        print("chaos: %d actions, %d calls in %.1f s" % (n, r.ctx.calls_made, time.monotonic() - t0))
        r.cycle(final=True)
    except Exception:
        import traceback
        traceback.print_exc()
        r.failures.add("harness", "the test itself failed (see the traceback above)", "?")
    finally:
        r.stop()
        for s in r.servers:
            if s.proc.poll() is None:
                s.proc.kill()
    r.failures.report(args)
    print("chaos: seed %d, %d distinct failure(s), %.1f s" % (
        args.seed, len(r.failures.by_key), time.monotonic() - t0))
    if not r.failures.by_key:
        shutil.rmtree(r.tmp, ignore_errors=True)
    sys.exit(1 if r.failures.by_key else 0)


if __name__ == "__main__":
    main()
