/* witness_main.c — `tallinn-audit witness init|serve|cosign`: the command
 * line of the witness (a C2SP tlog-witness that cosigns checkpoints of the
 * logs it is given) and of its log-side client. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_cmds.h"
#include "witness.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: " AUDIT_PROG " witness init --dir DIR --name NAME\n"
            "       " AUDIT_PROG " witness serve --dir DIR --listen ADDR --log VKEY...\n"
            "                     [--tls-cert F --tls-key F] [--prefix /PATH]\n"
            "       " AUDIT_PROG " witness cosign LOGDIR --key VKEY --witness 'VKEY URL'...\n"
            "                     [--quorum K]\n"
            "\n"
            "A witness (c2sp.org/tlog-witness) remembers, for every log it witnesses, the\n"
            "latest checkpoint it cosigned, and cosigns a new one only if a consistency\n"
            "proof shows it extends that one: a log that shows two histories to two\n"
            "parties (a split view) cannot get both cosigned by the same witnesses.\n"
            "\n"
            "  init    writes the witness's Ed25519 key into DIR/" WITNESS_KEY_FILE
            " (0600; never\n"
            "          replaces one) and prints its verifier key (the C2SP vkey of a\n"
            "          cosignature/v1 key, type 0x04): give that to verifiers.\n"
            "  serve   answers POST <prefix>/add-checkpoint and GET\n"
            "          <prefix>/<sha256(origin)>/checkpoint for the logs given with --log\n"
            "          (each a log's verifier key; its name is the log's origin; give one\n"
            "          origin several keys to accept each). Its state (DIR/" WITNESS_LOGS_DIR
            "/) is written\n"
            "          durably before each answer. Plain HTTP only on a loopback address;\n"
            "          HTTPS with --tls-cert and --tls-key. SIGTERM stops it.\n"
            "  cosign  asks witnesses to cosign LOGDIR/checkpoint of a tlog-tiles log\n"
            "          (proofs from its tiles) and adds their cosignatures to it.\n"
            "\n"
            "Run '" AUDIT_PROG " witness COMMAND --help' for a command's options.\n"
            "\n"
            "Example:\n"
            "  " AUDIT_PROG " witness init --dir /var/lib/tallinn-witness --name "
            "witness.example.ee/tallinn\n"
            "  " AUDIT_PROG " witness serve --dir /var/lib/tallinn-witness --listen "
            "127.0.0.1:7380 \\\n"
            "      --log 'tallinn.example/tallinn+b94c5f01+AcLHoTgy...'\n");
}

static void init_help(FILE *out)
{
    fprintf(out,
            "Usage: " AUDIT_PROG " witness init --dir DIR --name NAME\n"
            "\n"
            "Makes a new witness: writes its Ed25519 key into DIR/" WITNESS_KEY_FILE " (mode 0600;\n"
            "it never replaces one) and prints its verifier key, the C2SP vkey of a\n"
            "cosignature/v1 key (type 0x04), also kept in DIR/" WITNESS_VKEY_FILE ": give it to\n"
            "verifiers (--witness).\n"
            "\n"
            "Options:\n"
            "      --dir DIR         the witness's directory (made if missing)\n"
            "      --name NAME       the witness's name, e.g. witness.example.ee/tallinn\n"
            "  -h, --help            show this help\n"
            "\n"
            "Example:\n"
            "  " AUDIT_PROG " witness init --dir /var/lib/tallinn-witness --name "
            "witness.example.ee/tallinn\n"
            "\n" AUDIT_EXIT_HELP);
}

static void serve_help(FILE *out)
{
    fprintf(out,
            "Usage: " AUDIT_PROG " witness serve --dir DIR --listen ADDR --log VKEY...\n"
            "                     [--tls-cert F --tls-key F] [--prefix /PATH]\n"
            "\n"
            "Serves C2SP tlog-witness: POST <prefix>/add-checkpoint and GET\n"
            "<prefix>/<sha256(origin)>/checkpoint for the logs given with --log. It cosigns\n"
            "a checkpoint only when a consistency proof shows that it extends the one it\n"
            "cosigned last, and writes that state (DIR/" WITNESS_LOGS_DIR "/) durably before it\n"
            "answers. Plain HTTP only on a loopback address; HTTPS with --tls-cert and\n"
            "--tls-key. SIGTERM stops it.\n"
            "\n"
            "Options:\n"
            "      --dir DIR         the witness's directory (its key from witness init, its\n"
            "                        state: never restore an older copy of it)\n"
            "      --listen ADDR     the address to listen on, host:port\n"
            "      --log VKEY        a log's verifier key (or a file holding it); its name is\n"
            "                        the log's origin. Repeat for each log, or for several\n"
            "                        keys of one origin\n"
            "      --tls-cert F      the certificate chain (PEM) for HTTPS, with --tls-key\n"
            "      --tls-key F       its private key (PEM)\n"
            "      --prefix /PATH    the path the endpoints live under (default: none)\n"
            "  -h, --help            show this help\n"
            "\n"
            "Example:\n"
            "  " AUDIT_PROG " witness serve --dir /var/lib/tallinn-witness --listen "
            "127.0.0.1:7380 \\\n"
            "      --log 'tallinn.example/tallinn+b94c5f01+AcLHoTgy...'\n"
            "\n" AUDIT_EXIT_HELP);
}

int witness_cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"name", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL, *name = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'h':
            init_help(stdout);
            return AUDIT_EXIT_OK;
        default:
            init_help(stderr);
            return AUDIT_EXIT_USAGE;
        }
    }
    if (!dir || !name || optind != argc) {
        fprintf(stderr, AUDIT_PROG " witness init: --dir and --name are required\n\n");
        init_help(stderr);
        return AUDIT_EXIT_USAGE;
    }
    char vkey[COSIG_VERIFIER_KEY_MAX], err[1024] = "";
    if (witness_store_init(dir, name, vkey, sizeof vkey, err, sizeof err) != 0) {
        fprintf(stderr, AUDIT_PROG " witness init: %s\n", err);
        return AUDIT_EXIT_FAILED;
    }
    printf("%s\n", vkey);
    fprintf(stderr,
            AUDIT_PROG " witness init: key written to %s/" WITNESS_KEY_FILE
            " (keep it secret and backed up);\n"
            "the line above is the witness's verifier key (also in %s/" WITNESS_VKEY_FILE
            "): give it to verifiers.\n",
            dir, dir);
    return AUDIT_EXIT_OK;
}

int witness_cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"log", required_argument, NULL, 'L'},
        {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'k'},
        {"prefix", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    witness_server_opts so = {.prefix = ""};
    const char *dir = NULL;
    const char **logs = calloc((size_t)argc, sizeof *logs);
    size_t n_logs = 0;
    int c, status = AUDIT_EXIT_USAGE;
    if (!logs)
        return AUDIT_EXIT_FAILED;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:l:L:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'l':
            so.listen = optarg;
            break;
        case 'L':
            logs[n_logs++] = optarg;
            break;
        case 'c':
            so.tls_cert = optarg;
            break;
        case 'k':
            so.tls_key = optarg;
            break;
        case 'p':
            so.prefix = optarg;
            break;
        case 'h':
            serve_help(stdout);
            status = AUDIT_EXIT_OK;
            goto done;
        default:
            serve_help(stderr);
            goto done;
        }
    }
    if (!dir || !so.listen || n_logs == 0 || optind != argc ||
        (!so.tls_cert != !so.tls_key)) {
        fprintf(stderr, AUDIT_PROG " witness serve: %s\n\n",
                (!so.tls_cert != !so.tls_key) ? "--tls-cert and --tls-key go together"
                                              : "--dir, --listen and at least one --log are "
                                                "required");
        serve_help(stderr);
        goto done;
    }
    witness_store *s = NULL;
    char err[1024] = "";
    if (witness_store_open(dir, logs, n_logs, &s, err, sizeof err) != 0) {
        fprintf(stderr, AUDIT_PROG " witness serve: %s\n", err);
        status = AUDIT_EXIT_FAILED;
        goto done;
    }
    status = witness_serve(s, &so);
    witness_store_close(s);
done:
    free(logs);
    return status;
}

int audit_cmd_witness(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return AUDIT_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        usage(stdout);
        return AUDIT_EXIT_OK;
    }
    if (strcmp(sub, "init") == 0)
        return witness_cmd_init(argc - 1, argv + 1);
    if (strcmp(sub, "serve") == 0)
        return witness_cmd_serve(argc - 1, argv + 1);
    if (strcmp(sub, "cosign") == 0)
        return witness_cmd_cosign(argc - 1, argv + 1);
    fprintf(stderr, AUDIT_PROG " witness: unknown command '%s'\n\n", sub);
    usage(stderr);
    return AUDIT_EXIT_USAGE;
}
