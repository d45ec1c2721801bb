#!/usr/bin/python3
"""Seeds a running tallinnd with a small demo data set so that a new user sees
something at once: the donors of the Tallinn Mechanism as announced on
2023-12-20 (../shared/seed/article.txt), Estonia's EUR 500,000 pledge, a few
other pledges, a company donor and six civilian needs in various states.

Idempotent: every resource has a fixed id, ALREADY_EXISTS counts as done, and a
resource left half-way by an interrupted run is moved on to its demo state.
Running it twice changes nothing.

Each call is made by a principal of the role that may make it (docs/authz.md):
with --token-file naming the ADMIN token written by `tallinnd init` (default
var/admin.token when it exists), the script creates the principals
demo-front-office, demo-back-office, demo-coordinator and demo-auditor, and,
once the donors exist, demo-donor (the DONOR principal of Estonia) and
demo-observer, once, and keeps their tokens in demo-<role>.token files (0600)
beside the admin token, so that later runs reuse them (the contexts `make run`
writes in var/tallinnctl.conf point at them). Without a token the calls carry
no credentials.

Usage: /usr/bin/python3 scripts/demo-data.py [--addr 127.0.0.1:50051] [--token-file FILE]
"""
import argparse
import os
import sys
import uuid

import grpc

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import harness  # noqa: E402  (generates the Python modules from proto/ with protoc)

common_pb2, donor_pb2, need_pb2, match_pb2, principal_pb2 = harness.protos(
    "tallinn/v1/common.proto", "tallinn/v1/donor.proto", "tallinn/v1/need.proto",
    "tallinn/v1/match.proto", "tallinn/v1/principal.proto")
MODS = {m.DESCRIPTOR.name: m for m in (common_pb2, donor_pb2, need_pb2, match_pb2, principal_pb2)}
Donor, Pledge, Need, Match = donor_pb2.Donor, donor_pb2.Pledge, need_pb2.Need, match_pb2.Match
C = common_pb2
# Creates rely on the fixed ids (ALREADY_EXISTS tells us a resource is there;
# a request_id replay would not). State changes carry request_ids derived from
# the operation, so a retry replays rather than repeats.
NS = uuid.UUID("6f1d2c3b-4a59-4e68-9d7c-0b1a2c3d4e5f")


# The role that makes each call; everything else is the back office's.
ROLE_OF = {"CreateNeed": "FRONT_OFFICE", "SubmitNeed": "FRONT_OFFICE",
           "ApproveMatch": "COORDINATOR"}
ROLES = ("FRONT_OFFICE", "BACK_OFFICE", "COORDINATOR", "AUDITOR")
# Principals that need the donors first: (role, the donor it acts for).
VIEWERS = (("DONOR", "donors/estonia"), ("OBSERVER", ""))


def stub(ch, mod, service, tokens):
    """A namespace with one callable per RPC (harness makes messages only),
    each sending the bearer token of the role that may call it."""
    sd = mod.DESCRIPTOR.services_by_name[service]
    cls = lambda d: getattr(MODS[d.file.name], d.name)  # noqa: E731

    def bind(m):
        mc = ch.unary_unary("/%s/%s" % (sd.full_name, m.name),
                            request_serializer=cls(m.input_type).SerializeToString,
                            response_deserializer=cls(m.output_type).FromString)
        tok = tokens.get(ROLE_OF.get(m.name, "BACK_OFFICE"))
        md = (("authorization", "Bearer " + tok),) if tok else None
        return staticmethod(lambda req: mc(req, timeout=30, metadata=md))
    return type(service, (), {m.name: bind(m) for m in sd.methods})


