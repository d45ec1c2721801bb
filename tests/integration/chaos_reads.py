"""Read and other actions of the chaos test (chaos_test.py): Gets and
page-by-page Lists checked against the model (exactly the rows the caller
may see), hostile paging, filters and page tokens, the coverage report,
suggestions, principals, the audit API, diagnostics and undecodable bodies,
request_id replays, and pairs of calls that compare the answer for another
caller's resource with the answer for a missing one."""
import grpc

import chaos_wire as W
from chaos_call import AE, FP, IA, NF, OK, OOR, PD, RE, UA, Call, svc
from chaos_model import (DONOR_OF, ROLES, Donor, Match, Need, audit_pb2, common_pb2,
                         diag_pb2, donor_pb2, health_pb2, match_pb2, need_pb2, nanos,
                         principal_pb2, report_pb2, report_tuple)

C = grpc.StatusCode
NS = Need

# ---- Reads ----

def redacted_ok(res, who, world, got):
    """A need as shown to who: redacted for OBSERVERs, otherwise the model's."""
    role = ROLES.get(who)
    model = world.needs.get(got.name)
    if role == "OBSERVER":
        for f in ("description", "beneficiary", "region"):
            res.check(getattr(got, f) == "", "an OBSERVER is shown a need's %s" % f, "4")
    if model is not None and role != "OBSERVER":
        res.check(got.etag == model.msg.etag and got.state == model.msg.state,
                  "a read returns the need as last written (%s)" % got.name, "")


def a_get(ctx):
    kind = ctx.pick(["needs", "needs", "matches", "pledges", "donors", "principals"])
    w = ctx.begin()
    method, cls_, prefix, roles = {
        "needs": ("GetNeed", need_pb2.GetNeedRequest, "needs/",
                  ["fo", "bo", "co", "da", "db", "obs", "aud"]),
        "matches": ("GetMatch", match_pb2.GetMatchRequest, "matches/",
                    ["bo", "co", "da", "db", "aud"]),
        "pledges": ("GetPledge", donor_pb2.GetPledgeRequest, "donors/donor-a/pledges/",
                    ["bo", "da", "db", "aud"]),
        "donors": ("GetDonor", donor_pb2.GetDonorRequest, "donors/",
                   ["fo", "da", "db", "obs", "aud"]),
        "principals": ("GetPrincipal", principal_pb2.GetPrincipalRequest, "principals/",
                       ["admin", "aud"]),
    }[kind]
    path = svc(method)
    who = ctx.who_for(path, roles)
    bad = []
    table = getattr(ctx.world, kind)
    name = ctx.name(bad, table, prefix)
    req = cls_(name=w.s(name))
    world = ctx.world

    def semantic():
        vis = {"needs": world.need_visible, "matches": world.match_visible,
               "pledges": world.pledge_visible}.get(kind, lambda _w, x: x in table)
        return {OK} if vis(who, name) else {NF}
    call = ctx.call(who, path, req, w, bad, semantic, method, item="4" if kind in (
        "needs", "matches", "pledges") and ROLES.get(who) in ("DONOR", "OBSERVER") else "")
    res = yield call
    if res.code == OK and res.resp is not None:
        got = res.resp
        if kind == "needs":
            redacted_ok(res, who, world, got)
        elif kind == "donors" and ROLES.get(who) == "DONOR" and got.name != DONOR_OF[who]:
            res.check(got.contact_email == "", "a DONOR is shown another donor's contact_email",
                      "4")
        elif kind in ("matches", "pledges") and got.name in table:
            res.check(got.etag == table[got.name].msg.etag,
                      "a read returns the %s as last written" % kind[:-1], "")


