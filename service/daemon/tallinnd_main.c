/* tallinnd_main.c — the tallinnd server: flags, listening, signals, an
 * orderly shutdown. The domain services are registered here. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <systemd/sd-daemon.h>

#include "audit/audit.h"
#include "authz/authz.h"
#include "daemon/datalock.h"
#include "handlers/changes.h"
#include "handlers/domain.h"
#include "log/slog.h"
#include "metrics/metrics_http.h"
#include "tallinn/health.h"
#include "tallinn/reflection.h"
#include "tallinn/rpc.h"
#include "tallinn/store.h"
#include "tallinn/note.h"
#include "tallinn/currency.h"
#include "tallinn/validate.h"
#include "witness/witnesses.h"

#define DEFAULT_LISTEN "127.0.0.1:50051"
#define DEFAULT_DATA_DIR "var"
#define DEFAULT_GRACE_MS 10000
#define DEFAULT_CURRENCY "EUR"
#define PAGE_KEY_FILE "page-token.key"
#define TOKEN_KEY_FILE "token.key"
#define ADMIN_TOKEN_FILE "admin.token"
#define DB_FILE "tallinn.db"

/* Every line tallinnd writes to stderr is a log line (slog): errors too. */
#define LOG_ERR(...) slog_msg(SLOG_ERROR, "error", NULL, 0, __VA_ARGS__)
#define LOG_USAGE(...) slog_msg(SLOG_ERROR, "usage", NULL, 0, __VA_ARGS__)

typedef struct serve_opts {
    const char *listen;
    const char *data_dir;
    const char *database_url; /* NULL: SQLite in data_dir */
    const char *tls_cert, *tls_key, *client_ca;
    int insecure;
    int threads;
    int max_workers;
    long max_message_bytes;
    int max_streams;
    int max_anon_streams;
    int max_principal_streams;
    int grace_ms;
    int watch_poll_ms;
    int quiet;
    const char *currency;
    const char *origin;
    /* The audit log's witnesses (--witness, --witnesses-file). */
    witness_config *witnesses;
    size_t n_witnesses;
    long witness_quorum; /* 0: a majority */
    long witness_timeout_ms;
    const char *witness_ca;
    const char *metrics_listen; /* NULL: no metrics endpoint */
    int metrics_allow_remote;
} serve_opts;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: tallinnd [serve] [options]\n"
            "       tallinnd init --data-dir DIR [--database URL]\n"
            "       tallinnd backup --data-dir DIR --to FILE\n"
            "       tallinnd authz-matrix\n"
            "\n"
            "Serves the Tallinn Mechanism API over gRPC. `init` creates a data directory:\n"
            "the database, its keys and the first ADMIN token (in DIR/admin.token, 0600).\n"
            "`backup` copies the database online (while tallinnd runs) to a new FILE.\n"
            "`authz-matrix` prints the role x method table (docs/authz.md).\n"
            "\n"
            "options:\n"
            "  --listen ADDR            address to listen on (default " DEFAULT_LISTEN ")\n"
            "  --data-dir DIR           data directory, created on first start (default " DEFAULT_DATA_DIR ")\n"
            "  --database URL           PostgreSQL instead of SQLite in DIR:\n"
            "                           postgresql://user@host:port/dbname (a libpq URI; the\n"
            "                           password only from PGPASSFILE or ~/.pgpass). Replicas\n"
            "                           share the database, each with a copy of DIR\n"
            "  --tls-cert FILE          server certificate chain (PEM)\n"
            "  --tls-key FILE           server private key (PEM)\n"
            "  --client-ca FILE         require client certificates signed by this CA (mTLS)\n"
            "  --insecure               plaintext, allowed only on a loopback address (every\n"
            "                           address the name resolves to and every socket bound)\n"
            "  --threads N              completion-queue threads (default: number of CPUs)\n"
            "  --max-workers N          handler threads at most (default 128)\n"
            "  --max-message-bytes N    largest request accepted (default 4194304)\n"
            "  --max-streams N          concurrent streaming calls (default 1024)\n"
            "  --max-anon-streams N     ... of them without credentials (health Watch, reflection)\n"
            "                           (default max-streams / 8)\n"
            "  --max-streams-per-principal N\n"
            "                           ... of them for any one principal (default max-streams / 16)\n"
            "  --grace-ms N             shutdown grace for in-flight calls (default %d)\n"
            "  --watch-poll-ms N        how often change feeds read the database for commits of\n"
            "                           other replicas (default %d)\n"
            "  --currency CODE          the accounting currency (default " DEFAULT_CURRENCY ")\n"
            "  --origin NAME            init: the audit log's origin (default <host>/tallinn)\n"
            "  --to FILE                backup: the new file to write\n"
            "  --witness 'VKEY URL'     a witness of the audit log (C2SP tlog-witness): its\n"
            "                           cosignature verifier key, one space, its URL (https,\n"
            "                           or http to a loopback host); repeat for each witness\n"
            "  --witnesses-file FILE    witnesses from an INI file ([label] key = VKEY, url = URL;\n"
            "                           quorum = K before the first section)\n"
            "  --witness-quorum K       cosignatures a checkpoint needs to be reported as\n"
            "                           cosigned by a quorum (default: a majority)\n"
            "  --witness-timeout-ms N   per request to a witness (default 5000)\n"
            "  --witness-ca FILE        PEM roots for https witnesses (default: the system's)\n"
            "  --quiet                  no per-call log lines\n"
            "  --log-format FMT         logfmt (default) or json: every line on stderr\n"
            "  --log-level LEVEL        debug, info (default), notice, warn or error\n"
            "  --metrics-listen ADDR    serve Prometheus metrics at http://ADDR/metrics\n"
            "                           (e.g. 127.0.0.1:9464; off by default; loopback only)\n"
            "  --metrics-allow-remote   let --metrics-listen take a non-loopback address\n"
            "                           (plain HTTP, no auth: put a TLS proxy in front)\n"
            "  --version                print the version and exit\n"
            "  -h, --help               this help\n"
            "\n"
            "example:\n"
            "  tallinnd init --data-dir ./var\n"
            "  tallinnd --listen 127.0.0.1:50051 --data-dir ./var --insecure\n"
            "  tallinnd init --data-dir ./var --database postgresql://tallinn@db.example:5432/tallinn\n",
            DEFAULT_GRACE_MS, CHANGES_POLL_MS_DEFAULT);
}

