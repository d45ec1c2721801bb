/* ctl.h — tallinnctl's private interfaces: the command table (the single
 * source for --help, the man page and bash completion), the invocation
 * context handed to every command, configuration, output and the helpers
 * commands share. */
#ifndef TALLINN_CTL_H
#define TALLINN_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "cli.h"
#include "tallinn/rpc_client.h"

#define CTL_PROG "tallinnctl"
#define CTL_DEFAULT_ADDR "127.0.0.1:50051"
/* The currency of an amount typed without one: the accounting currency of
 * tallinnd (ServerInfo.accounting_currency) unless configured otherwise. */
#define CTL_DEFAULT_CURRENCY "EUR"
#define CTL_DEFAULT_DEADLINE_MS 10000
/* Most options one command may declare. */
#define CTL_MAX_CMD_OPTIONS 24
/* Longest bearer token accepted from a file or the environment. */
#define CTL_TOKEN_MAX 512

/* Exit statuses, the scheme tallinn-audit shares (cli.h); each is documented
 * in ctl_exit_codes (help, man page). */
enum {
    CTL_EXIT_OK = CLI_EXIT_OK,
    CTL_EXIT_FAILURE = CLI_EXIT_FAILURE,         /* anything else; also: health is not SERVING */
    CTL_EXIT_USAGE = CLI_EXIT_USAGE,             /* bad command line */
    CTL_EXIT_UNAVAILABLE = CLI_EXIT_UNREACHABLE, /* UNAVAILABLE, DEADLINE_EXCEEDED */
    CTL_EXIT_NOT_FOUND = CLI_EXIT_NOT_FOUND,     /* NOT_FOUND */
    CTL_EXIT_DENIED = CLI_EXIT_DENIED,           /* PERMISSION_DENIED, UNAUTHENTICATED */
    CTL_EXIT_INVALID = CLI_EXIT_INVALID,   /* INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE */
    CTL_EXIT_CONFLICT = CLI_EXIT_CONFLICT, /* ALREADY_EXISTS, ABORTED */
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
    CTL_FORMAT_CSV = 1u << 3,  /* a table as RFC 4180 CSV; commands with it print tables,
                                  take --no-headers and are paged on a terminal */
} ctl_format;

/* How shell completion completes an option's argument (beyond its
 * placeholder: NEED, DONOR, ... complete resource ids, see ctl_complete.c). */
typedef enum ctl_complete {
    CTL_COMPLETE_NONE = 0, /* free text */
    CTL_COMPLETE_FILE,     /* a path */
    CTL_COMPLETE_VALUES,   /* one of ctl_option.values */
    CTL_COMPLETE_CONTEXT,  /* a context name of the config file */
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

/* A second long name of a global option (tallinn-audit's --server for
 * --addr): accepted as exactly that name, shown beside it in help. */
const char *ctl_option_alias(const ctl_option *o);

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
    const void *data;              /* what a generic run function works on
                                      (a ctl_resource or ctl_action); NULL */
    int local;                     /* talks to no server: no context is chosen, no token
                                      read, no connection setting checked */
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
    CTL_G_CONTEXT,
    CTL_G_TOKEN_FILE,
    CTL_G_TOKEN,
    CTL_G_VERBOSE,
    CTL_G_NO_HEADERS,
    CTL_G_NO_PAGER,
    CTL_G_VERSION,
    CTL_G_HELP,
    CTL_G_COUNT
};

extern const ctl_command ctl_commands[];
extern const size_t ctl_commands_count;
extern const ctl_option ctl_global_options[];
extern const ctl_exit_code ctl_exit_codes[];
extern const size_t ctl_exit_codes_count;

/* Everything a command gets: resolved global options and its own. */
#define CTL_MAX_REPEATS 64 /* earlier values of repeated options kept */

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
    /* Earlier values of options given more than once (opt_values keeps the
     * last), in order: see ctl_option_values. */
    const char *opt_earlier[CTL_MAX_REPEATS];
    int opt_earlier_index[CTL_MAX_REPEATS];
    size_t n_earlier;
    rpcc_channel *channel;                       /* opened by ctl_channel */
    char *token;                                 /* bearer token or NULL; wiped at exit */
    char *auth_header;                           /* "Bearer <token>"; wiped at exit */
    rpcc_metadata auth_md;
    int color;                                   /* stdout is a terminal, NO_COLOR unset */
    const char *context_name;                    /* the config context in use, or NULL */
    const char *config_path;                     /* the config file read (or that would be) */
    int verbose;                                 /* -v: report every call attempt */
    int no_headers;                              /* --no-headers: tables without their header */
    const char *flags[CTL_G_COUNT];              /* global options as given on the line, before
                                                    environment and config (set-context) */
};

