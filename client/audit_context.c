/* audit_context.c — tallinn-audit's server settings from where tallinnctl
 * takes them: options first, then the environment (TALLINN_ADDR,
 * TALLINN_CA, TALLINN_CERT, TALLINN_KEY), then a context of the same config
 * file (--context, TALLINN_CONTEXT, else the file's `context =`; read by
 * cli_config.c). No network here: it only decides what audit_net.c uses. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_cmds.h"
#include "tallinn/rpc_client.h"

/* What the context holds, for the life of the process (audit_conn_opts
 * borrows from it). */
static cli_cfg audit_cfg;
static char *audit_cfg_paths[CLI_CFG_NKEYS];

static const char *audit_env(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Loads the context; NULL when there is none to use (no file, or a file
 * without a default and none asked for). *failed after a usage error. */
static const cli_cfg_context *audit_context(const audit_conn_opts *o, const char *cmd,
                                            int *failed)
{
    const char *want = o->context != NULL ? o->context : audit_env("TALLINN_CONTEXT");
    const char *named = audit_env("TALLINN_CONFIG");
    const cli_cfg_context *s;
    char err[512], *path = cli_cfg_path();
    int rc;

    *failed = 0;
    if (path == NULL) {
        if (want != NULL) {
            fprintf(stderr, AUDIT_PROG " %s: no context \"%s\": there is no config file\n", cmd,
                    want);
            *failed = 1;
        }
        return NULL;
    }
    rc = cli_cfg_read(path, &audit_cfg, err, sizeof err);
    if (rc == -ENOENT && named == NULL && want == NULL) {
        free(path);
        return NULL; /* no config file: options and environment only */
    }
    if (rc != 0) {
        if (rc == -ENOENT && named != NULL)
            fprintf(stderr, AUDIT_PROG " %s: TALLINN_CONFIG names %s, which cannot be read: %s\n",
                    cmd, named, strerror(ENOENT));
        else if (rc == -ENOENT)
            fprintf(stderr, AUDIT_PROG " %s: no context \"%s\": there is no config file (%s)\n",
                    cmd, want, path);
        else
            fprintf(stderr, AUDIT_PROG " %s: %s\n", cmd, err);
        free(path);
        *failed = 1;
        return NULL;
    }
    free(path);
    if (want == NULL)
        want = audit_cfg.default_context;
    if (want == NULL)
        return NULL;
    if ((s = cli_cfg_find(&audit_cfg, want)) == NULL) {
        const char *names[CLI_CFG_MAX_CONTEXTS], *close;
        for (size_t i = 0; i < audit_cfg.n; i++)
            names[i] = audit_cfg.contexts[i].name;
        close = cli_suggest(want, names, audit_cfg.n);
        fprintf(stderr, AUDIT_PROG " %s: no context \"%s\" in %s%s%s%s\n", cmd, want,
                audit_cfg.path, close ? " (did you mean \"" : "", close ? close : "",
                close ? "\"?)" : "");
        *failed = 1;
        return NULL;
    }
    return s;
}

/* A path setting of the context, absolute (relative ones are relative to
 * the config file). */
static const char *audit_cfg_path_value(const cli_cfg_context *s, cli_cfg_key k)
{
    if (s == NULL || s->values[k] == NULL)
        return NULL;
    if (audit_cfg_paths[k] == NULL)
        audit_cfg_paths[k] = cli_cfg_abs_path(audit_cfg.path, s->values[k]);
    return audit_cfg_paths[k];
}

int audit_conn_settle(audit_conn_opts *o, const char *cmd, int offline)
{
    const cli_cfg_context *s;
    char err[RPCC_ERROR_MAX];
    int failed, tls_given;

    if (offline) {
        if (o->server != NULL || o->context != NULL) {
            fprintf(stderr, AUDIT_PROG " %s: a directory and %s: give one\n", cmd,
                    o->server != NULL ? "--server" : "--context");
            return -1;
        }
        return 0;
    }
    tls_given = o->ca_file != NULL || o->cert_file != NULL || o->cert_key != NULL ||
                o->server_name != NULL;
    if (o->server == NULL)
        o->server = audit_env("TALLINN_ADDR");
    if (o->ca_file == NULL)
        o->ca_file = audit_env("TALLINN_CA");
    if (o->cert_file == NULL)
        o->cert_file = audit_env("TALLINN_CERT");
    if (o->cert_key == NULL)
        o->cert_key = audit_env("TALLINN_KEY");
    s = audit_context(o, cmd, &failed);
    if (failed)
        return -1;
    if (s != NULL) {
        if (o->server == NULL)
            o->server = s->values[CLI_CFG_ADDR];
        if (!o->insecure && !tls_given && cli_cfg_true(s->values[CLI_CFG_INSECURE]))
            o->insecure = 1;
        if (!o->insecure) {
            if (o->ca_file == NULL)
                o->ca_file = audit_cfg_path_value(s, CLI_CFG_CA);
            if (o->cert_file == NULL)
                o->cert_file = audit_cfg_path_value(s, CLI_CFG_CERT);
            if (o->cert_key == NULL)
                o->cert_key = audit_cfg_path_value(s, CLI_CFG_KEY);
            if (o->server_name == NULL)
                o->server_name = s->values[CLI_CFG_SERVER_NAME];
        }
        o->cfg_token = s->values[CLI_CFG_TOKEN];
        o->cfg_token_file = audit_cfg_path_value(s, CLI_CFG_TOKEN_FILE);
    }
    if (o->server == NULL)
        return 0;
    if (o->insecure) { /* TLS settings from the environment do not apply */
        o->ca_file = o->cert_file = o->cert_key = NULL;
        o->server_name = NULL;
    }
    if ((o->cert_file == NULL) != (o->cert_key == NULL)) {
        fprintf(stderr, AUDIT_PROG " %s: --cert and --cert-key go together (mutual TLS)\n", cmd);
        return -1;
    }
    if (rpcc_target_check(o->server, err, sizeof err) != 0) {
        fprintf(stderr, AUDIT_PROG " %s: --server %s: %s\n", cmd, o->server, err);
        return -1;
    }
    return 1;
}
