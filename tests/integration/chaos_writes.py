"""Write actions of the chaos test (chaos_test.py): needs, donors, pledges
and matches through their whole workflows, with valid and hostile fields,
random update masks and etags. Each action is a generator that yields Calls
(chaos_call.py) and gets Results back; it feeds the model with what the
server answered."""
from google.protobuf import field_mask_pb2

import chaos_wire as W
from chaos_call import AE, FP, IA, NF, OK, PD, etag_chain, svc
from chaos_model import (COMMITTED, DONOR_OF, ROLES, Donor, Match, Need, Pledge, donor_pb2,
                         match_pb2, need_pb2, nanos)

NS = Need
NON_TERMINAL = {NS.STATE_DRAFT, NS.STATE_SUBMITTED, NS.STATE_RETURNED, NS.STATE_OPEN,
                NS.STATE_ON_HOLD}
# method: (states allowed before, state after, reason: none/optional/required, roles)
NEED_T = {
    "SubmitNeed": ({NS.STATE_DRAFT, NS.STATE_RETURNED}, NS.STATE_SUBMITTED, "none", ["fo"]),
    "ValidateNeed": ({NS.STATE_SUBMITTED}, NS.STATE_OPEN, "none", ["bo"]),
    "ReturnNeed": ({NS.STATE_SUBMITTED}, NS.STATE_RETURNED, "required", ["bo"]),
    "RejectNeed": ({NS.STATE_SUBMITTED}, NS.STATE_REJECTED, "required", ["bo"]),
    "RouteNeed": ({NS.STATE_SUBMITTED}, NS.STATE_ROUTED_TO_IT_COALITION, "required", ["bo"]),
    "HoldNeed": ({NS.STATE_OPEN}, NS.STATE_ON_HOLD, "optional", ["bo"]),
    "ResumeNeed": ({NS.STATE_ON_HOLD}, NS.STATE_OPEN, "none", ["bo"]),
    "CancelNeed": (NON_TERMINAL, NS.STATE_CANCELLED, "required", ["fo"]),
    "CloseNeed": ({NS.STATE_OPEN}, NS.STATE_CLOSED, "required", ["bo"]),
}
MS = Match
MATCH_T = {
    "ApproveMatch": ({MS.STATE_PROPOSED}, MS.STATE_APPROVED, "optional", ["co", "co2"]),
    "DeclineMatch": ({MS.STATE_PROPOSED}, MS.STATE_DECLINED, "required", ["co", "co2"]),
    "WithdrawMatch": ({MS.STATE_PROPOSED, MS.STATE_APPROVED}, MS.STATE_WITHDRAWN, "required",
                      ["da", "db"]),
    "StartDelivery": ({MS.STATE_APPROVED}, MS.STATE_IN_DELIVERY, "none", ["da", "db"]),
    "MarkDelivered": ({MS.STATE_IN_DELIVERY}, MS.STATE_DELIVERED, "none", ["da", "db"]),
    "AcceptDelivery": ({MS.STATE_DELIVERED}, MS.STATE_ACCEPTED, "none", ["fo"]),
    "RejectDelivery": ({MS.STATE_DELIVERED}, MS.STATE_IN_DELIVERY, "required", ["fo"]),
}
NEED_MUTABLE = ["title", "description", "beneficiary", "region", "sector", "category", "domain",
                "priority", "estimated_cost", "needed_by", "sensitivity"]
NEED_OUTPUT = ["name", "state", "state_reason", "committed_amount", "delivered_amount",
               "coverage", "create_time", "update_time", "etag"]
DONOR_MUTABLE = ["display_name", "country_code", "membership", "capabilities", "contact_email"]
DONOR_FIXED = ["name", "kind", "parent", "create_time", "update_time", "etag"]
PLEDGE_MUTABLE = ["amount", "fiscal_year", "source", "state"]
PLEDGE_OUTPUT = ["name", "allocated", "available", "create_time", "update_time", "etag"]
GOOD_COUNTRIES = ["EE", "PL", "DE", "FR", "US", "LT", "LV", "FI", "NL", "SE", "GB", "JP"]
BAD_COUNTRIES = ["XK", "EU", "UK", "ZZ", "AA", "ee", "E", "EEE", "", "E\x00", "\u00c9E"]


# ---- Needs ----

