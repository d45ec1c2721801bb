"""`make install` checked from the installed tree: cmake --install of the
build with --prefix /usr and DESTDIR=<tmp> (what `make install PREFIX=/usr
DESTDIR=<tmp>` runs), then
- every file where it belongs, programs executable;
- the man pages render without a warning (mandoc -Tlint, groff -ww, man -l),
  every option they document exists in the program's --help, and every
  option of --help is documented;
- the completion scripts: bash (plain, and through bash-completion's
  on-demand loader finding them under DESTDIR), zsh and fish, each asked to
  complete commands, subcommands, options and their values; tallinn-audit's
  offer exactly the options of each command's --help;
- the systemd unit passes systemd-analyze verify, its binaries and man page
  resolved in the tree.

Usage: install_test.py BUILD_DIR"""
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
TMP = tempfile.mkdtemp(prefix="tallinn-install-")
DEST = os.path.join(TMP, "dest")
ROOT = DEST + "/usr"
HOME = os.path.join(TMP, "home")  # for fish and zsh: no user configuration
SHELL_ENV = {}


def run(argv, env=None, ok=True, **kw):
    e = dict(os.environ)
    e.pop("TALLINN_CONFIG", None)
    e.update(env or {})
    r = subprocess.run(argv, capture_output=True, text=True, env=e, timeout=120, **kw)
    if ok:
        assert r.returncode == 0, "%s: exit %d\n%s%s" % (argv, r.returncode, r.stdout, r.stderr)
    return r


def install():
    os.makedirs(HOME)
    run(["cmake", "--install", BUILD, "--prefix", "/usr"], env={"DESTDIR": DEST})
    SHELL_ENV.update({
        "HOME": HOME, "XDG_CONFIG_HOME": HOME + "/.config", "XDG_DATA_DIRS": ROOT + "/share",
        "PATH": ROOT + "/bin:" + ROOT + "/sbin:" + os.environ.get("PATH", "/usr/bin:/bin"),
        "TALLINN_CONFIG": os.path.join(TMP, "tallinnctl.conf")})
    with open(SHELL_ENV["TALLINN_CONFIG"], "w") as f:  # contexts for --context completion
        f.write("context = beta  # the default\n\n[alpha]\naddr = a.example:1\n\n"
                "[beta]\naddr = b.example:2\ninsecure = true\n")


# ---- The tree ----

PROGRAMS = ["sbin/tallinnd", "bin/tallinnctl", "bin/tallinn-audit",
            "libexec/tallinn/tallinnd-first-start", "libexec/tallinn/docker-entrypoint"]
FILES = ["share/man/man8/tallinnd.8", "share/man/man1/tallinnctl.1",
         "share/man/man1/tallinn-audit.1",
         "share/bash-completion/completions/tallinnctl",
         "share/bash-completion/completions/tallinn-audit",
         "share/zsh/vendor-completions/_tallinnctl", "share/zsh/vendor-completions/_tallinn-audit",
         "share/fish/vendor_completions.d/tallinnctl.fish",
         "share/fish/vendor_completions.d/tallinn-audit.fish",
         "lib/systemd/system/tallinnd.service", "lib/sysusers.d/tallinn.conf",
         "lib/systemd/system/tallinn-witness.service", "lib/sysusers.d/tallinn-witness.conf",
         "share/doc/tallinn/README.md", "share/doc/tallinn/operations.md",
         "share/doc/tallinn/tallinnctl.md"]


