/* ctl_config.c — the context tallinnctl takes its settings from: the config
 * file (read by cli_config.c, shared with tallinn-audit) and the context
 * named by --context, TALLINN_CONTEXT or the file's `context =`, its
 * settings mapped onto the global options of the same names. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

int ctl_config_option(cli_cfg_key key)
{
    for (int g = 0; g < CTL_G_COUNT; g++)
        if (strcmp(ctl_global_options[g].name, cli_cfg_key_names[key]) == 0)
            return g;
    return -1; /* every setting is a global option: a table error */
}

/* "local, local-admin, ..." into buf. */
static void ctl_config_names(const cli_cfg *c, char *buf, size_t len)
{
    buf[0] = '\0';
    for (size_t i = 0; i < c->n; i++) {
        strncat(buf, i > 0 ? ", " : "", len - strlen(buf) - 1);
        strncat(buf, c->contexts[i].name, len - strlen(buf) - 1);
    }
    if (buf[0] == '\0')
        snprintf(buf, len, "none");
}

int ctl_config_load(ctl_config *cfg, const char *want)
{
    const char *named = getenv("TALLINN_CONFIG");
    const cli_cfg_context *s;
    cli_cfg c;
    char err[512];
    int rc;

    memset(cfg, 0, sizeof *cfg);
    if ((cfg->path = cli_cfg_path()) == NULL) {
        if (want != NULL) {
            ctl_fail("no context \"%s\": there is no config file (set HOME or "
                     "TALLINN_CONFIG)", want);
            return CTL_EXIT_USAGE;
        }
        return CTL_EXIT_OK;
    }
    if ((rc = cli_cfg_read(cfg->path, &c, err, sizeof err)) == -ENOENT) {
        if (named != NULL && named[0] != '\0') { /* asked for by name: never ignored */
            ctl_fail("TALLINN_CONFIG names %s, which cannot be read: %s", named, strerror(ENOENT));
            rc = CTL_EXIT_USAGE;
        } else if (want != NULL) {
            ctl_fail("no context \"%s\": there is no config file (%s); create one with "
                     "'" CTL_PROG " config set-context %s --addr HOST:PORT'", want, cfg->path,
                     want);
            rc = CTL_EXIT_USAGE;
        } else {
            rc = CTL_EXIT_OK;
        }
        free(cfg->path);
        cfg->path = NULL;
        return rc;
    }
    if (rc != 0) {
        ctl_fail("%s", err);
        free(cfg->path);
        cfg->path = NULL;
        return CTL_EXIT_USAGE;
    }
    if (want == NULL)
        want = c.default_context;
    if (want == NULL || want[0] == '\0') {
        cli_cfg_free(&c); /* a file without a default context: flags and environment only */
        return CTL_EXIT_OK;
    }
    if ((s = cli_cfg_find(&c, want)) == NULL) {
        const char *names[CLI_CFG_MAX_CONTEXTS], *close;
        char known[512];

        for (size_t i = 0; i < c.n; i++)
            names[i] = c.contexts[i].name;
        close = cli_suggest(want, names, c.n);
        ctl_config_names(&c, known, sizeof known);
        ctl_fail("no context \"%s\" in %s%s%s%s (contexts: %s)", want, cfg->path,
                 close != NULL ? "; did you mean \"" : "", close != NULL ? close : "",
                 close != NULL ? "\"?" : "", known);
        cli_cfg_free(&c);
        return CTL_EXIT_USAGE;
    }
    if ((cfg->context = strdup(want)) == NULL) {
        cli_cfg_free(&c);
        return ctl_fail("out of memory");
    }
    for (int k = 0; k < CLI_CFG_NKEYS; k++) {
        int g = ctl_config_option((cli_cfg_key)k);

        if (g < 0 || s->values[k] == NULL)
            continue;
        if (k == CLI_CFG_TOKEN_FILE || k == CLI_CFG_CA || k == CLI_CFG_CERT || k == CLI_CFG_KEY)
            cfg->values[g] = cli_cfg_abs_path(cfg->path, s->values[k]);
        else
            cfg->values[g] = strdup(s->values[k]);
    }
    cli_cfg_free(&c);
    return CTL_EXIT_OK;
}

void ctl_config_free(ctl_config *cfg)
{
    free(cfg->path);
    free(cfg->context);
    for (int k = 0; k < CTL_G_COUNT; k++) {
        if (k == CTL_G_TOKEN && cfg->values[k] != NULL)
            explicit_bzero(cfg->values[k], strlen(cfg->values[k]));
        free(cfg->values[k]);
    }
    memset(cfg, 0, sizeof *cfg);
}
