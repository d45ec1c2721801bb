"""`make run`'s script (scripts/run BUILD ADDR DATA) with a HOME that already
has a tallinnctl config of its own: that file is left alone, the demo's
contexts go to DATA/tallinnctl.conf, and the commands it prints as "Next"
work exactly as printed, for every demo role including the new DONOR and
OBSERVER contexts, and the local witness it starts cosigns: the printed
`tallinn-audit verify --witness --quorum 1` passes. A second start on
another port rewrites the contexts (new address), initialises nothing
again, and re-creates the demo tokens a data directory from an older
version lacks.

Usage: makerun_test.py BUILD_DIR"""
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
TMP = tempfile.mkdtemp(prefix="tallinn-makerun-")
HOME = os.path.join(TMP, "home")
DATA = os.path.join(TMP, "var")
USER_CONF = os.path.join(HOME, ".config", "tallinn", "config")
USER_CONF_TEXT = ("# the user's own config: make run must not touch it\ncontext = prod\n\n"
                  "[prod]\naddr = tallinn.example.org:443\n")
ENV = {k: v for k, v in os.environ.items() if not k.startswith("TALLINN_")}
ENV.update({"HOME": HOME, "NO_COLOR": "1", "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0"})
ENV.pop("XDG_CONFIG_HOME", None)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Run:
    """scripts/run in its own process group, read until it prints its
    instructions."""

    def __init__(self, port):
        self.addr = "127.0.0.1:%d" % port
        env = dict(ENV, WITNESS_ADDR="127.0.0.1:%d" % free_port())
        self.proc = subprocess.Popen(["scripts/run", BUILD, self.addr, DATA], cwd=harness.REPO,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        self.out = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.out += line
            if line.startswith("Ctrl-C stops it."):
                return
        self.stop()
        raise AssertionError("make run did not come up:\n" + self.out)

    def next_steps(self):
        """The lines printed under "Next": an export and tallinnctl commands."""
        block = self.out.split("Next, in a second terminal:\n", 1)[1].split("\n\n", 1)[0]
        return [line.strip() for line in block.splitlines()]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # as Ctrl-C: its trap stops tallinnd
            try:
                assert self.proc.wait(30) == 0
            finally:
                if self.proc.poll() is None:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
        self.proc.stdout.close()


def check_witness(r):
    """The local witness make run starts: the printed verify command with
    --witness --quorum 1 passes once the witness cosigned (bounded wait)."""
    out = r.out.replace("\\\n", " ")
    cmd = [line.strip() for line in out.splitlines()
           if line.strip().startswith(BUILD + "/bin/tallinn-audit verify ")]
    assert len(cmd) == 1, r.out
    argv = shlex.split(cmd[0]) + ["--state", os.path.join(TMP, "verify.state")]
    deadline = time.monotonic() + 20
    while True:
        v = subprocess.run(argv, env=ENV, capture_output=True, text=True, timeout=60)
        if v.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert v.returncode == 0, "exit %d\n%s%s" % (v.returncode, v.stdout, v.stderr)
    assert "1 of 1 cosigned (quorum 1): local/witness" in v.stdout, v.stdout


def run_printed(steps):
    """Runs the printed steps in order as a user would in a shell with ENV:
    `export NAME=VALUE` lines set the variable. Returns the outputs."""
    env, outs = dict(ENV), []
    for step in steps:
        m = re.fullmatch(r"export (\w+)=(.*)", step)
        if m:
            env[m.group(1)] = shlex.split(m.group(2))[0]
            continue
        r = subprocess.run(shlex.split(step), env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, "%s: exit %d\n%s%s" % (step, r.returncode, r.stdout, r.stderr)
        outs.append(r.stdout)
    return env, outs


def ctl(env, *args):
    r = subprocess.run([os.path.join(BUILD, "bin", "tallinnctl")] + list(args), env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "%s: exit %d\n%s" % (args, r.returncode, r.stderr)
    return r.stdout


def names(table):
    return {line.split()[0] for line in table.splitlines()[1:] if line.strip()}


def check_roles(env):
    donor = names(ctl(env, "--context", "local-donor", "needs", "list"))
    assert "needs/kharkiv-power-edr" in donor, donor
    assert "needs/mykolaiv-water-scada" not in donor, "a DONOR sees a RESTRICTED need"
    assert "needs/ministry-training" not in donor, "a DONOR sees a SUBMITTED need"
    assert names(ctl(env, "--context", "local-donor", "pledges", "list")) == \
        {"donors/estonia/pledges/fy2024"}
    observer = names(ctl(env, "--context", "local-observer", "needs", "list"))
    assert observer and "needs/mykolaiv-water-scada" not in observer, observer
    checkpoint = ctl(env, "--context", "local-auditor", "audit", "checkpoint")
    assert re.match(r"\S+/tallinn\n\d+\n", checkpoint), checkpoint  # a C2SP checkpoint
    assert names(ctl(env, "--context", "local-kyiv", "needs", "list"))
    assert "needs/kharkiv-power-edr" in names(ctl(env, "--context", "local-coordinator", "needs",
                                                  "list"))
    principals = names(ctl(env, "--context", "local-admin", "principals", "list"))
    assert {"principals/demo-donor", "principals/demo-observer"} <= principals, principals


def t_first_start():
    r = Run(free_port())
    try:
        steps = r.next_steps()
        conf = os.path.join(DATA, "tallinnctl.conf")
        assert steps[0] == "export TALLINN_CONFIG=" + conf, steps
        assert len(steps) == 4 and all(s.startswith(BUILD + "/bin/tallinnctl ") for s in steps[1:])
        env, outs = run_printed(steps)
        assert outs[0] == "SERVING\n", outs[0]
        assert "needs/kharkiv-power-edr" in names(outs[1]) and \
            "needs/mykolaiv-water-scada" in names(outs[1]), outs[1]  # the back office sees all
        assert "needs/mykolaiv-water-scada" not in names(outs[2]), outs[2]  # DONOR
        check_roles(env)
        check_witness(r)
        with open(USER_CONF) as f:
            assert f.read() == USER_CONF_TEXT, "make run changed the user's config"
        assert oct(os.stat(conf).st_mode & 0o777) == "0o600"
    finally:
        r.stop()


def t_second_start():
    """Another port; a data directory from before DONOR and OBSERVER."""
    for role in ("donor", "observer"):
        os.unlink(os.path.join(DATA, "demo-%s.token" % role))
    with open(os.path.join(DATA, "admin.token")) as f:
        admin = f.read()
    r = Run(free_port())
    try:
        assert "initialised" not in r.out and "demo-data:" in r.out, r.out
        env, outs = run_printed(r.next_steps())
        with open(os.path.join(DATA, "tallinnctl.conf")) as f:
            assert "addr = %s\n" % r.addr in f.read()
        check_roles(env)
        with open(os.path.join(DATA, "admin.token")) as f:
            assert f.read() == admin
    finally:
        r.stop()
    r = Run(free_port())  # everything in place: nothing seeded again
    try:
        assert "demo-data:" not in r.out, r.out
    finally:
        r.stop()


def readme_block():
    """The commands README.md says to run from a second terminal after
    `make run`, comments dropped."""
    with open(os.path.join(harness.REPO, "README.md")) as f:
        text = f.read()
    block = text.split("From a second terminal in the", 1)[1].split("```sh\n", 1)[1]
    block = block.split("```", 1)[0]
    return [ln.split("  #", 1)[0].strip() for ln in block.splitlines() if ln.strip()]


def t_readme():
    """The README's quick start, run as written from a checkout whose build/
    and var/ are this test's: every command succeeds and says what the
    README's comments say; the contexts it lists are the ones written."""
    repo = os.path.join(TMP, "checkout")
    os.makedirs(repo, exist_ok=True)
    for name, target in (("var", DATA), ("build", BUILD)):
        if not os.path.lexists(os.path.join(repo, name)):
            os.symlink(target, os.path.join(repo, name))
    steps = readme_block()
    assert steps[0] == "export TALLINN_CONFIG=$PWD/var/tallinnctl.conf", steps
    r = Run(free_port())
    try:
        outs = {}
        for step in steps[1:]:
            p = subprocess.run(["bash", "-c", steps[0] + " && " + step], cwd=repo, env=ENV,
                               capture_output=True, text=True, timeout=60)
            assert p.returncode == 0, "%s: exit %d\n%s%s" % (step, p.returncode, p.stdout,
                                                              p.stderr)
            outs[step] = p.stdout
        assert outs["build/bin/tallinnctl health"] == "SERVING\n"
        assert outs["build/bin/tallinnctl health tallinn.v1.NeedService"] == "SERVING\n"
        assert "needs/mykolaiv-water-scada" in names(outs["build/bin/tallinnctl needs list"])
        assert "needs/mykolaiv-water-scada" not in names(
            outs["build/bin/tallinnctl --context local-donor needs list"])
        who = outs["build/bin/tallinnctl whoami"]
        assert re.search(r"^Role: +BACK_OFFICE$", who, re.M), who
        assert re.search(r"^Context: +local ", who, re.M), who
        env = dict(ENV, TALLINN_CONFIG=os.path.join(DATA, "tallinnctl.conf"))
        who = ctl(env, "whoami")  # use-context local-kyiv stays in effect
        assert re.search(r"^Role: +FRONT_OFFICE$", who, re.M), who
        with open(os.path.join(harness.REPO, "README.md")) as f:
            listed = re.findall(r"`(local[a-z-]*)`",
                                f.read().split("The contexts:", 1)[1].split("\n\n", 1)[0])
        written = ctl(env, "config", "get-contexts", "-o", "name").split()
        assert listed == written, (listed, written)
    finally:
        r.stop()


def t_config_named_but_missing():
    """TALLINN_CONFIG naming no file (say, exported from another directory)
    is an error that says so, not a silent fall-back to the defaults."""
    env = dict(ENV, TALLINN_CONFIG="var/tallinnctl.conf")
    r = subprocess.run([os.path.join(BUILD, "bin", "tallinnctl"), "needs", "list"], env=env,
                       cwd=HOME, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stdout == "", (r.returncode, r.stdout)
    assert r.stderr == ("tallinnctl: TALLINN_CONFIG names var/tallinnctl.conf, which cannot be "
                        "read: No such file or directory\n"), r.stderr


if __name__ == "__main__":
    os.makedirs(os.path.dirname(USER_CONF))
    with open(USER_CONF, "w") as f:
        f.write(USER_CONF_TEXT)
    try:
        cases = harness.Cases()
        cases.run("make run beside an existing ~/.config/tallinn/config: the printed steps work",
                  t_first_start)
        cases.run("a second start: new address, no init, missing demo tokens made again",
                  t_second_start)
        cases.run("TALLINN_CONFIG naming no file is an error", t_config_named_but_missing)
        cases.run("the README's quick start, as written", t_readme)
        cases.finish()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
