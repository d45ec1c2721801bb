/* audit_proof.c — c2sp.org/tlog-proof@v1 files for one record: `prove INDEX
 * DIR` (offline, from a tlog-tiles export) or `prove INDEX --server` (the
 * fetching is audit_server.c's), and `check-proof FILE` (offline). With
 * --witness, the proof's checkpoint must carry a quorum of cosignatures. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "audit_cmds.h"
#include "tallinn/checkpoint.h"
#include "tallinn/merkle.h"
#include "tallinn/tiles.h"
#include "tallinn/tlogproof.h"

#define PROOF_FILE_MAX (1u << 20) /* a proof is a few kilobytes */

static void help(FILE *out)
{
    fprintf(out,
            "Usage: " AUDIT_PROG " check-proof FILE --key VKEY [--entry ENTRY]\n"
            "                     [--witness VKEY... [--quorum K]]\n"
            "\n"
            "Verifies a c2sp.org/tlog-proof@v1 file: the signature on its checkpoint with\n"
            "the key, that its index is inside the signed tree, and, with --entry, that\n"
            "the entry (the file's bytes, hashed as an RFC 9162 leaf) is included at that\n"
            "index under the signed root. Without --entry only the proof's length is\n"
            "checked, and the output says so. With --witness, the checkpoint must also\n"
            "carry valid cosignatures from at least --quorum of those witnesses: then the\n"
            "proof stands fully offline, against a split view too.\n"
            "\n"
            "Options:\n"
            "  -k, --key VKEY     the log's verifier key, name+keyid+base64(key),\n"
            "                     or a file holding it (required)\n"
            "  -e, --entry ENTRY  the file holding the logged entry\n"
            AUDIT_WITNESS_HELP
            "  -q, --quiet        print nothing on success\n"
            "  -h, --help         show this help\n"
            "\n"
            "Example:\n"
            "  " AUDIT_PROG " check-proof tests/data/tlogproof/tessera-7.tlog-proof \\\n"
            "      --entry tests/data/tlogproof/tessera-7.entry --key "
            "'example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx'\n"
            "\n" AUDIT_EXIT_HELP);
}

/* Leaf hash of a file's contents, read in pieces: entries can be large. */
static int hash_entry_file(const char *path, uint8_t out[MERKLE_HASH_SIZE], char *err,
                           size_t err_size)
{
    static const uint8_t prefix = 0x00;
    uint8_t buf[65536];
    crypto_hash_sha256_state st;
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -errno;
    }
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &prefix, 1);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            snprintf(err, err_size, "%s: read error: %s", path, strerror(-rc));
            break;
        }
        if (n == 0)
            break;
        crypto_hash_sha256_update(&st, buf, (size_t)n);
    }
    close(fd);
    crypto_hash_sha256_final(&st, out);
    return rc;
}

