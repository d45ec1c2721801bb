"""contract.buf_breaking_bites: scripts/buf-breaking fails on changes that
would break partners' generated clients and passes compatible ones. Each case
edits a copy of the working contract (proto/buf.yaml and proto/tallinn/) and
checks it against the released one, as contract.buf_breaking checks proto/.
Run: /usr/bin/python3 buf_breaking_test.py"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SCRIPT = os.path.join(harness.REPO, "scripts", "buf-breaking")
NEED = "tallinn/v1/need.proto"


def check(edit):
    """Runs scripts/buf-breaking on a copy of the contract changed by
    edit(text of need.proto, text of common.proto) -> (need, common);
    returns (exit code, output)."""
    tmp = tempfile.mkdtemp(prefix="tallinn-buf-")
    try:
        shutil.copy(os.path.join(harness.REPO, "proto", "buf.yaml"), tmp)
        shutil.copytree(os.path.join(harness.REPO, "proto", "tallinn"), os.path.join(tmp, "tallinn"))
        paths = [os.path.join(tmp, NEED), os.path.join(tmp, "tallinn/v1/common.proto")]
        texts = [open(p).read() for p in paths]
        new = edit(*texts)
        for p, old, text in zip(paths, texts, new):
            if text != old:
                with open(p, "w") as f:
                    f.write(text)
        p = subprocess.run(["sh", SCRIPT, "--input", tmp], capture_output=True, text=True,
                           timeout=120)
        return p.returncode, p.stdout + p.stderr
    finally:
        shutil.rmtree(tmp)


def changed(text, old, new):
    assert text.count(old) == 1, "the contract changed under the test: %r" % old
    return text.replace(old, new)


def expect_break(edit, *words):
    rc, out = check(edit)
    assert rc == 100, "expected buf to find a breaking change (exit 100), got %d:\n%s" % (rc, out)
    for w in words:
        assert w in out, "%r not in:\n%s" % (w, out)


def test_unchanged():
    rc, out = check(lambda need, common: (need, common))
    assert rc == 0, out


def test_new_field_passes():
    """What is happening to v1 now: a new field with a new number."""
    def edit(need, common):
        n = max(int(x) for x in re.findall(r"= (\d+);", need.split("message Need {", 1)[1]
                                            .split("\n}\n", 1)[0]))
        return changed(need, "  string title = 2;\n",
                       "  string title = 2;\n  // A new field.\n  string new_field = %d;\n"
                       % (n + 1000)), common
    rc, out = check(edit)
    assert rc == 0, out


def test_removed_field_fails():
    expect_break(lambda need, common: (changed(need, "  string title = 2;\n", ""), common),
                 NEED, '"2"', '"title"', "deleted")


def test_renamed_field_fails():
    """Same number, so the wire is fine; JSON and generated code are not."""
    expect_break(lambda need, common: (changed(need, "  string title = 2;\n",
                                               "  string headline = 2;\n"), common),
                 NEED, "title")


def test_changed_type_fails():
    expect_break(lambda need, common: (changed(need, "  string title = 2;\n",
                                               "  bytes title = 2;\n"), common),
                 NEED, "type")


def test_removed_rpc_fails():
    expect_break(lambda need, common: (re.sub(r"\n  // [^\n]*\n  rpc GetNeed\([^\n]*\n", "\n",
                                              need, count=1), common),
                 "GetNeed")


def test_moved_message_fails():
    """FILE, not PACKAGE: a message moving to another file of the same
    package keeps the wire but breaks clients that import it from its file."""
    def edit(need, common):
        m = re.search(r"\n(// [^\n]*\n)*message GetNeedRequest \{\n.*?\n\}\n", need, re.S)
        assert m, "GetNeedRequest not found"
        return need.replace(m.group(0), "\n"), common + m.group(0)
    expect_break(edit, "GetNeedRequest")


def main():
    cases = harness.Cases()
    cases.run("the working contract's copy passes", test_unchanged)
    cases.run("a new field passes", test_new_field_passes)
    cases.run("a removed field fails", test_removed_field_fails)
    cases.run("a renamed field fails", test_renamed_field_fails)
    cases.run("a field's new type fails", test_changed_type_fails)
    cases.run("a removed rpc fails", test_removed_rpc_fails)
    cases.run("a message moved to another file fails", test_moved_message_fails)
    cases.finish()


main()
