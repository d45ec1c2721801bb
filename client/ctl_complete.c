/* ctl_complete.c — shell completion for tallinnctl: the hidden
 * `tallinnctl __complete WORD... CURRENT` that the bash, zsh and fish scripts
 * run on each <Tab>, and those scripts (`tallinnctl completion SHELL`).
 * Commands, options and their values come from the command table, context
 * names from the config file, resource ids from the server through a bounded
 * `NOUN list -o name` with the context in use, which stays silent on errors. */
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

#define CTL_COMPLETE_LIMIT "200"      /* resource ids listed at most */
#define CTL_COMPLETE_DEADLINE "2s"    /* per call of that listing */
#define CTL_COMPLETE_WAIT_MS 4000     /* the listing process, all told */
#define CTL_COMPLETE_OUT_MAX (256u << 10)
#define CTL_COMPLETE_MAX_POS 8
#define CTL_COMPLETE_MAX_FWD 16
#define CTL_COMPLETE_MAX_CONTEXTS 64

/* What the words before the current one say. */
typedef struct ctl_cwords {
    const char *noun;             /* the first operand, a known noun or not */
    int noun_known, noun_has_verbs, verb_seen;
    const ctl_command *cmd;       /* once NOUN [VERB] names one */
    const char *pos[CTL_COMPLETE_MAX_POS]; /* operands after the command */
    int npos;
    const ctl_option *pending;    /* the option whose value is the current word */
    int pending_global;           /* its global index, or -1 */
    const char *donor_opt;        /* --donor's value, for --pledge */
    char *fwd[CTL_COMPLETE_MAX_FWD]; /* connection options for the listing */
    int nfwd;
} ctl_cwords;

/* Placeholders that name a resource, and the collection that lists them. */
static const struct {
    const char *placeholder, *collection;
} ctl_complete_refs[] = {
    {"NEED", "needs"},       {"DONOR", "donors"},         {"MATCH", "matches"},
    {"PLEDGE", "pledges"},   {"PRINCIPAL", "principals"},
};

/* Global options passed on to the listing: whatever picks the server and
 * the credentials. */
static int ctl_complete_forwarded(int g)
{
    return g == CTL_G_ADDR || g == CTL_G_INSECURE || g == CTL_G_CA || g == CTL_G_CERT ||
           g == CTL_G_KEY || g == CTL_G_SERVER_NAME || g == CTL_G_CONTEXT ||
           g == CTL_G_TOKEN_FILE || g == CTL_G_TOKEN;
}

/* Prints one candidate if it starts with cur: "value" or "value<TAB>desc",
 * the description on one line. */
static void ctl_complete_emit(const char *cur, const char *value, size_t vlen, const char *desc)
{
    if (vlen < strlen(cur) || strncmp(value, cur, strlen(cur)) != 0)
        return;
    fwrite(value, 1, vlen, stdout);
    if (desc != NULL && desc[0] != '\0') {
        fputc('\t', stdout);
        for (const char *p = desc; *p != '\0'; p++)
            fputc(*p == '\t' || *p == '\n' || *p == '\r' ? ' ' : *p, stdout);
    }
    fputc('\n', stdout);
}

static void ctl_complete_emit_s(const char *cur, const char *value, const char *desc)
{
    ctl_complete_emit(cur, value, strlen(value), desc);
}

/* Space-separated words, each a candidate. */
static void ctl_complete_words(const char *cur, const char *words)
{
    const char *p = words;

    while (*p != '\0') {
        size_t n = strcspn(p, " ");
        if (n > 0)
            ctl_complete_emit(cur, p, n, NULL);
        p += n;
        p += strspn(p, " ");
    }
}

static int ctl_complete_noun_known(const char *noun, int *has_verbs)
{
    int known = 0;

    *has_verbs = 0;
    for (size_t i = 0; i < ctl_commands_count; i++) {
        if (strcmp(ctl_commands[i].noun, noun) != 0)
            continue;
        known = 1;
        if (ctl_commands[i].verb != NULL)
            *has_verbs = 1;
    }
    return known;
}

