/* audit_verify.c — `tallinn-audit verify DIR --key VKEY`: checks a C2SP
 * tlog-tiles directory from its entries up, one tile at a time, so memory
 * stays small whatever the log's size. Offline: `verify --server` is handed to
 * audit_server.c, and nothing here touches the network. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit_cmds.h"
#include "tallinn/checkpoint.h"
#include "tallinn/merkle.h"
#include "tallinn/note.h"
#include "tallinn/tiles.h"

#define H MERKLE_HASH_SIZE
#define CHECKPOINT_FILE_MAX (1u << 20) /* a signed checkpoint is far smaller */
#define TILE_LEVELS 8                  /* tile levels below 2^64 leaves */

/* A signed checkpoint.N file kept beside the log. */
typedef struct older_checkpoint {
    uint64_t size;
    uint8_t root[H];
    char name[64];
} older_checkpoint;

typedef struct verify_state {
    const char *dir;
    tiles_dir *d;
    note_verifier key;
    char *cp_msg;
    checkpoint cp;
    merkle_frontier *f;
    older_checkpoint *olds;
    size_t olds_count, olds_next;
    /* Hashes of the open tile at each level >= 1, filled as nodes complete. */
    uint8_t upper[TILE_LEVELS][TILES_HASH_TILE_MAX];
    uint8_t leaves[TILES_HASH_TILE_MAX];
    uint8_t from_file[TILES_HASH_TILE_MAX];
    tiles_entry entries[TILES_WIDTH];
    uint8_t *bundle;  /* TILES_BUNDLE_MAX */
    uint8_t *scratch; /* TILES_BUNDLE_MAX, for older partial bundles */
    uint64_t hash_tiles, bundles, older_partials, beyond;
    unsigned top_level;
    audit_progress progress;
    audit_stats stats; /* Tallinn AuditRecords, when the entries are that */
    char err[1024];
} verify_state;

static int fail(verify_state *vs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(verify_state *vs, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vs->err, sizeof vs->err, fmt, ap);
    va_end(ap);
    return -EBADMSG;
}

static void b64(const uint8_t hash[H], char out[sodium_base64_ENCODED_LEN(H, sodium_base64_VARIANT_ORIGINAL)])
{
    sodium_bin2base64(out, sodium_base64_ENCODED_LEN(H, sodium_base64_VARIANT_ORIGINAL), hash, H,
                      sodium_base64_VARIANT_ORIGINAL);
}

static void help(FILE *out)
{
    fprintf(out,
            "Usage: " AUDIT_PROG " verify DIR --key VKEY [--witness VKEY... [--quorum K]]\n"
            "       " AUDIT_PROG " verify --server ADDR --key VKEY [--token-file F]\n"
            "                     [--insecure | --ca F] [--state FILE]\n"
            "                     [--witness VKEY... [--quorum K]]\n"
            "\n"
            "Verifies a transparency log stored as C2SP tlog-tiles in DIR, from its\n"
            "entries up: the signature on DIR/checkpoint with the key; every entry\n"
            "bundle; every hash tile of every level, full and partial, recomputed\n"
            "from the entries; older partial tiles and bundles left beside them; signed\n"
            "DIR/checkpoint.N files if present (their root must be the tree's root at\n"
            "size N); and the checkpoint's root hash. Prints the origin, size, root and\n"
            "entry count, and for Tallinn's AuditRecords (each must carry its own index)\n"
            "the time range and the counts by method and by status. The first failure\n"
            "stops it with a message naming the file and the index or level.\n"
            "\n"
            "With --server, the same against a live tallinnd (AuditService, AUDITOR role):\n"
            "the latest signed checkpoint, every record streamed and re-hashed into the\n"
            "tree, its root compared with the checkpoint's; then the checkpoint verified\n"
            "last time (the state file) must be a prefix of this one (a consistency proof,\n"
            "and the records themselves). A log that shrank or forked is a SECURITY ERROR\n"
            "(exit 8) printed with both checkpoints. On success the state file is replaced\n"
            "atomically by the new checkpoint.\n"
            "\n"
            "With --witness, the checkpoint must also carry valid C2SP cosignature/v1 lines\n"
            "(in DIR/checkpoint, or on the server's checkpoint) from at least --quorum of\n"
            "those witnesses; fewer is a SECURITY ERROR (exit 8): independent witnesses\n"
            "cosign only checkpoints consistent with all they cosigned before, so a log\n"
            "cannot show you one history and others another (a split view).\n"
            "\n"
            "Options:\n"
            "  -k, --key VKEY        the log's verifier key, name+keyid+base64(key),\n"
            "                        or a file holding it (required)\n"
            AUDIT_CONN_HELP
            "      --state FILE      the last verified checkpoint (--server; default\n"
            "                        $XDG_STATE_HOME/tallinn-audit/<origin>.checkpoint)\n"
            AUDIT_WITNESS_HELP
            "  -q, --quiet           print nothing on success\n"
            "  -h, --help            show this help\n"
            "\n"
            "Example:\n"
            "  " AUDIT_PROG " verify tests/data/tessera/log --key "
            "'example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx'\n"
            "  " AUDIT_PROG " verify --server tallinn.example:8443 --key audit.vkey \\\n"
            "      --token-file auditor.token\n"
            "\n" AUDIT_EXIT_HELP);
}

