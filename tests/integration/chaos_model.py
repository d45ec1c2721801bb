"""What the chaos test (chaos_test.py) believes the server holds, and who may
see what of it: the need-to-know rules of docs/authz.md and docs/api.md
written out again, independently of service/handlers. The model is fed only
with responses of full-view writes and with reads by an AUDITOR, never with
what a restricted caller was shown.

Secrets: every resource remembers the distinctive strings it carries
(markers in its text fields, its name, its etags), indexed, so that any
response can be searched for what its caller may not know."""
import collections
import os
import re

import harness

# One protos() call for every module the chaos test uses: the google.rpc
# package must exist before the google namespace is first imported.
(common_pb2, donor_pb2, need_pb2, match_pb2, report_pb2, principal_pb2, audit_pb2, diag_pb2,
 health_pb2, status_pb2, errdet_pb2) = harness.protos(
    "tallinn/v1/common.proto", "tallinn/v1/donor.proto", "tallinn/v1/need.proto",
    "tallinn/v1/match.proto", "tallinn/v1/report.proto", "tallinn/v1/principal.proto",
    "tallinn/v1/audit.proto", "tallinn/v1/diagnostics.proto", "grpc/health/v1/health.proto",
    "google/rpc/status.proto", "google/rpc/error_details.proto")
Need, Match, Pledge, Donor = need_pb2.Need, match_pb2.Match, donor_pb2.Pledge, donor_pb2.Donor
NANO = 10 ** 9
TOKEN_RE = re.compile(rb"tln_[A-Za-z0-9_-]{20,}")
MARK_RE = re.compile(rb"[Mm][Kk][0-9A-Fa-f]{10}")
HEX_RE = re.compile(rb"(?<![0-9a-f])[0-9a-f]{16}(?![0-9a-f])")
NAME_RE = re.compile(rb"donors/[a-z0-9-]+/pledges/[a-z0-9-]+|(?:needs|matches)/[a-z0-9-]+")

COMMITTED = {Match.STATE_APPROVED, Match.STATE_IN_DELIVERY, Match.STATE_DELIVERED,
             Match.STATE_ACCEPTED}
LIVE = COMMITTED | {Match.STATE_PROPOSED}
COUNTED = {Need.STATE_OPEN, Need.STATE_ON_HOLD, Need.STATE_FULFILLED, Need.STATE_CLOSED}
SINGULAR = {"needs": "need", "matches": "match", "pledges": "pledge", "donors": "donor"}
OBSERVER_HIDDEN = ("description", "beneficiary", "region")

# Principal keys of the test and their roles. Two DONOR principals act for
# two different donors; two coordinators so that approvals never meet the
# separation-of-duties rule by accident.
ROLES = {"fo": "FRONT_OFFICE", "bo": "BACK_OFFICE", "co": "COORDINATOR", "co2": "COORDINATOR",
         "da": "DONOR", "db": "DONOR", "obs": "OBSERVER", "aud": "AUDITOR", "admin": "ADMIN"}
DONOR_OF = {"da": "donors/donor-a", "db": "donors/donor-b"}


def nanos(m):
    return m.units * NANO + m.nanos


