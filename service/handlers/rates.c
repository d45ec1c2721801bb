/* rates.c — ExchangeRateService: the exchange rates the back office keeps,
 * and valuing a pledge's or a match's amount in the accounting currency at
 * a kept rate or one given with the call (domain.h: rates_*). The
 * arithmetic is the ledger's (ledger_convert: exact, half to even). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "domain.h"
#include "tallinn/currency.h"
#include "tallinn/v1/rate.pb-c.h"
#include "tallinn/validate.h"

#define SECONDS_PER_DAY 86400
#define RATE_SOURCE_MAX 200
#define AMOUNT_MAX_NANOS ((int64_t)VALIDATE_MONEY_MAX_UNITS * VALIDATE_NANOS_PER_UNIT)

/* ---- Checking a rate ---- */

/* The fields of a rate a client sends (kept, or given with a call):
 * currency_code (want: the amount's, or NULL for any but the accounting
 * currency), rate, rate_date, source. Violations on prefix.*. */
static void check_rate(rpc_call *call, const api *a, const char *prefix,
                       const Tallinn__V1__ExchangeRate *r, const char *want)
{
    char f[96];
    const char *cur = r->currency_code;
    int rc;

    snprintf(f, sizeof(f), "%s.currency_code", prefix);
    if (validate_currency_code(cur, strlen(cur)) != VALIDATE_OK ||
        currency_minor_units(cur, strlen(cur)) < 0)
        api_violation(call, f, "not an active ISO 4217 currency with minor units (e.g. USD)");
    else if (strcmp(cur, a->currency) == 0)
        api_violation(call, f, "%s is the accounting currency: it needs no rate", cur);
    else if (want != NULL && strcmp(cur, want) != 0)
        api_violation(call, f, "must be %s, the amount's currency", want);
    snprintf(f, sizeof(f), "%s.rate", prefix);
    rc = validate_rate(r->rate, strlen(r->rate), NULL);
    if (rc == VALIDATE_ERR_EMPTY)
        api_violation(call, f, "required: units of the currency per 1 %s, e.g. \"1.0850\"",
                      a->currency);
    else if (rc == VALIDATE_ERR_NOT_POSITIVE)
        api_violation(call, f, "must be greater than zero");
    else if (rc == VALIDATE_ERR_RANGE)
        api_violation(call, f, "at most 1000000000");
    else if (rc != VALIDATE_OK)
        api_violation(call, f, "a plain decimal with at most 9 decimals, e.g. \"1.0850\"");
    snprintf(f, sizeof(f), "%s.rate_date", prefix);
    if (r->rate_date == NULL)
        api_violation(call, f, "required");
    else if (validate_date(r->rate_date->year, r->rate_date->month, r->rate_date->day) !=
             VALIDATE_OK)
        api_violation(call, f, "not a calendar date");
    snprintf(f, sizeof(f), "%s.source", prefix);
    api_check_text(call, f, r->source, RATE_SOURCE_MAX, VALIDATE_TEXT_REQUIRED);
}

int rates_check_given(rpc_call *call, const api *a, const char *field,
                      const Tallinn__V1__ExchangeRate *given, const Tallinn__V1__Money *amount)
{
    const char *cur = amount != NULL && amount->currency_code != NULL ? amount->currency_code : "";
    size_t before = rpc_call_field_violation_count(call);

    if (given == NULL)
        return 1;
    if (strcmp(cur, a->currency) == 0)
        api_violation(call, field, "must be unset: the amount is in %s, the accounting currency",
                      a->currency);
    else
        check_rate(call, a, field, given, cur);
    return rpc_call_field_violation_count(call) == before;
}

/* ---- Valuing an amount ---- */

static Tallinn__V1__Date *date_of(rpc_call *call, time_t t)
{
    Tallinn__V1__Date *d = rpc_call_alloc(call, sizeof(*d));
    struct tm tm;

    if (d == NULL || gmtime_r(&t, &tm) == NULL)
        return NULL;
    tallinn__v1__date__init(d);
    d->year = tm.tm_year + 1900;
    d->month = tm.tm_mon + 1;
    d->day = tm.tm_mday;
    return d;
}

