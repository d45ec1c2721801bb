/* witness_cosign.c — `tallinn-audit witness cosign LOGDIR`: the log's side
 * of c2sp.org/tlog-witness for a tlog-tiles directory. Each witness is sent
 * LOGDIR/checkpoint with a consistency proof computed from the tiles (from
 * the size the witness reports after a first 409); the cosignatures that
 * verify are added to LOGDIR/checkpoint, atomically. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_cmds.h"
#include "tallinn/checkpoint.h"
#include "tallinn/cosig.h"
#include "tallinn/tiles.h"
#include "tallinn/witness_client.h"
#include "witness.h"

#define CHECKPOINT_MAX (64u * 1024)
#define MAX_WITNESSES 64

typedef struct target {
    cosig_verifier key;
    const char *url;
} target;

static void help(FILE *out)
{
    fprintf(out,
            "Usage: " AUDIT_PROG " witness cosign LOGDIR --key VKEY --witness 'VKEY URL'...\n"
            "                     [--quorum K] [--ca F] [--timeout S]\n"
            "\n"
            "Sends LOGDIR/checkpoint (a C2SP tlog-tiles log signed with --key) to each\n"
            "witness's add-checkpoint endpoint with a consistency proof from the tiles,\n"
            "checks each cosignature with that witness's key, and adds those that verify\n"
            "to LOGDIR/checkpoint (replaced atomically). A witness that is down is\n"
            "reported and skipped.\n"
            "\n"
            "Options:\n"
            "  -k, --key VKEY         the log's verifier key (or a file holding it)\n"
            "  -w, --witness 'VKEY URL'  a witness: its cosignature vkey and its submission\n"
            "                         prefix (https://..., or http:// to a loopback host)\n"
            "  -Q, --quorum K         cosignatures needed for success (default: all)\n"
            "      --ca F             PEM roots for HTTPS witnesses\n"
            "      --timeout S        seconds per request (default 10)\n"
            "  -h, --help             show this help\n"
            "\n"
            "Exit status (as tallinnctl's where they overlap): 0 at least K witnesses\n"
            "cosigned; 1 FAILED: fewer did; 2 usage error; 3 could not reach enough\n"
            "witnesses (those that answered all cosigned); 8 SECURITY ERROR: a\n"
            "witness refused the checkpoint as inconsistent with one it cosigned before\n"
            "(the log showed it another history).\n");
}

static int parse_witness_arg(const char *arg, target *t)
{
    const char *sp = strchr(arg, ' ');
    if (!sp || !sp[1] || strchr(sp + 1, ' ')) {
        fprintf(stderr, AUDIT_PROG " witness cosign: --witness takes 'VKEY URL' (one space)\n");
        return -1;
    }
    char vkey[COSIG_VERIFIER_KEY_MAX + 1], err[512];
    size_t n = (size_t)(sp - arg);
    if (n >= sizeof vkey) {
        fprintf(stderr, AUDIT_PROG " witness cosign: --witness: key too long\n");
        return -1;
    }
    memcpy(vkey, arg, n);
    vkey[n] = '\0';
    if (cosig_verifier_parse(vkey, &t->key, err, sizeof err) != 0) {
        fprintf(stderr, AUDIT_PROG " witness cosign: --witness: %s\n", err);
        return -1;
    }
    t->url = sp + 1;
    return 0;
}

static int prove(void *ctx, uint64_t old_size, uint64_t new_size, uint8_t *proof, size_t *count)
{
    return merkle_prove_consistency(old_size, new_size, tiles_reader_node, ctx, proof,
                                    MERKLE_MAX_PROOF, count);
}

int witness_cmd_cosign(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'},
        {"witness", required_argument, NULL, 'w'},
        {"quorum", required_argument, NULL, 'Q'},
        {"ca", required_argument, NULL, 256},
        {"timeout", required_argument, NULL, 257},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    target targets[MAX_WITNESSES];
    size_t n_targets = 0, quorum = 0;
    const char *key = NULL, *ca = NULL;
    long timeout_s = 10;
    int c;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:w:Q:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            key = optarg;
            break;
        case 'w':
            if (n_targets == MAX_WITNESSES) {
                fprintf(stderr, AUDIT_PROG " witness cosign: more than %d witnesses\n",
                        MAX_WITNESSES);
                return AUDIT_EXIT_USAGE;
            }
            if (parse_witness_arg(optarg, &targets[n_targets]) != 0)
                return AUDIT_EXIT_USAGE;
            n_targets++;
            break;
        case 'Q':
            errno = 0;
            quorum = strtoul(optarg, &end, 10);
            if (errno || *end || optarg[0] < '1' || optarg[0] > '9') {
                fprintf(stderr, AUDIT_PROG " witness cosign: --quorum: '%s' is not a count\n",
                        optarg);
                return AUDIT_EXIT_USAGE;
            }
            break;
        case 256:
            ca = optarg;
            break;
        case 257:
            errno = 0;
            timeout_s = strtol(optarg, &end, 10);
            if (errno || *end || timeout_s <= 0 || timeout_s > 3600) {
                fprintf(stderr, AUDIT_PROG " witness cosign: --timeout: 1..3600 seconds\n");
                return AUDIT_EXIT_USAGE;
            }
            break;
        case 'h':
            help(stdout);
            return AUDIT_EXIT_OK;
        default:
            help(stderr);
            return AUDIT_EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || !key || n_targets == 0 || quorum > n_targets) {
        fprintf(stderr, AUDIT_PROG " witness cosign: %s\n\n",
                !key ? "--key is required"
                : n_targets == 0 ? "at least one --witness is required"
                : quorum > n_targets ? "--quorum is above the number of witnesses"
                                     : "expected one log directory");
        help(stderr);
        return AUDIT_EXIT_USAGE;
    }
    if (quorum == 0)
        quorum = n_targets;
    note_verifier lk;
    if (audit_load_key(key, &lk) != 0)
        return AUDIT_EXIT_USAGE;
    if (audit_input_ok("witness cosign", NULL, argv[optind], 1) != 0)
        return AUDIT_EXIT_USAGE;

    const char *dir = argv[optind];
    tiles_dir *d = NULL;
    tiles_reader *r = NULL;
    char err[1024], *note = NULL, *merged = NULL, *lines = NULL;
    size_t len = 0, lines_len = 0, cosigned = 0, inconsistent = 0, unreachable = 0;
    checkpoint cp;
    int status = AUDIT_EXIT_FAILED;
    note = malloc(CHECKPOINT_MAX + 1);
    lines = malloc(n_targets * (COSIG_LINE_MAX + 1) + 1);
    if (!note || !lines) {
        audit_report_failure("witness cosign", "out of memory");
        goto done;
    }
    if (tiles_dir_open(dir, 0, &d, err, sizeof err) != 0 ||
        tiles_dir_read(d, "checkpoint", (uint8_t *)note, CHECKPOINT_MAX, &len, err,
                       sizeof err) != 0) {
        audit_report_failure("witness cosign", "%s", err);
        goto done;
    }
    note[len] = '\0';
    if (checkpoint_open(note, len, &lk, 1, &cp, err, sizeof err) != 0) {
        audit_report_failure("witness cosign", "%s/checkpoint: %s", dir, err);
        goto done;
    }
    if (tiles_reader_create(d, cp.size, &r) != 0) {
        audit_report_failure("witness cosign", "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n_targets; i++) {
        witness_client_options wo = {.url = targets[i].url, .key = targets[i].key,
                                     .timeout_ms = timeout_s * 1000, .ca_file = ca};
        witness_client *wc = NULL;
        witness_result res;
        uint64_t known = 0;
        if (witness_client_create(&wo, &wc, err, sizeof err) != 0) {
            fprintf(stderr, AUDIT_PROG " witness cosign: %s: %s\n", targets[i].key.name, err);
            continue;
        }
        int rc = witness_client_cosign(wc, note, len, &known, prove, r, &res);
        witness_client_destroy(wc);
        if (rc != 0) {
            fprintf(stderr, AUDIT_PROG " witness cosign: %s: cannot build a proof from %s: %s\n",
                    targets[i].key.name, dir,
                    tiles_reader_error(r) ? tiles_reader_error(r) : strerror(-rc));
            continue;
        }
        fprintf(stderr, AUDIT_PROG " witness cosign: %s\n", res.message);
        if (res.outcome == WITNESS_COSIGNED) {
            memcpy(lines + lines_len, res.line, res.line_len);
            lines_len += res.line_len;
            cosigned++;
        } else if (res.outcome == WITNESS_INCONSISTENT) {
            inconsistent++;
        } else if (res.outcome == WITNESS_UNAVAILABLE) {
            unreachable++;
        }
    }
    if (cosigned > 0) {
        size_t mlen = 0;
        if (cosig_note_add(note, len, lines, lines_len, &merged, &mlen, err, sizeof err) != 0 ||
            tiles_dir_write(d, "checkpoint", merged, mlen, err, sizeof err) != 0) {
            audit_report_failure("witness cosign", "cannot add the cosignatures: %s", err);
            goto done;
        }
    }
    printf("%s/checkpoint: size %" PRIu64 ", cosigned by %zu of %zu witnesses (%zu required)\n",
           dir, cp.size, cosigned, n_targets, quorum);
    if (inconsistent > 0) {
        fprintf(stderr,
                AUDIT_PROG " witness cosign: SECURITY ERROR: %zu witness%s refused this "
                           "checkpoint as inconsistent with one %s cosigned before: the log "
                           "showed %s another history (a fork or a split view)\n",
                inconsistent, inconsistent == 1 ? "" : "es", inconsistent == 1 ? "it" : "they",
                inconsistent == 1 ? "it" : "them");
        status = AUDIT_EXIT_SECURITY;
    } else if (cosigned >= quorum) {
        status = AUDIT_EXIT_OK;
    } else if (cosigned + unreachable >= quorum) {
        /* the witnesses that answered all cosigned: too few answered */
        fprintf(stderr, AUDIT_PROG " witness cosign: could not reach enough witnesses: %zu of %zu "
                "cosigned, %zu required, %zu did not answer\n", cosigned, n_targets, quorum,
                unreachable);
        status = AUDIT_EXIT_UNREACHABLE;
    } else {
        audit_report_failure("witness cosign", "%zu of %zu witnesses cosigned, %zu required",
                             cosigned, n_targets, quorum);
    }
done:
    tiles_reader_destroy(r);
    tiles_dir_destroy(d);
    free(note);
    free(merged);
    free(lines);
    return status;
}