def t_tree():
    for p in PROGRAMS:
        st = os.stat(os.path.join(ROOT, p))
        assert stat.S_ISREG(st.st_mode) and st.st_mode & 0o111 == 0o111, p
    for p in FILES:
        assert os.path.isfile(os.path.join(ROOT, p)), p
    # Every design note is there, and nothing lands outside PREFIX.
    docs = sorted(f for f in os.listdir(os.path.join(harness.REPO, "docs")) if f.endswith(".md"))
    assert sorted(os.listdir(ROOT + "/share/doc/tallinn")) == sorted(docs + ["README.md"])
    assert os.listdir(DEST) == ["usr"], os.listdir(DEST)
    unit = open(ROOT + "/lib/systemd/system/tallinnd.service").read()
    assert "ExecStart=/usr/sbin/tallinnd " in unit and not re.search(r"@[A-Z]+@", unit), unit
    assert "ExecStartPre=/usr/libexec/tallinn/tallinnd-first-start " in unit
    assert run([ROOT + "/sbin/tallinnd", "--version"]).stdout.startswith("tallinnd ")


# ---- Man pages ----

MAN = {"tallinnd": "share/man/man8/tallinnd.8", "tallinnctl": "share/man/man1/tallinnctl.1",
       "tallinn-audit": "share/man/man1/tallinn-audit.1"}
LONG_OPT = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)")


def man_text(prog):
    with open(os.path.join(ROOT, MAN[prog])) as f:
        return f.read()


def man_options(roff):
    """The options a page mentions: roff's \\- as -, font changes dropped."""
    text = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", roff).replace("\\-", "-")
    return set(LONG_OPT.findall(text))


def help_options(text):
    """The options --help defines: in its "Options:" blocks, those on the
    left of an option line ("  -o, --output FORMAT   ...",
    "      --cert F, --cert-key F  ..."), not those its prose or examples
    mention."""
    out, block = set(), False
    for line in text.splitlines():
        if re.match(r"\s*([A-Z][a-z]+ )?[Oo]ptions( \(.*\))?:$", line):
            block = True
        elif not line.strip():
            block = False
        elif block and re.match(r"\s{1,10}(-[A-Za-z], )?--[a-z]", line):
            out |= set(LONG_OPT.findall(re.split(r"\s{2,}", line.strip())[0]))
    return out


def help_mentions(text):
    """Every option --help names, in its synopsis, option list or prose."""
    return set(LONG_OPT.findall(text))


def audit_commands():
    """tallinn-audit's commands as its --help lists them, a command with
    commands of its own (witness) as "witness init", ..."""
    audit = ROOT + "/bin/tallinn-audit"
    block = run([audit, "--help"]).stdout.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    out = []
    for name in re.findall(r"^  ([a-z-]+) ", block, re.M):
        sub = run([audit, name, "--help"]).stdout.split("\nRun '", 1)
        subs = re.findall(r"^  ([a-z]+)\s{2,}", sub[0], re.M) if len(sub) == 2 else []
        out += ["%s %s" % (name, s) for s in subs] or [name]
    assert {"verify", "show", "witness serve"} <= set(out), out
    return out


def audit_offered(cmd):
    """The options a completion of `tallinn-audit CMD --` must offer: its
    --help's option list, or, for a command whose --help shows only the
    synopsis (witness init, serve), the options of its synopsis lines and
    --help."""
    text = run([ROOT + "/bin/tallinn-audit"] + cmd.split() + ["--help"]).stdout
    defined = help_options(text)
    if defined:
        return defined
    usage, mine = text.split("\n\n", 1)[0], False
    for line in usage.splitlines():
        if "tallinn-audit " in line:
            mine = ("tallinn-audit %s " % cmd) in line + " "
        if mine:
            defined |= set(LONG_OPT.findall(line))
    assert defined, "%s: no options in its synopsis" % cmd
    return defined | {"help"}


def t_man_render():
    for prog, page in MAN.items():
        path = os.path.join(ROOT, page)
        r = run(["mandoc", "-Tlint", "-W", "warning", path], ok=False)
        assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr
        r = run(["groff", "-man", "-Tutf8", "-ww", "-z", path])
        assert r.stderr == "", r.stderr
        r = run(["man", "-l", path], env={"MANPAGER": "cat", "MANWIDTH": "80", "PAGER": "cat"})
        assert r.stderr == "" and "NAME" in r.stdout and prog in r.stdout, r.stderr
        assert "SYNOPSIS" in r.stdout and "SEE ALSO" in r.stdout, prog