static int parse_int(const char *flag, const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *s == '\0' || *end != '\0' || v < min || v > max) {
        LOG_USAGE("%s wants a whole number from %ld to %ld, not \"%s\"", flag,
                min, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > (1 << 20) ||
        fseek(f, 0, SEEK_SET) != 0)
        goto done;
    buf = malloc((size_t)n + 1);
    if (buf == NULL)
        goto done;
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
        goto done;
    }
    buf[n] = '\0';
done:
    fclose(f);
    return buf;
}

static grpc_server_credentials *tls_credentials(const serve_opts *o)
{
    grpc_ssl_pem_key_cert_pair pair;
    grpc_server_credentials *creds = NULL;
    char *cert = read_file(o->tls_cert), *key = read_file(o->tls_key), *ca = NULL;

    if (cert == NULL || key == NULL) {
        LOG_ERR("cannot read %s", cert == NULL ? o->tls_cert : o->tls_key);
        goto done;
    }
    if (o->client_ca != NULL && (ca = read_file(o->client_ca)) == NULL) {
        LOG_ERR("cannot read %s", o->client_ca);
        goto done;
    }
    pair.private_key = key;
    pair.cert_chain = cert;
    creds = grpc_ssl_server_credentials_create_ex(
        ca, &pair, 1,
        /* A client certificate is optional (token clients use TLS too) but,
         * when presented, must chain to the client CA. */
        ca != NULL ? GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY
                   : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
        NULL);
    if (creds == NULL)
        LOG_ERR("the TLS certificate or key is not usable");
done:
    if (key != NULL) /* the private key must not linger in freed memory */
        sodium_memzero(key, strlen(key));
    free(cert);
    free(key);
    free(ca);
    return creds;
}

