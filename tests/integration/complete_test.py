"""Shell completion of resource ids and context names against a real
tallinnd: the hidden `tallinnctl __complete` lists ids with the context in
use (from --context, the file's default, or plain flags), full names when the
word has a '/', pledges under the donor given before; it stays silent (no
output, exit 0, nothing on stderr) without a token or a server, and is
bounded in time against a server that never answers. The same ids through
the bash and fish scripts that call it.

Usage: complete_test.py TALLINND TALLINNCTL BUILD_DIR"""
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TALLINND, CTL, BUILD = (os.path.abspath(a) for a in sys.argv[1:4])
TMP = tempfile.mkdtemp(prefix="tallinn-complete-")
CONF = os.path.join(TMP, "tallinnctl.conf")
ENV = {k: v for k, v in os.environ.items() if not k.startswith("TALLINN_")}
ENV.update({"TALLINN_CONFIG": CONF, "HOME": TMP, "XDG_CONFIG_HOME": TMP + "/.config",
            "PATH": os.path.dirname(CTL) + ":" + os.environ.get("PATH", "/usr/bin:/bin"),
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0"})
NEED = ["--title", "EDR for Kharkiv DSO", "--description", "EDR licences for 400 endpoints",
        "--beneficiary", "Kharkivoblenergo", "--region", "Kharkiv Oblast", "--sector", "ENERGY",
        "--category", "ENDPOINT_PROTECTION", "--priority", "HIGH", "--domain", "CIVILIAN",
        "--estimated-cost", "EUR 100,000"]


def ctl(*args):
    r = subprocess.run([CTL] + list(args), capture_output=True, text=True, env=ENV, timeout=60)
    assert r.returncode == 0, "%s: %s%s" % (args, r.stdout, r.stderr)
    return r


def complete(*words):
    """(candidates, seconds): `tallinnctl __complete WORDS...`, which must
    exit 0 and print nothing on stderr whatever happens."""
    t = time.monotonic()
    r = subprocess.run([CTL, "__complete"] + list(words), capture_output=True, text=True,
                       env=ENV, timeout=60)
    took = time.monotonic() - t
    assert r.returncode == 0 and r.stderr == "", "%s: exit %d: %r" % (words, r.returncode,
                                                                       r.stderr)
    return set(line.split("\t")[0] for line in r.stdout.splitlines()), took


def setup(srv, blackhole, closed_port):
    bo, fo = srv.create_principal("bo", "BACK_OFFICE"), srv.create_principal("fo", "FRONT_OFFICE")
    for name, tok in (("bo", bo), ("fo", fo)):
        with open(os.path.join(TMP, name + ".token"), "w") as f:
            f.write(tok + "\n")
    with open(CONF, "w") as f:
        f.write("context = bo\n")
        for name, addr, token in (("bo", srv.addr, "bo.token"), ("fo", srv.addr, "fo.token"),
                                  ("nobody", srv.addr, None), ("blackhole", blackhole, "bo.token"),
                                  ("down", "127.0.0.1:%d" % closed_port, "bo.token")):
            f.write("\n[%s]\naddr = %s\ninsecure = true\n" % (name, addr))
            if token:
                f.write("token-file = %s\n" % token)  # relative to the config file
    for did, cc in (("estonia", "EE"), ("latvia", "LV")):
        ctl("donors", "create", "--id", did, "--display-name", did.title(), "--kind", "STATE",
            "--country-code", cc, "--membership", "MEMBER")
    ctl("pledges", "create", "estonia", "--id", "fy2025", "--amount", "EUR 500,000",
        "--fiscal-year", "2025")
    ctl("--context", "fo", "needs", "create", "--id", "kharkiv-edr", *NEED)


def t_ids():
    for words, want in [
        (["--context", "bo", "donors", "get", ""], {"estonia", "latvia"}),
        (["donors", "get", "l"], {"latvia"}),  # the file's default context
        (["donors", "update", "donors/"], {"donors/estonia", "donors/latvia"}),
        (["pledges", "list", ""], {"estonia", "latvia"}),
        (["pledges", "get", "estonia", ""], {"fy2025"}),
        (["pledges", "get", "latvia", ""], set()),
        (["matches", "propose", "--donor", "estonia", "--pledge", ""], {"fy2025"}),
        (["matches", "propose", "--pledge", ""], {"donors/estonia/pledges/fy2025"}),
        (["--context", "fo", "needs", "submit", "kh"], {"kharkiv-edr"}),
        (["principals", "get", ""], set()),  # BACK_OFFICE may not list principals: nothing
    ]:
        got, _ = complete(*words)
        assert got == want, "%s: wanted %s, got %s" % (words, sorted(want), sorted(got))


def t_flags_instead_of_a_context():
    """Connection flags typed on the line are passed on to the listing."""
    with open(os.path.join(TMP, "bo.token")) as f:
        tok = f.read().strip()
    got, _ = complete("--context", "down", "--addr", SRV.addr, "--insecure", "donors", "get", "")
    assert got == {"estonia", "latvia"}, got
    got, _ = complete("--context=nobody", "--token=" + tok, "donors", "get", "")
    assert got == {"estonia", "latvia"}, got
    got, _ = complete("--context", "nobody", "--token-file", os.path.join(TMP, "bo.token"),
                      "needs", "list", "--filter", "x", "donors", "get", "")
    assert got == set(), got  # "donors get" is no command there: nothing


def t_contexts():
    got, _ = complete("--context", "")
    assert got == {"bo", "fo", "nobody", "blackhole", "down"}, got
    got, _ = complete("needs", "list", "--context", "b")
    assert got == {"bo", "blackhole"}, got
    # the NAME of config use-context and set-context
    got, _ = complete("config", "use-context", "")
    assert got == {"bo", "fo", "nobody", "blackhole", "down"}, got
    got, _ = complete("config", "set-context", "d")
    assert got == {"down"}, got
    got, _ = complete("config", "use-context", "bo", "")
    assert got == set(), got  # it takes one NAME


def t_silent_and_bounded():
    for ctx, limit in (("nobody", 4.5), ("down", 4.5), ("blackhole", 4.5), ("missing", 3.0)):
        got, took = complete("--context", ctx, "donors", "get", "")
        assert got == set(), (ctx, got)
        assert took < limit, "%s: %.1f s" % (ctx, took)
        print("  %-9s nothing, in %.2f s" % (ctx, took))
    broken = os.path.join(TMP, "broken.conf")
    with open(broken, "w") as f:
        f.write("this is not INI\n")
    ENV["TALLINN_CONFIG"] = broken
    try:
        got, _ = complete("--context", "")
        assert got == set(), got
        got, _ = complete("donors", "get", "")
        assert got == set(), got
    finally:
        ENV["TALLINN_CONFIG"] = CONF


def t_through_the_shells():
    script = os.path.join(BUILD, "share", "completion", "tallinnctl.bash")
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c",
                        "source %s; COMP_WORDS=(tallinnctl pledges get estonia ''); "
                        "COMP_CWORD=4; _tallinnctl; printf '%%s\\n' \"${COMPREPLY[@]}\"" % script],
                       capture_output=True, text=True, env=ENV, timeout=60)
    assert r.stdout == "fy2025\n" and r.stderr == "", r.stdout + r.stderr
    home = os.path.join(TMP, "fish-home")
    os.makedirs(home)
    fish = os.path.join(BUILD, "share", "completion", "tallinnctl.fish")
    r = subprocess.run(["fish", "-c", "source %s; complete -C 'tallinnctl donors get '" % fish],
                       capture_output=True, text=True, env=dict(ENV, HOME=home), timeout=60)
    assert sorted(r.stdout.split()) == ["estonia", "latvia"] and r.stderr == "", r.stdout + r.stderr


if __name__ == "__main__":
    blackhole = socket.socket()  # accepts TCP (the backlog) and never says a word
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(8)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    srv = SRV = harness.Tallinnd(TALLINND)
    try:
        setup(srv, "127.0.0.1:%d" % blackhole.getsockname()[1], closed_port)
        cases = harness.Cases()
        cases.run("ids of the context in use: bare, full names, pledges under a donor", t_ids)
        cases.run("ids with connection flags instead of a context", t_flags_instead_of_a_context)
        cases.run("context names from TALLINN_CONFIG", t_contexts)
        cases.run("no token, no server, a silent server, a broken config: nothing, quickly",
                  t_silent_and_bounded)
        cases.run("ids through the bash and fish scripts", t_through_the_shells)
        cases.finish()
    finally:
        srv.stop()
        blackhole.close()
