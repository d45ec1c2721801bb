"""The contract written in the .proto comments, enforced (issue 10, item 6).
This test reads proto/tallinn/v1/*.proto itself, so that a new comment is
tested without anyone writing a case for it:
  - every field marked "Output only" or "Immutable" of a resource with an
    Update method is refused in update_mask (INVALID_ARGUMENT, nothing
    changes); every other field can be updated alone, and changes alone; an
    absent or empty mask, "*" and an unknown path are refused;
  - the update_mask comment's list of fields equals the editable fields;
  - every life-cycle arrow line (`FROM, ... -Method(reason)-> TO`, see
    need.proto) is tried from every state it names, and every method of a
    life cycle from every state no arrow names (FAILED_PRECONDITION naming
    the state, nothing changes); a required reason is required; an arrow
    keeps every field that is not output only; `-server->` arrows are
    driven by a recipe and checked from every reachable state;
  - each rpc comment that starts `A or B -> C` agrees with the arrow lines.
Only the sample values, the fixtures and the server recipes below are
written by hand; a field or arrow without one fails, naming what to add.
Run: /usr/bin/python3 contract_test.py path/to/tallinnd"""
import collections
import glob
import os
import re
import sys
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

# google.rpc first: a namespace package is not searched again once imported.
status_pb2, errdet_pb2 = harness.protos("google/rpc/status.proto",
                                        "google/rpc/error_details.proto")
from authz_test import (Client, Code, Conn, Donor, Match, Need, Pledge, Principal,  # noqa: E402
                        common_pb2, create_principal, donor_pb2, eur, field_mask_pb2,
                        init_data_dir, match_pb2, need_msg, need_pb2, principal_pb2,
                        rate_pb2, start_insecure)

PROTO_DIR = os.path.join(harness.REPO, "proto", "tallinn", "v1")
AUTHZ_MD = os.path.join(harness.REPO, "docs", "authz.md")


# ---- Reading the .proto files ----

Field = collections.namedtuple("Field", "name type repeated comment")
Rpc = collections.namedtuple("Rpc", "service name request response comment")
Arrow = collections.namedtuple("Arrow", "resource froms method reason to note")

ARROW_RE = re.compile(r"^(?P<froms>[A-Z][A-Z0-9_]*(?:\s*,\s*[A-Z][A-Z0-9_]*)*)?\s*"
                      r"-(?P<method>[A-Za-z]+)(?P<reason>\(reason\))?->\s*"
                      r"(?P<to>[A-Z][A-Z0-9_]*)\s*(?:\((?P<note>.*)\))?\s*$")
RPC_ARROW_RE = re.compile(r"^(?P<froms>[A-Z][A-Z0-9_]*(?:(?:, | or )[A-Z][A-Z0-9_]*)*)"
                          r" -> (?P<to>[A-Z][A-Z0-9_]*)\b")


