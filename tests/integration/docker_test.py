"""The Docker image, checked without a Docker engine (none runs on these
machines, so the image itself is never built here):
- .dockerignore, read with Docker's rules (patterns from the top, ** for any
  depth, ! exceptions, a matched directory takes its contents): every tracked
  file reaches the build, and no local state, build tree, VCS data, cache or
  secret does;
- the runtime stage's packages cover every shared library the three binaries
  link (their NEEDED entries, recursively, sanitizer runtimes left out, each
  mapped to its Debian package by dpkg -S, a package's own dependencies
  counting), list nothing the binaries do not link, and come with
  scripts/install-deps;
- the Dockerfile's entrypoint, stop signal and grace, and CMD flags;
- the entrypoint and first-start scripts as installed (shellcheck, and run
  against real data directories: first start initialises, a second does not,
  a directory that holds anything is never initialised, the server is PID
  of the process docker starts, other commands pass through).

Usage: docker_test.py BUILD_DIR"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
REPO = harness.REPO
TMP = tempfile.mkdtemp(prefix="tallinn-docker-")
PREFIX = os.path.join(TMP, "stage", "usr", "local")  # as `make install PREFIX=/usr/local`
BINARIES = ("tallinnd", "tallinnctl", "tallinn-audit")
SANITIZERS = re.compile(r"lib(a|ub|l|t|hwa)san\.so")
# A sanitizer build links with --as-needed off, so it also records libraries
# of `pkg-config --libs grpc` that nothing uses: libatomic. The release build
# (the image's, made by `make build`) does not link it.
SANITIZER_BUILD_ONLY = {"libatomic.so.1"}
DOCKER_STOP_DEFAULT_S = 10


def run(argv, ok=True, **kw):
    kw.setdefault("timeout", 120)
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if ok:
        assert r.returncode == 0, "%s: exit %d\n%s%s" % (argv, r.returncode, r.stdout, r.stderr)
    return r


def dockerfile_stages():
    with open(os.path.join(REPO, "Dockerfile")) as f:
        text = re.sub(r"\\\n", " ", f.read())
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert len(stages) == 2, "a build and a runtime stage"
    return stages


def runtime_packages():
    runtime = dockerfile_stages()[1]
    m = re.search(r"apt-get install ([^&]*)", runtime)
    return {w for w in m.group(1).split() if not w.startswith("-")}


# ---- .dockerignore ----

def dockerignore_rules():
    rules = []
    with open(os.path.join(REPO, ".dockerignore")) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            neg = line.startswith("!")
            pat = os.path.normpath(line[1:] if neg else line).lstrip("/")
            rx, i = "", 0
            while i < len(pat):
                if pat.startswith("**/", i):
                    rx, i = rx + "(?:.*/)?", i + 3
                elif pat.startswith("**", i):
                    rx, i = rx + ".*", i + 2
                elif pat[i] == "*":
                    rx, i = rx + "[^/]*", i + 1
                elif pat[i] == "?":
                    rx, i = rx + "[^/]", i + 1
                else:
                    rx, i = rx + re.escape(pat[i]), i + 1
            rules.append((re.compile(rx + r"\Z"), neg))
    return rules


def ignored(path, rules):
    """Docker's rule: the last pattern that matches the path, or one of its
    parent directories, decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    out = False
    for rx, neg in rules:
        if any(rx.match(p) for p in prefixes):
            out = not neg
    return out


MUST_STAY_OUT = [
    "var/admin.token", "var/audit.key", "var/token.key", "var/page-token.key", "var/tallinn.db",
    "var/demo-donor.token", "var/tallinnctl.conf", "build/CMakeCache.txt", "build/bin/tallinnd",
    "build-test/bin/tallinnctl", "build-fuzz/fuzz_filter", ".git/config", ".git/objects/ab/cd",
    "node_modules/x/index.js", "tests/integration/__pycache__/harness.cpython-311.pyc",
    "admin.token", "deploy/tls.key", "deploy/tls.crt", "tests/data/x/server.pem",
    "audit.vkey", "scripts/.env", "crash-0123abcd", "tests/fuzz/leak-99",
]