def need_fields(ctx, n, bad, markers, restricted):
    mk = ctx.mk
    vals = {"title": "Need %s firewalls" % mk(), "description": "Description %s\nline 2" % mk(),
            "beneficiary": "Beneficiary %s" % mk(), "region": "Region %s" % mk()}
    limits = {"title": (200, False), "description": (10000, True),
              "beneficiary": (200, False), "region": (100, False)}
    w = ctx._wire
    for f in vals:
        v = ctx.text(bad, "need." + f, limits[f][0], vals[f], multiline=limits[f][1])
        setattr(n, f, w.s(v))
        if v == vals[f]:
            markers[f] = v.split()[1]
    n.sector = ctx.pick(range(1, 11))
    n.category = ctx.pick(range(1, 11))
    n.priority = ctx.pick(range(1, 5))
    n.domain = ctx.pick([1] * 8 + [2, 0])
    n.sensitivity = 2 if restricted else ctx.pick([1, 1, 1, 0])
    if ctx.chance(0.06):
        f, v = ctx.pick([("sector", 0), ("sector", 99), ("category", 0), ("category", -1),
                         ("priority", 0), ("priority", 7), ("domain", 5), ("sensitivity", 9)])
        setattr(n, f, v)
        bad.append("need.%s=enum_%d" % (f, v))
    n.estimated_cost.CopyFrom(ctx.money(bad, "need.estimated_cost", big_bias=0.35))
    if ctx.chance(0.3):
        if ctx.chance(0.2):
            cls, (y, mo, d) = W.hostile_date(ctx.rng)
            bad.append("need.needed_by=" + cls)
        else:
            y, mo, d = W.good_date(ctx.rng)
        n.needed_by.year, n.needed_by.month, n.needed_by.day = y, mo, d


def a_create_need(ctx):
    w = ctx.begin()
    who = ctx.who_for(svc("CreateNeed"), ["fo"])
    bad, markers = [], {}
    n = Need()
    restricted = ctx.chance(0.3)
    need_fields(ctx, n, bad, markers, restricted)
    req = need_pb2.CreateNeedRequest(need=n)
    r = ctx.rng.random()
    taken = False
    if r < 0.7:
        req.need_id = ctx.new_id("n")
    elif r < 0.75 and ctx.world.needs:
        req.need_id = ctx.pick(ctx.world.needs).split("/", 1)[1]
        taken = True
    elif r < 0.8:
        cls, v = W.hostile_id(ctx.rng)
        req.need_id = w.s(v)
        bad.append("need_id=" + cls)
    elif r < 0.84:
        req.need_id = ctx.new_id("n") + "-" + "x" * 51  # exactly 63 characters
    if ctx.chance(0.02):
        req.ClearField("need")
        bad.append("need=absent")
    req.request_id = w.s(ctx.rid(bad))
    call = ctx.call(who, svc("CreateNeed"), req, w, bad, lambda: {AE} if taken else {OK},
                    "CreateNeed")
    res = yield call
    ctx.remember_rid(who, call.method, req, w, res)
    if res.code == OK and res.resp is not None:
        got = res.resp
        ctx.world.put("needs", got, markers)
        res.check(got.state == NS.STATE_DRAFT, "a new need is DRAFT", "6")
        res.check(got.sensitivity != 0, "sensitivity is set on create", "6")
        if req.need_id:
            res.check(got.name == "needs/" + req.need_id, "the need has the id asked for", "6")


def pick_need(ctx, states=None, p_legal=0.75):
    names = list(ctx.world.needs)
    if states and ctx.chance(p_legal):
        legal = [x for x in names if ctx.world.needs[x].msg.state in states]
        if legal:
            return ctx.pick(legal)
    return ctx.pick(names) if names else None


def a_need_transition(ctx):
    method = ctx.pick(list(NEED_T))
    before, after, reason_kind, roles = NEED_T[method]
    w = ctx.begin()
    path = svc(method)
    who = ctx.who_for(path, roles)
    bad = []
    req = getattr(need_pb2, method + "Request")()
    target = pick_need(ctx, before)
    req.name = w.s(ctx.name(bad, ctx.world.needs, "needs/", pool=[target] if target else []))
    res_ = ctx.world.needs.get(req.name)
    ecls, ev, ekind = ctx.etag(res_)
    req.etag = w.s(ev)
    if ekind == "bad":
        bad.append("etag=" + ecls)
    reason_marker = None
    if reason_kind != "none":
        if reason_kind == "required" or ctx.chance(0.5):
            valid = "Reason %s: checked" % ctx.mk()
            v = ctx.text(bad, "reason", 2000, valid, multiline=True, hostile_p=0.15,
                            required=reason_kind == "required")
            req.reason = w.s(v)
            if v == valid:
                reason_marker = valid.split()[1].rstrip(":")
        elif ctx.chance(0.1) and reason_kind == "required":
            bad.append("reason=absent")
    req.request_id = w.s(ctx.rid(bad))

    def semantic():
        visible = ctx.world.need_visible(who, req.name)

        def then():
            n = res_.msg
            if n.state not in before:
                return {FP}
            if method == "ValidateNeed" and n.domain != Need.DOMAIN_CIVILIAN:
                return {FP}
            return {OK}
        return etag_chain(visible, ekind, then)
    call = ctx.call(who, path, req, w, bad, semantic, method)
    res = yield call
    ctx.remember_rid(who, path, req, w, res)
    if res.code == OK and res.resp is not None:
        ctx.world.put("needs", res.resp, {"state_reason": reason_marker})
        if OK in call.expect:
            res.check(res.resp.state == after, "%s moves the need to %s" % (
                method, Need.State.Name(after)), "6")


