"""integration.search: the filter's ":" (a caseless substring of a needs'
title or a donor's display_name) against a real tallinnd, through the API and
through tallinnctl --filter: Ukrainian Cyrillic in any case, LIKE wildcards
as plain text, paging (small pages add up to the whole, a token survives a
change of case in the text), need-to-know (an OBSERVER never finds a
RESTRICTED need), and bad input.
Run: /usr/bin/python3 search_test.py path/to/tallinnd path/to/tallinnctl"""
import os
import subprocess
import sys

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BIN, CTL = sys.argv[1], sys.argv[2]
common_pb2, donor_pb2, need_pb2 = harness.protos(
    "tallinn/v1/common.proto", "tallinn/v1/donor.proto", "tallinn/v1/need.proto")
Code = grpc.StatusCode
Need, Donor = need_pb2.Need, donor_pb2.Donor

TITLES = {
    "odesa-port": "Одеса порт: SCADA",
    "odesa-water": "ОДЕСА водоканал EDR",
    "odesa-latin": "Odesa grid SOC",
    "kharkiv": "Kharkiv EDR licences",
    "percent": "50% discount_licences \\ x",
    "percent2": "500 licences",
    "strasse": "Straße sensors",
}
RESTRICTED = {"odesa-secret": "Одеса military-adjacent site"}
PAGED = 23  # needs titled "Paged Odesa k"


class Api:
    def __init__(self, srv):
        self.ch = grpc.insecure_channel(srv.addr)
        self.tok = {r: srv.create_principal("s-" + r.lower().replace("_", "-"), r)
                    for r in ("FRONT_OFFICE", "BACK_OFFICE", "OBSERVER")}
        self.srv = srv

    def call(self, who, path, req, out):
        f = self.ch.unary_unary(path, request_serializer=type(req).SerializeToString,
                                response_deserializer=out.FromString)
        return f(req, metadata=harness.bearer(self.tok[who]), timeout=30)

    def need(self, nid, title, restricted=False):
        n = Need(title=title, description="d", beneficiary="b", region="Odesa Oblast",
                 sector=common_pb2.SECTOR_ENERGY, category=common_pb2.CATEGORY_HARDWARE,
                 domain=Need.DOMAIN_CIVILIAN, priority=Need.PRIORITY_HIGH,
                 estimated_cost=common_pb2.Money(currency_code="EUR", units=1000),
                 sensitivity=Need.SENSITIVITY_RESTRICTED if restricted
                 else Need.SENSITIVITY_STANDARD)
        name = self.call("FRONT_OFFICE", "/tallinn.v1.NeedService/CreateNeed",
                         need_pb2.CreateNeedRequest(need=n, need_id=nid), Need).name
        self.call("FRONT_OFFICE", "/tallinn.v1.NeedService/SubmitNeed",
                  need_pb2.SubmitNeedRequest(name=name), Need)
        self.call("BACK_OFFICE", "/tallinn.v1.NeedService/ValidateNeed",
                  need_pb2.ValidateNeedRequest(name=name), Need)
        return name

    def list_needs(self, who, flt, page_size=0, token="", order_by=""):
        return self.call(who, "/tallinn.v1.NeedService/ListNeeds",
                         need_pb2.ListNeedsRequest(filter=flt, page_size=page_size,
                                                   page_token=token, order_by=order_by),
                         need_pb2.ListNeedsResponse)

    def found(self, who, flt):
        r = self.list_needs(who, flt, page_size=1000)
        assert r.next_page_token == ""
        return sorted(n.name.split("/")[1] for n in r.needs)


def setup(api):
    for nid, title in TITLES.items():
        api.need(nid, title)
    for nid, title in RESTRICTED.items():
        api.need(nid, title, restricted=True)
    for k in range(PAGED):
        api.need("paged-%02d" % k, "Paged Odesa %d" % k)
    for did, name in (("norway", "Kingdom of Norway"), ("ua-ngo", "Фонд «Повернись живим»")):
        api.call("BACK_OFFICE", "/tallinn.v1.DonorService/CreateDonor",
                 donor_pb2.CreateDonorRequest(donor_id=did, donor=Donor(
                     display_name=name, kind=Donor.KIND_NGO if did == "ua-ngo"
                     else Donor.KIND_STATE, country_code="UA" if did == "ua-ngo" else "NO",
                     membership=Donor.MEMBERSHIP_OBSERVER if did == "ua-ngo"
                     else Donor.MEMBERSHIP_MEMBER,
                     parent="donors/norway" if did == "ua-ngo" else "")), Donor)


PAGED_IDS = ["paged-%02d" % k for k in range(PAGED)]