# Filters over needs, each with the same condition in Python.
def need_filters(ctx, who):
    world = ctx.world
    st = ctx.pick(list(Need.State.keys())[1:])
    pr = ctx.pick(list(Need.Priority.keys())[1:])
    sec = ctx.pick(list(common_pb2.Sector.keys())[1:])
    units = ctx.pick([0, 1, 100, 10000, 999999999, 1000000000])
    titles = [r.msg.title for r in world.needs.values()]
    title = ctx.pick(titles) if titles else "none"
    esc = title.replace("\\", "\\\\").replace('"', '\\"')
    sv = {n: v for n, v in Need.State.items()}
    choices = [
        ("state = %s" % st, lambda n: n.state == sv[st]),
        ("state != %s" % st[len("STATE_"):], lambda n: n.state != sv[st]),
        ("priority = %s" % pr[len("PRIORITY_"):], lambda n: n.priority == Need.Priority.Value(pr)),
        ("sector = %s AND state = OPEN" % sec,
         lambda n: n.sector == common_pb2.Sector.Value(sec) and n.state == NS.STATE_OPEN),
        ("estimated_cost >= %d" % units, lambda n: nanos(n.estimated_cost) >= units * 10 ** 9),
        ("estimated_cost < %d.5" % units, lambda n: nanos(n.estimated_cost) < units * 10 ** 9 + 5 * 10 ** 8),
        ("sensitivity = RESTRICTED", lambda n: n.sensitivity == Need.SENSITIVITY_RESTRICTED),
        ('title = "%s"' % esc, lambda n: n.title == title),
        ("NOT (state = OPEN) AND (priority = CRITICAL OR priority = HIGH)",
         lambda n: n.state != NS.STATE_OPEN and n.priority in (1, 2)),
        ("state = OPEN AND priority = LOW OR priority = MEDIUM",  # OR binds tighter
         lambda n: n.state == NS.STATE_OPEN and n.priority in (3, 4)),
        ("", lambda n: True),
    ]
    return ctx.pick(choices)


ORDERS = {"needs": [("", None), ("priority", lambda n: n.priority),
                    ("estimated_cost desc", lambda n: -nanos(n.estimated_cost)),
                    ("title", lambda n: n.title), ("create_time desc", None)],
          "matches": [("", None), ("amount desc", lambda m: -nanos(m.amount))],
          "pledges": [("", None), ("fiscal_year desc, amount", None)],
          "donors": [("", None), ("display_name", lambda d: d.display_name)],
          "principals": [("", None)]}


def list_spec(ctx, kind, who):
    """(method, request class, field of rows, base fields, python filter,
    expected visible names or None)."""
    world = ctx.world
    role = ROLES.get(who)
    if kind == "needs":
        text, pred = need_filters(ctx, who)
        vis = [x for x in world.needs if world.need_visible(who, x) and pred(world.needs[x].msg)]
        return "ListNeeds", need_pb2.ListNeedsRequest, "needs", {"filter": text}, vis
    if kind == "matches":
        st = ctx.pick(list(Match.State.keys())[1:])
        mine = DONOR_OF.get(who)
        vis = [x for x, r in world.matches.items() if (role != "DONOR" or r.msg.donor == mine)
               and r.msg.state == Match.State.Value(st)]
        return "ListMatches", match_pb2.ListMatchesRequest, "matches", {"filter": "state = " + st}, vis
    if kind == "pledges":
        parent = ctx.pick(["donors/-", "donors/donor-a", "donors/donor-b",
                           "donors/" + ctx.new_id("z")])
        mine = DONOR_OF.get(who)
        vis = [x for x in world.pledges if (parent == "donors/-" or x.startswith(parent + "/"))
               and (role != "DONOR" or x.startswith(mine + "/pledges/"))]
        return "ListPledges", donor_pb2.ListPledgesRequest, "pledges", {"parent": parent}, vis
    if kind == "donors":
        mem = ctx.pick(["MEMBER", "OBSERVER"])
        vis = [x for x, r in world.donors.items()
               if r.msg.membership == Donor.Membership.Value("MEMBERSHIP_" + mem)]
        return "ListDonors", donor_pb2.ListDonorsRequest, "donors", {"filter": "membership = " + mem}, vis
    return "ListPrincipals", principal_pb2.ListPrincipalsRequest, "principals", {}, None