static void date_text(const Tallinn__V1__Date *d, char out[16])
{
    snprintf(out, 16, "%04d-%02d-%02d", (int)d->year % 10000, (int)d->month % 100,
             (int)d->day % 100);
}

typedef struct found {
    Tallinn__V1__ExchangeRate *r;
} found;

static int take_first(ProtobufCMessage *m, void *ctx)
{
    ((found *)ctx)->r = (Tallinn__V1__ExchangeRate *)m;
    return 1;
}

/* The kept rate of currency for day: the latest dated from RATES_MAX_AGE_DAYS
 * before it to the day itself. STORE_NOT_FOUND when there is none. */
static int kept_rate(store_tx *tx, rpc_call *call, const char *currency, time_t day,
                     Tallinn__V1__ExchangeRate **out)
{
    const filter_schema *schema = store_filter_schema(STORE_RATE);
    Tallinn__V1__Date *to = date_of(call, day);
    Tallinn__V1__Date *from = date_of(call, day - (time_t)RATES_MAX_AGE_DAYS * SECONDS_PER_DAY);
    char text[160], a[16], b[16];
    filter *f = NULL;
    filter_order order;
    found got = {0};
    store_list_query q = {.kind = STORE_RATE, .limit = 1, .alloc = rpc_call_allocator(call)};
    int rc;

    if (schema == NULL || to == NULL || from == NULL)
        return STORE_NOMEM;
    date_text(from, a);
    date_text(to, b);
    /* Every value here is checked (a known currency code, dates from the
     * clock): the text is ours, not the caller's. */
    snprintf(text, sizeof(text), "currency_code = \"%s\" AND rate_date >= \"%s\" AND "
             "rate_date <= \"%s\"", currency, a, b);
    if (filter_parse(schema, text, strlen(text), &f, NULL) != FILTER_OK ||
        filter_order_parse(schema, "rate_date desc", strlen("rate_date desc"), &order, NULL) !=
            FILTER_OK) {
        filter_destroy(f);
        return STORE_ERROR;
    }
    q.filter = f;
    q.order = &order;
    rc = store_list(tx, &q, take_first, &got);
    filter_destroy(f);
    if (rc != STORE_OK)
        return rc;
    if (got.r == NULL)
        return STORE_NOT_FOUND;
    *out = got.r;
    return STORE_OK;
}

/* A kept rate a decision rests on becomes used, for good. */
static grpc_status_code mark_used(store_tx *tx, api_job *job, Tallinn__V1__ExchangeRate *r)
{
    ProtobufCMessage *resp = job->resp;
    grpc_status_code code;

    if (r->used)
        return GRPC_STATUS_OK;
    r->used = 1;
    code = api_save(tx, job, STORE_RATE, &r->base, 0);
    job->resp = resp; /* the caller's response stays its resource */
    return code;
}

/* The record a pledge or match keeps of the rate: what it was, without the
 * kept rate's own bookkeeping. */
static Tallinn__V1__ExchangeRate *record(rpc_call *call, const api *a,
                                         const Tallinn__V1__ExchangeRate *r, const char *name)
{
    Tallinn__V1__ExchangeRate *c = rpc_call_alloc(call, sizeof(*c));

    if (c == NULL)
        return NULL;
    tallinn__v1__exchange_rate__init(c);
    c->name = (char *)name;
    c->currency_code = r->currency_code;
    c->rate = r->rate;
    c->rate_date = r->rate_date;
    c->source = r->source;
    c->base_currency_code = (char *)a->currency;
    return c;
}

