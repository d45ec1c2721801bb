/* rpc_target.c — turns the address a person gives (--addr, --server) into a
 * gRPC channel target. "host:port" and resolver URIs (dns:///name:port, ipv4:,
 * ipv6:, unix:) go to gRPC unchanged. A list "h1:p1,h2:p2" becomes one ipv4:
 * (or ipv6:) target holding every address, which gRPC's sockaddr resolver and
 * round_robin policy then balance; gRPC has no resolver for a list of host
 * names, so that part — splitting, getaddrinfo, choosing the family — is
 * written here by hand. */
#include "rpc_internal.h"

#include <ctype.h>
#include <stdint.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* Longest host name, and longest "host:port" entry, we accept. */
#define RPCC_HOST_MAX 256
#define RPCC_ENTRY_MAX (RPCC_HOST_MAX + 16)

/* One entry of a list, split, and what it resolved to. */
typedef struct rpcc_entry {
    char text[RPCC_ENTRY_MAX]; /* as written, without surrounding space */
    char host[RPCC_HOST_MAX];  /* without brackets */
    char port[8];
    int has_v4, has_v6;
} rpcc_entry;

/* The addresses found so far, one family each, as URI path parts. */
typedef struct rpcc_addrs {
    char *v4[RPCC_TARGET_MAX_ADDRESSES];
    size_t n_v4;
    char *v6[RPCC_TARGET_MAX_ADDRESSES];
    size_t n_v6;
} rpcc_addrs;

void rpcc__errf(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || err_len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

void rpcc__target_free(rpcc__target *t)
{
    if (t == NULL)
        return;
    free(t->uri);
    free(t->tls_name);
    free(t->authority);
    memset(t, 0, sizeof *t);
}

/* A target gRPC parses itself: a resolver URI. Any other text is host:port
 * (or a list of them), which gRPC would also send to DNS by default. */
static int rpcc_is_uri(const char *addr)
{
    static const char *const schemes[] = {"dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:",
                                          "vsock:"};

    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (strncmp(addr, schemes[i], strlen(schemes[i])) == 0)
            return 1;
    return 0;
}

/* Splits one list entry into host and port. */
static int rpcc_entry_split(rpcc_entry *e, const char *start, size_t len, char *err,
                            size_t err_len)
{
    const char *colon;
    size_t hlen;
    char *end;
    long port;

    while (len > 0 && isspace((unsigned char)*start)) {
        start++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)start[len - 1]))
        len--;
    if (len == 0) {
        rpcc__errf(err, err_len, "an empty entry in the address list");
        return -1;
    }
    if (len >= sizeof e->text) {
        rpcc__errf(err, err_len, "an address in the list is longer than %d characters",
                         RPCC_ENTRY_MAX - 1);
        return -1;
    }
    memcpy(e->text, start, len);
    e->text[len] = '\0';
    if (e->text[0] == '[') {
        const char *close = strchr(e->text, ']');
        if (close == NULL || close[1] != ':') {
            rpcc__errf(err, err_len, "\"%s\": an IPv6 address in a list is written "
                             "[ADDRESS]:PORT", e->text);
            return -1;
        }
        hlen = (size_t)(close - e->text - 1);
        memcpy(e->host, e->text + 1, hlen);
        colon = close + 1;
    } else {
        colon = strrchr(e->text, ':');
        if (colon == NULL) {
            rpcc__errf(err, err_len, "\"%s\" has no port: each address in a list is "
                             "HOST:PORT", e->text);
            return -1;
        }
        if (memchr(e->text, ':', (size_t)(colon - e->text)) != NULL) {
            rpcc__errf(err, err_len, "\"%s\": an IPv6 address in a list is written "
                             "[ADDRESS]:PORT", e->text);
            return -1;
        }
        hlen = (size_t)(colon - e->text);
        memcpy(e->host, e->text, hlen);
    }
    e->host[hlen] = '\0';
    if (hlen == 0) {
        rpcc__errf(err, err_len, "\"%s\" has no host", e->text);
        return -1;
    }
    port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || !isdigit((unsigned char)colon[1]) || port < 1 ||
        port > 65535) {
        rpcc__errf(err, err_len, "\"%s\": the port must be a number from 1 to 65535",
                         e->text);
        return -1;
    }
    snprintf(e->port, sizeof e->port, "%ld", port);
    return 0;
}

/* Adds "a.b.c.d:port" or "[v6]:port" unless it is there already (two names
 * for one server would give it two turns in the rotation). */
