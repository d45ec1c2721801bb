"""integration.evidence: delivery evidence against a real tallinnd, through
the API and through tallinnctl --evidence: a note and document digests on
MarkDelivered, RejectDelivery and AcceptDelivery, recorded in the match and
(as one digest, recomputed here) in the audit log; hostile input refused
with field violations and nothing recorded; a maximal request and a refused
one still give audit records within AUDIT_RECORD_MAX; need-to-know per role.
Run: /usr/bin/python3 evidence_test.py path/to/tallinnd path/to/tallinnctl"""
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BIN, CTL = sys.argv[1], sys.argv[2]
status_pb2, errdet_pb2 = harness.protos("google/rpc/status.proto",
                                        "google/rpc/error_details.proto")
common_pb2, donor_pb2, need_pb2, match_pb2, audit_pb2 = harness.protos(
    "tallinn/v1/common.proto", "tallinn/v1/donor.proto", "tallinn/v1/need.proto",
    "tallinn/v1/match.proto", "tallinn/v1/audit.proto")
Code = grpc.StatusCode
Need, Match, Donor, Pledge = need_pb2.Need, match_pb2.Match, donor_pb2.Donor, donor_pb2.Pledge
Doc, Step = match_pb2.DeliveryDocument, match_pb2.DeliveryEvidence
AUDIT_RECORD_MAX = 4096
TMP = tempfile.mkdtemp(prefix="tallinn-evidence-")


def digest(note, docs):
    """The evidence digest as docs/api.md defines it, computed here apart."""
    def text(s):
        b = s.encode()
        return struct.pack(">I", len(b)) + b
    h = hashlib.sha256(b"tallinn-evidence-v1\n" + text(note) + struct.pack(">I", len(docs)))
    for d in docs:
        h.update(bytes.fromhex(d.sha256) + text(d.name) + text(d.media_type))
    return h.digest()


def violations(err):
    for k, v in err.trailing_metadata() or ():
        if k == "grpc-status-details-bin":
            out = []
            for a in status_pb2.Status.FromString(v).details:
                if a.type_url.endswith("BadRequest"):
                    out += [f.field for f in
                            errdet_pb2.BadRequest.FromString(a.value).field_violations]
            return out
    return []


