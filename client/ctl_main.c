/* ctl_main.c — tallinnctl's entry point: parses the command line against the
 * command table (global options anywhere, then NOUN [VERB], args, command
 * options), resolves flags > environment > config file context > defaults,
 * loads the bearer token, runs the command and maps failures to one stderr
 * line and a documented exit status. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/support/log.h>

#include "ctl.h"

/* getopt_long ids: global options and command options get disjoint ranges. */
#define CTL_ID_GLOBAL 1000
#define CTL_ID_COMMAND 2000
#define CTL_MAX_OPTIONS (2 * CTL_G_COUNT + CTL_MAX_CMD_OPTIONS + 1) /* globals may have aliases */
/* Longest server message we echo on the error line. */
#define CTL_MESSAGE_MAX 512

/* ---- Shared helpers ---- */

int ctl_fail(const char *fmt, ...)
{
    va_list ap;

    fputs(CTL_PROG ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CTL_EXIT_FAILURE;
}

int ctl_usage_error(const ctl_command *cmd, const char *fmt, ...)
{
    char name[128];
    va_list ap;

    fputs(CTL_PROG ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd != NULL)
        fprintf(stderr, " (see '" CTL_PROG " %s --help')\n",
                ctl_command_name(cmd, name, sizeof name));
    else
        fputs(" (see '" CTL_PROG " --help')\n", stderr);
    return CTL_EXIT_USAGE;
}

int ctl_exit_for_status(grpc_status_code code)
{
    return cli_exit_for_status(code, CTL_EXIT_FAILURE);
}

/* Copies a server-supplied message for one line of output: control
 * characters become spaces, surrounding space goes. */
static void ctl_one_line(char *dst, size_t len, const char *src)
{
    size_t n = 0;

    while (*src != '\0' && isspace((unsigned char)*src))
        src++;
    for (; *src != '\0' && n + 1 < len; src++)
        dst[n++] = iscntrl((unsigned char)*src) ? ' ' : *src;
    while (n > 0 && dst[n - 1] == ' ')
        n--;
    dst[n] = '\0';
}

/* The last ": "-separated part of gRPC's connection error, e.g. "Connection
 * refused" from "failed to connect to all addresses; last error: UNKNOWN:
 * ipv4:127.0.0.1:50051: Failed to connect to remote host: Connection refused". */
static const char *ctl_last_cause(const char *msg)
{
    const char *p = NULL, *q = msg;

    while ((q = strstr(q, ": ")) != NULL) {
        p = q + 2;
        q = p;
    }
    return p != NULL && *p != '\0' ? p : msg;
}

static void ctl_format_deadline(int64_t ms, char *buf, size_t len)
{
    if (ms % 60000 == 0)
        snprintf(buf, len, "%lldm", (long long)(ms / 60000));
    else if (ms % 1000 == 0)
        snprintf(buf, len, "%llds", (long long)(ms / 1000));
    else
        snprintf(buf, len, "%lldms", (long long)ms);
}

/* One line for a connection that never came up, with the likeliest fix.
 * msg is gRPC's "connections to all backends failing; last error: ..." (the
 * last address it tried). */
static void ctl_connect_failed(const ctl_ctx *ctx, const char *msg)
{
    const char *cause = ctl_last_cause(msg);
    const char *colon = strrchr(msg, ':');
    const char *tls_reason = colon != NULL ? colon + 1 : msg; /* OpenSSL's: the last part */
    const char *no_port = strrchr(ctx->addr, ':') == NULL ? " (no port given, so 443)" : "";

    if (strstr(msg, "Ssl handshake") != NULL) {
        int plaintext = strstr(tls_reason, "version number") != NULL ||
                        strstr(tls_reason, "WRONG_VERSION") != NULL;
        fprintf(stderr, CTL_PROG ": TLS handshake with %s failed (%s); %s\n", ctx->addr,
                tls_reason, plaintext ? "if the server runs without TLS, add --insecure"
                                      : "check --ca and --server-name");
    } else if (strstr(msg, "Peer name") != NULL) {
        fprintf(stderr, CTL_PROG ": the certificate of %s does not match (%s); give the name it "
                "carries with --server-name\n", ctx->addr, cause);
    } else if (strstr(msg, "Socket closed") != NULL || strstr(msg, "Connection reset") != NULL) {
        /* The server hung up while the connection was being set up. */
        fprintf(stderr, CTL_PROG ": %s closed the connection during set-up; %s\n", ctx->addr,
                ctx->insecure ? "the server may require TLS (drop --insecure)"
                : ctx->cert_file == NULL
                    ? "the server may require a client certificate (--cert and --key) or "
                      "not speak TLS (--insecure)"
                    : "the server may not accept this client certificate");
    } else {
        int several = ctx->channel != NULL && rpcc_channel_address_count(ctx->channel) != 1;
        fprintf(stderr, CTL_PROG ": cannot reach %s at %s%s: %s; is it running there? "
                "(set --addr or TALLINN_ADDR)\n", several ? "any server" : "the server",
                ctx->addr, no_port, cause);
    }
}

/* ", from 127.0.0.1:5001 after 3 attempts": which replica gave the outcome
 * (when there are several) and how many attempts it took; "" otherwise. */
static void ctl_replica_note(const ctl_ctx *ctx, const rpcc_result *r, char *buf, size_t len)
{
    int several = ctx->channel != NULL && rpcc_channel_address_count(ctx->channel) != 1;
    size_t n = 0;

    buf[0] = '\0';
    if (r->peer != NULL && (several || r->attempts > 1))
        n = (size_t)snprintf(buf, len, " from %s", r->peer);
    if (r->attempts > 1 && n < len)
        snprintf(buf + n, len - n, " after %d attempts", r->attempts);
}

int ctl_call_failed(const ctl_ctx *ctx, const char *what, const rpcc_result *r)
{
    char msg[CTL_MESSAGE_MAX], dl[32], note[128];
    const char *code = rpcc_status_name(r->code);

    ctl_one_line(msg, sizeof msg, r->message != NULL ? r->message : "");
    ctl_replica_note(ctx, r, note, sizeof note);
    if (rpcc_result_unreached(r) && strstr(msg, "DNS resolution failed") != NULL) {
        fprintf(stderr, CTL_PROG ": cannot resolve the server address %s: %s (set --addr or "
                "TALLINN_ADDR)\n", ctx->addr, ctl_last_cause(msg));
    } else if (rpcc_result_unreached(r)) {
        ctl_connect_failed(ctx, msg);
    } else if (r->code == GRPC_STATUS_DEADLINE_EXCEEDED) {
        ctl_format_deadline(ctx->deadline_ms, dl, sizeof dl);
        fprintf(stderr, CTL_PROG ": %s: no answer from %s within %s (DEADLINE_EXCEEDED%s); "
                "is the server overloaded or unreachable? (raise --deadline)\n", what, ctx->addr,
                dl, note);
    } else if (msg[0] != '\0' && strcmp(msg, code) != 0) {
        fprintf(stderr, CTL_PROG ": %s: %s (%s%s)\n", what, msg, code, note);
    } else {
        fprintf(stderr, CTL_PROG ": %s: %s%s\n", what, code, note);
    }
    if (r->bad_request != NULL) {
        for (size_t i = 0; i < r->bad_request->n_field_violations; i++) {
            const Google__Rpc__BadRequest__FieldViolation *v = r->bad_request->field_violations[i];
            char field[128], desc[CTL_MESSAGE_MAX];

            ctl_one_line(field, sizeof field, v->field);
            ctl_one_line(desc, sizeof desc, v->description);
            if (desc[0] != '\0' && strstr(msg, desc) != NULL)
                continue; /* the line above said it already (a filter error, say) */
            fprintf(stderr, "  %s: %s\n", field, desc);
        }
    }
    return ctl_exit_for_status(r->code);
}

/* -v: one line per attempt of every call, on stderr. */
static void ctl_report_attempt(void *arg, const rpcc_attempt *a)
{
    const char *slash = strrchr(a->method, '/');
    char msg[CTL_MESSAGE_MAX];

    (void)arg;
    ctl_one_line(msg, sizeof msg, a->message);
    fprintf(stderr, CTL_PROG ": %s attempt %d -> %s: %s", slash != NULL ? slash + 1 : a->method,
            a->attempt, a->peer != NULL ? a->peer : "no server reached",
            rpcc_status_name(a->code));
    if (a->code != GRPC_STATUS_OK && msg[0] != '\0')
        fprintf(stderr, ": %s", msg);
    if (a->retry_in_ms >= 0)
        fprintf(stderr, "; retrying in %lld ms", (long long)a->retry_in_ms);
    else if (a->not_retried != NULL)
        fprintf(stderr, "; not retried: %s", a->not_retried);
    fputc('\n', stderr);
}

rpcc_channel *ctl_channel(ctl_ctx *ctx)
{
    rpcc_channel_options o;
    char err[RPCC_ERROR_MAX];

    if (ctx->channel != NULL)
        return ctx->channel;
    memset(&o, 0, sizeof o);
    o.target = ctx->addr;
    o.insecure = ctx->insecure;
    o.ca_file = ctx->ca_file;
    o.cert_file = ctx->cert_file;
    o.key_file = ctx->key_file;
    o.ssl_target_name = ctx->server_name;
    o.user_agent = CTL_PROG "/" TALLINN_VERSION;
    if (ctx->verbose) {
        o.on_attempt = ctl_report_attempt;
        o.on_attempt_arg = ctx;
    }
    if (rpcc_channel_create(&ctx->channel, &o, err, sizeof err) != 0) {
        ctl_fail("%s", err);
        return NULL;
    }
    return ctx->channel;
}

rpcc_call_options ctl_call_options(const ctl_ctx *ctx)
{
    rpcc_call_options o;

    memset(&o, 0, sizeof o);
    o.deadline_ms = ctx->deadline_ms;
    if (ctx->auth_header != NULL) {
        o.metadata = &ctx->auth_md;
        o.n_metadata = 1;
    }
    return o;
}

grpc_status_code ctl_unary(ctl_ctx *ctx, const char *method, const ProtobufCMessage *req,
                           const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                           rpcc_result *result)
{
    rpcc_call_options o = ctl_call_options(ctx);
    rpcc_channel *ch = ctl_channel(ctx);

    *resp = NULL;
    if (ch == NULL) {
        memset(result, 0, sizeof *result);
        result->code = GRPC_STATUS_INTERNAL;
        result->message = strdup("cannot open the channel");
        return result->code;
    }
    return rpcc_unary(ch, method, req, resp_desc, &o, resp, result);
}

const char *ctl_option_value(const ctl_ctx *ctx, const char *name)
{
    const ctl_option *opts = ctx->cmd != NULL ? ctx->cmd->options : NULL;

    for (size_t i = 0; opts != NULL && opts[i].name != NULL; i++)
        if (strcmp(opts[i].name, name) == 0)
            return ctx->opt_values[i];
    return NULL;
}

size_t ctl_option_values(const ctl_ctx *ctx, const char *name, const char **out, size_t max)
{
    const ctl_option *opts = ctx->cmd != NULL ? ctx->cmd->options : NULL;
    size_t n = 0;

    for (int i = 0; opts != NULL && opts[i].name != NULL; i++) {
        if (strcmp(opts[i].name, name) != 0)
            continue;
        for (size_t k = 0; k < ctx->n_earlier; k++)
            if (ctx->opt_earlier_index[k] == i) {
                if (n < max)
                    out[n] = ctx->opt_earlier[k];
                n++;
            }
        if (ctx->opt_values[i] != NULL) {
            if (n < max)
                out[n] = ctx->opt_values[i];
            n++;
        }
        /* an option given more often than CTL_MAX_REPEATS allows: too many */
        if (ctx->n_earlier == CTL_MAX_REPEATS)
            n = n > max ? n : max + 1;
    }
    return n;
}

/* ---- Parsing ---- */

int ctl_parse_duration(const char *s, int64_t *ms)
{
    char *end;
    long long v;
    int64_t unit;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || v <= 0)
        return -1;
    if (strcmp(end, "ms") == 0)
        unit = 1;
    else if (strcmp(end, "s") == 0 || *end == '\0')
        unit = 1000;
    else if (strcmp(end, "m") == 0)
        unit = 60000;
    else
        return -1;
    if (v > INT64_MAX / unit / 1000) /* keep far from overflow in gpr time */
        return -1;
    *ms = (int64_t)v * unit;
    return 0;
}

