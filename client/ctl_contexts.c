/* ctl_contexts.c — `config get-contexts | use-context | set-context`: the
 * config file's contexts listed (never a token's value), the default one
 * chosen, one created or changed from the connection options on the line.
 * The file is edited in place (cli_config_edit.c: comments and other
 * sections kept) and replaced atomically with mode 0600. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl.h"

#define CTL_CONFIG_TEXT_MAX (1u << 20)

/* The config file's path, or NULL after saying why there is none. */
static char *ctl_contexts_path(void)
{
    char *path = cli_cfg_path();

    if (path == NULL)
        ctl_fail("no config file: neither TALLINN_CONFIG nor HOME is set");
    return path;
}

/* The context --context or TALLINN_CONTEXT names, else the file's default. */
static const char *ctl_current(const ctl_ctx *ctx, const cli_cfg *c)
{
    const char *env = getenv("TALLINN_CONTEXT");

    if (ctx->flags[CTL_G_CONTEXT] != NULL)
        return ctx->flags[CTL_G_CONTEXT];
    if (env != NULL && env[0] != '\0')
        return env;
    return c->default_context;
}

/* ---- get-contexts ---- */

static void ctl_context_cells(const cli_cfg_context *s, char creds[PATH_MAX + 32],
                              char tls[PATH_MAX + 32])
{
    const char *const *v = (const char *const *)s->values;

    if (v[CLI_CFG_TOKEN] != NULL)
        snprintf(creds, PATH_MAX + 32, "token (in the file)");
    else if (v[CLI_CFG_TOKEN_FILE] != NULL)
        snprintf(creds, PATH_MAX + 32, "token-file %s", v[CLI_CFG_TOKEN_FILE]);
    else if (v[CLI_CFG_CERT] != NULL)
        snprintf(creds, PATH_MAX + 32, "certificate %s", v[CLI_CFG_CERT]);
    else
        creds[0] = '\0';
    if (cli_cfg_true(v[CLI_CFG_INSECURE]))
        snprintf(tls, PATH_MAX + 32, "none (insecure)");
    else if (v[CLI_CFG_CA] != NULL)
        snprintf(tls, PATH_MAX + 32, "ca %s", v[CLI_CFG_CA]);
    else
        snprintf(tls, PATH_MAX + 32, "system roots");
}

static void ctl_context_json(const cli_cfg_context *s, int current)
{
    json_t *j = json_object();
    char *text;

    json_object_set_new(j, "name", json_string(s->name));
    json_object_set_new(j, "current", json_boolean(current));
    for (int k = 0; k < CLI_CFG_NKEYS; k++) {
        if (s->values[k] == NULL)
            continue;
        /* a token is a secret: say only that one is there */
        json_object_set_new(j, cli_cfg_key_names[k],
                            json_string(k == CLI_CFG_TOKEN ? "(set)" : s->values[k]));
    }
    if ((text = json_dumps(j, JSON_COMPACT)) != NULL)
        puts(text);
    free(text);
    json_decref(j);
}

