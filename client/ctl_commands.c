/* ctl_commands.c — tallinnctl's command table, its options and examples, and
 * the help command. The table is the
 * single source for parsing, --help, the man page and shell completion: a new
 * command is a new row (and its run function), nothing else. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "tallinn/v1/donor.pb-c.h"
#include "tallinn/v1/match.pb-c.h"
#include "tallinn/v1/need.pb-c.h"
#include "tallinn/v1/principal.pb-c.h"
#include "tallinn/v1/rate.pb-c.h"
#include "tallinn/v1/report.pb-c.h"

/* ---- Global options and exit statuses ---- */

const ctl_option ctl_global_options[] = {
    [CTL_G_ADDR] = {"addr", 0, "ADDR", "TALLINN_ADDR", CTL_DEFAULT_ADDR,
                    "server address host:port; replicas as host1:port,host2:port or "
                    "dns:///name:port (calls spread round-robin); --server is tallinn-audit's "
                    "name for it", CTL_COMPLETE_NONE, NULL},
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
                           "name the server's certificate must carry (default: the host in "
                           "--addr; needed when a list names several hosts)",
                           CTL_COMPLETE_NONE, NULL},
    [CTL_G_DEADLINE] = {"deadline", 0, "DURATION", NULL, "10s",
                        "give up on the server after this long: 500ms, 10s, 2m",
                        CTL_COMPLETE_NONE, NULL},
    [CTL_G_OUTPUT] = {"output", 'o', "FORMAT", NULL, "text",
                      "output format: text, json (proto3 JSON), name (resource names) or csv "
                      "(tables as RFC 4180 CSV)", CTL_COMPLETE_VALUES, "text json name csv"},
    [CTL_G_CONTEXT] = {"context", 0, "NAME", "TALLINN_CONTEXT", NULL,
                       "the config file context to use (default: the file's \"context =\")",
                       CTL_COMPLETE_CONTEXT, NULL},
    [CTL_G_TOKEN_FILE] = {"token-file", 0, "FILE", "TALLINN_TOKEN_FILE", NULL,
                          "file holding the bearer token to authenticate with",
                          CTL_COMPLETE_FILE, NULL},
    [CTL_G_TOKEN] = {"token", 0, "TOKEN", "TALLINN_TOKEN", NULL,
                     "the bearer token itself (visible to other users in ps: prefer "
                     "--token-file)", CTL_COMPLETE_NONE, NULL},
    [CTL_G_VERBOSE] = {"verbose", 'v', NULL, NULL, NULL,
                       "one line on stderr per call attempt: the replica, the status, retries",
                       CTL_COMPLETE_NONE, NULL},
    [CTL_G_NO_HEADERS] = {"no-headers", 0, NULL, NULL, NULL,
                          "tables (text or csv) without their header row", CTL_COMPLETE_NONE,
                          NULL},
    [CTL_G_NO_PAGER] = {"no-pager", 0, NULL, NULL, NULL,
                        "never page lists through $PAGER (default less -FRX; used only when "
                        "stdout is a terminal)", CTL_COMPLETE_NONE, NULL},
    [CTL_G_VERSION] = {"version", 0, NULL, NULL, NULL,
                       "print tallinnctl's version and exit (the server's: the version command)",
                       CTL_COMPLETE_NONE, NULL},
    [CTL_G_HELP] = {"help", 'h', NULL, NULL, NULL, "help for tallinnctl or a command",
                    CTL_COMPLETE_NONE, NULL},
    [CTL_G_COUNT] = {NULL, 0, NULL, NULL, NULL, NULL, CTL_COMPLETE_NONE, NULL},
};

const char *ctl_option_alias(const ctl_option *o)
{
    return o == &ctl_global_options[CTL_G_ADDR] ? "server" : NULL;
}

const ctl_exit_code ctl_exit_codes[] = {
    {CTL_EXIT_OK, "success (health: the server is SERVING)"},
    {CTL_EXIT_FAILURE, "any other error; health: the server answered but is not SERVING"},
    {CTL_EXIT_USAGE, "bad input: unknown command or option, wrong or missing arguments, "
                     "a -f file that is not valid JSON for the resource, a bad config file"},
    {CTL_EXIT_UNAVAILABLE, "server unreachable or too slow (UNAVAILABLE, DEADLINE_EXCEEDED)"},
    {CTL_EXIT_NOT_FOUND, "no such resource or service (NOT_FOUND)"},
    {CTL_EXIT_DENIED, "not allowed (PERMISSION_DENIED, UNAUTHENTICATED)"},
    {CTL_EXIT_INVALID,
     "request refused as invalid (INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE)"},
    {CTL_EXIT_CONFLICT, "conflict: changed since you read it, or exists already (ABORTED, "
                        "ALREADY_EXISTS)"},
};
const size_t ctl_exit_codes_count = sizeof ctl_exit_codes / sizeof ctl_exit_codes[0];

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
        if (ctl_suggest_verb(argv[0], argv[1]) != NULL)
            return ctl_usage_error(ctx->cmd, "unknown command \"%s\" (did you mean \"%s %s\"?)",
                                   name, argv[0], ctl_suggest_verb(argv[0], argv[1]));
        return ctl_usage_error(ctx->cmd, "unknown command \"%s\"", name);
    }
    if (ctl_suggest_noun(argv[0]) != NULL)
        return ctl_usage_error(ctx->cmd, "unknown command \"%s\" (did you mean \"%s\"?)",
                               argv[0], ctl_suggest_noun(argv[0]));
    return ctl_usage_error(ctx->cmd, "unknown command \"%s\"", argv[0]);
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
    {"tallinnctl version", "the client's version, the server's, its currency and audit origin"},
    {"tallinnctl version -o json", "the same as JSON"},
    {NULL, NULL},
};

static const ctl_example ctl_whoami_examples[] = {
    {"tallinnctl whoami", "the principal, role and donor of the credentials in use"},
    {"tallinnctl --context local-donor whoami -o json", "another context's, as JSON"},
    {NULL, NULL},
};

static const ctl_example ctl_get_contexts_examples[] = {
    {"tallinnctl config get-contexts", "every context, the one in use marked *"},
    {"tallinnctl config get-contexts -o name", "their names only"},
    {NULL, NULL},
};

static const ctl_example ctl_use_context_examples[] = {
    {"tallinnctl config use-context local-kyiv", "work as the Kyiv front office from now on"},
    {NULL, NULL},
};

static const ctl_example ctl_set_context_examples[] = {
    {"tallinnctl config set-context prod --addr tallinn.example.org:443 --ca ca.pem "
     "--token-file ~/.tallinn/prod.token", "a context for a server over TLS"},
    {"tallinnctl config set-context prod --deadline 30s", "change one setting of it"},
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
    {"source <(tallinnctl completion bash)", "complete tallinnctl in this bash"},
    {"tallinnctl completion zsh > ~/.zfunc/_tallinnctl", "for zsh, with ~/.zfunc in $fpath"},
    {"tallinnctl completion fish > ~/.config/fish/completions/tallinnctl.fish", "for fish"},
    {NULL, NULL},
};

/* ---- Resources ---- */

#define OPT(n, a, h) {n, 0, a, NULL, NULL, h, CTL_COMPLETE_NONE, NULL}
#define OPTV(n, a, h, v) {n, 0, a, NULL, NULL, h, CTL_COMPLETE_VALUES, v}
#define OPT_FLAG(n, h) {n, 0, NULL, NULL, NULL, h, CTL_COMPLETE_NONE, NULL}
#define OPT_FILE_IN                                                                          \
    {"file", 'f', "FILE", NULL, NULL,                                                        \
     "read the fields as proto3 JSON from FILE (- for standard input); flags override it",   \
     CTL_COMPLETE_FILE, NULL}
#define OPT_ID OPT("id", "ID", "the id to create it under ([a-z][a-z0-9-]*); default: server-chosen")
#define OPT_REQUEST_ID                                                                       \
    OPT("request-id", "UUID",                                                                \
        "idempotency key; default: a fresh UUID. Repeat one to retry a call safely")
#define OPT_ETAG OPT("etag", "ETAG", "act only if the resource still has this etag")
#define OPT_LIMIT OPT("limit", "N", "stop after N resources [default 0: all]")
#define OPT_FILTER OPT("filter", "EXPR", "AIP-160 filter, e.g. 'state = OPEN AND sector = ENERGY'")
#define OPT_ORDER OPT("order-by", "FIELDS", "sort order, e.g. 'priority, create_time desc'")
#define OPT_END {NULL, 0, NULL, NULL, NULL, NULL, CTL_COMPLETE_NONE, NULL}