static int ctl_count_options(const ctl_option *opts)
{
    int n = 0;

    while (opts != NULL && opts[n].name != NULL)
        n++;
    return n;
}

/* Builds getopt_long's tables from the global options and, if cmd is not
 * NULL, the command's options. */
static void ctl_build_getopt(const ctl_command *cmd, int stop_at_operand, struct option *lo,
                             char *shorts, size_t shorts_len)
{
    size_t n = 0, s = 0;
    int nc = cmd != NULL ? ctl_count_options(cmd->options) : 0;

    if (nc > CTL_MAX_CMD_OPTIONS) { /* a table error: fail loudly, not by ignoring options */
        fprintf(stderr, CTL_PROG ": internal error: %s has more than %d options\n", cmd->noun,
                CTL_MAX_CMD_OPTIONS);
        abort();
    }
    /* '+' stops at the command word; without it GNU getopt permutes, so
     * operands may sit between options. ':' reports a missing value apart. */
    if (stop_at_operand)
        shorts[s++] = '+';
    shorts[s++] = ':';
    for (int i = 0; i < CTL_G_COUNT; i++) {
        const ctl_option *o = &ctl_global_options[i];
        lo[n].name = o->name;
        lo[n].has_arg = o->arg != NULL ? required_argument : no_argument;
        lo[n].flag = NULL;
        lo[n++].val = CTL_ID_GLOBAL + i;
        if (ctl_option_alias(o) != NULL) { /* an exact name: never a prefix of another */
            lo[n] = lo[n - 1];
            lo[n++].name = ctl_option_alias(o);
        }
        if (o->short_name != 0 && s + 3 < shorts_len) {
            shorts[s++] = (char)o->short_name;
            if (o->arg != NULL)
                shorts[s++] = ':';
        }
    }
    for (int i = 0; i < nc; i++) {
        const ctl_option *o = &cmd->options[i];
        lo[n].name = o->name;
        lo[n].has_arg = o->arg != NULL ? required_argument : no_argument;
        lo[n].flag = NULL;
        lo[n++].val = CTL_ID_COMMAND + i;
        if (o->short_name != 0 && s + 3 < shorts_len) {
            shorts[s++] = (char)o->short_name;
            if (o->arg != NULL)
                shorts[s++] = ':';
        }
    }
    memset(&lo[n], 0, sizeof lo[n]);
    shorts[s] = '\0';
}

