/* witness_config.c — tallinnd's witnesses: the --witness value, "VKEY URL"
 * (the witness's cosignature key, a C2SP vkey of type 0x04, and its
 * submission prefix), and the same in a --witnesses-file (INI, inih). The URL
 * rules (https, or http to a loopback host) are witness_client's, checked
 * here too; the server adds: no credentials in it, since it reaches log
 * lines. */
#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include <curl/curl.h>
#include <ini.h>

#include "tallinn/witness_client.h"
#include "witness/witnesses.h"

/* 1 if the URL names a user or password (or cannot be parsed: the client
 * refuses it later with its own message). */
static int has_credentials(const char *url)
{
    CURLU *u = curl_url();
    char *user = NULL, *password = NULL;
    int yes;

    if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        curl_url_cleanup(u);
        return 0;
    }
    yes = curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
          curl_url_get(u, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK;
    curl_free(user);
    curl_free(password);
    curl_url_cleanup(u);
    return yes;
}

int witness_config_parse(const char *arg, witness_config *out, char *err, size_t errlen)
{
    const char *sp = strchr(arg, ' ');
    char why[256];
    size_t n;

    memset(out, 0, sizeof(*out));
    if (sp == NULL || sp[1] == '\0' || strchr(sp + 1, ' ') != NULL) {
        snprintf(err, errlen, "--witness takes 'VKEY URL' (the witness's verifier key, one "
                 "space, its URL)");
        return -1;
    }
    n = (size_t)(sp - arg);
    if (n >= sizeof(out->vkey)) {
        snprintf(err, errlen, "--witness: the key is too long");
        return -1;
    }
    memcpy(out->vkey, arg, n);
    out->vkey[n] = '\0';
    if (cosig_verifier_parse(out->vkey, &out->key, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "--witness: %s", why);
        return -1;
    }
    if (strlen(sp + 1) >= sizeof(out->url)) {
        snprintf(err, errlen, "--witness %s: the URL is too long", out->key.name);
        return -1;
    }
    snprintf(out->url, sizeof(out->url), "%s", sp + 1);
    if (has_credentials(out->url)) {
        snprintf(err, errlen, "--witness %s: the URL holds credentials; a witness needs none "
                 "(and URLs reach the log)", out->key.name);
        return -1;
    }
    /* The client's own rules (scheme, loopback for http, no query), now,
     * so that a bad URL is a usage error before anything starts. */
    {
        witness_client_options co = {.url = out->url, .key = out->key};
        witness_client *c = NULL;
        if (witness_client_create(&co, &c, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "--witness %s: %s", out->key.name, why);
            return -1;
        }
        witness_client_destroy(c);
    }
    return 0;
}

/* ---- The witnesses file (inih) ----
 *
 *   quorum = 2                  ; optional, before any section
 *   [ee]                        ; a label of your choice, for messages
 *   key = witness.mfa.ee/tallinn+3a9c…+BA…
 *   url = https://witness.mfa.ee/tallinn
 */
typedef struct file_ctx {
    witness_config *list;
    size_t max, *count;
    long quorum;
    char section[64];
    char key[COSIG_VERIFIER_KEY_MAX], url[WITNESS_URL_MAX];
    int line_err;
    char *err;
    size_t errlen;
} file_ctx;

/* Turns the section read so far into a witness. */
static int flush(file_ctx *f)
{
    char arg[COSIG_VERIFIER_KEY_MAX + WITNESS_URL_MAX + 2];

    if (f->section[0] == '\0')
        return 0;
    if (f->key[0] == '\0' || f->url[0] == '\0') {
        snprintf(f->err, f->errlen, "[%s] needs key = and url =", f->section);
        return -1;
    }
    if (*f->count >= f->max) {
        snprintf(f->err, f->errlen, "more than %zu witnesses", f->max);
        return -1;
    }
    snprintf(arg, sizeof(arg), "%s %s", f->key, f->url);
    if (witness_config_parse(arg, &f->list[*f->count], f->err, f->errlen) != 0)
        return -1;
    (*f->count)++;
    f->section[0] = f->key[0] = f->url[0] = '\0';
    return 0;
}

static int on_entry(void *ctx, const char *section, const char *name, const char *value)
{
    file_ctx *f = ctx;
    char *end;

    if (f->line_err)
        return 0;
    if (strcmp(section, f->section) != 0) {
        if (flush(f) != 0)
            goto bad;
        snprintf(f->section, sizeof(f->section), "%s", section);
    }
    if (name == NULL) /* a new section (INI_CALL_HANDLER_ON_NEW_SECTION) */
        return 1;
    if (section[0] == '\0' && strcmp(name, "quorum") == 0) {
        f->quorum = strtol(value, &end, 10);
        if (*value == '\0' || *end != '\0' || f->quorum < 1) {
            snprintf(f->err, f->errlen, "quorum wants a whole number from 1");
            goto bad;
        }
    } else if (section[0] != '\0' && strcmp(name, "key") == 0 && strlen(value) < sizeof(f->key)) {
        snprintf(f->key, sizeof(f->key), "%s", value);
    } else if (section[0] != '\0' && strcmp(name, "url") == 0 && strlen(value) < sizeof(f->url)) {
        snprintf(f->url, sizeof(f->url), "%s", value);
    } else {
        snprintf(f->err, f->errlen, "unknown or too long setting \"%s\" (the file has "
                 "quorum = K, then [label] sections of key = and url =)", name);
        goto bad;
    }
    return 1;
bad:
    f->line_err = 1;
    return 0;
}

int witness_config_file(const char *path, witness_config *list, size_t max, size_t *count,
                        long *quorum, char *err, size_t errlen)
{
    file_ctx f = {.list = list, .max = max, .count = count, .err = err, .errlen = errlen};
    char why[512];
    int rc;

    why[0] = '\0';
    f.err = why;
    f.errlen = sizeof(why);
    rc = ini_parse(path, on_entry, &f);
    if (rc < 0) {
        snprintf(err, errlen, "--witnesses-file %s: cannot read it", path);
        return -1;
    }
    if (rc > 0) { /* the first line inih or the handler refused */
        snprintf(err, errlen, "--witnesses-file %s: line %d: %s", path, rc,
                 why[0] != '\0' ? why : "not `name = value` or `[label]`");
        return -1;
    }
    if (flush(&f) != 0) {
        snprintf(err, errlen, "--witnesses-file %s: %s", path, why);
        return -1;
    }
    if (f.quorum > 0)
        *quorum = f.quorum;
    return 0;
}
