/* fuzz_requests.c — the decode-and-validate path of every request message of
 * the tallinn.v1 services. Byte 0 picks a method (the input message of each
 * method of DonorService, NeedService, MatchService, ReportService,
 * PrincipalService, AuditService, ChangeService and ExchangeRateService, in
 * descriptor order); the rest is the
 * request as it would arrive on the wire.
 *
 * The handlers' own checks (check_need and friends) are static and need an
 * rpc_call, so this target drives the same building blocks generically from
 * the descriptors, the way the handlers use them:
 *   - protobuf_c_message_unpack, protobuf_c_message_check, and a stable
 *     re-encoding (pack(unpack(pack(m))) == pack(m));
 *   - the RPC runtime's text check of the wire bytes (rpc_wire.c): when it
 *     passes them, every unpacked string is valid UTF-8;
 *   - every string field through the validate_* function its name calls for
 *     (request_id: validate_uuid; *_id: validate_resource_id; resource names:
 *     validate_name_parse on every pattern of the API, with the parsed ids
 *     rebuilding the name; country, currency, e-mail, certificate identity;
 *     every other string: validate_text with the field's documented limit);
 *   - every Money through validate_money and the nanos arithmetic, every Date
 *     through validate_date, every enum as api_check_enum checks it;
 *   - List requests as api_list runs them: filter_parse and
 *     filter_order_parse on the store's real schema, canonical forms, the
 *     store's SQL for the first page and every seek arm (store_sql_list),
 *     the page-token binding and pagetoken_decode of page_token. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "store/store_sql.h"
#include "tallinn/filter.h"
#include "tallinn/pagetoken.h"
#include "tallinn/rpc_wire.h"
#include "tallinn/store.h"
#include "tallinn/v1/audit.pb-c.h"
#include "tallinn/v1/change.pb-c.h"
#include "tallinn/v1/common.pb-c.h"
#include "tallinn/v1/donor.pb-c.h"
#include "tallinn/v1/match.pb-c.h"
#include "tallinn/v1/need.pb-c.h"
#include "tallinn/v1/principal.pb-c.h"
#include "tallinn/v1/rate.pb-c.h"
#include "tallinn/v1/report.pb-c.h"
#include "tallinn/currency.h"
#include "tallinn/validate.h"

static const ProtobufCServiceDescriptor *const SERVICES[] = {
    &tallinn__v1__donor_service__descriptor,  &tallinn__v1__need_service__descriptor,
    &tallinn__v1__match_service__descriptor,  &tallinn__v1__report_service__descriptor,
    &tallinn__v1__principal_service__descriptor, &tallinn__v1__audit_service__descriptor,
    &tallinn__v1__change_service__descriptor, &tallinn__v1__exchange_rate_service__descriptor,
};
#define NSERVICES (sizeof SERVICES / sizeof SERVICES[0])

#define MAX_METHODS 128
static const ProtobufCMethodDescriptor *methods[MAX_METHODS];
static size_t nmethods;

static const uint8_t PAGE_KEY[PAGETOKEN_KEYBYTES] = "fuzz-requests-page-key-abcdefghi";
static const char *const CURRENCY = "EUR";

/* The resource-name patterns of the API (api_check_name in the handlers). */
static const char *const PATTERNS[] = {
    "donors/{donor}", "donors/{donor}/pledges/{pledge}", "needs/{need}", "matches/{match}",
    "principals/{principal}", "exchangeRates/{exchange_rate}",
};

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_requests: check failed: %s\n", what);
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    check(sodium_init() >= 0, "sodium_init");
    for (size_t s = 0; s < NSERVICES; s++)
        for (unsigned m = 0; m < SERVICES[s]->n_methods; m++) {
            check(nmethods < MAX_METHODS, "too many methods");
            methods[nmethods++] = &SERVICES[s]->methods[m];
        }
    for (int k = 0; k < STORE_KIND_COUNT; k++)
        check(store_filter_schema((store_kind)k) != NULL, "store schema");
    return 0;
}