static int make_data_dir(const char *dir)
{
    struct stat st;

    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            LOG_ERR("%s exists and is not a directory", dir);
            return -1;
        }
        return 0;
    }
    if (mkdir(dir, 0700) != 0) {
        LOG_ERR("cannot create the data directory %s: %s", dir,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* Writes a new file with mode 0600 (never over an existing one), fsyncs it. */
static int write_secret_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    const char *p = data;

    if (fd < 0) {
        LOG_ERR("cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            LOG_ERR("cannot write %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        LOG_ERR("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Reads a key file of exactly len bytes from the data directory. */
static int read_key_file(const char *dir, const char *name, uint8_t *key, size_t len)
{
    char path[4096];
    FILE *f;
    int ok;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((f = fopen(path, "rb")) == NULL) {
        LOG_ERR("cannot read %s (%s): is %s initialised? run "
                        "`tallinnd init --data-dir %s`", path, strerror(errno), dir, dir);
        return -1;
    }
    ok = fread(key, 1, len, f) == len && fgetc(f) == EOF;
    fclose(f);
    if (!ok)
        LOG_ERR("%s is damaged (want exactly %zu bytes)", path, len);
    return ok ? 0 : -1;
}

static int new_key_file(const char *dir, const char *name, size_t len)
{
    uint8_t key[64];
    char path[4096];
    int rc;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    randombytes_buf(key, len);
    rc = write_secret_file(path, key, len);
    sodium_memzero(key, sizeof(key));
    return rc;
}

/* Is the database initialised already (its first administrator exists)?
 * 1 yes, 0 no, -1 cannot tell. */
static int has_first_admin(store *st)
{
    ProtobufCMessage *m = NULL;
    store_tx *tx;
    int rc;

    if (store_read_begin(st, &tx) != STORE_OK)
        return -1;
    rc = store_get(tx, STORE_PRINCIPAL, "principals/admin", NULL, &m);
    store_read_end(tx);
    if (m != NULL)
        protobuf_c_message_free_unpacked(m, NULL);
    return rc == STORE_OK ? 1 : rc == STORE_NOT_FOUND ? 0 : -1;
}

/* tallinnd init: the database, the keys and the first ADMIN token. With
 * PostgreSQL the database is checked first: one data directory initialises
 * it, and every replica gets a copy of that directory. */
static int init(const char *dir, const char *origin_flag, const char *database_url)
{
    char origin[300], host[256], vkey[NOTE_VERIFIER_KEY_MAX];
    char path[4096], err[512], token[AUTHZ_TOKEN_BUF];
    uint8_t key[AUTHZ_KEYBYTES];
    store_options so;
    store *st = NULL;
    struct stat sb;
    int rc = 1, lock_fd = -1;

    /* The lock guards a SQLite database; key files are created O_EXCL. */
    if (make_data_dir(dir) != 0 ||
        (database_url == NULL && datalock_acquire(dir, 0, &lock_fd) != 0))
        return 1;
    snprintf(path, sizeof(path), "%s/%s", dir, TOKEN_KEY_FILE);
    if (stat(path, &sb) == 0) {
        LOG_ERR("%s is already initialised (%s exists); nothing changed", dir,
                path);
        goto done;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, DB_FILE);
    memset(&so, 0, sizeof(so));
    so.path = path;
    so.database_url = database_url;
    so.shared = database_url != NULL;
    if (store_open(&st, &so, err, sizeof(err)) != STORE_OK) {
        LOG_ERR("%s", err);
        goto done;
    }
    switch (has_first_admin(st)) {
    case 0:
        break;
    case 1:
        LOG_ERR("the database is initialised already (it has its first "
                        "administrator): give this replica a copy of the data directory that "
                        "initialised it; nothing changed");
        goto done;
    default:
        LOG_ERR("cannot read the database");
        goto done;
    }
    if (origin_flag != NULL) {
        snprintf(origin, sizeof(origin), "%s", origin_flag);
    } else {
        if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
            snprintf(host, sizeof(host), "localhost");
        host[sizeof(host) - 1] = '\0';
        snprintf(origin, sizeof(origin), "%s/tallinn", host);
    }
    if (audit_keygen(dir, origin, vkey, sizeof(vkey)) != 0 ||
        new_key_file(dir, PAGE_KEY_FILE, PAGETOKEN_KEYBYTES) != 0 ||
        new_key_file(dir, TOKEN_KEY_FILE, AUTHZ_KEYBYTES) != 0 ||
        read_key_file(dir, TOKEN_KEY_FILE, key, sizeof(key)) != 0)
        goto done;
    if (principals_bootstrap(st, key, token) != 0) {
        LOG_ERR("cannot create the first administrator");
        goto done;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, ADMIN_TOKEN_FILE);
    if (write_secret_file(path, token, strlen(token)) != 0)
        goto done;
    printf("initialised %s\n"
           "the first ADMIN token is in %s (mode 0600); it is shown nowhere else.\n"
           "use it with: tallinnctl --token-file %s ...  (or TALLINN_TOKEN_FILE=%s),\n"
           "or keep it in a context: tallinnctl config set-context admin --addr HOST:PORT "
           "--token-file %s\n"
           "the audit log's verifier key (give it to auditors):\n%s\n",
           dir, path, path, path, path, vkey);
    rc = 0;
done:
    sodium_memzero(token, sizeof(token));
    sodium_memzero(key, sizeof(key));
    store_close(st);
    datalock_release(lock_fd);
    return rc;
}

static int serve(const serve_opts *o)
{
    rpc_server_options ro;
    rpc_server *srv = NULL;
    health *h = NULL;
    reflection *refl = NULL;
    store *st = NULL;
    store_options so;
    api a;
    authz *z = NULL;
    audit *log = NULL;
    changes_waiter *waiter = NULL;
    witnesses *wit = NULL;
    uint8_t token_key[AUTHZ_KEYBYTES];
    sigset_t sigs;
    char db[4096], err[512];
    int sig, port = 0, rc = 1;

    int lock_fd = -1;
    metrics_http *mh = NULL;

    /* Signals are taken by sigwait in this thread only: block them before any
     * thread starts (the store's committer is the first), so every thread
     * inherits the mask. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (make_data_dir(o->data_dir) != 0)
        return 1;
    memset(&a, 0, sizeof(a));
    a.currency = o->currency;
    if (read_key_file(o->data_dir, PAGE_KEY_FILE, a.page_key, sizeof(a.page_key)) != 0 ||
        read_key_file(o->data_dir, TOKEN_KEY_FILE, token_key, sizeof(token_key)) != 0)
        return 1;
    snprintf(db, sizeof(db), "%s/%s", o->data_dir, DB_FILE);
    memset(&so, 0, sizeof(so));
    so.path = db;
    so.change_log = 1; /* the change feed's and the histories' source */
    /* PostgreSQL: other replicas write the same database, each with its
     * own copy of the data directory, which holds keys only (read). */
    so.database_url = o->database_url;
    so.shared = o->database_url != NULL;
    if (o->database_url == NULL && access(o->data_dir, W_OK) != 0 && errno == EROFS) {
        so.read_only = 1;
        SLOG(SLOG_WARN, "read_only", SLOG_S("data_dir", o->data_dir),
             SLOG_S("msg", "the data directory is on read-only storage: reads are served, "
                           "every write is refused"));
    }
    /* One server per SQLite database (in the data directory), before
     * anything opens it. */
    if (o->database_url == NULL && datalock_acquire(o->data_dir, so.read_only, &lock_fd) != 0) {
        sodium_memzero(a.page_key, sizeof(a.page_key));
        sodium_memzero(token_key, sizeof(token_key));
        return 1;
    }
    if (store_open(&st, &so, err, sizeof(err)) != STORE_OK) {
        LOG_ERR("%s", err);
        sodium_memzero(a.page_key, sizeof(a.page_key));
        sodium_memzero(token_key, sizeof(token_key));
        datalock_release(lock_fd);
        return 1;
    }
    a.store = st;
    if (audit_open(&log, st, o->data_dir, err, sizeof(err)) != 0) {
        LOG_ERR("refusing to start: %s", err);
        sodium_memzero(token_key, sizeof(token_key));
        goto done;
    }
    a.audit = log;
    if (changes_waiter_create(&waiter, st, o->watch_poll_ms) != STORE_OK) {
        LOG_ERR("cannot observe the store's commits for change feeds");
        sodium_memzero(token_key, sizeof(token_key));
        goto done;
    }
    if (o->n_witnesses > 0) {
        witnesses_options wo = {
            .list = o->witnesses,
            .count = o->n_witnesses,
            .quorum = o->witness_quorum > 0 ? (size_t)o->witness_quorum : o->n_witnesses / 2 + 1,
            .timeout_ms = o->witness_timeout_ms,
            .ca_file = o->witness_ca,
        };
        if (witnesses_create(&wit, st, log, &wo, err, sizeof(err)) != 0) {
            LOG_ERR("%s", err);
            sodium_memzero(token_key, sizeof(token_key));
            goto done;
        }
    }
    if (authz_create(&z, st, token_key, NULL) != 0) {
        sodium_memzero(token_key, sizeof(token_key));
        goto done;
    }
    sodium_memzero(token_key, sizeof(token_key));


    memset(&ro, 0, sizeof(ro));
    ro.listen_addr = o->listen;
    ro.threads = o->threads;
    ro.max_workers = o->max_workers;
    ro.max_message_bytes = (size_t)o->max_message_bytes;
    ro.max_streams = o->max_streams;
    ro.max_anon_streams = o->max_anon_streams;
    ro.max_principal_streams = o->max_principal_streams;
    ro.loopback_only = o->insecure;
    ro.quiet = o->quiet || !slog_enabled(SLOG_INFO); /* call lines are info */
    if (!o->insecure && (ro.creds = tls_credentials(o)) == NULL)
        goto done;
    if (rpc_server_create(&srv, &ro) != 0)
        goto done;
    if (health_create(&h) != 0 || health_register(h, srv) != 0)
        goto done;
    if (needs_register(srv, &a) != 0 || donors_register(srv, &a) != 0 ||
        matches_register(srv, &a) != 0 || reports_register(srv, &a) != 0 ||
        rates_register(srv, &a) != 0 ||
        principals_register(srv, &a, z) != 0 || diagnostics_register(srv, &a) != 0 ||
        audit_register(srv, &a, log, wit) != 0 || changes_register(srv, &a, waiter) != 0)
        goto done;
    /* Last: it checks that every service registered before it is described. */
    if (reflection_create(&refl, rpc_descriptor_set, rpc_descriptor_set_len) != 0 ||
        reflection_register(refl, srv) != 0)
        goto done;
    if (health_set_services(h, srv, HEALTH_NOT_SERVING) != 0)
        goto done;
    authz_set_audit(z, log);
    authz_install(z, srv);
    /* Before the gRPC port: an address it must refuse stops the start with
     * nothing served. */
    if (o->metrics_listen != NULL) {
        metrics_sources ms = {srv, st, log, z, wit};
        int mport;
        if (metrics_http_start(&mh, o->metrics_listen, o->metrics_allow_remote, &ms, &mport) != 0)
            goto done;
        SLOG(SLOG_NOTICE, "metrics_listening", SLOG_S("addr", o->metrics_listen),
             SLOG_I("port", mport), SLOG_S("path", "/metrics"));
    }
    if (rpc_server_start(srv, &port) != 0)
        goto done;
    if (wit != NULL && so.read_only) {
        /* Nothing new to send, and no cosignature could be kept: serve the
         * ones in the database only. */
        slog_msg(SLOG_WARN, "witnesses_idle", NULL, 0,
                 "read-only storage: the witnesses' cosignatures are served, no checkpoint is "
                 "sent");
    } else if (wit != NULL) {
        if (witnesses_start(wit) != 0) {
            LOG_ERR("cannot start the witness senders");
            goto done;
        }
        for (size_t i = 0; i < witnesses_count(wit); i++) {
            witness_stats ws;
            witnesses_stats(wit, i, &ws);
            SLOG(SLOG_NOTICE, "witness", SLOG_S("witness", ws.name), SLOG_S("url", ws.url),
                 SLOG_I("quorum", witnesses_quorum(wit)), SLOG_I("of", witnesses_count(wit)));
        }
    }
    health_set_services(h, srv, HEALTH_SERVING);
    SLOG(SLOG_NOTICE, "listening", SLOG_S("addr", o->listen), SLOG_I("port", port),
         SLOG_S("bound", rpc_server_bound_addresses(srv)),
         SLOG_S("tls", o->insecure ? "off" : (o->client_ca ? "mutual" : "on")),
         SLOG_S("data_dir", o->data_dir), SLOG_S("engine", store_engine_name(st)),
         SLOG_S("version", TALLINN_VERSION), SLOG_S("audit_key", audit_verifier_key(log)));
    /* systemd Type=notify: ready only now that the port accepts calls. Without
     * NOTIFY_SOCKET (not under systemd) sd_notify does nothing. */
    sd_notifyf(0, "READY=1\nSTATUS=serving on %s", rpc_server_bound_addresses(srv));

    while (sigwait(&sigs, &sig) != 0)
        ;
    SLOG(SLOG_NOTICE, "shutdown", SLOG_S("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"),
         SLOG_I("grace_ms", o->grace_ms));
    sd_notifyf(0, "STOPPING=1\nSTATUS=draining calls for up to %d ms", o->grace_ms);
    health_shutdown(h);
    changes_waiter_shutdown(waiter); /* feeds end now, saying where to resume */
    rpc_server_shutdown(srv, o->grace_ms);
    rc = 0;
done:
    metrics_http_stop(mh); /* first: a scrape reads everything below */
    witnesses_stop(wit); /* before the store: senders read and write it */
    rpc_server_destroy(srv);
    changes_waiter_shutdown(waiter); /* its poller reads the store: stop it first */
    authz_destroy(z);  /* after the server, before the store: it writes last-use times */
    store_close(st);   /* after the server: no handler runs any more */
    witnesses_destroy(wit); /* after the store: it observed the store's commits */
    audit_close(log);  /* after the store: its last batches still sign */
    changes_waiter_destroy(waiter); /* after the store: it observed its commits */
    health_destroy(h);
    reflection_destroy(refl); /* after the server: no stream reads it any more */
    datalock_release(lock_fd); /* last: nothing touches the directory any more */
    sodium_memzero(a.page_key, sizeof(a.page_key));
    if (rc == 0)
        slog_write(SLOG_NOTICE, "stopped", NULL, 0);
    return rc;
}

int main(int argc, char **argv)
{
    enum { O_LISTEN = 256, O_DATA, O_DATABASE, O_CERT, O_KEY, O_CA, O_INSECURE, O_THREADS, O_MAXMSG,
           O_STREAMS, O_GRACE, O_QUIET, O_VERSION, O_CURRENCY, O_WORKERS, O_ORIGIN, O_TO,
           O_ANON_STREAMS, O_PRINCIPAL_STREAMS, O_WATCH_POLL, O_WITNESS, O_WITNESSES_FILE,
           O_WITNESS_QUORUM, O_WITNESS_TIMEOUT, O_WITNESS_CA, O_LOG_FORMAT, O_LOG_LEVEL, O_METRICS,
           O_METRICS_REMOTE };
    static witness_config witness_list[WITNESSES_MAX];
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"data-dir", required_argument, NULL, O_DATA},
        {"database", required_argument, NULL, O_DATABASE},
        {"tls-cert", required_argument, NULL, O_CERT},
        {"tls-key", required_argument, NULL, O_KEY},
        {"client-ca", required_argument, NULL, O_CA},
        {"insecure", no_argument, NULL, O_INSECURE},
        {"threads", required_argument, NULL, O_THREADS},
        {"max-workers", required_argument, NULL, O_WORKERS},
        {"max-message-bytes", required_argument, NULL, O_MAXMSG},
        {"max-streams", required_argument, NULL, O_STREAMS},
        {"max-anon-streams", required_argument, NULL, O_ANON_STREAMS},
        {"max-streams-per-principal", required_argument, NULL, O_PRINCIPAL_STREAMS},
        {"grace-ms", required_argument, NULL, O_GRACE},
        {"watch-poll-ms", required_argument, NULL, O_WATCH_POLL},
        {"quiet", no_argument, NULL, O_QUIET},
        {"log-format", required_argument, NULL, O_LOG_FORMAT},
        {"log-level", required_argument, NULL, O_LOG_LEVEL},
        {"metrics-listen", required_argument, NULL, O_METRICS},
        {"metrics-allow-remote", no_argument, NULL, O_METRICS_REMOTE},
        {"currency", required_argument, NULL, O_CURRENCY},
        {"origin", required_argument, NULL, O_ORIGIN},
        {"to", required_argument, NULL, O_TO},
        {"witness", required_argument, NULL, O_WITNESS},
        {"witnesses-file", required_argument, NULL, O_WITNESSES_FILE},
        {"witness-quorum", required_argument, NULL, O_WITNESS_QUORUM},
        {"witness-timeout-ms", required_argument, NULL, O_WITNESS_TIMEOUT},
        {"witness-ca", required_argument, NULL, O_WITNESS_CA},
        {"version", no_argument, NULL, O_VERSION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    serve_opts o = {
        .listen = DEFAULT_LISTEN,
        .data_dir = DEFAULT_DATA_DIR,
        .max_message_bytes = 4L * 1024 * 1024,
        .grace_ms = DEFAULT_GRACE_MS,
        .watch_poll_ms = CHANGES_POLL_MS_DEFAULT,
        .currency = DEFAULT_CURRENCY,
        .witnesses = witness_list,
    };
    char werr[1024];
    long file_quorum = 0;
    long v;
    int c, is_init = 0, is_backup = 0;
    slog_format log_format = SLOG_LOGFMT;
    slog_level log_level = SLOG_INFO;
    const char *backup_to = NULL;

    umask(077); /* the database and keys are for this user only */
    slog_capture_grpc(); /* the core's own lines get timestamps and the format too */
    opterr = 0;          /* getopt's messages would be lines without them */
    /* The log's form first, so that an error about an earlier flag is
     * already in it; getopt_long checks the values below. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (strncmp(a, "--log-format=", 13) == 0)
            v = a + 13;
        else if (strcmp(a, "--log-format") == 0 && i + 1 < argc)
            v = argv[i + 1];
        if (v != NULL && slog_parse_format(v, &log_format) == 0)
            slog_configure(log_format, log_level, 2);
    }
    if (sodium_init() < 0) {
        LOG_ERR("libsodium failed to initialise");
        return 1;
    }
    if (argc > 1 && argv[1][0] != '-') {
        if (strcmp(argv[1], "authz-matrix") == 0) {
            authz_write_matrix(stdout);
            return 0;
        }
        if (strcmp(argv[1], "init") == 0) {
            is_init = 1;
        } else if (strcmp(argv[1], "backup") == 0) {
            is_backup = 1;
        } else if (strcmp(argv[1], "serve") != 0) {
            LOG_USAGE("unknown command \"%s\" (try --help)", argv[1]);
            return 2;
        }
        argv++;
        argc--;
    }
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_LISTEN: o.listen = optarg; break;
        case O_DATA: o.data_dir = optarg; break;
        case O_DATABASE: o.database_url = optarg; break;
        case O_CERT: o.tls_cert = optarg; break;
        case O_KEY: o.tls_key = optarg; break;
        case O_CA: o.client_ca = optarg; break;
        case O_INSECURE: o.insecure = 1; break;
        case O_QUIET: o.quiet = 1; break;
        case O_METRICS: o.metrics_listen = optarg; break;
        case O_METRICS_REMOTE: o.metrics_allow_remote = 1; break;
        case O_LOG_FORMAT:
            if (slog_parse_format(optarg, &log_format) != 0) {
                LOG_USAGE("--log-format wants logfmt or json, not \"%s\"", optarg);
                return 2;
            }
            slog_configure(log_format, log_level, 2);
            break;
        case O_LOG_LEVEL:
            if (slog_parse_level(optarg, &log_level) != 0) {
                LOG_USAGE("--log-level wants debug, info, notice, warn or error, not \"%s\"", optarg);
                return 2;
            }
            slog_configure(log_format, log_level, 2);
            break;
        case O_ORIGIN: o.origin = optarg; break;
        case O_TO: backup_to = optarg; break;
        case O_CURRENCY:
            if (currency_minor_units(optarg, strlen(optarg)) < 0) {
                LOG_USAGE("--currency wants an active ISO 4217 code with minor "
                                "units, such as EUR");
                return 2;
            }
            o.currency = optarg;
            break;
        case O_THREADS:
            if (parse_int("--threads", optarg, 1, 256, &v) != 0)
                return 2;
            o.threads = (int)v;
            break;
        case O_WORKERS:
            if (parse_int("--max-workers", optarg, 1, 4096, &v) != 0)
                return 2;
            o.max_workers = (int)v;
            break;
        case O_MAXMSG:
            if (parse_int("--max-message-bytes", optarg, 1024, INT32_MAX, &v) != 0)
                return 2;
            o.max_message_bytes = v;
            break;
        case O_STREAMS:
            if (parse_int("--max-streams", optarg, 1, 1000000, &v) != 0)
                return 2;
            o.max_streams = (int)v;
            break;
        case O_ANON_STREAMS:
            if (parse_int("--max-anon-streams", optarg, 1, 1000000, &v) != 0)
                return 2;
            o.max_anon_streams = (int)v;
            break;
        case O_PRINCIPAL_STREAMS:
            if (parse_int("--max-streams-per-principal", optarg, 1, 1000000, &v) != 0)
                return 2;
            o.max_principal_streams = (int)v;
            break;
        case O_GRACE:
            if (parse_int("--grace-ms", optarg, 0, 3600000, &v) != 0)
                return 2;
            o.grace_ms = (int)v;
            break;
        case O_WATCH_POLL:
            if (parse_int("--watch-poll-ms", optarg, 10, 60000, &v) != 0)
                return 2;
            o.watch_poll_ms = (int)v;
            break;
        case O_WITNESS:
            if (o.n_witnesses >= WITNESSES_MAX) {
                LOG_USAGE("at most %d witnesses", WITNESSES_MAX);
                return 2;
            }
            if (witness_config_parse(optarg, &witness_list[o.n_witnesses], werr,
                                     sizeof(werr)) != 0) {
                LOG_USAGE("%s", werr);
                return 2;
            }
            o.n_witnesses++;
            break;
        case O_WITNESSES_FILE:
            if (witness_config_file(optarg, witness_list, WITNESSES_MAX, &o.n_witnesses,
                                    &file_quorum, werr, sizeof(werr)) != 0) {
                LOG_USAGE("%s", werr);
                return 2;
            }
            break;
        case O_WITNESS_QUORUM:
            if (parse_int("--witness-quorum", optarg, 1, WITNESSES_MAX, &v) != 0)
                return 2;
            o.witness_quorum = v;
            break;
        case O_WITNESS_TIMEOUT:
            if (parse_int("--witness-timeout-ms", optarg, 100, 600000, &v) != 0)
                return 2;
            o.witness_timeout_ms = v;
            break;
        case O_WITNESS_CA: o.witness_ca = optarg; break;
        case O_VERSION:
            printf("tallinnd %s\n", TALLINN_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default: /* getopt is silent (opterr = 0): say it as a log line */
            if (optopt != 0 && c == '?')
                LOG_USAGE("%s needs a value or is not an option (try --help)", argv[optind - 1]);
            else
                LOG_USAGE("unknown option %s (try --help)", argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        LOG_USAGE("unexpected argument \"%s\" (try --help)", argv[optind]);
        return 2;
    }
    for (size_t i = 0; i < o.n_witnesses; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(witness_list[i].key.name, witness_list[j].key.name) == 0) {
                LOG_USAGE("--witness %s is given twice", witness_list[i].key.name);
                return 2;
            }
    if (o.witness_quorum == 0)
        o.witness_quorum = file_quorum; /* the flag wins over the file */
    if (o.witness_quorum > 0 && (size_t)o.witness_quorum > o.n_witnesses) {
        LOG_USAGE("--witness-quorum %ld, but %zu witnesses are configured", o.witness_quorum,
                  o.n_witnesses);
        return 2;
    }
    if (is_init)
        return init(o.data_dir, o.origin, o.database_url);
    if (is_backup) {
        char src[4096], err[512];
        if (o.database_url != NULL) {
            LOG_USAGE("backup copies a SQLite database; back PostgreSQL up with "
                            "its own tools (pg_basebackup, pg_dump: docs/deploy.md)");
            return 2;
        }
        if (backup_to == NULL) {
            LOG_USAGE("backup needs --to FILE");
            return 2;
        }
        snprintf(src, sizeof(src), "%s/%s", o.data_dir, DB_FILE);
        if (store_backup(src, backup_to, err, sizeof(err)) != STORE_OK) {
            LOG_ERR("%s", err);
            return 1;
        }
        printf("backed up %s to %s (keys are not in it: keep %s/*.key safe separately)\n", src,
               backup_to, o.data_dir);
        return 0;
    }
    if (o.metrics_allow_remote && o.metrics_listen == NULL) {
        LOG_USAGE("--metrics-allow-remote needs --metrics-listen");
        return 2;
    }
    if (o.metrics_listen != NULL && !o.metrics_allow_remote) {
        char why[256];
        /* Checked again on the socket bound (metrics_http.c). */
        if (!rpc_addr_is_loopback(o.metrics_listen, why, sizeof(why))) {
            LOG_USAGE("refusing --metrics-listen %s: the metrics endpoint is plain HTTP without "
                      "authentication, so it listens on loopback only (127.0.0.1, ::1, "
                      "localhost) unless --metrics-allow-remote is given (then put TLS and "
                      "authentication in front of it: a reverse proxy); %s",
                      o.metrics_listen, why);
            return 2;
        }
    }
    if (o.insecure) {
        char why[256];
        /* A first check on what the name resolves to; the runtime checks the
         * sockets actually bound again when it starts. */
        if (!rpc_addr_is_loopback(o.listen, why, sizeof(why))) {
            LOG_USAGE("refusing plaintext on %s: --insecure is allowed only on "
                            "a loopback address (127.0.0.1, ::1, localhost), and %s; use "
                            "--tls-cert and --tls-key", o.listen, why);
            return 2;
        }
        if (o.tls_cert != NULL || o.client_ca != NULL) {
            LOG_USAGE("--insecure and TLS flags exclude each other");
            return 2;
        }
    } else if (o.tls_cert == NULL || o.tls_key == NULL) {
        LOG_USAGE("TLS is the default: give --tls-cert and --tls-key "
                        "(or --insecure on a loopback address for local use)");
        return 2;
    }
    return serve(&o);
}