def mask_for(ctx, bad, mutable, fixed, resource):
    """(update_mask or None, paths that will change). Empty, absent and "*"
    masks, output-only and immutable fields and unknown paths are all
    INVALID_ARGUMENT (docs/api-conventions.md, "Updates")."""
    r = ctx.rng.random()
    w = ctx._wire
    if r < 0.70:
        paths = ctx.rng.sample(mutable, ctx.rng.randint(1, min(3, len(mutable))))
        return field_mask_pb2.FieldMask(paths=paths), paths
    if r < 0.76:
        bad.append("update_mask=absent")
        return None, list(mutable)
    if r < 0.82:
        bad.append("update_mask=empty")
        return field_mask_pb2.FieldMask(), list(mutable)
    if r < 0.85:
        bad.append("update_mask=star")
        return field_mask_pb2.FieldMask(paths=["*"]), list(mutable)
    if r < 0.93:
        f = ctx.pick(fixed)
        bad.append("update_mask=%s.%s" % (resource, f))
        return field_mask_pb2.FieldMask(paths=[f, ctx.pick(mutable)]), []
    cls, p = ctx.pick([("unknown", "colour"), ("nested", "title.x"), ("nul", "title\x00"),
                       ("utf8", W.Raw(b"ti\xfftle")), ("huge", "x" * 70000),
                       ("many", None)])
    bad.append("update_mask=" + cls)
    if p is None:
        return field_mask_pb2.FieldMask(paths=["p%d" % i for i in range(20000)]), []
    return field_mask_pb2.FieldMask(paths=[w.s(p)]), []


def a_update_need(ctx):
    w = ctx.begin()
    path = svc("UpdateNeed")
    who = ctx.who_for(path, ["fo"])
    early, late, markers = [], [], {}
    target = pick_need(ctx, {NS.STATE_DRAFT, NS.STATE_RETURNED})
    name = w.s(ctx.name(early, ctx.world.needs, "needs/", field="need.name",
                        pool=[target] if target else []))
    res_ = ctx.world.needs.get(name)
    n = Need(name=name)
    values = []
    need_fields(ctx, n, values, markers, restricted=ctx.chance(0.3))
    mask, paths = mask_for(ctx, early, NEED_MUTABLE, NEED_OUTPUT, "need")
    late += [v for v in values if v.split("=")[0].split(".")[1] in paths]
    ecls, ev, ekind = ctx.etag(res_)
    n.etag = w.s(ev)
    if ekind == "bad":
        early.append("need.etag=" + ecls)
    req = need_pb2.UpdateNeedRequest(need=n)
    if mask is not None:
        req.update_mask.CopyFrom(mask)

    def semantic():
        return etag_chain(res_ is not None, ekind, lambda: {OK} if res_.msg.state in (
            NS.STATE_DRAFT, NS.STATE_RETURNED) else {FP})
    call = ctx.call(who, path, req, w, early, semantic, "UpdateNeed", late_bad=late)
    prior = Need()
    if res_ is not None:
        prior.CopyFrom(res_.msg)
    res = yield call
    if res.code == OK and res.resp is not None:
        got = res.resp
        ctx.world.put("needs", got, {k: v for k, v in markers.items() if k in paths})
        if res_ is not None and not late:
            for f in NEED_MUTABLE:
                if f not in paths and f != "sensitivity":
                    res.check(getattr(got, f) == getattr(prior, f),
                              "UpdateNeed changed %s, which the mask did not name" % f, "6")


# ---- Donors and pledges ----