#define SECTORS "ENERGY TELECOM FINANCE HEALTH GOVERNMENT WATER TRANSPORT EDUCATION MEDIA OTHER"
#define CATEGORIES                                                                           \
    "INCIDENT_RESPONSE THREAT_INTELLIGENCE ENDPOINT_PROTECTION NETWORK_SECURITY "             \
    "SOFTWARE_LICENSES HARDWARE TRAINING ASSESSMENT RECOVERY OTHER"

static const char *const ctl_need_updatable[] = {
    "title", "description", "beneficiary", "region", "sector", "category", "domain",
    "priority", "estimated_cost", "needed_by", "sensitivity", NULL};
static const char *const ctl_need_required[] = {
    "title", "description", "beneficiary", "region", "sector", "category", "priority",
    "estimated_cost", NULL};
static const ctl_column ctl_need_columns[] = {
    {"NAME", "name", 0},         {"TITLE", "title", 40},
    {"SECTOR", "sector", 0},     {"PRIORITY", "priority", 0},
    {"STATE", "state", 0},       {"ESTIMATED", "estimated_cost", 0},
    {"COMMITTED", "committed_amount", 0}, {"COVERAGE", "coverage", 0},
    {NULL, NULL, 0},
};
static const ctl_resource ctl_needs = {
    .collection = "needs", .singular = "need", .service = "tallinn.v1.NeedService",
    .msg = &tallinn__v1__need__descriptor,
    .get_method = "GetNeed", .get_req = &tallinn__v1__get_need_request__descriptor,
    .list_method = "ListNeeds", .list_req = &tallinn__v1__list_needs_request__descriptor,
    .list_resp = &tallinn__v1__list_needs_response__descriptor, .list_field = "needs",
    .create_method = "CreateNeed", .create_req = &tallinn__v1__create_need_request__descriptor,
    .create_resp = &tallinn__v1__need__descriptor, .create_field = "need", .id_field = "need_id",
    .create_required = ctl_need_required,
    .update_method = "UpdateNeed", .update_req = &tallinn__v1__update_need_request__descriptor,
    .updatable = ctl_need_updatable, .columns = ctl_need_columns,
};

static const char *const ctl_donor_updatable[] = {
    "display_name", "country_code", "membership", "capabilities", "contact_email", NULL};
static const char *const ctl_donor_required[] = {"display_name", "kind", "membership", NULL};
static const ctl_column ctl_donor_columns[] = {
    {"NAME", "name", 0},       {"DISPLAY NAME", "display_name", 32},
    {"KIND", "kind", 0},       {"COUNTRY", "country_code", 0},
    {"MEMBERSHIP", "membership", 0}, {"PARENT", "parent", 0},
    {NULL, NULL, 0},
};
static const ctl_resource ctl_donors = {
    .collection = "donors", .singular = "donor", .service = "tallinn.v1.DonorService",
    .msg = &tallinn__v1__donor__descriptor,
    .get_method = "GetDonor", .get_req = &tallinn__v1__get_donor_request__descriptor,
    .list_method = "ListDonors", .list_req = &tallinn__v1__list_donors_request__descriptor,
    .list_resp = &tallinn__v1__list_donors_response__descriptor, .list_field = "donors",
    .create_method = "CreateDonor", .create_req = &tallinn__v1__create_donor_request__descriptor,
    .create_resp = &tallinn__v1__donor__descriptor, .create_field = "donor",
    .id_field = "donor_id", .create_required = ctl_donor_required,
    .update_method = "UpdateDonor", .update_req = &tallinn__v1__update_donor_request__descriptor,
    .updatable = ctl_donor_updatable, .columns = ctl_donor_columns,
};

static const char *const ctl_pledge_updatable[] = {"amount", "fiscal_year", "source", "state",
                                                   NULL};
static const char *const ctl_pledge_required[] = {"amount", "fiscal_year", NULL};
static const ctl_column ctl_pledge_columns[] = {
    {"NAME", "name", 0},           {"AMOUNT", "amount", 0},
    {"AVAILABLE", "available", 0}, {"FISCAL YEAR", "fiscal_year", 0},
    {"STATE", "state", 0},         {"SOURCE", "source", 32},
    {"VALUE", "accounting_amount", 0},
    {NULL, NULL, 0},
};
static const ctl_resource ctl_pledges = {
    .collection = "pledges", .parent = "donors", .singular = "pledge",
    .service = "tallinn.v1.DonorService", .msg = &tallinn__v1__pledge__descriptor,
    .get_method = "GetPledge", .get_req = &tallinn__v1__get_pledge_request__descriptor,
    .list_method = "ListPledges", .list_req = &tallinn__v1__list_pledges_request__descriptor,
    .list_resp = &tallinn__v1__list_pledges_response__descriptor, .list_field = "pledges",
    .create_method = "CreatePledge",
    .create_req = &tallinn__v1__create_pledge_request__descriptor,
    .create_resp = &tallinn__v1__pledge__descriptor, .create_field = "pledge",
    .id_field = "pledge_id", .create_required = ctl_pledge_required,
    .update_method = "UpdatePledge",
    .update_req = &tallinn__v1__update_pledge_request__descriptor,
    .updatable = ctl_pledge_updatable, .columns = ctl_pledge_columns,
};

static const char *const ctl_match_required[] = {"need", "donor", "pledge", "amount",
                                                 "description", NULL};
static const ctl_column ctl_match_columns[] = {
    {"NAME", "name", 0},     {"NEED", "need", 0},   {"DONOR", "donor", 0},
    {"AMOUNT", "amount", 0}, {"STATE", "state", 0}, {"UPDATED", "update_time", 0},
    {"VALUE", "accounting_amount", 0},
    {NULL, NULL, 0},
};
static const ctl_resource ctl_matches = {
    .collection = "matches", .singular = "match", .service = "tallinn.v1.MatchService",
    .msg = &tallinn__v1__match__descriptor,
    .get_method = "GetMatch", .get_req = &tallinn__v1__get_match_request__descriptor,
    .list_method = "ListMatches", .list_req = &tallinn__v1__list_matches_request__descriptor,
    .list_resp = &tallinn__v1__list_matches_response__descriptor, .list_field = "matches",
    .create_method = "CreateMatch", .create_req = &tallinn__v1__create_match_request__descriptor,
    .create_resp = &tallinn__v1__match__descriptor, .create_field = "match",
    .id_field = "match_id", .create_required = ctl_match_required,
    .columns = ctl_match_columns,
};

static const char *const ctl_principal_required[] = {"display_name", "role", NULL};
static const ctl_column ctl_principal_columns[] = {
    {"NAME", "name", 0},   {"DISPLAY NAME", "display_name", 32}, {"ROLE", "role", 0},
    {"DONOR", "donor", 0}, {"STATE", "state", 0}, {"LAST USE", "last_use_time", 0},
    {NULL, NULL, 0},
};
static const ctl_resource ctl_principals = {
    .collection = "principals", .singular = "principal",
    .service = "tallinn.v1.PrincipalService", .msg = &tallinn__v1__principal__descriptor,
    .get_method = "GetPrincipal", .get_req = &tallinn__v1__get_principal_request__descriptor,
    .list_method = "ListPrincipals",
    .list_req = &tallinn__v1__list_principals_request__descriptor,
    .list_resp = &tallinn__v1__list_principals_response__descriptor, .list_field = "principals",
    .create_method = "CreatePrincipal",
    .create_req = &tallinn__v1__create_principal_request__descriptor,
    .create_resp = &tallinn__v1__create_principal_response__descriptor,
    .create_field = "principal", .id_field = "principal_id",
    .create_required = ctl_principal_required, .columns = ctl_principal_columns,
};

static const ctl_resource ctl_reports = {.service = "tallinn.v1.ReportService"};

static const char *const ctl_rate_required[] = {"currency_code", "rate", "rate_date", "source",
                                                NULL};
static const ctl_column ctl_rate_columns[] = {
    {"NAME", "name", 0}, {"CURRENCY", "currency_code", 0}, {"RATE", "rate", 0},
    {"DATE", "rate_date", 0}, {"USED", "used", 0}, {"SOURCE", "source", 32},
    {NULL, NULL, 0},
};
static const ctl_resource ctl_rates = {
    .collection = "exchangeRates", .singular = "exchange rate",
    .service = "tallinn.v1.ExchangeRateService", .msg = &tallinn__v1__exchange_rate__descriptor,
    .get_method = "GetExchangeRate", .get_req = &tallinn__v1__get_exchange_rate_request__descriptor,
    .list_method = "ListExchangeRates",
    .list_req = &tallinn__v1__list_exchange_rates_request__descriptor,
    .list_resp = &tallinn__v1__list_exchange_rates_response__descriptor,
    .list_field = "exchange_rates", .create_method = "CreateExchangeRate",
    .create_req = &tallinn__v1__create_exchange_rate_request__descriptor,
    .create_resp = &tallinn__v1__exchange_rate__descriptor, .create_field = "exchange_rate",
    .create_required = ctl_rate_required, .columns = ctl_rate_columns,
};

