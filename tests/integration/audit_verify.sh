#!/usr/bin/env bash
# audit_verify.sh — integration tests of tallinn-audit on the Tessera test log
# (tests/data/tessera/log), the tlog-proof fixtures and a large generated log.
# Usage: audit_verify.sh TOOL DATA_DIR MODE [MKLOG]
#   MODE: ok | flip-checkpoint | flip-bundle | flip-tile | flip-older |
#         truncate | wrong-key | proof | large
# Every altered copy must make the tool exit 1 with a "FAILED:" message that
# names the altered file; a sanitizer report anywhere fails the test.
set -euo pipefail

TOOL=$1
DATA=$2
MODE=$3
MKLOG=${4:-}

KEY='example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx'
SKEY='PRIVATE+KEY+example.com/log/testdata+33d7b496+AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg'
# Fresh keys that never signed anything here (private halves discarded): one
# with the log's name, one with another name.
WRONG_SAME_NAME='example.com/log/testdata+af45a107+AQJK+q3yIs+7ljWCvjqMcOa20r1jweGBe8hbTck3X8Ce'
WRONG_OTHER_NAME='other.example/log+8190611d+AUN+fJVVinIJQG5ujYa/bhLcF3l6oTFlouzaA0D6yQUe'

# A sanitizer finding must not pass for an expected failure.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=99"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}exitcode=98:print_stacktrace=1"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tallinn-audit-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
OUT=$WORK/out
ERR=$WORK/err
checks=0
# No config file, context or server from the caller's environment: without a
# directory, tallinn-audit would take the server from them.
export HOME=$WORK XDG_CONFIG_HOME=$WORK/config
unset TALLINN_CONFIG TALLINN_CONTEXT TALLINN_ADDR

die() { echo "FAIL: $*" >&2; echo "--- stdout" >&2; cat "$OUT" >&2 || true;
        echo "--- stderr" >&2; cat "$ERR" >&2 || true; exit 1; }

no_sanitizer_report() {
    if grep -qE 'Sanitizer|runtime error' "$ERR"; then die "sanitizer report: $*"; fi
}

# expect_ok CMD...: exit 0.
expect_ok() {
    local rc=0
    "$@" >"$OUT" 2>"$ERR" || rc=$?
    no_sanitizer_report "$*"
    [ "$rc" -eq 0 ] || die "expected success (got $rc): $*"
    checks=$((checks + 1))
}

# expect_fail WHERE CMD...: exit 1, "FAILED:" on stderr, naming WHERE.
expect_fail() {
    local where=$1 rc=0
    shift
    "$@" >"$OUT" 2>"$ERR" || rc=$?
    no_sanitizer_report "$*"
    [ "$rc" -eq 1 ] || die "expected exit 1 (got $rc): $*"
    grep -q 'FAILED: ' "$ERR" || die "no FAILED message: $*"
    grep -qF -- "$where" "$ERR" || die "message does not name '$where': $*"
    checks=$((checks + 1))
}

# expect_usage CMD...: exit 2, as tallinnctl's usage errors (8 is a SECURITY
# ERROR).
expect_usage() {
    local rc=0
    "$@" >"$OUT" 2>"$ERR" || rc=$?
    no_sanitizer_report "$*"
    [ "$rc" -eq 2 ] || die "expected exit 2 (got $rc): $*"
    checks=$((checks + 1))
}