def a_create_donor(ctx):
    w = ctx.begin()
    path = svc("CreateDonor")
    who = ctx.who_for(path, ["bo"])
    bad, markers = [], {}
    d = Donor()
    v = ctx.text(bad, "donor.display_name", 200, "Donor %s" % ctx.mk())
    d.display_name = w.s(v)
    kind = ctx.pick([1, 1, 2, 3, 4])
    d.kind = kind
    d.membership = ctx.pick([1, 1, 1, 2])
    states = [x for x, r in ctx.world.donors.items() if r.msg.kind == Donor.KIND_STATE]
    parent_missing = parent_not_state = False
    if kind in (2, 3):
        r = ctx.rng.random()
        if r < 0.8 and states:
            d.parent = ctx.pick(states)
        elif r < 0.88:
            d.parent = "donors/" + ctx.new_id("z")
            parent_missing = True
        elif r < 0.94 and ctx.world.donors:
            d.parent = ctx.pick(ctx.world.donors)
            parent_not_state = ctx.world.donors[d.parent].msg.kind != Donor.KIND_STATE
        else:
            bad.append("donor.parent=absent")
    elif ctx.chance(0.05) and states:
        d.parent = ctx.pick(states)
        bad.append("donor.parent=not_allowed")
    if kind != 4 or ctx.chance(0.5):
        if ctx.chance(0.1):
            c = ctx.pick(BAD_COUNTRIES)
            d.country_code = c
            if not (kind == 4 and c == ""):
                bad.append("donor.country_code=country.invalid")
        else:
            d.country_code = ctx.pick(GOOD_COUNTRIES)
    r = ctx.rng.random()
    if r < 0.6:
        d.capabilities.extend(ctx.rng.sample(range(1, 11), ctx.rng.randint(0, 5)))
    elif r < 0.7:
        d.capabilities.extend(range(1, 11))
    else:
        cls, caps = ctx.pick([
            ("caps.eleven", list(range(1, 11)) + [1]), ("caps.dup", [3, 3]),
            ("caps.zero", [0]), ("caps.unknown", [99]),
            ("caps.dup_2000", [1] * 2000), ("caps.dup_20000", [2] * 20000),
            ("caps.cycle_50000", [1 + i % 10 for i in range(50000)])])
        d.capabilities.extend(caps)
        bad.append("donor.capabilities=" + cls)
    if ctx.chance(0.7):
        if ctx.chance(0.1):
            cls, c = ctx.pick([("email.syntax", "not-an-email"), ("email.one_label", "a@b"),
                               ("email.too_long", "x" * 300 + "@example.org"),
                               ("email.space", "a b@example.org"),
                               ("email.unicode", "caf\u00e9@example.org"),
                               ("email.nul", "a@example.org\x00")])
            d.contact_email = c
            bad.append("donor.contact_email=" + cls)
        else:
            d.contact_email = "c%s@example.org" % ctx.mk().lower()
            markers["contact_email"] = d.contact_email
    req = donor_pb2.CreateDonorRequest(donor=d)
    taken = False
    if ctx.chance(0.85):
        req.donor_id = ctx.new_id("d")
    elif ctx.chance(0.5) and ctx.world.donors:
        req.donor_id = ctx.pick(ctx.world.donors).split("/")[1]
        taken = True
    elif ctx.chance(0.5):
        cls, v = W.hostile_id(ctx.rng)
        req.donor_id = w.s(v)
        bad.append("donor_id=" + cls)
    req.request_id = w.s(ctx.rid(bad))

    def semantic():
        want = set()
        if parent_missing or parent_not_state:
            want.add(IA)  # the contract: a company's parent must exist and be a STATE
        if taken:
            want.add(AE)
        return want or {OK}
    call = ctx.call(who, path, req, w, bad, semantic, "CreateDonor", timeout=120)
    res = yield call
    ctx.remember_rid(who, path, req, w, res)
    if res.code == OK and res.resp is not None:
        ctx.world.put("donors", res.resp, markers)
        caps = list(res.resp.capabilities)
        res.check(caps == sorted(caps), "capabilities come back in ascending order", "6")


def a_update_donor(ctx):
    w = ctx.begin()
    path = svc("UpdateDonor")
    who = ctx.who_for(path, ["bo"])
    early, late, markers = [], [], {}
    name = w.s(ctx.name(early, ctx.world.donors, "donors/", field="donor.name"))
    res_ = ctx.world.donors.get(name)
    d = Donor(name=name)
    mask, paths = mask_for(ctx, early, DONOR_MUTABLE, DONOR_FIXED, "donor")
    v = ctx.text(late if "display_name" in paths else [], "donor.display_name", 200,
                    "Donor %s" % ctx.mk())
    d.display_name = w.s(v)
    cur_kind = res_.msg.kind if res_ else 1
    if "country_code" in paths and ctx.chance(0.15):
        d.country_code = ctx.pick(BAD_COUNTRIES)
        if not (cur_kind == 4 and d.country_code == ""):
            late.append("donor.country_code=country.invalid")
    else:
        d.country_code = ctx.pick(GOOD_COUNTRIES)
    d.membership = ctx.pick([1, 1, 2]) if ctx.chance(0.97) else 0
    if "membership" in paths and d.membership == 0:
        late.append("donor.membership=unspecified")
    d.capabilities.extend(ctx.rng.sample(range(1, 11), ctx.rng.randint(0, 4)))
    d.contact_email = "c%s@example.org" % ctx.mk().lower()
    markers["contact_email"] = d.contact_email
    d.kind = ctx.pick([1, 2, 3, 4])
    if ctx.world.donors:
        d.parent = ctx.pick(ctx.world.donors)
    ecls, ev, ekind = ctx.etag(res_)
    d.etag = w.s(ev)
    if ekind == "bad":
        early.append("donor.etag=" + ecls)
    req = donor_pb2.UpdateDonorRequest(donor=d)
    if mask is not None:
        req.update_mask.CopyFrom(mask)
    live_pledges = res_ is not None and any(
        p.msg.state != Pledge.STATE_WITHDRAWN for n_, p in ctx.world.pledges.items()
        if n_.startswith(name + "/pledges/"))

    def semantic():
        def then():
            cur = res_.msg
            if "membership" in paths and cur.membership == Donor.MEMBERSHIP_MEMBER and \
                    d.membership == Donor.MEMBERSHIP_OBSERVER and live_pledges:
                return {FP}
            if "country_code" in paths and cur.kind != 4 and d.country_code == "":
                return {IA}
            return {OK}
        return etag_chain(res_ is not None, ekind, then)
    call = ctx.call(who, path, req, w, early, semantic, "UpdateDonor", late_bad=late)
    prior = Donor()
    if res_ is not None:
        prior.CopyFrom(res_.msg)
    res = yield call
    if res.code == OK and res.resp is not None:
        got = res.resp
        ctx.world.put("donors", got, markers if "contact_email" in paths else {})
        if res_ is not None and not late:
            for f in DONOR_MUTABLE + ["kind", "parent"]:
                if f not in paths:
                    res.check(getattr(got, f) == getattr(prior, f),
                              "UpdateDonor changed %s, which the mask did not name%s" % (
                                  f, " (immutable)" if f in ("kind", "parent") else ""), "6")