def t_dockerignore():
    rules = dockerignore_rules()
    tracked = run(["git", "-C", REPO, "ls-files"]).stdout.split("\n")
    left_out = [p for p in tracked if p and ignored(p, rules)]
    assert left_out == [], "tracked files .dockerignore keeps out of the build: %s" % left_out
    let_in = [p for p in MUST_STAY_OUT if not ignored(p, rules)]
    assert let_in == [], ".dockerignore lets these into the build: %s" % let_in
    assert "Dockerfile" in tracked and "scripts/install-deps" in tracked


# ---- Runtime packages ----

def ldd_map(binary):
    """{soname: path} of everything the loader resolves for binary."""
    out = {}
    for line in run(["ldd", binary]).stdout.splitlines():
        m = re.match(r"\s*(\S+) => (/\S+)", line)
        if m:
            out[m.group(1)] = m.group(2)
        elif "not found" in line:
            raise AssertionError("%s: %s" % (binary, line.strip()))
    return out


def needed(path):
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]",
                      run(["readelf", "-d", path]).stdout)


def linked_libraries():
    """{library path: binary} reached from the binaries' NEEDED entries,
    leaving the sanitizer runtimes (test builds only) and what only they need."""
    libs = {}
    for b in BINARIES:
        path = os.path.join(BUILD, "bin", b)
        where = ldd_map(path)
        todo = needed(path)
        if any(SANITIZERS.search(n) for n in todo):
            todo = [n for n in todo if not SANITIZERS.search(n) and n not in SANITIZER_BUILD_ONLY]
        while todo:
            name = todo.pop()
            lib = where.get(name)
            assert lib is not None or name.startswith("ld-linux"), "%s: %s unresolved" % (b, name)
            if lib is None or lib in libs:
                continue
            libs[lib] = b
            todo += [n for n in needed(lib) if not SANITIZERS.search(n)]
    return libs


def packages_of(paths):
    """{path: the Debian package that owns it}, from one dpkg -S call (with
    merged /usr, a library may be registered under /lib or /usr/lib)."""
    variants = {}
    for path in paths:
        for v in (path, os.path.realpath(path), re.sub(r"^/usr", "", path), "/usr" + path):
            variants.setdefault(v, path)
    r = run(["dpkg", "-S"] + sorted(variants), ok=False)
    out = {}
    for line in r.stdout.splitlines():
        pkgs, _, owned = line.partition(": ")
        if owned in variants:
            out.setdefault(variants[owned], pkgs.split(",")[0].split(":")[0].strip())
    unowned = sorted(set(paths) - set(out))
    assert unowned == [], "no Debian package owns %s" % unowned
    return out


def installed_depends():
    """{package: set of packages it depends on}, alternatives and virtual
    packages resolved to what is installed."""
    fmt = "${Package}\\t${db:Status-Status}\\t${Depends}, ${Pre-Depends}\\t${Provides}\\n"
    rows = [line.split("\t") for line in run(["dpkg-query", "-W", "-f=" + fmt]).stdout.splitlines()]
    installed = {r[0] for r in rows if r[1] == "installed"}
    provides = {}
    for r in rows:
        for v in r[3].split(","):
            v = v.strip().split(" ")[0]
            if v and r[0] in installed:
                provides.setdefault(v, r[0])
    deps = {}
    for r in rows:
        if r[0] not in installed:
            continue
        out = set()
        for clause in r[2].split(","):
            for alt in clause.split("|"):
                name = alt.strip().split(" ")[0].split(":")[0]
                if name in installed:
                    out.add(name)
                    break
                if name in provides:
                    out.add(provides[name])
                    break
        deps[r[0]] = out
    return deps


def closure(roots, deps):
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo += deps.get(p, ())
    return seen


def install_deps_packages():
    with open(os.path.join(REPO, "scripts", "install-deps")) as f:
        return re.search(r'PKGS="([^"]*)"', f.read()).group(1).split()