/* ---- older partial tiles and bundles ----------------------------------- */

/* Partial files of tile t narrower than `width` must be prefixes of what was
 * just verified: `have` (hash tiles) or the verified bundle. Wider ones
 * belong to a tree larger than the checkpoint and are only counted. */
static int check_older_partials(verify_state *vs, const tiles_tile *t, unsigned width,
                                const uint8_t *have)
{
    unsigned widths[TILES_WIDTH];
    size_t count = 0;
    char err[512];
    if (tiles_dir_partials(vs->d, t, widths, &count, err, sizeof err) != 0)
        return fail(vs, "%s", err);
    for (size_t i = 0; i < count; i++) {
        unsigned w = widths[i];
        char rel[TILES_PATH_MAX];
        tiles_tile pt = *t;
        pt.width = w;
        tiles_path(&pt, rel, sizeof rel);
        if (w == width)
            continue; /* the file just verified */
        if (w > width) {
            vs->beyond++;
            continue;
        }
        if (t->entries) {
            size_t want = vs->entries[w - 1].offset + 2 + vs->entries[w - 1].len, len = 0;
            if (tiles_dir_read(vs->d, rel, vs->scratch, TILES_BUNDLE_MAX, &len, err,
                               sizeof err) != 0)
                return fail(vs, "%s", err);
            if (len != want || memcmp(vs->scratch, vs->bundle, want) != 0)
                return fail(vs,
                            "%s/%s: older partial bundle is not the first %u entries of the "
                            "verified bundle (%zu bytes, expected %zu)",
                            vs->dir, rel, w, len, want);
        } else {
            if (tiles_dir_read_hashes(vs->d, &pt, vs->from_file, err, sizeof err) != 0)
                return fail(vs, "%s", err);
            for (unsigned j = 0; j < w; j++)
                if (memcmp(vs->from_file + (size_t)j * H, have + (size_t)j * H, H) != 0)
                    return fail(vs,
                                "%s/%s: older partial tile: hash %u (level %u) differs from "
                                "the verified tile",
                                vs->dir, rel, j, t->level);
        }
        vs->older_partials++;
    }
    return 0;
}

/* ---- hash tiles above level 0 ------------------------------------------ */

static int check_upper_tile(verify_state *vs, unsigned level, uint64_t index, unsigned width)
{
    tiles_tile t = {false, level, index, width};
    char rel[TILES_PATH_MAX], err[512];
    tiles_path(&t, rel, sizeof rel);
    if (tiles_dir_read_hashes(vs->d, &t, vs->from_file, err, sizeof err) != 0)
        return fail(vs, "%s", err);
    for (unsigned j = 0; j < width; j++) {
        if (memcmp(vs->from_file + (size_t)j * H, vs->upper[level] + (size_t)j * H, H) == 0)
            continue;
        uint64_t span = (uint64_t)1 << (TILES_HEIGHT * level);
        uint64_t first = (index * TILES_WIDTH + j) * span;
        return fail(vs,
                    "%s/%s: hash %u (level %u, entries %llu..%llu) does not match the hash "
                    "recomputed from the tiles below",
                    vs->dir, rel, j, level, (unsigned long long)first,
                    (unsigned long long)(first + span - 1));
    }
    vs->hash_tiles++;
    if (level > vs->top_level)
        vs->top_level = level;
    tiles_tile full = {false, level, index, TILES_WIDTH};
    return check_older_partials(vs, &full, width, vs->upper[level]);
}

/* Called by the frontier for every completed node: the ones at levels
 * 8, 16, ... are the entries of the hash tiles above level 0. */
static int on_node(void *ctx, unsigned level, uint64_t index, const uint8_t hash[H])
{
    verify_state *vs = ctx;
    if (level == 0 || level % TILES_HEIGHT != 0)
        return 0;
    unsigned tl = level / TILES_HEIGHT;
    memcpy(vs->upper[tl] + (index % TILES_WIDTH) * H, hash, H);
    if (index % TILES_WIDTH == TILES_WIDTH - 1)
        return check_upper_tile(vs, tl, index / TILES_WIDTH, TILES_WIDTH);
    return 0;
}