class Contract:
    """Messages (with nested ones as "Need.State"), their fields and
    comments, enums and their values, rpcs and the life-cycle arrows."""

    def __init__(self, proto_dir):
        self.fields = {}    # message -> [Field]
        self.comments = {}  # message or service -> comment text
        self.enums = {}     # enum -> [value names]
        self.rpcs = {}      # rpc name -> Rpc
        self.arrows = []
        for path in sorted(glob.glob(os.path.join(proto_dir, "*.proto"))):
            self._read(path)
        for name, text in self.comments.items():
            resource = name[:-len("Service")] if name.endswith("Service") else name
            for line in text.splitlines():
                m = ARROW_RE.match(line.strip())
                if m:
                    froms = [s.strip() for s in (m.group("froms") or "").split(",") if s.strip()]
                    self.arrows.append(Arrow(resource, tuple(froms), m.group("method"),
                                             m.group("reason") is not None, m.group("to"),
                                             m.group("note") or ""))

    def _read(self, path):
        stack, comment = [], []  # stack of (kind, name)
        for raw in open(path, encoding="utf-8"):
            line = raw.strip()
            if line.startswith("//"):
                comment.append(line[2:][1:] if line[2:3] == " " else line[2:])
                continue
            text = "\n".join(comment)
            scope = ".".join(n for k, n in stack if k in ("message", "enum"))
            m = re.match(r"^(message|enum|service)\s+(\w+)\s*\{", line)
            if m:
                kind, name = m.groups()
                full = (scope + "." + name) if scope and kind != "service" else name
                stack.append((kind, full.split(".")[-1] if kind == "service" else name))
                key = full
                if kind == "message":
                    self.fields[key] = []
                elif kind == "enum":
                    self.enums[key] = []
                self.comments[key] = text
            elif line.startswith("}"):
                if stack:
                    stack.pop()
            elif stack and stack[-1][0] == "service":
                m = re.match(r"^rpc\s+(\w+)\s*\(\s*(\w+)\s*\)\s*returns\s*\(\s*(stream\s+)?"
                             r"([\w.]+)\s*\)", line)
                if m:
                    self.rpcs[m.group(1)] = Rpc(stack[-1][1], m.group(1), m.group(2),
                                                m.group(4), text)
            elif stack and stack[-1][0] == "enum":
                m = re.match(r"^([A-Z][A-Z0-9_]*)\s*=\s*\d+\s*;", line)
                if m:
                    self.enums[scope].append(m.group(1))
            elif stack and stack[-1][0] == "message":
                m = re.match(r"^(repeated\s+)?([\w.]+)\s+(\w+)\s*=\s*\d+\s*;", line)
                if m:
                    self.fields[scope].append(Field(m.group(3), m.group(2),
                                                    m.group(1) is not None, text))
            comment = []

    @staticmethod
    def output_only(f):
        return f.comment.startswith("Output only")

    @staticmethod
    def immutable(f):
        return re.search(r"\bImmutable\b", f.comment) is not None

    def editable(self, resource):
        return [f.name for f in self.fields[resource]
                if not self.output_only(f) and not self.immutable(f)]

    def fixed(self, resource):
        return [f.name for f in self.fields[resource]
                if self.output_only(f) or self.immutable(f)]

    def update_rpcs(self):
        """(resource, rpc, request field holding the resource) for each
        Update method that takes an update_mask."""
        out = []
        for r in self.rpcs.values():
            if not r.name.startswith("Update"):
                continue
            res = r.name[len("Update"):]
            names = {f.name: f for f in self.fields.get(r.request, [])}
            if res in self.fields and "update_mask" in names:
                holder = [f.name for f in self.fields[r.request] if f.type == res]
                out.append((res, r, holder[0]))
        return out

    def life_cycles(self):
        lc = collections.defaultdict(list)
        for a in self.arrows:
            lc[a.resource].append(a)
        return dict(lc)


