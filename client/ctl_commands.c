/* ctl_commands.c — tallinnctl's command table and the commands themselves.
 * The table is the single source for parsing, --help, the man page and bash
 * completion: a new command is a new row (and its run function), nothing else. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "grpc/health/v1/health.pb-c.h"

#ifndef TALLINN_VERSION
#define TALLINN_VERSION "unknown"
#endif

#define CTL_HEALTH_CHECK "/grpc.health.v1.Health/Check"

/* ---- Global options and exit statuses ---- */

const ctl_option ctl_global_options[] = {
    [CTL_G_ADDR] = {"addr", 0, "ADDR", "TALLINN_ADDR", CTL_DEFAULT_ADDR,
                    "server address, host:port", CTL_COMPLETE_NONE, NULL},
    [CTL_G_INSECURE] = {"insecure", 0, NULL, NULL, NULL,
                        "plaintext, no TLS (for a local server started with --insecure)",
                        CTL_COMPLETE_NONE, NULL},
    [CTL_G_CA] = {"ca", 0, "FILE", "TALLINN_CA", NULL,
                  "CA certificates to verify the server (PEM); default: system roots",
                  CTL_COMPLETE_FILE, NULL},
    [CTL_G_CERT] = {"cert", 0, "FILE", "TALLINN_CERT", NULL,
                    "client certificate for mutual TLS (PEM), with --key", CTL_COMPLETE_FILE,
                    NULL},
    [CTL_G_KEY] = {"key", 0, "FILE", "TALLINN_KEY", NULL,
                   "client private key for mutual TLS (PEM), with --cert", CTL_COMPLETE_FILE,
                   NULL},
    [CTL_G_SERVER_NAME] = {"server-name", 0, "NAME", NULL, NULL,
                           "name the server's certificate must carry (default: the host in --addr)",
                           CTL_COMPLETE_NONE, NULL},
    [CTL_G_DEADLINE] = {"deadline", 0, "DURATION", NULL, "10s",
                        "give up on the server after this long: 500ms, 10s, 2m",
                        CTL_COMPLETE_NONE, NULL},
    [CTL_G_OUTPUT] = {"output", 'o', "FORMAT", NULL, "text",
                      "output format: text, json (proto3 JSON) or name (resource names)",
                      CTL_COMPLETE_VALUES, "text json name"},
    [CTL_G_HELP] = {"help", 'h', NULL, NULL, NULL, "help for tallinnctl or a command",
                    CTL_COMPLETE_NONE, NULL},
    [CTL_G_COUNT] = {NULL, 0, NULL, NULL, NULL, NULL, CTL_COMPLETE_NONE, NULL},
};

const ctl_exit_code ctl_exit_codes[] = {
    {CTL_EXIT_OK, "success (health: the server is SERVING)"},
    {CTL_EXIT_FAILURE, "any other error; health: the server answered but is not SERVING"},
    {CTL_EXIT_USAGE, "bad command line: unknown command or option, wrong arguments"},
    {CTL_EXIT_UNAVAILABLE, "server unreachable or too slow (UNAVAILABLE, DEADLINE_EXCEEDED)"},
    {CTL_EXIT_NOT_FOUND, "no such resource or service (NOT_FOUND)"},
    {CTL_EXIT_DENIED, "not allowed (PERMISSION_DENIED, UNAUTHENTICATED)"},
    {CTL_EXIT_INVALID,
     "request refused as invalid (INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE)"},
    {CTL_EXIT_CONFLICT, "conflict: changed meanwhile or exists already (ABORTED, ALREADY_EXISTS)"},
};
const size_t ctl_exit_codes_count = sizeof ctl_exit_codes / sizeof ctl_exit_codes[0];

/* ---- health ---- */

static int ctl_cmd_health(ctl_ctx *ctx, int argc, char **argv)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    const Grpc__Health__V1__HealthCheckResponse *resp;
    const ProtobufCEnumValue *v;
    ProtobufCMessage *out = NULL;
    rpcc_result result = {0};
    rpcc_call_options opts = ctl_call_options(ctx);
    rpcc_channel *ch;
    char unknown[32];
    const char *name;
    int rc;

    req.service = argc > 0 ? argv[0] : "";
    if ((ch = ctl_channel(ctx)) == NULL)
        return CTL_EXIT_FAILURE;
    if (rpcc_unary(ch, CTL_HEALTH_CHECK, &req.base,
                   &grpc__health__v1__health_check_response__descriptor, &opts, &out,
                   &result) != GRPC_STATUS_OK) {
        rc = ctl_call_failed(ctx, "health check", &result);
        goto done;
    }
    resp = (const Grpc__Health__V1__HealthCheckResponse *)out;
    v = protobuf_c_enum_descriptor_get_value(
        &grpc__health__v1__health_check_response__serving_status__descriptor, resp->status);
    if (v != NULL) {
        name = v->name;
    } else {
        snprintf(unknown, sizeof unknown, "%d", (int)resp->status);
        name = unknown; /* proto3 JSON writes unknown enum values as numbers */
    }
    if (ctx->format == CTL_FORMAT_JSON) {
        fputs("{\"status\": ", stdout);
        if (v != NULL)
            ctl_json_string(stdout, name);
        else
            fputs(name, stdout);
        fputs("}\n", stdout);
    } else {
        printf("%s\n", name);
    }
    rc = resp->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
             ? CTL_EXIT_OK
             : CTL_EXIT_FAILURE;
done:
    if (out != NULL)
        protobuf_c_message_free_unpacked(out, NULL);
    rpcc_result_free(&result);
    return rc;
}

/* ---- version ---- */