/* ---- level 0: bundles and leaf tiles ----------------------------------- */

static int check_root_at(verify_state *vs)
{
    uint64_t size = merkle_frontier_size(vs->f);
    while (vs->olds_next < vs->olds_count && vs->olds[vs->olds_next].size == size) {
        older_checkpoint *o = &vs->olds[vs->olds_next++];
        uint8_t root[H];
        char want[64], got[64];
        merkle_frontier_root(vs->f, root);
        if (sodium_memcmp(root, o->root, H) != 0) {
            b64(o->root, want);
            b64(root, got);
            return fail(vs,
                        "%s/%s: signed root %s is not the root %s of the first %llu entries",
                        vs->dir, o->name, want, got, (unsigned long long)size);
        }
    }
    return 0;
}

static int check_leaf_tile(verify_state *vs, uint64_t n, unsigned width)
{
    tiles_tile te = {true, 0, n, width}, th = {false, 0, n, width};
    char rel_e[TILES_PATH_MAX], rel_h[TILES_PATH_MAX], err[512];
    size_t len = 0;
    uint64_t first = n * TILES_WIDTH;
    tiles_path(&te, rel_e, sizeof rel_e);
    tiles_path(&th, rel_h, sizeof rel_h);

    if (tiles_dir_read(vs->d, rel_e, vs->bundle, TILES_BUNDLE_MAX, &len, err, sizeof err) != 0)
        return fail(vs, "%s", err);
    if (tiles_bundle_split(vs->bundle, len, width, vs->entries, err, sizeof err) != 0)
        return fail(vs, "%s/%s (entries %llu..%llu): %s", vs->dir, rel_e,
                    (unsigned long long)first, (unsigned long long)(first + width - 1), err);
    for (unsigned i = 0; i < width; i++) {
        merkle_hash_leaf(vs->entries[i].data, vs->entries[i].len, vs->leaves + (size_t)i * H);
        if (audit_stats_add(&vs->stats, first + i, vs->entries[i].data, vs->entries[i].len, NULL,
                            err, sizeof err) != 0)
            return fail(vs, "%s/%s: %s", vs->dir, rel_e, err);
    }
    if (tiles_dir_read_hashes(vs->d, &th, vs->from_file, err, sizeof err) != 0)
        return fail(vs, "%s", err);
    for (unsigned i = 0; i < width; i++)
        if (memcmp(vs->from_file + (size_t)i * H, vs->leaves + (size_t)i * H, H) != 0)
            return fail(vs,
                        "%s/%s: hash %u (level 0, entry %llu) does not match the hash of "
                        "entry %llu in %s",
                        vs->dir, rel_h, i, (unsigned long long)(first + i),
                        (unsigned long long)(first + i), rel_e);
    vs->bundles++;
    vs->hash_tiles++;
    int rc = check_older_partials(vs, &te, width, NULL);
    if (rc == 0)
        rc = check_older_partials(vs, &th, width, vs->leaves);
    for (unsigned i = 0; rc == 0 && i < width; i++) {
        rc = merkle_frontier_append(vs->f, vs->leaves + (size_t)i * H, on_node, vs);
        if (rc == 0)
            rc = check_root_at(vs);
    }
    return rc;
}

/* ---- checkpoints -------------------------------------------------------- */

static int open_checkpoint(verify_state *vs, const char *name, char **msg, checkpoint *cp)
{
    char err[512];
    size_t len = 0;
    *msg = malloc(CHECKPOINT_FILE_MAX + 1);
    if (!*msg)
        return fail(vs, "out of memory");
    if (tiles_dir_read(vs->d, name, (uint8_t *)*msg, CHECKPOINT_FILE_MAX, &len, err,
                       sizeof err) != 0)
        return fail(vs, "%s", err);
    (*msg)[len] = '\0';
    if (checkpoint_open(*msg, len, &vs->key, 1, cp, err, sizeof err) != 0)
        return fail(vs, "%s/%s: %s", vs->dir, name, err);
    return 0;
}

static int cmp_older(const void *a, const void *b)
{
    const older_checkpoint *x = a, *y = b;
    return x->size < y->size ? -1 : x->size > y->size;
}

/* checkpoint.N files (as Tessera's POSIX log keeps them): each must be
 * signed by the key, say size N, and not be beyond the current checkpoint. */
