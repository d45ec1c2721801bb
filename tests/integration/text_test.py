"""Text at the edge (issue 10, item 7) against a real tallinnd:
  - every string field of every request of every service, nested and
    repeated ones included (found from the descriptors, not listed by hand),
    is refused with INVALID_ARGUMENT and a BadRequest violation naming its
    path when it holds a NUL byte, and again when it is not valid UTF-8,
    whoever calls and whatever the method (the RPC runtime checks the wire
    bytes before any handler runs);
  - the cases that were found: a title "abc\\0def" was stored as "abc", a
    currency "EUR\\0" was taken for EUR;
  - request_id compares in lower case: the same request with its request_id
    in upper, lower or mixed case is one request; a different request under
    any case of the same id is INVALID_ARGUMENT.
Run: /usr/bin/python3 text_test.py path/to/tallinnd"""
import os
import sys
import time
import uuid

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

# google.rpc first: a namespace package is not searched again once imported.
status_pb2, errdet_pb2 = harness.protos("google/rpc/status.proto",
                                        "google/rpc/error_details.proto")
from authz_test import (SERVICES, Client, Code, Conn, Donor, Need, Pledge,  # noqa: E402
                        Principal, create_principal, donor_pb2, eur, health_pb2, init_data_dir,
                        need_msg, need_pb2, start_insecure)
from contract_test import roles_by_method  # noqa: E402
from google.protobuf.descriptor import FieldDescriptor as FD  # noqa: E402

NUL_TEXT = "abc\x00def"
BAD_UTF8 = b"ab\xff\xfecd"          # 6 bytes: an invalid sequence inside
PLACEHOLDER = "\u2603\u2603"        # 6 bytes of valid UTF-8 to patch over
assert len(PLACEHOLDER.encode()) == len(BAD_UTF8)
MAX_DEPTH = 4


def string_paths(desc, prefix=(), depth=0, seen=()):
    """Every string field reachable from a message descriptor, as a list of
    (field name, index or None) steps; repeated fields get index 0."""
    out = []
    if depth > MAX_DEPTH or desc.full_name in seen:
        return out
    for f in desc.fields:
        step = prefix + ((f.name, 0 if f.label == FD.LABEL_REPEATED else None),)
        if f.type == FD.TYPE_STRING:
            out.append(step)
        elif f.type == FD.TYPE_MESSAGE and not f.message_type.GetOptions().map_entry:
            out += string_paths(f.message_type, step, depth + 1, seen + (desc.full_name,))
    return out


def path_text(steps):
    return ".".join(n + ("[%d]" % i if i is not None else "") for n, i in steps)


def set_path(msg, steps, value):
    for name, idx in steps[:-1]:
        f = msg.DESCRIPTOR.fields_by_name[name]
        if idx is not None:
            msg = getattr(msg, name).add()
        else:
            msg = getattr(msg, name)
            msg.SetInParent()
        del f
    name, idx = steps[-1]
    if idx is not None:
        getattr(msg, name).append(value)
    else:
        setattr(msg, name, value)


def bad_request_fields(err):
    """The BadRequest field names of an error (a list; a status that does
    not decode, e.g. text that is not UTF-8 in it, raises)."""
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


class World:
    def __init__(self, binary):
        d, admin_token, _ = init_data_dir(binary, prefix="tallinn-text-")
        self.srv = start_insecure(binary, d, "--quiet")
        self.conn = Conn(self.srv.addr)
        self.admin = Client(self.conn, admin_token, "principals/admin")
        self.c = {"ADMIN": self.admin}
        for role in ("FRONT_OFFICE", "BACK_OFFICE", "COORDINATOR", "OBSERVER", "AUDITOR"):
            p, tok = create_principal(self.admin, role.lower().replace("_", "-"),
                                      Principal.Role.Value("ROLE_" + role))
            self.c[role] = Client(self.conn, tok, p.name)
        self.c["fo"], self.c["bo"] = self.c["FRONT_OFFICE"], self.c["BACK_OFFICE"]
        self.c["bo"].D.CreateDonor(donor_pb2.CreateDonorRequest(donor_id="textland", donor=Donor(
            display_name="Textland", kind=Donor.KIND_STATE, country_code="EE",
            membership=Donor.MEMBERSHIP_MEMBER)))
        p, tok = create_principal(self.admin, "donor", Principal.ROLE_DONOR, "donors/textland")
        self.c["DONOR"] = Client(self.conn, tok, p.name)
        self.roles = roles_by_method()
        self.raw = {}

    def caller(self, path):
        """A principal whose role may call the method: the refusal must come
        from the text, not from the role."""
        roles = self.roles.get(path.rsplit("/", 1)[1], ["ADMIN"])
        return self.c[roles[0]]

    def raw_call(self, path, data, streaming=False, client=None):
        """Sends bytes as the request of path ("/pkg.Service/Method")."""
        key = (path, streaming)
        if key not in self.raw:
            factory = self.conn.ch.unary_stream if streaming else self.conn.ch.unary_unary
            self.raw[key] = factory(path)
        md = (client or self.admin).md
        r = self.raw[key](data, timeout=30, metadata=md)
        return list(r) if streaming else r


def all_methods(conn):
    """(grpc path, request class, server streaming) of every method served,
    the health check included."""
    out = []
    for mod, service in SERVICES:
        sd = mod.DESCRIPTOR.services_by_name[service]
        for m in sd.methods:
            cls = conn.methods[service + "." + m.name][2]
            out.append(("/%s/%s" % (sd.full_name, m.name), cls, m.server_streaming))
    out.append(("/grpc.health.v1.Health/Check", health_pb2.HealthCheckRequest, False))
    return out