static int ctl_cmd_version(ctl_ctx *ctx, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    /* The server's version joins this once the server reports it. */
    if (ctx->format == CTL_FORMAT_JSON) {
        fputs("{\"client\": ", stdout);
        ctl_json_string(stdout, TALLINN_VERSION);
        fputs("}\n", stdout);
    } else {
        printf("client: %s\n", TALLINN_VERSION);
    }
    return CTL_EXIT_OK;
}

/* ---- help and completion ---- */

static int ctl_cmd_help(ctl_ctx *ctx, int argc, char **argv)
{
    char name[128];

    if (ctl_option_value(ctx, "man") != NULL) {
        if (argc > 0)
            return ctl_usage_error(ctx->cmd, "--man takes no command");
        ctl_render_man(stdout);
        return CTL_EXIT_OK;
    }
    if (argc == 0) {
        ctl_help_global(stdout);
        return CTL_EXIT_OK;
    }
    for (size_t i = 0; i < ctl_commands_count; i++) {
        const ctl_command *c = &ctl_commands[i];

        if (strcmp(c->noun, argv[0]) != 0)
            continue;
        if (c->verb == NULL) {
            if (argc > 1)
                return ctl_usage_error(ctx->cmd, "%s has no subcommands", argv[0]);
            ctl_help_command(stdout, c);
            return CTL_EXIT_OK;
        }
        if (argc == 1) {
            ctl_help_noun(stdout, argv[0]);
            return CTL_EXIT_OK;
        }
        for (size_t k = i; k < ctl_commands_count; k++) {
            if (strcmp(ctl_commands[k].noun, argv[0]) == 0 &&
                strcmp(ctl_commands[k].verb, argv[1]) == 0) {
                ctl_help_command(stdout, &ctl_commands[k]);
                return CTL_EXIT_OK;
            }
        }
        snprintf(name, sizeof name, "%s %s", argv[0], argv[1]);
        return ctl_usage_error(ctx->cmd, "unknown command \"%s\"", name);
    }
    return ctl_usage_error(ctx->cmd, "unknown command \"%s\"", argv[0]);
}

static int ctl_cmd_completion_bash(ctl_ctx *ctx, int argc, char **argv)
{
    (void)ctx;
    (void)argc;
    (void)argv;
    ctl_render_bash_completion(stdout);
    return CTL_EXIT_OK;
}

/* ---- The table ---- */

static const ctl_example ctl_health_examples[] = {
    {"tallinnctl --insecure health", "check a local server started with make run"},
    {"tallinnctl health tallinn.v1.NeedService", "check one service"},
    {"tallinnctl --addr tallinn.example.org:443 --ca ca.pem health -o json",
     "check a remote server over TLS, JSON output"},
    {NULL, NULL},
};

static const ctl_example ctl_version_examples[] = {
    {"tallinnctl version", "print the client version"},
    {"tallinnctl version -o json", "the same as JSON"},
    {NULL, NULL},
};

static const ctl_option ctl_help_options[] = {
    {"man", 0, NULL, NULL, NULL, "print the manual page (roff) instead", CTL_COMPLETE_NONE, NULL},
    {NULL, 0, NULL, NULL, NULL, NULL, CTL_COMPLETE_NONE, NULL},
};

static const ctl_example ctl_help_examples[] = {
    {"tallinnctl help health", "help for the health command"},
    {"tallinnctl help --man > tallinnctl.1", "write the manual page"},
    {NULL, NULL},
};

static const ctl_example ctl_completion_examples[] = {
    {"source <(tallinnctl completion bash)", "complete tallinnctl in this shell"},
    {"tallinnctl completion bash > /etc/bash_completion.d/tallinnctl", "install for everyone"},
    {NULL, NULL},
};

const ctl_command ctl_commands[] = {
    {
        .noun = "health",
        .args = "[SERVICE]",
        .min_args = 0,
        .max_args = 1,
        .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON,
        .summary = "check whether the server (or one of its services) is serving",
        .description =
            "Asks the server's standard gRPC health service (grpc.health.v1.Health/Check) and "
            "prints the answer: SERVING, NOT_SERVING, SERVICE_UNKNOWN or UNKNOWN. Without "
            "SERVICE it checks the server as a whole; with one (a full service name such as "
            "tallinn.v1.NeedService) it checks that service. Exits 0 only when the answer is "
            "SERVING, so it can gate scripts and probes.",
        .examples = ctl_health_examples,
        .run = ctl_cmd_health,
    },
    {
        .noun = "version",
        .min_args = 0,
        .max_args = 0,
        .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON,
        .summary = "show the client version",
        .description = "Prints the version of this tallinnctl. It does not contact the server.",
        .examples = ctl_version_examples,
        .run = ctl_cmd_version,
    },
    {
        .noun = "help",
        .args = "[COMMAND [SUBCOMMAND]]",
        .min_args = 0,
        .max_args = 2,
        .formats = CTL_FORMAT_TEXT,
        .summary = "show help for tallinnctl or a command",
        .description = "Shows the same help as --help: for the whole tool, or for one command "
                       "with its options and examples. With --man, prints the manual page.",
        .options = ctl_help_options,
        .examples = ctl_help_examples,
        .run = ctl_cmd_help,
    },
    {
        .noun = "completion",
        .verb = "bash",
        .min_args = 0,
        .max_args = 0,
        .formats = CTL_FORMAT_TEXT,
        .summary = "print a bash completion script",
        .description = "Prints a bash completion script for tallinnctl's commands and options, "
                       "generated from the same table as this help.",
        .examples = ctl_completion_examples,
        .run = ctl_cmd_completion_bash,
    },
};
const size_t ctl_commands_count = sizeof ctl_commands / sizeof ctl_commands[0];