def a_create_pledge(ctx):
    w = ctx.begin()
    path = svc("CreatePledge")
    who = ctx.who_for(path, ["bo"])
    bad, markers = [], {}
    fav = [x for x in ("donors/donor-a", "donors/donor-b") if x in ctx.world.donors]
    pool = fav if ctx.chance(0.7) and fav else list(ctx.world.donors)
    parent = ctx.name(bad, ctx.world.donors, "donors/", field="parent", pool=pool)
    p = Pledge()
    p.amount.CopyFrom(ctx.money(bad, "pledge.amount", big_bias=0.4))
    if ctx.chance(0.06):
        fy = ctx.pick([2013, 2101, 0, -1, W.INT32_MAX])
        bad.append("pledge.fiscal_year=%d" % fy)
    else:
        fy = ctx.pick([2014, 2024, 2025, 2100])
    p.fiscal_year = fy
    # The contract allows line breaks in a source; sometimes send one.
    src = "Source %s budget" % ctx.mk() + ("\nline 2" if ctx.chance(0.1) else "")
    v = ctx.text(bad, "pledge.source", 500, src, multiline=True, required=False)
    p.source = w.s(v)
    if v == src:
        markers["source"] = src.split()[1]
    st = ctx.pick([0, 1, 1, 2, 2]) if ctx.chance(0.93) else ctx.pick([3, 9])
    p.state = st
    if st == 9:
        bad.append("pledge.state=enum_9")
    req = donor_pb2.CreatePledgeRequest(parent=w.s(parent), pledge=p)
    taken = False
    pid = ctx.new_id("p")
    r = ctx.rng.random()
    if r < 0.05 and isinstance(parent, str):
        prefix = parent + "/pledges/"
        mine = [x for x in ctx.world.pledges if x.startswith(prefix)]
        if mine:
            pid = ctx.pick(mine)[len(prefix):]
            taken = True
    elif r < 0.09:
        cls, v = W.hostile_id(ctx.rng)
        pid = v
        bad.append("pledge_id=" + cls)
    elif r < 0.19:
        pid = ""
    req.pledge_id = w.s(pid)
    req.request_id = w.s(ctx.rid(bad))
    withdrawn_new = st == 3
    sem = ["text.newline_allowed"] if "\n" in p.source else []

    def semantic():
        dres = ctx.world.donors.get(parent)
        if withdrawn_new:
            return {IA}
        if dres is None:
            return {NF}
        if dres.msg.membership != Donor.MEMBERSHIP_MEMBER:
            return {FP, AE} if taken else {FP}
        return {AE} if taken else {OK}
    call = ctx.call(who, path, req, w, bad, semantic, "CreatePledge", sem=sem)
    res = yield call
    ctx.remember_rid(who, path, req, w, res)
    if res.code == OK and res.resp is not None:
        got = res.resp
        ctx.world.put("pledges", got, markers)
        res.check(nanos(got.allocated) == 0 and nanos(got.available) == nanos(got.amount),
                  "a new pledge has nothing allocated", "3")


PLEDGE_ARROWS = {(1, 2), (1, 3), (2, 3)}