def t_caseless_cyrillic(api):
    odesa_cyr = ["odesa-port", "odesa-secret", "odesa-water"]
    for text in ("одеса", "ОДЕСА", "Одеса", "оДеСа"):
        assert api.found("FRONT_OFFICE", 'title : "%s"' % text) == odesa_cyr, text
    # Latin is another word: no transliteration
    assert api.found("FRONT_OFFICE", 'title : "ODESA"') == ["odesa-latin"] + PAGED_IDS
    assert api.found("FRONT_OFFICE", 'title : "edr"') == ["kharkiv", "odesa-water"]
    assert api.found("FRONT_OFFICE", 'title : "STRASSE"') == ["strasse"]
    assert api.found("FRONT_OFFICE", 'title : "порт:"') == ["odesa-port"]
    # combined with other comparisons, and negated
    assert api.found("FRONT_OFFICE", 'title : "одеса" AND title : "edr"') == ["odesa-water"]
    assert "odesa-port" not in api.found("FRONT_OFFICE", 'NOT title : "одеса"')


def t_wildcards_are_text(api):
    assert api.found("FRONT_OFFICE", 'title : "%"') == ["percent"]
    assert api.found("FRONT_OFFICE", 'title : "50%"') == ["percent"]
    assert api.found("FRONT_OFFICE", 'title : "_"') == ["percent"]
    assert api.found("FRONT_OFFICE", 'title : "t_l"') == ["percent"]
    assert api.found("FRONT_OFFICE", 'title : "\\\\"') == ["percent"]
    assert api.found("FRONT_OFFICE", 'title : "5%s"') == []
    assert api.found("FRONT_OFFICE", 'title : "*"') == []


def t_need_to_know(api):
    assert api.found("FRONT_OFFICE", 'title : "military"') == ["odesa-secret"]
    assert api.found("OBSERVER", 'title : "military"') == []
    assert api.found("OBSERVER", 'title : "одеса"') == ["odesa-port", "odesa-water"]


def t_paging(api):
    for order in ("", "create_time desc", "title"):
        seen, tok, pages = [], "", 0
        while True:
            # the token was made for "odesa"; any case of it is the same filter
            flt = 'title : "%s"' % ("Paged ODESA" if pages % 2 else "paged odesa")
            r = api.list_needs("FRONT_OFFICE", flt, page_size=5, token=tok, order_by=order)
            seen += [n.name for n in r.needs]
            pages += 1
            tok = r.next_page_token
            if not tok:
                break
        assert pages == 5, (order, pages)
        assert len(seen) == PAGED and len(set(seen)) == PAGED, (order, seen)
        full = [n.name for n in api.list_needs("FRONT_OFFICE", 'title : "paged odesa"',
                                               page_size=1000, order_by=order).needs]
        assert seen == full, order
    # a token of one search does not serve another
    tok = api.list_needs("FRONT_OFFICE", 'title : "paged"', page_size=5).next_page_token
    harness.expect_code(api.list_needs, Code.INVALID_ARGUMENT, "FRONT_OFFICE",
                        'title : "odesa"', page_size=5, token=tok)


def t_donors(api):
    r = api.call("FRONT_OFFICE", "/tallinn.v1.DonorService/ListDonors",
                 donor_pb2.ListDonorsRequest(filter='display_name : "NORWAY"'),
                 donor_pb2.ListDonorsResponse)
    assert [d.name for d in r.donors] == ["donors/norway"]
    r = api.call("FRONT_OFFICE", "/tallinn.v1.DonorService/ListDonors",
                 donor_pb2.ListDonorsRequest(filter='display_name : "ПОВЕРНИСЬ"'),
                 donor_pb2.ListDonorsResponse)
    assert [d.name for d in r.donors] == ["donors/ua-ngo"]


def t_bad_input(api):
    for flt, text in (('title : ""', "nothing to search for"),
                      ('title : "\u00ad"', "nothing to search for"),
                      ('title : "%s"' % ("я" * 201), "longer than 200 characters"),
                      ('title : odesa', "in double quotes"),
                      ('region : "Odesa"', 'field "region" cannot be searched'),
                      ('beneficiary : "x"', "cannot be searched"),
                      ('sector : ENERGY', 'operator ":" (contains) cannot be used')):
        e = harness.expect_code(api.list_needs, Code.INVALID_ARGUMENT, "FRONT_OFFICE", flt)
        assert text in e.details(), (flt, e.details())
    # 200 characters is within bounds (and matches nothing)
    assert api.found("FRONT_OFFICE", 'title : "%s"' % ("я" * 200)) == []