static int load_older_checkpoints(verify_state *vs)
{
    DIR *dir = opendir(vs->dir);
    struct dirent *de;
    int rc = 0;
    size_t cap = 0;
    if (!dir)
        return fail(vs, "%s: cannot list: %s", vs->dir, strerror(errno));
    while (rc == 0 && (de = readdir(dir)) != NULL) {
        const char *s = de->d_name;
        if (strncmp(s, "checkpoint.", 11) != 0)
            continue;
        const char *digits = s + 11;
        size_t nd = strspn(digits, "0123456789");
        if (nd == 0 || digits[nd] != '\0' || nd > 20 || (nd > 1 && digits[0] == '0'))
            continue; /* not checkpoint.<N> */
        char *msg = NULL;
        checkpoint cp;
        rc = open_checkpoint(vs, s, &msg, &cp);
        if (rc == 0 && strcmp(cp.origin, vs->cp.origin) != 0)
            rc = fail(vs, "%s/%s: origin \"%s\" differs from the checkpoint's \"%s\"", vs->dir,
                      s, cp.origin, vs->cp.origin);
        if (rc == 0) {
            char want[24];
            snprintf(want, sizeof want, "%llu", (unsigned long long)cp.size);
            if (strcmp(want, digits) != 0)
                rc = fail(vs, "%s/%s: signed size is %llu, not %s", vs->dir, s,
                          (unsigned long long)cp.size, digits);
        }
        if (rc == 0 && cp.size > vs->cp.size)
            rc = fail(vs,
                      "%s/%s: size %llu is beyond the size %llu of %s/checkpoint: the log's "
                      "checkpoint went back",
                      vs->dir, s, (unsigned long long)cp.size, (unsigned long long)vs->cp.size,
                      vs->dir);
        if (rc == 0 && vs->olds_count == cap) {
            cap = cap ? cap * 2 : 16;
            older_checkpoint *grown = realloc(vs->olds, cap * sizeof *grown);
            if (!grown)
                rc = fail(vs, "out of memory");
            else
                vs->olds = grown;
        }
        if (rc == 0) {
            older_checkpoint *o = &vs->olds[vs->olds_count++];
            o->size = cp.size;
            memcpy(o->root, cp.root, H);
            memcpy(o->name, s, 11 + nd); /* "checkpoint." and at most 20 digits */
            o->name[11 + nd] = '\0';
        }
        free(msg);
    }
    closedir(dir);
    if (rc == 0 && vs->olds_count > 0)
        qsort(vs->olds, vs->olds_count, sizeof *vs->olds, cmp_older);
    return rc;
}

/* ---- the whole check ---------------------------------------------------- */

static int verify_log(verify_state *vs)
{
    char err[512];
    int rc;
    if (tiles_dir_open(vs->dir, 0, &vs->d, err, sizeof err) != 0)
        return fail(vs, "%s", err);
    vs->bundle = malloc(TILES_BUNDLE_MAX);
    vs->scratch = malloc(TILES_BUNDLE_MAX);
    if (!vs->bundle || !vs->scratch || merkle_frontier_create(&vs->f) != 0)
        return fail(vs, "out of memory");
    rc = open_checkpoint(vs, "checkpoint", &vs->cp_msg, &vs->cp);
    if (rc != 0)
        return rc;
    rc = load_older_checkpoints(vs);
    if (rc != 0)
        return rc;
    rc = check_root_at(vs); /* checkpoint.0: the empty tree */
    if (rc != 0)
        return rc;

    uint64_t size = vs->cp.size, tiles = tiles_count(0, size);
    audit_progress_start(&vs->progress, "verifying entries", size);
    for (uint64_t n = 0; n < tiles; n++) {
        rc = check_leaf_tile(vs, n, tiles_width(0, n, size));
        if (rc != 0) {
            audit_progress_end(&vs->progress);
            return rc;
        }
        audit_progress_update(&vs->progress, merkle_frontier_size(vs->f));
    }
    audit_progress_end(&vs->progress);

    /* The rightmost, partial tiles of the levels above 0. */
    for (unsigned tl = 1; tl < TILE_LEVELS; tl++) {
        uint64_t count = tiles_count(tl, size);
        if (count == 0)
            break;
        unsigned width = tiles_width(tl, count - 1, size);
        if (width < TILES_WIDTH) {
            rc = check_upper_tile(vs, tl, count - 1, width);
            if (rc != 0)
                return rc;
        }
    }

    uint8_t root[H];
    merkle_frontier_root(vs->f, root);
    if (sodium_memcmp(root, vs->cp.root, H) != 0) {
        char want[64], got[64];
        b64(vs->cp.root, want);
        b64(root, got);
        return fail(vs,
                    "%s/checkpoint: signed root %s is not the root %s recomputed from the "
                    "%llu entries",
                    vs->dir, want, got, (unsigned long long)size);
    }
    if (vs->olds_next != vs->olds_count)
        return fail(vs, "%s/%s: not checked", vs->dir, vs->olds[vs->olds_next].name);
    return 0;
}