def authz_matrix():
    """{method path: set of roles} from the table in docs/authz.md."""
    path = os.path.join(harness.REPO, "docs", "authz.md")
    rows, header = {}, None
    for line in open(path, encoding="utf-8"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == "method":
            header = cells[1:8]
            continue
        m = re.match(r"(\w+Service)\.(\w+)$", cells[0]) if header else None
        if m:
            rows["/tallinn.v1.%s/%s" % m.groups()] = {
                r for r, c in zip(header, cells[1:8]) if c == "yes"}
    assert len(rows) > 40, "docs/authz.md: matrix not found"
    return rows


class Res:
    """One resource: its latest full view and the secrets it ever carried."""

    def __init__(self, msg):
        self.msg = msg
        self.markers = collections.defaultdict(set)  # field -> distinctive values
        self.etags = set()

    def update(self, msg):
        self.msg = msg
        if msg.etag:
            self.etags.add(msg.etag)


class World:
    def __init__(self):
        self.needs = collections.OrderedDict()
        self.matches = collections.OrderedDict()
        self.pledges = collections.OrderedDict()
        self.donors = collections.OrderedDict()
        self.principals = collections.OrderedDict()   # name -> Principal
        self.tokens = {}       # key -> token (the test's own principals)
        self.who_name = {}     # key -> principal name
        self.all_tokens = set()  # every token ever issued: no response or record may hold one
        self.marker_owner = {}   # marker -> (table, name, field)
        self.etag_owner = {}     # etag -> (table, name)

    # ---- Feeding the model ----

    def put(self, kind, msg, markers=None):
        table = getattr(self, kind)
        r = table.get(msg.name)
        if r is None:
            r = table[msg.name] = Res(msg)
        r.update(msg)
        if msg.etag:
            self.etag_owner[msg.etag] = (kind, msg.name)
        for f, v in (markers or {}).items():
            if v:
                r.markers[f].add(v)
                for m in MARK_RE.findall(v.encode()):
                    self.marker_owner[m.decode().upper()] = (kind, msg.name, f)
        return r

    # ---- Need-to-know ----

    def role(self, who):
        return ROLES.get(who)

    def donor_has_live_match(self, donor, need):
        return any(m.msg.donor == donor and m.msg.need == need and m.msg.state in LIVE
                   for m in self.matches.values())

    def need_visible(self, who, name):
        """docs/authz.md: DONOR: OPEN STANDARD needs, or needs it has a (live)
        match on; OBSERVER: never RESTRICTED; staff and AUDITOR: all."""
        r = self.needs.get(name)
        if r is None:
            return False
        role = self.role(who)
        n = r.msg
        if role == "DONOR":
            return ((n.state == Need.STATE_OPEN and n.sensitivity == Need.SENSITIVITY_STANDARD)
                    or self.donor_has_live_match(DONOR_OF[who], name))
        if role == "OBSERVER":
            return n.sensitivity != Need.SENSITIVITY_RESTRICTED
        return role in ("FRONT_OFFICE", "BACK_OFFICE", "COORDINATOR", "AUDITOR")

    def match_visible(self, who, name):
        r = self.matches.get(name)
        role = self.role(who)
        if r is None or role in ("OBSERVER", "ADMIN", None):
            return False
        return role != "DONOR" or r.msg.donor == DONOR_OF[who]

    def pledge_visible(self, who, name):
        r = self.pledges.get(name)
        role = self.role(who)
        if r is None or role in ("OBSERVER", "ADMIN", None):
            return False
        return role != "DONOR" or name.startswith(DONOR_OF[who] + "/pledges/")

    def hidden_from(self, who, kind, name, field=None):
        """Whether who may not see this value of the resource."""
        role = self.role(who)
        mine = DONOR_OF.get(who)
        if kind == "needs":
            if not self.need_visible(who, name):
                return True
            return role == "OBSERVER" and field in OBSERVER_HIDDEN
        if kind == "matches":
            return mine is None or self.matches[name].msg.donor != mine
        if kind == "pledges":
            return mine is None or not name.startswith(mine + "/pledges/")
        if kind == "donors":
            return role == "DONOR" and name != mine and field == "contact_email"
        return False

    def leaks(self, who, blob, sent, tokens_only=False):
        """What in blob (an answer to who) who may not see and did not send:
        tokens always; for a DONOR or OBSERVER also markers, etags and names
        of what the need-to-know rules hide from it."""
        out = []
        for t in set(TOKEN_RE.findall(blob)):
            if t.decode() in self.all_tokens and t not in sent:
                out.append("a bearer token")
        if tokens_only or self.role(who) not in ("DONOR", "OBSERVER"):
            return out
        for m in set(MARK_RE.findall(blob)):
            owner = self.marker_owner.get(m.decode().upper())
            if owner and m not in sent and self.hidden_from(who, *owner):
                out.append("the %s of %s %s" % (owner[2], SINGULAR[owner[0]], owner[1]))
        for e in set(HEX_RE.findall(blob)):
            owner = self.etag_owner.get(e.decode())
            if owner and e not in sent and self.hidden_from(who, *owner):
                out.append("the etag of %s %s" % (SINGULAR[owner[0]], owner[1]))
        mine = DONOR_OF.get(who)
        own_needs = None
        for nm in set(NAME_RE.findall(blob)):
            name = nm.decode()
            if nm in sent:
                continue
            kind = name.split("/")[0] if "/pledges/" not in name else "pledges"
            table = getattr(self, kind)
            if name not in table or not self.hidden_from(who, kind, name):
                continue
            if kind == "needs":
                if own_needs is None:
                    own_needs = {m.msg.need for m in self.matches.values() if m.msg.donor == mine}
                if name in own_needs:
                    continue
            out.append("the name of %s %s" % (SINGULAR[kind], name))
        return out

    # ---- Money, as the contract defines it ----

    def committed(self, need):
        return sum(nanos(m.msg.amount) for m in self.matches.values()
                   if m.msg.need == need and m.msg.state in COMMITTED)

    def delivered(self, need):
        return sum(nanos(m.msg.amount) for m in self.matches.values()
                   if m.msg.need == need and m.msg.state == Match.STATE_ACCEPTED)

    def allocated(self, pledge):
        return sum(nanos(m.msg.amount) for m in self.matches.values()
                   if m.msg.pledge == pledge and m.msg.state in COMMITTED)

    def coverage(self, who):
        """The report who gets, as report.proto and docs/api.md ("Coverage
        report") define it, with Python integers (no overflow). Totals count
        only what who may see (issue 10 item 4): an OBSERVER's no RESTRICTED
        need, a DONOR's the needs ListNeeds shows it, and its own donor line
        only; staff and AUDITORs get everything."""
        role = self.role(who)
        counted = [r.msg for r in self.needs.values() if r.msg.state in COUNTED and
                   (role not in ("OBSERVER", "DONOR") or self.need_visible(who, r.msg.name))]
        by_need = {n.name: n for n in counted}
        ms = [m.msg for m in self.matches.values() if m.msg.need in by_need]

        def totals(ns, mset):
            return (len(ns), sum(nanos(n.estimated_cost) for n in ns),
                    sum(nanos(m.amount) for m in mset if m.state in COMMITTED),
                    sum(nanos(m.amount) for m in mset if m.state == Match.STATE_ACCEPTED))

        rep = {"total": totals(counted, ms), "by_sector": [], "by_category": [], "by_donor": []}
        for s in sorted({n.sector for n in counted}):
            ns = [n for n in counted if n.sector == s]
            rep["by_sector"].append((s, totals(ns, [m for m in ms if by_need[m.need].sector == s])))
        for c in sorted({n.category for n in counted}):
            ns = [n for n in counted if n.category == c]
            rep["by_category"].append(
                (c, totals(ns, [m for m in ms if by_need[m.need].category == c])))
        for d in self.donors.values():
            d = d.msg
            if d.membership != Donor.MEMBERSHIP_MEMBER:
                continue
            if role == "DONOR" and d.name != DONOR_OF[who]:
                continue
            dm = [m for m in ms if m.donor == d.name]
            dn = [by_need[x] for x in sorted({m.need for m in dm if m.state in COMMITTED})]
            pl = sum(nanos(p.msg.amount) for p in self.pledges.values()
                     if p.msg.name.startswith(d.name + "/pledges/") and
                     p.msg.state in (Pledge.STATE_ANNOUNCED, Pledge.STATE_COMMITTED))
            rep["by_donor"].append((d.name, d.display_name, totals(dn, dm), pl))
        return rep


def report_tuple(rep):
    """A CoverageReport as the same tuples World.coverage() gives."""
    def got(t):
        return (t.needs_count, nanos(t.estimated), nanos(t.committed), nanos(t.delivered))
    return {"total": got(rep.total),
            "by_sector": [(e.sector, got(e.totals)) for e in rep.by_sector],
            "by_category": [(e.category, got(e.totals)) for e in rep.by_category],
            "by_donor": [(e.donor, e.donor_display_name, got(e.totals), nanos(e.pledged))
                         for e in rep.by_donor]}