#define ACTION(var, r, m, rq, rsp, reason)                                                   \
    static const ctl_action var = {&r, m, &rq, &rsp, reason}
ACTION(ctl_act_submit, ctl_needs, "SubmitNeed", tallinn__v1__submit_need_request__descriptor,
       tallinn__v1__need__descriptor, 0);
ACTION(ctl_act_validate, ctl_needs, "ValidateNeed",
       tallinn__v1__validate_need_request__descriptor, tallinn__v1__need__descriptor, 0);
ACTION(ctl_act_return, ctl_needs, "ReturnNeed", tallinn__v1__return_need_request__descriptor,
       tallinn__v1__need__descriptor, 1);
ACTION(ctl_act_reject, ctl_needs, "RejectNeed", tallinn__v1__reject_need_request__descriptor,
       tallinn__v1__need__descriptor, 1);
ACTION(ctl_act_route, ctl_needs, "RouteNeed", tallinn__v1__route_need_request__descriptor,
       tallinn__v1__need__descriptor, 1);
ACTION(ctl_act_hold, ctl_needs, "HoldNeed", tallinn__v1__hold_need_request__descriptor,
       tallinn__v1__need__descriptor, 0);
ACTION(ctl_act_resume, ctl_needs, "ResumeNeed", tallinn__v1__resume_need_request__descriptor,
       tallinn__v1__need__descriptor, 0);
ACTION(ctl_act_cancel, ctl_needs, "CancelNeed", tallinn__v1__cancel_need_request__descriptor,
       tallinn__v1__need__descriptor, 1);
ACTION(ctl_act_close, ctl_needs, "CloseNeed", tallinn__v1__close_need_request__descriptor,
       tallinn__v1__need__descriptor, 1);
ACTION(ctl_act_approve, ctl_matches, "ApproveMatch",
       tallinn__v1__approve_match_request__descriptor, tallinn__v1__match__descriptor, 0);
ACTION(ctl_act_decline, ctl_matches, "DeclineMatch",
       tallinn__v1__decline_match_request__descriptor, tallinn__v1__match__descriptor, 1);
ACTION(ctl_act_withdraw, ctl_matches, "WithdrawMatch",
       tallinn__v1__withdraw_match_request__descriptor, tallinn__v1__match__descriptor, 1);
ACTION(ctl_act_start, ctl_matches, "StartDelivery",
       tallinn__v1__start_delivery_request__descriptor, tallinn__v1__match__descriptor, 0);
ACTION(ctl_act_delivered, ctl_matches, "MarkDelivered",
       tallinn__v1__mark_delivered_request__descriptor, tallinn__v1__match__descriptor, 0);
ACTION(ctl_act_accept, ctl_matches, "AcceptDelivery",
       tallinn__v1__accept_delivery_request__descriptor, tallinn__v1__match__descriptor, 0);
ACTION(ctl_act_reject_delivery, ctl_matches, "RejectDelivery",
       tallinn__v1__reject_delivery_request__descriptor, tallinn__v1__match__descriptor, 1);
ACTION(ctl_act_rate_delete, ctl_rates, "DeleteExchangeRate",
       tallinn__v1__delete_exchange_rate_request__descriptor,
       tallinn__v1__exchange_rate__descriptor, 0);
ACTION(ctl_act_disable, ctl_principals, "DisablePrincipal",
       tallinn__v1__disable_principal_request__descriptor, tallinn__v1__principal__descriptor, 0);
ACTION(ctl_act_rotate, ctl_principals, "RotateToken",
       tallinn__v1__rotate_token_request__descriptor,
       tallinn__v1__rotate_token_response__descriptor, 0);

/* ---- Options ---- */

#define OPT_WATCH OPT_FLAG("watch", "stay: print it again whenever it changes (the change feed)")
static const ctl_option ctl_list_options[] = {OPT_FILTER, OPT_ORDER, OPT_LIMIT, OPT_WATCH, OPT_END};
static const ctl_option ctl_get_options[] = {OPT_WATCH, OPT_END};
/* ctl_changes.c's commands: the change feed and histories. */
static const ctl_option ctl_history_options[] = {
    OPT_FLAG("prove", "check each entry's audit record against the log's signed checkpoint"),
    {"log-key", 0, "VKEY", "TALLINN_LOG_KEY", NULL,
     "the audit log's verifier key, as 'tallinnd init' printed it (for --prove)",
     CTL_COMPLETE_NONE, NULL},
    OPT_LIMIT, OPT_END};
static const ctl_option ctl_changes_watch_options[] = {
    OPT("kind", "KINDS", "only these kinds: needs, matches, pledges, donors, rates (comma-separated)"),
    OPT("resource", "NAME", "only this resource, e.g. needs/kharkiv-edr"),
    OPT("after", "POSITION", "resume after this position (the first column printed)"),
    OPT_FLAG("from-start", "from the first change the log holds [default: from now]"),
    OPT("count", "N", "stop after N changes"), OPT_END};

#define NEED_FIELD_OPTIONS                                                                   \
    OPT("title", "TEXT", "short summary, at most 200 characters"),                           \
    OPT("description", "TEXT", "what is needed and why"),                                    \
    OPT("beneficiary", "ORG", "the organisation that receives the help"),                    \
    OPT("region", "OBLAST", "e.g. 'Kharkiv Oblast', 'Kyiv City', 'National'"),               \
    OPTV("sector", "SECTOR", "sector: " SECTORS, SECTORS),                                   \
    OPTV("category", "CATEGORY", "kind of help: " CATEGORIES, CATEGORIES),                   \
    OPTV("domain", "DOMAIN", "CIVILIAN or MILITARY", "CIVILIAN MILITARY"),                   \
    OPTV("priority", "PRIORITY", "CRITICAL, HIGH, MEDIUM or LOW", "CRITICAL HIGH MEDIUM LOW"), \
    OPT("estimated-cost", "AMOUNT", "e.g. 'EUR 120,000' or 120000 (EUR)"),                   \
    OPT("needed-by", "DATE", "date help is needed by, YYYY-MM-DD"),                          \
    OPTV("sensitivity", "SENSITIVITY", "STANDARD or RESTRICTED", "STANDARD RESTRICTED")

static const ctl_option ctl_need_create_options[] = {
    NEED_FIELD_OPTIONS, OPT_ID, OPT_FILE_IN, OPT_REQUEST_ID, OPT_END};
static const ctl_option ctl_need_update_options[] = {NEED_FIELD_OPTIONS, OPT_FILE_IN, OPT_END};
static const ctl_option ctl_plain_action_options[] = {OPT_ETAG, OPT_REQUEST_ID, OPT_END};
static const ctl_option ctl_reason_action_options[] = {
    OPT("reason", "TEXT", "why (required; becomes the state reason)"), OPT_ETAG, OPT_REQUEST_ID,
    OPT_END};
#define OPT_EVIDENCE                                                                         \
    {"evidence", 0, "FILE", NULL, NULL,                                                      \
     "a document that shows it: hashed here (SHA-256), its name and media type sent, the "  \
     "file itself never; repeat, or list more files after it (at most 16)",                 \
     CTL_COMPLETE_FILE, NULL},                                                               \
    OPT("note", "TEXT", "a note on the step (at most 2000 characters)")
static const ctl_option ctl_evidence_action_options[] = {OPT_EVIDENCE, OPT_ETAG, OPT_REQUEST_ID,
                                                         OPT_END};
static const ctl_option ctl_evidence_reason_options[] = {
    OPT("reason", "TEXT", "why (required; becomes the state reason)"), OPT_EVIDENCE, OPT_ETAG,
    OPT_REQUEST_ID, OPT_END};
static const ctl_option ctl_hold_options[] = {
    OPT("reason", "TEXT", "why (optional)"), OPT_ETAG, OPT_REQUEST_ID, OPT_END};

#define DONOR_KINDS "STATE COMPANY NGO INTERNATIONAL_ORGANIZATION"
static const ctl_option ctl_donor_create_options[] = {
    OPT("display-name", "NAME", "the donor's name, e.g. Estonia"),
    OPTV("kind", "KIND", "STATE, COMPANY, NGO or INTERNATIONAL_ORGANIZATION", DONOR_KINDS),
    OPT("country-code", "CC", "ISO 3166-1 alpha-2 code, e.g. EE"),
    OPT("parent", "DONOR", "the STATE donor a COMPANY or NGO comes with"),
    OPTV("membership", "MEMBERSHIP", "MEMBER or OBSERVER", "MEMBER OBSERVER"),
    OPT("capabilities", "LIST", "comma-separated categories the donor can help with"),
    OPT("contact-email", "EMAIL", "point of contact"),
    OPT_ID, OPT_FILE_IN, OPT_REQUEST_ID, OPT_END};
