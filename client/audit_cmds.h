/* audit_cmds.h — tallinn-audit's private interfaces: its commands and the
 * helpers they share (key loading, bounded file reads, failure reports,
 * the progress line). */
#ifndef TALLINN_AUDIT_CMDS_H
#define TALLINN_AUDIT_CMDS_H

#include <stddef.h>
#include <stdint.h>

#include "tallinn/note.h"

#define AUDIT_PROG "tallinn-audit"

/* Exit statuses, listed in --help. */
enum {
    AUDIT_EXIT_OK = 0,
    AUDIT_EXIT_FAILED = 1, /* something did not verify; the message says what and where */
    AUDIT_EXIT_USAGE = 2,  /* bad command line, unreadable key */
};

/* Commands: argv[0] is the command name; they return an exit status. */
int audit_cmd_verify(int argc, char **argv);
int audit_cmd_check_proof(int argc, char **argv);

/* Parses --key's value: a verifier key string, or a file holding one.
 * Prints the reason and returns -1 if it is neither. */
int audit_load_key(const char *arg, note_verifier *out);

/* Reads a whole file of at most max bytes into a malloc'd buffer (with a NUL
 * after the data; the caller frees). 0, or a negative errno value with a
 * message naming the file in err. */
int audit_read_file(const char *path, size_t max, char **buf, size_t *len, char *err,
                    size_t err_size);

/* Prints "tallinn-audit: CMD: FAILED: <message>" to stderr. */
void audit_report_failure(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A progress line on stderr, drawn only when stderr is a terminal and at
 * most a few times a second. */
typedef struct audit_progress {
    int enabled;
    uint64_t total;
    double last; /* seconds, monotonic */
    const char *what;
} audit_progress;

void audit_progress_start(audit_progress *p, const char *what, uint64_t total);
void audit_progress_update(audit_progress *p, uint64_t done);
void audit_progress_end(audit_progress *p);

#endif