static void ctl_complete_nouns(const char *cur)
{
    for (size_t i = 0; i < ctl_commands_count; i++) {
        const ctl_command *c = &ctl_commands[i];
        char desc[160] = "";
        int seen = 0;

        for (size_t k = 0; k < i; k++)
            seen |= strcmp(ctl_commands[k].noun, c->noun) == 0;
        if (seen)
            continue;
        if (c->verb == NULL) {
            snprintf(desc, sizeof desc, "%s", c->summary);
        } else { /* a noun's verbs say more than any one summary */
            for (size_t k = i; k < ctl_commands_count; k++) {
                if (strcmp(ctl_commands[k].noun, c->noun) != 0)
                    continue;
                strncat(desc, desc[0] ? ", " : "", sizeof desc - strlen(desc) - 1);
                strncat(desc, ctl_commands[k].verb, sizeof desc - strlen(desc) - 1);
            }
        }
        ctl_complete_emit_s(cur, c->noun, desc);
    }
}

static void ctl_complete_verbs(const char *cur, const char *noun)
{
    for (size_t i = 0; i < ctl_commands_count; i++)
        if (strcmp(ctl_commands[i].noun, noun) == 0 && ctl_commands[i].verb != NULL)
            ctl_complete_emit_s(cur, ctl_commands[i].verb, ctl_commands[i].summary);
}

static void ctl_complete_options(const char *cur, const ctl_command *cmd)
{
    char word[80];

    for (size_t i = 0; cmd != NULL && cmd->options != NULL && cmd->options[i].name != NULL;
         i++) {
        snprintf(word, sizeof word, "--%s", cmd->options[i].name);
        ctl_complete_emit_s(cur, word, cmd->options[i].help);
    }
    for (int i = 0; i < CTL_G_COUNT; i++) {
        snprintf(word, sizeof word, "--%s", ctl_global_options[i].name);
        ctl_complete_emit_s(cur, word, ctl_global_options[i].help);
    }
}

/* ---- Context names from the config file ---- */

typedef struct ctl_complete_cfg {
    char *names[CTL_COMPLETE_MAX_CONTEXTS];
    char *addrs[CTL_COMPLETE_MAX_CONTEXTS];
    size_t n;
    char *def;
} ctl_complete_cfg;

/* A value without a trailing " # comment" (as ctl_config.c reads it). */
static char *ctl_complete_value(const char *v)
{
    size_t n = 0;

    for (const char *p = v; *p != '\0'; p++, n++)
        if (*p == '#' && p > v && (p[-1] == ' ' || p[-1] == '\t'))
            break;
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    return strndup(v, n);
}

static int ctl_complete_cfg_handler(void *user, const char *section, const char *name,
                                    const char *value)
{
    ctl_complete_cfg *c = user;
    size_t i;

    if (section[0] == '\0') {
        if (strcmp(name, "context") == 0 && c->def == NULL)
            c->def = ctl_complete_value(value);
        return 1; /* a bad line is ctl_config.c's to report, not completion's */
    }
    for (i = 0; i < c->n; i++)
        if (strcmp(c->names[i], section) == 0)
            break;
    if (i == c->n) {
        if (c->n == CTL_COMPLETE_MAX_CONTEXTS || (c->names[i] = strdup(section)) == NULL)
            return 1;
        c->n++;
    }
    if (strcmp(name, "addr") == 0 && c->addrs[i] == NULL)
        c->addrs[i] = ctl_complete_value(value);
    return 1;
}

static void ctl_complete_contexts(const char *cur)
{
    ctl_complete_cfg c;
    char *path = cli_cfg_path();
    char desc[300];

    memset(&c, 0, sizeof c);
    if (path != NULL)
        ini_parse(path, ctl_complete_cfg_handler, &c); /* unreadable: no candidates */
    for (size_t i = 0; i < c.n; i++) {
        int is_def = c.def != NULL && strcmp(c.def, c.names[i]) == 0;
        snprintf(desc, sizeof desc, "%s%s", c.addrs[i] != NULL ? c.addrs[i] : "",
                 is_def ? " (default)" : "");
        ctl_complete_emit_s(cur, c.names[i], desc);
        free(c.names[i]);
        free(c.addrs[i]);
    }
    free(c.def);
    free(path);
}

/* ---- Resource ids from the server ---- */

/* Runs this program again as `[connection options] COLLECTION list [PARENT]
 * -o name` with a short deadline and a limit, and returns what it printed
 * (caller frees), or NULL. Its stderr goes nowhere; a listing that takes
 * longer than CTL_COMPLETE_WAIT_MS is killed. */