/* ctl_main.c */

/* The channel to the server, opened on first use. NULL after printing the
 * cause (the caller returns CTL_EXIT_FAILURE). */
rpcc_channel *ctl_channel(ctl_ctx *ctx);

/* Call options with the context's deadline. */
rpcc_call_options ctl_call_options(const ctl_ctx *ctx);

/* "500ms", "10s", "2m", or a bare number of seconds. Returns 0 or -1. */
int ctl_parse_duration(const char *s, int64_t *ms);

/* A command option's value (by long name), or NULL when not given. */
const char *ctl_option_value(const ctl_ctx *ctx, const char *name);

/* Every value of a command option given once or more (--evidence a
 * --evidence b), in command-line order: up to max into out; returns how
 * many were given (more than max: the caller refuses). */
size_t ctl_option_values(const ctl_ctx *ctx, const char *name, const char **out, size_t max);

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


/* Calls a unary method ("/tallinn.v1.NeedService/GetNeed") with the
 * context's deadline and token. The client runtime retries it after
 * UNAVAILABLE, on the next replica, when it is safe to repeat (reads, and
 * writes that carry a request_id). *resp as rpcc_unary; result filled
 * (caller frees). */
grpc_status_code ctl_unary(ctl_ctx *ctx, const char *method, const ProtobufCMessage *req,
                           const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                           rpcc_result *result);

/* ctl_config.c — the config file (cli.h reads it): the context in use. */

/* One context of the config file; NULL = not set there. */
typedef struct ctl_config {
    char *path;            /* the file read, or NULL if there was none */
    char *context;         /* the context chosen */
    char *values[CTL_G_COUNT]; /* by global option index (addr, token-file, ...) */
} ctl_config;

/* The global option a config setting stands for (CTL_G_ADDR for
 * CLI_CFG_ADDR, ...). */
int ctl_config_option(cli_cfg_key key);

/* Loads the config file (ctl_config_path) and picks the context named by
 * want (NULL: the file's `context =`). A missing file is no error unless
 * want is set or TALLINN_CONFIG names it. Returns 0, or an exit status after
 * printing the cause. */
int ctl_config_load(ctl_config *cfg, const char *want);
void ctl_config_free(ctl_config *cfg);

/* ctl_output.c — formatting for people and for programs. */

/* "EUR 500,000.00", "JPY 1,200", "KWD 5.250": the currency's minor unit of
 * decimals (ISO 4217), more only if the amount has them. */
void ctl_format_money(const ProtobufCMessage *money, char *buf, size_t len);
/* A timestamp as RFC 3339 in UTC, "2025-01-31T12:05:09Z" (fractional
 * seconds when it has them). */
void ctl_format_rfc3339(const ProtobufCMessage *ts, char *buf, size_t len);
/* A timestamp in the local time zone, "2025-01-31 14:05:09 EET". */
void ctl_format_time(const ProtobufCMessage *ts, char *buf, size_t len);
/* An enum value name without its type prefix ("SECTOR_ENERGY" -> "ENERGY"). */
const char *ctl_enum_short(const ProtobufCEnumDescriptor *ed, int value, char *buf, size_t len);
/* One field of a message as text for a table cell or a view (repeated
 * fields comma-joined). */
void ctl_format_field(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, char *buf,
                      size_t len);

/* A table that prints rows as they come: column widths are fixed by the
 * first batch of rows (and grow for later ones). With -o csv the same rows
 * as RFC 4180 CSV (UTF-8, CRLF, cells whole), the header row first even when
 * there are none; --no-headers leaves the header out of either. */
typedef struct ctl_column {
    const char *header;
    const char *field;   /* proto field name of the row message */
    int max_width;       /* longer cells are cut with "…" (not in CSV); 0 = no limit */
} ctl_column;

typedef struct ctl_table ctl_table;

ctl_table *ctl_table_create(const ctl_ctx *ctx, const ctl_column *cols);
/* Adds rows (messages of one type); prints them when flush is called. */
void ctl_table_add(ctl_table *t, const ProtobufCMessage *row);
/* Adds a row of ready-made cells, one per column. */
void ctl_table_add_cells(ctl_table *t, const char *const *cells);
void ctl_table_flush(ctl_table *t);
void ctl_table_destroy(ctl_table *t);