def ctl_commands():
    """The commands listed by tallinnctl --help: "needs list", "health", ..."""
    out = run([ROOT + "/bin/tallinnctl", "--help"]).stdout
    block = out.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    cmds = []
    for line in block.splitlines():
        if not line.startswith("  ") or line.startswith("   "):
            continue  # a wrapped summary
        left = re.split(r"\s{2,}", line.strip())[0]
        cmds.append(" ".join(w for w in left.split() if re.fullmatch(r"[a-z][a-z-]*", w)))
    assert len(cmds) > 30 and "needs list" in cmds and "health" in cmds, cmds
    return cmds


def t_man_tallinnd():
    documented = man_options(man_text("tallinnd"))
    helped = help_options(run([ROOT + "/sbin/tallinnd", "--help"]).stdout)
    assert documented - helped == set(), "documented, not in --help: %s" % (documented - helped)
    assert helped - documented == set(), "in --help, not documented: %s" % (helped - documented)


def t_man_tallinnctl():
    documented = man_options(man_text("tallinnctl"))
    helped = help_options(run([ROOT + "/bin/tallinnctl", "--help"]).stdout)
    for c in ctl_commands():
        helped |= help_options(run([ROOT + "/bin/tallinnctl"] + c.split() + ["--help"]).stdout)
    assert documented - helped == set(), "documented, not in --help: %s" % (documented - helped)
    assert helped - documented == set(), "in --help, not documented: %s" % (helped - documented)


def man_sections(roff):
    """{section or subsection title: its text}."""
    out, title = {}, None
    for line in roff.splitlines():
        m = re.match(r'\.S[HS] "?([^"]*)"?$', line)
        if m:
            title = m.group(1).replace("\\-", "-")
            out[title] = ""
        elif title is not None:
            out[title] += line + "\n"
    return out


SHARED_SECTIONS = ("CONNECTING TO A SERVER", "WITNESSES")


def t_man_tallinn_audit():
    """Per command: its section's options, and those of each shared section
    (CONNECTING TO A SERVER, WITNESSES) whose options its --help defines,
    must be named in its --help; every option its --help defines must be
    documented there."""
    audit = ROOT + "/bin/tallinn-audit"
    sections = man_sections(man_text("tallinn-audit"))
    shared = {s: man_options(sections[s]) for s in SHARED_SECTIONS}
    assert "server" in shared["CONNECTING TO A SERVER"] and "quorum" in shared["WITNESSES"]
    for cmd in audit_commands():
        assert cmd in sections, "tallinn-audit(1) has no section for %s" % cmd
        text = run([audit] + cmd.split() + ["--help"]).stdout
        defined, mentioned = help_options(text), help_mentions(text)
        documented = man_options(sections[cmd])
        for opts in shared.values():
            if opts <= defined:
                documented |= opts
        assert documented - mentioned == set(), "%s: documented, not in --help: %s" % (
            cmd, documented - mentioned)
        assert defined - documented == set(), "%s: in --help, not documented: %s" % (
            cmd, defined - documented)
    for opt in man_options(sections["OPTIONS"]):  # the top level's: they must work
        run([audit, "--" + opt])


# ---- Completion ----

BASH_DRIVER = r"""
comp() { # WORD... : the last one is being completed; prints the candidates
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    if [[ -n ${LOADER:-} ]]; then _completion_loader "$1"; fi
    local f; f=$(complete -p "$1" 2>/dev/null | sed -E 's/.* -F ([^ ]+) .*/\1/')
    [[ -n $f ]] || { echo "NO COMPLETION FOR $1"; return; }
    "$f" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf '%s\n' "${COMPREPLY[@]}"
}
"""


