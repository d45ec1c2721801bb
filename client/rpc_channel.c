/* rpc_channel.c — client channels: one server or several replicas (the
 * target from rpc_target.c), plaintext or TLS/mTLS, every one balanced
 * round-robin by gRPC and with our service config only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>

#include "rpc_internal.h"
#include "tallinn/rpc_client.h"

/* Largest PEM file we read (certificate chains are a few KiB). */
#define RPCC_PEM_MAX (1024 * 1024)
/* Default receive limit, as gRPC's. */
#define RPCC_DEFAULT_MAX_RECEIVE (4 * 1024 * 1024)

/* Every channel balances round-robin over the addresses its target gives:
 * gRPC's own policy, which sends each call to the next connected address and
 * skips those that are down. */
#define RPCC_SERVICE_CONFIG "{\"loadBalancingConfig\":[{\"round_robin\":{}}]}"

/* Reads a whole PEM file, NUL-terminated. Returns NULL with err set. */
static char *rpcc_read_pem(const char *what, const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0;

    if (f == NULL) {
        rpcc__errf(err, err_len, "cannot read %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    buf = malloc(RPCC_PEM_MAX + 1);
    if (buf == NULL) {
        rpcc__errf(err, err_len, "out of memory reading %s %s", what, path);
        goto fail;
    }
    n = fread(buf, 1, RPCC_PEM_MAX + 1, f);
    if (ferror(f)) {
        rpcc__errf(err, err_len, "cannot read %s %s: %s", what, path, strerror(errno));
        goto fail;
    }
    if (n > RPCC_PEM_MAX) {
        rpcc__errf(err, err_len, "%s %s is larger than %d bytes", what, path, RPCC_PEM_MAX);
        goto fail;
    }
    buf[n] = '\0';
    if (strstr(buf, "-----BEGIN") == NULL) {
        rpcc__errf(err, err_len, "%s %s is not a PEM file", what, path);
        goto fail;
    }
    fclose(f);
    return buf;
fail:
    if (buf != NULL) {
        explicit_bzero(buf, n);
        free(buf);
    }
    fclose(f);
    return NULL;
}

static void rpcc_free_secret(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

int rpcc_channel_create(rpcc_channel **out, const rpcc_channel_options *opts, char *err,
                        size_t err_len)
{
    rpcc_channel *ch = NULL;
    grpc_channel_credentials *creds = NULL;
    char *ca = NULL, *cert = NULL, *key = NULL;
    grpc_arg args[7];
    grpc_channel_args chargs = {0, args};
    int max_recv;

    *out = NULL;
    if (opts == NULL || opts->target == NULL || opts->target[0] == '\0') {
        rpcc__errf(err, err_len, "no server address given");
        return -1;
    }
    if (!opts->insecure && (opts->cert_file == NULL) != (opts->key_file == NULL)) {
        rpcc__errf(err, err_len, "a client certificate and its key must be given together");
        return -1;
    }
    if (opts->max_receive_bytes > (size_t)INT32_MAX) {
        rpcc__errf(err, err_len, "receive limit %zu is too large", opts->max_receive_bytes);
        return -1;
    }
    if (opts->max_attempts < 0 || opts->max_attempts > RPCC_MAX_ATTEMPTS) {
        rpcc__errf(err, err_len, "attempts per call must be 1 to %d, not %d", RPCC_MAX_ATTEMPTS,
                  opts->max_attempts);
        return -1;
    }
    max_recv = opts->max_receive_bytes ? (int)opts->max_receive_bytes : RPCC_DEFAULT_MAX_RECEIVE;

    ch = calloc(1, sizeof *ch);
    if (ch == NULL || (ch->target = strdup(opts->target)) == NULL) {
        rpcc__errf(err, err_len, "out of memory");
        goto fail;
    }
    if (rpcc__target_parse(&ch->tgt, opts->target, !opts->insecure, opts->ssl_target_name, 1, err,
                           err_len) != 0)
        goto fail;
    ch->max_attempts = opts->max_attempts > 0 ? opts->max_attempts : RPCC_DEFAULT_ATTEMPTS;
    ch->on_attempt = opts->on_attempt;
    ch->on_attempt_arg = opts->on_attempt_arg;
    if (!opts->insecure) {
        if (opts->ca_file != NULL &&
            (ca = rpcc_read_pem("CA file", opts->ca_file, err, err_len)) == NULL)
            goto fail;
        if (opts->cert_file != NULL) {
            if ((cert = rpcc_read_pem("certificate", opts->cert_file, err, err_len)) == NULL)
                goto fail;
            if ((key = rpcc_read_pem("key", opts->key_file, err, err_len)) == NULL)
                goto fail;
        }
    }

    grpc_init();
    if (opts->insecure) {
        creds = grpc_insecure_credentials_create();
    } else {
        grpc_ssl_pem_key_cert_pair pair = {key, cert};
        /* gRPC copies the PEM strings; ours are wiped below. */
        creds = grpc_ssl_credentials_create(ca, cert != NULL ? &pair : NULL, NULL, NULL);
    }
    args[chargs.num_args].type = GRPC_ARG_INTEGER;
    args[chargs.num_args].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[chargs.num_args++].value.integer = max_recv;
    args[chargs.num_args].type = GRPC_ARG_STRING;
    args[chargs.num_args].key = (char *)GRPC_ARG_SERVICE_CONFIG;
    args[chargs.num_args++].value.string = (char *)RPCC_SERVICE_CONFIG;
    /* A service config from DNS (TXT records, whoever runs the zone) must not
     * replace ours: it could turn on retries of writes. */
    args[chargs.num_args].type = GRPC_ARG_INTEGER;
    args[chargs.num_args].key = (char *)GRPC_ARG_SERVICE_CONFIG_DISABLE_RESOLUTION;
    args[chargs.num_args++].value.integer = 1;
    if (!opts->insecure && ch->tgt.tls_name != NULL) {
        args[chargs.num_args].type = GRPC_ARG_STRING;
        args[chargs.num_args].key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
        args[chargs.num_args++].value.string = ch->tgt.tls_name;
    }
    if (ch->tgt.authority != NULL) { /* not the text of a whole list */
        args[chargs.num_args].type = GRPC_ARG_STRING;
        args[chargs.num_args].key = (char *)GRPC_ARG_DEFAULT_AUTHORITY;
        args[chargs.num_args++].value.string = ch->tgt.authority;
    }
    if (opts->user_agent != NULL) {
        args[chargs.num_args].type = GRPC_ARG_STRING;
        args[chargs.num_args].key = (char *)GRPC_ARG_PRIMARY_USER_AGENT_STRING;
        args[chargs.num_args++].value.string = (char *)opts->user_agent;
    }
    ch->channel = grpc_channel_create(ch->tgt.uri, creds, &chargs);
    grpc_channel_credentials_release(creds);
    free(ca);
    free(cert);
    rpcc_free_secret(key);
    ca = cert = key = NULL;
    if (ch->channel == NULL) {
        rpcc__errf(err, err_len, "cannot create a channel to %s", opts->target);
        grpc_shutdown();
        goto fail;
    }
    {
        char *t = grpc_channel_get_target(ch->channel);
        ch->grpc_target = t != NULL ? strdup(t) : NULL;
        gpr_free(t);
    }
    *out = ch;
    return 0;
fail:
    if (ch != NULL) {
        free(ch->target);
        rpcc__target_free(&ch->tgt);
    }
    free(ch);
    free(ca);
    free(cert);
    rpcc_free_secret(key);
    return -1;
}

void rpcc_channel_destroy(rpcc_channel *ch)
{
    if (ch == NULL)
        return;
    grpc_channel_destroy(ch->channel);
    free(ch->target);
    free(ch->grpc_target);
    rpcc__target_free(&ch->tgt);
    free(ch);
    grpc_shutdown();
}

const char *rpcc_channel_target(const rpcc_channel *ch)
{
    return ch->target;
}
size_t rpcc_channel_address_count(const rpcc_channel *ch)
{
    return ch->tgt.n_addresses;
}