class Api:
    def __init__(self, srv):
        self.srv = srv
        self.ch = grpc.insecure_channel(srv.addr)
        self.tok = {r: srv.create_principal("e-" + r.lower().replace("_", "-"), r)
                    for r in ("FRONT_OFFICE", "BACK_OFFICE", "COORDINATOR", "OBSERVER",
                              "AUDITOR")}
        self.seq = 0

    def call(self, who, path, req, out, raw=False):
        ser = (lambda b: b) if raw else type(req).SerializeToString
        f = self.ch.unary_unary(path, request_serializer=ser, response_deserializer=out.FromString)
        return f(req, metadata=harness.bearer(self.tok.get(who, who)), timeout=30)

    def m(self, who, method, req, raw=False):
        return self.call(who, "/tallinn.v1.MatchService/" + method, req, Match, raw=raw)

    def donor(self, did):
        d = self.call("BACK_OFFICE", "/tallinn.v1.DonorService/CreateDonor",
                      donor_pb2.CreateDonorRequest(donor_id=did, donor=Donor(
                          display_name=did, kind=Donor.KIND_STATE, country_code="EE",
                          membership=Donor.MEMBERSHIP_MEMBER)), Donor)
        self.tok[d.name] = self.srv.create_principal("e-" + did, "DONOR", donor=d.name)
        p = self.call("BACK_OFFICE", "/tallinn.v1.DonorService/CreatePledge",
                      donor_pb2.CreatePledgeRequest(parent=d.name, pledge_id="p", pledge=Pledge(
                          amount=common_pb2.Money(currency_code="EUR", units=10 ** 6),
                          fiscal_year=2025, source="budget", state=Pledge.STATE_COMMITTED)),
                      Pledge)
        return d.name, p.name

    def in_delivery(self, donor, pledge):
        """A new match of donor, IN_DELIVERY."""
        self.seq += 1
        n = Need(title="need %d" % self.seq, description="d", beneficiary="b", region="Kyiv City",
                 sector=common_pb2.SECTOR_ENERGY, category=common_pb2.CATEGORY_HARDWARE,
                 domain=Need.DOMAIN_CIVILIAN, priority=Need.PRIORITY_HIGH,
                 estimated_cost=common_pb2.Money(currency_code="EUR", units=1000),
                 sensitivity=Need.SENSITIVITY_STANDARD)
        name = self.call("FRONT_OFFICE", "/tallinn.v1.NeedService/CreateNeed",
                         need_pb2.CreateNeedRequest(need=n, need_id="n%d" % self.seq), Need).name
        self.call("FRONT_OFFICE", "/tallinn.v1.NeedService/SubmitNeed",
                  need_pb2.SubmitNeedRequest(name=name), Need)
        self.call("BACK_OFFICE", "/tallinn.v1.NeedService/ValidateNeed",
                  need_pb2.ValidateNeedRequest(name=name), Need)
        x = self.m("BACK_OFFICE", "CreateMatch", match_pb2.CreateMatchRequest(
            match_id="m%d" % self.seq, match=Match(
                need=name, donor=donor, pledge=pledge, description="d",
                amount=common_pb2.Money(currency_code="EUR", units=1000))))
        self.m("COORDINATOR", "ApproveMatch", match_pb2.ApproveMatchRequest(name=x.name))
        self.m(donor, "StartDelivery", match_pb2.StartDeliveryRequest(name=x.name))
        return x.name

    def records(self):
        f = self.ch.unary_stream("/tallinn.v1.AuditService/StreamAuditRecords",
                                 request_serializer=audit_pb2.StreamAuditRecordsRequest
                                 .SerializeToString,
                                 response_deserializer=audit_pb2.StreamAuditRecordsResponse
                                 .FromString)
        return list(f(audit_pb2.StreamAuditRecordsRequest(),
                      metadata=harness.bearer(self.tok["AUDITOR"]), timeout=30))

    def record_of(self, method, match, status=0):
        out = [r for r in self.records()
               if r.record.method == "/tallinn.v1.MatchService/" + method and
               r.record.resource == match and r.record.status_code == status]
        assert out, (method, match, status)
        return out[-1]


def sha(data):
    return hashlib.sha256(data).hexdigest()


DOCS = [Doc(sha256=sha(b"act"), name="Акт приймання-передачі.pdf", media_type="Application/PDF"),
        Doc(sha256=sha(b"photo"), name="site 3.jpg", media_type="image/jpeg")]


def t_recorded(api, w):
    x = api.in_delivery(w["donor"], w["pledge"])
    note = "All 40 sites.\nSerials in the act."
    r = api.m(w["donor"], "MarkDelivered", match_pb2.MarkDeliveredRequest(
        name=x, note=note, documents=DOCS))
    assert r.state == Match.STATE_DELIVERED
    assert len(r.delivery_evidence) == 1
    e = r.delivery_evidence[0]
    assert e.step == Step.STEP_DELIVERED and e.note == note
    assert e.principal.startswith("principals/") and e.time.seconds > 0
    assert [(d.sha256, d.name, d.media_type) for d in e.documents] == [
        (sha(b"act"), "Акт приймання-передачі.pdf", "application/pdf"),
        (sha(b"photo"), "site 3.jpg", "image/jpeg")]
    want = digest(note, e.documents)
    assert e.evidence_sha256 == want.hex(), (e.evidence_sha256, want.hex())
    rec = api.record_of("MarkDelivered", x)
    assert rec.record.evidence_sha256 == want and rec.record.evidence_documents == 2
    assert len(rec.leaf) <= AUDIT_RECORD_MAX
    # rejected with evidence, delivered again, accepted with evidence: four steps
    r = api.m("FRONT_OFFICE", "RejectDelivery", match_pb2.RejectDeliveryRequest(
        name=x, reason="3 licences missing", documents=[
            Doc(sha256=sha(b"count"), name="count.csv", media_type="text/csv")]))
    assert r.state == Match.STATE_IN_DELIVERY and r.state_reason == "3 licences missing"
    api.m(w["donor"], "MarkDelivered", match_pb2.MarkDeliveredRequest(name=x))
    r = api.m("FRONT_OFFICE", "AcceptDelivery", match_pb2.AcceptDeliveryRequest(
        name=x, note="signed"))
    assert r.state == Match.STATE_ACCEPTED
    assert [s.step for s in r.delivery_evidence] == [
        Step.STEP_DELIVERED, Step.STEP_REJECTED, Step.STEP_DELIVERED, Step.STEP_ACCEPTED]
    assert r.delivery_evidence[2].note == "" and len(r.delivery_evidence[2].documents) == 0
    assert r.delivery_evidence[2].evidence_sha256 == digest("", []).hex()
    assert api.record_of("AcceptDelivery", x).record.evidence_sha256 == digest("signed", [])
    # other records carry none
    assert api.record_of("StartDelivery", x).record.evidence_sha256 == b""
    w["accepted"] = x