static int rpcc_addrs_add(char **list, size_t *n, const char *addr, char *err, size_t err_len)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(list[i], addr) == 0)
            return 0;
    if (*n == RPCC_TARGET_MAX_ADDRESSES) {
        rpcc__errf(err, err_len, "the address list resolves to more than %d addresses",
                         RPCC_TARGET_MAX_ADDRESSES);
        return -1;
    }
    if ((list[*n] = strdup(addr)) == NULL) {
        rpcc__errf(err, err_len, "out of memory");
        return -1;
    }
    (*n)++;
    return 0;
}

/* Resolves one entry (a literal address or a name) with getaddrinfo and
 * files every address under its family. */
static int rpcc_entry_resolve(rpcc_entry *e, rpcc_addrs *a, char *err, size_t err_len)
{
    struct addrinfo hints, *res = NULL;
    int rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(e->host, e->port, &hints, &res);
    if (rc != 0) {
        rpcc__errf(err, err_len, "cannot resolve %s: %s", e->host, gai_strerror(rc));
        return -1;
    }
    for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        char host[NI_MAXHOST], addr[NI_MAXHOST + 16];

        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof host, NULL, 0,
                        NI_NUMERICHOST) != 0)
            continue;
        if (ai->ai_family == AF_INET) {
            snprintf(addr, sizeof addr, "%s:%s", host, e->port);
            rc = rpcc_addrs_add(a->v4, &a->n_v4, addr, err, err_len);
            e->has_v4 = 1;
        } else {
            /* A zone ("fe80::1%eth0") needs its '%' escaped inside a URI. */
            char *pct = strchr(host, '%');
            if (pct != NULL)
                snprintf(addr, sizeof addr, "[%.*s%%25%s]:%s", (int)(pct - host), host, pct + 1,
                         e->port);
            else
                snprintf(addr, sizeof addr, "[%s]:%s", host, e->port);
            rc = rpcc_addrs_add(a->v6, &a->n_v6, addr, err, err_len);
            e->has_v6 = 1;
        }
        if (rc != 0)
            break;
    }
    freeaddrinfo(res);
    if (rc == 0 && !e->has_v4 && !e->has_v6) {
        rpcc__errf(err, err_len, "%s has no IPv4 or IPv6 address", e->host);
        rc = -1;
    }
    return rc;
}

/* "ipv4:a:1,b:2" from one family's addresses. */
static char *rpcc_join(const char *scheme, char *const *list, size_t n)
{
    size_t len = strlen(scheme) + 1;
    char *out, *p;

    for (size_t i = 0; i < n; i++)
        len += strlen(list[i]) + 1;
    if ((out = malloc(len)) == NULL)
        return NULL;
    p = out + sprintf(out, "%s", scheme);
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i > 0 ? "," : "", list[i]);
    return out;
}

/* Splits a list into entries (at most RPCC_TARGET_MAX_ENTRIES). */
static int rpcc_list_split(const char *addr, rpcc_entry *entries, size_t *n, char *err,
                           size_t err_len)
{
    const char *p = addr;

    *n = 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);

        if (*n == RPCC_TARGET_MAX_ENTRIES) {
            rpcc__errf(err, err_len, "more than %d addresses in the list",
                       RPCC_TARGET_MAX_ENTRIES);
            return -1;
        }
        if (rpcc_entry_split(&entries[*n], p, len, err, err_len) != 0)
            return -1;
        (*n)++;
        if (comma == NULL)
            return 0;
        p = comma + 1;
    }
}

/* Fisher-Yates: a fresh order per channel, so that short-lived clients (one
 * call each) do not all begin with the first replica — round_robin starts
 * with the address that connects first, and they connect in list order. */
static void rpcc_shuffle(char **list, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = arc4random_uniform((uint32_t)i);
        char *tmp = list[i - 1];
        list[i - 1] = list[j];
        list[j] = tmp;
    }
}

/* A list: every entry resolved now; one family for the whole target, since
 * an ipv4: or ipv6: URI holds addresses of its own family only. IPv4 when
 * every entry has an IPv4 address, else IPv6 when every entry has one. */