def demo_tokens(ch, admin_token_file, roles):
    """Tokens of the demo principals of roles ((role, donor) pairs), created
    (or, if their token files were lost, rotated) with the ADMIN token; each
    is kept in its own 0600 file beside the admin token
    (demo-back-office.token, ...), where tallinnctl's config (written by
    `make run`) points."""
    folder = os.path.dirname(os.path.abspath(admin_token_file))
    with open(admin_token_file) as f:
        admin = f.read().strip()
    P = stub(ch, principal_pb2, "PrincipalService", {"BACK_OFFICE": admin})
    tokens = {}
    for role, donor in roles:
        pid = "demo-" + role.lower().replace("_", "-")
        path = os.path.join(folder, pid + ".token")
        if os.path.exists(path):
            with open(path) as f:
                tokens[role] = f.read().strip()
            continue
        try:
            r = P.CreatePrincipal(principal_pb2.CreatePrincipalRequest(
                principal_id=pid, principal=principal_pb2.Principal(
                    display_name="Demo " + role.replace("_", " ").lower(), donor=donor,
                    role=principal_pb2.Principal.Role.Value("ROLE_" + role))))
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
            r = P.RotateToken(principal_pb2.RotateTokenRequest(name="principals/" + pid))
        tokens[role] = r.token
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(r.token + "\n")
    return tokens


def eur(units):
    return C.Money(currency_code="EUR", units=units)


# ---- The data set ----

MEMBERS = [  # (id, display_name, ISO 3166-1 alpha-2): the donor states of the article
    ("estonia", "Estonia", "EE"), ("netherlands", "Netherlands", "NL"),
    ("canada", "Canada", "CA"), ("poland", "Poland", "PL"), ("france", "France", "FR"),
    ("sweden", "Sweden", "SE"), ("germany", "Germany", "DE"), ("denmark", "Denmark", "DK"),
    ("united-states", "United States", "US"),
    ("united-kingdom", "United Kingdom", "GB"),  # ISO says GB, not UK
]
# The observers. country_code is optional for international organisations; we
# set BE because Brussels hosts the EU institutions and NATO headquarters, so
# a list filtered by country still finds them somewhere sensible.
OBSERVERS = [("eu", "European Union", "BE"), ("nato", "NATO", "BE")]
# A fictitious company that comes with Estonia (the article: "the group
# includes tech companies and NGOs from donor countries").
COMPANY = ("tallinn-cyber-partners", "Tallinn Cyber Partners OÜ (demo)", "EE", "donors/estonia",
           [C.CATEGORY_INCIDENT_RESPONSE, C.CATEGORY_ENDPOINT_PROTECTION, C.CATEGORY_TRAINING])
