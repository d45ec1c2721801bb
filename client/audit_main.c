/* audit_main.c — tallinn-audit, the independent verifier of Tallinn's audit
 * log (offline over an export, or against a live server): command dispatch,
 * top-level help, and the helpers the commands share. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit_cmds.h"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"verify", audit_cmd_verify,
     "verify a tlog-tiles directory, or a live server's log (--server)"},
    {"check-proof", audit_cmd_check_proof,
     "verify a c2sp.org/tlog-proof@v1 file, and an entry's inclusion"},
    {"prove", audit_cmd_prove, "write a tlog-proof file for one record of a live server"},
    {"show", audit_cmd_show, "print the records of a tlog-tiles directory or a server"},
    {"witness", audit_cmd_witness,
     "run a C2SP tlog-witness (init, serve), or ask witnesses to cosign (cosign)"},
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: " AUDIT_PROG " COMMAND [ARGS] [--help]\n"
            "\n"
            "Checks Tallinn's audit log against the log's public key only: C2SP\n"
            "tlog-tiles directories (offline), signed checkpoints, tlog-proof files, and\n"
            "a live server's log, remembering the last checkpoint verified.\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "Run '" AUDIT_PROG " COMMAND --help' for a command's options.\n"
            "\n"
            "Example:\n"
            "  " AUDIT_PROG " verify ./log --key "
            "'example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx'\n"
            "  " AUDIT_PROG " verify --server tallinn.example:8443 --key audit.vkey \\\n"
            "      --token-file auditor.token\n"
            "\n" AUDIT_EXIT_HELP);
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0) {
        fprintf(stderr, AUDIT_PROG ": libsodium failed to start\n");
        return AUDIT_EXIT_FAILED;
    }
    if (argc < 2) {
        usage(stderr);
        return AUDIT_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return AUDIT_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf(AUDIT_PROG " %s\n", TALLINN_VERSION);
        return AUDIT_EXIT_OK;
    }
    const char *names[sizeof commands / sizeof commands[0]], *close;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
        names[i] = commands[i].name;
    }
    close = cli_suggest(argv[1], names, sizeof names / sizeof names[0]);
    if (close != NULL)
        fprintf(stderr, AUDIT_PROG ": unknown command '%s' (did you mean '%s'?)\n\n", argv[1],
                close);
    else
        fprintf(stderr, AUDIT_PROG ": unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return AUDIT_EXIT_USAGE;
}

int audit_input_ok(const char *cmd, const char *what, const char *path, int want_dir)
{
    struct stat st;
    const char *why = NULL;

    if (stat(path, &st) != 0)
        why = strerror(errno);
    else if (want_dir && !S_ISDIR(st.st_mode))
        why = "not a directory";
    else if (!want_dir && !S_ISREG(st.st_mode))
        why = "not a regular file";
    else if (access(path, want_dir ? R_OK | X_OK : R_OK) != 0)
        why = strerror(errno);
    if (why == NULL)
        return 0;
    fprintf(stderr, AUDIT_PROG " %s: cannot read %s%s%s: %s; nothing was verified\n", cmd,
            what != NULL ? what : "", what != NULL ? " " : "", path, why);
    return AUDIT_EXIT_USAGE;
}

void audit_report_failure(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, AUDIT_PROG ": %s: FAILED: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int audit_read_file(const char *path, size_t max, char **buf, size_t *len, char *err,
                    size_t err_size)
{
    struct stat st;
    char *data = NULL;
    size_t got = 0;
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    *buf = NULL;
    if (fd < 0) {
        rc = -errno;
        snprintf(err, err_size, "%s: %s", path, strerror(-rc));
        return rc;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        snprintf(err, err_size, "%s: not a regular file", path);
        goto cleanup;
    }
    if ((uint64_t)st.st_size > max) {
        rc = -EFBIG;
        snprintf(err, err_size, "%s: %lld bytes, more than the %zu allowed", path,
                 (long long)st.st_size, max);
        goto cleanup;
    }
    data = malloc((size_t)st.st_size + 1);
    if (!data) {
        rc = -ENOMEM;
        snprintf(err, err_size, "%s: out of memory", path);
        goto cleanup;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            snprintf(err, err_size, "%s: read error: %s", path, strerror(-rc));
            goto cleanup;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    data[got] = '\0';
    *buf = data;
    *len = got;
    data = NULL;
cleanup:
    free(data);
    close(fd);
    return rc;
}

/* A key option's value: the key string itself, or a file holding one (its
 * trailing whitespace dropped). Parsed by `parse`; prints why on failure. */