int audit_cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"state", required_argument, NULL, 300},
        AUDIT_CONN_LONGOPTS,
        AUDIT_WITNESS_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    audit_conn_opts co = {0};
    static audit_witnesses wit;
    const char *key = NULL, *state = NULL;
    int quiet = 0, c;
    memset(&wit, 0, sizeof wit);
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:s:W:qh", opts, NULL)) != -1) {
        int r = audit_conn_option(&co, c, optarg);
        if (r == 0)
            r = audit_witness_option(&wit, c, optarg);
        if (r < 0)
            return AUDIT_EXIT_USAGE;
        if (r > 0)
            continue;
        switch (c) {
        case 300:
            state = optarg;
            break;
        case 'k':
            if (key) {
                fprintf(stderr, AUDIT_PROG " verify: --key given twice\n");
                return AUDIT_EXIT_USAGE;
            }
            key = optarg;
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
    if (audit_witness_finish(&wit, "verify") != 0)
        return AUDIT_EXIT_USAGE;
    int srv = audit_conn_settle(&co, "verify", optind < argc);
    if (srv < 0)
        return AUDIT_EXIT_USAGE;
    if (srv > 0) {
        note_verifier v;
        if (optind != argc || !key) {
            fprintf(stderr, AUDIT_PROG " verify: %s\n\n",
                    !key ? "--key is required" : "a directory and --server: give one");
            help(stderr);
            return AUDIT_EXIT_USAGE;
        }
        if (audit_load_key(key, &v) != 0)
            return AUDIT_EXIT_USAGE;
        return audit_verify_server(&co, &v, state, &wit, quiet);
    }
    if (optind != argc - 1 || !key || state) {
        fprintf(stderr, AUDIT_PROG " verify: %s\n\n",
                !key ? "--key is required"
                : state ? "--state goes with --server"
                        : "expected one directory (or --server, or a --context with addr)");
        help(stderr);
        return AUDIT_EXIT_USAGE;
    }

    if (audit_input_ok("verify", NULL, argv[optind], 1) != 0)
        return AUDIT_EXIT_USAGE;
    verify_state *vs = calloc(1, sizeof *vs);
    if (!vs) {
        fprintf(stderr, AUDIT_PROG ": out of memory\n");
        return AUDIT_EXIT_FAILED;
    }
    vs->dir = argv[optind];
    audit_stats_init(&vs->stats, AUDIT_STATS_DETECT);
    if (audit_load_key(key, &vs->key) != 0) {
        free(vs);
        return AUDIT_EXIT_USAGE;
    }
    int rc = verify_log(vs), status = rc == 0 ? AUDIT_EXIT_OK : AUDIT_EXIT_FAILED;
    char cosigned[1024] = "";
    if (rc != 0)
        audit_report_failure("verify", "%s", vs->err);
    else
        status = audit_witness_check(&wit, "verify", vs->dir, vs->cp_msg, strlen(vs->cp_msg),
                                     cosigned, sizeof cosigned);
    if (status == AUDIT_EXIT_OK && !quiet) {
        char root[64];
        b64(vs->cp.root, root);
        printf("%s: verified\n", vs->dir);
        printf("origin:           %s\n", vs->cp.origin);
        printf("size:             %llu\n", (unsigned long long)vs->cp.size);
        printf("root:             %s\n", root);
        printf("entries:          %llu\n", (unsigned long long)merkle_frontier_size(vs->f));
        printf("entry bundles:    %llu\n", (unsigned long long)vs->bundles);
        printf("hash tiles:       %llu (levels 0..%u)\n", (unsigned long long)vs->hash_tiles,
               vs->top_level);
        printf("older partials:   %llu match", (unsigned long long)vs->older_partials);
        if (vs->beyond > 0)
            printf(", %llu beyond the checkpoint not checked", (unsigned long long)vs->beyond);
        printf("\n");
        printf("checkpoint.N:     %zu match\n", vs->olds_count);
        if (wit.count > 0)
            printf("witnesses:        %s\n", cosigned);
        audit_stats_print(&vs->stats, stdout);
    }
    audit_stats_free(&vs->stats);
    tiles_dir_destroy(vs->d);
    merkle_frontier_destroy(vs->f);
    free(vs->bundle);
    free(vs->scratch);
    free(vs->cp_msg);
    free(vs->olds);
    free(vs);
    return status;
}