def bash_complete(queries, loader):
    """Completes each query (a list of words) in one bash; returns the
    candidate sets."""
    script = BASH_DRIVER
    if loader:  # as on a Debian system: bash-completion finds the installed file
        script = "LOADER=1\nsource /usr/share/bash-completion/bash_completion\n" + script
    else:
        script += "source %s/share/bash-completion/completions/tallinnctl\n" % ROOT
        script += "source %s/share/bash-completion/completions/tallinn-audit\n" % ROOT
    for q in queries:
        script += "comp %s; echo '@@'\n" % " ".join("'%s'" % w for w in q)
    r = run(["bash", "--norc", "--noprofile", "-c", script], env=SHELL_ENV)
    parts = r.stdout.split("@@\n")[:-1]
    assert len(parts) == len(queries), r.stdout + r.stderr
    return [set(p.split("\n")) - {""} for p in parts]


def fish_complete(queries):
    script = "".join("complete -C '%s'; echo @@\n" % " ".join(q) for q in queries)
    r = run(["fish", "-c", script], env=SHELL_ENV)
    parts = r.stdout.split("@@\n")[:-1]
    assert len(parts) == len(queries), r.stdout + r.stderr
    return [set(line.split("\t")[0] for line in p.split("\n")) - {""} for p in parts]


ZSH_STUBS = r"""
compdef() { : }
_describe() { print -rl -- "${(@P)${@[-1]}}" }       # the candidates array, by name
_files() { print -r -- ":files $*" }
_arguments() { # the first call sets the state; later ones print their specs
    if [[ $1 == -C ]]; then state=$ZSTATE; line=(${=ZLINE}); else print -rl -- "$@"; fi
}
fpath=(%s/share/zsh/vendor-completions $fpath)
autoload -Uz _tallinnctl _tallinn-audit
"""


def zsh_run(calls):
    """Runs each call (zsh code) after the stubs; returns their outputs."""
    script = ZSH_STUBS % ROOT + "".join(c + "\nprint @@\n" for c in calls)
    r = run(["zsh", "-f", "-c", script], env=SHELL_ENV)
    parts = r.stdout.split("@@\n")[:-1]
    assert len(parts) == len(calls), r.stdout + r.stderr
    return parts


def zsh_ctl(*words):
    ws = " ".join("'%s'" % w for w in words)
    return "words=(%s); CURRENT=%d; _tallinnctl" % (ws, len(words))


def t_completion_syntax():
    c = ROOT + "/share"
    for f in ("bash-completion/completions/tallinnctl", "bash-completion/completions/tallinn-audit"):
        run(["bash", "-n", os.path.join(c, f)])
    for f in ("_tallinnctl", "_tallinn-audit"):
        run(["zsh", "-n", os.path.join(c, "zsh/vendor-completions", f)])
    for f in ("tallinnctl.fish", "tallinn-audit.fish"):
        run(["fish", "--no-execute", os.path.join(c, "fish/vendor_completions.d", f)])
    run(["shellcheck", "-s", "bash", os.path.join(c, "bash-completion/completions/tallinnctl"),
         os.path.join(c, "bash-completion/completions/tallinn-audit")])


# (query, the candidates wanted): the same in bash and fish.
CTL_QUERIES = [
    (["tallinnctl", "nee"], {"needs"}),
    (["tallinnctl", "needs", "va"], {"validate"}),
    (["tallinnctl", "--addr", "127.0.0.1:1", "matches", "re"], {"reject-delivery"}),
    (["tallinnctl", "needs", "create", "--est"], {"--estimated-cost"}),
    (["tallinnctl", "needs", "create", "--sector", "E"], {"ENERGY", "EDUCATION"}),
    (["tallinnctl", "-o", "j"], {"json"}),
    (["tallinnctl", "--context", ""], {"alpha", "beta"}),
    (["tallinnctl", "completion", ""], {"bash", "zsh", "fish"}),
    (["tallinnctl", "help", "pledges", "c"], {"create"}),
    (["tallinn-audit", "ch"], {"check-proof"}),
    (["tallinn-audit", "witness", ""], {"init", "serve", "cosign"}),
    (["tallinn-audit", "witness", "serve", "--dir", "/"], None),  # directories: not checked
    (["tallinn-audit", "show", "-o", ""], {"text", "json"}),
    (["tallinn-audit", "verify", "--st"], {"--state"}),
    (["tallinn-audit", "verify", "--context", ""], {"alpha", "beta"}),  # tallinnctl's contexts
    (["tallinn-audit", "show", "--context", "a"], {"alpha"}),
]