/* ---- Strings ---- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int is_name_field(const char *f)
{
    static const char *const names[] = {"name", "parent", "need", "donor", "pledge",
                                        "implementer", "principal", NULL};
    for (const char *const *n = names; *n != NULL; n++)
        if (strcmp(f, *n) == 0)
            return 1;
    return 0;
}

/* Rebuilds a name from a pattern and its ids. */
static void build_name(const char *pattern, char ids[][VALIDATE_ID_BUF], char *out, size_t cap)
{
    size_t n = 0, k = 0;
    const char *p = pattern;

    while (*p != '\0' && n + 1 < cap) {
        if (*p == '{') {
            const char *id = ids[k++];
            size_t l = strlen(id);
            if (n + l >= cap)
                break;
            memcpy(out + n, id, l);
            n += l;
            p = strchr(p, '}') + 1;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
}

static void check_name(const char *s, size_t len)
{
    char ids[4][VALIDATE_ID_BUF], again[2 * VALIDATE_NAME_MAX + 8];

    for (size_t i = 0; i < sizeof PATTERNS / sizeof PATTERNS[0]; i++)
        for (unsigned flags = 0; flags <= VALIDATE_NAME_WILDCARD; flags++) {
            int rc = validate_name_parse(PATTERNS[i], s, len, flags, ids, 4);
            check(rc <= 0 && rc != VALIDATE_ERR_ARG, "validate_name_parse result");
            if (rc != VALIDATE_OK)
                continue;
            check(len <= VALIDATE_NAME_MAX, "a valid name is short");
            build_name(PATTERNS[i], ids, again, sizeof again);
            check(strlen(again) == len && memcmp(again, s, len) == 0, "ids rebuild the name");
            for (size_t k = 0; k < 2; k++) {
                if (k == 1 && strstr(PATTERNS[i], "{pledge}") == NULL)
                    break;
                if (strcmp(ids[k], "-") == 0)
                    check(flags & VALIDATE_NAME_WILDCARD, "wildcard only when asked for");
                else
                    check(validate_resource_id(ids[k], strlen(ids[k])) == VALIDATE_OK,
                          "a parsed id is a valid id");
            }
        }
}

typedef struct text_limit {
    const char *field;
    size_t max;
    unsigned flags;
} text_limit;

/* Documented limits (validate.h); anything else gets the longest. */
static const text_limit LIMITS[] = {
    {"display_name", VALIDATE_DISPLAY_NAME_MAX, VALIDATE_TEXT_REQUIRED},
    {"donor_display_name", VALIDATE_DISPLAY_NAME_MAX, 0},
    {"title", VALIDATE_TITLE_MAX, VALIDATE_TEXT_REQUIRED},
    {"beneficiary", VALIDATE_BENEFICIARY_MAX, VALIDATE_TEXT_REQUIRED},
    {"region", VALIDATE_REGION_MAX, VALIDATE_TEXT_REQUIRED},
    {"description", VALIDATE_DESCRIPTION_MAX, VALIDATE_TEXT_REQUIRED | VALIDATE_TEXT_MULTILINE},
    {"reason", VALIDATE_REASON_MAX, VALIDATE_TEXT_MULTILINE},
    {"overfunding_reason", VALIDATE_REASON_MAX, VALIDATE_TEXT_MULTILINE},
    {"state_reason", VALIDATE_REASON_MAX, VALIDATE_TEXT_MULTILINE},
    {"source", VALIDATE_SOURCE_MAX, 0},
};

static void check_text(const char *field, const char *s, size_t len)
{
    size_t max = VALIDATE_DESCRIPTION_MAX, off = 0, uoff = 0;
    unsigned flags = VALIDATE_TEXT_MULTILINE;
    int rc, ru;

    for (size_t i = 0; i < sizeof LIMITS / sizeof LIMITS[0]; i++)
        if (strcmp(field, LIMITS[i].field) == 0) {
            max = LIMITS[i].max;
            flags = LIMITS[i].flags;
        }
    for (unsigned f = 0; f < 2; f++) {
        unsigned fl = f == 0 ? flags : (flags ^ VALIDATE_TEXT_MULTILINE);
        rc = validate_text(s, len, max, fl, &off);
        check(rc == VALIDATE_OK || rc == VALIDATE_ERR_EMPTY || rc == VALIDATE_ERR_UTF8 ||
                  rc == VALIDATE_ERR_CONTROL || rc == VALIDATE_ERR_TOO_LONG,
              "validate_text result");
        check(rc == VALIDATE_OK || rc == VALIDATE_ERR_EMPTY || off <= len, "bad offset in range");
        ru = validate_utf8(s, len, &uoff);
        check(ru == VALIDATE_OK || ru == VALIDATE_ERR_UTF8, "validate_utf8 result");
        if (rc == VALIDATE_OK)
            check(ru == VALIDATE_OK, "valid text is valid UTF-8");
        if (ru != VALIDATE_OK && rc == VALIDATE_ERR_UTF8)
            check(uoff == off, "same offset for bad UTF-8");
        check(strlen(validate_strerror(rc)) > 0, "strerror");
    }
}

static void check_string(const char *field, const char *s)
{
    size_t len = strlen(s); /* protobuf-c strings end at their first NUL */
    char canon[VALIDATE_UUID_LEN + 1];
    int rc;

    if (strcmp(field, "request_id") == 0) {
        rc = validate_uuid(s, len, canon);
        check(rc == VALIDATE_OK || rc == VALIDATE_ERR_EMPTY || rc == VALIDATE_ERR_SYNTAX,
              "validate_uuid result");
        if (rc == VALIDATE_OK) {
            check(strlen(canon) == VALIDATE_UUID_LEN && strcasecmp(canon, s) == 0, "uuid canon");
            check(validate_uuid(canon, VALIDATE_UUID_LEN, NULL) == VALIDATE_OK, "canon is a uuid");
        }
    } else if (ends_with(field, "_id")) {
        rc = validate_resource_id(s, len);
        check(rc == VALIDATE_OK || rc == VALIDATE_ERR_EMPTY || rc == VALIDATE_ERR_TOO_LONG ||
                  rc == VALIDATE_ERR_SYNTAX,
              "validate_resource_id result");
        if (rc == VALIDATE_OK)
            check(len <= VALIDATE_ID_MAX && s[0] >= 'a' && s[0] <= 'z', "valid id shape");
    } else if (is_name_field(field)) {
        check_name(s, len);
    } else if (strcmp(field, "country_code") == 0) {
        rc = validate_country_code(s, len);
        check(rc <= 0 && rc >= VALIDATE_ERR_UNKNOWN, "validate_country_code result");
    } else if (strcmp(field, "currency_code") == 0) {
        rc = validate_currency_code(s, len);
        check(rc <= 0 && rc >= VALIDATE_ERR_UNKNOWN, "validate_currency_code result");
        if (currency_minor_units(s, len) >= 0)
            check(rc == VALIDATE_OK, "a listed currency has the shape of one");
    } else if (strcmp(field, "rate") == 0) {
        int64_t r = 0;
        rc = validate_rate(s, len, &r);
        check(rc == VALIDATE_OK || rc == VALIDATE_ERR_EMPTY || rc == VALIDATE_ERR_SYNTAX ||
                  rc == VALIDATE_ERR_NOT_POSITIVE || rc == VALIDATE_ERR_RANGE,
              "validate_rate result");
        if (rc == VALIDATE_OK)
            check(r > 0 && r <= VALIDATE_RATE_MAX_UNITS * VALIDATE_NANOS_PER_UNIT, "rate range");
    } else if (strcmp(field, "contact_email") == 0) {
        rc = validate_email(s, len);
        check(rc <= 0 && rc >= VALIDATE_ERR_UNKNOWN, "validate_email result");
        if (rc == VALIDATE_OK)
            check(len <= VALIDATE_EMAIL_MAX && strchr(s, '@') != NULL, "valid e-mail shape");
    } else if (strcmp(field, "cert_identity") == 0) {
        rc = validate_cert_identity(s, len);
        check(rc <= 0 && rc >= VALIDATE_ERR_UNKNOWN, "validate_cert_identity result");
    } else if (strcmp(field, "filter") != 0 && strcmp(field, "order_by") != 0 &&
               strcmp(field, "page_token") != 0 && strcmp(field, "etag") != 0) {
        check_text(field, s, len);
    }
}

/* ---- Money and dates ---- */

static void check_money(const Tallinn__V1__Money *m)
{
    static const unsigned FLAGS[] = {0, VALIDATE_MONEY_POSITIVE, VALIDATE_MONEY_NONNEGATIVE,
                                     VALIDATE_MONEY_POSITIVE | VALIDATE_MONEY_ANY_CURRENCY};
    char buf[VALIDATE_MONEY_FORMAT_MAX];
    int64_t total = 0, units, sum;
    int32_t nanos;

    for (size_t i = 0; i < sizeof FLAGS / sizeof FLAGS[0]; i++) {
        int rc = validate_money(m->currency_code, m->units, m->nanos, CURRENCY, FLAGS[i], &total);
        check(rc <= 0 && rc != VALIDATE_ERR_ARG, "validate_money result");
        if (rc != VALIDATE_OK)
            continue;
        validate_money_from_nanos(total, &units, &nanos);
        check(units == m->units && nanos == m->nanos, "nanos round trip");
        {
            /* no more decimals than the currency's minor units */
            int minor = currency_minor_units(m->currency_code, strlen(m->currency_code));
            int32_t step = 1;
            check(minor >= 0, "a valid amount is in a listed currency");
            for (int k = minor; k < 9; k++)
                step *= 10;
            check(nanos % step == 0, "a valid amount has its currency's decimals");
        }
        check(validate_money_format(total, CURRENCY, buf, sizeof buf) == VALIDATE_OK,
              "VALIDATE_MONEY_FORMAT_MAX suffices");
        check(validate_money_add(total, total, &sum) == VALIDATE_OK, "sum of two valid amounts");
        check(validate_money_sub(sum, total, &sum) == VALIDATE_OK && sum == total, "sub");
    }
    /* Arithmetic on unchecked values must not overflow silently. */
    if (validate_money_to_nanos(m->units, m->nanos, &total) == VALIDATE_OK) {
        check(validate_money_format(total, NULL, buf, sizeof buf) == VALIDATE_OK, "format any");
        if (validate_money_add(total, INT64_MAX / 2, &sum) == VALIDATE_OK)
            check(total <= INT64_MAX - INT64_MAX / 2, "add overflow detected");
    }
}

static void check_date(const Tallinn__V1__Date *d)
{
    int rc = validate_date(d->year, d->month, d->day);
    check(rc == VALIDATE_OK || rc == VALIDATE_ERR_RANGE, "validate_date result");
    if (rc == VALIDATE_OK)
        check(d->year >= 1 && d->year <= 9999 && d->month >= 1 && d->month <= 12 &&
                  d->day >= 1 && d->day <= 31,
              "valid date range");
}

/* ---- The generic walk ---- */

/* Set when the runtime's wire check (rpc_wire.c) passed the input: then no
 * string may have been cut short or be invalid UTF-8 after unpack. */
static int text_clean;

static void walk(const ProtobufCMessage *m, int depth)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;

    check(depth < 100, "nesting");
    if (d == &tallinn__v1__money__descriptor)
        check_money((const Tallinn__V1__Money *)m);
    if (d == &tallinn__v1__date__descriptor)
        check_date((const Tallinn__V1__Date *)m);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m + f->offset;
        size_t n = 1;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)((const char *)m + f->quantifier_offset);
            base = *(const char *const *)base;
        }
        for (size_t j = 0; j < n; j++) {
            switch (f->type) {
            case PROTOBUF_C_TYPE_STRING: {
                const char *s = ((const char *const *)base)[j];
                check(s != NULL, "strings are never NULL after unpack");
                check(!text_clean || validate_utf8(s, strlen(s), NULL) == VALIDATE_OK,
                      "a string the wire check passed is valid UTF-8 after unpack");
                check_string(f->name, s);
                break;
            }
            case PROTOBUF_C_TYPE_MESSAGE: {
                const ProtobufCMessage *sub = ((const ProtobufCMessage *const *)base)[j];
                if (sub != NULL)
                    walk(sub, depth + 1);
                break;
            }
            case PROTOBUF_C_TYPE_ENUM: {
                int v = ((const int *)base)[j];
                const ProtobufCEnumValue *ev =
                    protobuf_c_enum_descriptor_get_value(f->descriptor, v);
                check(ev == NULL || ev->value == v, "enum lookup");
                break;
            }
            default:
                break;
            }
        }
    }
}