def a_update_pledge(ctx):
    w = ctx.begin()
    path = svc("UpdatePledge")
    who = ctx.who_for(path, ["bo"])
    early, late, markers = [], [], {}
    name = w.s(ctx.name(early, ctx.world.pledges, "donors/donor-a/pledges/",
                        field="pledge.name"))
    res_ = ctx.world.pledges.get(name)
    p = Pledge(name=name)
    mask, paths = mask_for(ctx, early, PLEDGE_MUTABLE, PLEDGE_OUTPUT, "pledge")
    vals = []
    p.amount.CopyFrom(ctx.money(vals, "pledge.amount", big_bias=0.3))
    fy = ctx.pick([2014, 2030, 2100]) if ctx.chance(0.95) else 1999
    if fy == 1999:
        vals.append("pledge.fiscal_year=1999")
    p.fiscal_year = fy
    src = "Source %s" % ctx.mk()
    v = ctx.text(vals, "pledge.source", 500, src, multiline=True, required=False)
    p.source = w.s(v)
    if v == src:
        markers["source"] = src.split()[1]
    p.state = ctx.pick([1, 2, 3, 3]) if ctx.chance(0.95) else ctx.pick([0, 8])
    if p.state == 8:
        vals.append("pledge.state=enum_8")
    elif p.state == 0:
        vals.append("pledge.state=unspecified")  # in a mask: INVALID_ARGUMENT
    late += [x for x in vals if x.split("=")[0].split(".")[1] in paths]
    ecls, ev, ekind = ctx.etag(res_)
    p.etag = w.s(ev)
    if ekind == "bad":
        early.append("pledge.etag=" + ecls)
    req = donor_pb2.UpdatePledgeRequest(pledge=p)
    if mask is not None:
        req.update_mask.CopyFrom(mask)
    arrow = None

    def semantic():
        nonlocal arrow

        def then():
            nonlocal arrow
            cur = res_.msg
            allocated = ctx.world.allocated(name)
            want = set()
            new_state = p.state if "state" in paths else cur.state
            if new_state != cur.state:  # the current value named again is no move
                arrow = (cur.state, new_state)
                if arrow == (2, 1):
                    sem.append("COMMITTED->ANNOUNCED")
                if arrow not in PLEDGE_ARROWS:  # any other move: FAILED_PRECONDITION
                    want.add(FP)
                elif new_state == 3 and allocated > 0:
                    want.add(FP)
            elif cur.state == 3 and any(f in paths for f in ("amount", "fiscal_year", "source")):
                want |= {FP, OK}  # editing a withdrawn pledge: not specified
            if "amount" in paths and nanos(p.amount) < allocated:
                want.add(FP)
            return want or {OK}
        return etag_chain(res_ is not None, ekind, then)
    sem = []
    call = ctx.call(who, path, req, w, early, semantic, "UpdatePledge", late_bad=late, sem=sem)
    prior = Pledge()
    if res_ is not None:
        prior.CopyFrom(res_.msg)
    res = yield call
    if res.code == OK and res.resp is not None:
        got = res.resp
        ctx.world.put("pledges", got, markers if "source" in paths else {})
        if res_ is not None and not late:
            for f in PLEDGE_MUTABLE:
                if f not in paths:
                    res.check(getattr(got, f) == getattr(prior, f),
                              "UpdatePledge changed %s, which the mask did not name" % f, "6")
        al = ctx.world.allocated(got.name)
        res.check(nanos(got.allocated) == al and nanos(got.available) == nanos(got.amount) - al,
                  "pledge allocated/available are exact sums", "3")


# ---- Matches ----

