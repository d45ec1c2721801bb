/* ctl_resources.c — the resource commands of tallinnctl, generic over the
 * command table's ctl_resource and ctl_action rows: list (following page
 * tokens), get, create and update from flags or proto3 JSON (-f), the custom
 * state-changing methods and suggestions (the coverage report is
 * ctl_report.c's). Requests and responses are handled through protobuf-c
 * descriptors; flags become JSON that the shared converter turns into the
 * message. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "ctl.h"
#include "tallinn/pbjson.h"
#include "tallinn/v1/match.pb-c.h"
#include "tallinn/v1/report.pb-c.h"

#define CTL_UUID_LEN 36
#define CTL_INPUT_MAX (16u << 20) /* largest -f document */
#define CTL_LIST_PAGE 200         /* page size asked for while listing */
#define CTL_METHOD_MAX 128

/* Command options that are not resource fields. */
static const char *const ctl_reserved_options[] = {
    "file", "id", "request-id", "filter", "order-by", "limit", "reason", "etag",
    "allow-overfunding", "save-token", "max", "evidence", "note", NULL,
};

/* ---- Message field helpers ---- */

static const ProtobufCFieldDescriptor *ctl_field(const ProtobufCMessage *m, const char *field)
{
    return protobuf_c_message_descriptor_get_field_by_name(m->descriptor, field);
}

void ctl_msg_set_string(ProtobufCMessage *m, const char *field, const char *value)
{
    const ProtobufCFieldDescriptor *f = ctl_field(m, field);
    char **slot, *dup;

    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING || (dup = strdup(value)) == NULL)
        return;
    slot = (char **)((char *)m + f->offset);
    if (*slot != NULL && *slot != f->default_value && *slot != protobuf_c_empty_string)
        free(*slot);
    *slot = dup;
}

const char *ctl_msg_get_string(const ProtobufCMessage *m, const char *field)
{
    const ProtobufCFieldDescriptor *f = ctl_field(m, field);

    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    return *(const char *const *)((const char *)m + f->offset);
}

ProtobufCMessage *ctl_msg_get_message(const ProtobufCMessage *m, const char *field)
{
    const ProtobufCFieldDescriptor *f = ctl_field(m, field);

    if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    return *(ProtobufCMessage *const *)((const char *)m + f->offset);
}

/* Hands sub to m's field (m frees it from then on). */
static void ctl_msg_take_message(ProtobufCMessage *m, const char *field, ProtobufCMessage *sub)
{
    const ProtobufCFieldDescriptor *f = ctl_field(m, field);
    ProtobufCMessage **slot;

    if (f == NULL) {
        protobuf_c_message_free_unpacked(sub, NULL);
        return;
    }
    slot = (ProtobufCMessage **)((char *)m + f->offset);
    if (*slot != NULL)
        protobuf_c_message_free_unpacked(*slot, NULL);
    *slot = sub;
}

static void ctl_msg_set_int32(ProtobufCMessage *m, const char *field, int32_t v)
{
    const ProtobufCFieldDescriptor *f = ctl_field(m, field);

    if (f != NULL && f->type == PROTOBUF_C_TYPE_INT32)
        *(int32_t *)((char *)m + f->offset) = v;
}

static void ctl_msg_set_bool(ProtobufCMessage *m, const char *field, int v)
{
    const ProtobufCFieldDescriptor *f = ctl_field(m, field);

    if (f != NULL && f->type == PROTOBUF_C_TYPE_BOOL)
        *(protobuf_c_boolean *)((char *)m + f->offset) = v != 0;
}

static ProtobufCMessage *ctl_msg_new(const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = malloc(d->sizeof_message);

    if (m != NULL)
        protobuf_c_message_init(d, m);
    return m;
}

static void ctl_msg_free(ProtobufCMessage *m)
{
    if (m != NULL)
        protobuf_c_message_free_unpacked(m, NULL);
}

static void ctl_method(const ctl_resource *res, const char *method, char *buf, size_t len)
{
    snprintf(buf, len, "/%s/%s", res->service, method);
}

/* ---- Names ---- */

char *ctl_resource_name(const ctl_ctx *ctx, const char *collection, const char *arg)
{
    size_t cl = strlen(collection);
    char *out;

    if (strncmp(arg, collection, cl) == 0 && arg[cl] == '/')
        arg += cl + 1;
    if (arg[0] == '\0' || strchr(arg, '/') != NULL) {
        ctl_usage_error(ctx->cmd, "\"%s\" is not a name in %s (give %s/ID or ID)", arg,
                        collection, collection);
        return NULL;
    }
    if (asprintf(&out, "%s/%s", collection, arg) < 0)
        return NULL;
    return out;
}

/* The name a command's positional arguments give: ID or COLLECTION/ID, and
 * for pledges also DONOR PLEDGE or donors/D/pledges/P. *used gets how many
 * arguments it took. */