def a_list_walk(ctx):
    """Lists one collection page by page with small pages and checks the
    union against the model: exactly the rows the caller may see, each once.
    On the way, page tokens are misused and tampered with."""
    kind = ctx.pick(["needs", "needs", "needs", "matches", "pledges", "donors", "principals"])
    roles = {"needs": ["fo", "bo", "co", "da", "db", "obs", "aud"],
             "matches": ["bo", "co", "da", "db", "aud"], "pledges": ["bo", "da", "db", "aud"],
             "donors": ["fo", "da", "obs", "aud"], "principals": ["admin", "aud"]}[kind]
    who = ctx.who_for(svc({"needs": "ListNeeds", "matches": "ListMatches",
                           "pledges": "ListPledges", "donors": "ListDonors",
                           "principals": "ListPrincipals"}[kind]), roles)
    method, cls_, rows_field, base, vis = list_spec(ctx, kind, who)
    path = svc(method)
    order, key = ctx.pick(ORDERS[kind])
    if order:
        base = dict(base, order_by=order)
    hidden_filter = False
    if kind == "needs" and ctx.chance(0.08):  # observers may not filter on redacted fields
        base = dict(base, filter='region = "Kharkiv Oblast"')
        hidden_filter = True
        vis = None
    seen, token, pages, rows = [], "", 0, []
    bad_first = []
    size = ctx.pick([1, 2, 3, 4, 7])
    while pages < 40:
        w = ctx.begin()
        req = cls_(page_size=size, page_token=token, **base)
        bad = list(bad_first)

        def semantic():
            if hidden_filter and ROLES.get(who) == "OBSERVER":
                return {IA}
            return {OK}
        call = ctx.call(who, path, req, w, bad, semantic, method,
                        item="4" if hidden_filter else "")
        res = yield call
        if res.code != OK or res.resp is None:
            return
        page = list(getattr(res.resp, rows_field))
        rows += page
        seen += [r.name for r in page]
        if kind == "needs":
            for r in page:
                redacted_ok(res, who, ctx.world, r)
        res.check(len(page) <= size, "a page holds at most page_size rows", "")
        token = res.resp.next_page_token
        pages += 1
        if token:
            ctx.page_tokens.append((who, path, cls_, dict(base), token))
            if ctx.chance(0.15):
                yield from misuse_token(ctx, who, path, cls_, base, token, size)
        if not token:
            break
        if ctx.chance(0.2):
            size = ctx.pick([1, 2, 5])  # page_size may change between pages
    if token:
        return  # not walked to the end
    res.check(len(seen) == len(set(seen)), "a row came twice in one walk of %s" % method, "10")
    if vis is not None:
        missing = sorted(set(vis) - set(seen))
        extra = sorted(set(seen) - set(vis))
        res.check(not extra, "%s shows %s rows it may not (%s)" % (method, ROLES.get(who),
                                                                   ", ".join(extra[:3])), "4")
        res.check(not missing, "%s leaves out rows the caller may see (%s)" % (
            method, ", ".join(missing[:3])), "")
    if key is not None and rows:
        keys = [key(r) for r in rows]
        res.check(keys == sorted(keys), "%s is not in %s order" % (method, order), "")


def misuse_token(ctx, who, path, cls_, base, token, size):
    """A token with another filter, caller, method or edited: INVALID_ARGUMENT."""
    w = ctx.begin()
    bad = []
    r = ctx.rng.random()
    fields = dict(base)
    caller = who
    m_path, m_cls = path, cls_
    if r < 0.3:
        cls, tok = W.tamper_token(ctx.rng, token)
        bad.append("page_token=" + cls)
    elif r < 0.45:
        cls, tok = W.random_token(ctx.rng)
        bad.append("page_token=" + cls)
    elif r < 0.6 and fields.get("filter"):
        fields["filter"] = 'title = "misuse"' if path.endswith("Needs") else ""
        tok = token
        bad.append("page_token=other_filter")
    elif r < 0.75:
        fields["order_by"] = "update_time desc"
        tok = token
        bad.append("page_token=other_order_by")
    elif r < 0.9:
        others = [k for k in ("fo", "bo", "aud", "co") if k != who and ctx.allowed(k, path)]
        if not others:
            return
        caller = ctx.pick(others)
        tok = token
        bad.append("page_token=other_caller")
    else:
        m_path, m_cls = svc("ListDonors"), donor_pb2.ListDonorsRequest
        fields = {}
        tok = token
        bad.append("page_token=other_method")
    req = m_cls(page_size=size, page_token=w.s(tok), **{
        k: v for k, v in fields.items() if k in m_cls.DESCRIPTOR.fields_by_name})
    call = ctx.call(caller, m_path, req, w, bad, lambda: {OK}, m_path.rsplit("/", 1)[1],
                    item="")
    yield call