def a_create_match(ctx):
    w = ctx.begin()
    path = svc("CreateMatch")
    who = ctx.who_for(path, ["bo", "da", "db"])
    bad = []
    world = ctx.world
    mine = DONOR_OF.get(who)
    open_needs = [x for x, r in world.needs.items() if r.msg.state == NS.STATE_OPEN]
    if mine and ctx.chance(0.8):
        open_needs = [x for x in open_needs if world.need_visible(who, x)]
    hot = open_needs[:1] if open_needs and ctx.chance(0.3) else open_needs
    need = ctx.name(bad, world.needs, "needs/", field="match.need",
                    pool=hot if hot and ctx.chance(0.85) else None)
    members = [x for x, r in world.donors.items() if r.msg.membership == Donor.MEMBERSHIP_MEMBER]
    if mine and ctx.chance(0.85):
        donor = mine
    else:
        donor = ctx.name(bad, world.donors, "donors/", field="match.donor",
                         pool=members if members and ctx.chance(0.9) else None)
    dname = donor if isinstance(donor, str) else "donors/raw"
    own_pledges = [x for x, r in world.pledges.items() if x.startswith(dname + "/pledges/")
                   and (r.msg.state != Pledge.STATE_WITHDRAWN or ctx.chance(0.1))]
    r = ctx.rng.random()
    if r < 0.85 and own_pledges:
        pledge = ctx.pick(own_pledges)
    elif r < 0.92:
        pledge = dname + "/pledges/" + ctx.new_id("z")
    else:
        pledge = ctx.pick(world.pledges) if world.pledges else dname + "/pledges/" + ctx.new_id("z")
        if not pledge.startswith(dname + "/pledges/") and isinstance(donor, str):
            bad.append("match.pledge=not_of_donor")
    m = Match(need=w.s(need), donor=w.s(donor), pledge=w.s(pledge))
    m.amount.CopyFrom(ctx.money(bad, "match.amount", big_bias=0.25))
    desc = "Delivery %s of licences" % ctx.mk()
    v = ctx.text(bad, "match.description", 10000, desc, multiline=True)
    m.description = w.s(v)
    markers = {"description": desc.split()[1]} if v == desc else {}
    impl_missing = impl_bad = False
    if ctx.chance(0.15):
        kids = [x for x, rr in world.donors.items() if rr.msg.parent == donor]
        r = ctx.rng.random()
        if r < 0.5 and kids:
            m.implementer = ctx.pick(kids)
            kid = world.donors[m.implementer].msg
            impl_bad = kid.kind not in (Donor.KIND_COMPANY, Donor.KIND_NGO)
        elif r < 0.8 and world.donors:
            m.implementer = ctx.pick(world.donors)
            kid = world.donors[m.implementer].msg
            impl_bad = kid.parent != donor or kid.kind not in (Donor.KIND_COMPANY, Donor.KIND_NGO)
        else:
            m.implementer = "donors/" + ctx.new_id("z")
            impl_missing = True
    req = match_pb2.CreateMatchRequest(match=m)
    taken_by = None
    r = ctx.rng.random()
    if mine and r < 0.8:
        pass  # a DONOR leaves match_id empty (it may not choose one)
    elif r < 0.75 or (mine and r < 0.88):
        req.match_id = ctx.new_id("m")
    elif r < 0.85 and world.matches:
        other = ctx.pick(world.matches)
        req.match_id = other.split("/")[1]
        taken_by = world.matches[other].msg.donor
    elif r < 0.9:
        cls, v = W.hostile_id(ctx.rng)
        req.match_id = w.s(v)
        bad.append("match_id=" + cls)
    req.request_id = w.s(ctx.rid(bad))
    sem = []

    def semantic():
        if mine and req.match_id:
            # A caller who does not see the whole collection may not choose
            # an id, decided before any lookup: a taken id and a free one
            # get the same answer (issue 10 item 4).
            sem.append("id_of_other_donor" if taken_by not in (None, mine) else "donor_chose_id")
            return {IA} | ({PD} if donor != mine else set())
        if mine and donor != mine:
            return {PD}
        if mine and not world.need_visible(who, need):
            sem.append("hidden_need")
            return {NF}
        nres = world.needs.get(need)
        if nres is None:
            return {NF}
        want = set()
        if nres.msg.state != NS.STATE_OPEN:
            want.add(FP)
        dres = world.donors.get(donor)
        if dres is None:
            want.add(NF)
        elif dres.msg.membership != Donor.MEMBERSHIP_MEMBER:
            want.add(FP)
        pres = world.pledges.get(pledge)
        if pres is None:
            want.add(NF)
        elif pres.msg.state == Pledge.STATE_WITHDRAWN:
            want.add(FP)
        if impl_missing:
            want.add(NF)
        elif impl_bad:
            want.add(IA)
        if taken_by is not None:
            want.add(AE)
        return want or {OK}
    call = ctx.call(who, path, req, w, bad, semantic, "CreateMatch", sem=sem)
    res = yield call
    ctx.remember_rid(who, path, req, w, res)
    if res.code == OK and res.resp is not None:
        got = res.resp
        if got.name in world.matches and taken_by is not None:
            res.check(False, "CreateMatch returned an existing match of %s" % taken_by, "4")
            return
        world.put("matches", got, markers)
        res.check(got.state == MS.STATE_PROPOSED, "a new match is PROPOSED", "6")
        res.check(got.proposer == world.who_name.get(who), "the caller is the proposer", "6")


def refresh(ctx, res, need, pledge):
    """Reads a need and a pledge after money moved, and checks them against
    sums done here in Python (issue 10 item 3: exact, never wrapping)."""
    n = ctx.oracle("needs", need)
    if n is not None:
        res.check(nanos(n.committed_amount) == ctx.world.committed(need),
                  "%s committed_amount is the exact sum of its matches (got %d.%09d)" % (
                      "need", n.committed_amount.units, abs(n.committed_amount.nanos)), "3")
        res.check(nanos(n.delivered_amount) == ctx.world.delivered(need),
                  "need delivered_amount is the exact sum of accepted matches", "3")
    p = ctx.oracle("pledges", pledge)
    if p is not None:
        al = ctx.world.allocated(pledge)
        res.check(nanos(p.allocated) == al and nanos(p.available) == nanos(p.amount) - al,
                  "pledge allocated/available are exact sums", "3")


def pick_match(ctx, states, donor=None, p_legal=0.75):
    names = list(ctx.world.matches)
    if donor is not None and ctx.chance(0.7):
        names = [x for x in names if ctx.world.matches[x].msg.donor == donor] or names
    if states and ctx.chance(p_legal):
        legal = [x for x in names if ctx.world.matches[x].msg.state in states]
        if legal:
            return ctx.pick(legal)
    return ctx.pick(names) if names else None


