"""How long GetCoverageReport takes as the data grows, against a baseline
measured in the same run on the same server and data: one ListNeeds page
of every need (the report reads every need, pledge and match of its
snapshot and adds them up in the ledger, docs/reporting.md).

Usage: /usr/bin/python3 bench/report_bench.py path/to/tallinnd [N ...]
(default N: 250 1000; N needs, each with one approved USD match)."""
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402

common_pb2, donor_pb2, need_pb2, match_pb2, report_pb2, rate_pb2 = harness.protos(
    "tallinn/v1/common.proto", "tallinn/v1/donor.proto", "tallinn/v1/need.proto",
    "tallinn/v1/match.proto", "tallinn/v1/report.proto", "tallinn/v1/rate.proto")
import grpc  # noqa: E402

REPEAT = 15


def main():
    binary = sys.argv[1]
    sizes = [int(x) for x in sys.argv[2:]] or [250, 1000]
    srv = harness.Tallinnd(binary, "--quiet")
    try:
        ch = grpc.insecure_channel(srv.addr)
        tok = {r: srv.create_principal("b-" + r.lower().replace("_", "-"), r)
               for r in ("FRONT_OFFICE", "BACK_OFFICE", "COORDINATOR")}

        def call(who, svc, method, req, out):
            f = ch.unary_unary("/tallinn.v1.%s/%s" % (svc, method),
                               request_serializer=type(req).SerializeToString,
                               response_deserializer=out.FromString)
            return f(req, metadata=harness.bearer(tok[who]), timeout=60)

        today = time.gmtime()
        call("BACK_OFFICE", "ExchangeRateService", "CreateExchangeRate",
             rate_pb2.CreateExchangeRateRequest(exchange_rate=rate_pb2.ExchangeRate(
                 currency_code="USD", rate="1.0850", source="bench",
                 rate_date=common_pb2.Date(year=today.tm_year, month=today.tm_mon,
                                           day=today.tm_mday))), rate_pb2.ExchangeRate)
        d = call("BACK_OFFICE", "DonorService", "CreateDonor", donor_pb2.CreateDonorRequest(
            donor_id="bench", donor=donor_pb2.Donor(
                display_name="Bench", kind=donor_pb2.Donor.KIND_STATE, country_code="US",
                membership=donor_pb2.Donor.MEMBERSHIP_MEMBER)), donor_pb2.Donor).name
        p = call("BACK_OFFICE", "DonorService", "CreatePledge", donor_pb2.CreatePledgeRequest(
            parent=d, pledge=donor_pb2.Pledge(
                amount=common_pb2.Money(currency_code="USD", units=10 ** 9), fiscal_year=2025,
                state=donor_pb2.Pledge.STATE_COMMITTED)), donor_pb2.Pledge).name
        made = 0

        def one(i):
            n = need_pb2.Need(title="n%d" % i, description="d", beneficiary="b",
                              region="Region %d" % (i % 24), sector=1 + i % 10,
                              category=1 + i % 10, domain=need_pb2.Need.DOMAIN_CIVILIAN,
                              priority=need_pb2.Need.PRIORITY_HIGH,
                              estimated_cost=common_pb2.Money(currency_code="EUR", units=100000))
            name = call("FRONT_OFFICE", "NeedService", "CreateNeed",
                        need_pb2.CreateNeedRequest(need=n), need_pb2.Need).name
            call("FRONT_OFFICE", "NeedService", "SubmitNeed",
                 need_pb2.SubmitNeedRequest(name=name), need_pb2.Need)
            call("BACK_OFFICE", "NeedService", "ValidateNeed",
                 need_pb2.ValidateNeedRequest(name=name), need_pb2.Need)
            m = call("BACK_OFFICE", "MatchService", "CreateMatch", match_pb2.CreateMatchRequest(
                match=match_pb2.Match(need=name, donor=d, pledge=p, description="x",
                                      amount=common_pb2.Money(currency_code="USD",
                                                              units=1000 + i))),
                     match_pb2.Match).name
            call("COORDINATOR", "MatchService", "ApproveMatch",
                 match_pb2.ApproveMatchRequest(name=m), match_pb2.Match)

        def timed(fn):
            ts = []
            for _ in range(REPEAT):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
            return statistics.median(ts) * 1000, min(ts) * 1000

        print("%8s  %22s  %22s" % ("needs", "report ms (med/min)", "ListNeeds ms (med/min)"))
        for n in sizes:
            with ThreadPoolExecutor(8) as ex:
                list(ex.map(one, range(made, n)))
            made = n
            rep = timed(lambda: call("BACK_OFFICE", "ReportService", "GetCoverageReport",
                                     report_pb2.GetCoverageReportRequest(),
                                     report_pb2.CoverageReport))
            lst = timed(lambda: call("BACK_OFFICE", "NeedService", "ListNeeds",
                                     need_pb2.ListNeedsRequest(page_size=1000),
                                     need_pb2.ListNeedsResponse))
            print("%8d  %12.1f / %7.1f  %12.1f / %7.1f" % (n, rep[0], rep[1], lst[0], lst[1]))
    finally:
        srv.stop()


main()