def a_list_hostile(ctx):
    """One List call with hostile paging, filter or order_by."""
    method, cls_ = ctx.pick([("ListNeeds", need_pb2.ListNeedsRequest),
                             ("ListMatches", match_pb2.ListMatchesRequest),
                             ("ListDonors", donor_pb2.ListDonorsRequest),
                             ("ListPledges", donor_pb2.ListPledgesRequest),
                             ("ListPrincipals", principal_pb2.ListPrincipalsRequest)])
    path = svc(method)
    who = ctx.who_for(path, ["fo", "bo", "da", "obs", "aud", "admin"])
    w = ctx.begin()
    bad = []
    req = cls_()
    if method == "ListPledges":
        if ctx.chance(0.2):
            cls, v = W.hostile_name(ctx.rng, "donors/")
            req.parent = w.s(v)
            bad.append("parent=" + cls)
        else:
            req.parent = "donors/-"
    r = ctx.rng.random()
    maybe_ok = False
    if r < 0.2:
        req.page_size = ctx.pick([-1, W.INT32_MIN])
        bad.append("page_size=negative")
    elif r < 0.3:
        req.page_size = ctx.pick([1001, W.INT32_MAX])  # capped at 1000: fine
    elif r < 0.6:
        cls, v = W.garbage_filter(ctx.rng)
        req.filter = w.s(v)
        bad.append("filter=" + cls)
        maybe_ok = cls in ("filter.sql", "filter.huge_number", "filter.neg_money",
                           "filter.search_wild")
    elif r < 0.75:
        cls, v = W.garbage_order(ctx.rng)
        req.order_by = w.s(v)
        bad.append("order_by=" + cls)
    elif r < 0.88 and ctx.page_tokens:
        owner, p2, c2, base, tok = ctx.pick(ctx.page_tokens)
        cls, v = W.tamper_token(ctx.rng, tok)
        req.page_token = w.s(v)
        bad.append("page_token=" + cls)
    else:
        cls, v = W.random_token(ctx.rng)
        req.page_token = w.s(v)
        bad.append("page_token=" + cls)
    raw_bad = ctx.raw_bad(req, w)
    if maybe_ok and not raw_bad:
        # e.g. an SQL-looking string literal: a valid filter or a clear refusal
        exp = ctx.gate(who, path, [], False, lambda: {OK, IA})
        call = ctx.call(who, path, req, w, [], lambda: {OK, IA}, method, item="")
        call.expect = exp
    else:
        call = ctx.call(who, path, req, w, bad, lambda: {OK}, method,
                        item="7" if raw_bad else "")
    yield call


def a_report(ctx):
    path = "/tallinn.v1.ReportService/GetCoverageReport"
    who = ctx.who_for(path, ["fo", "bo", "co", "obs", "aud", "da", "db"])
    w = ctx.begin()
    req = report_pb2.GetCoverageReportRequest()
    call = ctx.call(who, path, req, w, [], lambda: {OK}, "GetCoverageReport", item="3")
    res = yield call
    if res.code == OK and res.resp is not None:
        check_report(ctx.world, res, who, res.resp)


def check_report(world, res, who, rep):
    """The report against the model's exact sums over what who may see."""
    role = ROLES.get(who)
    want = world.coverage(who)
    full = world.coverage("aud")
    got = report_tuple(rep)
    res.check(rep.currency_code == "EUR", "the report names its currency", "3")
    if got["total"] != want["total"]:
        if role in ("OBSERVER", "DONOR") and got["total"] == full["total"]:
            res.check(False, "a%s %s's coverage report counts needs it may not see" % (
                "n" if role == "OBSERVER" else "", role), "4")
        else:
            res.check(False, "coverage total %s, the exact sum is %s%s" % (
                got["total"], want["total"],
                " (negative: wrapped)" if any(x < 0 for x in got["total"]) else ""), "3")
    for k in ("by_sector", "by_category"):
        if got[k] != want[k] and got["total"] == want["total"]:
            res.check(False, "coverage %s differs from the exact sums" % k, "3")
    gd = sorted(got["by_donor"], key=lambda e: e[0])
    wd = sorted(want["by_donor"], key=lambda e: e[0])
    if gd != wd:
        fd = sorted(full["by_donor"], key=lambda e: e[0])
        if role in ("OBSERVER", "DONOR") and (gd == fd or len(gd) > len(wd)):
            res.check(False, "a%s %s's coverage by_donor shows what it may not see" % (
                "n" if role == "OBSERVER" else "", role), "4")
        else:
            res.check(False, "coverage by_donor is not the sums over counted needs "
                      "(report.proto), e.g. %s where the sums are %s" % next(
                          ((a, b) for a, b in zip(gd, wd) if a != b), (gd[:1], wd[:1])), "3")
    names = [e[1] for e in got["by_donor"]]
    res.check(names == sorted(names), "by_donor is in display_name order", "")
    for t in [got["total"]] + [x[1] for x in got["by_sector"]]:
        res.check(all(v >= 0 for v in t), "a coverage total is negative", "3")