static char *ctl_complete_list(const ctl_cwords *w, const char *collection, const char *parent)
{
    const char *argv[CTL_COMPLETE_MAX_FWD + 12];
    struct timespec start, now;
    char *out = NULL;
    size_t len = 0;
    int pipefd[2], n = 0, status = 1 << 8; /* as if it exited 1 */
    pid_t pid;

    argv[n++] = CTL_PROG;
    for (int i = 0; i < w->nfwd; i++)
        argv[n++] = w->fwd[i];
    argv[n++] = collection;
    argv[n++] = "list";
    if (parent != NULL)
        argv[n++] = parent;
    argv[n++] = "-o";
    argv[n++] = "name";
    argv[n++] = "--limit";
    argv[n++] = CTL_COMPLETE_LIMIT;
    argv[n++] = "--deadline";
    argv[n++] = CTL_COMPLETE_DEADLINE;
    argv[n] = NULL;

    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return NULL;
    if ((pid = fork()) < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return NULL;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(pipefd[1], STDOUT_FILENO) < 0 ||
            dup2(null, STDERR_FILENO) < 0)
            _exit(127);
        alarm(CTL_COMPLETE_WAIT_MS / 1000 + 1); /* a backstop; the parent kills it first */
        execv("/proc/self/exe", (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    if ((out = malloc(CTL_COMPLETE_OUT_MAX + 1)) == NULL)
        goto reap;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
        long left;
        ssize_t got;
        int ready;

        clock_gettime(CLOCK_MONOTONIC, &now);
        left = CTL_COMPLETE_WAIT_MS - ((now.tv_sec - start.tv_sec) * 1000L +
                                       (now.tv_nsec - start.tv_nsec) / 1000000L);
        if (left <= 0)
            break; /* too slow: it is killed below and offers nothing */
        ready = poll(&pfd, 1, (int)left);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            break;
        got = read(pipefd[0], out + len, CTL_COMPLETE_OUT_MAX - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
        if (len == CTL_COMPLETE_OUT_MAX)
            break;
    }
    out[len] = '\0';
reap:
    close(pipefd[0]);
    kill(pid, SIGKILL); /* harmless if it has exited; waitpid reaps it either way */
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (out != NULL && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        free(out); /* cut short or failed: offer nothing rather than a partial list */
        out = NULL;
    }
    return out;
}

/* The resource names of a collection, as ids when cur has no '/' (and, for
 * pledges, only when their donor is known), else as full names. */
static void ctl_complete_ids(const char *cur, const ctl_cwords *w, const char *collection,
                             const char *donor)
{
    int listable = 0, as_ids;
    char *out, *line, *save = NULL;

    for (size_t i = 0; i < ctl_commands_count; i++)
        listable |= strcmp(ctl_commands[i].noun, collection) == 0 &&
                    ctl_commands[i].verb != NULL && strcmp(ctl_commands[i].verb, "list") == 0;
    if (!listable)
        return;
    if (strcmp(collection, "pledges") != 0)
        donor = NULL;
    as_ids = strchr(cur, '/') == NULL && (strcmp(collection, "pledges") != 0 || donor != NULL);
    if ((out = ctl_complete_list(w, collection, donor)) == NULL)
        return;
    for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        const char *slash = strrchr(line, '/');
        ctl_complete_emit_s(cur, as_ids && slash != NULL ? slash + 1 : line, NULL);
    }
    free(out);
}

/* ---- The words typed so far ---- */

static const ctl_option *ctl_complete_find_long(const ctl_command *cmd, const char *name,
                                                size_t len, int *global)
{
    for (size_t i = 0; cmd != NULL && cmd->options != NULL && cmd->options[i].name != NULL; i++)
        if (strlen(cmd->options[i].name) == len && strncmp(cmd->options[i].name, name, len) == 0) {
            *global = -1;
            return &cmd->options[i];
        }
    for (int i = 0; i < CTL_G_COUNT; i++)
        if (strlen(ctl_global_options[i].name) == len &&
            strncmp(ctl_global_options[i].name, name, len) == 0) {
            *global = i;
            return &ctl_global_options[i];
        }
    return NULL;
}

static const ctl_option *ctl_complete_find_short(const ctl_command *cmd, int c, int *global)
{
    for (size_t i = 0; cmd != NULL && cmd->options != NULL && cmd->options[i].name != NULL; i++)
        if (cmd->options[i].short_name == c) {
            *global = -1;
            return &cmd->options[i];
        }
    for (int i = 0; i < CTL_G_COUNT; i++)
        if (ctl_global_options[i].short_name == c) {
            *global = i;
            return &ctl_global_options[i];
        }
    return NULL;
}

/* Notes an option's value: connection options are passed on, --donor kept. */
static void ctl_complete_note(ctl_cwords *w, const ctl_option *o, int global, const char *value)
{
    char *s = NULL;

    if (global < 0) {
        if (strcmp(o->name, "donor") == 0)
            w->donor_opt = value;
        return;
    }
    if (!ctl_complete_forwarded(global) || w->nfwd == CTL_COMPLETE_MAX_FWD)
        return;
    if (value != NULL ? asprintf(&s, "--%s=%s", o->name, value) < 0
                      : asprintf(&s, "--%s", o->name) < 0)
        return;
    w->fwd[w->nfwd++] = s;
}

static void ctl_complete_operand(ctl_cwords *w, const char *word)
{
    if (w->noun == NULL) {
        w->noun = word;
        w->noun_known = ctl_complete_noun_known(word, &w->noun_has_verbs);
        for (size_t i = 0; w->noun_known && !w->noun_has_verbs && i < ctl_commands_count; i++)
            if (strcmp(ctl_commands[i].noun, word) == 0)
                w->cmd = &ctl_commands[i];
    } else if (w->noun_has_verbs && !w->verb_seen) {
        w->verb_seen = 1;
        for (size_t i = 0; i < ctl_commands_count; i++)
            if (strcmp(ctl_commands[i].noun, w->noun) == 0 && ctl_commands[i].verb != NULL &&
                strcmp(ctl_commands[i].verb, word) == 0)
                w->cmd = &ctl_commands[i];
    } else if (w->npos < CTL_COMPLETE_MAX_POS) {
        w->pos[w->npos++] = word;
    }
}

/* Reads the words before the current one as the parser would. */
static void ctl_complete_scan(ctl_cwords *w, int argc, char **argv)
{
    int operands_only = 0;

    memset(w, 0, sizeof *w);
    w->pending_global = -1;
    for (int i = 0; i < argc; i++) {
        const char *word = argv[i];
        const ctl_option *o;
        int global;

        if (operands_only || word[0] != '-' || word[1] == '\0') {
            ctl_complete_operand(w, word);
            continue;
        }
        if (strcmp(word, "--") == 0) {
            operands_only = 1;
            continue;
        }
        if (word[1] == '-') {
            const char *eq = strchr(word + 2, '=');
            size_t len = eq != NULL ? (size_t)(eq - word - 2) : strlen(word + 2);

            if ((o = ctl_complete_find_long(w->cmd, word + 2, len, &global)) == NULL)
                continue;
            if (o->arg != NULL && eq == NULL) {
                if (i + 1 == argc) { /* its value is the word being completed */
                    w->pending = o;
                    w->pending_global = global;
                    return;
                }
                ctl_complete_note(w, o, global, argv[++i]);
            } else {
                ctl_complete_note(w, o, global, o->arg != NULL ? eq + 1 : NULL);
            }
        } else {
            if ((o = ctl_complete_find_short(w->cmd, word[1], &global)) == NULL)
                continue;
            if (o->arg != NULL && word[2] == '\0') {
                if (i + 1 == argc) {
                    w->pending = o;
                    w->pending_global = global;
                    return;
                }
                ctl_complete_note(w, o, global, argv[++i]);
            } else {
                ctl_complete_note(w, o, global, o->arg != NULL ? word + 2 : NULL);
            }
        }
    }
}

/* The n-th placeholder of a command's synopsis ("[COMMAND [SUBCOMMAND]]",
 * "DONOR PLEDGE"), without brackets, into buf; NULL past the last. */
static const char *ctl_complete_placeholder(const ctl_command *cmd, int n, char *buf, size_t len)
{
    const char *p = cmd->args;

    if (p == NULL || n >= cmd->max_args)
        return NULL;
    for (int k = 0; *p != '\0'; k++) {
        size_t wl;

        p += strspn(p, " [");
        wl = strcspn(p, " []");
        if (wl == 0)
            break;
        if (k == n) {
            snprintf(buf, len, "%.*s", (int)wl, p);
            return buf;
        }
        p += wl;
        p += strspn(p, "] ");
    }
    return NULL;
}

/* Candidates for a value named by a placeholder (an option's argument or an
 * operand). */
static void ctl_complete_placeholder_value(const char *cur, const ctl_cwords *w, const char *ph,
                                           const char *donor)
{
    if (strcmp(ph, "FILE") == 0) {
        puts(":files");
    } else if (strcmp(ph, "DIR") == 0) {
        puts(":dirs");
    } else if (strcmp(ph, "SHELL") == 0) {
        ctl_complete_words(cur, "bash zsh fish");
    } else if (strcmp(ph, "CONTEXT") == 0) {
        ctl_complete_contexts(cur);
    } else if (strcmp(ph, "COMMAND") == 0) {
        ctl_complete_nouns(cur);
    } else if (strcmp(ph, "SUBCOMMAND") == 0) {
        if (w->npos > 0)
            ctl_complete_verbs(cur, w->pos[0]);
    } else {
        for (size_t i = 0; i < sizeof ctl_complete_refs / sizeof ctl_complete_refs[0]; i++)
            if (strcmp(ph, ctl_complete_refs[i].placeholder) == 0)
                ctl_complete_ids(cur, w, ctl_complete_refs[i].collection, donor);
    }
}

int ctl_complete_main(int argc, char **argv)
{
    const char *cur = argc > 0 ? argv[argc - 1] : "";
    char ph[64];
    ctl_cwords w;

    ctl_complete_scan(&w, argc > 0 ? argc - 1 : 0, argv);
    if (w.pending != NULL) {
        const ctl_option *o = w.pending;

        if (o->complete == CTL_COMPLETE_CONTEXT)
            ctl_complete_contexts(cur);
        else if (o->complete == CTL_COMPLETE_VALUES && o->values != NULL)
            ctl_complete_words(cur, o->values);
        else if (o->complete == CTL_COMPLETE_FILE)
            puts(":files");
        else /* --need NEED, --donor DONOR, --pledge PLEDGE (under --donor) ... */
            ctl_complete_placeholder_value(cur, &w, o->arg, w.donor_opt);
    } else if (cur[0] == '-') {
        ctl_complete_options(cur, w.cmd);
    } else if (w.noun == NULL) {
        ctl_complete_nouns(cur);
    } else if (w.cmd == NULL) {
        if (w.noun_has_verbs && !w.verb_seen)
            ctl_complete_verbs(cur, w.noun);
    } else if (ctl_complete_placeholder(w.cmd, w.npos, ph, sizeof ph) != NULL) {
        const char *donor = NULL;

        for (int i = 0; i < w.npos; i++) { /* "pledges get DONOR PLEDGE" */
            char prev[64];
            if (ctl_complete_placeholder(w.cmd, i, prev, sizeof prev) != NULL &&
                strcmp(prev, "DONOR") == 0)
                donor = w.pos[i];
        }
        ctl_complete_placeholder_value(cur, &w, ph, donor);
    }
    for (int i = 0; i < w.nfwd; i++) {
        explicit_bzero(w.fwd[i], strlen(w.fwd[i])); /* may hold --token */
        free(w.fwd[i]);
    }
    fflush(stdout);
    return CTL_EXIT_OK;
}

/* ---- The scripts ---- */

static const char ctl_complete_bash[] =
    "# bash completion for tallinnctl, from 'tallinnctl completion bash'. Each <Tab>\n"
    "# asks 'tallinnctl __complete WORD...' for the candidates: commands, options and\n"
    "# their values from its command table, context names from its config file, and\n"
    "# resource ids from the server (bounded in time, silent on errors).\n"
    "_tallinnctl() {\n"
    "    local cur words cword prog out\n"
    "    local -a lines\n"
    "    if declare -F _get_comp_words_by_ref >/dev/null 2>&1; then\n"
    "        _get_comp_words_by_ref -n =: cur words cword\n"
    "    else\n"
    "        words=(\"${COMP_WORDS[@]}\"); cword=$COMP_CWORD; cur=${COMP_WORDS[COMP_CWORD]}\n"
    "    fi\n"
    "    prog=${words[0]}\n"
    "    [[ $prog == \\~/* ]] && prog=$HOME/${prog#\\~/}\n"
    "    out=$(\"$prog\" __complete \"${words[@]:1:cword}\" 2>/dev/null) || return 0\n"
    "    COMPREPLY=()\n"
    "    case $out in\n"
    "    :files) mapfile -t COMPREPLY < <(compgen -f -- \"$cur\"); compopt -o filenames 2>/dev/null ;;\n"
    "    :dirs) mapfile -t COMPREPLY < <(compgen -d -- \"$cur\"); compopt -o filenames 2>/dev/null ;;\n"
    "    *)\n"
    "        mapfile -t lines <<<\"$out\"\n"
    "        local line\n"
    "        for line in \"${lines[@]}\"; do\n"
    "            [[ -n $line ]] && COMPREPLY+=(\"${line%%$'\\t'*}\")\n"
    "        done ;;\n"
    "    esac\n"
    "    if declare -F __ltrim_colon_completions >/dev/null 2>&1; then\n"
    "        __ltrim_colon_completions \"$cur\"\n"
    "    fi\n"
    "    return 0\n"
    "}\n"
    "complete -F _tallinnctl tallinnctl\n";

static const char ctl_complete_zsh[] =
    "#compdef tallinnctl\n"
    "# zsh completion for tallinnctl, from 'tallinnctl completion zsh'. Each <Tab>\n"
    "# asks 'tallinnctl __complete WORD...' for the candidates: commands, options and\n"
    "# their values from its command table, context names from its config file, and\n"
    "# resource ids from the server (bounded in time, silent on errors).\n"
    "_tallinnctl() {\n"
    "    local out line prog=${words[1]}\n"
    "    local -a cands\n"
    "    [[ $prog == '~/'* ]] && prog=$HOME/${prog#'~/'}\n"
    "    out=$(\"$prog\" __complete \"${(@)words[2,CURRENT]}\" 2>/dev/null) || return 1\n"
    "    case $out in\n"
    "    (:files) _files; return ;;\n"
    "    (:dirs) _files -/; return ;;\n"
    "    esac\n"
    "    for line in \"${(@f)out}\"; do\n"
    "        [[ -n $line ]] || continue\n"
    "        if [[ $line == *$'\\t'* ]]; then\n"
    "            cands+=(\"${${line%%$'\\t'*}//:/\\\\:}:${line#*$'\\t'}\")\n"
    "        else\n"
    "            cands+=(\"${line//:/\\\\:}\")\n"
    "        fi\n"
    "    done\n"
    "    (( $#cands )) && _describe -t values tallinnctl cands\n"
    "}\n"
    "# Autoloaded from $fpath, this file is the body of _tallinnctl: run it. Sourced\n"
    "# (source <(tallinnctl completion zsh)), register it.\n"
    "if [[ $funcstack[1] == _tallinnctl ]]; then\n"
    "    _tallinnctl \"$@\"\n"
    "else\n"
    "    compdef _tallinnctl tallinnctl\n"
    "fi\n";

static const char ctl_complete_fish[] =
    "# fish completion for tallinnctl, from 'tallinnctl completion fish'. Each <Tab>\n"
    "# asks 'tallinnctl __complete WORD...' for the candidates: commands, options and\n"
    "# their values from its command table, context names from its config file, and\n"
    "# resource ids from the server (bounded in time, silent on errors).\n"
    "function __tallinnctl_complete\n"
    "    set -l words (commandline -opc)\n"
    "    set -l cur (commandline -ct)\n"
    "    set -l out ($words[1] __complete $words[2..] \"$cur\" 2>/dev/null)\n"
    "    switch \"$out\"\n"
    "        case :files\n"
    "            __fish_complete_path \"$cur\"\n"
    "        case :dirs\n"
    "            __fish_complete_directories \"$cur\"\n"
    "        case '*'\n"
    "            string join \\n -- $out\n"
    "    end\n"
    "end\n"
    "complete -c tallinnctl -f -a '(__tallinnctl_complete)'\n";

int ctl_run_completion(ctl_ctx *ctx, int argc, char **argv)
{
    (void)argc;
    if (strcmp(argv[0], "bash") == 0)
        fputs(ctl_complete_bash, stdout);
    else if (strcmp(argv[0], "zsh") == 0)
        fputs(ctl_complete_zsh, stdout);
    else if (strcmp(argv[0], "fish") == 0)
        fputs(ctl_complete_fish, stdout);
    else
        return ctl_usage_error(ctx->cmd, "no completion for \"%s\": the shells are bash, zsh "
                                         "and fish", argv[0]);
    return CTL_EXIT_OK;
}