def t_need_to_know(api, w):
    x = w["accepted"]
    get = match_pb2.GetMatchRequest(name=x)
    for who in ("FRONT_OFFICE", "BACK_OFFICE", "COORDINATOR", "AUDITOR", w["donor"]):
        assert len(api.m(who, "GetMatch", get).delivery_evidence) == 4, who
    # OBSERVER may not read matches at all; another donor does not see it
    harness.expect_code(api.m, Code.PERMISSION_DENIED, "OBSERVER", "GetMatch", get)
    harness.expect_code(api.m, Code.NOT_FOUND, w["other"], "GetMatch", get)
    harness.expect_code(api.m, Code.NOT_FOUND, w["other"], "MarkDelivered",
                        match_pb2.MarkDeliveredRequest(name=x, documents=DOCS))
    # lists leave the evidence out
    r = api.call("BACK_OFFICE", "/tallinn.v1.MatchService/ListMatches",
                 match_pb2.ListMatchesRequest(page_size=1000), match_pb2.ListMatchesResponse)
    assert r.matches and all(len(m.delivery_evidence) == 0 for m in r.matches)


def refused_fields(api, who, method, req, raw=False):
    e = harness.expect_code(api.m, Code.INVALID_ARGUMENT, who, method, req, raw=raw)
    return violations(e)