def audit_option_queries():
    """For each tallinn-audit command: '--' must offer exactly its options."""
    return [(["tallinn-audit"] + cmd.split() + ["--"], {"--" + o for o in audit_offered(cmd)})
            for cmd in audit_commands()]


def check_answers(shell, queries, got):
    for (q, want), have in zip(queries, got):
        if want is None:
            continue
        assert have == want, "%s: %s: wanted %s, got %s" % (shell, " ".join(q), sorted(want),
                                                               sorted(have))


def t_bash():
    queries = CTL_QUERIES + audit_option_queries()
    for loader in (False, True):
        got = bash_complete([q for q, _ in queries], loader)
        check_answers("bash" + (" (bash-completion)" if loader else ""), queries, got)
    # A path value: bash completes files itself.
    d = os.path.join(TMP, "dir-for-completion")
    os.makedirs(d)
    got = bash_complete([["tallinnctl", "--ca", d[:-3]], ["tallinnctl", "audit", "export", d]],
                        False)
    assert got == [{d}, {d}], got


def t_fish():
    queries = CTL_QUERIES + audit_option_queries()
    check_answers("fish", queries, fish_complete([q for q, _ in queries]))


def zsh_audit(cmd):
    """zsh code completing `tallinn-audit CMD --` (the stubs stand in for compsys)."""
    words = cmd.split()
    return "words=(%s --); CURRENT=%d; ZSTATE=argument ZLINE=%s _tallinn-audit" % (
        " ".join(words), len(words) + 1, words[0])


def t_zsh():
    cmds = audit_commands()
    outs = zsh_run([zsh_ctl("tallinnctl", "nee"), zsh_ctl("tallinnctl", "needs", "create", "--sec"),
                    zsh_ctl("tallinnctl", "--context", ""), zsh_ctl("tallinnctl", "--ca", "x"),
                    "ZSTATE=command ZLINE= _tallinn-audit",
                    "words=(witness ''); CURRENT=2; ZSTATE=argument ZLINE=witness _tallinn-audit"] +
                   [zsh_audit(c) for c in cmds])
    assert outs[0].startswith("needs:list, get, create, update, submit"), outs[0]
    assert outs[1].startswith("--sector:sector: ENERGY TELECOM"), outs[1]
    assert outs[2] == "alpha:a.example:1\nbeta:b.example:2 (default)\n", outs[2]
    assert outs[3] == ":files \n", outs[3]  # zsh's _files
    top = [x.split(":")[0] for x in outs[4].splitlines()]
    assert top == list(dict.fromkeys(c.split()[0] for c in cmds)) + ["help"], top
    assert [x.split(":")[0] for x in outs[5].splitlines()] == \
        [c.split()[1] for c in cmds if c.startswith("witness ")], outs[5]
    for cmd, out in zip(cmds, outs[6:]):
        offered, wanted = set(LONG_OPT.findall(out)), audit_offered(cmd)
        assert offered == wanted, "zsh %s: offers %s, wanted %s" % (cmd, sorted(offered),
                                                                     sorted(wanted))


