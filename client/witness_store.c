/* witness_store.c — a witness's directory: its key (written once, 0600), the
 * lock that keeps a second process off it, and per log the latest checkpoint
 * it cosigned, replaced atomically and durably before any answer; evidence
 * of refused, validly signed checkpoints. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit_cmds.h"
#include "tallinn/checkpoint.h"
#include "witness.h"

#define EVIDENCE_MAX 1000 /* files one process writes at most */

static int fail(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    return -1;
}

static int make_dir(const char *path, char *err, size_t err_size)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return fail(err, err_size, "cannot create %s: %s", path, strerror(errno));
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Writes data to a new file at path (mode), never replacing one: a
 * temporary file, fsync, link() (which fails if path exists), fsync of dir. */
static int write_new_file(const char *dir, const char *path, const char *data, size_t len,
                          mode_t mode, char *err, size_t err_size)
{
    char tmp[4096];
    int rc = -1;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path) >= sizeof tmp)
        return fail(err, err_size, "%s: path too long", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return fail(err, err_size, "cannot create a file in %s: %s", dir, strerror(errno));
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            fail(err, err_size, "%s: write: %s", tmp, strerror(errno));
            goto out;
        }
        done += (size_t)w;
    }
    if (fchmod(fd, mode) != 0 || fsync(fd) != 0) {
        fail(err, err_size, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    if (link(tmp, path) != 0) {
        if (errno == EEXIST)
            fail(err, err_size, "%s already exists: refusing to replace a witness key", path);
        else
            fail(err, err_size, "cannot create %s: %s", path, strerror(errno));
        goto out;
    }
    if (fsync_dir(dir) != 0) {
        fail(err, err_size, "%s: fsync of the directory: %s", dir, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    close(fd);
    unlink(tmp);
    return rc;
}

int witness_store_init(const char *dir, const char *name, char *vkey, size_t vkey_size,
                       char *err, size_t err_size)
{
    char skey[COSIG_PRIVATE_KEY_MAX + 1], path[4096], vpath[4096];
    int rc = -1;
    if (note_check_name(name, strlen(name)) != 0)
        return fail(err, err_size,
                    "--name \"%s\": a key name is non-empty, without spaces or '+', e.g. "
                    "witness.example.org/tallinn",
                    name);
    if (make_dir(dir, err, err_size) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/" WITNESS_KEY_FILE, dir);
    snprintf(vpath, sizeof vpath, "%s/" WITNESS_VKEY_FILE, dir);
    if (access(path, F_OK) == 0)
        return fail(err, err_size, "%s already exists: refusing to replace a witness key", path);
    if (cosig_keygen(name, skey, sizeof skey - 1, vkey, vkey_size) != 0)
        return fail(err, err_size, "cannot generate a key");
    size_t n = strlen(skey);
    skey[n] = '\n';
    if (write_new_file(dir, path, skey, n + 1, 0600, err, err_size) != 0)
        goto out;
    char line[COSIG_VERIFIER_KEY_MAX + 1];
    int vn = snprintf(line, sizeof line, "%s\n", vkey);
    /* The public half: replaced if a stale one is left from a failed init. */
    if (audit_state_save(vpath, line, (size_t)vn, err, err_size) != 0 ||
        chmod(vpath, 0644) != 0) {
        if (!err[0])
            fail(err, err_size, "%s: %s", vpath, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    sodium_memzero(skey, sizeof skey);
    return rc;
}

static int load_key(witness_store *s, char *err, size_t err_size)
{
    char path[4096], sub[512];
    char *text = NULL;
    size_t len = 0;
    struct stat st;
    int rc = -1;
    snprintf(path, sizeof path, "%s/" WITNESS_KEY_FILE, s->dir);
    if (stat(path, &st) != 0)
        return fail(err, err_size, "%s: %s (run '" AUDIT_PROG " witness init' first)", path,
                    strerror(errno));
    if (st.st_mode & 077)
        return fail(err, err_size, "%s is readable by others (mode %04o): chmod 600 it", path,
                    (unsigned)(st.st_mode & 07777));
    if (audit_read_file(path, 4096, &text, &len, sub, sizeof sub) != 0)
        return fail(err, err_size, "%s", sub);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    if (cosig_signer_create(text, &s->signer, sub, sizeof sub) != 0) {
        fail(err, err_size, "%s: %s", path, sub);
        goto out;
    }
    cosig_signer_verifier(s->signer, &s->self);
    rc = 0;
out:
    sodium_memzero(text, len);
    free(text);
    return rc;
}

static int take_lock(witness_store *s, char *err, size_t err_size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/" WITNESS_LOCK_FILE, s->dir);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0)
        return fail(err, err_size, "%s: %s", path, strerror(errno));
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return fail(err, err_size,
                    "%s: %s (is another witness serving %s? two processes must not answer "
                    "for one state)",
                    path, errno == EWOULDBLOCK ? "locked" : strerror(errno), s->dir);
    return 0;
}

static void log_path(const witness_store *s, const witness_log *log, char *buf, size_t size)
{
    snprintf(buf, size, "%s/" WITNESS_LOGS_DIR "/%s.checkpoint", s->dir, log->origin_hash);
}

/* The state of one log: the checkpoint this witness last cosigned, which
 * must carry its own valid cosignature and the log's origin. */
static int load_state(witness_store *s, witness_log *log, char *err, size_t err_size)
{
    char path[4096], sub[512];
    char *note = NULL;
    size_t len = 0, valid = 0;
    note_parsed *p = NULL;
    checkpoint cp;
    int rc;
    log_path(s, log, path, sizeof path);
    merkle_hash_empty(log->root);
    rc = audit_read_file(path, WITNESS_STATE_MAX, &note, &len, sub, sizeof sub);
    if (rc == -ENOENT)
        return 0;
    if (rc != 0)
        return fail(err, err_size, "%s", sub);
    rc = -1;
    p = malloc(sizeof *p);
    if (!p) {
        fail(err, err_size, "out of memory");
        goto out;
    }
    if (note_parse(note, len, p, sub, sizeof sub) != 0 ||
        cosig_verify(p, &s->self, 1, &valid, NULL, sub, sizeof sub) != 0 || valid != 1 ||
        checkpoint_parse(note, p->text_len, &cp, sub, sizeof sub) != 0) {
        fail(err, err_size,
             "%s: not a checkpoint cosigned by this witness's key (%s): the state was "
             "damaged or replaced; refusing to start rather than forget what was cosigned",
             path, valid == 1 || sub[0] ? sub : "no cosignature by this key");
        goto out;
    }
    if (strcmp(cp.origin, log->origin) != 0) {
        fail(err, err_size, "%s: holds a checkpoint of \"%s\", not \"%s\"", path, cp.origin,
             log->origin);
        goto out;
    }
    log->size = cp.size;
    memcpy(log->root, cp.root, MERKLE_HASH_SIZE);
    log->note = note;
    log->note_len = len;
    note = NULL;
    rc = 0;
out:
    free(p);
    free(note);
    return rc;
}

static int add_key(witness_store *s, const char *vkey, char *err, size_t err_size)
{
    note_verifier v;
    if (audit_load_key_as("--log", vkey, &v) != 0)
        return fail(err, err_size, "--log: not a log's verifier key (see above)");
    witness_log *log = witness_store_find(s, v.name);
    if (!log) {
        witness_log *grown = realloc(s->logs, (s->log_count + 1) * sizeof *grown);
        if (!grown)
            return fail(err, err_size, "out of memory");
        s->logs = grown;
        log = &s->logs[s->log_count++];
        memset(log, 0, sizeof *log);
        memcpy(log->origin, v.name, sizeof log->origin);
        tlogwitness_origin_hash(log->origin, log->origin_hash);
    }
    for (size_t i = 0; i < log->key_count; i++)
        if (log->keys[i].key_id == v.key_id &&
            memcmp(log->keys[i].public_key, v.public_key, NOTE_PUBLIC_KEY_SIZE) == 0)
            return 0; /* given twice */
    note_verifier *keys = realloc(log->keys, (log->key_count + 1) * sizeof *keys);
    if (!keys)
        return fail(err, err_size, "out of memory");
    log->keys = keys;
    log->keys[log->key_count++] = v;
    return 0;
}

int witness_store_open(const char *dir, const char *const *log_vkeys, size_t n, witness_store **out,
                       char *err, size_t err_size)
{
    char path[4096];
    witness_store *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s || !(s->dir = strdup(dir))) {
        free(s);
        return fail(err, err_size, "out of memory");
    }
    s->lock_fd = -1;
    if (take_lock(s, err, err_size) != 0 || load_key(s, err, err_size) != 0)
        goto fail;
    snprintf(path, sizeof path, "%s/" WITNESS_LOGS_DIR, dir);
    if (make_dir(path, err, err_size) != 0)
        goto fail;
    snprintf(path, sizeof path, "%s/" WITNESS_EVIDENCE_DIR, dir);
    if (make_dir(path, err, err_size) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (add_key(s, log_vkeys[i], err, err_size) != 0)
            goto fail;
    for (size_t i = 0; i < s->log_count; i++)
        if (load_state(s, &s->logs[i], err, err_size) != 0)
            goto fail;
    *out = s;
    return 0;
fail:
    witness_store_close(s);
    return -1;
}

void witness_store_close(witness_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->log_count; i++) {
        free(s->logs[i].keys);
        free(s->logs[i].note);
    }
    free(s->logs);
    cosig_signer_destroy(s->signer);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the lock */
    free(s->dir);
    free(s);
}

witness_log *witness_store_find(witness_store *s, const char *origin)
{
    for (size_t i = 0; i < s->log_count; i++)
        if (strcmp(s->logs[i].origin, origin) == 0)
            return &s->logs[i];
    return NULL;
}

witness_log *witness_store_find_hash(witness_store *s, const char *origin_hash)
{
    for (size_t i = 0; i < s->log_count; i++)
        if (strcmp(s->logs[i].origin_hash, origin_hash) == 0)
            return &s->logs[i];
    return NULL;
}

int witness_store_save(witness_store *s, witness_log *log, const char *note, size_t len,
                       uint64_t size, const uint8_t root[MERKLE_HASH_SIZE], char *err,
                       size_t err_size)
{
    char path[4096];
    char *copy = malloc(len + 1);
    if (!copy)
        return fail(err, err_size, "out of memory");
    memcpy(copy, note, len);
    copy[len] = '\0';
    log_path(s, log, path, sizeof path);
    /* audit_state_save: temporary file, fsync, rename, fsync of the
     * directory. Only then is the new state the witness's. */
    if (audit_state_save(path, note, len, err, err_size) != 0) {
        free(copy);
        return -1;
    }
    free(log->note);
    log->note = copy;
    log->note_len = len;
    log->size = size;
    memcpy(log->root, root, MERKLE_HASH_SIZE);
    return 0;
}

void witness_store_evidence(witness_store *s, const witness_log *log, const char *body,
                            size_t len, int status)
{
    char path[4096], err[512];
    if (s->evidence_written >= EVIDENCE_MAX)
        return;
    snprintf(path, sizeof path, "%s/" WITNESS_EVIDENCE_DIR "/%s.%lld.%u.%d.txt", s->dir,
             log->origin_hash, (long long)time(NULL), s->evidence_written, status);
    if (audit_state_save(path, body, len, err, sizeof err) != 0) {
        fprintf(stderr, AUDIT_PROG " witness: could not keep evidence: %s\n", err);
        return;
    }
    s->evidence_written++;
    fprintf(stderr, AUDIT_PROG " witness: kept the refused checkpoint of \"%s\" as %s\n",
            log->origin, path);
}