def a_suggest(ctx):
    path = svc("SuggestMatches")
    who = ctx.who_for(path, ["bo", "co", "fo", "aud"])
    w = ctx.begin()
    bad = []
    world = ctx.world
    need = ctx.name(bad, world.needs, "needs/", field="need",
                    pool=[x for x, r in world.needs.items() if r.msg.state == NS.STATE_OPEN]
                    if ctx.chance(0.8) else None)
    mx = ctx.pick([0, 1, 5, 10, 50, 51, 100, 101, 5000, W.INT32_MAX, -1, W.INT32_MIN])
    if mx < 0:
        bad.append("max_suggestions=negative")
    req = match_pb2.SuggestMatchesRequest(need=w.s(need), max_suggestions=mx)

    def semantic():
        n = world.needs.get(need)
        if n is None:
            return {NF}
        return {OK} if n.msg.state == NS.STATE_OPEN else {FP}
    sem = ["max=%s" % ("over_100" if mx > 100 else mx)] if mx > 50 else []
    call = ctx.call(who, path, req, w, bad, semantic, "SuggestMatches", sem=sem)
    res = yield call
    if res.code == OK and res.resp is not None:
        cap = 10 if mx == 0 else min(mx, 100)
        s = list(res.resp.suggestions)
        res.check(len(s) <= cap, "more than %d suggestions" % cap, "6")
        for x in s:
            d = world.donors.get(x.donor)
            res.check(d is not None and d.msg.membership == Donor.MEMBERSHIP_MEMBER,
                      "a suggestion names a donor that is not a MEMBER", "6")
            if x.pledge in world.pledges:
                p = world.pledges[x.pledge].msg
                res.check(nanos(x.available) == nanos(p.amount) - world.allocated(x.pledge),
                          "a suggestion's available amount is not exact", "3")


# ---- Principals, audit, diagnostics, transport ----

def a_principal(ctx):
    world = ctx.world
    r = ctx.rng.random()
    w = ctx.begin()
    bad = []
    throwaway = [x for x in world.principals if x.startswith("principals/x")]
    if r < 0.6 or not throwaway:
        path = svc("CreatePrincipal")
        who = ctx.who_for(path, ["admin"])
        p = principal_pb2.Principal()
        v = ctx.text(bad, "principal.display_name", 200, "Principal %s" % ctx.mk())
        p.display_name = w.s(v)
        p.role = ctx.pick([1, 2, 3, 4, 5, 6, 7]) if ctx.chance(0.95) else ctx.pick([0, 42])
        if p.role in (0, 42):
            bad.append("principal.role=%d" % p.role)
        donor_missing = False
        if p.role == 4:
            if ctx.chance(0.85) and world.donors:
                p.donor = ctx.pick(world.donors)
            else:
                p.donor = "donors/" + ctx.new_id("z")
                donor_missing = True
        elif ctx.chance(0.05):
            p.donor = "donors/donor-a"
            bad.append("principal.donor=not_a_donor_role")
        if ctx.chance(0.1):
            cls, c = ctx.pick([("cert.ok", "cn-%s.example" % ctx.mk().lower()),
                               ("cert.space", "has space"), ("cert.nul", "cn-x\x00y"),
                               ("cert.too_long", "x" * 300)])
            p.cert_identity = c
            if cls != "cert.ok":
                bad.append("principal.cert_identity=" + cls)
        req = principal_pb2.CreatePrincipalRequest(principal=p)
        taken = False
        if ctx.chance(0.9):
            req.principal_id = ctx.new_id("x")
        elif world.principals:
            req.principal_id = ctx.pick(world.principals).split("/")[1]
            taken = True
        req.request_id = w.s(ctx.rid(bad))

        def semantic():
            want = set()
            if donor_missing:
                want.add(IA)
            if taken:
                want.add(AE)
            return want or {OK}
        call = ctx.call(who, path, req, w, bad, semantic, "CreatePrincipal", item="")
        res = yield call
        ctx.remember_rid(who, path, req, w, res)
        if res.code == OK and res.resp is not None:
            world.principals[res.resp.principal.name] = res.resp.principal
            if res.resp.token:
                world.all_tokens.add(res.resp.token)
        return
    name = ctx.pick(throwaway)
    method = ctx.pick(["RotateToken", "DisablePrincipal"])
    path = svc(method)
    who = ctx.who_for(path, ["admin"])
    req = getattr(principal_pb2, method + "Request")(name=name)
    req.request_id = w.s(ctx.rid(bad))
    state = world.principals[name].state
    call = ctx.call(who, path, req, w, bad,
                    lambda: {OK} if state == principal_pb2.Principal.STATE_ACTIVE else {FP},
                    method, item="")
    res = yield call
    ctx.remember_rid(who, path, req, w, res)
    if res.code == OK and res.resp is not None:
        if method == "RotateToken":
            world.all_tokens.add(res.resp.token)
        else:
            world.principals[name] = res.resp