ZPTY_DRIVER = r"""
# An interactive zsh in a pseudo-terminal with the real completion system;
# for each line given: type it, <Tab>, then ^X, bound to write the buffer to
# the dump file and clear it.
zmodload zsh/zpty
dump=$1; shift
zpty -b z "zsh -f -i"
zpty -w z "fpath=(%s/share/zsh/vendor-completions \$fpath); autoload -Uz compinit; \
compinit -u -D; dumpbuf() { print -r -- \"\$BUFFER\" >> $dump; BUFFER= }; zle -N dumpbuf; \
bindkey '^X' dumpbuf"
for q in "$@"; do
    n=$(wc -l < $dump)
    zpty -w -n z "$q"$'\t\C-x'
    for i in {1..200}; do (( $(wc -l < $dump) > n )) && break; sleep 0.05; done
done
zpty -d z
"""


def t_zsh_real():
    """Unique completions through zsh's own compsys: _describe and
    _arguments as they are, the files autoloaded from the tree."""
    dump = os.path.join(TMP, "zsh-buffers")
    open(dump, "w").close()
    lines = {"tallinnctl needs va": "tallinnctl needs validate ",
             "tallinnctl --context al": "tallinnctl --context alpha ",
             "tallinnctl needs create --sector WA": "tallinnctl needs create --sector WATER ",
             "tallinn-audit ver": "tallinn-audit verify ",
             "tallinn-audit verify --sta": "tallinn-audit verify --state ",
             "tallinn-audit show -o j": "tallinn-audit show -o json ",
             "tallinn-audit witness se": "tallinn-audit witness serve ",
             "tallinn-audit witness serve --li": "tallinn-audit witness serve --listen ",
             "tallinn-audit verify --quo": "tallinn-audit verify --quorum "}
    run(["zsh", "-f", "-c", ZPTY_DRIVER % ROOT, "zsh", dump] + list(lines), env=SHELL_ENV)
    with open(dump) as f:
        got = f.read().split("\n")[:-1]
    assert got == list(lines.values()), "zsh completed %s" % got


# ---- systemd ----

def t_systemd_analyze():
    """The units as installed, their paths resolved in the tree; any message
    fails (systemd-analyze warns of unknown keys and still exits 0)."""
    d = os.path.join(TMP, "unit")
    os.makedirs(d)
    for unit, user, home in (("tallinnd", "tallinn", "/var/lib/tallinn"),
                             ("tallinn-witness", "tallinn-witness", "/var/lib/tallinn-witness")):
        with open(ROOT + "/lib/systemd/system/%s.service" % unit) as f:
            text = f.read()
        assert not re.search(r"@[A-Z]+@", text) and "/usr/local" not in text, text
        assert re.search(r"^User=%s$" % user, text, re.M), unit
        with open(os.path.join(d, unit + ".service"), "w") as f:
            f.write(text.replace("/usr/", ROOT + "/"))
        r = run(["systemd-analyze", "verify", unit + ".service"], ok=False, cwd=d,
                env={"MANPATH": ROOT + "/share/man"})
        assert r.returncode == 0 and r.stdout + r.stderr == "", unit + ": " + r.stdout + r.stderr
        users = open(ROOT + "/lib/sysusers.d/%s.conf" % user).read()
        assert re.search(r"^u %s - .* %s " % (user, home), users, re.M), users


if __name__ == "__main__":
    try:
        install()
        cases = harness.Cases()
        cases.run("the installed tree", t_tree)
        cases.run("man pages render without warnings", t_man_render)
        cases.run("tallinnd(8) options = tallinnd --help", t_man_tallinnd)
        cases.run("tallinnctl(1) options = every command's --help", t_man_tallinnctl)
        cases.run("tallinn-audit(1) options = each command's --help", t_man_tallinn_audit)
        cases.run("completion scripts: bash -n, zsh -n, fish --no-execute, shellcheck",
                  t_completion_syntax)
        cases.run("bash completes (plain and via bash-completion's loader)", t_bash)
        cases.run("fish completes (vendor_completions.d)", t_fish)
        cases.run("zsh completes (autoloaded from the tree, compsys stubbed)", t_zsh)
        cases.run("zsh completes in a real interactive shell (zpty)", t_zsh_real)
        cases.run("systemd-analyze verify tallinnd.service", t_systemd_analyze)
        cases.finish()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