/* Does m or a message inside it hold unknown fields? */
static int has_unknown(const ProtobufCMessage *m)
{
    if (m->n_unknown_fields > 0)
        return 1;
    for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &m->descriptor->fields[i];
        const char *base = (const char *)m + f->offset;
        size_t n = 1;
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)((const char *)m + f->quantifier_offset);
            base = *(const char *const *)base;
        }
        for (size_t j = 0; j < n; j++) {
            const ProtobufCMessage *sub = ((const ProtobufCMessage *const *)base)[j];
            if (sub != NULL && has_unknown(sub))
                return 1;
        }
    }
    return 0;
}

/* ---- List requests, as api_list runs them ---- */

static int list_kind(const char *method, store_kind *kind, const char **collection)
{
    static const struct {
        const char *method, *collection;
        store_kind kind;
    } LISTS[] = {
        {"ListDonors", "donors", STORE_DONOR},       {"ListPledges", "pledges", STORE_PLEDGE},
        {"ListNeeds", "needs", STORE_NEED},          {"ListMatches", "matches", STORE_MATCH},
        {"ListPrincipals", "principals", STORE_PRINCIPAL},
        {"ListExchangeRates", "exchangeRates", STORE_RATE},
    };
    for (size_t i = 0; i < sizeof LISTS / sizeof LISTS[0]; i++)
        if (strcmp(method, LISTS[i].method) == 0) {
            *kind = LISTS[i].kind;
            *collection = LISTS[i].collection;
            return 1;
        }
    return 0;
}