def ctl(srv, token, *args, rc=0):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALLINN_")}
    env.update({"TALLINN_TOKEN": token, "HOME": "/nonexistent", "XDG_CONFIG_HOME": "/nonexistent"})
    p = subprocess.run([CTL, "--addr", srv.addr, "--insecure"] + list(args),
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == rc, (args, p.returncode, p.stdout, p.stderr)
    return p


def t_ctl(api):
    srv, tok = api.srv, api.tok["FRONT_OFFICE"]
    p = ctl(srv, tok, "needs", "list", "--filter", 'title : "ОДЕСА"', "-o", "name")
    assert sorted(p.stdout.split()) == ["needs/odesa-port", "needs/odesa-secret",
                                        "needs/odesa-water"], p.stdout
    p = ctl(srv, api.tok["OBSERVER"], "needs", "list", "--filter", 'title : "одеса"', "-o", "name")
    assert sorted(p.stdout.split()) == ["needs/odesa-port", "needs/odesa-water"], p.stdout
    p = ctl(srv, tok, "needs", "list", "--filter", 'title : "50%"', "-o", "name")
    assert p.stdout.split() == ["needs/percent"], p.stdout
    p = ctl(srv, tok, "needs", "list", "--filter", 'title : "paged odesa"', "-o", "name")
    assert len(p.stdout.split()) == PAGED
    p = ctl(srv, tok, "donors", "list", "--filter", 'display_name : "norway"', "-o", "name")
    assert p.stdout.split() == ["donors/norway"], p.stdout
    p = ctl(srv, tok, "needs", "list", "--filter", 'region : "x"', rc=6)
    lines = p.stderr.splitlines()
    assert len(lines) >= 1 and "INVALID_ARGUMENT" in lines[0] and \
        'cannot be searched' in p.stderr, p.stderr


# What the migrations after the folded columns' made besides audit_quorums
# (SQLite 12, PostgreSQL 7).
SQLITE_UNDO = " DROP TABLE match_totals; DROP TRIGGER match_totals_insert; DROP TRIGGER match_totals_delete; DROP TRIGGER match_totals_update;"
PG_UNDO = " DROP TRIGGER match_totals ON matches; DROP FUNCTION match_totals_apply(); DROP TABLE match_totals;"


def t_migration(api, state):
    """Rows written before the folded columns existed are found after the
    migration that adds them (SQLite 10, PostgreSQL 5) fills them in."""
    srv = api.srv
    before = api.found("FRONT_OFFICE", 'title : "ОДЕСА"')
    assert srv.stop() == 0
    undo = ("ALTER TABLE donors DROP COLUMN display_name_fold;"
            " ALTER TABLE needs DROP COLUMN title_fold; DROP TABLE audit_quorums;")
    if harness.PG is not None:
        harness.db_query(srv.data, undo + "%s UPDATE schema_version SET version = 4;" % PG_UNDO)
    else:
        harness.db_query(srv.data, undo + "%s PRAGMA user_version = 9;" % SQLITE_UNDO)
    state["srv"] = srv = harness.Tallinnd(BIN, "--quiet", data=srv.data)
    api.srv, api.ch = srv, grpc.insecure_channel(srv.addr)
    assert api.found("FRONT_OFFICE", 'title : "ОДЕСА"') == before
    assert api.found("FRONT_OFFICE", 'title : "strasse"') == ["strasse"]
    r = api.call("FRONT_OFFICE", "/tallinn.v1.DonorService/ListDonors",
                 donor_pb2.ListDonorsRequest(filter='display_name : "norway"'),
                 donor_pb2.ListDonorsResponse)
    assert [d.name for d in r.donors] == ["donors/norway"]


def main():
    cases = harness.Cases()
    srv = harness.Tallinnd(BIN, "--quiet")
    try:
        api = Api(srv)
        cases.run("setup", setup, api)
        for name, fn in (("caseless_cyrillic", t_caseless_cyrillic),
                         ("wildcards_are_text", t_wildcards_are_text),
                         ("need_to_know", t_need_to_know), ("paging", t_paging),
                         ("donors", t_donors), ("bad_input", t_bad_input), ("ctl", t_ctl)):
            cases.run(name, fn, api)
        state = {"srv": srv}
        cases.run("migration_fills_folds", t_migration, api, state)
        srv = state["srv"]
    finally:
        rc = srv.stop()
    if rc != 0:
        print(srv.text()[-4000:])
    cases.run("clean_exit", lambda: None if rc == 0 else (_ for _ in ()).throw(
        AssertionError("tallinnd exited %d" % rc)))
    cases.finish()


if __name__ == "__main__":
    main()