def a_match_transition(ctx):
    method = ctx.pick(list(MATCH_T) + ["ApproveMatch", "StartDelivery", "MarkDelivered",
                                       "AcceptDelivery"])
    before, after, reason_kind, roles = MATCH_T[method]
    w = ctx.begin()
    path = svc(method)
    who = ctx.who_for(path, roles)
    world = ctx.world
    bad = []
    req = getattr(match_pb2, method + "Request")()
    target = pick_match(ctx, before, DONOR_OF.get(who))
    req.name = w.s(ctx.name(bad, world.matches, "matches/", pool=[target] if target else []))
    res_ = world.matches.get(req.name)
    ecls, ev, ekind = ctx.etag(res_)
    req.etag = w.s(ev)
    if ekind == "bad":
        bad.append("etag=" + ecls)
    overfund = False
    if method == "ApproveMatch" and ctx.chance(0.4):
        req.allow_overfunding = True
        overfund = True
    reason_marker = None
    if reason_kind == "required" or (reason_kind == "optional" and (overfund or ctx.chance(0.3))):
        valid = "Reason %s: checked" % ctx.mk()
        required = reason_kind == "required" or overfund
        if ctx.chance(0.05) and required:
            bad.append("reason=absent")
        else:
            v = ctx.text(bad, "reason", 2000, valid, multiline=True, hostile_p=0.12,
                            required=required)
            req.reason = w.s(v)
            if v == valid:
                reason_marker = valid.split()[1].rstrip(":")
    req.request_id = w.s(ctx.rid(bad))
    sem = []

    def semantic():
        visible = world.match_visible(who, req.name)
        if res_ is not None and not visible and ROLES.get(who) == "DONOR":
            sem.append("other_donors_match")

        def then():
            x = res_.msg
            if x.state not in before:
                return {FP}
            if method != "ApproveMatch":
                return {OK}
            want = set()
            need = world.needs[x.need].msg
            if need.state != NS.STATE_OPEN:
                want.add(FP)
            if world.donors[x.donor].msg.membership != Donor.MEMBERSHIP_MEMBER:
                want.add(FP)
            pres = world.pledges[x.pledge]
            if pres.msg.state == Pledge.STATE_WITHDRAWN:
                want.add(FP)
            if nanos(x.amount) > nanos(pres.msg.amount) - world.allocated(x.pledge):
                want.add(FP)
            if world.committed(x.need) + nanos(x.amount) > nanos(need.estimated_cost) and \
                    not overfund:
                want.add(FP)
            return want or {OK}
        return etag_chain(visible, ekind, then)
    call = ctx.call(who, path, req, w, bad, semantic, method, sem=sem)
    res = yield call
    ctx.remember_rid(who, path, req, w, res)
    if res.code == OK and res.resp is not None:
        got = res.resp
        was = res_.msg.state if res_ else None
        world.put("matches", got, {"state_reason": reason_marker})
        if OK in call.expect:
            res.check(got.state == after, "%s moves the match to %s" % (
                method, Match.State.Name(after)), "6")
        if after in (MS.STATE_APPROVED, MS.STATE_ACCEPTED) or \
                (after == MS.STATE_WITHDRAWN and was in COMMITTED):
            refresh(ctx, res, got.need, got.pledge)


def a_fund_hot_need(ctx):
    """Money piles up on one need: a new pledge of the largest amount one
    Money may hold, a match of that amount on the most funded OPEN need, and
    its approval with allow_overfunding. Ten of these overflow int64 nanos
    (issue 10 item 3); the need's and the pledge's totals are then read and
    checked against exact sums."""
    world = ctx.world
    opened = [x for x, r in world.needs.items() if r.msg.state == NS.STATE_OPEN]
    donor = "donors/donor-c"
    if not opened or world.donors[donor].msg.membership != Donor.MEMBERSHIP_MEMBER:
        return
    hot = max(opened, key=world.committed)  # the most funded one, while it stays OPEN
    p = Pledge(fiscal_year=2025, state=Pledge.STATE_COMMITTED, source="Reserve %s" % ctx.mk())
    p.amount.currency_code, p.amount.units = "EUR", W.MONEY_MAX_UNITS
    req = donor_pb2.CreatePledgeRequest(parent=donor, pledge=p, pledge_id=ctx.new_id("p"))
    w = ctx.begin()
    res = yield ctx.call("bo", svc("CreatePledge"), req, w, [], lambda: {OK}, "CreatePledge",
                         sem=["money.hot_need"], item="3")
    if res.code != OK or res.resp is None:
        return
    world.put("pledges", res.resp, {"source": p.source.split()[1]})
    m = Match(need=hot, donor=donor, pledge=res.resp.name,
              description="Large delivery %s" % ctx.mk())
    m.amount.currency_code, m.amount.units = "EUR", W.MONEY_MAX_UNITS
    req = match_pb2.CreateMatchRequest(match=m, match_id=ctx.new_id("m"))
    w = ctx.begin()
    res = yield ctx.call("bo", svc("CreateMatch"), req, w, [], lambda: {OK}, "CreateMatch",
                         sem=["money.hot_need"], item="3")
    if res.code != OK or res.resp is None:
        return
    world.put("matches", res.resp, {"description": m.description.split()[2]})
    approve = match_pb2.ApproveMatchRequest(name=res.resp.name, allow_overfunding=True,
                                            reason="Funded on purpose %s" % ctx.mk())
    w = ctx.begin()
    res = yield ctx.call("co", svc("ApproveMatch"), approve, w, [], lambda: {OK}, "ApproveMatch",
                         sem=["money.hot_need"], item="3")
    if res.code == OK and res.resp is not None:
        world.put("matches", res.resp)
        refresh(ctx, res, res.resp.need, res.resp.pledge)
