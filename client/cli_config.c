/* cli_config.c — the config file tallinnctl and tallinn-audit share
 * ($TALLINN_CONFIG, else the XDG path): INI parsed with inih, a default
 * `context = NAME` before any section and one section per context holding
 * the connection settings (addr, insecure, token-file, token, ca, cert,
 * key, server-name, deadline). Editing it is cli_config_edit.c's job. */
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define CLI_CFG_FILE_MAX (1u << 20)

const char *const cli_cfg_key_names[CLI_CFG_NKEYS] = {
    [CLI_CFG_ADDR] = "addr",       [CLI_CFG_INSECURE] = "insecure",
    [CLI_CFG_TOKEN_FILE] = "token-file", [CLI_CFG_TOKEN] = "token",
    [CLI_CFG_CA] = "ca",           [CLI_CFG_CERT] = "cert",
    [CLI_CFG_KEY] = "key",         [CLI_CFG_SERVER_NAME] = "server-name",
    [CLI_CFG_DEADLINE] = "deadline",
};

typedef struct cli_cfg_parser {
    cli_cfg *cfg;
    char bad[200]; /* why a line was refused */
} cli_cfg_parser;

char *cli_cfg_path(void)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    const char *file = getenv("TALLINN_CONFIG");
    char *out = NULL;

    if (file != NULL && file[0] != '\0')
        return strdup(file);
    if (xdg != NULL && xdg[0] == '/') {
        if (asprintf(&out, "%s/tallinn/config", xdg) < 0)
            out = NULL;
    } else if (home != NULL && home[0] != '\0') {
        if (asprintf(&out, "%s/.config/tallinn/config", home) < 0)
            out = NULL;
    }
    return out;
}

/* inih keeps "value   # comment" whole ('#' starts only full-line comments
 * in its default build; ';' after a space is cut by inih itself): cut such
 * a trailing comment. */
static char *cli_cfg_value(const char *v)
{
    size_t n = 0;

    for (const char *p = v; *p != '\0'; p++, n++)
        if (*p == '#' && p > v && (p[-1] == ' ' || p[-1] == '\t'))
            break;
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    return strndup(v, n);
}

static int cli_cfg_key_of(const char *name)
{
    for (int k = 0; k < CLI_CFG_NKEYS; k++)
        if (strcmp(cli_cfg_key_names[k], name) == 0)
            return k;
    return -1;
}

static int cli_cfg_handler(void *user, const char *section, const char *name, const char *value)
{
    cli_cfg_parser *p = user;
    cli_cfg *c = p->cfg;
    cli_cfg_context *ctx = NULL;
    int key;

    if (section[0] == '\0') {
        if (strcmp(name, "context") != 0) {
            snprintf(p->bad, sizeof p->bad, "\"%s\" before any [context] section (only "
                     "\"context\" may be there)", name);
            return 0;
        }
        free(c->default_context);
        c->default_context = cli_cfg_value(value);
        return c->default_context != NULL;
    }
    if ((key = cli_cfg_key_of(name)) < 0) {
        snprintf(p->bad, sizeof p->bad, "unknown setting \"%s\" in [%s] (known: addr, insecure, "
                 "token-file, token, ca, cert, key, server-name, deadline)", name, section);
        return 0;
    }
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->contexts[i].name, section) == 0)
            ctx = &c->contexts[i];
    if (ctx == NULL) {
        if (c->n == CLI_CFG_MAX_CONTEXTS) {
            snprintf(p->bad, sizeof p->bad, "more than %d contexts", CLI_CFG_MAX_CONTEXTS);
            return 0;
        }
        ctx = &c->contexts[c->n];
        if ((ctx->name = strdup(section)) == NULL)
            return 0;
        c->n++;
    }
    if (ctx->values[key] != NULL)
        explicit_bzero(ctx->values[key], strlen(ctx->values[key]));
    free(ctx->values[key]);
    ctx->values[key] = cli_cfg_value(value);
    return ctx->values[key] != NULL;
}

int cli_cfg_parse(const char *path, const char *text, cli_cfg *out, char *err, size_t err_len)
{
    cli_cfg_parser p;
    int line;

    memset(out, 0, sizeof *out);
    memset(&p, 0, sizeof p);
    p.cfg = out;
    if ((out->path = strdup(path)) == NULL) {
        snprintf(err, err_len, "out of memory");
        return -ENOMEM;
    }
    line = ini_parse_string(text, cli_cfg_handler, &p);
    if (line != 0) {
        snprintf(err, err_len, "%s, line %d: %s", path, line, p.bad[0] ? p.bad : "not INI");
        cli_cfg_free(out);
        return -EINVAL;
    }
    return 0;
}

int cli_cfg_read(const char *path, cli_cfg *out, char *err, size_t err_len)
{
    struct stat st;
    char *text;
    size_t len = 0;
    ssize_t got;
    int fd, rc;

    memset(out, 0, sizeof *out);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = -errno;
        snprintf(err, err_len, "cannot read %s: %s", path, strerror(errno));
        return rc;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CLI_CFG_FILE_MAX) {
        snprintf(err, err_len, "%s is not a config file (a regular file of at most %u bytes)",
                 path, CLI_CFG_FILE_MAX);
        close(fd);
        return -EINVAL;
    }
    if ((text = malloc((size_t)st.st_size + 1)) == NULL) {
        close(fd);
        snprintf(err, err_len, "out of memory");
        return -ENOMEM;
    }
    while (len < (size_t)st.st_size &&
           ((got = read(fd, text + len, (size_t)st.st_size - len)) > 0 ||
            (got < 0 && errno == EINTR)))
        if (got > 0)
            len += (size_t)got;
    close(fd);
    text[len] = '\0';
    rc = cli_cfg_parse(path, text, out, err, err_len);
    explicit_bzero(text, len); /* it may hold tokens */
    free(text);
    return rc;
}

void cli_cfg_free(cli_cfg *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->contexts[i].name);
        for (int k = 0; k < CLI_CFG_NKEYS; k++) {
            if (c->contexts[i].values[k] != NULL)
                explicit_bzero(c->contexts[i].values[k], strlen(c->contexts[i].values[k]));
            free(c->contexts[i].values[k]);
        }
    }
    free(c->path);
    free(c->default_context);
    memset(c, 0, sizeof *c);
}

const cli_cfg_context *cli_cfg_find(const cli_cfg *c, const char *name)
{
    for (size_t i = 0; name != NULL && i < c->n; i++)
        if (strcmp(c->contexts[i].name, name) == 0)
            return &c->contexts[i];
    return NULL;
}

int cli_cfg_true(const char *v)
{
    return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 ||
                         strcmp(v, "1") == 0 || strcmp(v, "on") == 0);
}

char *cli_cfg_abs_path(const char *cfg_path, const char *value)
{
    const char *slash = cfg_path != NULL ? strrchr(cfg_path, '/') : NULL;
    char *out;

    if (value == NULL)
        return NULL;
    if (value[0] == '/' || value[0] == '\0' || slash == NULL)
        return strdup(value);
    if (asprintf(&out, "%.*s/%s", (int)(slash - cfg_path), cfg_path, value) < 0)
        return NULL;
    return out;
}

int cli_cfg_valid_name(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 63)
        return 0;
    for (const char *p = name; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-' || *p == '@'))
            return 0;
    return 1;
}
