/* audit_witness.c — what a verifier demands of witnesses: --witness and
 * --quorum, and the check that at least K of the named witnesses validly
 * cosigned (C2SP tlog-cosignature/v1) the checkpoint being trusted. Fewer is
 * a SECURITY ERROR: without a quorum nothing shows that others were shown
 * the same log. No network. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_cmds.h"
#include "tallinn/cosig.h"
#include "tallinn/note.h"
#include "tallinn/textsafe.h"

int audit_witness_option(audit_witnesses *w, int c, const char *arg)
{
    char *end;
    switch (c) {
    case 'W':
    case 320:
        if (w->count == AUDIT_MAX_WITNESSES) {
            fprintf(stderr, AUDIT_PROG ": --witness: more than %d witnesses\n",
                    AUDIT_MAX_WITNESSES);
            return -1;
        }
        if (audit_load_witness(arg, &w->keys[w->count]) != 0)
            return -1;
        for (size_t i = 0; i < w->count; i++)
            if (w->keys[i].key_id == w->keys[w->count].key_id &&
                strcmp(w->keys[i].name, w->keys[w->count].name) == 0) {
                fprintf(stderr, AUDIT_PROG ": --witness %s given twice\n", w->keys[i].name);
                return -1;
            }
        w->count++;
        return 1;
    case 321:
        errno = 0;
        w->quorum = strtoul(arg, &end, 10);
        if (errno || *end || arg[0] < '1' || arg[0] > '9' || w->quorum > AUDIT_MAX_WITNESSES) {
            fprintf(stderr, AUDIT_PROG ": --quorum: '%s' is not a number of witnesses (>= 1)\n",
                    arg);
            return -1;
        }
        return 1;
    default:
        return 0;
    }
}

int audit_witness_finish(audit_witnesses *w, const char *cmd)
{
    if (w->quorum > 0 && w->count == 0) {
        fprintf(stderr, AUDIT_PROG " %s: --quorum needs the witnesses' keys (--witness)\n", cmd);
        return -1;
    }
    if (w->quorum > w->count) {
        fprintf(stderr,
                AUDIT_PROG " %s: --quorum %zu is above the %zu witness%s given: it could never "
                           "be met\n",
                cmd, w->quorum, w->count, w->count == 1 ? "" : "es");
        return -1;
    }
    if (w->quorum == 0)
        w->quorum = w->count;
    return 0;
}

/* The note, indented, one line at a time through textsafe: it came from a
 * file or a server and reaches a terminal. */
static void print_note(const char *note, size_t len)
{
    char out[1024];
    size_t start = 0;
    while (start < len) {
        const char *nl = memchr(note + start, '\n', len - start);
        size_t n = nl ? (size_t)(nl - (note + start)) : len - start;
        size_t done = 0;
        fputs("    ", stderr);
        while (done < n) {
            size_t used = textsafe_escape(note + start + done, n - done, 0, out, sizeof out, NULL);
            fputs(out, stderr);
            if (used == 0)
                break;
            done += used;
        }
        fputc('\n', stderr);
        start += n + 1;
    }
}

int audit_witness_check(const audit_witnesses *w, const char *cmd, const char *where,
                        const char *note, size_t len, char *summary, size_t size)
{
    char err[1024];
    size_t valid = 0;
    if (summary && size)
        summary[0] = '\0';
    if (w->count == 0)
        return AUDIT_EXIT_OK;
    int rc = cosig_check_quorum(note, len, w->keys, w->count, w->quorum, &valid, err,
                                sizeof err);
    if (rc == 0) {
        if (summary && size) {
            note_parsed *p = malloc(sizeof *p);
            uint64_t ts[AUDIT_MAX_WITNESSES];
            int n = snprintf(summary, size, "%zu of %zu cosigned (quorum %zu):", valid,
                             w->count, w->quorum);
            if (p && note_parse(note, len, p, NULL, 0) == 0 &&
                cosig_verify(p, w->keys, w->count, NULL, ts, NULL, 0) == 0)
                for (size_t i = 0; i < w->count && n >= 0 && (size_t)n < size; i++)
                    if (ts[i])
                        n += snprintf(summary + n, size - (size_t)n, " %s", w->keys[i].name);
            free(p);
        }
        return AUDIT_EXIT_OK;
    }
    if (rc == -ENOKEY)
        fprintf(stderr,
                AUDIT_PROG ": %s: SECURITY ERROR: too few witnesses cosigned the checkpoint of "
                           "%s: %s.\n"
                           "Only a quorum of independent witnesses shows that others were shown "
                           "this same log; without it, this may be a split view (one history "
                           "shown to you, another to others). Do not rely on it.\n",
                cmd, where, err);
    else if (rc == -EBADMSG)
        fprintf(stderr,
                AUDIT_PROG ": %s: SECURITY ERROR: the checkpoint of %s carries an invalid "
                           "cosignature: %s.\n"
                           "A witness never signs this; the line was forged or altered.\n",
                cmd, where, err);
    else
        fprintf(stderr, AUDIT_PROG ": %s: SECURITY ERROR: the checkpoint of %s: %s\n", cmd,
                where, err);
    fprintf(stderr, "checkpoint:\n");
    print_note(note, len);
    return AUDIT_EXIT_SECURITY;
}