/* Maps a getopt result (short char or id) to an id; -1 if none. */
static int ctl_option_id(const ctl_command *cmd, int c)
{
    int nc = cmd != NULL ? ctl_count_options(cmd->options) : 0;

    if (c >= CTL_ID_GLOBAL)
        return c;
    for (int i = 0; i < CTL_G_COUNT; i++)
        if (ctl_global_options[i].short_name == c)
            return CTL_ID_GLOBAL + i;
    for (int i = 0; i < nc; i++)
        if (cmd->options[i].short_name == c)
            return CTL_ID_COMMAND + i;
    return -1;
}

/* Runs getopt_long over argv. Stores global values in gvals, command values
 * in ctx->opt_values. Returns 0, or an exit status after a usage error. */
static int ctl_getopt(int argc, char **argv, const ctl_command *cmd, int stop_at_operand,
                      const char **gvals, ctl_ctx *ctx)
{
    struct option lo[CTL_MAX_OPTIONS + 1];
    char shorts[2 * CTL_MAX_OPTIONS + 4];
    int c;

    ctl_build_getopt(cmd, stop_at_operand, lo, shorts, sizeof shorts);
    opterr = 0;
    optind = 0; /* glibc: full re-initialisation for the second pass */
    while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        int id;

        if (c == '?' || c == ':') {
            char bad[64];
            int known = optopt >= CTL_ID_GLOBAL ? ctl_option_id(cmd, optopt) : -1;

            if (known >= CTL_ID_COMMAND)
                snprintf(bad, sizeof bad, "--%s", cmd->options[known - CTL_ID_COMMAND].name);
            else if (known >= CTL_ID_GLOBAL)
                snprintf(bad, sizeof bad, "--%s", ctl_global_options[known - CTL_ID_GLOBAL].name);
            else if (optopt != 0)
                snprintf(bad, sizeof bad, "-%c", optopt);
            else /* an unknown long option: the word itself, without any =value */
                snprintf(bad, sizeof bad, "%.*s", (int)strcspn(argv[optind - 1], "="),
                         argv[optind - 1]);
            if (c == ':')
                return ctl_usage_error(cmd, "option %s needs a value", bad);
            if (known >= 0)
                return ctl_usage_error(cmd, "option %s takes no value", bad);
            if (bad[0] == '-' && bad[1] == '-') {
                const char *close = ctl_suggest_option(cmd, bad + 2);
                if (close != NULL)
                    return ctl_usage_error(cmd, "unknown option %s (did you mean --%s?)", bad,
                                           close);
            }
            return ctl_usage_error(cmd, "unknown option %s", bad);
        }
        id = ctl_option_id(cmd, c);
        if (id < 0)
            return ctl_usage_error(cmd, "unknown option");
        if (id >= CTL_ID_COMMAND) {
            const char **slot = &ctx->opt_values[id - CTL_ID_COMMAND];
            if (*slot != NULL && optarg != NULL && ctx->n_earlier < CTL_MAX_REPEATS) {
                ctx->opt_earlier_index[ctx->n_earlier] = id - CTL_ID_COMMAND;
                ctx->opt_earlier[ctx->n_earlier++] = *slot;
            } else if (*slot != NULL && optarg != NULL) {
                ctx->n_earlier = CTL_MAX_REPEATS; /* marks "too many" (ctl_option_values) */
            }
            *slot = optarg != NULL ? optarg : "1";
        }
        else
            gvals[id - CTL_ID_GLOBAL] = optarg != NULL ? optarg : "1";
    }
    return 0;
}