def t_bad_input(api, w):
    x = api.in_delivery(w["donor"], w["pledge"])
    good = DOCS[0]

    def one(**kw):
        d = Doc(sha256=good.sha256, name=good.name, media_type=good.media_type)
        for k, v in kw.items():
            setattr(d, k, v)
        return match_pb2.MarkDeliveredRequest(name=x, documents=[good, d])

    cases = [
        (one(sha256=""), "documents[1].sha256"),
        (one(sha256=good.sha256[:63]), "documents[1].sha256"),
        (one(sha256=good.sha256 + "0"), "documents[1].sha256"),
        (one(sha256=good.sha256.upper()), "documents[1].sha256"),
        (one(sha256="g" * 64), "documents[1].sha256"),
        (one(name=""), "documents[1].name"),
        (one(name="a\nb"), "documents[1].name"),
        (one(name="x\u202eexe.pdf"), "documents[1].name"),
        (one(name="я" * 201), "documents[1].name"),
        (one(media_type=""), "documents[1].media_type"),
        (one(media_type="pdf"), "documents[1].media_type"),
        (one(media_type="application/"), "documents[1].media_type"),
        (one(media_type="/pdf"), "documents[1].media_type"),
        (one(media_type="application/pdf; charset=x"), "documents[1].media_type"),
        (one(media_type="application/pdf/x"), "documents[1].media_type"),
        (one(media_type="a" * 128 + "/pdf"), "documents[1].media_type"),
        (one(media_type=".a/pdf"), "documents[1].media_type"),
        (match_pb2.MarkDeliveredRequest(name=x, note="я" * 2001), "note"),
        (match_pb2.MarkDeliveredRequest(name=x, note="esc\x1b[2J"), "note"),
        (match_pb2.MarkDeliveredRequest(name=x, documents=[good] * 17), "documents"),
    ]
    for req, field in cases:
        got = refused_fields(api, w["donor"], "MarkDelivered", req)
        assert got == [field], (field, got)
    # 10,000 documents: one violation, not 10,000
    assert refused_fields(api, w["donor"], "MarkDelivered", match_pb2.MarkDeliveredRequest(
        name=x, documents=[good] * 10000)) == ["documents"]
    # a note with a NUL (the transport refuses it before the handler)
    assert refused_fields(api, w["donor"], "MarkDelivered", match_pb2.MarkDeliveredRequest(
        name=x, note="a\x00b")) == ["note"]
    # a name that is not UTF-8 (protobuf-python will not build one: patch the bytes)
    raw = match_pb2.MarkDeliveredRequest(name=x, documents=[Doc(
        sha256=good.sha256, name="NAME\u00e9", media_type="text/plain")]).SerializeToString()
    raw = raw.replace("NAME\u00e9".encode(), b"NAME\xff\xfe")
    assert refused_fields(api, w["donor"], "MarkDelivered", raw, raw=True) == \
        ["documents[0].name"]
    # several at once, reported together
    got = refused_fields(api, w["donor"], "MarkDelivered", match_pb2.MarkDeliveredRequest(
        name=x, note="\x07", documents=[Doc(sha256="x", name="", media_type="y")]))
    assert sorted(got) == ["documents[0].media_type", "documents[0].name",
                           "documents[0].sha256", "note"], got
    # nothing changed, nothing recorded
    r = api.m(w["donor"], "GetMatch", match_pb2.GetMatchRequest(name=x))
    assert r.state == Match.STATE_IN_DELIVERY and len(r.delivery_evidence) == 0
    assert not [q for q in api.records() if q.record.resource == x and
                q.record.method.endswith("/MarkDelivered")]
    # the limits themselves are accepted: 16 documents, 200-character names
    # of 4-byte characters, 127/127 media type, a 2,000-character note
    big = [Doc(sha256=sha(b"%d" % i), name="\U0001F4C4" * 200,
               media_type="a" * 127 + "/" + "b" * 120 + "+x-y.z") for i in range(16)]
    note = "\U0001F4DD" * 1999 + "\n"
    r = api.m(w["donor"], "MarkDelivered", match_pb2.MarkDeliveredRequest(
        name=x, note=note, documents=big))
    assert len(r.delivery_evidence[0].documents) == 16
    rec = api.record_of("MarkDelivered", x)
    assert len(rec.leaf) <= AUDIT_RECORD_MAX, len(rec.leaf)
    assert rec.record.evidence_sha256 == digest(note, r.delivery_evidence[0].documents)
    # the same maximal request refused for its state: its record is bounded too
    harness.expect_code(api.m, Code.FAILED_PRECONDITION, w["donor"], "MarkDelivered",
                        match_pb2.MarkDeliveredRequest(name=x, note=note, documents=big))
    rec = api.record_of("MarkDelivered", x, status=Code.FAILED_PRECONDITION.value[0])
    assert len(rec.leaf) <= AUDIT_RECORD_MAX and rec.record.evidence_sha256 == b""
    # only its own donor, and only FRONT_OFFICE accepts
    harness.expect_code(api.m, Code.PERMISSION_DENIED, "BACK_OFFICE", "AcceptDelivery",
                        match_pb2.AcceptDeliveryRequest(name=x, documents=DOCS))


def t_step_limit(api, w):
    """A match keeps at most 32 delivery steps: the 33rd is refused and
    nothing changes."""
    x = api.in_delivery(w["donor"], w["pledge"])
    for i in range(16):
        api.m(w["donor"], "MarkDelivered", match_pb2.MarkDeliveredRequest(name=x, documents=DOCS))
        r = api.m("FRONT_OFFICE", "RejectDelivery", match_pb2.RejectDeliveryRequest(
            name=x, reason="round %d" % i))
    assert len(r.delivery_evidence) == 32 and r.state == Match.STATE_IN_DELIVERY
    e = harness.expect_code(api.m, Code.FAILED_PRECONDITION, w["donor"], "MarkDelivered",
                            match_pb2.MarkDeliveredRequest(name=x))
    assert "32 delivery steps" in e.details(), e.details()
    r = api.m(w["donor"], "GetMatch", match_pb2.GetMatchRequest(name=x))
    assert len(r.delivery_evidence) == 32 and r.state == Match.STATE_IN_DELIVERY