static const char *get_string(const ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    return *(const char *const *)((const char *)m + f->offset);
}

static void run_list(const ProtobufCMethodDescriptor *md, const ProtobufCMessage *m)
{
    const char *collection, *text = get_string(m, "filter"), *ob = get_string(m, "order_by");
    const char *token = get_string(m, "page_token"), *parent = get_string(m, "parent");
    const filter_schema *schema;
    store_kind kind;
    filter *f = NULL;
    filter_error err;
    filter_order order;
    char ocanon[FILTER_ORDER_MAX_LEN * 2];
    filter_value after[FILTER_ORDER_MAX_KEYS + 1];
    store_list_query q;
    store_sql *sql;
    uint8_t binding[PAGETOKEN_BINDINGBYTES];
    pagetoken *tok;
    int rc;

    if (!list_kind(md->name, &kind, &collection))
        return;
    check(text != NULL && ob != NULL && token != NULL, "List request fields");
    schema = store_filter_schema(kind);
    rc = filter_parse(schema, text, strlen(text), &f, &err);
    check(rc == FILTER_OK || rc == FILTER_ERR_INVALID, "filter_parse result");
    if (rc != FILTER_OK)
        return;
    if (ob[0] == '\0')
        ob = "create_time";
    rc = filter_order_parse(schema, ob, strlen(ob), &order, &err);
    check(rc == FILTER_OK || rc == FILTER_ERR_INVALID, "filter_order_parse result");
    if (rc == FILTER_OK) {
        /* api_list answers INTERNAL if any of these fails on a valid request. */
        check(filter_order_canonical(&order, ocanon, sizeof ocanon) == FILTER_OK,
              "order canonical fits api.c's buffer");
        check(filter_canonical(f) != NULL, "filter canonical");
        check(pagetoken_bind(collection, parent != NULL ? parent : "", filter_canonical(f),
                             ocanon, "principals/fuzz", binding) == PAGETOKEN_OK,
              "pagetoken_bind");
        /* The store renders every page of it: the first and each seek arm. */
        for (size_t k = 0; k < order.count; k++)
            after[k] = (filter_value){order.keys[k].field->type, 1, "x", 1};
        after[order.count] = (filter_value){FILTER_STRING, 0, "x", 1};
        q = (store_list_query){.kind = kind, .filter = f, .order = &order, .limit = 1001};
        sql = malloc(sizeof *sql);
        check(sql != NULL, "malloc");
        check(store_sql_list(store_engine_sqlite.dialect, &q, STORE_SQL_NO_SEEK, sql) == STORE_OK,
              "a first page renders");
        q.after = after;
        q.n_after = order.count + 1;
        for (size_t a = 0; a < store_sql_seek_arms(&order); a++)
            check(store_sql_list(store_engine_sqlite.dialect, &q, a, sql) == STORE_OK,
                  "a next page renders");
        free(sql);
        if (token[0] != '\0') {
            tok = malloc(sizeof *tok);
            check(tok != NULL, "malloc");
            rc = pagetoken_decode(token, strlen(token), PAGE_KEY, binding, 1750000000,
                                  PAGETOKEN_DEFAULT_MAX_AGE, tok);
            check(rc != PAGETOKEN_OK && rc != PAGETOKEN_ERR_WRONG_BINDING,
                  "a forged page token never authenticates");
            free(tok);
        }
    }
    filter_destroy(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const ProtobufCMethodDescriptor *md;
    ProtobufCMessage *m, *again;
    uint8_t *b1, *b2;
    size_t l1, l2;

    if (size == 0)
        return 0;
    md = methods[data[0] % nmethods];
    m = protobuf_c_message_unpack(md->input, NULL, size - 1, data + 1);
    if (m == NULL)
        return 0; /* the runtime answers INVALID_ARGUMENT */
    check(protobuf_c_message_check(m), "an unpacked message passes protobuf_c_message_check");

    l1 = protobuf_c_message_get_packed_size(m);
    b1 = malloc(l1 ? l1 : 1);
    check(b1 != NULL && protobuf_c_message_pack(m, b1) == l1, "pack");
    /* libprotobuf-c 1.4 keeps an unknown field of number 0 when its tag is
     * an overlong varint, and re-encodes it in a form it then refuses: only
     * messages without unknown fields must re-encode stably. The handlers
     * never copy unknown fields into what they store. */
    again = protobuf_c_message_unpack(md->input, NULL, l1, b1);
    if (!has_unknown(m)) {
        check(again != NULL, "a packed message unpacks");
        l2 = protobuf_c_message_get_packed_size(again);
        b2 = malloc(l2 ? l2 : 1);
        check(b2 != NULL && protobuf_c_message_pack(again, b2) == l2, "pack again");
        check(l1 == l2 && memcmp(b1, b2, l1) == 0, "re-encoding is stable");
        free(b2);
    }

    /* The runtime checks the text of the same bytes before any handler. */
    {
        int bad = rpc_wire_check_text(md->input, data + 1, size - 1, NULL, NULL);
        check(bad >= -1, "rpc_wire_check_text returns a count or -1");
        text_clean = bad == 0;
    }
    walk(m, 0);
    run_list(md, m);

    free(b1);
    if (again != NULL)
        protobuf_c_message_free_unpacked(again, NULL);
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}