static const ctl_option ctl_donor_update_options[] = {
    OPT("display-name", "NAME", "the donor's name"),
    OPT("country-code", "CC", "ISO 3166-1 alpha-2 code"),
    OPTV("membership", "MEMBERSHIP", "MEMBER or OBSERVER", "MEMBER OBSERVER"),
    OPT("capabilities", "LIST", "comma-separated categories ('' clears them)"),
    OPT("contact-email", "EMAIL", "point of contact"),
    OPT_FILE_IN, OPT_END};

#define PLEDGE_FIELD_OPTIONS                                                                 \
    OPT("amount", "AMOUNT", "e.g. 'EUR 500,000' or 500000 (EUR)"),                           \
    OPT("fiscal-year", "YEAR", "the donor's fiscal year, e.g. 2025"),                        \
    OPT("source", "TEXT", "where the money comes from"),                                     \
    OPTV("state", "STATE", "ANNOUNCED, COMMITTED or WITHDRAWN", "ANNOUNCED COMMITTED WITHDRAWN")
static const ctl_option ctl_pledge_create_options[] = {
    PLEDGE_FIELD_OPTIONS, OPT_ID, OPT_FILE_IN, OPT_REQUEST_ID, OPT_END};
static const ctl_option ctl_pledge_update_options[] = {PLEDGE_FIELD_OPTIONS, OPT_FILE_IN, OPT_END};

static const ctl_option ctl_match_propose_options[] = {
    OPT("need", "NEED", "the OPEN need to help with"),
    OPT("donor", "DONOR", "the MEMBER donor that pays"),
    OPT("pledge", "PLEDGE", "the donor's pledge the money comes from (id or full name)"),
    OPT("amount", "AMOUNT", "e.g. 'EUR 60,000' or 60000 (EUR)"),
    OPT("description", "TEXT", "what will be delivered"),
    OPT("implementer", "DONOR", "a COMPANY or NGO of the donor that delivers"),
    OPT_ID, OPT_FILE_IN, OPT_REQUEST_ID, OPT_END};
static const ctl_option ctl_approve_options[] = {
    OPT_FLAG("allow-overfunding", "allow the need's committed amount above its cost"),
    OPT("reason", "TEXT", "why overfunding is accepted (with --allow-overfunding)"),
    OPT_ETAG, OPT_REQUEST_ID, OPT_END};

#define ROLES "FRONT_OFFICE BACK_OFFICE COORDINATOR DONOR OBSERVER AUDITOR ADMIN"
#define OPT_SAVE_TOKEN                                                                       \
    {"save-token", 0, "FILE", NULL, NULL,                                                    \
     "write the new token to FILE (mode 0600) instead of showing it", CTL_COMPLETE_FILE, NULL}
static const ctl_option ctl_principal_create_options[] = {
    OPT("display-name", "NAME", "who this is, e.g. 'Warsaw back office - O. Kowalska'"),
    OPTV("role", "ROLE", "one of " ROLES, ROLES),
    OPT("donor", "DONOR", "the donor a DONOR principal acts for"),
    OPT("cert-identity", "ID", "the mutual-TLS identity (SAN or CN) mapped to it"),
    OPT_ID, OPT_FILE_IN, OPT_REQUEST_ID, OPT_SAVE_TOKEN, OPT_END};
static const ctl_option ctl_request_id_options[] = {OPT_REQUEST_ID, OPT_END};
static const ctl_option ctl_rotate_options[] = {OPT_REQUEST_ID, OPT_SAVE_TOKEN, OPT_END};
static const ctl_option ctl_rate_create_options[] = {
    OPT("currency-code", "CODE", "ISO 4217 code of the currency quoted, e.g. USD"),
    OPT("rate", "DECIMAL", "units of it per 1 unit of the accounting currency, e.g. 1.0850"),
    OPT("rate-date", "DATE", "the day of the rate, YYYY-MM-DD"),
    OPT("source", "TEXT", "where it comes from, e.g. 'ECB euro reference rate'"),
    OPT_FILE_IN, OPT_REQUEST_ID, OPT_END};
static const ctl_option ctl_report_options[] = {
    OPT("start-date", "DATE", "count needs (and pledges) created from this day, YYYY-MM-DD"),
    OPT("end-date", "DATE", "... to this day, included"),
    OPT("fiscal-year", "YEAR", "only pledges of this fiscal year and their matches (staff)"),
    OPT("region", "REGION", "only needs of this region, e.g. 'Kharkiv Oblast'"),
    OPT_END};
static const ctl_option ctl_export_csv_options[] = {
    OPT_FILTER,
    {"out", 0, "FILE", NULL, NULL,
     "write to FILE (created 0600, replaced atomically) instead of standard output",
     CTL_COMPLETE_FILE, NULL},
    OPT_FLAG("no-formula-guard",
             "write text cells as they are, even those starting with = + - @ (for programs)"),
    OPT_END};
static const ctl_option ctl_export_iati_options[] = {
    OPT("donor", "DONOR", "only this donor's activities (a DONOR: its own, the default)"),
    OPT("org-ref", "REF", "the donor's IATI organisation identifier, e.g. GB-GOV-1 [default "
                          "TALLINN-<DONOR>]"),
    {"out", 0, "FILE", NULL, NULL,
     "write to FILE (created 0600, replaced atomically) instead of standard output",
     CTL_COMPLETE_FILE, NULL},
    OPT_END};
static const ctl_option ctl_suggest_options[] = {
    OPT("max", "N", "at most N suggestions, 1 to 100 [default 10]"), OPT_END};
static const ctl_option ctl_audit_proof_options[] = {
    OPT("size", "N", "prove against the checkpoint of this tree size [default: the latest]"),
    OPT_END};
static const ctl_option ctl_audit_export_options[] = {
    OPT("key", "VKEY", "verifier key: refuse a checkpoint it did not sign"),
    OPT_FLAG("cosigned", "export up to the newest checkpoint the server's witness quorum "
                         "cosigned [default: the latest, with the cosignatures it has]"),
    OPT_END};

/* ---- Examples ---- */

#define EX(c, w) {c, w}
#define EX_END {NULL, NULL}
static const ctl_example ex_needs_list[] = {
    EX("tallinnctl needs list", "every need you may see, as a table"),
    EX("tallinnctl needs list --filter 'state = OPEN AND sector = ENERGY' --order-by priority",
       "open energy needs, most urgent first"),
    EX("tallinnctl needs list -o json --limit 10 | jq .title", "the first ten as JSON lines"),
    EX_END};
static const ctl_example ex_needs_get[] = {
    EX("tallinnctl needs get kharkiv-edr", "one need (needs/kharkiv-edr works too)"),
    EX("tallinnctl needs get kharkiv-edr -o json > need.json", "as proto3 JSON"), EX_END};
static const ctl_example ex_needs_history[] = {
    EX("tallinnctl needs history kharkiv-edr", "every decision on the need"),
    EX("tallinnctl needs history kharkiv-edr --prove --log-key \"$(cat audit.vkey)\"",
       "and prove each entry against the signed audit log"), EX_END};
static const ctl_example ex_changes_watch[] = {
    EX("tallinnctl changes watch", "every change you may see, from now on"),
    EX("tallinnctl changes watch --kind needs --after 4211", "needs changed after position 4211"),
    EX("tallinnctl changes watch --from-start -o json --count 100", "the first 100, as JSON"),
    EX_END};
static const ctl_example ex_matches_history[] = {
    EX("tallinnctl matches history m1", "a match's decisions"), EX_END};
static const ctl_example ex_pledges_history[] = {
    EX("tallinnctl pledges history estonia fy2025", "a pledge's changes"), EX_END};
static const ctl_example ex_donors_history[] = {
    EX("tallinnctl donors history estonia", "a donor's changes"), EX_END};
static const ctl_example ex_rates_history[] = {
    EX("tallinnctl rates history usd-2025-03-14", "who recorded the rate, and when it was used"),
    EX_END};
static const ctl_example ex_needs_create[] = {
    EX("tallinnctl needs create --id kharkiv-edr --title 'EDR for Kharkiv DSO' --description "
       "'EDR licences for 400 endpoints' --beneficiary 'Kharkivoblenergo' --region 'Kharkiv "
       "Oblast' --sector ENERGY --category ENDPOINT_PROTECTION --priority HIGH --domain "
       "CIVILIAN --estimated-cost 'EUR 120,000'", "a draft need from flags"),
    EX("tallinnctl needs create -f need.json", "the same from a proto3 JSON file"), EX_END};