/* Finds NOUN [VERB]; *used gets the number of words consumed (1 or 2).
 * Returns NULL after printing a usage error or noun help (*rc set). */
static const ctl_command *ctl_find_command(int argc, char **argv, int help, int *used, int *rc)
{
    const char *noun = argv[0];
    int noun_known = 0;

    for (size_t i = 0; i < ctl_commands_count; i++) {
        const ctl_command *c = &ctl_commands[i];

        if (strcmp(c->noun, noun) != 0)
            continue;
        noun_known = 1;
        if (c->verb == NULL) {
            *used = 1;
            return c;
        }
        if (argc > 1 && strcmp(c->verb, argv[1]) == 0) {
            *used = 2;
            return c;
        }
    }
    if (!noun_known) {
        const char *close = ctl_suggest_noun(noun);
        if (close != NULL)
            *rc = ctl_usage_error(NULL, "unknown command \"%s\" (did you mean \"%s\"?)", noun,
                                  close);
        else
            *rc = ctl_usage_error(NULL, "unknown command \"%s\"", noun);
        return NULL;
    }
    /* A noun with verbs, without a known verb: its help, asked for or not. */
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
        help = 1;
    if (help || argc < 2) {
        ctl_help_noun(help ? stdout : stderr, noun);
        *rc = help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
        return NULL;
    }
    {
        const char *close = ctl_suggest_verb(noun, argv[1]);
        if (close != NULL)
            fprintf(stderr, CTL_PROG ": unknown command \"%s %s\" (did you mean \"%s %s\"?)\n",
                    noun, argv[1], noun, close);
        else
            fprintf(stderr, CTL_PROG ": unknown command \"%s %s\" (see '" CTL_PROG
                    " %s --help')\n", noun, argv[1], noun);
    }
    *rc = CTL_EXIT_USAGE;
    return NULL;
}

