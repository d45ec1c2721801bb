#!/bin/sh
# bench.smoke (make test): tallinn-bench against a fresh tallinnd, every
# workload and a mix for a bounded number of calls, with both engines (h2,
# grpc), every response checked; the echo baseline answers the `empty`
# workload; passes when every run exits 0, i.e. no failed call and no
# verification failure, and the guards refuse unbounded and remote runs.
# Usage: smoke.sh TALLINND TALLINN-BENCH TALLINN-BENCH-ECHO
set -u
tallinnd=$1
bench=$2
echo_server=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tallinn-bench-smoke.XXXXXX")
pid=
epid=
failed=0

cleanup() {
    for p in $pid $epid; do
        if kill -0 "$p" 2>/dev/null; then
            kill -TERM "$p"
            wait "$p"
        fi
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
    echo "FAIL $*"
    failed=1
}

# The engine (tests/integration/harness.py): bench.smoke.pg runs on a fresh
# database of the throwaway PostgreSQL cluster.
set --
if [ "${TALLINN_TEST_ENGINE:-sqlite}" = postgresql ]; then
    eval "$(/usr/bin/python3 "$(dirname "$0")/../tests/pg/pgcluster.py" newdb "$TALLINN_TEST_PG")" ||
        { echo "FAIL no database"; exit 1; }
    set -- --database "$DATABASE_URL"
fi
"$tallinnd" init --data-dir "$tmp/data" "$@" >"$tmp/init.log" 2>&1 ||
    { cat "$tmp/init.log"; echo "FAIL tallinnd init"; exit 1; }
"$tallinnd" --listen 127.0.0.1:0 --data-dir "$tmp/data" --insecure --quiet "$@" 2>"$tmp/server.log" &
pid=$!
port=
i=0
while [ $i -lt 300 ]; do
    port=$(sed -n 's/.*event=listening .*port=\([0-9][0-9]*\).*/\1/p' "$tmp/server.log" | head -n 1)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
    i=$((i + 1))
done
if [ -z "$port" ]; then
    cat "$tmp/server.log"
    echo "FAIL tallinnd did not report its port"
    exit 1
fi
addr=127.0.0.1:$port

if "$bench" --addr "$addr" --setup --admin-token-file "$tmp/data/admin.token" \
        --state-dir "$tmp/state" --needs 200 --connections 2 --inflight 4; then
    echo "ok   setup"
else
    fail setup
fi

run() { # name, then tallinn-bench arguments
    name=$1
    shift
    if "$bench" --addr "$addr" --state-dir "$tmp/state" --connections 2 --inflight 4 \
            --warmup 0.2 "$@" >"$tmp/out" 2>&1; then
        echo "ok   $name"
    else
        cat "$tmp/out"
        fail "$name"
    fi
}
run empty --workload empty --calls 400
run read --workload read --calls 400
run list --workload list --calls 100
run write --workload write --calls 300
run workflow --workload workflow --calls 300
run mix --mix read=8,write=1,list=1,workflow=1,empty=1 --calls 300
run json --workload read --calls 100 --json
grep -q '"verify_failures": 0' "$tmp/out" || fail "json: no verify_failures 0"
started=$(sed -n 's/^  "calls_started": \([0-9]*\),$/\1/p' "$tmp/out")
verified=$(sed -n 's/^  "verified": \([0-9]*\),$/\1/p' "$tmp/out")
[ -n "$started" ] && [ "$started" = "$verified" ] || fail "json: $verified of $started responses verified"
run grpc-engine --engine grpc --mix read=8,write=1,list=1,workflow=1,empty=1 --calls 200

# The baseline: the bare C-core echo server answers the empty workload.
"$echo_server" --listen 127.0.0.1:0 2>"$tmp/echo.log" &
epid=$!
eport=
i=0
while [ $i -lt 100 ]; do
    eport=$(sed -n 's/.*event=listening .*port=\([0-9][0-9]*\).*/\1/p' "$tmp/echo.log" | head -n 1)
    [ -n "$eport" ] && break
    sleep 0.1
    i=$((i + 1))
done
for engine in h2 grpc; do
    if "$bench" --addr "127.0.0.1:$eport" --token-file "$tmp/data/admin.token" --engine $engine \
            --workload empty --calls 300 --connections 2 --inflight 4 --warmup 0 >"$tmp/out" 2>&1; then
        echo "ok   echo ($engine)"
    else
        cat "$tmp/echo.log" "$tmp/out"
        fail "echo ($engine)"
    fi
done
kill -TERM "$epid"
wait "$epid" && echo "ok   echo stopped cleanly" || fail "echo server exit status"
epid=

# A fast wrong answer never counts: an echo server answering METHOD with
# the request's own bytes, driven by WORKLOAD, must fail all 50 calls. (The
# log is emptied first: the previous echo's port must not be read before
# the new server's shell truncates it.)
wrong_answers_fail() { # METHOD WORKLOAD WHAT
    : >"$tmp/echo.log"
    "$echo_server" --listen 127.0.0.1:0 --method "$1" 2>"$tmp/echo.log" &
    epid=$!
    eport=
    i=0
    while [ $i -lt 100 ]; do
        eport=$(sed -n 's/.*event=listening .*port=\([0-9][0-9]*\).*/\1/p' "$tmp/echo.log" |
                head -n 1)
        [ -n "$eport" ] && break
        sleep 0.1
        i=$((i + 1))
    done
    "$bench" --addr "127.0.0.1:$eport" --state-dir "$tmp/state" --workload "$2" --calls 50 \
        --connections 1 --inflight 2 --warmup 0 >"$tmp/out" 2>&1
    rc=$?
    if [ $rc -eq 1 ] && grep -q "verified: 50 responses, 50 failures" "$tmp/out"; then
        echo "ok   wrong $3 fail the run"
    else
        cat "$tmp/out"
        fail "wrong $3 were not caught (exit $rc)"
    fi
    kill -TERM "$epid"
    wait "$epid"
    epid=
}
# An echo of GetNeed's request is no Need; an echo of ListNeeds' is no page
# (checked on its wire bytes, bench_check.c).
wrong_answers_fail /tallinn.v1.NeedService/GetNeed read answers
wrong_answers_fail /tallinn.v1.NeedService/ListNeeds list pages

# The guards: a bound is required, and only loopback is loaded.
"$bench" --addr "$addr" --state-dir "$tmp/state" --workload empty >/dev/null 2>&1
[ $? -eq 2 ] && echo "ok   unbounded refused" || fail "unbounded run not refused"
"$bench" --addr 192.0.2.1:50051 --token-file "$tmp/data/admin.token" --workload empty \
    --calls 1 >/dev/null 2>&1
[ $? -eq 2 ] && echo "ok   non-loopback refused" || fail "non-loopback target not refused"

kill -TERM "$pid"
if wait "$pid"; then
    echo "ok   server stopped cleanly"
else
    tail -n 20 "$tmp/server.log"
    fail "server exit status"
fi
pid=
exit $failed
