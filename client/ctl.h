/* ctl.h — tallinnctl's private interfaces: the command table (the single
 * source for --help, the man page and bash completion), the invocation
 * context handed to every command, and the helpers commands share. */
#ifndef TALLINN_CTL_H
#define TALLINN_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tallinn/rpc_client.h"

#define CTL_PROG "tallinnctl"
#define CTL_DEFAULT_ADDR "127.0.0.1:50051"
#define CTL_DEFAULT_DEADLINE_MS 10000
/* Most options one command may declare. */
#define CTL_MAX_CMD_OPTIONS 16

/* Exit statuses; each is documented in ctl_exit_codes (help, man page). */
enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_FAILURE = 1,     /* anything else; also: health is not SERVING */
    CTL_EXIT_USAGE = 2,       /* bad command line */
    CTL_EXIT_UNAVAILABLE = 3, /* UNAVAILABLE, DEADLINE_EXCEEDED */
    CTL_EXIT_NOT_FOUND = 4,   /* NOT_FOUND */
    CTL_EXIT_DENIED = 5,      /* PERMISSION_DENIED, UNAUTHENTICATED */
    CTL_EXIT_INVALID = 6,     /* INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE */
    CTL_EXIT_CONFLICT = 7,    /* ALREADY_EXISTS, ABORTED */
};

typedef struct ctl_exit_code {
    int code;
    const char *meaning;
} ctl_exit_code;

/* Output formats (-o), as bits so a command can list the ones it supports. */
typedef enum ctl_format {
    CTL_FORMAT_TEXT = 1u << 0, /* tables and key: value views */
    CTL_FORMAT_JSON = 1u << 1, /* proto3 JSON mapping */
    CTL_FORMAT_NAME = 1u << 2, /* resource names, one per line */
} ctl_format;

/* How bash completion completes an option's argument. */
typedef enum ctl_complete {
    CTL_COMPLETE_NONE = 0, /* free text */
    CTL_COMPLETE_FILE,     /* a path */
    CTL_COMPLETE_VALUES,   /* one of ctl_option.values */
} ctl_complete;

typedef struct ctl_option {
    const char *name;      /* long name without "--"; NULL ends a list */
    int short_name;        /* e.g. 'o'; 0 = none */
    const char *arg;       /* argument placeholder ("ADDR"); NULL = a flag */
    const char *env;       /* environment variable read when the flag is absent */
    const char *def;       /* default, as shown in help; NULL = none */
    const char *help;      /* one line */
    ctl_complete complete;
    const char *values;    /* space-separated choices for CTL_COMPLETE_VALUES */
} ctl_option;

typedef struct ctl_example {
    const char *cmd;       /* a full command line; NULL ends a list */
    const char *what;      /* what it does, one line */
} ctl_example;

typedef struct ctl_ctx ctl_ctx;

/* Runs a command. argv holds its positional arguments only (options are
 * parsed by then); the count is within [min_args, max_args]. Returns an exit
 * status. */
typedef int (*ctl_run_fn)(ctl_ctx *ctx, int argc, char **argv);

/* One row per command. A noun with verbs ("needs list", "needs get") has one
 * row per verb; a command that is a noun alone ("health") has verb NULL. */
typedef struct ctl_command {
    const char *noun;
    const char *verb;
    const char *args;              /* positional synopsis, e.g. "[SERVICE]" */
    int min_args, max_args;
    unsigned formats;              /* supported ctl_format bits */
    const char *summary;           /* one line for the command list */
    const char *description;       /* a paragraph for --help and the man page */
    const ctl_option *options;     /* command options; NULL = none */
    const ctl_example *examples;   /* at least one */
    ctl_run_fn run;
} ctl_command;

/* Indexes into ctl_global_options, so code can name them. */
enum {
    CTL_G_ADDR = 0,
    CTL_G_INSECURE,
    CTL_G_CA,
    CTL_G_CERT,
    CTL_G_KEY,
    CTL_G_SERVER_NAME,
    CTL_G_DEADLINE,
    CTL_G_OUTPUT,
    CTL_G_HELP,
    CTL_G_COUNT
};

extern const ctl_command ctl_commands[];
extern const size_t ctl_commands_count;
extern const ctl_option ctl_global_options[];
extern const ctl_exit_code ctl_exit_codes[];
extern const size_t ctl_exit_codes_count;

/* Everything a command gets: resolved global options and its own. */
struct ctl_ctx {
    const char *addr;
    int insecure;
    const char *ca_file, *cert_file, *key_file;
    const char *server_name;
    int64_t deadline_ms;
    ctl_format format;
    const ctl_command *cmd;
    const char *opt_values[CTL_MAX_CMD_OPTIONS]; /* by index in cmd->options;
                                                    flags: "1" when given */
    rpcc_channel *channel;                       /* opened by ctl_channel */
};

/* ctl_main.c */

/* The channel to the server, opened on first use. NULL after printing the
 * cause (the caller returns CTL_EXIT_FAILURE). */
rpcc_channel *ctl_channel(ctl_ctx *ctx);

/* Call options with the context's deadline. */
rpcc_call_options ctl_call_options(const ctl_ctx *ctx);

/* A command option's value (by long name), or NULL when not given. */
const char *ctl_option_value(const ctl_ctx *ctx, const char *name);

/* Prints "tallinnctl: <what>: <cause>" (plus one line per field violation)
 * for a failed call and returns the exit status for its code. */
int ctl_call_failed(const ctl_ctx *ctx, const char *what, const rpcc_result *r);

/* The exit status for a gRPC status code. */
int ctl_exit_for_status(grpc_status_code code);

/* Prints "tallinnctl: <message>" to stderr; returns CTL_EXIT_FAILURE. */
int ctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "tallinnctl: <message> (see 'tallinnctl <cmd> --help')"; returns
 * CTL_EXIT_USAGE. cmd may be NULL (points at the global help). */
int ctl_usage_error(const ctl_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints a string as a JSON string literal (quotes included). */
void ctl_json_string(FILE *out, const char *s);

/* ctl_help.c */

/* The full command name, "needs list" or "health". */
const char *ctl_command_name(const ctl_command *cmd, char *buf, size_t len);

/* Help for the whole tool, a noun (its verbs) or one command. */
void ctl_help_global(FILE *out);
void ctl_help_noun(FILE *out, const char *noun);
void ctl_help_command(FILE *out, const ctl_command *cmd);

/* The man page (roff) and the bash completion script. */
void ctl_render_man(FILE *out);
void ctl_render_bash_completion(FILE *out);

#endif