static ctl_config ctl_cfg; /* the config file's chosen context */

/* Where a global option's value comes from. */
enum { CTL_FROM_NONE, CTL_FROM_FLAG, CTL_FROM_ENV, CTL_FROM_CONFIG, CTL_FROM_DEFAULT };

static const char *ctl_resolve_from(const char **gvals, int i, int *from)
{
    const ctl_option *o = &ctl_global_options[i];
    const char *env;

    *from = CTL_FROM_FLAG;
    if (gvals[i] != NULL)
        return gvals[i];
    *from = CTL_FROM_ENV;
    if (o->env != NULL && (env = getenv(o->env)) != NULL && env[0] != '\0')
        return env;
    *from = CTL_FROM_CONFIG;
    if (ctl_cfg.values[i] != NULL && ctl_cfg.values[i][0] != '\0')
        return ctl_cfg.values[i];
    *from = o->def != NULL ? CTL_FROM_DEFAULT : CTL_FROM_NONE;
    return o->def;
}

static const char *ctl_resolve(const char **gvals, int i)
{
    int from;

    return ctl_resolve_from(gvals, i, &from);
}

static int ctl_config_true(const char *v)
{
    return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 ||
                         strcmp(v, "1") == 0 || strcmp(v, "on") == 0);
}

/* Reads a token file: one line of printable ASCII. The error never shows
 * the file's contents. */