def roles_by_method():
    """docs/authz.md's matrix (generated from the code): method -> roles."""
    out, header = {}, None
    for line in open(AUTHZ_MD, encoding="utf-8"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == "method":
            header = cells[1:-1]
        elif header and len(cells) == len(header) + 2 and "." in cells[0]:
            out[cells[0].split(".")[1]] = [r for r, c in zip(header, cells[1:-1]) if c == "yes"]
    return out


# ---- Hand-written parts: sample values, fixtures, server recipes ----

DATE = common_pb2.Date
# A valid new value for every editable field (different from the fixtures').
SAMPLES = {
    "Need": dict(title="A renamed need", description="A rewritten description.",
                 beneficiary="Another beneficiary", region="Lviv Oblast",
                 sector=common_pb2.SECTOR_WATER, category=common_pb2.CATEGORY_TRAINING,
                 domain=Need.DOMAIN_MILITARY, priority=Need.PRIORITY_LOW,
                 estimated_cost=eur(777), needed_by=DATE(year=2031, month=2, day=3),
                 sensitivity=Need.SENSITIVITY_RESTRICTED),
    "Donor": dict(display_name="A renamed donor", country_code="LT",
                  membership=Donor.MEMBERSHIP_OBSERVER,
                  capabilities=[common_pb2.CATEGORY_TRAINING, common_pb2.CATEGORY_RECOVERY],
                  contact_email="new@donor.example"),
    # Pledges in USD (rates: docs/reporting.md); the World keeps a rate of today.
    "Pledge": dict(amount=common_pb2.Money(currency_code="USD", units=4321),
                   fiscal_year=2031, source="A revised budget line",
                   state=Pledge.STATE_COMMITTED,
                   exchange_rate=rate_pb2.ExchangeRate(
                       currency_code="USD", rate="1.0850", base_currency_code="EUR",
                       rate_date=DATE(year=2031, month=1, day=2), source="Given with the call")),
}
# Output-only fields the contract makes follow editable ones (so an update of
# those changes them too): a pledge's value in the accounting currency
# follows its amount, its rate and its state (committing fixes it at the rate
# of the day, which records that rate).
FOLLOWS = {("Pledge", "accounting_amount"), ("Pledge", "value_date"), ("Pledge", "value_fixed"),
           ("Pledge", "available")}
FOLLOWS_STATE = {("Pledge", "exchange_rate")}
# Valid values for fixed fields where any other value would be refused for
# being invalid rather than for being fixed.
FIXED_SAMPLES = {("Donor", "parent"): lambda w: w.donor2}
PREFERRED = ["FRONT_OFFICE", "BACK_OFFICE", "COORDINATOR", "ADMIN", "DONOR"]


class World:
    def __init__(self, binary):
        d, admin_token, _ = init_data_dir(binary, prefix="tallinn-contract-")
        self.srv = start_insecure(binary, d, "--quiet")
        self.conn = Conn(self.srv.addr)
        self.admin = Client(self.conn, admin_token, "principals/admin")
        self.by_role = {"ADMIN": self.admin}
        for role in ("FRONT_OFFICE", "BACK_OFFICE", "COORDINATOR"):
            p, tok = create_principal(self.admin, "c-" + role.lower().replace("_", "-"),
                                      Principal.Role.Value("ROLE_" + role))
            self.by_role[role] = Client(self.conn, tok, p.name)
        self.roles = roles_by_method()
        bo = self.by_role["BACK_OFFICE"]
        self.donor = bo.D.CreateDonor(donor_pb2.CreateDonorRequest(donor_id="contractland", donor=Donor(
            display_name="Contractland", kind=Donor.KIND_STATE, country_code="EE",
            membership=Donor.MEMBERSHIP_MEMBER))).name
        self.pledge = bo.D.CreatePledge(donor_pb2.CreatePledgeRequest(
            parent=self.donor, pledge_id="big", pledge=Pledge(
                amount=eur(10 ** 9), fiscal_year=2025, state=Pledge.STATE_COMMITTED))).name
        self.donor2 = bo.D.CreateDonor(donor_pb2.CreateDonorRequest(donor_id="otherland", donor=Donor(
            display_name="Otherland", kind=Donor.KIND_STATE, country_code="LV",
            membership=Donor.MEMBERSHIP_MEMBER))).name
        p, tok = create_principal(self.admin, "c-donor", Principal.ROLE_DONOR, self.donor)
        self.by_role["DONOR"] = Client(self.conn, tok, p.name)
        self.shared_need = None
        # The kept USD rate of today (UTC), which USD pledges are valued at.
        today = time.gmtime()
        bo.call("ExchangeRateService.CreateExchangeRate", rate_pb2.CreateExchangeRateRequest(
            exchange_rate=rate_pb2.ExchangeRate(
                currency_code="USD", rate="1.25", source="Contract test",
                rate_date=DATE(year=today.tm_year, month=today.tm_mon, day=today.tm_mday))))

    def caller(self, method):
        roles = self.roles.get(method)
        assert roles, "docs/authz.md has no row for %s" % method
        for r in PREFERRED:
            if r in roles:
                return self.by_role[r]
        raise AssertionError("no test principal for %s (roles %s)" % (method, roles))

    def call(self, method, req):
        return self.caller(method).call(SERVICE_OF[method] + "." + method, req)

    def get(self, resource, name):
        req = {"Need": need_pb2.GetNeedRequest, "Match": match_pb2.GetMatchRequest,
               "Pledge": donor_pb2.GetPledgeRequest, "Donor": donor_pb2.GetDonorRequest,
               "Principal": principal_pb2.GetPrincipalRequest}[resource](name=name)
        return self.call("Get" + resource, req)

    def open_need(self, cost=10 ** 6):
        n = self.call("CreateNeed", need_pb2.CreateNeedRequest(
            need=need_msg(estimated_cost=eur(cost)))).name
        self.call("SubmitNeed", need_pb2.SubmitNeedRequest(name=n))
        self.call("ValidateNeed", need_pb2.ValidateNeedRequest(name=n))
        return n


SERVICE_OF = {}  # method -> service, from the generated descriptors


# Fixtures: a new resource made by its create method. `state` is the
# requested creation state where the create request carries one.
def create_need(w, state=None):
    n = need_msg()
    if state is not None:
        n.state = Need.State.Value("STATE_" + state)
    return w.call("CreateNeed", need_pb2.CreateNeedRequest(need=n))


def create_match(w, state=None):
    if w.shared_need is None:
        w.shared_need = w.open_need(cost=10 ** 8)
    m = Match(need=w.shared_need, donor=w.donor, pledge=w.pledge, amount=eur(10),
              description="EDR licences, one year")
    if state is not None:
        m.state = Match.State.Value("STATE_" + state)
    return w.call("CreateMatch", match_pb2.CreateMatchRequest(match=m))


def create_pledge(w, state=None):
    p = Pledge(amount=common_pb2.Money(currency_code="USD", units=1000), fiscal_year=2025,
               source="A budget line")
    if state is not None:
        p.state = Pledge.State.Value("STATE_" + state)
    return w.call("CreatePledge", donor_pb2.CreatePledgeRequest(parent=w.donor, pledge=p))


def create_principal_fx(w, state=None):
    p = Principal(display_name="Contract test", role=Principal.ROLE_OBSERVER)
    if state is not None:
        p.state = Principal.State.Value("STATE_" + state)
    return w.call("CreatePrincipal", principal_pb2.CreatePrincipalRequest(principal=p)).principal


CREATE = {"Need": create_need, "Match": create_match, "Pledge": create_pledge,
          "Principal": create_principal_fx}


def fulfil(w, lc, from_state):
    """Recipe for `-server-> FULFILLED`: an OPEN need with a delivered match
    covering its cost, moved to from_state along the arrows, then the
    delivery accepted. Returns the need afterwards (None: from_state is not
    reachable with a delivered match)."""
    path = lc.path("OPEN", from_state)
    if path is None:
        return None
    n = w.open_need(cost=100)
    m = w.call("CreateMatch", match_pb2.CreateMatchRequest(match=Match(
        need=n, donor=w.donor, pledge=w.pledge, amount=eur(100), description="Everything")))
    for meth in ("ApproveMatch", "StartDelivery", "MarkDelivered"):
        w.call(meth, getattr(match_pb2, meth + "Request")(name=m.name))
    for a in path:
        lc.invoke(w, a, w.get("Need", n), reason=True)
    assert state_name(w.get("Need", n)) == from_state
    w.call("AcceptDelivery", match_pb2.AcceptDeliveryRequest(name=m.name))
    return w.get("Need", n)


SERVER_RECIPES = {("Need", "FULFILLED"): fulfil}


def state_name(msg):
    return msg.DESCRIPTOR.fields_by_name["state"].enum_type.values_by_number[msg.state].name[6:]


# ---- Life cycles ----

class LifeCycle:
    def __init__(self, contract, resource, arrows):
        self.c, self.resource = contract, resource
        self.arrows = arrows
        self.states = [v[len("STATE_"):] for v in contract.enums[resource + ".State"]
                       if v != "STATE_UNSPECIFIED"]
        self.create = [a for a in arrows if not a.froms]
        self.moves = [a for a in arrows if a.froms and a.method != "server"]
        self.server = [a for a in arrows if a.froms and a.method == "server"]
        self.methods = sorted({a.method for a in self.moves})
        self.by_update = any(m.startswith("Update") for m in self.methods)
        for a in arrows:
            for s in a.froms + (a.to,):
                assert s in self.states, "%s arrow names unknown state %s" % (resource, s)
            assert a.method == "server" or a.method in contract.rpcs, \
                "%s arrow names unknown method %s" % (resource, a.method)

    def path(self, start, goal):
        """Shortest list of arrows from start to goal (not through server
        arrows), or None."""
        prev, todo = {start: None}, [start]
        while todo:
            s = todo.pop(0)
            if s == goal:
                out = []
                while prev[s] is not None:
                    s, a = prev[s]
                    out.append(a)
                return out[::-1]
            for a in self.moves:
                if s in a.froms and a.to not in prev:
                    prev[a.to] = (s, a)
                    todo.append(a.to)
        return None

    def invoke(self, w, a_or_method, obj, reason, to=None):
        """Calls the arrow's method on obj (UpdateX: sets state to `to`)."""
        method = a_or_method if isinstance(a_or_method, str) else a_or_method.method
        to = to if to is not None else (a_or_method.to if not isinstance(a_or_method, str)
                                        else None)
        svc = SERVICE_OF[method]
        cls = w.caller(method).conn.methods[svc + "." + method][2]
        if method.startswith("Update"):
            field = [f.name for f in cls.DESCRIPTOR.fields if f.name != "update_mask"][0]
            msg = cls.DESCRIPTOR.fields_by_name[field].message_type._concrete_class(
                name=obj.name)
            msg.state = msg.DESCRIPTOR.fields_by_name["state"].enum_type.values_by_name[
                "STATE_" + to].number
            req = cls(**{field: msg, "update_mask": field_mask_pb2.FieldMask(paths=["state"])})
        else:
            kw = {"name": obj.name}
            if reason and "reason" in cls.DESCRIPTOR.fields_by_name:
                kw["reason"] = "contract test"
            req = cls(**kw)
        return w.caller(method).call(svc + "." + method, req)

    def reach(self, w, state):
        """A new resource in state (along the arrows or a server recipe)."""
        for a in self.create:
            path = self.path(a.to, state)
            if path is not None:
                obj = CREATE[self.resource](w, a.to if self.by_update else None)
                for step in path:
                    obj = self.invoke(w, step, obj, reason=True)
                assert state_name(obj) == state, (self.resource, state, state_name(obj))
                return obj
        for a in self.server:
            if a.to == state:
                recipe = SERVER_RECIPES.get((self.resource, a.to))
                assert recipe, "no server recipe for %s -> %s" % (self.resource, a.to)
                return recipe(w, self, a.froms[0])
        raise AssertionError("%s state %s cannot be reached along the arrows"
                             % (self.resource, state))


def kept_fields(contract, resource, msg):
    """The fields of msg that no arrow may change (all but output-only)."""
    keep = [f.name for f in contract.fields[resource] if not contract.output_only(f)]
    return {f: getattr(msg, f) for f in keep if f != "state"}


def check_arrow(w, contract, lc, a, s, bad):
    obj = lc.reach(w, s)
    what = "%s %s -%s-> %s" % (lc.resource, s, a.method, a.to)
    before = kept_fields(contract, lc.resource, obj)
    if a.reason:
        try:
            lc.invoke(w, a, obj, reason=False)
            bad.append("%s: succeeded without the required reason" % what)
            return
        except grpc.RpcError as e:
            if e.code() != Code.INVALID_ARGUMENT:
                bad.append("%s without reason: %s %s" % (what, e.code().name, e.details()))
                return
    try:
        got = lc.invoke(w, a, obj, reason=a.reason)
    except grpc.RpcError as e:
        bad.append("%s: %s %s" % (what, e.code().name, e.details()))
        return
    if hasattr(got, "principal"):
        got = got.principal
    if state_name(got) != a.to:
        bad.append("%s: ended in %s" % (what, state_name(got)))
    after = kept_fields(contract, lc.resource, got)
    changed = [f for f in before if before[f] != after[f]]
    if changed:
        bad.append("%s changed %s (not output only)" % (what, changed))


def test_life_cycle(w, contract, resource):
    lc = LifeCycle(contract, resource, contract.life_cycles()[resource])
    bad, tried = [], 0
    # Creation: only the states of the create arrows; "(the default)" is
    # what a create without a state gives.
    for a in lc.create:
        asks = [a.to if lc.by_update else None]
        if "the default" in a.note:
            asks.append(None)
        for ask in asks:
            obj = CREATE[resource](w, ask)
            if state_name(obj) != a.to:
                bad.append("create asking for %s: got %s" % (ask, state_name(obj)))
            tried += 1
    create_states = {a.to for a in lc.create}
    state_field = [f for f in contract.fields[resource] if f.name == "state"][0]
    for s in lc.states:
        if s in create_states:
            continue
        tried += 1
        try:
            obj = CREATE[resource](w, s)
        except grpc.RpcError as e:
            if contract.output_only(state_field) or e.code() != Code.INVALID_ARGUMENT:
                bad.append("create asking for %s: %s %s" % (s, e.code().name, e.details()))
            continue
        if not contract.output_only(state_field):
            bad.append("create in %s (no create arrow) succeeded" % s)
        elif state_name(obj) not in create_states:
            bad.append("create asking for %s (output only) gave %s" % (s, state_name(obj)))
    # Every state x every method (UpdateX: x every target state).
    for s in lc.states:
        try:
            obj = lc.reach(w, s)
        except AssertionError as e:
            bad.append(str(e))
            continue
        for method in lc.methods:
            targets = lc.states if method.startswith("Update") else [None]
            for to in targets:
                arrows = [a for a in lc.moves if a.method == method and s in a.froms and
                          (to is None or a.to == to)]
                tried += 1
                if arrows:
                    check_arrow(w, contract, lc, arrows[0], s, bad)
                    continue
                what = "%s %s -%s-> %s" % (resource, s, method, to or "?")
                cur = w.get(resource, obj.name)
                try:
                    got = lc.invoke(w, method, cur, reason=True, to=to)
                except grpc.RpcError as e:
                    if e.code() != Code.FAILED_PRECONDITION:
                        bad.append("%s: expected FAILED_PRECONDITION, got %s %s"
                                   % (what, e.code().name, e.details()))
                    elif not re.search(r"\b%s\b" % s, e.details()):
                        bad.append("%s: message does not name %s: %s" % (what, s, e.details()))
                    if w.get(resource, obj.name) != cur:
                        bad.append("%s: refused, but it changed the %s" % (what, resource))
                    continue
                if to == s:  # naming the current state again: no change of state
                    if state_name(got) != s:
                        bad.append("%s (the current state): moved to %s"
                                   % (what, state_name(got)))
                    continue
                bad.append("%s: no such arrow, but it succeeded (now %s)"
                           % (what, state_name(got)))
                obj = lc.reach(w, s)
    # Server arrows: from every state reachable with the recipe.
    for a in lc.server:
        recipe = SERVER_RECIPES.get((resource, a.to))
        if recipe is None:
            bad.append("no server recipe for %s -> %s: add one" % (resource, a.to))
            continue
        for s in lc.states:
            if s == a.to:
                continue
            tried += 1
            got = recipe(w, lc, s)
            if got is None:
                continue
            want = a.to if s in a.froms else s
            if state_name(got) != want:
                bad.append("%s %s -server-> : expected %s, got %s"
                           % (resource, s, want, state_name(got)))
    print("     %s: %d states, %d arrows, %d checks" % (resource, len(lc.states),
                                                         len(lc.arrows), tried))
    assert not bad, "\n".join(bad)


def test_rpc_comments_agree(contract):
    """`A or B -> C` at the start of an rpc comment = the arrow lines."""
    bad, n = [], 0
    for r in contract.rpcs.values():
        m = RPC_ARROW_RE.match(r.comment)
        if not m:
            continue
        n += 1
        froms = set(re.split(r", | or ", m.group("froms")))
        arrows = [a for a in contract.arrows if a.method == r.name]
        table = {(f, a.to) for a in arrows for f in a.froms}
        if table != {(f, m.group("to")) for f in froms}:
            bad.append("%s: comment says %s -> %s, arrow lines say %s"
                       % (r.name, sorted(froms), m.group("to"), sorted(table)))
    assert n >= 10, "only %d rpc comments with arrows: the parser is broken" % n
    assert not bad, "\n".join(bad)


# ---- Updates ----

def mask(*paths):
    return field_mask_pb2.FieldMask(paths=list(paths))


def other_value(desc_field, current):
    """Some value of the field's type different from current."""
    t = desc_field.type
    F = desc_field
    if F.label == F.LABEL_REPEATED:
        return None
    if t == F.TYPE_STRING:
        return current + "-changed" if current else "changed"
    if t == F.TYPE_ENUM:
        for v in F.enum_type.values:
            if v.number != current and v.number != 0:
                return v.number
    if t == F.TYPE_BOOL:
        return not current
    if t in (F.TYPE_INT32, F.TYPE_INT64):
        return current + 1
    if t == F.TYPE_MESSAGE:
        m = F.message_type._concrete_class()
        if F.message_type.name == "Money":
            return eur(123)
        if F.message_type.name == "Timestamp":
            m.seconds = 12345
        return m
    return None


def update_fixture(w, resource):
    if resource == "Need":
        return create_need(w)
    if resource == "Pledge":
        return create_pledge(w, "ANNOUNCED")
    if resource == "Donor":  # a company: it has a parent to keep
        return w.call("CreateDonor", donor_pb2.CreateDonorRequest(donor=Donor(
            display_name="Updatable", kind=Donor.KIND_COMPANY, country_code="EE",
            parent=w.donor, membership=Donor.MEMBERSHIP_MEMBER,
            contact_email="old@donor.example", capabilities=[common_pb2.CATEGORY_HARDWARE])))
    raise AssertionError("no update fixture for %s: add one" % resource)


def details_fields(err):
    """The field names of the BadRequest in an error's status details."""
    for k, v in err.trailing_metadata() or ():
        if k == "grpc-status-details-bin":
            st = status_pb2.Status.FromString(v)
            out = []
            for any_ in st.details:
                if any_.type_url.endswith("/google.rpc.BadRequest"):
                    out += [fv.field for fv in
                            errdet_pb2.BadRequest.FromString(any_.value).field_violations]
            return out
    return []


def test_update(w, contract, resource, rpc, holder):
    editable, fixed = contract.editable(resource), contract.fixed(resource)
    # The update_mask comment lists exactly the editable fields (and, where it
    # names them, the fixed ones).
    mc = [f for f in contract.fields[rpc.request] if f.name == "update_mask"][0].comment
    m = re.search(r"Fields to change, from: ([a-z_, ]+)\.", mc.replace("\n", " "))
    assert m, "%s.update_mask: no 'Fields to change, from: ...' list" % rpc.request
    listed = [x.strip() for x in m.group(1).split(",")]
    assert sorted(listed) == sorted(editable), \
        "%s.update_mask lists %s; the field comments make %s editable" % (
            rpc.request, listed, editable)
    m = re.search(r"fields \(([a-z_, ]+)\)", mc.replace("\n", " "))
    if m:
        assert sorted(x.strip() for x in m.group(1).split(",")) == sorted(fixed), \
            "%s.update_mask names %s as fixed; the field comments say %s" % (
                rpc.request, m.group(1), fixed)
    missing = [f for f in editable if f not in SAMPLES.get(resource, {})]
    assert not missing, "no sample value for %s.%s: add one to SAMPLES" % (resource, missing)

    svc = SERVICE_OF[rpc.name]
    caller = w.caller(rpc.name)
    cls = caller.conn.methods[svc + "." + rpc.name][2]
    rcls = cls.DESCRIPTOR.fields_by_name[holder].message_type._concrete_class
    bad = []

    def attempt(obj, paths, values, expect_ok, what, violation=None):
        obj = w.get(resource, obj.name)  # as it is now, whatever went before
        msg = rcls(name=obj.name)
        for k, v in values.items():
            if isinstance(v, list):
                getattr(msg, k).extend(v)
            elif hasattr(v, "DESCRIPTOR"):
                getattr(msg, k).CopyFrom(v)
            else:
                setattr(msg, k, v)
        req = cls(**{holder: msg})
        if paths is not None:
            req.update_mask.CopyFrom(mask(*paths))
        try:
            got = caller.call(svc + "." + rpc.name, req)
        except grpc.RpcError as e:
            if expect_ok:
                bad.append("%s: %s %s" % (what, e.code().name, e.details()))
            elif e.code() != Code.INVALID_ARGUMENT:
                bad.append("%s: expected INVALID_ARGUMENT, got %s %s"
                           % (what, e.code().name, e.details()))
            elif violation is not None and violation not in details_fields(e):
                bad.append("%s: no BadRequest violation on %s (got %s)"
                           % (what, violation, details_fields(e)))
            now = w.get(resource, obj.name)
            if now.etag != obj.etag:
                bad.append("%s: refused, but it changed the %s" % (what, resource))
            return None
        if not expect_ok:
            bad.append("%s: expected INVALID_ARGUMENT, it succeeded" % what)
        return got

    obj = update_fixture(w, resource)
    samples = SAMPLES[resource]
    # No mask, an empty mask, "*", an unknown path: refused, nothing changes.
    attempt(obj, None, samples, False, "%s without update_mask" % rpc.name, "update_mask")
    attempt(obj, [], samples, False, "%s with an empty update_mask" % rpc.name, "update_mask")
    attempt(obj, ["*"], samples, False, "%s with update_mask \"*\"" % rpc.name,
            "update_mask.paths[0]")
    attempt(obj, ["no_such_field"], samples, False, "%s with an unknown path" % rpc.name,
            "update_mask.paths[0]")
    # Output-only and immutable fields: refused even with a changed value.
    for f in fixed:
        fd = rcls.DESCRIPTOR.fields_by_name[f]
        v = other_value(fd, getattr(obj, f)) if f not in ("name", "etag") else None
        if (resource, f) in FIXED_SAMPLES:
            v = FIXED_SAMPLES[resource, f](w)
        vals = dict(samples)
        if v is not None:
            vals[f] = v
        attempt(obj, [f], vals, False, "%s of %s.%s" % (rpc.name, resource, f),
                "update_mask.paths[0]")
    # Each editable field alone: it changes, and nothing else does, although
    # the request carries new values for every editable field.
    for f in editable:
        obj = update_fixture(w, resource)
        got = attempt(obj, [f], samples, True, "%s of %s.%s" % (rpc.name, resource, f))
        if got is None:
            continue
        for g in editable:
            if g != f and f == "state" and (resource, g) in FOLLOWS_STATE:
                continue
            want = samples[g] if g == f else getattr(obj, g)
            have = getattr(got, g)
            if isinstance(want, list):
                have = list(have)
            if have != want:
                bad.append("%s with mask [%s]: %s is %r, expected %r"
                           % (rpc.name, f, g, have, want))
        for g in fixed:
            if g in ("update_time", "etag") or (resource, g) in FOLLOWS:
                continue  # change with every update, or follow amount, rate, state
            if getattr(got, g) != getattr(obj, g):
                bad.append("%s with mask [%s]: %s (output only or immutable) changed"
                           % (rpc.name, f, g))
    print("     %s: %d editable, %d fixed fields" % (rpc.name, len(editable), len(fixed)))
    assert not bad, "\n".join(bad)


def main():
    binary = sys.argv[1]
    t0 = time.monotonic()
    contract = Contract(PROTO_DIR)
    cases = harness.Cases()
    w = World(binary)
    for path in w.conn.methods:
        svc, method = path.split(".")
        SERVICE_OF[method] = svc
    try:
        cases.run("rpc comments agree with the arrow lines", test_rpc_comments_agree, contract)
        ups = contract.update_rpcs()
        assert {r.name for _, r, _ in ups} >= {"UpdateNeed", "UpdateDonor", "UpdatePledge"}, ups
        for resource, rpc, holder in ups:
            cases.run("update contract: " + rpc.name, test_update, w, contract, resource, rpc,
                      holder)
        lcs = contract.life_cycles()
        assert set(lcs) >= {"Need", "Match", "Pledge", "Principal"}, sorted(lcs)
        for resource in sorted(lcs):
            cases.run("life cycle: " + resource, test_life_cycle, w, contract, resource)
    finally:
        rc = w.srv.stop()
    cases.run("server exits 0", lambda: None if rc == 0 else (_ for _ in ()).throw(
        AssertionError("tallinnd exited %d" % rc)))
    print("     total %.1f s" % (time.monotonic() - t0))
    cases.finish()


if __name__ == "__main__":
    main()
