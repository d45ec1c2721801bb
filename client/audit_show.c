/* audit_show.c — `tallinn-audit show`: the records of a tlog-tiles
 * directory (offline) or of a live server, decoded for people or as JSON.
 * Shows; does not prove: `verify` does that. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_cmds.h"
#include "tallinn/checkpoint.h"
#include "tallinn/tiles.h"

#define CHECKPOINT_FILE_MAX (1u << 20)

static void help(FILE *out)
{
    fprintf(out,
            "Usage: " AUDIT_PROG " show DIR [--from N] [--to M] [-o text|json] [--key VKEY]\n"
            "       " AUDIT_PROG " show --server ADDR [--from N] [--to M] [-o text|json]\n"
            "\n"
            "Prints the audit records of a tlog-tiles directory (an export of the log) or\n"
            "of a live server: index, time (local), principal, role, method, resource,\n"
            "status and etag as a table, or every field as a JSON array of\n"
            "tallinn.v1.AuditRecord objects in the proto3 JSON mapping. show decodes; it\n"
            "does not prove anything: run verify for that. With --key, the directory's\n"
            "checkpoint signature is checked first.\n"
            "\n"
            "Record text is untrusted: the table shows control characters, escape\n"
            "sequences and invalid bytes escaped (\\x1B, \\u{009B}); a trailing '…' marks\n"
            "a value the server replaced by its prefix. JSON keeps a field that is not\n"
            "UTF-8 as U+FFFD, with its exact bytes in <field>Bytes (base64).\n"
            "\n"
            "Options:\n"
            "      --from N          first record index (default 0)\n"
            "      --to M            last record index, included (default the last)\n"
            "  -o, --output FORMAT   text (a table, the default; \"table\" works too) or json,\n"
            "                        as tallinnctl's -o\n"
            "  -k, --key VKEY        check the checkpoint's signature with this key\n"
            AUDIT_CONN_HELP
            "  -h, --help            show this help\n"
            "\n"
            "Example:\n"
            "  " AUDIT_PROG " show ./audit-export --from 100 --to 120\n"
            "  " AUDIT_PROG " show ./audit-export -o json | jq '.[] | select(.statusCode != 0)'\n"
            "\n" AUDIT_EXIT_HELP);
}

static int parse_index(const char *opt, const char *arg, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno || *end || arg[0] < '0' || arg[0] > '9') {
        fprintf(stderr, AUDIT_PROG " show: %s: '%s' is not a record index\n", opt, arg);
        return -1;
    }
    *out = v;
    return 0;
}

static int show_dir(const char *dir, const note_verifier *key, uint64_t from, uint64_t to,
                    int json)
{
    tiles_dir *d = NULL;
    char err[1024], *note = NULL;
    uint8_t *bundle = NULL;
    tiles_entry *entries = NULL;
    note_parsed *np = NULL;
    size_t len = 0;
    checkpoint cp;
    audit_printer pr;
    audit_stats st;
    int status = AUDIT_EXIT_FAILED, printing = 0;

    audit_stats_init(&st, AUDIT_STATS_RECORDS);
    note = malloc(CHECKPOINT_FILE_MAX + 1);
    bundle = malloc(TILES_BUNDLE_MAX);
    entries = calloc(TILES_WIDTH, sizeof *entries);
    np = malloc(sizeof *np);
    if (!note || !bundle || !entries || !np) {
        audit_report_failure("show", "out of memory");
        goto done;
    }
    if (tiles_dir_open(dir, 0, &d, err, sizeof err) != 0 ||
        tiles_dir_read(d, "checkpoint", (uint8_t *)note, CHECKPOINT_FILE_MAX, &len, err,
                       sizeof err) != 0) {
        audit_report_failure("show", "%s", err);
        goto done;
    }
    int crc = key ? checkpoint_open(note, len, key, 1, &cp, err, sizeof err)
                  : note_parse(note, len, np, err, sizeof err);
    if (crc == 0 && !key)
        crc = checkpoint_parse(note, np->text_len, &cp, err, sizeof err);
    if (crc != 0) {
        audit_report_failure("show", "%s/checkpoint: %s", dir, err);
        goto done;
    }
    if (cp.size == 0 || from >= cp.size) {
        if (from > 0 && from >= cp.size) {
            audit_report_failure("show", "%s: --from %" PRIu64 ": the log has %" PRIu64
                                 " records", dir, from, cp.size);
            goto done;
        }
        audit_printer_begin(&pr, stdout, json);
        audit_printer_end(&pr);
        status = AUDIT_EXIT_OK;
        goto done;
    }
    if (to >= cp.size)
        to = cp.size - 1;
    audit_printer_begin(&pr, stdout, json);
    printing = 1;
    for (uint64_t n = from / TILES_WIDTH; n <= to / TILES_WIDTH; n++) {
        unsigned width = tiles_width(0, n, cp.size);
        tiles_tile t = {true, 0, n, width};
        char rel[TILES_PATH_MAX];
        tiles_path(&t, rel, sizeof rel);
        if (tiles_dir_read(d, rel, bundle, TILES_BUNDLE_MAX, &len, err, sizeof err) != 0) {
            audit_report_failure("show", "%s", err);
            goto done;
        }
        if (tiles_bundle_split(bundle, len, width, entries, err, sizeof err) != 0) {
            audit_report_failure("show", "%s/%s: %s", dir, rel, err);
            goto done;
        }
        for (unsigned i = 0; i < width; i++) {
            uint64_t index = n * TILES_WIDTH + i;
            Tallinn__V1__AuditRecord *r = NULL;
            if (index < from || index > to)
                continue;
            if (audit_stats_add(&st, index, entries[i].data, entries[i].len, &r, err,
                                sizeof err) != 0) {
                audit_report_failure("show", "%s/%s: %s", dir, rel, err);
                goto done;
            }
            int prc = audit_printer_record(&pr, r);
            tallinn__v1__audit_record__free_unpacked(r, NULL);
            if (prc != 0) {
                audit_report_failure("show", "%s/%s: record %" PRIu64 " cannot be printed: out "
                                     "of memory", dir, rel, index);
                goto done;
            }
        }
    }
    status = AUDIT_EXIT_OK;
done:
    if (printing)
        audit_printer_end(&pr);
    tiles_dir_destroy(d);
    audit_stats_free(&st);
    free(note);
    free(bundle);
    free(entries);
    free(np);
    return status;
}

int audit_cmd_show(int argc, char **argv)
{
    static const struct option opts[] = {
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"output", required_argument, NULL, 'o'},
        {"key", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        AUDIT_CONN_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    audit_conn_opts co = {0};
    uint64_t from = 0, to = UINT64_MAX;
    const char *key = NULL;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:k:s:h", opts, NULL)) != -1) {
        int r = audit_conn_option(&co, c, optarg);
        if (r < 0)
            return AUDIT_EXIT_USAGE;
        if (r > 0)
            continue;
        switch (c) {
        case 'f':
            if (parse_index("--from", optarg, &from) != 0)
                return AUDIT_EXIT_USAGE;
            break;
        case 't':
            if (parse_index("--to", optarg, &to) != 0)
                return AUDIT_EXIT_USAGE;
            break;
        case 'o': /* as tallinnctl's -o: text (a table; "table" too) or json */
            if (strcmp(optarg, "json") == 0) {
                json = 1;
            } else if (strcmp(optarg, "text") == 0 || strcmp(optarg, "table") == 0) {
                json = 0;
            } else {
                fprintf(stderr, AUDIT_PROG " show: -o wants text or json, not '%s'\n", optarg);
                return AUDIT_EXIT_USAGE;
            }
            break;
        case 'k':
            key = optarg;
            break;
        case 'h':
            help(stdout);
            return AUDIT_EXIT_OK;
        default:
            help(stderr);
            return AUDIT_EXIT_USAGE;
        }
    }
    if (from > to) {
        fprintf(stderr, AUDIT_PROG " show: --from %" PRIu64 " is after --to %" PRIu64 "\n", from,
                to);
        return AUDIT_EXIT_USAGE;
    }
    int srv = audit_conn_settle(&co, "show", optind < argc);
    if (srv < 0)
        return AUDIT_EXIT_USAGE;
    if (srv > 0)
        return audit_show_server(&co, from, to, json);
    if (optind != argc - 1) {
        fprintf(stderr, AUDIT_PROG " show: expected one directory (or --server, or a --context "
                "with addr)\n\n");
        help(stderr);
        return AUDIT_EXIT_USAGE;
    }
    note_verifier v;
    if (key && audit_load_key(key, &v) != 0)
        return AUDIT_EXIT_USAGE;
    if (audit_input_ok("show", NULL, argv[optind], 1) != 0)
        return AUDIT_EXIT_USAGE;
    return show_dir(argv[optind], key ? &v : NULL, from, to, json);
}