def ctl(api, who, *args, rc=0):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALLINN_")}
    env.update({"TALLINN_TOKEN": api.tok[who], "HOME": TMP, "XDG_CONFIG_HOME": TMP})
    p = subprocess.run([CTL, "--addr", api.srv.addr, "--insecure"] + list(args),
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == rc, (args, p.returncode, p.stdout, p.stderr)
    return p


def t_ctl(api, w):
    x = api.in_delivery(w["donor"], w["pledge"])
    mid = x.split("/")[1]
    files = {"act.pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n",
             "photo.png": b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + b"\x00" * 17,
             "notes.txt": "Підписано 40 актів.\n".encode(),
             # no known signature: libmagic says application/octet-stream
             "blob.bin": b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(64))}
    paths = {}
    for name, data in files.items():
        paths[name] = os.path.join(TMP, name)
        with open(paths[name], "wb") as f:
            f.write(data)
    # --evidence FILE... : the first after the flag, the rest as operands
    p = ctl(api, w["donor"], "matches", "delivered", mid, "--evidence", paths["act.pdf"],
            paths["photo.png"], paths["notes.txt"], "--note", "all sites", "-o", "json")
    m = json.loads(p.stdout)
    ev = m["deliveryEvidence"][0]
    assert ev["note"] == "all sites"
    got = [(d["sha256"], d["name"], d["mediaType"]) for d in ev["documents"]]
    assert got == [(sha(files["act.pdf"]), "act.pdf", "application/pdf"),
                   (sha(files["photo.png"]), "photo.png", "image/png"),
                   (sha(files["notes.txt"]), "notes.txt", "text/plain")], got
    # repeated --evidence works too; reject-delivery takes --reason and evidence
    p = ctl(api, "FRONT_OFFICE", "matches", "reject-delivery", mid, "--reason", "missing",
            "--evidence", paths["blob.bin"], "--evidence", paths["notes.txt"], "-o", "json")
    ev = json.loads(p.stdout)["deliveryEvidence"][1]
    assert ev["step"] == "STEP_REJECTED"
    assert [d["name"] for d in ev["documents"]] == ["blob.bin", "notes.txt"]
    assert ev["documents"][0]["mediaType"] == "application/octet-stream"
    # bad input: a missing file, a directory, too many files, a file operand without --evidence
    p = ctl(api, w["donor"], "matches", "delivered", mid, "--evidence",
            os.path.join(TMP, "nope.pdf"), rc=1)
    assert "cannot open" in p.stderr and "nope.pdf" in p.stderr, p.stderr
    p = ctl(api, w["donor"], "matches", "delivered", mid, "--evidence", TMP, rc=1)
    assert "not a regular file" in p.stderr, p.stderr
    p = ctl(api, w["donor"], "matches", "delivered", mid, "--evidence",
            *([paths["notes.txt"]] * 17), rc=2)
    assert "at most 16" in p.stderr, p.stderr
    p = ctl(api, w["donor"], "matches", "delivered", mid, paths["notes.txt"], rc=2)
    assert "unexpected argument" in p.stderr, p.stderr
    # a note the server refuses: a clear error naming the field
    p = ctl(api, w["donor"], "matches", "delivered", mid, "--note", "я" * 2001, rc=6)
    assert "INVALID_ARGUMENT" in p.stderr and "note" in p.stderr, p.stderr
    ctl(api, w["donor"], "matches", "delivered", mid, "--evidence", paths["act.pdf"])
    p = ctl(api, "FRONT_OFFICE", "matches", "accept", mid, "--evidence", paths["act.pdf"],
            "--note", "signed", "-o", "json")
    m = json.loads(p.stdout)
    assert m["state"] == "STATE_ACCEPTED" and len(m["deliveryEvidence"]) == 4
    assert m["deliveryEvidence"][3]["documents"][0]["sha256"] == sha(files["act.pdf"])


def main():
    cases = harness.Cases()
    srv = harness.Tallinnd(BIN, "--quiet")
    try:
        api = Api(srv)
        w = {}
        w["donor"], w["pledge"] = api.donor("estonia")
        w["other"], _ = api.donor("latvia")
        for name, fn in (("recorded", t_recorded), ("need_to_know", t_need_to_know),
                         ("bad_input", t_bad_input), ("step_limit", t_step_limit),
                         ("ctl", t_ctl)):
            cases.run(name, fn, api, w)
    finally:
        rc = srv.stop()
    if rc != 0:
        print(srv.text()[-4000:])
    cases.run("clean_exit", lambda: None if rc == 0 else (_ for _ in ()).throw(
        AssertionError("tallinnd exited %d" % rc)))
    cases.finish()


if __name__ == "__main__":
    main()