static char *ctl_name_from_args(const ctl_ctx *ctx, const ctl_resource *res, int argc,
                                char **argv, int *used)
{
    char *parent, *out;
    const char *child;

    *used = 1;
    if (res->parent == NULL)
        return ctl_resource_name(ctx, res->collection, argv[0]);
    if (argc >= 2) {
        *used = 2;
        if ((parent = ctl_resource_name(ctx, res->parent, argv[0])) == NULL)
            return NULL;
        child = argv[1];
    } else {
        /* donors/D/pledges/P, or D/pledges/P */
        const char *a = argv[0];
        const char *mid;
        size_t pl = strlen(res->parent);

        if (strncmp(a, res->parent, pl) == 0 && a[pl] == '/')
            a += pl + 1;
        mid = strchr(a, '/');
        if (mid == NULL || strncmp(mid + 1, res->collection, strlen(res->collection)) != 0 ||
            mid[1 + strlen(res->collection)] != '/') {
            ctl_usage_error(ctx->cmd, "give the %s as %s %s or %s/D/%s/ID, not \"%s\"",
                            res->singular, "DONOR", "PLEDGE", res->parent, res->collection,
                            argv[0]);
            return NULL;
        }
        if (asprintf(&parent, "%s/%.*s", res->parent, (int)(mid - a), a) < 0)
            return NULL;
        child = mid + 1 + strlen(res->collection) + 1;
    }
    if (child[0] == '\0' || strchr(child, '/') != NULL) {
        size_t cl = strlen(res->collection);
        if (strncmp(child, res->collection, cl) != 0 || child[cl] != '/' ||
            strchr(child + cl + 1, '/') != NULL || child[cl + 1] == '\0') {
            ctl_usage_error(ctx->cmd, "\"%s\" is not a %s id", child, res->singular);
            free(parent);
            return NULL;
        }
        child += cl + 1;
    }
    if (asprintf(&out, "%s/%s/%s", parent, res->collection, child) < 0)
        out = NULL;
    free(parent);
    return out;
}

/* ---- request_id ---- */