# flip FILE OFFSET: xor one byte with 0x01 in place (twice restores it).
flip() {
    local b
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    # shellcheck disable=SC2059
    printf "\\$(printf %03o $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

size_of() { wc -c <"$1" | tr -d ' '; }

copy_log() {
    rm -rf "$WORK/log"
    cp -r "$DATA/tessera/log" "$WORK/log"
    chmod -R u+w "$WORK/log"
}

# flip_every FILE WHERE: every byte of FILE flipped in turn is rejected.
flip_every() {
    local f=$WORK/log/$1 n i
    n=$(size_of "$f")
    for ((i = 0; i < n; i++)); do
        flip "$f" "$i"
        expect_fail "$2" "$TOOL" verify "$WORK/log" --key "$KEY"
        flip "$f" "$i"
    done
    expect_ok "$TOOL" verify "$WORK/log" --key "$KEY"
}

case $MODE in
ok)
    expect_ok "$TOOL" verify "$DATA/tessera/log" --key "$KEY"
    grep -qx 'size: *15' "$OUT" || die "size not printed"
    grep -qx 'root: *rKbDipCvhuX1GZ7g5BBe8sA6BbJ7ja/1nk427v383cs=' "$OUT" || die "root not printed"
    grep -qx 'entries: *15' "$OUT" || die "entry count not printed"
    grep -qx 'checkpoint.N: *16 match' "$OUT" || die "checkpoint.N count not printed"
    # The key may also come from a file.
    echo "$KEY" >"$WORK/key"
    expect_ok "$TOOL" verify --key "$WORK/key" "$DATA/tessera/log"
    expect_ok "$TOOL" verify "$DATA/tessera/log" --key "$KEY" --quiet
    [ ! -s "$OUT" ] || die "--quiet printed something"
    # No progress bar when stderr is not a terminal.
    [ ! -s "$ERR" ] || die "stderr not empty"
    # Help on every command, with an example; usage errors exit 64.
    for cmd in "" verify check-proof prove show; do
        expect_ok "$TOOL" $cmd --help
        grep -q 'Example' "$OUT" || die "no example in '$cmd --help'"
    done
    expect_usage "$TOOL"
    expect_usage "$TOOL" frobnicate
    expect_usage "$TOOL" verify "$DATA/tessera/log"
    expect_usage "$TOOL" verify --key "$KEY"
    expect_usage "$TOOL" verify "$DATA/tessera/log" --key 'not-a-key'
    expect_usage "$TOOL" verify "$DATA/tessera/log" --key "${KEY%x}y"
    expect_usage "$TOOL" check-proof --key "$KEY"
    # A directory that is not a log.
    expect_fail "checkpoint: missing" "$TOOL" verify "$DATA/merkle" --key "$KEY"
    ;;
flip-checkpoint)
    copy_log
    flip_every checkpoint "log/checkpoint"
    ;;
flip-bundle)
    copy_log
    flip_every tile/entries/000.p/15 "tile/entries/000.p/15"
    ;;
flip-tile)
    copy_log
    flip_every tile/0/000.p/15 "tile/0/000.p/15"
    ;;
flip-older)
    # Older partial tiles and bundles, and signed checkpoint.N files.
    copy_log
    flip_every tile/0/000.p/7 "tile/0/000.p/7"
    flip_every tile/entries/000.p/7 "tile/entries/000.p/7"
    flip_every checkpoint.7 "checkpoint.7"
    flip_every checkpoint.0 "checkpoint.0"
    ;;
truncate)
    copy_log
    f=$WORK/log/tile/entries/000.p/15
    cp "$f" "$WORK/bundle"
    n=$(size_of "$f")
    for ((i = 0; i < n; i++)); do
        head -c "$i" "$WORK/bundle" >"$f"
        expect_fail "tile/entries/000.p/15" "$TOOL" verify "$WORK/log" --key "$KEY"
    done
    # One byte more is refused too.
    { cat "$WORK/bundle"; printf 'x'; } >"$f"
    expect_fail "tile/entries/000.p/15" "$TOOL" verify "$WORK/log" --key "$KEY"
    cp "$WORK/bundle" "$f"
    t=$WORK/log/tile/0/000.p/15
    cp "$t" "$WORK/tile"
    head -c 479 "$WORK/tile" >"$t"
    expect_fail "tile/0/000.p/15: 479 bytes, expected 480" "$TOOL" verify "$WORK/log" --key "$KEY"
    cp "$WORK/tile" "$t"
    # Missing files.
    rm "$f"
    expect_fail "tile/entries/000.p/15: missing" "$TOOL" verify "$WORK/log" --key "$KEY"
    cp "$WORK/bundle" "$f"
    rm "$t"
    expect_fail "tile/0/000.p/15: missing" "$TOOL" verify "$WORK/log" --key "$KEY"
    cp "$WORK/tile" "$t"
    expect_ok "$TOOL" verify "$WORK/log" --key "$KEY"
    # A newer checkpoint.N than the checkpoint: the checkpoint went back.
    cp "$WORK/log/checkpoint.14" "$WORK/log/checkpoint"
    expect_fail "checkpoint.15: size 15 is beyond the size 14" "$TOOL" verify "$WORK/log" --key "$KEY"
    ;;