def t_runtime_packages():
    libs = linked_libraries()
    pkg_of = packages_of(libs)
    wanted = set(pkg_of.values())
    listed = runtime_packages()
    deps = installed_depends()
    have = closure(listed, deps)
    missing = sorted("%s (%s, linked by %s)" % (pkg_of[lib], lib, b) for lib, b in libs.items()
                     if pkg_of[lib] not in have)
    assert missing == [], "the runtime stage lacks: %s" % ", ".join(missing)
    stale = sorted(listed - wanted - {"ca-certificates"})
    assert stale == [], "the runtime stage installs what nothing links: %s" % stale
    build = closure(install_deps_packages(), deps)
    apart = sorted(listed - build - {"ca-certificates"})
    assert apart == [], "in the Dockerfile, not brought by scripts/install-deps: %s" % apart
    print("  %d libraries from %d packages; the Dockerfile lists %d" % (len(libs), len(wanted),
                                                                         len(listed)))


# ---- The Dockerfile itself ----

def t_dockerfile():
    build, runtime = dockerfile_stages()
    assert "COPY . ." in build and "scripts/install-deps" in build
    assert "make install PREFIX=/usr/local DESTDIR=/staging" in build
    assert "COPY --from=build /staging/usr/local/ /usr/local/" in runtime
    assert re.search(r"^STOPSIGNAL SIGTERM$", runtime, re.M)
    assert re.search(r"^USER tallinn$", runtime, re.M)
    entry = re.search(r'^ENTRYPOINT \["([^"]+)"\]$', runtime, re.M).group(1)
    assert entry == "/usr/local/libexec/tallinn/docker-entrypoint", entry
    assert os.access(PREFIX + entry[len("/usr/local"):], os.X_OK), entry
    cmd = re.findall(r'"([^"]*)"', re.search(r"^CMD \[(.*)\]$", runtime, re.M).group(1))
    flags = {a for a in cmd if a.startswith("--")}
    helped = set(re.findall(r"^\s+(--[a-z-]+)", run([os.path.join(BUILD, "bin", "tallinnd"),
                                                     "--help"]).stdout, re.M))
    assert flags <= helped, "CMD flags tallinnd does not know: %s" % (flags - helped)
    grace_ms = int(cmd[cmd.index("--grace-ms") + 1])
    assert grace_ms <= (DOCKER_STOP_DEFAULT_S - 1) * 1000, \
        "--grace-ms %d leaves docker stop's default %d s no time to close" % (
            grace_ms, DOCKER_STOP_DEFAULT_S)
    assert cmd[cmd.index("--data-dir") + 1].startswith("/var/lib/tallinn/")
    assert re.search(r"^VOLUME /var/lib/tallinn$", runtime, re.M)
    assert cmd[cmd.index("--listen") + 1] == "[::]:50051"


# ---- Entrypoint and first start ----

