/* audit_proof.c — `tallinn-audit check-proof FILE --key VKEY [--entry FILE]`:
 * verifies a c2sp.org/tlog-proof@v1 file offline. */
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
#include "tallinn/tlogproof.h"

#define PROOF_FILE_MAX (1u << 20) /* a proof is a few kilobytes */

static void help(FILE *out)
{
    fprintf(out,
            "Usage: " AUDIT_PROG " check-proof FILE --key VKEY [--entry ENTRY]\n"
            "\n"
            "Verifies a c2sp.org/tlog-proof@v1 file: the signature on its checkpoint with\n"
            "the key, that its index is inside the signed tree, and, with --entry, that\n"
            "the entry (the file's bytes, hashed as an RFC 9162 leaf) is included at that\n"
            "index under the signed root. Without --entry only the proof's length is\n"
            "checked, and the output says so.\n"
            "\n"
            "Options:\n"
            "  -k, --key VKEY     the log's verifier key, name+keyid+base64(key),\n"
            "                     or a file holding it (required)\n"
            "  -e, --entry ENTRY  the file holding the logged entry\n"
            "  -q, --quiet        print nothing on success\n"
            "  -h, --help         show this help\n"
            "\n"
            "Example:\n"
            "  " AUDIT_PROG " check-proof tests/data/tlogproof/tessera-7.tlog-proof \\\n"
            "      --entry tests/data/tlogproof/tessera-7.entry --key "
            "'example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx'\n"
            "\n"
            "Exit status: 0 verified; 1 verification failed; 2 usage error.\n");
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
        {NULL, 0, NULL, 0},
    };
    const char *key = NULL, *entry = NULL;
    int quiet = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:e:qh", opts, NULL)) != -1) {
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
    const char *path = argv[optind];
    note_verifier v;
    if (audit_load_key(key, &v) != 0)
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
    status = AUDIT_EXIT_OK;
    if (quiet)
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
cleanup:
    tlogproof_destroy(p);
    free(text);
    return status;
}