/* A UUID version 4 from libsodium's CSPRNG. */
static void ctl_uuid4(char out[CTL_UUID_LEN + 1])
{
    unsigned char b[16];

    randombytes_buf(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, CTL_UUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

static void ctl_set_request_id(ctl_ctx *ctx, ProtobufCMessage *req, char rid[CTL_UUID_LEN + 1])
{
    const char *given = ctl_option_value(ctx, "request-id");

    if (given != NULL)
        snprintf(rid, CTL_UUID_LEN + 1, "%s", given);
    else
        ctl_uuid4(rid);
    ctl_msg_set_string(req, "request_id", rid);
}

/* After a failed write: the cause, and when the outcome is unknown how to
 * repeat it safely. */
static int ctl_write_failed(const ctl_ctx *ctx, const char *what, const char *name,
                            const rpcc_result *r, const char *rid)
{
    int rc;

    if (r->code == GRPC_STATUS_ABORTED && name != NULL) {
        fprintf(stderr, CTL_PROG ": %s changed since you read it; run the command again\n", name);
        return CTL_EXIT_CONFLICT;
    }
    rc = ctl_call_failed(ctx, what, r);
    if ((r->code == GRPC_STATUS_DEADLINE_EXCEEDED ||
         (r->code == GRPC_STATUS_UNAVAILABLE && !rpcc_result_unreached(r))) &&
        rid != NULL && rid[0] != '\0')
        fprintf(stderr, CTL_PROG ": the outcome is unknown; to repeat it safely, run the same "
                "command with --request-id %s\n", rid);
    return rc;
}

/* ---- Flags and -f to JSON ---- */

static int ctl_is_reserved(const char *opt)
{
    for (int i = 0; ctl_reserved_options[i] != NULL; i++)
        if (strcmp(ctl_reserved_options[i], opt) == 0)
            return 1;
    return 0;
}

/* "--estimated-cost" -> "estimated_cost". */
static void ctl_option_field(const char *opt, char *buf, size_t len)
{
    size_t n = 0;

    for (; *opt != '\0' && n + 1 < len; opt++)
        buf[n++] = *opt == '-' ? '_' : *opt;
    buf[n] = '\0';
}

/* An amount as staff type it ("EUR 120,000.50", "120000": EUR, the
 * accounting currency) as a Money object; cli_money_parse says what it
 * refuses and why. */
static json_t *ctl_parse_money(const char *s, char *err, size_t err_len)
{
    char cur[4], units[24];
    int64_t u;
    int32_t nanos;

    if (cli_money_parse(s, CTL_DEFAULT_CURRENCY, cur, &u, &nanos, err, err_len) != 0)
        return NULL;
    snprintf(units, sizeof units, "%lld", (long long)u); /* int64 is a string in proto3 JSON */
    return json_pack("{s:s,s:s,s:I}", "currency_code", cur, "units", units, "nanos",
                     (json_int_t)nanos);
}

static json_t *ctl_parse_date(const char *s, char *err, size_t err_len)
{
    int y, m, d, n = 0;

    if (sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || s[n] != '\0' || n != 10) {
        snprintf(err, err_len, "\"%s\" is not a date such as 2025-06-30", s);
        return NULL;
    }
    return json_pack("{s:i,s:i,s:i}", "year", y, "month", m, "day", d);
}

/* An enum value from "energy", "ENERGY", "SECTOR_ENERGY" or a number. */
static json_t *ctl_parse_enum(const ProtobufCEnumDescriptor *ed, const char *s, char *err,
                              size_t err_len)
{
    char up[128], full[192], list[512] = "";
    const char *zero = ed->values[0].name, *un = strstr(zero, "UNSPECIFIED");
    int plen = un != NULL ? (int)(un - zero) : 0;
    size_t n = 0;

    for (const char *p = s; *p != '\0' && n + 1 < sizeof up; p++)
        up[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    up[n] = '\0';
    if (protobuf_c_enum_descriptor_get_value_by_name(ed, up) != NULL)
        return json_string(up);
    snprintf(full, sizeof full, "%.*s%s", plen, zero, up);
    if (protobuf_c_enum_descriptor_get_value_by_name(ed, full) != NULL)
        return json_string(full);
    {
        const char *names[64], *close;
        unsigned n = 0;

        for (unsigned i = 1; i < ed->n_values; i++) {
            strncat(list, i > 1 ? ", " : "", sizeof list - strlen(list) - 1);
            strncat(list, ed->values[i].name + plen, sizeof list - strlen(list) - 1);
            if (n < 64)
                names[n++] = ed->values[i].name + plen;
        }
        close = cli_suggest(up, names, n);
        snprintf(err, err_len, "\"%s\" is not one of %s%s%s%s", s, list,
                 close != NULL ? " (did you mean " : "", close != NULL ? close : "",
                 close != NULL ? "?)" : "");
    }
    return NULL;
}

/* Resource references in flags may be bare ids. */
static const char *ctl_reference_collection(const char *field)
{
    if (strcmp(field, "need") == 0)
        return "needs";
    if (strcmp(field, "donor") == 0 || strcmp(field, "parent") == 0 ||
        strcmp(field, "implementer") == 0)
        return "donors";
    return NULL;
}

static json_t *ctl_flag_value(ctl_ctx *ctx, const ProtobufCFieldDescriptor *f, const char *v,
                              char *err, size_t err_len)
{
    const char *coll;
    char *end;
    long long n;

    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        coll = ctl_reference_collection(f->name);
        if (coll != NULL && v[0] != '\0') {
            size_t cl = strlen(coll);
            const char *id = strncmp(v, coll, cl) == 0 && v[cl] == '/' ? v + cl + 1 : v;
            char buf[512];
            if (id[0] == '\0' || strchr(id, '/') != NULL) {
                snprintf(err, err_len, "\"%s\" is not a name in %s", v, coll);
                return NULL;
            }
            snprintf(buf, sizeof buf, "%s/%s", coll, id);
            return json_string(buf);
        }
        if (strcmp(f->name, "pledge") == 0 && v[0] != '\0' && strchr(v, '/') == NULL) {
            /* a bare pledge id belongs to --donor */
            const char *donor = ctl_option_value(ctx, "donor");
            char buf[512];
            if (donor == NULL) {
                snprintf(err, err_len, "a bare pledge id needs --donor (or give "
                         "donors/D/pledges/P)");
                return NULL;
            }
            if (strncmp(donor, "donors/", 7) == 0)
                donor += 7;
            snprintf(buf, sizeof buf, "donors/%s/pledges/%s", donor, v);
            return json_string(buf);
        }
        return json_string(v);
    case PROTOBUF_C_TYPE_ENUM:
        return ctl_parse_enum(f->descriptor, v, err, err_len);
    case PROTOBUF_C_TYPE_BOOL:
        if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0)
            return json_true();
        if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "0") == 0)
            return json_false();
        snprintf(err, err_len, "\"%s\" is not true or false", v);
        return NULL;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_INT64:
        errno = 0;
        n = strtoll(v, &end, 10);
        if (v[0] == '\0' || *end != '\0' || errno != 0) {
            snprintf(err, err_len, "\"%s\" is not a whole number", v);
            return NULL;
        }
        if (f->type == PROTOBUF_C_TYPE_INT64)
            return json_string(v);
        return json_integer(n);
    case PROTOBUF_C_TYPE_MESSAGE: {
        const char *t = ((const ProtobufCMessageDescriptor *)f->descriptor)->name;
        if (strcmp(t, "tallinn.v1.Money") == 0)
            return ctl_parse_money(v, err, err_len);
        if (strcmp(t, "tallinn.v1.Date") == 0)
            return ctl_parse_date(v, err, err_len);
        if (strcmp(t, "google.protobuf.Timestamp") == 0)
            return json_string(v);
        break;
    }
    default:
        break;
    }
    snprintf(err, err_len, "cannot be given as a flag; use -f");
    return NULL;
}

/* Adds the command's field flags to obj (keys are proto field names).
 * Returns 0 or an exit status. */
static int ctl_flags_to_json(ctl_ctx *ctx, const ProtobufCMessageDescriptor *desc, json_t *obj)
{
    const ctl_option *opts = ctx->cmd->options;

    for (size_t i = 0; opts != NULL && opts[i].name != NULL; i++) {
        const char *v = ctx->opt_values[i];
        const ProtobufCFieldDescriptor *f;
        char field[64], err[256];
        json_t *j;

        if (v == NULL || ctl_is_reserved(opts[i].name))
            continue;
        ctl_option_field(opts[i].name, field, sizeof field);
        if ((f = protobuf_c_message_descriptor_get_field_by_name(desc, field)) == NULL)
            continue; /* a command option that is not a field (e.g. --donor of propose) */
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            const char *p = v;
            j = json_array();
            while (j != NULL && *p != '\0') {
                size_t n = strcspn(p, ",");
                char *one = strndup(p, n), *s = one;
                json_t *e;

                while (s != NULL && isspace((unsigned char)*s))
                    s++;
                e = s != NULL ? ctl_flag_value(ctx, f, s, err, sizeof err) : NULL;
                free(one);
                if (e == NULL) {
                    json_decref(j);
                    return ctl_usage_error(ctx->cmd, "--%s: %s", opts[i].name, err);
                }
                json_array_append_new(j, e);
                p += n;
                if (*p == ',')
                    p++;
            }
        } else if ((j = ctl_flag_value(ctx, f, v, err, sizeof err)) == NULL) {
            return ctl_usage_error(ctx->cmd, "--%s: %s", opts[i].name, err);
        }
        json_object_set_new(obj, f->name, j);
    }
    return CTL_EXIT_OK;
}