static const ctl_example ex_needs_update[] = {
    EX("tallinnctl needs update kharkiv-edr --priority CRITICAL", "change one field"),
    EX("tallinnctl needs get kharkiv-edr -o json > n.json; $EDITOR n.json; "
       "tallinnctl needs update kharkiv-edr -f n.json",
       "edit as JSON; refused if someone changed it meanwhile"), EX_END};
#define ACTION_EXAMPLE(var, cmd, what) static const ctl_example var[] = {EX(cmd, what), EX_END}
ACTION_EXAMPLE(ex_submit, "tallinnctl needs submit kharkiv-edr", "hand a draft to the back office");
ACTION_EXAMPLE(ex_validate, "tallinnctl needs validate kharkiv-edr", "open it for matching");
ACTION_EXAMPLE(ex_return, "tallinnctl needs return kharkiv-edr --reason 'add the endpoint count'",
               "send it back to Kyiv for changes");
ACTION_EXAMPLE(ex_reject, "tallinnctl needs reject kharkiv-edr --reason 'duplicate of needs/x'",
               "refuse it for good");
ACTION_EXAMPLE(ex_route, "tallinnctl needs route kharkiv-edr --reason 'military unit'",
               "hand a military need to the IT Coalition");
ACTION_EXAMPLE(ex_hold, "tallinnctl needs hold kharkiv-edr --reason 'awaiting site survey'",
               "stop new matches for now");
ACTION_EXAMPLE(ex_resume, "tallinnctl needs resume kharkiv-edr", "open it again");
ACTION_EXAMPLE(ex_cancel, "tallinnctl needs cancel kharkiv-edr --reason 'no longer needed'",
               "cancel it");
ACTION_EXAMPLE(ex_close, "tallinnctl needs close kharkiv-edr --reason 'covered bilaterally'",
               "close it before it is fulfilled");
static const ctl_example ex_donors_list[] = {
    EX("tallinnctl donors list", "every donor"),
    EX("tallinnctl donors list --filter 'membership = MEMBER' -o name", "member names only"),
    EX_END};
ACTION_EXAMPLE(ex_donors_get, "tallinnctl donors get estonia", "one donor");
static const ctl_example ex_donors_create[] = {
    EX("tallinnctl donors create --id estonia --display-name Estonia --kind STATE "
       "--country-code EE --membership MEMBER --capabilities INCIDENT_RESPONSE,TRAINING",
       "a member state"), EX_END};
ACTION_EXAMPLE(ex_donors_update, "tallinnctl donors update estonia --contact-email cyber@mfa.example",
               "change the contact");
static const ctl_example ex_pledges_list[] = {
    EX("tallinnctl pledges list estonia", "the pledges of one donor"),
    EX("tallinnctl pledges list", "the pledges of every donor you may see"), EX_END};
ACTION_EXAMPLE(ex_pledges_get, "tallinnctl pledges get estonia fy2025",
               "one pledge (or donors/estonia/pledges/fy2025)");
ACTION_EXAMPLE(ex_pledges_create,
               "tallinnctl pledges create estonia --id fy2025 --amount 'EUR 500,000' "
               "--fiscal-year 2025 --state COMMITTED", "a committed pledge");
ACTION_EXAMPLE(ex_pledges_update, "tallinnctl pledges update estonia fy2025 --state COMMITTED",
               "commit an announced pledge");
static const ctl_example ex_matches_list[] = {
    EX("tallinnctl matches list --filter 'need = \"needs/kharkiv-edr\"'", "the matches of a need"),
    EX_END};
ACTION_EXAMPLE(ex_matches_get, "tallinnctl matches get m1", "one match");
ACTION_EXAMPLE(ex_propose,
               "tallinnctl matches propose --need kharkiv-edr --donor estonia --pledge fy2025 "
               "--amount 60000 --description 'EDR licences, year one'", "propose a match");
static const ctl_example ex_approve[] = {
    EX("tallinnctl matches approve m1", "approve a proposed match"),
    EX("tallinnctl matches approve m1 --allow-overfunding --reason 'price rose'",
       "approve beyond the need's estimated cost"), EX_END};
ACTION_EXAMPLE(ex_decline, "tallinnctl matches decline m1 --reason 'pledge earmarked elsewhere'",
               "decline a proposal");
ACTION_EXAMPLE(ex_withdraw, "tallinnctl matches withdraw m1 --reason 'cannot deliver'",
               "withdraw a match (donor)");
ACTION_EXAMPLE(ex_start, "tallinnctl matches start-delivery m1", "delivery has begun (donor)");
static const ctl_example ex_delivered[] = {
    EX("tallinnctl matches delivered m1", "delivery is complete (donor)"),
    EX("tallinnctl matches delivered m1 --evidence act.pdf photos/*.jpg --note 'all 40 sites'",
       "with the documents that show it (their digests, names and media types)"),
    EX_END,
};
static const ctl_example ex_accept[] = {
    EX("tallinnctl matches accept m1", "the beneficiary confirms (Kyiv)"),
    EX("tallinnctl matches accept m1 --evidence signed-acceptance.pdf",
       "with the signed acceptance act"),
    EX_END,
};
ACTION_EXAMPLE(ex_reject_delivery,
               "tallinnctl matches reject-delivery m1 --reason '40 licences missing'",
               "not accepted yet (Kyiv)");
ACTION_EXAMPLE(ex_suggest, "tallinnctl suggest kharkiv-edr --max 5", "the five best donors");
static const ctl_example ex_rates_list[] = {
    EX("tallinnctl rates list --filter 'currency_code = \"USD\"' --order-by 'rate_date desc'",
       "the kept USD rates, newest first"), EX_END};
ACTION_EXAMPLE(ex_rates_get, "tallinnctl rates get usd-2025-03-14", "one rate");
ACTION_EXAMPLE(ex_rates_create,
               "tallinnctl rates create --currency-code USD --rate 1.0850 --rate-date 2025-03-14 "
               "--source 'ECB euro reference rate'", "the ECB rate of a day");
ACTION_EXAMPLE(ex_rates_delete, "tallinnctl rates delete usd-2025-03-14",
               "delete a rate no decision rests on yet");
static const ctl_example ex_export_csv[] = {
    EX("tallinnctl export csv needs --out needs.csv", "every need you may see, as CSV"),
    EX("tallinnctl export csv matches --filter 'state = ACCEPTED'", "accepted matches"),
    EX("tallinnctl --context local-donor export csv pledges", "a donor's own pledges"), EX_END};
static const ctl_example ex_export_iati[] = {
    EX("tallinnctl --context local-donor export iati --out activities.xml",
       "a donor's own approved matches as IATI 2.03 activities"),
    EX("tallinnctl export iati --donor united-kingdom --org-ref GB-GOV-1",
       "one donor's, under its registered IATI organisation identifier"),
    EX_END};
static const ctl_example ex_report[] = {
    EX("tallinnctl report coverage", "totals by sector, category, region, donor, fiscal year "
       "and currency"),
    EX("tallinnctl report coverage --start-date 2025-01-01 --end-date 2025-03-31 "
       "--region 'Kharkiv Oblast'", "the needs of one quarter in one region"),
    EX("tallinnctl report coverage -o json", "the same as proto3 JSON"), EX_END};
ACTION_EXAMPLE(ex_principals_list, "tallinnctl --context local-admin principals list",
               "every principal (ADMIN or AUDITOR)");
ACTION_EXAMPLE(ex_principals_get, "tallinnctl principals get warsaw-kowalska", "one principal");
ACTION_EXAMPLE(ex_principals_create,
               "tallinnctl principals create --id warsaw-kowalska --display-name 'O. Kowalska' "
               "--role BACK_OFFICE --save-token kowalska.token",
               "a back-office user, token into a 0600 file");
ACTION_EXAMPLE(ex_principals_disable, "tallinnctl principals disable warsaw-kowalska",
               "revoke every credential of a principal");
ACTION_EXAMPLE(ex_principals_rotate,
               "tallinnctl principals rotate-token warsaw-kowalska --save-token kowalska.token",
               "replace a token");
static const ctl_example ex_audit_key[] = {
    EX("tallinnctl audit key", "the key the server states, to compare with the one you were given"),
    EX_END};
static const ctl_example ex_audit_checkpoint[] = {
    EX("tallinnctl audit checkpoint > checkpoint", "the latest signed checkpoint"), EX_END};
static const ctl_example ex_audit_proof[] = {
    EX("tallinnctl audit proof 42 > proof.txt && tallinn-audit check-proof proof.txt --key KEY",
       "a tlog-proof file for record 42, checked offline"), EX_END};
static const ctl_example ex_audit_export[] = {
    EX("tallinnctl audit export ./auditlog && tallinn-audit verify ./auditlog --key KEY",
       "copy the log (again: only what is new) and verify it"), EX_END};