static int rpcc_target_list(rpcc__target *t, const char *addr, int tls, const char *server_name,
                            int shuffle, char *err, size_t err_len)
{
    rpcc_entry *entries = NULL;
    rpcc_addrs *a = NULL;
    size_t n = 0, all_v4 = 1, all_v6 = 1, same_host = 1;
    int rc = -1;

    entries = calloc(RPCC_TARGET_MAX_ENTRIES, sizeof *entries);
    a = calloc(1, sizeof *a);
    if (entries == NULL || a == NULL) {
        rpcc__errf(err, err_len, "out of memory");
        goto done;
    }
    if (rpcc_list_split(addr, entries, &n, err, err_len) != 0)
        goto done;
    for (size_t i = 0; i < n; i++) {
        if (rpcc_entry_resolve(&entries[i], a, err, err_len) != 0)
            goto done;
        all_v4 &= (size_t)entries[i].has_v4;
        all_v6 &= (size_t)entries[i].has_v6;
        if (strcasecmp(entries[i].host, entries[0].host) != 0)
            same_host = 0;
    }
    if (shuffle) {
        rpcc_shuffle(a->v4, a->n_v4);
        rpcc_shuffle(a->v6, a->n_v6);
    }
    if (all_v4) {
        t->uri = rpcc_join("ipv4:", a->v4, a->n_v4);
        t->n_addresses = a->n_v4;
    } else if (all_v6) {
        t->uri = rpcc_join("ipv6:", a->v6, a->n_v6);
        t->n_addresses = a->n_v6;
    } else {
        size_t only6 = 0;
        while (entries[only6].has_v4)
            only6++;
        rpcc__errf(err, err_len, "%s has only IPv6 addresses and another host of the list "
                         "only IPv4 ones: one list holds one family (or give dns:///NAME:PORT)",
                         entries[only6].host);
        goto done;
    }
    if (t->uri == NULL) {
        rpcc__errf(err, err_len, "out of memory");
        goto done;
    }
    /* Certificates: one name for all. gRPC would check the whole list text. */
    if (tls) {
        if (server_name == NULL && !same_host) {
            rpcc__errf(err, err_len, "the list names several hosts: TLS needs the one "
                             "name their certificates carry (--server-name)");
            goto done;
        }
        t->tls_name = strdup(server_name != NULL ? server_name : entries[0].host);
        t->authority = strdup(t->tls_name != NULL ? t->tls_name : "");
    } else {
        t->authority = strdup(entries[0].text);
    }
    if (t->authority == NULL || (tls && t->tls_name == NULL)) {
        rpcc__errf(err, err_len, "out of memory");
        goto done;
    }
    rc = 0;
done:
    if (a != NULL) {
        for (size_t i = 0; i < a->n_v4; i++)
            free(a->v4[i]);
        for (size_t i = 0; i < a->n_v6; i++)
            free(a->v6[i]);
    }
    free(a);
    free(entries);
    if (rc != 0)
        rpcc__target_free(t);
    return rc;
}

int rpcc_target_check(const char *addr, char *err, size_t err_len)
{
    rpcc_entry *entries;
    size_t n;
    int rc;

    if (addr == NULL || addr[0] == '\0') {
        rpcc__errf(err, err_len, "no server address given");
        return -1;
    }
    if (rpcc_is_uri(addr) || strchr(addr, ',') == NULL)
        return 0;
    if ((entries = calloc(RPCC_TARGET_MAX_ENTRIES, sizeof *entries)) == NULL) {
        rpcc__errf(err, err_len, "out of memory");
        return -1;
    }
    rc = rpcc_list_split(addr, entries, &n, err, err_len);
    free(entries);
    return rc;
}

int rpcc__target_parse(rpcc__target *t, const char *addr, int tls, const char *server_name,
                       int shuffle, char *err, size_t err_len)
{
    memset(t, 0, sizeof *t);
    if (addr == NULL || addr[0] == '\0') {
        rpcc__errf(err, err_len, "no server address given");
        return -1;
    }
    if (!rpcc_is_uri(addr) && strchr(addr, ',') != NULL)
        return rpcc_target_list(t, addr, tls, server_name, shuffle, err, err_len);
    /* One address or a URI: gRPC resolves it. */
    t->uri = strdup(addr);
    if (tls && server_name != NULL)
        t->tls_name = strdup(server_name);
    if (t->uri == NULL || (tls && server_name != NULL && t->tls_name == NULL)) {
        rpcc__target_free(t);
        rpcc__errf(err, err_len, "out of memory");
        return -1;
    }
    if (strncmp(addr, "ipv4:", 5) == 0 || strncmp(addr, "ipv6:", 5) == 0) {
        t->n_addresses = 1;
        for (const char *c = addr; *c != '\0'; c++)
            t->n_addresses += *c == ',';
    } else {
        t->n_addresses = strncmp(addr, "dns:", 4) == 0 ? 0 : 1; /* dns: as many as it finds */
    }
    return 0;
}
