/* ctl_config.c — tallinnctl's config file ($TALLINN_CONFIG, else the XDG
 * path): INI (parsed with inih) with a default `context = NAME` before any
 * section and one section per context holding the same settings as the
 * global options (addr, insecure, token-file, token, ca, cert, key,
 * server-name, deadline). */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"

#define CTL_CONFIG_MAX_CONTEXTS 64

typedef struct ctl_config_section {
    char *name;
    char *values[CTL_G_COUNT];
} ctl_config_section;

typedef struct ctl_config_parse {
    ctl_config_section sections[CTL_CONFIG_MAX_CONTEXTS];
    size_t n;
    char *default_context;
    char bad[160]; /* why a line was refused */
} ctl_config_parse;

/* Settings a context may hold: global options that make sense per server. */
static int ctl_config_key(const char *name)
{
    static const int allowed[] = {CTL_G_ADDR,   CTL_G_INSECURE,    CTL_G_TOKEN_FILE,
                                  CTL_G_TOKEN,  CTL_G_CA,          CTL_G_CERT,
                                  CTL_G_KEY,    CTL_G_SERVER_NAME, CTL_G_DEADLINE};

    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (strcmp(ctl_global_options[allowed[i]].name, name) == 0)
            return allowed[i];
    return -1;
}

/* inih keeps "value   # comment" whole ('#' starts only full-line comments
 * in its default build); cut such a trailing comment. */
static char *ctl_config_value(const char *v)
{
    size_t n = 0;
    char *out;

    for (const char *p = v; *p != '\0'; p++, n++)
        if (*p == '#' && p > v && (p[-1] == ' ' || p[-1] == '\t'))
            break;
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    out = strndup(v, n);
    return out;
}

static int ctl_config_handler(void *user, const char *section, const char *name,
                              const char *value)
{
    ctl_config_parse *p = user;
    ctl_config_section *s = NULL;
    int key;

    if (section[0] == '\0') {
        if (strcmp(name, "context") != 0) {
            snprintf(p->bad, sizeof p->bad, "\"%s\" before any [context] section (only "
                     "\"context\" may be there)", name);
            return 0;
        }
        free(p->default_context);
        p->default_context = ctl_config_value(value);
        return p->default_context != NULL;
    }
    if ((key = ctl_config_key(name)) < 0) {
        snprintf(p->bad, sizeof p->bad, "unknown setting \"%s\" in [%s] (known: addr, insecure, "
                 "token-file, token, ca, cert, key, server-name, deadline)", name, section);
        return 0;
    }
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->sections[i].name, section) == 0)
            s = &p->sections[i];
    if (s == NULL) {
        if (p->n == CTL_CONFIG_MAX_CONTEXTS) {
            snprintf(p->bad, sizeof p->bad, "more than %d contexts", CTL_CONFIG_MAX_CONTEXTS);
            return 0;
        }
        s = &p->sections[p->n++];
        if ((s->name = strdup(section)) == NULL)
            return 0;
    }
    free(s->values[key]);
    s->values[key] = ctl_config_value(value);
    return s->values[key] != NULL;
}

static void ctl_config_parse_free(ctl_config_parse *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->sections[i].name);
        for (int k = 0; k < CTL_G_COUNT; k++) {
            if (p->sections[i].values[k] != NULL) /* tokens of other contexts too */
                explicit_bzero(p->sections[i].values[k], strlen(p->sections[i].values[k]));
            free(p->sections[i].values[k]);
        }
    }
    free(p->default_context);
}

char *ctl_config_path(void)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    const char *file = getenv("TALLINN_CONFIG");
    char buf[4096];

    if (file != NULL && file[0] != '\0')
        return strdup(file);
    if (xdg != NULL && xdg[0] == '/')
        snprintf(buf, sizeof buf, "%s/tallinn/config", xdg);
    else if (home != NULL && home[0] != '\0')
        snprintf(buf, sizeof buf, "%s/.config/tallinn/config", home);
    else
        return NULL;
    return strdup(buf);
}

/* A relative token-file, ca, cert or key is relative to the config file. */
static char *ctl_config_abs(const char *cfg_path, char *value)
{
    const char *slash = strrchr(cfg_path, '/');
    char *out;

    if (value == NULL || value[0] == '/' || value[0] == '\0' || slash == NULL)
        return value;
    if (asprintf(&out, "%.*s/%s", (int)(slash - cfg_path), cfg_path, value) < 0)
        return value;
    free(value);
    return out;
}

int ctl_config_load(ctl_config *cfg, const char *want)
{
    ctl_config_parse *p;
    ctl_config_section *s = NULL;
    struct stat st;
    int rc = CTL_EXIT_OK, line;

    memset(cfg, 0, sizeof *cfg);
    if ((cfg->path = ctl_config_path()) == NULL || stat(cfg->path, &st) != 0) {
        const char *named = getenv("TALLINN_CONFIG");

        if (named != NULL && named[0] != '\0') { /* asked for by name: never ignored */
            ctl_fail("TALLINN_CONFIG names %s, which cannot be read: %s", named,
                     strerror(errno));
            rc = CTL_EXIT_USAGE;
        } else if (want != NULL) {
            ctl_fail("no context \"%s\": there is no config file (%s)", want,
                     cfg->path != NULL ? cfg->path : "$XDG_CONFIG_HOME/tallinn/config");
            rc = CTL_EXIT_USAGE;
        }
        free(cfg->path);
        cfg->path = NULL;
        return rc;
    }
    if ((p = calloc(1, sizeof *p)) == NULL)
        return ctl_fail("out of memory");
    line = ini_parse(cfg->path, ctl_config_handler, p);
    if (line != 0) {
        if (line < 0)
            ctl_fail("cannot read the config file %s: %s", cfg->path, strerror(errno));
        else
            ctl_fail("%s, line %d: %s", cfg->path, line, p->bad[0] ? p->bad : "not INI");
        rc = CTL_EXIT_USAGE;
        goto cleanup;
    }
    if (want == NULL)
        want = p->default_context;
    if (want == NULL || want[0] == '\0')
        goto cleanup; /* a file without a default context: flags and environment only */
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->sections[i].name, want) == 0)
            s = &p->sections[i];
    if (s == NULL) {
        char known[256] = "";
        for (size_t i = 0; i < p->n; i++) {
            strncat(known, i > 0 ? ", " : "", sizeof known - strlen(known) - 1);
            strncat(known, p->sections[i].name, sizeof known - strlen(known) - 1);
        }
        ctl_fail("no context \"%s\" in %s (contexts: %s)", want, cfg->path,
                 known[0] ? known : "none");
        rc = CTL_EXIT_USAGE;
        goto cleanup;
    }
    if ((cfg->context = strdup(want)) == NULL) {
        rc = ctl_fail("out of memory");
        goto cleanup;
    }
    for (int k = 0; k < CTL_G_COUNT; k++) {
        cfg->values[k] = s->values[k];
        s->values[k] = NULL;
    }
    cfg->values[CTL_G_TOKEN_FILE] = ctl_config_abs(cfg->path, cfg->values[CTL_G_TOKEN_FILE]);
    cfg->values[CTL_G_CA] = ctl_config_abs(cfg->path, cfg->values[CTL_G_CA]);
    cfg->values[CTL_G_CERT] = ctl_config_abs(cfg->path, cfg->values[CTL_G_CERT]);
    cfg->values[CTL_G_KEY] = ctl_config_abs(cfg->path, cfg->values[CTL_G_KEY]);
cleanup:
    ctl_config_parse_free(p);
    free(p);
    return rc;
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