/* A key: value view of one message (nested messages indented). */
void ctl_print_view(const ctl_ctx *ctx, const ProtobufCMessage *m);
/* Prints m in the context's format: view, JSON (indented when pretty) or its
 * name. Returns 0 or an exit status. */
int ctl_print_message(const ctl_ctx *ctx, const ProtobufCMessage *m, int pretty);
/* Colour codes for a state name, "" without colour. */
const char *ctl_color_for(const ctl_ctx *ctx, const char *state);
const char *ctl_color_reset(const ctl_ctx *ctx);

/* ctl_resources.c — the generic resource commands. */

/* A resource kind and its standard methods (AIP-131..134). */
typedef struct ctl_resource {
    const char *collection;       /* "needs"; "pledges" live under parent */
    const char *parent;           /* "donors" for pledges; NULL for top level */
    const char *singular;         /* "need", for messages */
    const char *service;          /* "tallinn.v1.NeedService" */
    const ProtobufCMessageDescriptor *msg;
    const char *get_method;       /* "GetNeed" */
    const ProtobufCMessageDescriptor *get_req;
    const char *list_method;
    const ProtobufCMessageDescriptor *list_req, *list_resp;
    const char *list_field;       /* repeated field of list_resp */
    const char *create_method;
    const ProtobufCMessageDescriptor *create_req, *create_resp;
    const char *create_field;     /* the resource field of create_req */
    const char *id_field;         /* "need_id" */
    const char *const *create_required; /* fields a create must give; NULL-ended */
    const char *update_method;
    const ProtobufCMessageDescriptor *update_req;
    const char *const *updatable; /* update_mask paths the server takes; NULL-ended */
    const ctl_column *columns;    /* for list tables */
} ctl_resource;

/* A custom method on one resource ("needs submit" -> SubmitNeed). */
typedef struct ctl_action {
    const ctl_resource *res;
    const char *method;
    const ProtobufCMessageDescriptor *req, *resp;
    int reason_required;
} ctl_action;
int ctl_run_list(ctl_ctx *ctx, int argc, char **argv);
int ctl_run_get(ctl_ctx *ctx, int argc, char **argv);
int ctl_run_create(ctl_ctx *ctx, int argc, char **argv);
int ctl_run_update(ctl_ctx *ctx, int argc, char **argv);
int ctl_run_action(ctl_ctx *ctx, int argc, char **argv);

/* ctl_evidence.c: the --evidence files (and the extra operands after the
 * first, files too) and --note of a delivery step, hashed and typed here,
 * set on req's documents and note. 0, or an exit status after saying why. */
#define CTL_EVIDENCE_MAX 16 /* documents per step (the server's limit) */
int ctl_evidence_attach(ctl_ctx *ctx, ProtobufCMessage *req, char **extra, int n_extra);
int ctl_run_suggest(ctl_ctx *ctx, int argc, char **argv);
int ctl_run_report(ctl_ctx *ctx, int argc, char **argv);

/* "needs/abc" from "abc" or "needs/abc"; NULL (after a usage error) if arg
 * names another collection. Caller frees. */
char *ctl_resource_name(const ctl_ctx *ctx, const char *collection, const char *arg);

/* Message field helpers; the value is copied. */
void ctl_msg_set_string(ProtobufCMessage *m, const char *field, const char *value);
const char *ctl_msg_get_string(const ProtobufCMessage *m, const char *field);
ProtobufCMessage *ctl_msg_get_message(const ProtobufCMessage *m, const char *field);

/* ctl_changes.c — the change feed and histories (ChangeService). */
int ctl_run_changes_watch(ctl_ctx *ctx, int argc, char **argv);
int ctl_run_history(ctl_ctx *ctx, int argc, char **argv);
/* get --watch: prints name, then each new version (or that it is no longer
 * visible) as changes commit; runs until interrupted. */
int ctl_watch_get(ctl_ctx *ctx, const ctl_resource *res, const char *name);
/* list --watch: the list, then again after each change of its kind. */
int ctl_watch_list(ctl_ctx *ctx, int argc, char **argv);

/* ctl_outfile.c — where an export goes. */
typedef struct ctl_outfile {
    FILE *fp;          /* stdout, or the temporary file */
    const char *path;  /* --out FILE, or NULL for stdout */
    char *tmp;         /* the temporary file beside path; NULL for stdout */
} ctl_outfile;

/* Opens stdout (path NULL or "-") or a new temporary file (mode 0600) beside
 * path. Returns 0 or an exit status after printing the cause. */