int ctl_run_get_contexts(ctl_ctx *ctx, int argc, char **argv)
{
    static const ctl_column cols[] = {
        {"CURRENT", NULL, 0},     {"NAME", NULL, 0}, {"ADDR", NULL, 0},
        {"CREDENTIALS", NULL, 0}, {"TLS", NULL, 0},  {NULL, NULL, 0},
    };
    char err[512], creds[PATH_MAX + 32], tls[PATH_MAX + 32];
    char *path = ctl_contexts_path();
    const char *current;
    ctl_table *t = NULL;
    cli_cfg c;
    int rc;

    (void)argc;
    (void)argv;
    if (path == NULL)
        return CTL_EXIT_USAGE;
    if ((rc = cli_cfg_read(path, &c, err, sizeof err)) == -ENOENT) {
        if (ctx->format == CTL_FORMAT_TEXT)
            fprintf(stderr, "No contexts: there is no config file %s; create one with '" CTL_PROG
                    " config set-context NAME --addr HOST:PORT'.\n", path);
        if (ctx->format == CTL_FORMAT_CSV) { /* the header row, as for any empty table */
            t = ctl_table_create(ctx, cols);
            ctl_table_flush(t);
            ctl_table_destroy(t);
        }
        free(path);
        return CTL_EXIT_OK;
    }
    if (rc != 0) {
        free(path);
        ctl_fail("%s", err);
        return CTL_EXIT_USAGE;
    }
    current = ctl_current(ctx, &c);
    if ((ctx->format == CTL_FORMAT_TEXT || ctx->format == CTL_FORMAT_CSV) &&
        (t = ctl_table_create(ctx, cols)) == NULL) {
        cli_cfg_free(&c);
        free(path);
        return ctl_fail("out of memory");
    }
    for (size_t i = 0; i < c.n; i++) {
        const cli_cfg_context *s = &c.contexts[i];
        int is_current = current != NULL && strcmp(current, s->name) == 0;

        if (ctx->format == CTL_FORMAT_NAME) {
            puts(s->name);
        } else if (ctx->format == CTL_FORMAT_JSON) {
            ctl_context_json(s, is_current);
        } else {
            const char *cells[5];
            ctl_context_cells(s, creds, tls);
            cells[0] = is_current ? "*" : "";
            cells[1] = s->name;
            cells[2] = s->values[CLI_CFG_ADDR] != NULL ? s->values[CLI_CFG_ADDR]
                                                       : CTL_DEFAULT_ADDR " (default)";
            cells[3] = creds;
            cells[4] = tls;
            ctl_table_add_cells(t, cells);
        }
    }
    ctl_table_flush(t);
    ctl_table_destroy(t);
    if (c.n == 0 && ctx->format == CTL_FORMAT_TEXT)
        fprintf(stderr, "No contexts in %s.\n", path);
    else if (current != NULL && cli_cfg_find(&c, current) == NULL)
        fprintf(stderr, CTL_PROG ": the current context \"%s\" is not in %s\n", current, path);
    cli_cfg_free(&c);
    free(path);
    return CTL_EXIT_OK;
}

/* ---- use-context ---- */

/* Reads the whole file into *text (caller frees). 0, -ENOENT, or an exit
 * status after saying why. */
static int ctl_read_text(const char *path, char **text)
{
    FILE *f = fopen(path, "r");
    size_t n;

    *text = NULL;
    if (f == NULL) {
        if (errno == ENOENT)
            return -ENOENT;
        return ctl_fail("cannot read %s: %s", path, strerror(errno));
    }
    if ((*text = malloc(CTL_CONFIG_TEXT_MAX + 1)) == NULL) {
        fclose(f);
        return ctl_fail("out of memory");
    }
    n = fread(*text, 1, CTL_CONFIG_TEXT_MAX + 1, f);
    fclose(f);
    if (n > CTL_CONFIG_TEXT_MAX) {
        free(*text);
        *text = NULL;
        return ctl_fail("%s is larger than a config file may be (%u bytes)", path,
                        CTL_CONFIG_TEXT_MAX);
    }
    (*text)[n] = '\0';
    return 0;
}

static void ctl_free_text(char *text)
{
    if (text != NULL)
        explicit_bzero(text, strlen(text)); /* it may hold tokens */
    free(text);
}