grpc_status_code rates_value_amount(store_tx *tx, api_job *job, const char *field,
                                    const Tallinn__V1__Money *amount,
                                    const Tallinn__V1__ExchangeRate *given, int fix,
                                    rates_value *out)
{
    rpc_call *call = job->call;
    const api *a = job->api;
    const char *cur = amount->currency_code;
    time_t now = time(NULL);
    Tallinn__V1__ExchangeRate *kept = NULL;
    const Tallinn__V1__ExchangeRate *r = given;
    int64_t amount_nanos = api_nanos(amount), rate_nanos = 0, value = 0;
    char day[16], buf[LEDGER_FORMAT_MAX];
    int rc;

    memset(out, 0, sizeof(*out));
    if ((out->value_date = date_of(call, now)) == NULL)
        return api_store_error(call, STORE_NOMEM);
    if (strcmp(cur, a->currency) == 0) {
        out->accounting = api_money(call, a, amount_nanos);
        return out->accounting != NULL ? GRPC_STATUS_OK : api_store_error(call, STORE_NOMEM);
    }
    if (r == NULL) {
        rc = kept_rate(tx, call, cur, now, &kept);
        if (rc == STORE_NOT_FOUND) {
            date_text(out->value_date, day);
            rpc_call_set_error_info(call, "EXCHANGE_RATE_MISSING", "tallinn.v1");
            return rpc_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                                  "no exchange rate for %s on %s (nor in the %d days before): "
                                  "the back office records one with CreateExchangeRate, or "
                                  "give %s.exchange_rate with the call",
                                  cur, day, RATES_MAX_AGE_DAYS, field);
        }
        if (rc != STORE_OK)
            return api_store_error(call, rc);
        r = kept;
    }
    if (validate_rate(r->rate, strlen(r->rate), &rate_nanos) != VALIDATE_OK)
        return api_store_error(call, STORE_CORRUPT); /* a kept rate was checked when kept */
    rc = ledger_convert(amount_nanos, rate_nanos, currency_minor_units(a->currency, 3), &value);
    if (rc != 0 || value > AMOUNT_MAX_NANOS || value <= 0) {
        validate_money_format(amount_nanos, cur, buf, sizeof(buf));
        api_violation(call, field, "%s at %s %s per %s is %s; its value in %s must be above "
                      "zero and at most 1000000000", buf, r->rate, cur, a->currency,
                      rc != 0 || value > AMOUNT_MAX_NANOS ? "above the limit" : "zero",
                      a->currency);
        return api_violations_status(call, "amount");
    }
    if (fix && kept != NULL) {
        grpc_status_code code = mark_used(tx, job, kept);
        if (code != GRPC_STATUS_OK)
            return code;
    }
    out->accounting = api_money(call, a, value);
    out->rate = record(call, a, r, kept != NULL ? kept->name : (char *)protobuf_c_empty_string);
    if (out->accounting == NULL || out->rate == NULL)
        return api_store_error(call, STORE_NOMEM);
    return GRPC_STATUS_OK;
}

/* ---- The service ---- */

static grpc_status_code create_job(store_tx *tx, api_job *job)
{
    Tallinn__V1__ExchangeRate *r = job->arg;
    grpc_status_code code = api_save(tx, job, STORE_RATE, &r->base, 1);

    if (code == GRPC_STATUS_ALREADY_EXISTS) {
        char day[16];
        date_text(r->rate_date, day);
        return rpc_call_error(job->call, GRPC_STATUS_ALREADY_EXISTS,
                              "%s already exists: %s has a rate for %s (an unused one may be "
                              "deleted and recorded again)", r->name, r->currency_code, day);
    }
    return code;
}