def a_audit(ctx):
    """AUDITOR reads of the log, with sizes and indexes at and past the
    edges; every streamed record must decode with a standard client."""
    w = ctx.begin()
    cp_path = "/tallinn.v1.AuditService/GetCheckpoint"
    call = ctx.call("aud", cp_path, audit_pb2.GetCheckpointRequest(), w, [], lambda: {OK},
                    "GetCheckpoint", item="")
    res = yield call
    if res.code != OK or res.resp is None:
        return
    size = int(res.resp.signed_note.split(b"\n")[1])
    i64 = W.INT64_MAX
    which = ctx.pick(["cp", "inc", "con", "stream", "stream", "key"])
    w = ctx.begin()
    if which == "cp":
        t = ctx.pick([-1, 0, size, size + 1, i64, 1])
        req = audit_pb2.GetCheckpointRequest(tree_size=t)
        exp = {IA} if t < 0 else ({OK} if t in (0, size) else ({OK, NF} if t < size else {NF, OOR}))
        path = cp_path
    elif which == "inc":
        i, t = ctx.pick([(0, size), (size - 1, size), (size, size), (-1, size), (0, -1),
                         (0, i64), (i64, i64), (0, 0), (5, 3)])
        req = audit_pb2.GetInclusionProofRequest(index=i, tree_size=t)
        path = "/tallinn.v1.AuditService/GetInclusionProof"
        if i < 0 or t < 0 or (t > 0 and i >= t and t <= size):
            exp = {IA}
        elif t > size:
            exp = {OOR, IA}
        elif t == 0:
            exp = {OK, IA, OOR}
        else:
            exp = {OK}
    elif which == "con":
        a, b = ctx.pick([(1, size), (size, size), (0, size), (2, 1), (1, i64), (-1, 5),
                         (i64, i64), (size, 0)])
        req = audit_pb2.GetConsistencyProofRequest(first_size=a, second_size=b)
        path = "/tallinn.v1.AuditService/GetConsistencyProof"
        if a <= 0 or b < 0 or (0 < b < a):
            exp = {IA}
        elif b > size or a > size:
            exp = {OOR, IA}
        elif b == 0:
            exp = {OK, IA}
        else:
            exp = {OK}
    elif which == "stream":
        s = max(0, size - ctx.pick([1, 5, 40]))
        a, b = ctx.pick([(s, size), (s, 0), (size, size), (-1, 3), (5, 2), (0, size + 10),
                         (i64, 0), (s, s + 1)])
        req = audit_pb2.StreamAuditRecordsRequest(start=a, end=b)
        path = "/tallinn.v1.AuditService/StreamAuditRecords"
        if b == 0 and 0 <= a < size - 60:
            return  # would stream the whole log: the checks after restart do that
        if a < 0 or b < 0 or (b != 0 and b < a):
            exp = {IA}
        elif b > size or a > size:
            exp = {OOR, IA}
        else:
            exp = {OK}
    else:
        req = audit_pb2.GetVerifierKeyRequest()
        path = "/tallinn.v1.AuditService/GetVerifierKey"
        exp = {OK}
    who = ctx.who_for(path, ["aud"])
    e = set(exp)
    call = ctx.call(who, path, req, w, [], lambda: e, path.rsplit("/", 1)[1], item="-",
                    stream=path.endswith("StreamAuditRecords"))
    yield call