int ctl_run_use_context(ctl_ctx *ctx, int argc, char **argv)
{
    const char *name = argv[0];
    char *path = ctl_contexts_path(), *text = NULL, *out = NULL, err[512];
    const cli_cfg_context *s;
    cli_cfg c;
    int rc;

    (void)argc;
    if (path == NULL)
        return CTL_EXIT_USAGE;
    if ((rc = ctl_read_text(path, &text)) != 0) {
        if (rc == -ENOENT)
            rc = ctl_usage_error(ctx->cmd, "no context \"%s\": there is no config file %s (create "
                                 "one with '" CTL_PROG " config set-context %s --addr HOST:PORT')",
                                 name, path, name);
        goto done;
    }
    if (cli_cfg_parse(path, text, &c, err, sizeof err) != 0) {
        ctl_fail("%s", err);
        rc = CTL_EXIT_USAGE;
        goto done;
    }
    if ((s = cli_cfg_find(&c, name)) == NULL) {
        const char *names[CLI_CFG_MAX_CONTEXTS], *close;
        for (size_t i = 0; i < c.n; i++)
            names[i] = c.contexts[i].name;
        close = cli_suggest(name, names, c.n);
        rc = ctl_usage_error(ctx->cmd, "no context \"%s\" in %s%s%s%s", name, path,
                             close != NULL ? " (did you mean \"" : "", close != NULL ? close : "",
                             close != NULL ? "\"?)" : "");
        cli_cfg_free(&c);
        goto done;
    }
    if (cli_cfg_edit_default(text, name, &out, err, sizeof err) != 0 ||
        cli_cfg_write(path, out, err, sizeof err) != 0) {
        rc = ctl_fail("%s", err);
        cli_cfg_free(&c);
        goto done;
    }
    printf("Switched to context \"%s\" (%s) in %s.\n", name,
           s->values[CLI_CFG_ADDR] != NULL ? s->values[CLI_CFG_ADDR] : CTL_DEFAULT_ADDR, path);
    cli_cfg_free(&c);
    rc = CTL_EXIT_OK;
done:
    ctl_free_text(text);
    ctl_free_text(out);
    free(path);
    return rc;
}

/* ---- set-context ---- */

/* A path given on the line as an absolute one: the config file reads
 * relative paths as relative to itself, not to where this runs. */
static char *ctl_abs_from_cwd(const char *p)
{
    char cwd[PATH_MAX], *out;

    if (p[0] == '/' || getcwd(cwd, sizeof cwd) == NULL)
        return strdup(p);
    if (asprintf(&out, "%s/%s", cwd, p) < 0)
        return NULL;
    return out;
}

/* The settings set-context writes: the connection options on the line
 * (paths made absolute), checked, and the ones they replace in *unset.
 * Returns 0 or an exit status after saying why. */
static int ctl_context_settings(ctl_ctx *ctx, const char *set[CLI_CFG_NKEYS],
                                char *owned[CLI_CFG_NKEYS], unsigned *unset)
{
    char err[RPCC_ERROR_MAX];
    int given = 0;
    int64_t ms;

    for (int k = 0; k < CLI_CFG_NKEYS; k++) {
        int g = ctl_config_option((cli_cfg_key)k);
        const char *v = g >= 0 ? ctx->flags[g] : NULL;

        if (v == NULL)
            continue;
        given = 1;
        if (k == CLI_CFG_INSECURE) {
            v = "true";
        } else if (k == CLI_CFG_TOKEN_FILE || k == CLI_CFG_CA || k == CLI_CFG_CERT ||
                   k == CLI_CFG_KEY) {
            if ((owned[k] = ctl_abs_from_cwd(v)) == NULL)
                return ctl_fail("out of memory");
            if (access(owned[k], R_OK) != 0)
                fprintf(stderr, CTL_PROG ": note: --%s %s cannot be read now (%s)\n",
                        cli_cfg_key_names[k], owned[k], strerror(errno));
            v = owned[k];
        }
        set[k] = v;
    }
    if (!given)
        return ctl_usage_error(ctx->cmd, "nothing to set: give --addr, --token-file, --insecure, "
                               "--ca, --cert, --key, --server-name, --deadline or --token");
    if (set[CLI_CFG_INSECURE] != NULL && (set[CLI_CFG_CA] || set[CLI_CFG_CERT] ||
                                          set[CLI_CFG_KEY] || set[CLI_CFG_SERVER_NAME]))
        return ctl_usage_error(ctx->cmd, "--insecure cannot be combined with --ca, --cert, --key "
                               "or --server-name");
    if (set[CLI_CFG_ADDR] != NULL && rpcc_target_check(set[CLI_CFG_ADDR], err, sizeof err) != 0)
        return ctl_usage_error(ctx->cmd, "--addr %s: %s", set[CLI_CFG_ADDR], err);
    if (set[CLI_CFG_DEADLINE] != NULL && ctl_parse_duration(set[CLI_CFG_DEADLINE], &ms) != 0)
        return ctl_usage_error(ctx->cmd, "--deadline wants a positive duration such as 500ms, "
                               "10s or 2m, not \"%s\"", set[CLI_CFG_DEADLINE]);
    /* One way to connect and one credential: what is given replaces what
     * would contradict it. */
    *unset = 0;
    if (set[CLI_CFG_INSECURE] != NULL)
        *unset |= 1u << CLI_CFG_CA | 1u << CLI_CFG_CERT | 1u << CLI_CFG_KEY |
                  1u << CLI_CFG_SERVER_NAME;
    if (set[CLI_CFG_CA] || set[CLI_CFG_CERT] || set[CLI_CFG_KEY] || set[CLI_CFG_SERVER_NAME])
        *unset |= 1u << CLI_CFG_INSECURE;
    if (set[CLI_CFG_TOKEN] != NULL)
        *unset |= 1u << CLI_CFG_TOKEN_FILE;
    if (set[CLI_CFG_TOKEN_FILE] != NULL)
        *unset |= 1u << CLI_CFG_TOKEN;
    return 0;
}

