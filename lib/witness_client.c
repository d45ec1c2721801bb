/* witness_client.c — c2sp.org/tlog-witness add-checkpoint from the log's
 * side, over libcurl: request, the 409 retry, and checking the cosignature
 * the witness returns before anyone keeps it. */
#include "tallinn/witness_client.h"
#include "tallinn/checkpoint.h"
#include "tallinn/note.h"
#include "tallinn/tlogwitness.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#define RESPONSE_MAX (64u * 1024) /* a few signature lines; more is a bad witness */
#define DEFAULT_TIMEOUT_MS 10000L

struct witness_client {
    CURL *curl;
    struct curl_slist *headers;
    char *url;
    cosig_verifier key;
    int (*cancelled)(void *ctx);
    void *cancel_ctx;
    char err[CURL_ERROR_SIZE];
};

typedef struct buffer {
    char *data;
    size_t len;
    int overflow;
} buffer;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void init_curl(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int set_err(char *err, size_t err_size, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int set_err(char *err, size_t err_size, int code, const char *fmt, ...)
{
    if (err && err_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int is_loopback_host(const char *host)
{
    return strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
           strcmp(host, "::1") == 0 || strncmp(host, "127.", 4) == 0;
}

/* Checks the scheme and host rule and builds "<prefix>/add-checkpoint". */
static int build_url(const char *prefix, char **out, char *err, size_t err_size)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *path = NULL, *full = NULL;
    int rc = 0;
    if (!u)
        return set_err(err, err_size, -ENOMEM, "out of memory");
    if (curl_url_set(u, CURLUPART_URL, prefix, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        rc = set_err(err, err_size, -EINVAL, "witness URL \"%s\": not an http(s) URL", prefix);
        goto done;
    }
    if (strcmp(scheme, "https") != 0 &&
        !(strcmp(scheme, "http") == 0 && is_loopback_host(host))) {
        rc = set_err(err, err_size, -EINVAL,
                     "witness URL \"%s\": use https (plain http only to a loopback host)",
                     prefix);
        goto done;
    }
    CURLUcode q = curl_url_get(u, CURLUPART_QUERY, &path, 0);
    curl_free(path);
    path = NULL;
    if (q != CURLUE_NO_QUERY) {
        rc = set_err(err, err_size, -EINVAL, "witness URL \"%s\": a prefix has no query",
                     prefix);
        goto done;
    }
    if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
        rc = set_err(err, err_size, -EINVAL, "witness URL \"%s\": bad path", prefix);
        goto done;
    }
    size_t n = strlen(path);
    while (n > 0 && path[n - 1] == '/')
        path[--n] = '\0';
    size_t want = n + sizeof TLOGWITNESS_PATH_ADD;
    full = malloc(want);
    if (!full) {
        rc = set_err(err, err_size, -ENOMEM, "out of memory");
        goto done;
    }
    snprintf(full, want, "%s%s", path, TLOGWITNESS_PATH_ADD);
    curl_free(path);
    path = NULL;
    if (curl_url_set(u, CURLUPART_PATH, full, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &path, 0) != CURLUE_OK) {
        rc = set_err(err, err_size, -EINVAL, "witness URL \"%s\": bad path", prefix);
        goto done;
    }
    *out = strdup(path);
    if (!*out)
        rc = set_err(err, err_size, -ENOMEM, "out of memory");
done:
    free(full);
    curl_free(scheme);
    curl_free(host);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}

/* libcurl's progress callback: non-zero aborts the transfer. */
static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    witness_client *c = ctx;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return c->cancelled(c->cancel_ctx) ? 1 : 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    buffer *b = ctx;
    size_t n = size * nmemb;
    if (n > RESPONSE_MAX - b->len) {
        b->overflow = 1;
        return 0; /* aborts the transfer */
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return n;
}

int witness_client_create(const witness_client_options *o, witness_client **out, char *err,
                          size_t err_size)
{
    witness_client *c = NULL;
    int rc;
    if (!o || !o->url || !out)
        return set_err(err, err_size, -EINVAL, "missing argument");
    *out = NULL;
    pthread_once(&curl_once, init_curl);
    if (curl_init_rc != CURLE_OK)
        return set_err(err, err_size, -EIO, "libcurl failed to start");
    c = calloc(1, sizeof *c);
    if (!c)
        return set_err(err, err_size, -ENOMEM, "out of memory");
    c->key = o->key;
    c->cancelled = o->cancelled;
    c->cancel_ctx = o->cancel_ctx;
    rc = build_url(o->url, &c->url, err, err_size);
    if (rc != 0)
        goto fail;
    c->curl = curl_easy_init();
    /* Not a form: the body is the protocol's text. No "Expect: 100-continue"
     * round trip either. */
    c->headers = curl_slist_append(NULL, "Content-Type: text/plain; charset=utf-8");
    struct curl_slist *h2 = c->headers ? curl_slist_append(c->headers, "Expect:") : NULL;
    if (!c->curl || !h2) {
        rc = set_err(err, err_size, -ENOMEM, "out of memory");
        goto fail;
    }
    c->headers = h2;
    long timeout = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    CURLcode e = CURLE_OK;
#define SET(opt, val)                                                                            \
    if (e == CURLE_OK)                                                                           \
    e = curl_easy_setopt(c->curl, opt, val)
    SET(CURLOPT_URL, c->url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, timeout);
    SET(CURLOPT_CONNECTTIMEOUT_MS, timeout);
    SET(CURLOPT_HTTPHEADER, c->headers);
    SET(CURLOPT_USERAGENT, "tallinn-witness-client/" TALLINN_VERSION);
    SET(CURLOPT_ERRORBUFFER, c->err);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (o->ca_file)
        SET(CURLOPT_CAINFO, o->ca_file);
    if (o->cancelled) {
        SET(CURLOPT_XFERINFOFUNCTION, on_progress);
        SET(CURLOPT_XFERINFODATA, c);
        SET(CURLOPT_NOPROGRESS, 0L);
    }
#undef SET
    if (e != CURLE_OK) {
        rc = set_err(err, err_size, -EINVAL, "libcurl: %s", curl_easy_strerror(e));
        goto fail;
    }
    *out = c;
    return 0;
fail:
    witness_client_destroy(c);
    return rc;
}

void witness_client_destroy(witness_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
    free(c->url);
    free(c);
}

const char *witness_client_url(const witness_client *c)
{
    return c ? c->url : NULL;
}

const cosig_verifier *witness_client_key(const witness_client *c)
{
    return c ? &c->key : NULL;
}

const char *witness_outcome_name(witness_outcome o)
{
    switch (o) {
    case WITNESS_COSIGNED:
        return "cosigned";
    case WITNESS_STALE:
        return "stale";
    case WITNESS_INCONSISTENT:
        return "inconsistent";
    case WITNESS_REFUSED:
        return "refused";
    case WITNESS_BAD_RESPONSE:
        return "bad-response";
    case WITNESS_UNAVAILABLE:
        return "unavailable";
    }
    return "unknown";
}

static void result(witness_result *r, const witness_client *c, witness_outcome o,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void result(witness_result *r, const witness_client *c, witness_outcome o,
                   const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    r->outcome = o;
    snprintf(r->message, sizeof r->message, "witness %s (%s): %s", c->key.name, c->url, what);
}

/* First printable line of a refusal's body, for the message. */
static void first_line(const buffer *b, char *out, size_t size)
{
    size_t n = 0;
    while (n < b->len && n + 1 < size && b->data[n] != '\n' && b->data[n] != '\r') {
        unsigned char ch = (unsigned char)b->data[n];
        out[n] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
        n++;
    }
    out[n] = '\0';
}

/* A 200 body: signature lines. Keeps the one by the configured key that
 * cosigns the checkpoint's text. */
static void take_cosignature(witness_client *c, const char *note, size_t note_len,
                             const buffer *b, witness_result *r)
{
    note_parsed *cp = malloc(sizeof *cp), *resp = malloc(sizeof *resp);
    char *joined = NULL, sub[256];
    if (!cp || !resp) {
        result(r, c, WITNESS_BAD_RESPONSE, "out of memory");
        goto done;
    }
    if (note_parse(note, note_len, cp, sub, sizeof sub) != 0) {
        result(r, c, WITNESS_BAD_RESPONSE, "the checkpoint sent is not a note: %s", sub);
        goto done;
    }
    /* The checkpoint's text, a blank line, then only the response's lines. */
    joined = malloc(cp->text_len + 1 + b->len);
    if (!joined) {
        result(r, c, WITNESS_BAD_RESPONSE, "out of memory");
        goto done;
    }
    memcpy(joined, note, cp->text_len);
    joined[cp->text_len] = '\n';
    memcpy(joined + cp->text_len + 1, b->data, b->len);
    if (b->len == 0 ||
        note_parse(joined, cp->text_len + 1 + b->len, resp, sub, sizeof sub) != 0 ||
        resp->text_len != cp->text_len) {
        result(r, c, WITNESS_BAD_RESPONSE, "200 without well-formed signature lines%s%s",
               b->len ? ": " : "", b->len ? sub : "");
        goto done;
    }
    for (size_t i = 0; i < resp->sig_count; i++) {
        uint64_t ts = 0;
        int rc = cosig_verify_sig(&c->key, resp, i, &ts, sub, sizeof sub);
        if (rc == -ENOENT)
            continue;
        if (rc != 0) {
            result(r, c, WITNESS_BAD_RESPONSE, "%s", sub);
            goto done;
        }
        const note_sig *s = &resp->sigs[i];
        const char *start = s->name - 4; /* "— " */
        size_t n = (size_t)(s->b64 + s->b64_len + 1 - start);
        memcpy(r->line, start, n);
        r->line[n] = '\0';
        r->line_len = n;
        r->timestamp = ts;
        result(r, c, WITNESS_COSIGNED, "cosigned (time %" PRIu64 ")", ts);
        goto done;
    }
    result(r, c, WITNESS_BAD_RESPONSE, "200 without a cosignature by its key %s+%08" PRIx32,
           c->key.name, c->key.key_id);
done:
    free(cp);
    free(resp);
    free(joined);
}

int witness_client_add_checkpoint(witness_client *c, uint64_t old_size, const uint8_t *proof,
                                  size_t proof_count, const char *note, size_t note_len,
                                  witness_result *r)
{
    char *body = NULL, *ctype = NULL, line[200];
    size_t body_len = 0;
    buffer b = {0};
    if (!c || !note || !r || proof_count > TLOGWITNESS_MAX_PROOF)
        return -EINVAL;
    memset(r, 0, sizeof *r);
    int rc = tlogwitness_request_format(old_size, proof, proof_count, note, note_len, &body,
                                        &body_len);
    if (rc != 0)
        return rc;
    b.data = malloc(RESPONSE_MAX);
    if (!b.data) {
        free(body);
        return -ENOMEM;
    }
    c->err[0] = '\0';
    CURLcode e = curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
    if (e == CURLE_OK)
        e = curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    if (e == CURLE_OK)
        e = curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &b);
    if (e == CURLE_OK)
        e = curl_easy_perform(c->curl);
    if (e != CURLE_OK) {
        if (b.overflow)
            result(r, c, WITNESS_BAD_RESPONSE, "response longer than %u bytes", RESPONSE_MAX);
        else
            result(r, c, WITNESS_UNAVAILABLE, "no answer: %s",
                   c->err[0] ? c->err : curl_easy_strerror(e));
        goto done;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->http_status);
    curl_easy_getinfo(c->curl, CURLINFO_CONTENT_TYPE, &ctype);
    first_line(&b, line, sizeof line);
    switch (r->http_status) {
    case 200:
        take_cosignature(c, note, note_len, &b, r);
        break;
    case 409:
        if (ctype && strcmp(ctype, TLOGWITNESS_SIZE_CONTENT_TYPE) == 0) {
            if (tlogwitness_size_parse(b.data, b.len, &r->witness_size) == 0)
                result(r, c, WITNESS_STALE, "409: it last cosigned size %" PRIu64,
                       r->witness_size);
            else
                result(r, c, WITNESS_BAD_RESPONSE, "409 with a malformed size body");
        } else {
            /* tlog-witness v1.0.0 answered a same-size root mismatch so. */
            result(r, c, WITNESS_INCONSISTENT, "409 conflict: %s", line);
        }
        break;
    case 422:
        result(r, c, WITNESS_INCONSISTENT, "422: %s", line[0] ? line : "proof refused");
        break;
    case 429:
        result(r, c, WITNESS_UNAVAILABLE, "429: busy");
        break;
    default:
        if (r->http_status >= 400 && r->http_status < 500)
            result(r, c, WITNESS_REFUSED, "%ld: %s", r->http_status, line);
        else
            result(r, c, WITNESS_UNAVAILABLE, "HTTP %ld: %s", r->http_status, line);
    }
done:
    /* The body buffer is freed: curl must not keep a pointer to it. */
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
    free(body);
    free(b.data);
    return 0;
}

int witness_client_cosign(witness_client *c, const char *note, size_t note_len,
                          uint64_t *known_size, witness_prove_fn prove, void *ctx,
                          witness_result *r)
{
    note_parsed *np = NULL;
    checkpoint cp;
    uint8_t proof[MERKLE_MAX_PROOF * MERKLE_HASH_SIZE];
    int rc = 0;
    if (!c || !note || !known_size || !prove || !r)
        return -EINVAL;
    memset(r, 0, sizeof *r);
    np = malloc(sizeof *np);
    if (!np)
        return -ENOMEM;
    if (note_parse(note, note_len, np, NULL, 0) != 0 ||
        checkpoint_parse(note, np->text_len, &cp, NULL, 0) != 0) {
        rc = -EINVAL;
        goto done;
    }
    uint64_t old = *known_size;
    for (int attempt = 0; attempt < 2; attempt++) {
        size_t count = 0;
        if (old > cp.size) {
            /* It cosigned a larger tree than this checkpoint: nothing to send. */
            result(r, c, WITNESS_STALE,
                   "it last cosigned size %" PRIu64 ", above this checkpoint's %" PRIu64, old,
                   cp.size);
            r->witness_size = old;
            break;
        }
        if (old > 0) {
            rc = prove(ctx, old, cp.size, proof, &count);
            if (rc != 0)
                goto done;
            if (count > TLOGWITNESS_MAX_PROOF) {
                rc = -ERANGE;
                goto done;
            }
        }
        rc = witness_client_add_checkpoint(c, old, proof, count, note, note_len, r);
        if (rc != 0)
            goto done;
        if (r->outcome == WITNESS_COSIGNED) {
            *known_size = cp.size;
            break;
        }
        if (r->outcome != WITNESS_STALE)
            break;
        *known_size = r->witness_size;
        if (r->witness_size == old)
            break; /* it says the size we sent: do not loop */
        old = r->witness_size;
    }
done:
    free(np);
    return rc;
}