static int ctl_read_token_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;
    size_t len = 0;

    if (fd < 0)
        return ctl_fail("cannot read the token file %s: %s", path, strerror(errno));
    while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = '\0';
    if (len + 1 >= cap) {
        explicit_bzero(buf, cap);
        return ctl_fail("the token file %s is too large to hold a token", path);
    }
    while (len > 0 && isspace((unsigned char)buf[len - 1]))
        buf[--len] = '\0';
    return CTL_EXIT_OK;
}

/* The bearer token: --token, --token-file, TALLINN_TOKEN, TALLINN_TOKEN_FILE,
 * then the context's token and token-file; none is no error (health needs
 * none; the server says UNAUTHENTICATED otherwise). */
static int ctl_load_token(const char **gvals, ctl_ctx *ctx)
{
    int from_tok, from_file, rc;
    const char *tok = ctl_resolve_from(gvals, CTL_G_TOKEN, &from_tok);
    const char *file = ctl_resolve_from(gvals, CTL_G_TOKEN_FILE, &from_file);
    char *buf;

    if (tok == NULL && file == NULL)
        return CTL_EXIT_OK;
    if ((buf = calloc(1, CTL_TOKEN_MAX + 1)) == NULL)
        return ctl_fail("out of memory");
    /* the closer source wins; at the same level, the token itself */
    if (tok != NULL && (file == NULL || from_tok <= from_file)) {
        if (strlen(tok) > CTL_TOKEN_MAX) {
            free(buf);
            return ctl_fail("the token is too long");
        }
        memcpy(buf, tok, strlen(tok) + 1);
    } else if ((rc = ctl_read_token_file(file, buf, CTL_TOKEN_MAX + 1)) != CTL_EXIT_OK) {
        free(buf);
        return rc;
    }
    for (const char *p = buf; *p != '\0'; p++) {
        if (*p <= ' ' || *p > '~') {
            explicit_bzero(buf, CTL_TOKEN_MAX + 1);
            free(buf);
            return ctl_fail("the token%s%s is not printable ASCII without spaces",
                            tok != NULL && (file == NULL || from_tok <= from_file) ? "" : " in ",
                            tok != NULL && (file == NULL || from_tok <= from_file) ? "" : file);
        }
    }
    if (buf[0] == '\0') {
        free(buf);
        return ctl_fail("the token file %s is empty", file != NULL ? file : "");
    }
    ctx->token = buf;
    if (asprintf(&ctx->auth_header, "Bearer %s", buf) < 0) {
        ctx->auth_header = NULL;
        return ctl_fail("out of memory");
    }
    ctx->auth_md.key = "authorization";
    ctx->auth_md.value = ctx->auth_header;
    ctx->auth_md.len = strlen(ctx->auth_header);
    return CTL_EXIT_OK;
}

