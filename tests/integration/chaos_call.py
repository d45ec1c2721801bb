"""How the chaos test (chaos_test.py) builds one call and decides what
answers the contract allows for it: Call, the shared drawing helpers (Ctx)
and the order of checks.

Expected statuses follow the contract in this order: credentials, role
(docs/authz.md), request validation (INVALID_ARGUMENT), then visibility
(NOT_FOUND, for "missing" and "not yours" alike), etag (ABORTED), state
(FAILED_PRECONDITION). Where the contract leaves an order open (an update's
field values are checked after the resource is read), both answers pass.
A string with invalid UTF-8 or a NUL may always be refused as
INVALID_ARGUMENT, even by a runtime that does so before authentication."""
import grpc

import chaos_wire as W
from chaos_model import ROLES, common_pb2, donor_pb2, match_pb2, need_pb2, principal_pb2

C = grpc.StatusCode
OK, IA, NF, PD, FP = C.OK, C.INVALID_ARGUMENT, C.NOT_FOUND, C.PERMISSION_DENIED, C.FAILED_PRECONDITION
AB, AE, UA, RE, OOR = C.ABORTED, C.ALREADY_EXISTS, C.UNAUTHENTICATED, C.RESOURCE_EXHAUSTED, C.OUT_OF_RANGE
KEYS = list(ROLES)


class Call:
    """One request as sent, and what the contract allows as its answer.
    tags name the kinds of hostile values and situations in it; failures
    are grouped by them."""

    def __init__(self, who, method, body, msg=None, expect=(OK,), klass="", item="",
                 stream=False, timeout=60, tags=(), notes=()):
        self.who, self.method, self.body, self.msg = who, method, body, msg
        self.expect = set(expect)
        # Valid values at an edge (notes) name the call only when nothing
        # hostile or special does.
        self.tags = tuple(sorted(set(tags or notes)))
        self.klass, self.item, self.stream = klass, item_for(self.tags, item), stream
        self.timeout = timeout
        self.subs = ()


def tag_of(violation):
    """"need.title=text.nul.inner" -> "text.nul.inner";
    "update_mask=empty" -> "update_mask.empty"."""
    field, _, cls = violation.partition("=")
    if field == "update_mask" or "." not in cls:
        return field.split(".")[-1] + "." + cls
    return cls


def item_for(tags, default):
    """The issue 10 item a failure with these tags most likely belongs to
    ("-": a defect of the same kind that issue 10 does not list)."""
    for t in tags:
        if t.startswith("max=") or t in ("text.multiline_ok", "text.newline_allowed"):
            return "-"
    for t in tags:
        if any(k in t for k in ("nul", "utf8", "ctl.", "escape", "newline")) or \
                t == "replay.other_case":
            return "7"
    for t in tags:
        if t.startswith("update_mask") or t == "COMMITTED->ANNOUNCED":
            return "6"
    for t in tags:
        if t.startswith("caps.") and t[-1].isdigit():
            return "8"
    for t in tags:
        if t in ("other_donors_match", "hidden_need", "id_of_other_donor", "donor_chose_id"):
            return "4"
    return default


PATHS = {m.name: "/%s/%s" % (s.full_name, m.name)
         for mod in (need_pb2, donor_pb2, match_pb2, principal_pb2)
         for s in mod.DESCRIPTOR.services_by_name.values() for m in s.methods}


def svc(method):
    """The full path of a method of the domain and principal services."""
    return PATHS[method]


def strings_of(msg):
    """Every string value in a message, nested and repeated ones too."""
    out = []
    for f, v in msg.ListFields():
        vs = v if f.label == f.LABEL_REPEATED else [v]
        for x in vs:
            if f.type == f.TYPE_STRING:
                out.append(x)
            elif f.type == f.TYPE_MESSAGE:
                out += strings_of(x)
    return out