static grpc_status_code create_rate(rpc_call *call, const ProtobufCMessage *req,
                                    ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__CreateExchangeRateRequest *in = (const void *)req;
    api *a = ctx;
    Tallinn__V1__ExchangeRate *r;
    char id[32], day[16], lower[4];
    grpc_status_code code;

    if (in->exchange_rate == NULL) {
        api_violation(call, "exchange_rate", "required");
        return api_violations_status(call, "request");
    }
    check_rate(call, a, "exchange_rate", in->exchange_rate, NULL);
    api_check_request_id(call, in->request_id);
    if ((code = api_violations_status(call, "exchange_rate")) != GRPC_STATUS_OK)
        return code;
    if ((r = rpc_call_alloc(call, sizeof(*r))) == NULL)
        return api_store_error(call, STORE_NOMEM);
    tallinn__v1__exchange_rate__init(r);
    r->currency_code = in->exchange_rate->currency_code;
    r->rate = in->exchange_rate->rate;
    r->rate_date = in->exchange_rate->rate_date;
    r->source = in->exchange_rate->source;
    r->base_currency_code = (char *)a->currency;
    /* The name is the key: one rate per currency and day. */
    for (int i = 0; i < 3; i++)
        lower[i] = (char)(r->currency_code[i] - 'A' + 'a');
    lower[3] = '\0';
    date_text(r->rate_date, day);
    snprintf(id, sizeof(id), "%s-%s", lower, day);
    r->name = api_name(call, "exchangeRates", id);
    return api_write(call, a, in->request_id, create_job, r, resp);
}

static grpc_status_code get_rate(rpc_call *call, const ProtobufCMessage *req,
                                 ProtobufCMessage **resp, void *ctx)
{
    const char *name = ((const Tallinn__V1__GetExchangeRateRequest *)req)->name;
    api *a = ctx;
    store_tx *tx;
    grpc_status_code code;
    int rc;

    if (!api_check_name(call, "name", "exchangeRates/{exchange_rate}", name))
        return api_violations_status(call, "request");
    if ((rc = store_read_begin(a->store, &tx)) != STORE_OK)
        return api_store_error(call, rc);
    code = visibility_load(tx, call, STORE_RATE, name, NULL, resp);
    store_read_end(tx);
    return code;
}

static grpc_status_code list_rates(rpc_call *call, const ProtobufCMessage *req,
                                   ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__ListExchangeRatesRequest *in = (const void *)req;
    api_list_req lr = {
        .kind = STORE_RATE, .collection = "exchangeRates", .parent = "",
        .page_size = in->page_size, .page_token = in->page_token,
        .filter = in->filter, .order_by = in->order_by,
    };

    return api_list_response(call, ctx, &lr,
                             &tallinn__v1__list_exchange_rates_response__descriptor, resp);
}

static grpc_status_code delete_job(store_tx *tx, api_job *job)
{
    const Tallinn__V1__DeleteExchangeRateRequest *in = job->arg;
    ProtobufCMessage *m;
    grpc_status_code code;
    int rc;

    if ((code = visibility_load(tx, job->call, STORE_RATE, in->name, in->etag, &m)) !=
        GRPC_STATUS_OK)
        return code;
    if (((Tallinn__V1__ExchangeRate *)m)->used) {
        rpc_call_set_error_info(job->call, "EXCHANGE_RATE_USED", "tallinn.v1");
        return rpc_call_error(job->call, GRPC_STATUS_FAILED_PRECONDITION,
                              "%s is used: a committed pledge or an approved match rests on it, "
                              "so it stays as it is", in->name);
    }
    if ((rc = store_delete(tx, STORE_RATE, in->name)) != STORE_OK)
        return api_store_error(job->call, rc);
    job->resp = m;
    return GRPC_STATUS_OK;
}

static grpc_status_code delete_rate(rpc_call *call, const ProtobufCMessage *req,
                                    ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__DeleteExchangeRateRequest *in = (const void *)req;

    api_check_name(call, "name", "exchangeRates/{exchange_rate}", in->name);
    api_check_request_id(call, in->request_id);
    if (rpc_call_field_violation_count(call) > 0)
        return api_violations_status(call, "request");
    return api_write(call, ctx, in->request_id, delete_job, (void *)in, resp);
}

int rates_register(rpc_server *srv, api *a)
{
    static const rpc_method_handler handlers[] = {
        {"CreateExchangeRate", create_rate},
        {"GetExchangeRate", get_rate},
        {"ListExchangeRates", list_rates},
        {"DeleteExchangeRate", delete_rate},
    };
    return rpc_server_add_service(srv, &tallinn__v1__exchange_rate_service__descriptor, handlers,
                                  sizeof(handlers) / sizeof(handlers[0]), a);
}