/* Whether text (the file after the edit) leaves [name] with a --cert but no
 * --key or the other way round. */
static int ctl_context_half_mtls(const char *path, const char *text, const char *name)
{
    char err[512];
    cli_cfg c;
    int half = 0;

    if (cli_cfg_parse(path, text, &c, err, sizeof err) == 0) {
        const cli_cfg_context *s = cli_cfg_find(&c, name);
        half = s != NULL && (s->values[CLI_CFG_CERT] == NULL) != (s->values[CLI_CFG_KEY] == NULL);
        cli_cfg_free(&c);
    }
    return half;
}

int ctl_run_set_context(ctl_ctx *ctx, int argc, char **argv)
{
    const char *name = argv[0], *set[CLI_CFG_NKEYS] = {0};
    char *owned[CLI_CFG_NKEYS] = {0}, *path = ctl_contexts_path(), *text = NULL, *out = NULL;
    char err[512];
    unsigned unset = 0;
    int rc, created;
    cli_cfg c;

    (void)argc;
    if (path == NULL)
        return CTL_EXIT_USAGE;
    if ((rc = ctl_context_settings(ctx, set, owned, &unset)) != 0)
        goto done;
    if ((rc = ctl_read_text(path, &text)) == -ENOENT) {
        if ((text = strdup("")) == NULL) {
            rc = ctl_fail("out of memory");
            goto done;
        }
    } else if (rc != 0) {
        goto done;
    }
    if (cli_cfg_parse(path, text, &c, err, sizeof err) != 0) {
        ctl_fail("%s", err);
        rc = CTL_EXIT_USAGE;
        goto done;
    }
    created = cli_cfg_find(&c, name) == NULL;
    cli_cfg_free(&c);
    if (created && set[CLI_CFG_ADDR] == NULL) {
        rc = ctl_usage_error(ctx->cmd, "a new context needs --addr");
        goto done;
    }
    if (cli_cfg_edit_set(text, name, set, unset, &out, err, sizeof err) != 0) {
        rc = ctl_usage_error(ctx->cmd, "%s", err);
        goto done;
    }
    if (ctl_context_half_mtls(path, out, name)) {
        rc = ctl_usage_error(ctx->cmd, "--cert and --key go together (mutual TLS): give both");
        goto done;
    }
    if (cli_cfg_write(path, out, err, sizeof err) != 0) {
        rc = ctl_fail("%s", err);
        goto done;
    }
    if (created)
        printf("Context \"%s\" created in %s; use it with --context %s, or make it the default "
               "with '" CTL_PROG " config use-context %s'.\n", name, path, name, name);
    else
        printf("Context \"%s\" changed in %s.\n", name, path);
    rc = CTL_EXIT_OK;
done:
    for (int k = 0; k < CLI_CFG_NKEYS; k++)
        free(owned[k]);
    ctl_free_text(text);
    ctl_free_text(out);
    free(path);
    return rc;
}