static void ctl_wipe_token(ctl_ctx *ctx)
{
    if (ctx->token != NULL) {
        explicit_bzero(ctx->token, CTL_TOKEN_MAX + 1);
        free(ctx->token);
    }
    if (ctx->auth_header != NULL) {
        explicit_bzero(ctx->auth_header, strlen(ctx->auth_header));
        free(ctx->auth_header);
    }
    ctx->token = ctx->auth_header = NULL;
}

/* -o and --no-headers for the command. Returns 0 or an exit status. */
static int ctl_apply_output(const char **gvals, ctl_ctx *ctx)
{
    const ctl_command *cmd = ctx->cmd;
    const char *fmt = ctl_resolve(gvals, CTL_G_OUTPUT);
    char name[128];

    if (strcmp(fmt, "text") == 0)
        ctx->format = CTL_FORMAT_TEXT;
    else if (strcmp(fmt, "json") == 0)
        ctx->format = CTL_FORMAT_JSON;
    else if (strcmp(fmt, "name") == 0)
        ctx->format = CTL_FORMAT_NAME;
    else if (strcmp(fmt, "csv") == 0)
        ctx->format = CTL_FORMAT_CSV;
    else
        return ctl_usage_error(cmd, "-o wants text, json, name or csv, not \"%s\"", fmt);
    if (!(cmd->formats & ctx->format))
        return ctl_usage_error(cmd, "%s has no -o %s output", ctl_command_name(cmd, name,
                                                                               sizeof name), fmt);
    ctx->no_headers = gvals[CTL_G_NO_HEADERS] != NULL;
    if (ctx->no_headers && !(cmd->formats & CTL_FORMAT_CSV))
        return ctl_usage_error(cmd, "--no-headers: %s prints no table",
                               ctl_command_name(cmd, name, sizeof name));
    return 0;
}

/* Turns the raw connection options into the context. Returns 0 or an exit
 * status. */
static int ctl_apply_globals(const char **gvals, ctl_ctx *ctx)
{
    const ctl_command *cmd = ctx->cmd;

    ctx->addr = ctl_resolve(gvals, CTL_G_ADDR);
    ctx->verbose = gvals[CTL_G_VERBOSE] != NULL;
    /* --insecure, or the context's insecure = true unless TLS flags are given */
    ctx->insecure = gvals[CTL_G_INSECURE] != NULL ||
                    (ctl_config_true(ctl_cfg.values[CTL_G_INSECURE]) && gvals[CTL_G_CA] == NULL &&
                     gvals[CTL_G_CERT] == NULL && gvals[CTL_G_KEY] == NULL &&
                     gvals[CTL_G_SERVER_NAME] == NULL);
    if (ctx->insecure) {
        /* TLS files from the environment do not apply; given as flags they
         * contradict --insecure. */
        if (gvals[CTL_G_CA] != NULL || gvals[CTL_G_CERT] != NULL || gvals[CTL_G_KEY] != NULL ||
            gvals[CTL_G_SERVER_NAME] != NULL)
            return ctl_usage_error(cmd, "--insecure cannot be combined with --ca, --cert, --key "
                                        "or --server-name");
    } else {
        ctx->ca_file = ctl_resolve(gvals, CTL_G_CA);
        ctx->cert_file = ctl_resolve(gvals, CTL_G_CERT);
        ctx->key_file = ctl_resolve(gvals, CTL_G_KEY);
        ctx->server_name = ctl_resolve(gvals, CTL_G_SERVER_NAME);
        if ((ctx->cert_file == NULL) != (ctx->key_file == NULL))
            return ctl_usage_error(cmd, "--cert and --key go together (mutual TLS)");
    }
    if (ctx->addr == NULL || ctx->addr[0] == '\0')
        return ctl_usage_error(cmd, "--addr is empty");
    {
        char err[RPCC_ERROR_MAX];
        if (rpcc_target_check(ctx->addr, err, sizeof err) != 0)
            return ctl_usage_error(cmd, "--addr %s: %s", ctx->addr, err);
    }
    if (ctl_parse_duration(ctl_resolve(gvals, CTL_G_DEADLINE), &ctx->deadline_ms) != 0)
        return ctl_usage_error(cmd, "--deadline wants a positive duration such as 500ms, 10s "
                                    "or 2m, not \"%s\"", ctl_resolve(gvals, CTL_G_DEADLINE));
    return 0;
}