int audit_cmd_check_proof(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'},
        {"entry", required_argument, NULL, 'e'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        AUDIT_WITNESS_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *key = NULL, *entry = NULL;
    static audit_witnesses wit;
    int quiet = 0, c;
    memset(&wit, 0, sizeof wit);
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:e:W:qh", opts, NULL)) != -1) {
        int r = audit_witness_option(&wit, c, optarg);
        if (r < 0)
            return AUDIT_EXIT_USAGE;
        if (r > 0)
            continue;
        switch (c) {
        case 'k':
            if (key) {
                fprintf(stderr, AUDIT_PROG " check-proof: --key given twice\n");
                return AUDIT_EXIT_USAGE;
            }
            key = optarg;
            break;
        case 'e':
            entry = optarg;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            help(stdout);
            return AUDIT_EXIT_OK;
        default:
            help(stderr);
            return AUDIT_EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || !key) {
        fprintf(stderr, AUDIT_PROG " check-proof: %s\n\n",
                !key ? "--key is required" : "expected one proof file");
        help(stderr);
        return AUDIT_EXIT_USAGE;
    }
    if (audit_witness_finish(&wit, "check-proof") != 0)
        return AUDIT_EXIT_USAGE;
    const char *path = argv[optind];
    note_verifier v;
    if (audit_load_key(key, &v) != 0)
        return AUDIT_EXIT_USAGE;
    if (audit_input_ok("check-proof", NULL, path, 0) != 0 ||
        (entry != NULL && audit_input_ok("check-proof", "--entry", entry, 0) != 0))
        return AUDIT_EXIT_USAGE;

    char err[1024];
    char *text = NULL;
    size_t len = 0;
    tlogproof *p = NULL;
    uint8_t leaf[MERKLE_HASH_SIZE];
    checkpoint cp;
    int status = AUDIT_EXIT_FAILED;

    if (audit_read_file(path, PROOF_FILE_MAX, &text, &len, err, sizeof err) != 0) {
        audit_report_failure("check-proof", "%s", err);
        goto cleanup;
    }
    if (tlogproof_parse(text, len, &p, err, sizeof err) != 0) {
        audit_report_failure("check-proof", "%s: %s", path, err);
        goto cleanup;
    }
    if (entry && hash_entry_file(entry, leaf, err, sizeof err) != 0) {
        audit_report_failure("check-proof", "--entry %s", err);
        goto cleanup;
    }
    if (tlogproof_verify(p, &v, 1, entry ? leaf : NULL, &cp, err, sizeof err) != 0) {
        audit_report_failure("check-proof", "%s: %s%s%s%s", path, err,
                             entry ? " (entry read from " : "", entry ? entry : "",
                             entry ? ")" : "");
        goto cleanup;
    }
    char cosigned[1024];
    status = audit_witness_check(&wit, "check-proof", path, p->checkpoint, p->checkpoint_len,
                                 cosigned, sizeof cosigned);
    if (status != AUDIT_EXIT_OK || quiet)
        goto cleanup;
    char root[sodium_base64_ENCODED_LEN(MERKLE_HASH_SIZE, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(root, sizeof root, cp.root, MERKLE_HASH_SIZE,
                      sodium_base64_VARIANT_ORIGINAL);
    if (entry)
        printf("%s: verified: entry %llu (%s) is in the log\n", path,
               (unsigned long long)p->index, entry);
    else
        printf("%s: checkpoint signature verified; inclusion NOT checked (no --entry given)\n",
               path);
    printf("origin:  %s\n", cp.origin);
    printf("size:    %llu\n", (unsigned long long)cp.size);
    printf("root:    %s\n", root);
    printf("index:   %llu\n", (unsigned long long)p->index);
    printf("proof:   %zu hashes\n", p->hash_count);
    if (p->extra)
        printf("extra:   %zu bytes (not authenticated)\n", p->extra_len);
    if (wit.count > 0)
        printf("witnesses: %s\n", cosigned);
cleanup:
    tlogproof_destroy(p);
    free(text);
    return status;
}

/* ---- prove ------------------------------------------------------------------ */

static void prove_help(FILE *out)
{
    fprintf(out,
            "Usage: " AUDIT_PROG " prove INDEX DIR --key VKEY [--proof-out FILE]\n"
            "                     [--entry-out FILE]\n"
            "       " AUDIT_PROG " prove INDEX --server ADDR --key VKEY [--proof-out FILE]\n"
            "                     [--entry-out FILE]\n"
            "       (either form also takes [--witness VKEY... [--quorum K]])\n"
            "\n"
            "Writes a c2sp.org/tlog-proof@v1 file for record INDEX: its inclusion proof and\n"
            "the signed checkpoint, with whatever witness cosignatures the checkpoint\n"
            "carries. From a tlog-tiles directory (an export: offline), or from a live\n"
            "server's latest checkpoint. The checkpoint's signature, the proof against the\n"
            "record's bytes, and with --witness a quorum of cosignatures, are checked\n"
            "before anything is written. With the record's bytes (--entry-out), anyone\n"
            "with the verifier key can check it offline: " AUDIT_PROG " check-proof FILE\n"
            "--key VKEY --entry ENTRY [--witness ...].\n"
            "\n"
            "Options:\n"
            "  -k, --key VKEY        the log's verifier key, or a file holding it (required)\n"
            "      --proof-out FILE  where to write the proof (default standard output)\n"
            "  -e, --entry-out FILE  also write the record's leaf bytes (a serialized\n"
            "                        tallinn.v1.AuditRecord) to FILE\n" AUDIT_CONN_HELP
            AUDIT_WITNESS_HELP
            "  -q, --quiet           print nothing but the proof\n"
            "  -h, --help            show this help\n"
            "\n"
            "Example:\n"
            "  " AUDIT_PROG " prove 42 ./audit-2025-06 --key audit.vkey \\\n"
            "      --proof-out record-42.tlog-proof --entry-out record-42.bin\n"
            "  " AUDIT_PROG " check-proof record-42.tlog-proof --key audit.vkey --entry "
            "record-42.bin\n"
            "\n" AUDIT_EXIT_HELP);
}

int audit_proof_emit(const audit_prove_req *rq, const char *source, uint64_t index,
                     const uint8_t *hashes, size_t n, const char *note, size_t note_len,
                     const checkpoint *cp, const uint8_t *leaf, size_t leaf_len)
{
    char err[1024], cosigned[1024], *text = NULL;
    size_t text_len = 0;
    tlogproof *p = calloc(1, sizeof *p);
    int status = AUDIT_EXIT_FAILED;
    if (!p || n > TLOGPROOF_MAX_HASHES) {
        audit_report_failure("prove", "out of memory");
        goto done;
    }
    status = audit_witness_check(rq->w, "prove", source, note, note_len, cosigned,
                                 sizeof cosigned);
    if (status != AUDIT_EXIT_OK)
        goto done;
    status = AUDIT_EXIT_FAILED;
    p->index = index;
    p->hash_count = n;
    memcpy(p->hashes, hashes, n * MERKLE_HASH_SIZE);
    p->checkpoint = (char *)note; /* borrowed for formatting */
    p->checkpoint_len = note_len;
    int frc = tlogproof_format(p, &text, &text_len);
    p->checkpoint = NULL;
    if (frc != 0) {
        audit_report_failure("prove", "cannot format the proof: %s", strerror(-frc));
        goto done;
    }
    if (rq->entry_out &&
        audit_state_save(rq->entry_out, (const char *)leaf, leaf_len, err, sizeof err) != 0) {
        fprintf(stderr, AUDIT_PROG ": prove: verified, but could not write --entry-out: %s\n",
                err);
        status = AUDIT_EXIT_UNCHECKED;
        goto done;
    }
    if (rq->output) {
        if (audit_state_save(rq->output, text, text_len, err, sizeof err) != 0) {
            fprintf(stderr, AUDIT_PROG ": prove: verified, but could not write --proof-out: "
                    "%s\n", err);
            status = AUDIT_EXIT_UNCHECKED;
            goto done;
        }
    } else if (fwrite(text, 1, text_len, stdout) != text_len || fflush(stdout) != 0) {
        audit_report_failure("prove", "cannot write the proof to standard output");
        goto done;
    }
    status = AUDIT_EXIT_OK;
    if (!rq->quiet) {
        FILE *out = rq->output ? stdout : stderr;
        char r64[sodium_base64_ENCODED_LEN(MERKLE_HASH_SIZE, sodium_base64_VARIANT_ORIGINAL)];
        sodium_bin2base64(r64, sizeof r64, cp->root, MERKLE_HASH_SIZE,
                          sodium_base64_VARIANT_ORIGINAL);
        fprintf(out,
                "record %llu: inclusion proof of %zu hashes in the checkpoint of size %llu "
                "(root %s) verified\n",
                (unsigned long long)index, n, (unsigned long long)cp->size, r64);
        if (rq->w->count > 0)
            fprintf(out, "witnesses: %s\n", cosigned);
        if (rq->output)
            fprintf(out, "proof:   %s\n", rq->output);
        if (rq->entry_out)
            fprintf(out, "entry:   %s (%zu bytes)\n", rq->entry_out, leaf_len);
    }
done:
    tlogproof_destroy(p);
    free(text);
    return status;
}

/* prove INDEX DIR: the proof from the directory's tiles, the record from
 * its entry bundle, against DIR/checkpoint. */
static int prove_dir(const char *dir, uint64_t index, const note_verifier *v,
                     const audit_prove_req *rq)
{
    tiles_dir *d = NULL;
    tiles_reader *r = NULL;
    char err[1024], *note = malloc(PROOF_FILE_MAX + 1);
    uint8_t *bundle = malloc(TILES_BUNDLE_MAX), hashes[MERKLE_MAX_PROOF * MERKLE_HASH_SIZE];
    uint8_t lh[MERKLE_HASH_SIZE];
    tiles_entry *entries = malloc(TILES_WIDTH * sizeof *entries);
    size_t len = 0, n = 0;
    checkpoint cp;
    int status = AUDIT_EXIT_FAILED;
    if (!note || !bundle || !entries) {
        audit_report_failure("prove", "out of memory");
        goto done;
    }
    if (tiles_dir_open(dir, 0, &d, err, sizeof err) != 0 ||
        tiles_dir_read(d, "checkpoint", (uint8_t *)note, PROOF_FILE_MAX, &len, err,
                       sizeof err) != 0) {
        audit_report_failure("prove", "%s", err);
        goto done;
    }
    note[len] = '\0';
    if (checkpoint_open(note, len, v, 1, &cp, err, sizeof err) != 0) {
        audit_report_failure("prove", "%s/checkpoint: %s", dir, err);
        goto done;
    }
    if (index >= cp.size) {
        audit_report_failure("prove", "%s: record %llu is not in the log: its checkpoint has %llu",
                             dir, (unsigned long long)index, (unsigned long long)cp.size);
        goto done;
    }
    tiles_tile t = {true, 0, index / TILES_WIDTH, tiles_width(0, index / TILES_WIDTH, cp.size)};
    char rel[TILES_PATH_MAX];
    size_t blen = 0;
    tiles_path(&t, rel, sizeof rel);
    if (tiles_dir_read(d, rel, bundle, TILES_BUNDLE_MAX, &blen, err, sizeof err) != 0 ||
        tiles_bundle_split(bundle, blen, t.width, entries, err, sizeof err) != 0) {
        audit_report_failure("prove", "%s/%s: %s", dir, rel, err);
        goto done;
    }
    const tiles_entry *e = &entries[index % TILES_WIDTH];
    int prc = tiles_reader_create(d, cp.size, &r);
    if (prc == 0)
        prc = merkle_prove_inclusion(index, cp.size, tiles_reader_node, r, hashes,
                                     MERKLE_MAX_PROOF, &n);
    if (prc != 0) {
        audit_report_failure("prove", "%s: cannot build the proof: %s", dir,
                             r && tiles_reader_error(r)[0] ? tiles_reader_error(r)
                                                           : strerror(-prc));
        goto done;
    }
    /* Never hand out a proof that does not verify: the tiles could be wrong. */
    merkle_hash_leaf(e->data, e->len, lh);
    if (merkle_verify_inclusion(index, cp.size, lh, hashes, n, cp.root, err, sizeof err) != 0) {
        audit_report_failure("prove",
                             "%s: the inclusion proof of record %llu does not verify against "
                             "the signed root (%s): run '" AUDIT_PROG " verify' on it",
                             dir, (unsigned long long)index, err);
        goto done;
    }
    status = audit_proof_emit(rq, dir, index, hashes, n, note, len, &cp, e->data, e->len);
done:
    tiles_reader_destroy(r);
    tiles_dir_destroy(d);
    free(note);
    free(bundle);
    free(entries);
    return status;
}

int audit_cmd_prove(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'},
        {"proof-out", required_argument, NULL, 'p'},
        {"output", required_argument, NULL, 'o'}, /* not here: said so below */
        {"entry-out", required_argument, NULL, 'e'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        AUDIT_CONN_LONGOPTS,
        AUDIT_WITNESS_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    audit_conn_opts co = {0};
    static audit_witnesses wit;
    audit_prove_req rq = {.w = &wit};
    const char *key = NULL;
    int c;
    memset(&wit, 0, sizeof wit);
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:o:p:e:s:W:qh", opts, NULL)) != -1) {
        int r = audit_conn_option(&co, c, optarg);
        if (r == 0)
            r = audit_witness_option(&wit, c, optarg);
        if (r < 0)
            return AUDIT_EXIT_USAGE;
        if (r > 0)
            continue;
        switch (c) {
        case 'k':
            key = optarg;
            break;
        case 'p':
            rq.output = optarg;
            break;
        case 'o': /* -o is the output format in every command; the proof has one */
            fprintf(stderr, AUDIT_PROG " prove: -o/--output is the output format (show -o "
                    "text|json); write the proof to a file with --proof-out FILE\n");
            return AUDIT_EXIT_USAGE;
        case 'e':
            rq.entry_out = optarg;
            break;
        case 'q':
            rq.quiet = 1;
            break;
        case 'h':
            prove_help(stdout);
            return AUDIT_EXIT_OK;
        default:
            prove_help(stderr);
            return AUDIT_EXIT_USAGE;
        }
    }
    int positional = argc - optind;
    int srv = audit_conn_settle(&co, "prove", positional >= 2);
    if (srv < 0)
        return AUDIT_EXIT_USAGE;
    if (!key || (srv && positional != 1) || (!srv && positional != 2)) {
        fprintf(stderr, AUDIT_PROG " prove: %s\n\n",
                !key ? "--key is required"
                : srv ? "expected one record index (and no directory with --server)"
                      : "expected a record index and a directory (or --server, or a --context "
                        "with addr)");
        prove_help(stderr);
        return AUDIT_EXIT_USAGE;
    }
    if (audit_witness_finish(&wit, "prove") != 0)
        return AUDIT_EXIT_USAGE;
    char *end;
    errno = 0;
    unsigned long long index = strtoull(argv[optind], &end, 10);
    if (errno || *end || argv[optind][0] < '0' || argv[optind][0] > '9') {
        fprintf(stderr, AUDIT_PROG " prove: '%s' is not a record index\n", argv[optind]);
        return AUDIT_EXIT_USAGE;
    }
    note_verifier v;
    if (audit_load_key(key, &v) != 0)
        return AUDIT_EXIT_USAGE;
    if (srv)
        return audit_prove_server(&co, index, &v, &rq);
    if (audit_input_ok("prove", NULL, argv[optind + 1], 1) != 0)
        return AUDIT_EXIT_USAGE;
    return prove_dir(argv[optind + 1], index, &v, &rq);
}