int ctl_outfile_open(ctl_outfile *o, const char *path);
/* Flushes; for a file: fsync, rename over path, fsync its directory.
 * Returns 0 or an exit status after printing the cause (the temporary file
 * is removed and path left as it was). */
int ctl_outfile_commit(ctl_outfile *o);
/* Removes the temporary file; path stays as it was. No-op for stdout. */
void ctl_outfile_abort(ctl_outfile *o);

/* ctl_export.c — `export csv` and the paging both exports share. */

/* Called with each resource of a list, in order; returns 0 to go on or an
 * exit status to stop. */
typedef int (*ctl_list_fn)(void *arg, const ProtobufCMessage *item);

/* Pages through a List method ("/tallinn.v1.NeedService/ListNeeds") with
 * the caller's credentials, parent and filter set when not NULL, calling fn
 * for every item of the repeated field list_field. Returns 0 or an exit
 * status after printing the cause ("what" names the call in errors). */
int ctl_list_all(ctl_ctx *ctx, const char *what, const char *method,
                 const ProtobufCMessageDescriptor *req_desc,
                 const ProtobufCMessageDescriptor *resp_desc, const char *list_field,
                 const char *parent, const char *filter, ctl_list_fn fn, void *arg);
int ctl_run_export_csv(ctl_ctx *ctx, int argc, char **argv);

/* ctl_iati.c — `export iati`. */
int ctl_run_export_iati(ctl_ctx *ctx, int argc, char **argv);

/* ctl_audit.c */
int ctl_run_audit_key(ctl_ctx *ctx, int argc, char **argv);
int ctl_run_audit_checkpoint(ctl_ctx *ctx, int argc, char **argv);
int ctl_run_audit_proof(ctl_ctx *ctx, int argc, char **argv);
int ctl_run_audit_export(ctl_ctx *ctx, int argc, char **argv);

/* ctl_info.c — what the server and the caller are. */
int ctl_run_health(ctl_ctx *ctx, int argc, char **argv);
int ctl_run_version(ctl_ctx *ctx, int argc, char **argv);
int ctl_run_whoami(ctl_ctx *ctx, int argc, char **argv);
/* "tallinnctl 0.1.0" for --version. */
void ctl_print_client_version(FILE *out);

/* ctl_contexts.c — config get-contexts | use-context | set-context. */
int ctl_run_get_contexts(ctl_ctx *ctx, int argc, char **argv);
int ctl_run_use_context(ctl_ctx *ctx, int argc, char **argv);
int ctl_run_set_context(ctl_ctx *ctx, int argc, char **argv);

/* ctl_pager.c — long output through $PAGER on a terminal. */

/* When stdout is a terminal and neither --no-pager nor an empty PAGER says
 * otherwise, runs $PAGER (default "less -FRX") and points stdout at it. 0,
 * or -1 (nothing changed) when it cannot start. */
int ctl_pager_start(const ctl_ctx *ctx);
/* Ends the pager: stdout flushed and closed, the pager waited for. 0, also
 * when it was quit before reading everything (a write failed with EPIPE);
 * -1 with errno after another write error. */
int ctl_pager_finish(void);

/* ctl_help.c */

/* "Did you mean": the closest noun, verb of noun, or long option (global or
 * of cmd) to word, or NULL. */
const char *ctl_suggest_noun(const char *word);
const char *ctl_suggest_verb(const char *noun, const char *word);
const char *ctl_suggest_option(const ctl_command *cmd, const char *word);

/* The full command name, "needs list" or "health". */
const char *ctl_command_name(const ctl_command *cmd, char *buf, size_t len);

/* Help for the whole tool, a noun (its verbs) or one command. */
void ctl_help_global(FILE *out);
void ctl_help_noun(FILE *out, const char *noun);
void ctl_help_command(FILE *out, const ctl_command *cmd);

/* The man page (roff). */
void ctl_render_man(FILE *out);

/* ctl_complete.c — shell completion. */

/* The hidden `tallinnctl __complete WORD... CURRENT`: prints the candidates
 * for the last word, one a line ("value" or "value<TAB>description"), or the
 * single line ":files" or ":dirs" for the shell to complete paths. Resource
 * ids are listed from the server in bounded time; every error is silent.
 * Returns 0. */
int ctl_complete_main(int argc, char **argv);
/* `completion SHELL`: prints the bash, zsh or fish script. */
int ctl_run_completion(ctl_ctx *ctx, int argc, char **argv);

#endif