class Ctx:
    """What actions share: the random source, the model, the authz table, the
    request_ids used so far and the budget for calls with bad credentials."""

    def __init__(self, rng, world, matrix):
        self.rng = rng
        self.world = world
        self.matrix = matrix
        self.rid_log = []        # (who, method, msg, body, first response): OK calls with a request_id
        self.page_tokens = []    # (who, method, request fields, token)
        self.calls_made = 0
        self.bad_auth_used = 0
        self.oracle = None       # set by the runner: oracle(kind, name) -> message or None

    # ---- Drawing ----

    def chance(self, p):
        return self.rng.random() < p

    def pick(self, seq):
        seq = list(seq)
        return seq[self.rng.randrange(len(seq))] if seq else None

    def mk(self):
        """A marker: a distinctive string the leak check can search for."""
        return "MK%010X" % self.rng.getrandbits(40)

    def new_id(self, prefix):
        return "%s%010x" % (prefix, self.rng.getrandbits(40))

    def hex16(self):
        return "%016x" % self.rng.getrandbits(64)

    def who_for(self, method, preferred):
        """Usually a role that may call the method; sometimes anyone, and
        rarely nobody or a forged token (within a budget that stays below
        the server's failure throttle, so the throttle is tested on its own
        at the end)."""
        r = self.rng.random()
        if r < 0.012 and self.bad_auth_used < 5 + self.calls_made // 2000:
            self.bad_auth_used += 1
            return self.pick(["none", "bad"])
        if r < 0.15:
            return self.pick(KEYS)
        return self.pick(preferred)

    def allowed(self, who, method):
        return ROLES.get(who) in self.matrix.get(method, ())

    # ---- Expected statuses ----

    def gate(self, who, method, bad, raw_bad, semantic, late_bad=()):
        """bad: violations checked before anything else; raw_bad: a string
        holds invalid UTF-8 or NUL (a runtime may refuse those while
        decoding, before authentication); late_bad: violations a handler may
        find only after reading the resource."""
        if who in ("none", "bad"):
            return {UA, RE} | ({IA} if raw_bad else set())
        if not self.allowed(who, method):
            return {PD} | ({IA} if raw_bad else set())
        if bad:
            return {IA}
        want = set(semantic())
        if late_bad:
            want = {IA} | (want - {OK})
        if raw_bad:  # even in a field the method ignores
            want.add(IA)
        return want

    def raw_bad(self, msg, wire):
        if any("\x00" in s for s in strings_of(msg)):
            return True
        for _, raw in wire.subs:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return True
        return False

    def call(self, who, method, msg, wire, bad, semantic, klass, item="", late_bad=(),
             sem=None, **kw):
        """A Call: the request's bytes and the statuses allowed for it. sem
        is a list semantic() may add situation tags to."""
        raw_bad = self.raw_bad(msg, wire)
        body = wire.bytes(msg)
        extra = []
        if self.chance(0.03):  # unknown fields, sometimes many: must be ignored
            n = self.pick([1, 1, 3, 20000])
            body += (b"\xb8\x3e\x01" + b"\xc2\x3e\x04junk") * n
            extra.append("unknown_fields" if n < 100 else "huge_unknown_fields")
        exp = self.gate(who, method, bad, raw_bad, semantic, late_bad)
        viol = sorted(set(bad) | set(late_bad))
        sem = list(sem or ())
        tags = [tag_of(v) for v in viol] + sem
        klass = ":".join([klass] + sem + self._notes + extra + [",".join(viol) or "valid"])
        call = Call(who, method, body, msg, exp, klass=klass, item=item, tags=tags,
                    notes=self._notes, **kw)
        call.subs = wire.subs
        return call

    # ---- Field values ----

    def text(self, field_bad, name, limit, valid, multiline=False, hostile_p=0.06,
             required=True):
        """A text value: valid (with a marker) or hostile. Appends the field
        to field_bad when the contract refuses the value."""
        if self.chance(hostile_p):
            cls, v, ok = W.hostile_text(self.rng, limit, multiline)
            if v == "" and not required:
                ok = True
            if not ok:
                field_bad.append(name + "=" + cls)
            else:
                self._notes.append(cls)  # valid, but at an edge: a tag all the same
            return v
        return valid

    def money(self, field_bad, name, hostile_p=0.06, big_bias=0.3, positive=True):
        m = common_pb2.Money()
        w = self._wire
        if self.chance(hostile_p):
            cls, (cur, units, n) = W.hostile_money(self.rng)
            if not W.money_valid(cur, units, n, positive):
                field_bad.append(name + "=" + cls)
        else:
            cur, units, n = W.good_money(self.rng, big_bias)
        m.currency_code = w.s(cur)
        m.units = units
        m.nanos = n
        return m

    def etag(self, res):
        """(class, value, kind): kind none/match/mismatch/bad/weird."""
        r = self.rng.random()
        cur = res.msg.etag if res is not None else ""
        if r < 0.45:
            return "etag.none", "", "none"
        if r < 0.72 and cur:
            return "etag.current", cur, "match"
        if r < 0.78 and res is not None and len(res.etags) > 1:
            return "etag.stale", self.pick(sorted(res.etags - {cur})), "mismatch"
        if r < 0.86:
            return "etag.random", self.hex16(), "mismatch"
        if r < 0.90 and cur:
            return "etag.nul_suffix", cur + "\x00junk", "bad"
        if r < 0.94:
            return "etag.utf8", W.Raw(b"\xff\xfe" * 8), "bad"
        cls, v = ("etag.escape", "\x1b[2J" + self.hex16()) if r < 0.97 else ("etag.huge", "e" * 70000)
        self._notes.append(cls)  # an opaque string: ABORTED or INVALID_ARGUMENT
        return cls, v, "weird"

    def rid(self, bad):
        """A request_id: none, a new one (sometimes upper case) or a bad one."""
        r = self.rng.random()
        if r < 0.45:
            return ""
        if r < 0.93:
            return W.new_rid(self.rng, upper=self.chance(0.2))
        cls, v = W.hostile_rid(self.rng)
        bad.append("request_id=" + cls)
        return v

    def name(self, bad, table, prefix, field="name", hostile_p=0.06, missing_p=0.08,
             pool=None):
        """An existing name (from pool or the table), a missing one or a
        malformed one."""
        r = self.rng.random()
        if r < hostile_p:
            cls, v = W.hostile_name(self.rng, prefix)
            bad.append(field + "=" + cls)
            return v
        if r < hostile_p + missing_p or not (pool if pool is not None else table):
            return prefix + self.new_id("z")
        return self.pick(pool if pool is not None else list(table))

    def begin(self):
        self._wire = W.Wire(self.rng)
        self._notes = []
        return self._wire

    def remember_rid(self, who, method, msg, wire, res):
        """An acknowledged call with a request_id, for a_replay."""
        rid = getattr(msg, "request_id", "")
        if res.code == OK and rid and not wire.subs:
            self.rid_log.append((who, method, msg, res.call.body, res.resp))


def etag_chain(visible, etag_kind, then):
    """Visibility before etag before everything else."""
    if not visible:
        return {NF, IA} if etag_kind == "weird" else {NF}
    if etag_kind == "mismatch":
        return {AB}
    if etag_kind == "weird":
        return {AB, IA}
    return then()