/* gRPC's own log lines (e.g. a failed TLS handshake) would repeat, noisily,
 * the cause tallinnctl reports in one line; GRPC_VERBOSITY brings them back. */
static void ctl_grpc_log_discard(gpr_log_func_args *args)
{
    (void)args;
}

int main(int argc, char **argv)
{
    const char *gvals[CTL_G_COUNT] = {0};
    const ctl_command *cmd;
    ctl_ctx ctx;
    int rc, used = 0, nargs, paged;
    char **args;

    memset(&ctx, 0, sizeof ctx);
    if (argc > 1 && strcmp(argv[1], "__complete") == 0) /* hidden: for the shell scripts */
        return ctl_complete_main(argc - 2, argv + 2);
    if (getenv("GRPC_VERBOSITY") == NULL)
        gpr_set_log_function(ctl_grpc_log_discard);
    /* Pass 1: global options up to the command word. */
    if ((rc = ctl_getopt(argc, argv, NULL, 1, gvals, &ctx)) != 0)
        return rc;
    if (gvals[CTL_G_VERSION] != NULL) { /* the client's alone; 'version' asks the server */
        ctl_print_client_version(stdout);
        return CTL_EXIT_OK;
    }
    if (optind >= argc) {
        if (gvals[CTL_G_HELP] != NULL) {
            ctl_help_global(stdout);
            return CTL_EXIT_OK;
        }
        return ctl_usage_error(NULL, "no command given");
    }
    cmd = ctl_find_command(argc - optind, argv + optind, gvals[CTL_G_HELP] != NULL, &used, &rc);
    if (cmd == NULL)
        return rc;
    ctx.cmd = cmd;

    /* Pass 2: everything after the command word, options in any order.
     * argv[optind + used - 1] (the command word) stands in for argv[0]. */
    args = argv + optind + used - 1;
    nargs = argc - optind - used + 1;
    if ((rc = ctl_getopt(nargs, args, cmd, 0, gvals, &ctx)) != 0)
        return rc;
    if (gvals[CTL_G_HELP] != NULL) {
        ctl_help_command(stdout, cmd);
        return CTL_EXIT_OK;
    }
    args += optind;
    nargs -= optind;
    if (nargs < cmd->min_args)
        return ctl_usage_error(cmd, "missing argument %s", cmd->args != NULL ? cmd->args : "");
    if (nargs > cmd->max_args)
        return ctl_usage_error(cmd, "unexpected argument \"%s\"", args[cmd->max_args]);
    memcpy(ctx.flags, gvals, sizeof ctx.flags);
    if ((rc = ctl_apply_output(gvals, &ctx)) != 0)
        return rc;
    if (!cmd->local) {
        if ((rc = ctl_config_load(&ctl_cfg, ctl_resolve(gvals, CTL_G_CONTEXT))) != 0)
            return rc;
        ctx.context_name = ctl_cfg.context;
        ctx.config_path = ctl_cfg.path;
        if ((rc = ctl_apply_globals(gvals, &ctx)) != 0 ||
            (rc = ctl_load_token(gvals, &ctx)) != 0)
            goto done;
    }
    {
        const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
        ctx.color = isatty(STDOUT_FILENO) && (nc == NULL || nc[0] == '\0') &&
                    (term == NULL || strcmp(term, "dumb") != 0);
    }
    paged = (cmd->formats & CTL_FORMAT_CSV) && gvals[CTL_G_NO_PAGER] == NULL &&
            ctl_pager_start(&ctx) == 0;

    rc = cmd->run(&ctx, nargs, args);
    rpcc_channel_destroy(ctx.channel);
    /* a pager quit early (q in less) is no error: the rest was not wanted */
    if (paged ? ctl_pager_finish() < 0 : fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, CTL_PROG ": cannot write the output: %s\n", strerror(errno));
        if (rc == CTL_EXIT_OK)
            rc = CTL_EXIT_FAILURE;
    }
done:
    ctl_wipe_token(&ctx);
    ctl_config_free(&ctl_cfg);
    return rc;
}