static int load_key_string(const char *opt, const char *arg,
                           int (*parse)(const char *s, void *out, char *err, size_t err_size),
                           void *out)
{
    char err[256], ferr[256];
    if (parse(arg, out, err, sizeof err) == 0)
        return 0;
    if (access(arg, R_OK) != 0) {
        fprintf(stderr, AUDIT_PROG ": %s: %s (and no such file)\n", opt, err);
        return -1;
    }
    char *text = NULL;
    size_t len = 0;
    if (audit_read_file(arg, 4096, &text, &len, ferr, sizeof ferr) != 0) {
        fprintf(stderr, AUDIT_PROG ": %s: %s\n", opt, ferr);
        return -1;
    }
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ' ||
                       text[len - 1] == '\t'))
        text[--len] = '\0';
    int rc = parse(text, out, ferr, sizeof ferr);
    free(text);
    if (rc == 0)
        return 0;
    fprintf(stderr, AUDIT_PROG ": %s: %s: %s\n", opt, arg, ferr);
    return -1;
}

static int parse_log_key(const char *s, void *out, char *err, size_t err_size)
{
    return note_verifier_parse(s, out, err, err_size);
}

static int parse_witness_key(const char *s, void *out, char *err, size_t err_size)
{
    return cosig_verifier_parse(s, out, err, err_size);
}

int audit_load_key_as(const char *opt, const char *arg, note_verifier *out)
{
    return load_key_string(opt, arg, parse_log_key, out);
}

int audit_load_key(const char *arg, note_verifier *out)
{
    return audit_load_key_as("--key", arg, out);
}

int audit_load_witness(const char *arg, cosig_verifier *out)
{
    return load_key_string("--witness", arg, parse_witness_key, out);
}

int audit_conn_option(audit_conn_opts *o, int c, const char *arg)
{
    char *end;
    switch (c) {
    case 's':
        o->server = arg;
        return 1;
    case 256:
        o->token_file = arg;
        return 1;
    case 257:
        o->insecure = 1;
        return 1;
    case 258:
        o->ca_file = arg;
        return 1;
    case 259:
        o->cert_file = arg;
        return 1;
    case 260:
        o->cert_key = arg;
        return 1;
    case 261:
        o->server_name = arg;
        return 1;
    case 263:
        o->verbose = 1;
        return 1;
    case 264:
        o->context = arg;
        return 1;
    case 262:
        errno = 0;
        o->timeout_s = strtol(arg, &end, 10);
        if (errno || *end || o->timeout_s <= 0 || o->timeout_s > 86400) {
            fprintf(stderr, AUDIT_PROG ": --timeout: '%s' is not a number of seconds (1..86400)\n",
                    arg);
            return -1;
        }
        return 1;
    default:
        return 0;
    }
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void audit_progress_start(audit_progress *p, const char *what, uint64_t total)
{
    p->enabled = isatty(STDERR_FILENO);
    p->total = total;
    p->last = 0;
    p->what = what;
}

void audit_progress_update(audit_progress *p, uint64_t done)
{
    if (!p->enabled || p->total == 0)
        return;
    double t = now_seconds();
    if (t - p->last < 0.1 && done < p->total)
        return;
    p->last = t;
    unsigned pct = (unsigned)(done * 100 / p->total);
    char bar[31];
    unsigned fill = pct * 30 / 100;
    for (unsigned i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r%s [%s] %llu/%llu %3u%%", p->what, bar, (unsigned long long)done,
            (unsigned long long)p->total, pct);
    fflush(stderr);
}

void audit_progress_end(audit_progress *p)
{
    if (!p->enabled || p->total == 0)
        return;
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
}
