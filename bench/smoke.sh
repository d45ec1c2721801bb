#!/bin/sh
# bench.smoke (make test): tallinn-bench against a fresh tallinnd, every
# workload and a mix for a bounded number of calls, each check dense
# (--verify-every 10); passes when every run exits 0, i.e. no failed call and
# no verification failure, and the guards refuse unbounded and remote runs.
# Usage: smoke.sh TALLINND TALLINN-BENCH
set -u
tallinnd=$1
bench=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tallinn-bench-smoke.XXXXXX")
pid=
failed=0

cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        wait "$pid"
    fi
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
            --warmup 0.2 --verify-every 10 "$@" >"$tmp/out" 2>&1; then
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