CAPABILITIES = {
    "estonia": [C.CATEGORY_TRAINING, C.CATEGORY_INCIDENT_RESPONSE, C.CATEGORY_ASSESSMENT],
    "netherlands": [C.CATEGORY_THREAT_INTELLIGENCE, C.CATEGORY_NETWORK_SECURITY],
    "poland": [C.CATEGORY_HARDWARE, C.CATEGORY_RECOVERY],
}
# Only Estonia's figure is from the article; the others are demo figures.
PLEDGES = [  # (donor, id, EUR, fiscal_year, source, state)
    ("estonia", "fy2024", 500000, 2024, "2024 development cooperation budget",
     Pledge.STATE_COMMITTED),
    ("netherlands", "fy2025", 250000, 2025, "Demo figure: cyber capacity-building budget",
     Pledge.STATE_ANNOUNCED),
    ("poland", "fy2024", 150000, 2024, "Demo figure: development assistance reserve",
     Pledge.STATE_COMMITTED),
]
NEEDS = [  # (id, demo state, fields)
    ("kharkiv-power-edr", "OPEN", dict(
        title="EDR licences for a regional power distribution operator",
        description="Endpoint detection and response for about 1,500 workstations and servers "
                    "of the distribution operator's control centres, with 12 months of "
                    "managed monitoring.",
        beneficiary="Regional power distribution operator, Kharkiv", region="Kharkiv Oblast",
        sector=C.SECTOR_ENERGY, category=C.CATEGORY_ENDPOINT_PROTECTION,
        priority=Need.PRIORITY_CRITICAL, estimated_cost=eur(180000),
        needed_by=C.Date(year=2025, month=3, day=31))),
    ("mobile-core-ddos", "OPEN", dict(
        title="DDoS protection for a national mobile operator's core network",
        description="Scrubbing capacity and on-premises mitigation for the packet core and DNS "
                    "of a mobile operator serving 20 million subscribers.",
        beneficiary="National mobile network operator", region="National",
        sector=C.SECTOR_TELECOM, category=C.CATEGORY_NETWORK_SECURITY,
        priority=Need.PRIORITY_HIGH, estimated_cost=eur(350000))),
    ("mykolaiv-water-scada", "OPEN", dict(
        title="Recovery of SCADA systems at a municipal water utility",
        description="Rebuild of the SCADA servers and historian after a wiper attack; "
                    "hardened network segmentation between IT and OT.",
        beneficiary="Municipal water utility, Mykolaiv", region="Mykolaiv Oblast",
        sector=C.SECTOR_WATER, category=C.CATEGORY_RECOVERY,
        priority=Need.PRIORITY_CRITICAL, estimated_cost=eur(120000),
        sensitivity=Need.SENSITIVITY_RESTRICTED)),
    ("registry-pentest", "OPEN", dict(
        title="Penetration test of a state e-services registry",
        description="External and internal penetration test of the registry's public portal "
                    "and back-end APIs, with a remediation workshop.",
        beneficiary="State registry of e-services", region="Kyiv City",
        sector=C.SECTOR_GOVERNMENT, category=C.CATEGORY_ASSESSMENT,
        priority=Need.PRIORITY_MEDIUM, estimated_cost=eur(80000))),
    ("ministry-training", "SUBMITTED", dict(
        title="Phishing-resistance training for ministry staff",
        description="Awareness training and simulated phishing campaigns for 2,000 staff, "
                    "train-the-trainer sessions for the ministry's security team.",
        beneficiary="Ministry of Digital Transformation", region="Kyiv City",
        sector=C.SECTOR_GOVERNMENT, category=C.CATEGORY_TRAINING,
        priority=Need.PRIORITY_MEDIUM, estimated_cost=eur(45000))),
    ("dnipro-hospital-ir", "DRAFT", dict(
        title="Incident response retainer for a regional hospital",
        description="On-call incident response for the hospital's patient records and "
                    "imaging systems; still being written by the front office.",
        beneficiary="Regional clinical hospital, Dnipro", region="Dnipropetrovsk Oblast",
        sector=C.SECTOR_HEALTH, category=C.CATEGORY_INCIDENT_RESPONSE,
        priority=Need.PRIORITY_HIGH, estimated_cost=eur(60000))),
]
NEED_PATH = ["DRAFT", "SUBMITTED", "OPEN"]  # and the call that leaves each state
NEED_STEP = {"DRAFT": "SubmitNeed", "SUBMITTED": "ValidateNeed"}
# One approved match so that coverage and the report show something.
MATCH = ("estonia-kharkiv-edr", "needs/kharkiv-power-edr", "donors/estonia",
         "donors/estonia/pledges/fy2024", 100000, "donors/tallinn-cyber-partners",
         "EDR licences and 12 months of managed monitoring for the control centres.")