wrong-key)
    expect_fail "signature not verified by key example.com/log/testdata+af45a107" \
        "$TOOL" verify "$DATA/tessera/log" --key "$WRONG_SAME_NAME"
    expect_fail "signature not verified by key other.example/log+8190611d" \
        "$TOOL" verify "$DATA/tessera/log" --key "$WRONG_OTHER_NAME"
    expect_fail "signature not verified by key other.example/log+8190611d" \
        "$TOOL" check-proof "$DATA/tlogproof/tessera-7.tlog-proof" --key "$WRONG_OTHER_NAME" \
        --entry "$DATA/tlogproof/tessera-7.entry"
    ;;
proof)
    P=$DATA/tlogproof
    for name in tessera-7 tessera-14 tessera-0-size1 tessera-3-size5-extra; do
        expect_ok "$TOOL" check-proof "$P/$name.tlog-proof" --key "$KEY" --entry "$P/$name.entry"
        grep -q 'verified: entry' "$OUT" || die "$name: no verified line"
        expect_ok "$TOOL" check-proof "$P/$name.tlog-proof" --key "$KEY"
        grep -q 'inclusion NOT checked' "$OUT" || die "$name: no warning without --entry"
    done
    expect_fail "does not lead to the root" \
        "$TOOL" check-proof "$P/tessera-7.tlog-proof" --key "$KEY" --entry "$P/tessera-14.entry"
    # An index outside the signed tree.
    sed 's/^index 0$/index 1/' "$P/tessera-0-size1.tlog-proof" >"$WORK/outside"
    expect_fail "index 1 is not below the checkpoint's size 1" \
        "$TOOL" check-proof "$WORK/outside" --key "$KEY" --entry "$P/tessera-0-size1.entry"
    # Every byte of a proof file flipped is rejected (the index, a hash, the
    # checkpoint): with the entry always, and the header and checkpoint even
    # without it.
    cp "$P/tessera-7.tlog-proof" "$WORK/p"
    n=$(size_of "$WORK/p")
    for ((i = 0; i < n; i++)); do
        flip "$WORK/p" "$i"
        expect_fail "$WORK/p" "$TOOL" check-proof "$WORK/p" --key "$KEY" --entry "$P/tessera-7.entry"
        flip "$WORK/p" "$i"
    done
    expect_ok "$TOOL" check-proof "$WORK/p" --key "$KEY" --entry "$P/tessera-7.entry"
    # a proof file that is not there was never checked: 2, not FAILED
    expect_usage "$TOOL" check-proof "$WORK/missing" --key "$KEY"
    grep -q "missing: No such file.*nothing was verified" "$ERR" || die "check-proof missing: $(cat "$ERR")"
    ;;
large)
    [ -n "$MKLOG" ] || die "large needs the audit_mklog helper"
    N=1000000
    "$MKLOG" "$WORK/big" "$N" "$SKEY"
    start=$EPOCHREALTIME
    expect_ok "$TOOL" verify "$WORK/big" --key "$KEY"
    end=$EPOCHREALTIME
    grep -qx "entries: *$N" "$OUT" || die "entry count"
    grep -qx 'hash tiles: *3924 (levels 0..2)' "$OUT" || die "tile count: $(grep 'hash tiles' "$OUT")"
    awk -v a="$start" -v b="$end" -v n="$N" 'BEGIN { printf "verified %d entries in %.1f s\n", n, b - a }'
    # A flipped byte deep inside is found and named, at each level.
    for rel in tile/1/007 tile/1/015.p/66 tile/2/000.p/15 tile/entries/x002/500 tile/0/x003/906.p/64; do
        f=$WORK/big/$rel
        [ -f "$f" ] || die "$rel: not written"
        flip "$f" 100
        expect_fail "$rel" "$TOOL" verify "$WORK/big" --key "$KEY"
        flip "$f" 100
    done
    ;;
*)
    echo "unknown mode $MODE" >&2
    exit 2
    ;;
esac
echo "$MODE: $checks checks passed"