#define TABLE_FORMATS CTL_FORMAT_TEXT | CTL_FORMAT_JSON | CTL_FORMAT_NAME | CTL_FORMAT_CSV
#define LIST_ROW(n, r, ex)                                                                   \
    {.noun = n, .verb = "list", .args = NULL, .min_args = 0, .max_args = 0,                  \
     .formats = TABLE_FORMATS,                                                               \
     .summary = "list " n " (all pages)",                                                    \
     .description = "Lists the " n " you may see as a table, printing rows as pages arrive "  \
                    "and following page tokens until the end or --limit. --filter and "      \
                    "--order-by are passed to the server (AIP-160). -o json writes one "     \
                    "proto3 JSON object per line; -o name one resource name per line; -o "   \
                    "csv the table as CSV. On a terminal, a long list goes through $PAGER.", \
     .options = ctl_list_options, .examples = ex, .run = ctl_run_list, .data = &r}
#define GET_ROW(n, r, a, mx, ex)                                                             \
    {.noun = n, .verb = "get", .args = a, .min_args = 1, .max_args = mx,                     \
     .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON | CTL_FORMAT_NAME,                          \
     .summary = "show one of the " n,                                                        \
     .description = "Shows one resource as key: value lines (money with its currency, "      \
                    "times in the local time zone), or as proto3 JSON with -o json, which "  \
                    "'update -f' takes back. A bare id or the full name both work. With "    \
                    "--watch it stays and prints each new version as it is committed.",      \
     .options = ctl_get_options, .examples = ex, .run = ctl_run_get, .data = &r}
#define HISTORY_ROW(n, r, a, mx, ex)                                                         \
    {.noun = n, .verb = "history", .args = a, .min_args = 1, .max_args = mx,                 \
     .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON | CTL_FORMAT_NAME,                          \
     .summary = "who changed one of the " n ", when, how and why",                           \
     .description = "Lists every committed change of the resource you may see, oldest "      \
                    "first: its position in the audit log, time, who (withheld where the "   \
                    "record names something you may not see), method, state and reason. "    \
                    "With --prove, each entry's audit record is checked against the log's "  \
                    "signed checkpoint with --log-key, and the command fails on any that "   \
                    "does not prove. -o json writes one entry per line.",                    \
     .options = ctl_history_options, .examples = ex, .run = ctl_run_history, .data = &r}
#define EVIDENCE_DESC                                                                        \
    " --evidence FILE... cites documents: each file is read here and only its SHA-256, its "  \
    "name and its media type (libmagic's guess from its content) are sent; files after "      \
    "the first --evidence are more documents. --note adds a note."
#define ACTION_ROW(n, v, a, mx, sum, desc, opts, ex, act)                                    \
    {.noun = n, .verb = v, .args = a, .min_args = 1, .max_args = mx,                         \
     .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON | CTL_FORMAT_NAME, .summary = sum,         \
     .description = desc " Sends a fresh request_id, so a retry is safe; with --etag, acts "  \
                         "only if nobody changed it since you read it.",                     \
     .options = opts, .examples = ex, .run = ctl_run_action, .data = &act}
#define UPDATE_DESC                                                                          \
    "Changes the fields given as flags or in -f FILE (proto3 JSON, e.g. from 'get -o "       \
    "json'): reads the resource first, sends only the fields that differ (update_mask) with " \
    "the etag read (or the one in the file), and says so and sends nothing when nothing "    \
    "differs. If someone changed it since it was read, nothing is changed and the command "  \
    "exits 7: read it again and retry. Output-only fields in the file are ignored when "     \
    "unchanged."
#define CREATE_DESC                                                                          \
    " Give the fields as flags, or as proto3 JSON with -f FILE (- for standard input); "     \
    "flags override the file. A fresh request_id makes a retry safe."