def a_misc(ctx):
    """Diagnostics, health, unknown methods, undecodable and oversized bodies."""
    r = ctx.rng.random()
    w = ctx.begin()
    if r < 0.35:
        path = ctx.pick(["/tallinn.v1.DiagnosticsService/Noop",
                         "/tallinn.v1.DiagnosticsService/GetServerInfo"])
        who = ctx.who_for(path, list(ROLES))
        req = diag_pb2.NoopRequest() if path.endswith("Noop") else diag_pb2.GetServerInfoRequest()
        yield ctx.call(who, path, req, w, [], lambda: {OK}, path.rsplit("/", 1)[1], item="")
    elif r < 0.45:
        path = "/grpc.health.v1.Health/Check"
        yield Call(None, path, health_pb2.HealthCheckRequest().SerializeToString(),
                   health_pb2.HealthCheckRequest(), {OK}, klass="HealthCheck:valid", item="")
    elif r < 0.6:
        path = ctx.pick(["/tallinn.v1.NeedService/NoSuchMethod", "/tallinn.v1.Nope/Get",
                         "/" + "x" * 3000 + "/y"])
        who = ctx.pick(list(ROLES))
        yield Call(who, path, b"", None, {C.UNIMPLEMENTED}, klass="unknown_method", item="")
    elif r < 0.9:
        path = ctx.pick([svc("CreateNeed"), svc("GetNeed"), svc("UpdatePledge"),
                         svc("ApproveMatch"), "/tallinn.v1.ReportService/GetCoverageReport",
                         svc("ListNeeds")])
        who = ctx.who_for(path, list(ROLES))
        cls, body = ctx.pick([("body.truncated_field", b"\x0a\x05ab"),
                              ("body.overlong_varint", b"\x08" + b"\xff" * 11),
                              ("body.length_overflow", b"\x0a\xff\xff\xff\xff\x0f"),
                              ("body.field_zero", b"\x00\x01"),
                              ("body.group_end", b"\x0c")])
        exp = {IA}
        if who in ("none", "bad"):
            exp |= {UA, RE}
        elif not ctx.allowed(who, path):
            exp |= {PD}
        yield Call(who, path, body, None, exp, klass=cls, item="")
    else:
        path = svc("CreateNeed")
        who = ctx.pick(["fo", "obs"])
        n = Need(title="x" * (5 * 1024 * 1024))
        body = need_pb2.CreateNeedRequest(need=n).SerializeToString()
        yield Call(who, path, body, None, {RE}, klass="body.over_4mib", item="")


def a_replay(ctx):
    """A request_id used again: the same request returns the first result
    (also with the id in another case: ids compare in lower case); another
    request with the same id is INVALID_ARGUMENT."""
    if not ctx.rid_log:
        return
    who, path, msg, body, first = ctx.pick(ctx.rid_log[-200:])
    req = type(msg)()
    req.CopyFrom(msg)
    r = ctx.rng.random()
    if r < 0.35:
        klass, exp, item = "replay.same", {OK}, ""
    elif r < 0.7:
        rid = req.request_id
        other = rid.upper() if rid != rid.upper() else rid.lower()
        if body.count(rid.encode()) != 1:
            return
        body = body.replace(rid.encode(), other.encode())  # the same bytes but for the case
        req.request_id = other
        klass, exp, item = "replay.other_case", {OK}, "7"
    else:
        klass, exp, item = "replay.other_body", {IA}, ""
        changed = False
        for f in ("reason", "etag"):
            if f in req.DESCRIPTOR.fields_by_name and not changed:
                setattr(req, f, "Changed %s" % ctx.mk() if f == "reason" else ctx.hex16())
                changed = True
        if not changed:
            inner = [f for f in req.DESCRIPTOR.fields if f.type == f.TYPE_MESSAGE]
            if not inner:
                return
            sub = getattr(req, inner[0].name)
            for f in ("description", "display_name", "title", "source"):
                if f in sub.DESCRIPTOR.fields_by_name:
                    setattr(sub, f, "Changed %s" % ctx.mk())
                    changed = True
                    break
        if not changed:
            return
        body = req.SerializeToString()
    call = Call(who, path, body, req, exp, klass=klass, item=item, tags=[klass])
    res = yield call
    if res.code == OK and res.resp is not None and first is not None:
        if hasattr(first, "token"):  # a replay of Create/Rotate carries no token
            same = res.resp.principal == first.principal and not res.resp.token
        else:
            same = res.resp == first
        res.check(same, "a request_id replay returned another result than the first",
                  "7" if klass == "replay.other_case" else "")


