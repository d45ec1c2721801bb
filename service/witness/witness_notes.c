/* witness_notes.c — checkpoints as GetCheckpoint and exports serve them:
 * the log's signed note with the cosignature lines of the configured
 * witnesses appended (C2SP tlog-cosignature), and the newest checkpoint that
 * a quorum of them cosigned. Lines were verified when they were kept; the
 * quorum is verified again here, so a row written behind the server's back
 * never makes a checkpoint look cosigned. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "witness/witness_internal.h"

/* Steps back at most this many candidate sizes (sizes with enough rows, but
 * rows of witnesses no longer configured) before saying there is none. */
#define QUORUM_STEPS 32

int witness__configured(const struct witnesses *w, const char *vkey)
{
    for (size_t i = 0; w != NULL && i < w->count; i++)
        if (strcmp(w->cfg[i].vkey, vkey) == 0)
            return 1;
    return 0;
}

typedef struct lines {
    const witnesses *w;
    char *buf;
    size_t len, cap;
    size_t count;
    int nomem;
} lines;

static int collect(const char *witness, const uint8_t *line, size_t len, void *p)
{
    lines *l = p;

    if (!witness__configured(l->w, witness) || len == 0 || line[len - 1] != '\n')
        return 0;
    if (l->len + len > l->cap) {
        size_t cap = (l->cap ? l->cap * 2 : 1024) + len;
        char *b = realloc(l->buf, cap);
        if (b == NULL) {
            l->nomem = 1;
            return 1;
        }
        l->buf = b;
        l->cap = cap;
    }
    memcpy(l->buf + l->len, line, len);
    l->len += len;
    l->count++;
    return 0;
}

/* The note of checkpoint `size` as stored (note, len) with the kept lines of
 * configured witnesses added; *count of them. */
static int with_lines(const witnesses *w, store_tx *tx, int64_t size, const uint8_t *note,
                      size_t len, char **out, size_t *out_len, size_t *count)
{
    lines l = {.w = w};
    int rc;

    *out = NULL;
    *count = 0;
    if (w != NULL && w->count > 0) {
        if ((rc = store_cosignatures(tx, size, collect, &l)) != STORE_OK || l.nomem) {
            free(l.buf);
            return rc != STORE_OK ? rc : STORE_NOMEM;
        }
    }
    if (l.count > 0) {
        rc = cosig_note_add((const char *)note, len, l.buf, l.len, out, out_len, NULL, 0);
        free(l.buf);
        if (rc == 0) {
            *count = l.count;
            return STORE_OK;
        }
        if (rc == -ENOMEM)
            return STORE_NOMEM;
        /* A stored note or line that does not merge: serve the log's note
         * alone rather than nothing; verifiers count what verifies. */
    }
    if ((*out = malloc(len + 1)) == NULL)
        return STORE_NOMEM;
    memcpy(*out, note, len);
    (*out)[len] = '\0';
    *out_len = len;
    return STORE_OK;
}

int witnesses_checkpoint(const witnesses *w, store_tx *tx, int64_t size, char **note, size_t *len,
                         int64_t *size_out, size_t *cosigned)
{
    uint8_t *stored = NULL;
    size_t stored_len = 0, count;
    int64_t got = 0;
    int rc;

    *note = NULL;
    if ((rc = store_checkpoint_get(tx, size, &stored, &stored_len, &got)) != STORE_OK)
        return rc;
    rc = with_lines(w, tx, got, stored, stored_len, note, len, &count);
    free(stored);
    if (rc == STORE_OK && size_out != NULL)
        *size_out = got;
    if (rc == STORE_OK && cosigned != NULL)
        *cosigned = count;
    return rc;
}

int witnesses_quorum_checkpoint(const witnesses *w, store_tx *tx, char **note, size_t *len,
                                int64_t *size_out)
{
    int64_t before = INT64_MAX, size;
    int rc;

    *note = NULL;
    if (w == NULL || w->count == 0)
        return STORE_NOT_FOUND;
    for (int step = 0; step < QUORUM_STEPS; step++) {
        char *n = NULL;
        size_t n_len = 0;
        if ((rc = store_cosigned_size(tx, before, (int64_t)w->quorum, &size)) != STORE_OK)
            return rc;
        rc = witnesses_checkpoint(w, tx, size, &n, &n_len, NULL, NULL);
        if (rc == STORE_NOT_FOUND) { /* cosignatures of a checkpoint no longer kept */
            before = size;
            continue;
        }
        if (rc != STORE_OK)
            return rc;
        {
            cosig_verifier keys[WITNESSES_MAX];
            for (size_t i = 0; i < w->count; i++)
                keys[i] = w->cfg[i].key;
            if (cosig_check_quorum(n, n_len, keys, w->count, w->quorum, NULL, NULL, 0) == 0) {
                *note = n;
                *len = n_len;
                if (size_out != NULL)
                    *size_out = size;
                return STORE_OK;
            }
        }
        free(n);
        before = size;
    }
    return STORE_NOT_FOUND;
}