const ctl_command ctl_commands[] = {
    LIST_ROW("needs", ctl_needs, ex_needs_list),
    GET_ROW("needs", ctl_needs, "NEED", 1, ex_needs_get),
    {.noun = "needs", .verb = "create", .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON | CTL_FORMAT_NAME,
     .summary = "create a need (DRAFT)",
     .description = "Creates a need in state DRAFT (FRONT_OFFICE). Required: --title, "
                    "--description, --beneficiary, --region, --sector, --category, --priority "
                    "and --estimated-cost; --domain must be CIVILIAN before validation." CREATE_DESC,
     .options = ctl_need_create_options, .examples = ex_needs_create, .run = ctl_run_create,
     .data = &ctl_needs},
    {.noun = "needs", .verb = "update", .args = "NEED", .min_args = 1, .max_args = 1,
     .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON | CTL_FORMAT_NAME,
     .summary = "change fields of a DRAFT or RETURNED need", .description = UPDATE_DESC,
     .options = ctl_need_update_options, .examples = ex_needs_update, .run = ctl_run_update,
     .data = &ctl_needs},
    ACTION_ROW("needs", "submit", "NEED", 1, "DRAFT or RETURNED -> SUBMITTED",
               "Hands the need to the back office for validation (FRONT_OFFICE).",
               ctl_plain_action_options, ex_submit, ctl_act_submit),
    ACTION_ROW("needs", "validate", "NEED", 1, "SUBMITTED -> OPEN",
               "Confirms a CIVILIAN need and opens it for matches (BACK_OFFICE).",
               ctl_plain_action_options, ex_validate, ctl_act_validate),
    ACTION_ROW("needs", "return", "NEED", 1, "SUBMITTED -> RETURNED, with a reason",
               "Sends the need back to the front office for changes (BACK_OFFICE).",
               ctl_reason_action_options, ex_return, ctl_act_return),
    ACTION_ROW("needs", "reject", "NEED", 1, "SUBMITTED -> REJECTED, with a reason",
               "Refuses the need for good (BACK_OFFICE).", ctl_reason_action_options, ex_reject,
               ctl_act_reject),
    ACTION_ROW("needs", "route", "NEED", 1, "SUBMITTED -> ROUTED_TO_IT_COALITION",
               "Hands a military-domain need to the IT Coalition (BACK_OFFICE).",
               ctl_reason_action_options, ex_route, ctl_act_route),
    ACTION_ROW("needs", "hold", "NEED", 1, "OPEN -> ON_HOLD",
               "Stops new matches on the need until resumed (BACK_OFFICE).", ctl_hold_options,
               ex_hold, ctl_act_hold),
    ACTION_ROW("needs", "resume", "NEED", 1, "ON_HOLD -> OPEN",
               "Opens a held need for matches again (BACK_OFFICE).", ctl_plain_action_options,
               ex_resume, ctl_act_resume),
    ACTION_ROW("needs", "cancel", "NEED", 1, "cancel a need that is not final",
               "DRAFT, SUBMITTED, RETURNED, OPEN or ON_HOLD -> CANCELLED (FRONT_OFFICE).",
               ctl_reason_action_options, ex_cancel, ctl_act_cancel),
    ACTION_ROW("needs", "close", "NEED", 1, "OPEN -> CLOSED, with a reason",
               "Closes an open need before it is fulfilled (BACK_OFFICE).",
               ctl_reason_action_options, ex_close, ctl_act_close),
    HISTORY_ROW("needs", ctl_needs, "NEED", 1, ex_needs_history),

    LIST_ROW("donors", ctl_donors, ex_donors_list),
    GET_ROW("donors", ctl_donors, "DONOR", 1, ex_donors_get),
    {.noun = "donors", .verb = "create", .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON | CTL_FORMAT_NAME,
     .summary = "register a donor",
     .description = "Registers a donor (BACK_OFFICE). Required: --display-name, --kind and "
                    "--membership; --country-code for all kinds but INTERNATIONAL_ORGANIZATION; "
                    "--parent for COMPANY and NGO." CREATE_DESC,
     .options = ctl_donor_create_options, .examples = ex_donors_create, .run = ctl_run_create,
     .data = &ctl_donors},
    {.noun = "donors", .verb = "update", .args = "DONOR", .min_args = 1, .max_args = 1,
     .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON | CTL_FORMAT_NAME,
     .summary = "change fields of a donor", .description = UPDATE_DESC,
     .options = ctl_donor_update_options, .examples = ex_donors_update, .run = ctl_run_update,
     .data = &ctl_donors},
    HISTORY_ROW("donors", ctl_donors, "DONOR", 1, ex_donors_history),

    {.noun = "pledges", .verb = "list", .args = "[DONOR]", .min_args = 0, .max_args = 1,
     .formats = TABLE_FORMATS,
     .summary = "list the pledges of a donor (or of all donors)",
     .description = "Lists the pledges of DONOR, or of every donor you may see without one, "
                    "following page tokens; --filter and --order-by are passed to the server. "
                    "-o json writes one proto3 JSON object per line.",
     .options = ctl_list_options, .examples = ex_pledges_list, .run = ctl_run_list,
     .data = &ctl_pledges},
    GET_ROW("pledges", ctl_pledges, "DONOR PLEDGE", 2, ex_pledges_get),
    {.noun = "pledges", .verb = "create", .args = "DONOR", .min_args = 1, .max_args = 1,
     .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON | CTL_FORMAT_NAME,
     .summary = "record a pledge of a MEMBER donor",
     .description = "Records a pledge under DONOR (BACK_OFFICE). Required: --amount and "
                    "--fiscal-year; --state is ANNOUNCED unless given." CREATE_DESC,
     .options = ctl_pledge_create_options, .examples = ex_pledges_create, .run = ctl_run_create,
     .data = &ctl_pledges},
    {.noun = "pledges", .verb = "update", .args = "DONOR PLEDGE", .min_args = 1, .max_args = 2,
     .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON | CTL_FORMAT_NAME,
     .summary = "change a pledge (amount, year, source, state)", .description = UPDATE_DESC,
     .options = ctl_pledge_update_options, .examples = ex_pledges_update, .run = ctl_run_update,
     .data = &ctl_pledges},
    HISTORY_ROW("pledges", ctl_pledges, "DONOR PLEDGE", 2, ex_pledges_history),

    LIST_ROW("matches", ctl_matches, ex_matches_list),
    GET_ROW("matches", ctl_matches, "MATCH", 1, ex_matches_get),
    {.noun = "matches", .verb = "propose", .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON | CTL_FORMAT_NAME,
     .summary = "propose a match of a pledge to an OPEN need",
     .description = "Proposes a match (BACK_OFFICE, or a DONOR for itself). Required: --need, "
                    "--donor, --pledge, --amount and --description. A bare --pledge id is "
                    "taken under --donor." CREATE_DESC,
     .options = ctl_match_propose_options, .examples = ex_propose, .run = ctl_run_create,
     .data = &ctl_matches},
    ACTION_ROW("matches", "approve", "MATCH", 1, "PROPOSED -> APPROVED",
               "Approves a match you did not propose (COORDINATOR); the pledge must cover it.",
               ctl_approve_options, ex_approve, ctl_act_approve),
    ACTION_ROW("matches", "decline", "MATCH", 1, "PROPOSED -> DECLINED, with a reason",
               "Declines a proposal (COORDINATOR).", ctl_reason_action_options, ex_decline,
               ctl_act_decline),
    ACTION_ROW("matches", "withdraw", "MATCH", 1, "PROPOSED or APPROVED -> WITHDRAWN",
               "Withdraws the donor's own match (DONOR); its amount returns to the pledge.",
               ctl_reason_action_options, ex_withdraw, ctl_act_withdraw),
    ACTION_ROW("matches", "start-delivery", "MATCH", 1, "APPROVED -> IN_DELIVERY",
               "Reports that delivery has begun (DONOR).", ctl_plain_action_options, ex_start,
               ctl_act_start),
    ACTION_ROW("matches", "delivered", "MATCH", 1 + CTL_EVIDENCE_MAX, "IN_DELIVERY -> DELIVERED",
               "Reports delivery complete (DONOR)." EVIDENCE_DESC, ctl_evidence_action_options,
               ex_delivered, ctl_act_delivered),
    ACTION_ROW("matches", "accept", "MATCH", 1 + CTL_EVIDENCE_MAX, "DELIVERED -> ACCEPTED",
               "Confirms the delivery for the beneficiary (FRONT_OFFICE); a need whose "
               "accepted amounts reach its cost becomes FULFILLED." EVIDENCE_DESC,
               ctl_evidence_action_options, ex_accept, ctl_act_accept),
    ACTION_ROW("matches", "reject-delivery", "MATCH", 1 + CTL_EVIDENCE_MAX,
               "DELIVERED -> IN_DELIVERY, with a reason",
               "Does not accept the delivery yet (FRONT_OFFICE)." EVIDENCE_DESC,
               ctl_evidence_reason_options, ex_reject_delivery, ctl_act_reject_delivery),
    HISTORY_ROW("matches", ctl_matches, "MATCH", 1, ex_matches_history),
    {.noun = "suggest", .args = "NEED", .min_args = 1, .max_args = 1,
     .formats = TABLE_FORMATS,
     .summary = "rank donors that could help with an OPEN need",
     .description = "Asks the server to rank MEMBER donors for the need, best first, with a "
                    "score and the reasons for it. Read-only.",
     .options = ctl_suggest_options, .examples = ex_suggest, .run = ctl_run_suggest,
     .data = &ctl_matches},
    {.noun = "report", .verb = "coverage", .min_args = 0, .max_args = 0,
     .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON | CTL_FORMAT_CSV,
     .summary = "coverage of validated needs by sector, category, region and donor",
     .description = "Shows how far committed and delivered help covers the validated needs, "
                    "in total and by sector, category, region and donor (amounts and "
                    "percentages in the accounting currency), and the money by fiscal year and "
                    "by original currency, from one consistent snapshot; for a DONOR also its "
                    "own pledges, matches and deliveries. --start-date/--end-date count the "
                    "needs created in those days, --region one region's, --fiscal-year one "
                    "year's pledges (docs/reporting.md). -o csv writes one row per line of the "
                    "report, its section in GROUP.",
     .options = ctl_report_options, .examples = ex_report, .run = ctl_run_report,
     .data = &ctl_reports},

    {.noun = "export", .verb = "csv", .args = "KIND", .min_args = 1, .max_args = 1,
     .formats = CTL_FORMAT_TEXT,
     .summary = "needs, matches, pledges or donors as CSV (RFC 4180)",
     .description = "Writes every resource of KIND (needs, matches, pledges or donors) you may "
                    "see as CSV: RFC 4180 (CRLF, quoted fields, quotes doubled), UTF-8, one "
                    "header row, the same columns for every role (a field the server withholds "
                    "from you is an empty cell). Money is two columns, an exact decimal amount "
                    "with the currency's decimals and its currency (F, F_currency), with the "
                    "accounting value beside the original. Text cells that start with = + - @ "
                    "get a leading ' so spreadsheets do not run them as formulas "
                    "(--no-formula-guard: as they are). --filter as for list "
                    "(docs/reporting.md).",
     .options = ctl_export_csv_options, .examples = ex_export_csv, .run = ctl_run_export_csv},
    {.noun = "export", .verb = "iati", .min_args = 0, .max_args = 0, .formats = CTL_FORMAT_TEXT,
     .summary = "a donor's approved matches as IATI 2.03 activity XML",
     .description = "Writes one IATI 2.03 activity per approved (or later) match you may see: "
                    "the donor as reporting and funding organisation, the implementer as "
                    "implementing organisation, recipient country UA, the sector as an OECD "
                    "DAC 5-digit code, a commitment for the approval and a disbursement or "
                    "expenditure for an accepted delivery, in the original currency with their "
                    "value dates. A RESTRICTED need's own words never appear. A DONOR exports "
                    "its own activities; others every donor's, or --donor's. Activity "
                    "identifiers are REF-TM-<MATCH>, REF being --org-ref (docs/reporting.md).",
     .options = ctl_export_iati_options, .examples = ex_export_iati, .run = ctl_run_export_iati},

    LIST_ROW("rates", ctl_rates, ex_rates_list),
    GET_ROW("rates", ctl_rates, "RATE", 1, ex_rates_get),
    {.noun = "rates", .verb = "create", .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON | CTL_FORMAT_NAME,
     .summary = "record the exchange rate of a currency on a day",
     .description = "Records a rate (BACK_OFFICE): units of --currency-code per 1 unit of the "
                    "accounting currency on --rate-date, from --source. Pledges and matches in "
                    "that currency are valued at the latest rate up to 7 days before their "
                    "day. Its name is the currency and the day, e.g. usd-2025-03-14." CREATE_DESC,
     .options = ctl_rate_create_options, .examples = ex_rates_create, .run = ctl_run_create,
     .data = &ctl_rates},
    ACTION_ROW("rates", "delete", "RATE", 1, "delete a rate no decision rests on",
               "Deletes an unused rate (BACK_OFFICE), e.g. one entered for the wrong day; a "
               "rate a committed pledge or an approved match rests on stays.",
               ctl_plain_action_options, ex_rates_delete, ctl_act_rate_delete),
    HISTORY_ROW("rates", ctl_rates, "RATE", 1, ex_rates_history),

    LIST_ROW("principals", ctl_principals, ex_principals_list),
    GET_ROW("principals", ctl_principals, "PRINCIPAL", 1, ex_principals_get),
    {.noun = "principals", .verb = "create",
     .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON | CTL_FORMAT_NAME,
     .summary = "create a principal and its first token (ADMIN)",
     .description = "Creates an ACTIVE principal (ADMIN). Required: --display-name and --role; "
                    "--donor for role DONOR. The token is shown once (or written to "
                    "--save-token FILE with mode 0600)." CREATE_DESC,
     .options = ctl_principal_create_options, .examples = ex_principals_create,
     .run = ctl_run_create, .data = &ctl_principals},
    {.noun = "principals", .verb = "disable", .args = "PRINCIPAL", .min_args = 1, .max_args = 1,
     .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON | CTL_FORMAT_NAME,
     .summary = "disable a principal for good (ADMIN)",
     .description = "ACTIVE -> DISABLED: its token and certificate stop working at once.",
     .options = ctl_request_id_options, .examples = ex_principals_disable,
     .run = ctl_run_action, .data = &ctl_act_disable},
    {.noun = "principals", .verb = "rotate-token", .args = "PRINCIPAL", .min_args = 1,
     .max_args = 1, .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON | CTL_FORMAT_NAME,
     .summary = "replace a principal's token (ADMIN)",
     .description = "Issues a new token, shown once (or written to --save-token FILE); the old "
                    "one stops working at once.",
     .options = ctl_rotate_options, .examples = ex_principals_rotate, .run = ctl_run_action,
     .data = &ctl_act_rotate},

    {.noun = "audit", .verb = "key", .min_args = 0, .max_args = 0,
     .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON,
     .summary = "print the audit log's verifier key, as the server states it",
     .description = "Prints the verifier key the server says its audit log is signed with "
                    "(AuditService.GetVerifierKey; any role). A key fetched from the server "
                    "proves nothing: a server that forged its log would hand out the forger's "
                    "key. Verify with the key printed by 'tallinnd init' when the log was "
                    "created, given to auditors out of band (docs/audit.md); compare the two.",
     .examples = ex_audit_key, .run = ctl_run_audit_key},
    {.noun = "audit", .verb = "checkpoint", .args = "[SIZE]", .min_args = 0, .max_args = 1,
     .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON,
     .summary = "print the audit log's signed checkpoint (AUDITOR)",
     .description = "Prints the latest signed checkpoint (C2SP signed note) of the audit log, "
                    "or the one signed at tree size SIZE, byte for byte.",
     .examples = ex_audit_checkpoint, .run = ctl_run_audit_checkpoint},
    {.noun = "audit", .verb = "proof", .args = "INDEX", .min_args = 1, .max_args = 1,
     .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON,
     .summary = "an inclusion proof of one audit record (AUDITOR)",
     .description = "Prints a c2sp.org/tlog-proof@v1 file proving that record INDEX is in the "
                    "log: the inclusion proof against the latest (or --size) checkpoint, with "
                    "that checkpoint. 'tallinn-audit check-proof' verifies it offline.",
     .options = ctl_audit_proof_options, .examples = ex_audit_proof,
     .run = ctl_run_audit_proof},
    {.noun = "audit", .verb = "export", .args = "DIR", .min_args = 1, .max_args = 1,
     .formats = CTL_FORMAT_TEXT,
     .summary = "copy the audit log into a tlog-tiles directory (AUDITOR)",
     .description = "Writes the log as a C2SP tlog-tiles directory: checkpoint, tile/<L>/<N> "
                    "and tile/entries/<N> (16-bit big-endian length-prefixed records). Hash "
                    "tiles are computed from the records, and the result must hash to the "
                    "checkpoint's root before the checkpoint is written. Resumable: run it "
                    "again and it continues after the last complete bundle. Shows a progress "
                    "bar on a terminal. The checkpoint carries the witnesses' cosignatures the "
                    "server collected; --cosigned exports up to the newest checkpoint its "
                    "witness quorum cosigned, for verifiers that demand that quorum.",
     .options = ctl_audit_export_options, .examples = ex_audit_export,
     .run = ctl_run_audit_export},

    {.noun = "changes", .verb = "watch", .min_args = 0, .max_args = 0,
     .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON | CTL_FORMAT_NAME,
     .summary = "follow every change you may see, as it is committed",
     .description = "Prints each committed change you may see: its position in the audit log, "
                    "time, kind, name and state, or that a resource is no longer visible to "
                    "you. From now on, --from-start, or --after POSITION to resume exactly "
                    "after a change printed before. Runs until interrupted (or --count); if "
                    "the server ends the stream (a restart, a replica going away) it resumes "
                    "where it was, on whichever replica answers. -o json writes each message "
                    "of the feed as a line, including the caught-up markers.",
     .options = ctl_changes_watch_options, .examples = ex_changes_watch,
     .run = ctl_run_changes_watch},

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
        .run = ctl_run_health,
    },
    {
        .noun = "version",
        .min_args = 0,
        .max_args = 0,
        .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON,
        .summary = "show this client's version and the server's",
        .description = "Prints the version of this tallinnctl, then asks the server "
                       "(DiagnosticsService.GetServerInfo, any role) for its version, its "
                       "accounting currency and its audit log's origin. When the server cannot "
                       "be reached, the client line is followed by the error (exit 3). "
                       "'tallinnctl --version' prints the client's version alone.",
        .examples = ctl_version_examples,
        .run = ctl_run_version,
    },
    {
        .noun = "whoami",
        .min_args = 0,
        .max_args = 0,
        .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON,
        .summary = "show who the server takes you to be, and the context and address used",
        .description = "Asks the server who the credentials in use stand for "
                       "(DiagnosticsService.GetCaller, any role): the principal, its display "
                       "name, role and, for a DONOR, its donor; and shows the config context "
                       "and the server address this run used.",
        .examples = ctl_whoami_examples,
        .run = ctl_run_whoami,
    },
    {
        .noun = "config",
        .verb = "get-contexts",
        .min_args = 0,
        .max_args = 0,
        .formats = CTL_FORMAT_TEXT | CTL_FORMAT_JSON | CTL_FORMAT_NAME | CTL_FORMAT_CSV,
        .summary = "list the config file's contexts (* marks the one in use)",
        .description = "Lists the contexts of the config file ($TALLINN_CONFIG, else "
                       "$XDG_CONFIG_HOME/tallinn/config): name, address, credentials and TLS; "
                       "CURRENT marks the one a command would use (--context, "
                       "TALLINN_CONTEXT, else the file's default). A token kept in the file is "
                       "never shown. Reads no server.",
        .examples = ctl_get_contexts_examples,
        .run = ctl_run_get_contexts,
        .local = 1,
    },
    {
        .noun = "config",
        .verb = "use-context",
        .args = "CONTEXT",
        .min_args = 1,
        .max_args = 1,
        .formats = CTL_FORMAT_TEXT,
        .summary = "make CONTEXT the config file's default",
        .description = "Sets \"context = CONTEXT\" in the config file, which must hold a "
                       "[CONTEXT] section. The file is changed in place (comments and other "
                       "sections kept) and replaced atomically, mode 0600.",
        .examples = ctl_use_context_examples,
        .run = ctl_run_use_context,
        .local = 1,
    },
    {
        .noun = "config",
        .verb = "set-context",
        .args = "CONTEXT",
        .min_args = 1,
        .max_args = 1,
        .formats = CTL_FORMAT_TEXT,
        .summary = "create or change a context from the connection options given",
        .description = "Writes the connection options given on the line into the [CONTEXT] "
                       "section of the config file, creating the file (mode 0600) and the "
                       "section when missing: --addr (required for a new context), --insecure, "
                       "--token-file, --token, --ca, --cert, --key, --server-name and "
                       "--deadline. Settings not given stay; --insecure drops the TLS settings "
                       "and a TLS option drops insecure; --token-file drops a token and --token "
                       "a token file. Paths are stored absolute. Comments and other sections "
                       "are kept, and the file is replaced atomically. Contacts no server.",
        .examples = ctl_set_context_examples,
        .run = ctl_run_set_context,
        .local = 1,
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
        .local = 1,
    },
    {
        .noun = "completion",
        .args = "SHELL",
        .min_args = 1,
        .max_args = 1,
        .formats = CTL_FORMAT_TEXT,
        .summary = "print a shell completion script (bash, zsh or fish)",
        .description = "Prints the completion script for SHELL (bash, zsh or fish); make install "
                       "installs all three. It completes commands, options and their values "
                       "from the same table as this help, context names from the config file, "
                       "and resource ids (NEED, DONOR, ...) by listing them from the server "
                       "with the context in use, within a few seconds and silently on errors.",
        .examples = ctl_completion_examples,
        .run = ctl_run_completion,
        .local = 1,
    },
};
const size_t ctl_commands_count = sizeof ctl_commands / sizeof ctl_commands[0];