def test_every_string_field(w):
    """NUL and invalid UTF-8 in each string field of each request."""
    bad, n = [], 0
    for path, cls, streaming in all_methods(w.conn):
        for steps in string_paths(cls.DESCRIPTOR):
            where = path_text(steps)
            for kind in ("NUL", "UTF-8"):
                req = cls()
                set_path(req, steps, NUL_TEXT if kind == "NUL" else PLACEHOLDER)
                data = req.SerializeToString()
                if kind == "UTF-8":
                    assert data.count(PLACEHOLDER.encode()) == 1
                    data = data.replace(PLACEHOLDER.encode(), BAD_UTF8)
                n += 1
                try:
                    w.raw_call(path, data, streaming, w.caller(path))
                    bad.append("%s %s with %s: accepted" % (path, where, kind))
                    continue
                except grpc.RpcError as e:
                    err = e
                if err.code() != Code.INVALID_ARGUMENT:
                    bad.append("%s %s with %s: %s %s" % (path, where, kind, err.code().name,
                                                         err.details()))
                    continue
                try:
                    fields = bad_request_fields(err)
                except Exception as x:  # noqa: BLE001 (report and go on)
                    bad.append("%s %s with %s: status details do not decode: %s"
                               % (path, where, kind, x))
                    continue
                if where not in fields:
                    bad.append("%s %s with %s: violations %s do not name it"
                               % (path, where, kind, fields))
    print("     %d string fields x {NUL, invalid UTF-8} tried" % (n // 2))
    assert n >= 2 * 60, "only %d cases: the descriptor walk is broken" % n
    assert not bad, "%d of %d refused wrongly:\n%s" % (len(bad), n, "\n".join(bad[:40]))


def test_found_cases(w):
    """A title with NUL is not stored cut short; a currency with NUL is not
    the accounting currency."""
    fo, bo = w.c["fo"], w.c["bo"]
    before = len(fo.N.ListNeeds(need_pb2.ListNeedsRequest(page_size=1000)).needs)
    e = harness.expect_code(fo.N.CreateNeed, Code.INVALID_ARGUMENT, need_pb2.CreateNeedRequest(
        need=need_msg(title=NUL_TEXT)))
    assert "need.title" in bad_request_fields(e), bad_request_fields(e)
    after = fo.N.ListNeeds(need_pb2.ListNeedsRequest(page_size=1000)).needs
    assert len(after) == before, "a need was stored: %s" % [n.title for n in after]
    d = "donors/textland"
    money = eur(100)
    money.currency_code = "EUR\x00"
    e = harness.expect_code(bo.D.CreatePledge, Code.INVALID_ARGUMENT, donor_pb2.CreatePledgeRequest(
        parent=d, pledge=Pledge(amount=money, fiscal_year=2025)))
    assert "pledge.amount.currency_code" in bad_request_fields(e), bad_request_fields(e)
    assert not bo.D.ListPledges(donor_pb2.ListPledgesRequest(parent=d)).pledges
    # Clean text still passes, multi-byte included.
    n = fo.N.CreateNeed(need_pb2.CreateNeedRequest(need=need_msg(title="Захист мережі \u2603")))
    assert n.title == "Захист мережі \u2603", n.title


def test_request_id_case(w):
    fo = w.c["fo"]
    rid = str(uuid.uuid4())
    title = "Case-insensitive request id %s" % rid[:8]
    req = lambda r, t=title: need_pb2.CreateNeedRequest(need=need_msg(title=t),  # noqa: E731
                                                        request_id=r)
    mixed = "".join(c.upper() if i % 2 else c for i, c in enumerate(rid))
    first = fo.N.CreateNeed(req(rid.upper()))
    for r in (rid.upper(), rid, mixed):
        again = fo.N.CreateNeed(req(r))
        assert again == first, "request_id %s: a second need %s (first %s)" % (
            r, again.name, first.name)
    got = fo.N.ListNeeds(need_pb2.ListNeedsRequest(filter='title = "%s"' % title)).needs
    assert [n.name for n in got] == [first.name], [n.name for n in got]
    for r in (rid, rid.upper()):
        e = harness.expect_code(fo.N.CreateNeed, Code.INVALID_ARGUMENT, req(r, title + " (other)"))
        assert "request_id" in bad_request_fields(e), bad_request_fields(e)
    # A custom method the same way: lower case first, upper case replays it.
    k = str(uuid.uuid4())
    s1 = fo.N.SubmitNeed(need_pb2.SubmitNeedRequest(name=first.name, request_id=k))
    s2 = fo.N.SubmitNeed(need_pb2.SubmitNeedRequest(name=first.name, request_id=k.upper()))
    assert s1 == s2 and s1.state == Need.STATE_SUBMITTED, (s1.state, s2.state)


def main():
    binary = sys.argv[1]
    t0 = time.monotonic()
    cases = harness.Cases()
    w = World(binary)
    try:
        cases.run("NUL and invalid UTF-8 in every string field of every request",
                  test_every_string_field, w)
        cases.run("the cases found: NUL in a title, in a currency", test_found_cases, w)
        cases.run("request_id compares in lower case", test_request_id_case, w)
    finally:
        rc = w.srv.stop()
    cases.run("server exits 0", lambda: None if rc == 0 else (_ for _ in ()).throw(
        AssertionError("tallinnd exited %d:\n%s" % (rc, w.srv.text()[-3000:]))))
    print("     total %.1f s" % (time.monotonic() - t0))
    cases.finish()


if __name__ == "__main__":
    main()