def serve(data_args, env=None):
    """Runs the entrypoint as docker would, until it listens: (process,
    output so far)."""
    e = {k: v for k, v in os.environ.items() if k not in ("TALLINN_ORIGIN", "NOTIFY_SOCKET")}
    e.update(env or {})
    p = subprocess.Popen([PREFIX + "/libexec/tallinn/docker-entrypoint"] + data_args +
                         ["--listen", "127.0.0.1:0", "--insecure", "--grace-ms", "2000"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=e)
    out = ""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        out += line
        if "event=listening" in line:
            return p, out
    p.kill()
    p.wait()
    raise AssertionError("did not listen:\n" + out)


def stop(p):
    p.send_signal(signal.SIGTERM)
    assert p.wait(30) == 0
    p.stdout.close()


def t_scripts_lint():
    run(["shellcheck", "-s", "sh", PREFIX + "/libexec/tallinn/docker-entrypoint",
         PREFIX + "/libexec/tallinn/tallinnd-first-start"])


def t_first_start():
    data = os.path.join(TMP, "vol", "data")
    os.makedirs(os.path.dirname(data))
    p, out = serve(["--data-dir", data], env={"TALLINN_ORIGIN": "tallinn.example.org/tallinn"})
    # It is tallinnd itself that docker's SIGTERM reaches (exec, PID 1 there).
    assert os.path.realpath("/proc/%d/exe" % p.pid) == os.path.realpath(PREFIX + "/sbin/tallinnd")
    assert "initialising it (once)" in out, out
    key = re.search(r"^(tallinn\.example\.org/tallinn\+[0-9a-f]{8}\+\S+)$", out, re.M)
    assert key, "no verifier key with the origin asked for:\n" + out
    assert "%s/admin.token" % data in out
    assert oct(os.stat(data + "/admin.token").st_mode & 0o777) == "0o600"
    with open(data + "/admin.token") as f:
        token = f.read()
    stop(p)
    p, out = serve(["--data-dir", data])
    assert "initialis" not in out, out  # never twice
    assert "audit_key=" + key.group(1) in out
    stop(p)
    with open(data + "/admin.token") as f:
        assert f.read() == token


def t_empty_and_equals_form():
    data = os.path.join(TMP, "empty")
    os.makedirs(data)
    p, out = serve(["--data-dir=" + data])
    assert "initialising it (once)" in out and os.path.exists(data + "/token.key"), out
    stop(p)


def t_never_an_occupied_directory():
    data = os.path.join(TMP, "occupied")
    os.makedirs(data)
    with open(data + "/notes.txt", "w") as f:
        f.write("not a tallinn directory\n")
    r = run([PREFIX + "/libexec/tallinn/docker-entrypoint", "--data-dir", data, "--listen",
             "127.0.0.1:0", "--insecure"], ok=False)
    assert r.returncode == 1 and "initialis" in r.stderr and "run `tallinnd init" in r.stderr, \
        r.stderr
    assert "initialising it" not in r.stderr, r.stderr
    assert os.listdir(data) == ["notes.txt"], os.listdir(data)
    afile = os.path.join(TMP, "a-file")
    open(afile, "w").close()
    r = run([PREFIX + "/libexec/tallinn/tallinnd-first-start", afile], ok=False)
    assert r.returncode == 1 and "not a directory" in r.stderr, r.stderr
    r = run([PREFIX + "/libexec/tallinn/tallinnd-first-start"], ok=False)
    assert r.returncode == 2 and "usage" in r.stderr, r.stderr


def t_other_commands_pass_through():
    entry = PREFIX + "/libexec/tallinn/docker-entrypoint"
    assert run([entry, "--version"]).stdout.startswith("tallinnd ")
    data = os.path.join(TMP, "vol", "data")
    r = run([entry, "backup", "--data-dir", data, "--to", os.path.join(TMP, "backup.db")])
    assert "backed up" in r.stdout, r.stdout
    r = run([entry, "init", "--data-dir", data], ok=False)
    assert r.returncode == 1 and "already initialised" in r.stderr, r.stderr


if __name__ == "__main__":
    try:
        run(["cmake", "--install", BUILD, "--prefix", "/usr/local"],
            env=dict(os.environ, DESTDIR=os.path.join(TMP, "stage")))
        cases = harness.Cases()
        cases.run(".dockerignore: every tracked file in, state/builds/secrets out",
                  t_dockerignore)
        cases.run("runtime packages cover ldd of the binaries, in step with install-deps",
                  t_runtime_packages)
        cases.run("Dockerfile: entrypoint, STOPSIGNAL, --grace-ms under docker stop's 10 s, CMD",
                  t_dockerfile)
        cases.run("entrypoint and first-start: shellcheck", t_scripts_lint)
        cases.run("first start initialises (origin, key, token), the second does not",
                  t_first_start)
        cases.run("an empty directory is initialised (--data-dir=DIR)", t_empty_and_equals_form)
        cases.run("a directory that holds anything is never initialised", t_never_an_occupied_directory)
        cases.run("init, backup, --version pass through", t_other_commands_pass_through)
        cases.finish()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