class Seeder:
    def __init__(self, addr, admin_token_file):
        self.ch = grpc.insecure_channel(addr)
        self.admin_token_file = admin_token_file
        tokens = (demo_tokens(self.ch, admin_token_file, [(r, "") for r in ROLES])
                  if admin_token_file else {})
        self.D = stub(self.ch, donor_pb2, "DonorService", tokens)
        self.N = stub(self.ch, need_pb2, "NeedService", tokens)
        self.M = stub(self.ch, match_pb2, "MatchService", tokens)
        self.created = self.existing = 0
        self.notes = []

    @staticmethod
    def call(fn, req):
        return fn(req)

    def create(self, fn, req):
        """Creates; True if new, False if it was already there."""
        try:
            self.call(fn, req)
            self.created += 1
            return True
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
            self.existing += 1
            return False

    def donors(self):
        def make(did, name, cc, kind, membership, parent="", caps=()):
            self.create(self.D.CreateDonor, donor_pb2.CreateDonorRequest(
                donor_id=did,
                donor=Donor(display_name=name, kind=kind, country_code=cc, parent=parent,
                            membership=membership, capabilities=list(caps))))
        for did, name, cc in MEMBERS:
            make(did, name, cc, Donor.KIND_STATE, Donor.MEMBERSHIP_MEMBER,
                 caps=CAPABILITIES.get(did, ()))
        for did, name, cc in OBSERVERS:
            make(did, name, cc, Donor.KIND_INTERNATIONAL_ORGANIZATION, Donor.MEMBERSHIP_OBSERVER)
        did, name, cc, parent, caps = COMPANY
        make(did, name, cc, Donor.KIND_COMPANY, Donor.MEMBERSHIP_MEMBER, parent, caps)

    def viewers(self):
        """The DONOR and OBSERVER principals, once their donors exist."""
        if self.admin_token_file:
            demo_tokens(self.ch, self.admin_token_file, VIEWERS)

    def pledges(self):
        for donor, pid, units, fy, source, state in PLEDGES:
            self.create(self.D.CreatePledge, donor_pb2.CreatePledgeRequest(
                parent="donors/" + donor, pledge_id=pid,
                pledge=Pledge(amount=eur(units), fiscal_year=fy, source=source, state=state)))

    def needs(self):
        for nid, target, fields in NEEDS:
            name = "needs/" + nid
            self.create(self.N.CreateNeed, need_pb2.CreateNeedRequest(
                need_id=nid,
                need=Need(domain=Need.DOMAIN_CIVILIAN, **fields)))
            state = Need.State.Name(self.call(self.N.GetNeed,
                                              need_pb2.GetNeedRequest(name=name)).state)[6:]
            if state not in NEED_PATH:
                continue  # moved on by someone else: leave it
            for s in NEED_PATH[NEED_PATH.index(state):NEED_PATH.index(target)]:
                method = NEED_STEP[s]
                req = getattr(need_pb2, method + "Request")(
                    name=name, request_id=str(uuid.uuid5(NS, name + "/" + method)))
                self.call(getattr(self.N, method), req)

    def match(self):
        mid, need, donor, pledge, units, implementer, desc = MATCH
        name = "matches/" + mid
        self.create(self.M.CreateMatch, match_pb2.CreateMatchRequest(
            match_id=mid,
            match=Match(need=need, donor=donor, pledge=pledge, amount=eur(units),
                        implementer=implementer, description=desc)))
        m = self.call(self.M.GetMatch, match_pb2.GetMatchRequest(name=name))
        if m.state != Match.STATE_PROPOSED:
            return
        try:
            self.call(self.M.ApproveMatch, match_pb2.ApproveMatchRequest(
                name=name, request_id=str(uuid.uuid5(NS, name + "/ApproveMatch"))))
        except grpc.RpcError as e:
            # With authentication on, the proposer may not approve its own match.
            if e.code() != grpc.StatusCode.PERMISSION_DENIED:
                raise
            self.notes.append("%s left PROPOSED (approve it as another principal)" % name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--addr", default="127.0.0.1:50051")
    ap.add_argument("--token-file", help="the ADMIN token from `tallinnd init` "
                    "(default: var/admin.token if it exists)")
    args = ap.parse_args()
    if args.token_file is None and os.path.exists("var/admin.token"):
        args.token_file = "var/admin.token"
    try:
        s = Seeder(args.addr, args.token_file)
        s.donors()
        s.viewers()
        s.pledges()
        s.needs()
        s.match()
    except grpc.RpcError as e:
        hint = ""
        if e.code() == grpc.StatusCode.UNAUTHENTICATED and not args.token_file:
            hint = " (pass --token-file DATA_DIR/admin.token)"
        print("demo-data: %s: %s%s" % (e.code().name, e.details(), hint), file=sys.stderr)
        return 1
    print("demo-data: %d donors, %d pledges, %d needs, 1 match at %s (%d created, %d already "
          "there)%s" % (len(MEMBERS) + len(OBSERVERS) + 1, len(PLEDGES), len(NEEDS), args.addr,
                        s.created, s.existing, "; " + "; ".join(s.notes) if s.notes else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