/* Reads -f FILE (or - for standard input) as a JSON object whose keys are
 * renamed to proto field names. NULL after printing the cause. */
static json_t *ctl_read_json(ctl_ctx *ctx, const char *path,
                             const ProtobufCMessageDescriptor *desc)
{
    json_error_t je;
    json_t *j, *out, *v;
    const char *key;
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    char *buf;
    size_t len = 0, n;

    if (f == NULL) {
        ctl_usage_error(ctx->cmd, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    if ((buf = malloc(CTL_INPUT_MAX + 1)) == NULL) {
        if (f != stdin)
            fclose(f);
        ctl_fail("out of memory");
        return NULL;
    }
    while (len < CTL_INPUT_MAX && (n = fread(buf + len, 1, CTL_INPUT_MAX - len, f)) > 0)
        len += n;
    if (f != stdin)
        fclose(f);
    if (len >= CTL_INPUT_MAX) {
        free(buf);
        ctl_usage_error(ctx->cmd, "%s is larger than %u bytes", path, CTL_INPUT_MAX);
        return NULL;
    }
    j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    if (j == NULL) {
        ctl_usage_error(ctx->cmd, "%s: malformed JSON at line %d, column %d: %s",
                        strcmp(path, "-") == 0 ? "standard input" : path, je.line, je.column,
                        je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        ctl_usage_error(ctx->cmd, "%s: wants a JSON object (one %s)", path, desc->short_name);
        return NULL;
    }
    out = json_object();
    json_object_foreach(j, key, v) {
        const ProtobufCFieldDescriptor *fd = pbjson_field_by_json_key(desc, key);
        if (fd == NULL) {
            ctl_usage_error(ctx->cmd, "%s: unknown field \"%s\" (%s)", path, key, desc->name);
            json_decref(j);
            json_decref(out);
            return NULL;
        }
        if (json_object_get(out, fd->name) != NULL) {
            ctl_usage_error(ctx->cmd, "%s: field %s given twice", path, fd->name);
            json_decref(j);
            json_decref(out);
            return NULL;
        }
        json_object_set(out, fd->name, v);
    }
    json_decref(j);
    return out;
}

/* The resource fields of a create or update: -f first, flags on top. */
static json_t *ctl_input(ctl_ctx *ctx, const ProtobufCMessageDescriptor *desc, int *rc)
{
    const char *file = ctl_option_value(ctx, "file");
    json_t *obj = file != NULL ? ctl_read_json(ctx, file, desc) : json_object();

    *rc = CTL_EXIT_USAGE;
    if (obj == NULL)
        return NULL;
    if ((*rc = ctl_flags_to_json(ctx, desc, obj)) != CTL_EXIT_OK) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static ProtobufCMessage *ctl_json_message(ctl_ctx *ctx, json_t *obj,
                                          const ProtobufCMessageDescriptor *desc)
{
    char err[PBJSON_ERROR_MAX];
    ProtobufCMessage *m = NULL;

    if (pbjson_from_json(obj, desc, &m, err, sizeof err) != 0) {
        ctl_usage_error(ctx->cmd, "%s", err);
        return NULL;
    }
    return m;
}

/* ---- Output of responses ---- */

/* A response with a token (CreatePrincipal, RotateToken): the principal,
 * then the token, once, or into --save-token FILE (mode 0600). */
static int ctl_print_token_response(ctl_ctx *ctx, ProtobufCMessage *resp)
{
    const char *save = ctl_option_value(ctx, "save-token");
    const char *token = ctl_msg_get_string(resp, "token");
    ProtobufCMessage *principal = ctl_msg_get_message(resp, "principal");
    int rc = CTL_EXIT_OK;

    if (save != NULL && token != NULL && token[0] != '\0') {
        int fd = open(save, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        size_t len = strlen(token);

        if (fd < 0 || fchmod(fd, 0600) != 0 || write(fd, token, len) != (ssize_t)len ||
            write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
            rc = ctl_fail("cannot write the token to %s: %s; it is lost: rotate it with "
                          "'tallinnctl principals rotate-token %s'", save, strerror(errno),
                          principal != NULL ? ctl_msg_get_string(principal, "name") : "NAME");
        }
        if (fd >= 0)
            close(fd);
        ctl_msg_set_string(resp, "token", "");
    }
    if (ctx->format == CTL_FORMAT_JSON)
        ctl_print_message(ctx, resp, 1);
    else if (principal != NULL)
        ctl_print_message(ctx, principal, 1);
    if (ctx->format == CTL_FORMAT_TEXT) {
        token = ctl_msg_get_string(resp, "token");
        if (token != NULL && token[0] != '\0') {
            printf("Token:        %s\n", token);
            fputs(CTL_PROG ": the token is shown this once; keep it secret (or use "
                  "--save-token FILE)\n", stderr);
        } else if (save != NULL && rc == CTL_EXIT_OK) {
            printf("Token:        saved to %s\n", save);
        } else {
            fputs(CTL_PROG ": no token in the answer (a repeated request_id does not show "
                  "it again)\n", stderr);
        }
    }
    return rc;
}

static int ctl_print_result(ctl_ctx *ctx, ProtobufCMessage *resp)
{
    if (ctl_field(resp, "token") != NULL)
        return ctl_print_token_response(ctx, resp);
    return ctl_print_message(ctx, resp, 1);
}

/* ---- list ---- */

int ctl_run_list(ctl_ctx *ctx, int argc, char **argv)
{
    const ctl_resource *res = ctx->cmd->data;
    const char *limit_s = ctl_option_value(ctx, "limit");
    const char *filter = ctl_option_value(ctx, "filter");
    const char *order = ctl_option_value(ctx, "order-by");
    char method[CTL_METHOD_MAX], *parent = NULL, *token = NULL, *end;
    long long limit = 0, seen = 0;
    ctl_table *table = NULL;
    int rc = CTL_EXIT_OK;

    if (ctl_option_value(ctx, "watch") != NULL) /* ctl_changes.c */
        return ctl_watch_list(ctx, argc, argv);
    if (limit_s != NULL) {
        errno = 0;
        limit = strtoll(limit_s, &end, 10);
        if (errno != 0 || *end != '\0' || limit < 0)
            return ctl_usage_error(ctx->cmd, "--limit wants a whole number >= 0, not \"%s\"",
                                   limit_s);
    }
    if (res->parent != NULL) {
        if (argc > 0 && strcmp(argv[0], "-") != 0)
            parent = ctl_resource_name(ctx, res->parent, argv[0]);
        else if (asprintf(&parent, "%s/-", res->parent) < 0)
            parent = NULL;
        if (parent == NULL)
            return CTL_EXIT_USAGE;
    }
    if ((ctx->format == CTL_FORMAT_TEXT || ctx->format == CTL_FORMAT_CSV) &&
        (table = ctl_table_create(ctx, res->columns)) == NULL)
        return ctl_fail("out of memory");
    ctl_method(res, res->list_method, method, sizeof method);
    do {
        ProtobufCMessage *req = ctl_msg_new(res->list_req), *resp = NULL;
        const ProtobufCFieldDescriptor *lf;
        rpcc_result result = {0};
        size_t n;
        ProtobufCMessage **items;
        const char *next;

        if (req == NULL) {
            rc = ctl_fail("out of memory");
            break;
        }
        if (parent != NULL)
            ctl_msg_set_string(req, "parent", parent);
        if (filter != NULL)
            ctl_msg_set_string(req, "filter", filter);
        if (order != NULL)
            ctl_msg_set_string(req, "order_by", order);
        if (token != NULL)
            ctl_msg_set_string(req, "page_token", token);
        ctl_msg_set_int32(req, "page_size",
                          limit > 0 && limit - seen < CTL_LIST_PAGE ? (int32_t)(limit - seen)
                                                                    : CTL_LIST_PAGE);
        if (ctl_unary(ctx, method, req, res->list_resp, &resp, &result) != GRPC_STATUS_OK) {
            char what[96];
            snprintf(what, sizeof what, "list %s", res->collection);
            rc = ctl_call_failed(ctx, what, &result);
            ctl_msg_free(req);
            rpcc_result_free(&result);
            break;
        }
        lf = ctl_field(resp, res->list_field);
        n = *(const size_t *)((const char *)resp + lf->quantifier_offset);
        items = *(ProtobufCMessage ***)((char *)resp + lf->offset);
        for (size_t i = 0; i < n && (limit == 0 || seen < limit); i++, seen++) {
            if (table != NULL)
                ctl_table_add(table, items[i]);
            else if ((rc = ctl_print_message(ctx, items[i], 0)) != CTL_EXIT_OK)
                break;
        }
        ctl_table_flush(table);
        fflush(stdout);
        next = ctl_msg_get_string(resp, "next_page_token");
        free(token);
        token = next != NULL && next[0] != '\0' ? strdup(next) : NULL;
        ctl_msg_free(resp);
        ctl_msg_free(req);
        rpcc_result_free(&result);
    } while (rc == CTL_EXIT_OK && token != NULL && (limit == 0 || seen < limit));
    if (rc == CTL_EXIT_OK && seen == 0 && ctx->format == CTL_FORMAT_TEXT)
        fprintf(stderr, "No %s found.\n", res->collection);
    ctl_table_destroy(table);
    free(token);
    free(parent);
    return rc;
}

/* ---- get ---- */

/* GETs name; *out on success. Returns 0 or an exit status after printing. */
static int ctl_get(ctl_ctx *ctx, const ctl_resource *res, const char *name,
                   ProtobufCMessage **out)
{
    ProtobufCMessage *req = ctl_msg_new(res->get_req);
    rpcc_result result = {0};
    char method[CTL_METHOD_MAX], what[160];
    int rc = CTL_EXIT_OK;

    if (req == NULL)
        return ctl_fail("out of memory");
    ctl_msg_set_string(req, "name", name);
    ctl_method(res, res->get_method, method, sizeof method);
    if (ctl_unary(ctx, method, req, res->msg, out, &result) != GRPC_STATUS_OK) {
        snprintf(what, sizeof what, "get %s", name);
        rc = ctl_call_failed(ctx, what, &result);
    }
    rpcc_result_free(&result);
    ctl_msg_free(req);
    return rc;
}

int ctl_run_get(ctl_ctx *ctx, int argc, char **argv)
{
    const ctl_resource *res = ctx->cmd->data;
    ProtobufCMessage *m = NULL;
    int used, rc;
    char *name = ctl_name_from_args(ctx, res, argc, argv, &used);

    if (name == NULL)
        return CTL_EXIT_USAGE;
    if (used != argc) {
        free(name);
        return ctl_usage_error(ctx->cmd, "unexpected argument \"%s\"", argv[used]);
    }
    if (ctl_option_value(ctx, "watch") != NULL) /* ctl_changes.c */
        rc = ctl_watch_get(ctx, res, name);
    else if ((rc = ctl_get(ctx, res, name, &m)) == CTL_EXIT_OK)
        rc = ctl_print_message(ctx, m, 1);
    ctl_msg_free(m);
    free(name);
    return rc;
}

/* ---- create ---- */

int ctl_run_create(ctl_ctx *ctx, int argc, char **argv)
{
    const ctl_resource *res = ctx->cmd->data;
    const char *id = ctl_option_value(ctx, "id");
    char method[CTL_METHOD_MAX], rid[CTL_UUID_LEN + 1], missing[256] = "", what[96];
    ProtobufCMessage *req = NULL, *msg = NULL, *resp = NULL;
    rpcc_result result = {0};
    char *parent = NULL;
    json_t *obj;
    int rc;

    if (res->parent != NULL) {
        if (argc < 1)
            return ctl_usage_error(ctx->cmd, "missing the %s", "DONOR");
        if ((parent = ctl_resource_name(ctx, res->parent, argv[0])) == NULL)
            return CTL_EXIT_USAGE;
    }
    if ((obj = ctl_input(ctx, res->msg, &rc)) == NULL)
        goto cleanup;
    for (int i = 0; res->create_required != NULL && res->create_required[i] != NULL; i++) {
        const char *f = res->create_required[i];
        if (json_object_get(obj, f) == NULL || json_is_null(json_object_get(obj, f))) {
            char opt[64];
            snprintf(opt, sizeof opt, "%s--%s", missing[0] ? ", " : "", f);
            for (char *p = opt; *p != '\0'; p++)
                if (*p == '_')
                    *p = '-';
            strncat(missing, opt, sizeof missing - strlen(missing) - 1);
        }
    }
    if (missing[0] != '\0') {
        rc = ctl_usage_error(ctx->cmd, "missing required %s", missing);
        goto cleanup;
    }
    rc = CTL_EXIT_USAGE;
    if ((msg = ctl_json_message(ctx, obj, res->msg)) == NULL)
        goto cleanup;
    if ((req = ctl_msg_new(res->create_req)) == NULL) {
        rc = ctl_fail("out of memory");
        goto cleanup;
    }
    ctl_msg_take_message(req, res->create_field, msg);
    msg = NULL;
    if (parent != NULL)
        ctl_msg_set_string(req, "parent", parent);
    if (id != NULL)
        ctl_msg_set_string(req, res->id_field, id);
    ctl_set_request_id(ctx, req, rid);
    ctl_method(res, res->create_method, method, sizeof method);
    if (ctl_unary(ctx, method, req, res->create_resp, &resp, &result) != GRPC_STATUS_OK) {
        snprintf(what, sizeof what, "create %s", res->singular);
        rc = ctl_write_failed(ctx, what, NULL, &result, rid);
        goto cleanup;
    }
    rc = ctl_print_result(ctx, resp);
cleanup:
    json_decref(obj);
    ctl_msg_free(msg);
    ctl_msg_free(req);
    ctl_msg_free(resp);
    rpcc_result_free(&result);
    free(parent);
    return rc;
}

/* ---- update ---- */

static int ctl_updatable(const ctl_resource *res, const char *field)
{
    for (int i = 0; res->updatable[i] != NULL; i++)
        if (strcmp(res->updatable[i], field) == 0)
            return 1;
    return 0;
}

/* Builds the FieldMask message from paths. */
static ProtobufCMessage *ctl_field_mask(const ProtobufCMessageDescriptor *req_desc,
                                        char **paths, size_t n)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(req_desc, "update_mask");
    ProtobufCMessage *mask = ctl_msg_new(f->descriptor);
    const ProtobufCFieldDescriptor *pf;

    if (mask == NULL)
        return NULL;
    pf = ctl_field(mask, "paths");
    *(char ***)((char *)mask + pf->offset) = paths;
    *(size_t *)((char *)mask + pf->quantifier_offset) = n;
    return mask;
}

/* Update: GET the resource, compare the fields given with it, send only
 * those that differ with the etag read (or the one -f gives), and say so
 * when nothing differs instead of writing a no-op (the server would still
 * bump etag and update_time). */
int ctl_run_update(ctl_ctx *ctx, int argc, char **argv)
{
    const ctl_resource *res = ctx->cmd->data;
    ProtobufCMessage *cur = NULL, *want = NULL, *req = NULL, *resp = NULL;
    json_t *obj = NULL, *cur_j = NULL, *want_j = NULL, *v;
    rpcc_result result = {0};
    char method[CTL_METHOD_MAX], err[PBJSON_ERROR_MAX], what[160];
    const char *key, *given_etag = NULL, *cur_etag;
    char **paths = NULL;
    size_t npaths = 0;
    int used, rc;
    char *name = ctl_name_from_args(ctx, res, argc, argv, &used);

    if (name == NULL)
        return CTL_EXIT_USAGE;
    if (used != argc) {
        rc = ctl_usage_error(ctx->cmd, "unexpected argument \"%s\"", argv[used]);
        goto cleanup;
    }
    if ((obj = ctl_input(ctx, res->msg, &rc)) == NULL)
        goto cleanup;
    if (json_object_size(obj) == 0) {
        rc = ctl_usage_error(ctx->cmd, "nothing to change: give fields as flags or with -f");
        goto cleanup;
    }
    rc = CTL_EXIT_USAGE;
    if ((want = ctl_json_message(ctx, obj, res->msg)) == NULL)
        goto cleanup;
    if (json_is_string(json_object_get(obj, "name")) &&
        strcmp(json_string_value(json_object_get(obj, "name")), name) != 0) {
        rc = ctl_usage_error(ctx->cmd, "the input names %s, the command %s",
                             json_string_value(json_object_get(obj, "name")), name);
        goto cleanup;
    }
    if (json_is_string(json_object_get(obj, "etag")))
        given_etag = json_string_value(json_object_get(obj, "etag"));
    if ((rc = ctl_get(ctx, res, name, &cur)) != CTL_EXIT_OK)
        goto cleanup;
    cur_etag = ctl_msg_get_string(cur, "etag");
    if (given_etag != NULL && given_etag[0] != '\0' && cur_etag != NULL &&
        strcmp(given_etag, cur_etag) != 0) {
        fprintf(stderr, CTL_PROG ": %s changed since you read it; run the command again\n",
                name);
        rc = CTL_EXIT_CONFLICT;
        goto cleanup;
    }
    if (pbjson_to_json(cur, PBJSON_EMIT_DEFAULTS | PBJSON_PROTO_NAMES, &cur_j, err,
                       sizeof err) != 0 ||
        pbjson_to_json(want, PBJSON_EMIT_DEFAULTS | PBJSON_PROTO_NAMES, &want_j, err,
                       sizeof err) != 0) {
        rc = ctl_fail("%s", err);
        goto cleanup;
    }
    if ((paths = calloc(json_object_size(obj) + 1, sizeof *paths)) == NULL) {
        rc = ctl_fail("out of memory");
        goto cleanup;
    }
    json_object_foreach(obj, key, v) {
        json_t *a = json_object_get(want_j, key), *b = json_object_get(cur_j, key);
        int same = (a == NULL && b == NULL) || (a != NULL && b != NULL && json_equal(a, b));

        (void)v;
        if (strcmp(key, "name") == 0 || strcmp(key, "etag") == 0)
            continue;
        if (!ctl_updatable(res, key)) {
            if (!same) {
                rc = ctl_usage_error(ctx->cmd, "%s cannot be changed (output only or "
                                     "immutable)", key);
                goto cleanup;
            }
            continue; /* e.g. create_time from 'get -o json': unchanged, ignored */
        }
        if (!same && (paths[npaths] = strdup(key)) != NULL)
            npaths++;
    }
    if (npaths == 0) {
        fprintf(stderr, CTL_PROG ": %s: no changes; nothing sent\n", name);
        rc = ctl_print_message(ctx, cur, 1);
        goto cleanup;
    }
    ctl_msg_set_string(want, "name", name);
    ctl_msg_set_string(want, "etag", given_etag != NULL && given_etag[0] != '\0'
                                         ? given_etag
                                         : (cur_etag != NULL ? cur_etag : ""));
    if ((req = ctl_msg_new(res->update_req)) == NULL) {
        rc = ctl_fail("out of memory");
        goto cleanup;
    }
    ctl_msg_take_message(req, res->singular, want);
    want = NULL;
    ctl_msg_take_message(req, "update_mask", ctl_field_mask(res->update_req, paths, npaths));
    paths = NULL; /* owned by the mask */
    ctl_method(res, res->update_method, method, sizeof method);
    if (ctl_unary(ctx, method, req, res->msg, &resp, &result) != GRPC_STATUS_OK) {
        snprintf(what, sizeof what, "update %s", name);
        rc = ctl_write_failed(ctx, what, name, &result, NULL);
        goto cleanup;
    }
    rc = ctl_print_result(ctx, resp);
cleanup:
    if (paths != NULL) {
        for (size_t i = 0; i < npaths; i++)
            free(paths[i]);
        free(paths);
    }
    json_decref(obj);
    json_decref(cur_j);
    json_decref(want_j);
    ctl_msg_free(cur);
    ctl_msg_free(want);
    ctl_msg_free(req);
    ctl_msg_free(resp);
    rpcc_result_free(&result);
    free(name);
    return rc;
}

/* ---- custom methods ---- */

int ctl_run_action(ctl_ctx *ctx, int argc, char **argv)
{
    const ctl_action *act = ctx->cmd->data;
    const ctl_resource *res = act->res;
    const char *reason = ctl_option_value(ctx, "reason");
    const char *etag = ctl_option_value(ctx, "etag");
    char method[CTL_METHOD_MAX], rid[CTL_UUID_LEN + 1] = "", what[160];
    ProtobufCMessage *req = NULL, *resp = NULL;
    rpcc_result result = {0};
    int used, rc;
    char *name = ctl_name_from_args(ctx, res, argc, argv, &used);

    if (name == NULL)
        return CTL_EXIT_USAGE;
    if (used != argc && ctl_option_value(ctx, "evidence") == NULL) {
        rc = ctl_usage_error(ctx->cmd, "unexpected argument \"%s\"", argv[used]);
        goto cleanup;
    }
    if (act->reason_required && (reason == NULL || reason[0] == '\0')) {
        rc = ctl_usage_error(ctx->cmd, "missing required --reason");
        goto cleanup;
    }
    if ((req = ctl_msg_new(act->req)) == NULL) {
        rc = ctl_fail("out of memory");
        goto cleanup;
    }
    ctl_msg_set_string(req, "name", name);
    if (reason != NULL)
        ctl_msg_set_string(req, "reason", reason);
    if (ctl_option_value(ctx, "evidence") != NULL || ctl_option_value(ctx, "note") != NULL) {
        if ((rc = ctl_evidence_attach(ctx, req, argv + used, argc - used)) != 0)
            goto cleanup;
    }
    if (etag != NULL)
        ctl_msg_set_string(req, "etag", etag);
    if (ctl_option_value(ctx, "allow-overfunding") != NULL)
        ctl_msg_set_bool(req, "allow_overfunding", 1);
    if (ctl_field(req, "request_id") != NULL)
        ctl_set_request_id(ctx, req, rid);
    ctl_method(res, act->method, method, sizeof method);
    if (ctl_unary(ctx, method, req, act->resp, &resp, &result) != GRPC_STATUS_OK) {
        snprintf(what, sizeof what, "%s %s", ctx->cmd->verb, name);
        rc = ctl_write_failed(ctx, what, name, &result, rid);
        goto cleanup;
    }
    rc = ctl_print_result(ctx, resp);
cleanup:
    ctl_msg_free(req);
    ctl_msg_free(resp);
    rpcc_result_free(&result);
    free(name);
    return rc;
}

/* ---- suggest ---- */

int ctl_run_suggest(ctl_ctx *ctx, int argc, char **argv)
{
    static const ctl_column cols[] = {
        {"DONOR", "donor", 0},     {"DISPLAY NAME", "donor_display_name", 30},
        {"SCORE", "score", 0},     {"PLEDGE", "pledge", 0},
        {"AVAILABLE", "available", 0}, {"REASONS", "reasons", 0},
        {NULL, NULL, 0},
    };
    const ctl_resource *res = ctx->cmd->data;
    const char *max = ctl_option_value(ctx, "max");
    ProtobufCMessage *req = NULL, *resp = NULL;
    rpcc_result result = {0};
    char method[CTL_METHOD_MAX], *end;
    int rc = CTL_EXIT_OK;
    char *need = ctl_resource_name(ctx, "needs", argv[0]);
    long n = 0;

    (void)argc;
    if (need == NULL)
        return CTL_EXIT_USAGE;
    if (max != NULL && ((n = strtol(max, &end, 10)) < 1 || *end != '\0' || n > 100)) {
        free(need);
        return ctl_usage_error(ctx->cmd, "--max wants 1 to 100, not \"%s\"", max);
    }
    if ((req = ctl_msg_new(&tallinn__v1__suggest_matches_request__descriptor)) == NULL) {
        free(need);
        return ctl_fail("out of memory");
    }
    ctl_msg_set_string(req, "need", need);
    ctl_msg_set_int32(req, "max_suggestions", (int32_t)n);
    ctl_method(res, "SuggestMatches", method, sizeof method);
    if (ctl_unary(ctx, method, req, &tallinn__v1__suggest_matches_response__descriptor, &resp,
                  &result) != GRPC_STATUS_OK) {
        rc = ctl_call_failed(ctx, "suggest", &result);
        goto cleanup;
    }
    if (ctx->format == CTL_FORMAT_JSON) {
        rc = ctl_print_message(ctx, resp, 1);
    } else {
        const Tallinn__V1__SuggestMatchesResponse *r = (const void *)resp;
        ctl_table *t = ctx->format != CTL_FORMAT_NAME ? ctl_table_create(ctx, cols) : NULL;

        for (size_t i = 0; i < r->n_suggestions; i++) {
            if (t != NULL)
                ctl_table_add(t, &r->suggestions[i]->base);
            else
                puts(r->suggestions[i]->donor);
        }
        ctl_table_flush(t);
        ctl_table_destroy(t);
        if (r->n_suggestions == 0 && ctx->format == CTL_FORMAT_TEXT)
            fprintf(stderr, "No donors to suggest for %s.\n", need);
    }
cleanup:
    ctl_msg_free(req);
    ctl_msg_free(resp);
    rpcc_result_free(&result);
    free(need);
    return rc;
}