def a_probe_pair(ctx):
    """The same request on a resource the caller may not see and on one that
    does not exist: the answers must be identical but for the name
    (issue 10 item 4)."""
    world = ctx.world
    who = ctx.pick(["da", "db", "obs"])
    mine = DONOR_OF.get(who)
    options = []
    hidden_needs = [x for x in world.needs if not world.need_visible(who, x)]
    if hidden_needs:
        options.append("need")
    if mine and [x for x, r in world.matches.items() if r.msg.donor != mine]:
        options += ["match", "match_action"]
    if mine and [x for x in world.pledges if not x.startswith(mine + "/")]:
        options.append("pledge")
    if mine and hidden_needs and [x for x in world.pledges if x.startswith(mine + "/")]:
        options.append("create_match")
    if not options:
        return
    kind = ctx.pick(options)
    if kind == "need":
        hidden = ctx.pick(hidden_needs)
        make = lambda name: (svc("GetNeed"), need_pb2.GetNeedRequest(name=name))  # noqa: E731
    elif kind == "match":
        hidden = ctx.pick([x for x, r in world.matches.items() if r.msg.donor != mine])
        make = lambda name: (svc("GetMatch"), match_pb2.GetMatchRequest(name=name))  # noqa: E731
    elif kind == "match_action":
        hidden = ctx.pick([x for x, r in world.matches.items() if r.msg.donor != mine])
        method = ctx.pick(["WithdrawMatch", "StartDelivery", "MarkDelivered"])
        etag = ctx.pick(["", ctx.hex16(), world.matches[hidden].msg.etag])
        reason = "Probe reason" if method == "WithdrawMatch" else None

        def make(name):
            req = getattr(match_pb2, method + "Request")(name=name, etag=etag)
            if reason:
                req.reason = reason
            return svc(method), req
    elif kind == "pledge":
        hidden = ctx.pick([x for x in world.pledges if not x.startswith(mine + "/")])
        make = lambda name: (svc("GetPledge"), donor_pb2.GetPledgeRequest(name=name))  # noqa: E731
    else:
        hidden = ctx.pick(hidden_needs)
        pledge = ctx.pick([x for x in world.pledges if x.startswith(mine + "/")])

        def make(name):
            m = Match(need=name, donor=mine, pledge=pledge, description="Probe delivery")
            m.amount.currency_code, m.amount.units = "EUR", 1
            return svc("CreateMatch"), match_pb2.CreateMatchRequest(match=m)
    # A missing name of the same length, under the same parent.
    head, tail = hidden.rsplit("/", 1)
    missing = head + "/" + ("z" + "%0*x" % (len(tail), ctx.rng.getrandbits(4 * len(tail))))[
        :len(tail)]
    if missing in world.needs or missing in world.matches or missing in world.pledges:
        return
    answers = []
    for name in (hidden, missing):
        path, req = make(name)
        w = ctx.begin()
        exp = ctx.gate(who, path, [], False, lambda: {NF})
        call = Call(who, path, w.bytes(req), req, exp, klass="probe.%s" % kind, item="4",
                    tags=["probe.%s" % kind])
        res = yield call
        answers.append((res, name))
    (r1, n1), (r2, n2) = answers
    same = (r1.code == r2.code and r1.norm_details(n1) == r2.norm_details(n2))
    r1.check(same, "the answer for another's %s differs from the answer for a missing one "
             "(%s: %s vs %s: %s)" % (kind, r1.code.name, r1.norm_details(n1)[:160],
                                      r2.code.name, r2.norm_details(n2)[:160]), "4")


# Weighted: mostly calls that move the workflow forward, so states and money
# build up; hostile values are drawn inside each action.
