/* store.c — the SQLite engine behind store.h: schema migrations, a pool of
 * read connections, and one committer thread that runs write jobs in group
 * commits (WAL, synchronous=FULL: a released job is on disk). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "tallinn/filter.h"
#include "tallinn/store.h"
#include "tallinn/v1/donor.pb-c.h"
#include "tallinn/v1/match.pb-c.h"
#include "tallinn/v1/need.pb-c.h"
#include "tallinn/v1/principal.pb-c.h"

#define STORE_DEFAULT_READERS 8
#define STORE_DEFAULT_BUSY_MS 5000
#define STORE_DEFAULT_BATCH 256

/* Numbered migrations, applied in order at open; PRAGMA user_version holds the
 * number applied. Never edit a released one: add the next. */
static const char *const migrations[] = {
    /* 1: the four resources and remembered requests */
    "CREATE TABLE donors ("
    "  name TEXT PRIMARY KEY, data BLOB NOT NULL,"
    "  display_name TEXT NOT NULL, kind INTEGER NOT NULL, country_code TEXT NOT NULL,"
    "  membership INTEGER NOT NULL, parent TEXT NOT NULL,"
    "  create_time INTEGER NOT NULL, update_time INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE pledges ("
    "  name TEXT PRIMARY KEY, data BLOB NOT NULL,"
    "  donor TEXT NOT NULL REFERENCES donors(name),"
    "  state INTEGER NOT NULL, fiscal_year INTEGER NOT NULL, amount INTEGER NOT NULL,"
    "  available INTEGER NOT NULL,"
    "  create_time INTEGER NOT NULL, update_time INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX pledges_donor ON pledges(donor);"
    "CREATE TABLE needs ("
    "  name TEXT PRIMARY KEY, data BLOB NOT NULL,"
    "  title TEXT NOT NULL, state INTEGER NOT NULL, sector INTEGER NOT NULL,"
    "  category INTEGER NOT NULL, domain INTEGER NOT NULL, priority INTEGER NOT NULL,"
    "  sensitivity INTEGER NOT NULL, coverage INTEGER NOT NULL,"
    "  estimated_cost INTEGER NOT NULL, committed INTEGER NOT NULL, delivered INTEGER NOT NULL,"
    "  needed_by INTEGER NOT NULL, region TEXT NOT NULL, beneficiary TEXT NOT NULL,"
    "  create_time INTEGER NOT NULL, update_time INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX needs_state ON needs(state, name);"
    "CREATE INDEX needs_create_time ON needs(create_time, name);"
    "CREATE TABLE matches ("
    "  name TEXT PRIMARY KEY, data BLOB NOT NULL,"
    "  need TEXT NOT NULL REFERENCES needs(name),"
    "  donor TEXT NOT NULL REFERENCES donors(name),"
    "  pledge TEXT NOT NULL REFERENCES pledges(name),"
    "  state INTEGER NOT NULL, amount INTEGER NOT NULL, proposer TEXT NOT NULL,"
    "  create_time INTEGER NOT NULL, update_time INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX matches_need ON matches(need);"
    "CREATE INDEX matches_pledge ON matches(pledge);"
    "CREATE INDEX matches_donor ON matches(donor);"
    "CREATE TABLE requests ("
    "  principal TEXT NOT NULL, method TEXT NOT NULL, request_id TEXT NOT NULL,"
    "  request_hash BLOB NOT NULL, response BLOB NOT NULL, create_time INTEGER NOT NULL,"
    "  PRIMARY KEY (principal, method, request_id)) WITHOUT ROWID;"
    "CREATE INDEX requests_time ON requests(create_time);",
    /* 2: principals; tokens only as keyed hashes */
    "CREATE TABLE principals ("
    "  name TEXT PRIMARY KEY, data BLOB NOT NULL,"
    "  display_name TEXT NOT NULL, role INTEGER NOT NULL, state INTEGER NOT NULL,"
    "  donor TEXT NOT NULL, cert_identity TEXT NOT NULL,"
    "  create_time INTEGER NOT NULL, last_use_time INTEGER NOT NULL,"
    "  token_hash BLOB) WITHOUT ROWID;"
    "CREATE UNIQUE INDEX principals_token ON principals(token_hash) WHERE token_hash IS NOT NULL;"
    "CREATE UNIQUE INDEX principals_cert ON principals(cert_identity) WHERE cert_identity != '';",
    /* 3: the audit log: leaves as written, hash tiles, signed checkpoints */
    "CREATE TABLE audit_leaves (idx INTEGER PRIMARY KEY, data BLOB NOT NULL);"
    "CREATE TABLE audit_tiles (level INTEGER NOT NULL, idx INTEGER NOT NULL,"
    "  hashes BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID;"
    "CREATE TABLE audit_checkpoints (size INTEGER PRIMARY KEY, note BLOB NOT NULL,"
    "  time INTEGER NOT NULL);",
    /* 4: indexes that serve the common queries without a sort or a table
     * walk: needs of a state in creation order (the default list order),
     * and sums of match amounts by pledge and need (covering). */
    "CREATE INDEX needs_state_created ON needs(state, create_time, name);"
    "DROP INDEX needs_state;"
    "CREATE INDEX matches_pledge_sum ON matches(pledge, state, amount);"
    "CREATE INDEX matches_need_sum ON matches(need, state, amount);"
    "DROP INDEX matches_pledge;"
    "DROP INDEX matches_need;",
    /* 5: keyset pages cost the same at any depth when an index has the
     * order's keys (the name last, in the last key's direction): the default
     * order of matches and pledges, alone and per donor (a DONOR's lists),
     * and needs by priority, newest first (docs/api.md's example). */
    "CREATE INDEX needs_priority_created ON needs(priority, create_time DESC, name DESC);"
    "CREATE INDEX matches_created ON matches(create_time, name);"
    "CREATE INDEX matches_donor_created ON matches(donor, create_time, name);"
    "DROP INDEX matches_donor;"
    "CREATE INDEX pledges_created ON pledges(create_time, name);"
    "CREATE INDEX pledges_donor_created ON pledges(donor, create_time, name);"
    "DROP INDEX pledges_donor;",
};
#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

/* ---- Column extraction: what each kind stores beside its protobuf bytes ---- */

int64_t store_money_key(int64_t units, int32_t nanos)
{
    int64_t v;

    if (__builtin_mul_overflow(units, (int64_t)1000000000, &v) ||
        __builtin_add_overflow(v, (int64_t)nanos, &v))
        return units < 0 ? INT64_MIN : INT64_MAX; /* an aggregate: see store.h */
    return v;
}

static int64_t money_nanos(const Tallinn__V1__Money *m)
{
    return m == NULL ? 0 : store_money_key(m->units, m->nanos);
}

static int64_t ts_nanos(const Google__Protobuf__Timestamp *t)
{
    return t == NULL ? 0 : t->seconds * 1000000000 + t->nanos;
}

static const char *str(const char *s)
{
    return s != NULL ? s : "";
}

/* yyyymmdd, 0 when unset */
static int64_t date_int(const Tallinn__V1__Date *d)
{
    return d == NULL ? 0 : (int64_t)d->year * 10000 + d->month * 100 + d->day;
}

/* Each binder binds ?3.. (?1 = name, ?2 = data). */
static void bind_donor(sqlite3_stmt *st, const ProtobufCMessage *m)
{
    const Tallinn__V1__Donor *d = (const void *)m;
    sqlite3_bind_text(st, 3, str(d->display_name), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 4, d->kind);
    sqlite3_bind_text(st, 5, str(d->country_code), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 6, d->membership);
    sqlite3_bind_text(st, 7, str(d->parent), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 8, ts_nanos(d->create_time));
    sqlite3_bind_int64(st, 9, ts_nanos(d->update_time));
}

static void bind_pledge(sqlite3_stmt *st, const ProtobufCMessage *m)
{
    const Tallinn__V1__Pledge *p = (const void *)m;
    const char *name = str(p->name), *slash = strstr(name, "/pledges/");
    sqlite3_bind_text(st, 3, name, slash != NULL ? (int)(slash - name) : 0, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 4, p->state);
    sqlite3_bind_int(st, 5, p->fiscal_year);
    sqlite3_bind_int64(st, 6, money_nanos(p->amount));
    sqlite3_bind_int64(st, 7, money_nanos(p->available));
    sqlite3_bind_int64(st, 8, ts_nanos(p->create_time));
    sqlite3_bind_int64(st, 9, ts_nanos(p->update_time));
}

static void bind_need(sqlite3_stmt *st, const ProtobufCMessage *m)
{
    const Tallinn__V1__Need *n = (const void *)m;
    sqlite3_bind_text(st, 3, str(n->title), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 4, n->state);
    sqlite3_bind_int(st, 5, n->sector);
    sqlite3_bind_int(st, 6, n->category);
    sqlite3_bind_int(st, 7, n->domain);
    sqlite3_bind_int(st, 8, n->priority);
    sqlite3_bind_int(st, 9, n->sensitivity);
    sqlite3_bind_int(st, 10, n->coverage);
    sqlite3_bind_int64(st, 11, money_nanos(n->estimated_cost));
    sqlite3_bind_int64(st, 12, money_nanos(n->committed_amount));
    sqlite3_bind_int64(st, 13, money_nanos(n->delivered_amount));
    sqlite3_bind_int64(st, 14, date_int(n->needed_by));
    sqlite3_bind_text(st, 15, str(n->region), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 16, str(n->beneficiary), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 17, ts_nanos(n->create_time));
    sqlite3_bind_int64(st, 18, ts_nanos(n->update_time));
}

static void bind_match(sqlite3_stmt *st, const ProtobufCMessage *m)
{
    const Tallinn__V1__Match *x = (const void *)m;
    sqlite3_bind_text(st, 3, str(x->need), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, str(x->donor), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, str(x->pledge), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 6, x->state);
    sqlite3_bind_int64(st, 7, money_nanos(x->amount));
    sqlite3_bind_text(st, 8, str(x->proposer), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 9, ts_nanos(x->create_time));
    sqlite3_bind_int64(st, 10, ts_nanos(x->update_time));
}

/* Filter schemas: the fields a client may filter and order on, and their
 * columns. Enum values are read from the protobuf-c descriptors at first use. */
typedef struct field_def {
    const char *name;
    filter_type type;
    const char *column;
    const ProtobufCEnumDescriptor *enum_desc; /* FILTER_ENUM */
    const char *enum_prefix;
} field_def;

#define F(n, type, col) {n, type, col, NULL, NULL}
#define F_ENUM(n, desc, prefix) {n, FILTER_ENUM, n, desc, prefix}
static const field_def donor_fields[] = {
    F("name", FILTER_STRING, "name"),
    F("display_name", FILTER_STRING, "display_name"),
    F_ENUM("kind", &tallinn__v1__donor__kind__descriptor, "KIND_"),
    F("country_code", FILTER_STRING, "country_code"),
    F_ENUM("membership", &tallinn__v1__donor__membership__descriptor, "MEMBERSHIP_"),
    F("parent", FILTER_STRING, "parent"),
    F("create_time", FILTER_TIMESTAMP, "create_time"),
    F("update_time", FILTER_TIMESTAMP, "update_time"),
};
static const field_def pledge_fields[] = {
    F("name", FILTER_STRING, "name"),
    F_ENUM("state", &tallinn__v1__pledge__state__descriptor, "STATE_"),
    F("fiscal_year", FILTER_INT, "fiscal_year"),
    F("amount", FILTER_MONEY, "amount"),
    F("available", FILTER_MONEY, "available"),
    F("create_time", FILTER_TIMESTAMP, "create_time"),
    F("update_time", FILTER_TIMESTAMP, "update_time"),
};
static const field_def need_fields[] = {
    F("name", FILTER_STRING, "name"),
    F("title", FILTER_STRING, "title"),
    F_ENUM("state", &tallinn__v1__need__state__descriptor, "STATE_"),
    F_ENUM("sector", &tallinn__v1__sector__descriptor, "SECTOR_"),
    F_ENUM("category", &tallinn__v1__category__descriptor, "CATEGORY_"),
    F_ENUM("domain", &tallinn__v1__need__domain__descriptor, "DOMAIN_"),
    F_ENUM("priority", &tallinn__v1__need__priority__descriptor, "PRIORITY_"),
    F_ENUM("sensitivity", &tallinn__v1__need__sensitivity__descriptor, "SENSITIVITY_"),
    F_ENUM("coverage", &tallinn__v1__need__coverage__descriptor, "COVERAGE_"),
    F("estimated_cost", FILTER_MONEY, "estimated_cost"),
    F("committed_amount", FILTER_MONEY, "committed"),
    F("delivered_amount", FILTER_MONEY, "delivered"),
    F("needed_by", FILTER_DATE, "needed_by"),
    F("region", FILTER_STRING, "region"),
    F("beneficiary", FILTER_STRING, "beneficiary"),
    F("create_time", FILTER_TIMESTAMP, "create_time"),
    F("update_time", FILTER_TIMESTAMP, "update_time"),
};
static const field_def match_fields[] = {
    F("name", FILTER_STRING, "name"),
    F("need", FILTER_STRING, "need"),
    F("donor", FILTER_STRING, "donor"),
    F("pledge", FILTER_STRING, "pledge"),
    F_ENUM("state", &tallinn__v1__match__state__descriptor, "STATE_"),
    F("amount", FILTER_MONEY, "amount"),
    F("proposer", FILTER_STRING, "proposer"),
    F("create_time", FILTER_TIMESTAMP, "create_time"),
    F("update_time", FILTER_TIMESTAMP, "update_time"),
};
static const field_def principal_fields[] = {
    F("name", FILTER_STRING, "name"),
    F("display_name", FILTER_STRING, "display_name"),
    F_ENUM("role", &tallinn__v1__principal__role__descriptor, "ROLE_"),
    F_ENUM("state", &tallinn__v1__principal__state__descriptor, "STATE_"),
    F("donor", FILTER_STRING, "donor"),
    F("create_time", FILTER_TIMESTAMP, "create_time"),
    F("last_use_time", FILTER_TIMESTAMP, "last_use_time"),
};
#undef F
#undef F_ENUM

typedef struct kind_def {
    const char *table;
    const ProtobufCMessageDescriptor *desc;
    const field_def *fields;
    size_t n_fields;
    const char *insert_sql, *update_sql, *get_sql;
    void (*bind)(sqlite3_stmt *st, const ProtobufCMessage *m);
} kind_def;

#define COLS(a) a, sizeof(a) / sizeof(a[0])
static void bind_principal(sqlite3_stmt *st, const ProtobufCMessage *m)
{
    const Tallinn__V1__Principal *p = (const void *)m;
    sqlite3_bind_text(st, 3, str(p->display_name), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 4, p->role);
    sqlite3_bind_int(st, 5, p->state);
    sqlite3_bind_text(st, 6, str(p->donor), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, str(p->cert_identity), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 8, ts_nanos(p->create_time));
    sqlite3_bind_int64(st, 9, ts_nanos(p->last_use_time));
}

static const kind_def kinds[STORE_KIND_COUNT] = {
    [STORE_DONOR] = {"donors", &tallinn__v1__donor__descriptor, COLS(donor_fields),
                     "INSERT INTO donors(name, data, display_name, kind, country_code, membership,"
                     " parent, create_time, update_time) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
                     "UPDATE donors SET data=?2, display_name=?3, kind=?4, country_code=?5,"
                     " membership=?6, parent=?7, create_time=?8, update_time=?9 WHERE name=?1",
                     "SELECT data FROM donors WHERE name=?1", bind_donor},
    [STORE_PLEDGE] = {"pledges", &tallinn__v1__pledge__descriptor, COLS(pledge_fields),
                      "INSERT INTO pledges(name, data, donor, state, fiscal_year, amount, available,"
                      " create_time, update_time) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
                      "UPDATE pledges SET data=?2, donor=?3, state=?4, fiscal_year=?5, amount=?6,"
                      " available=?7, create_time=?8, update_time=?9 WHERE name=?1",
                      "SELECT data FROM pledges WHERE name=?1", bind_pledge},
    [STORE_NEED] = {"needs", &tallinn__v1__need__descriptor, COLS(need_fields),
                    "INSERT INTO needs(name, data, title, state, sector, category, domain, priority,"
                    " sensitivity, coverage, estimated_cost, committed, delivered, needed_by, region,"
                    " beneficiary, create_time, update_time)"
                    " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18)",
                    "UPDATE needs SET data=?2, title=?3, state=?4, sector=?5, category=?6, domain=?7,"
                    " priority=?8, sensitivity=?9, coverage=?10, estimated_cost=?11, committed=?12,"
                    " delivered=?13, needed_by=?14, region=?15, beneficiary=?16, create_time=?17,"
                    " update_time=?18 WHERE name=?1",
                    "SELECT data FROM needs WHERE name=?1", bind_need},
    [STORE_MATCH] = {"matches", &tallinn__v1__match__descriptor, COLS(match_fields),
                     "INSERT INTO matches(name, data, need, donor, pledge, state, amount, proposer,"
                     " create_time, update_time) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
                     "UPDATE matches SET data=?2, need=?3, donor=?4, pledge=?5, state=?6, amount=?7,"
                     " proposer=?8, create_time=?9, update_time=?10 WHERE name=?1",
                     "SELECT data FROM matches WHERE name=?1", bind_match},
    [STORE_PRINCIPAL] = {"principals", &tallinn__v1__principal__descriptor, COLS(principal_fields),
                         "INSERT INTO principals(name, data, display_name, role, state, donor,"
                         " cert_identity, create_time, last_use_time) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
                         "UPDATE principals SET data=?2, display_name=?3, role=?4, state=?5, donor=?6,"
                         " cert_identity=?7, create_time=?8, last_use_time=?9 WHERE name=?1",
                         "SELECT data FROM principals WHERE name=?1", bind_principal},
};

/* ---- Connections and statements ---- */

enum {
    ST_GET0 = 0, /* + kind */
    ST_INSERT0 = ST_GET0 + STORE_KIND_COUNT,
    ST_UPDATE0 = ST_INSERT0 + STORE_KIND_COUNT,
    ST_MATCH_SUM_NEED = ST_UPDATE0 + STORE_KIND_COUNT,
    ST_MATCH_SUM_PLEDGE,
    ST_PLEDGE_COUNT,
    ST_DONOR_RECORD,
    ST_TOTALS_NEEDS,
    ST_TOTALS_MATCHES,
    ST_TOTALS_DONORS,
    ST_DONOR_NEEDS,
    ST_DONOR_AMOUNTS,
    ST_DONOR_PLEDGED,
    ST_PRINCIPAL_SET_TOKEN,
    ST_PRINCIPAL_BY_TOKEN,
    ST_PRINCIPAL_BY_CERT,
    ST_DONOR_HAS_MATCH,
    ST_AUDIT_APPEND,
    ST_AUDIT_LEAF,
    ST_AUDIT_SIZE,
    ST_AUDIT_COUNT,
    ST_AUDIT_SCAN,
    ST_TILE_PUT,
    ST_TILE_GET,
    ST_CKPT_PUT,
    ST_CKPT_GET,
    ST_CKPT_LATEST,
    ST_REQ_GET,
    ST_REQ_PUT,
    ST_REQ_EXPIRE,
    /* transaction control, prepared once instead of parsed per use */
    ST_BEGIN,
    ST_BEGIN_IMMEDIATE,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT_JOB,
    ST_RELEASE_JOB,
    ST_ROLLBACK_JOB,
    ST_SAVEPOINT_INNER,
    ST_RELEASE_INNER,
    ST_ROLLBACK_INNER,
    ST_COUNT
};

/* The needs a report's view lets through (store_view): ?2 = 0 every need,
 * 1 not RESTRICTED, 2 those donor ?3 may know of (OPEN STANDARD, or a match
 * of its in state mask ?4). The numbers are checked against the enums below. */
#define VIEW_NEEDS                                                                  \
    "(?2 = 0 OR (?2 = 1 AND n.sensitivity != 2) OR (?2 = 2 AND ((n.state = 6"       \
    " AND n.sensitivity = 1) OR EXISTS (SELECT 1 FROM matches v WHERE v.need = n.name" \
    " AND v.donor = ?3 AND ((1 << v.state) & ?4) != 0))))"

static const char *fixed_sql(int id)
{
    if (id >= ST_GET0 && id < ST_GET0 + STORE_KIND_COUNT)
        return kinds[id - ST_GET0].get_sql;
    if (id >= ST_INSERT0 && id < ST_INSERT0 + STORE_KIND_COUNT)
        return kinds[id - ST_INSERT0].insert_sql;
    if (id >= ST_UPDATE0 && id < ST_UPDATE0 + STORE_KIND_COUNT)
        return kinds[id - ST_UPDATE0].update_sql;
    switch (id) {
    /* Sums add the units and the nanos parts of amounts apart (each part
     * of one amount is below 2^30, so neither sum leaves int64 before 9.2 *
     * 10^9 rows); store_sum puts them together exactly. */
    case ST_MATCH_SUM_NEED:
        return "SELECT COALESCE(SUM(amount / 1000000000), 0), COALESCE(SUM(amount % 1000000000), 0)"
               " FROM matches WHERE need=?1 AND ((1 << state) & ?2) != 0";
    case ST_MATCH_SUM_PLEDGE:
        return "SELECT COALESCE(SUM(amount / 1000000000), 0), COALESCE(SUM(amount % 1000000000), 0)"
               " FROM matches WHERE pledge=?1 AND ((1 << state) & ?2) != 0";
    case ST_PLEDGE_COUNT:
        return "SELECT COUNT(*) FROM pledges WHERE donor=?1 AND ((1 << state) & ?2) = 0";
    case ST_DONOR_RECORD:
        return "SELECT COUNT(*), COALESCE(SUM(n.sector = ?3), 0) FROM matches m"
               " JOIN needs n ON n.name = m.need WHERE m.donor=?1 AND ((1 << m.state) & ?2) != 0";
    /* Report cells per (sector, category). Need committed and delivered
     * amounts are summed from the matches, whose amounts are each bounded
     * (a need's own column saturates: store_money_key). */
    case ST_TOTALS_NEEDS:
        return "SELECT n.sector, n.category, COUNT(*), SUM(n.estimated_cost / 1000000000),"
               " SUM(n.estimated_cost % 1000000000) FROM needs n"
               " WHERE ((1 << n.state) & ?1) != 0 AND " VIEW_NEEDS
               " GROUP BY n.sector, n.category ORDER BY n.sector, n.category";
    case ST_TOTALS_MATCHES:
        return "SELECT n.sector, n.category,"
               " SUM(CASE WHEN ((1 << m.state) & ?5) != 0 THEN m.amount / 1000000000 ELSE 0 END),"
               " SUM(CASE WHEN ((1 << m.state) & ?5) != 0 THEN m.amount % 1000000000 ELSE 0 END),"
               " SUM(CASE WHEN ((1 << m.state) & ?6) != 0 THEN m.amount / 1000000000 ELSE 0 END),"
               " SUM(CASE WHEN ((1 << m.state) & ?6) != 0 THEN m.amount % 1000000000 ELSE 0 END)"
               " FROM needs n JOIN matches m ON m.need = n.name"
               " WHERE ((1 << n.state) & ?1) != 0 AND " VIEW_NEEDS
               " AND ((1 << m.state) & (?5 | ?6)) != 0"
               " GROUP BY n.sector, n.category ORDER BY n.sector, n.category";
    case ST_TOTALS_DONORS:
        return "SELECT name, display_name FROM donors WHERE membership = 1"
               " AND (?1 IS NULL OR name = ?1) ORDER BY display_name, name";
    case ST_DONOR_NEEDS: /* ?1 donor, ?2 committed mask, ?3 unrestricted only */
        return "SELECT COUNT(*), COALESCE(SUM(n.estimated_cost / 1000000000), 0),"
               " COALESCE(SUM(n.estimated_cost % 1000000000), 0) FROM needs n"
               " WHERE n.name IN (SELECT m.need FROM matches m WHERE m.donor = ?1"
               " AND ((1 << m.state) & ?2) != 0) AND (?3 = 0 OR n.sensitivity != 2)";
    case ST_DONOR_AMOUNTS: /* ... and ?4 delivered mask */
        return "SELECT"
               " COALESCE(SUM(CASE WHEN ((1 << state) & ?2) != 0 THEN amount / 1000000000 ELSE 0 END), 0),"
               " COALESCE(SUM(CASE WHEN ((1 << state) & ?2) != 0 THEN amount % 1000000000 ELSE 0 END), 0),"
               " COALESCE(SUM(CASE WHEN ((1 << state) & ?4) != 0 THEN amount / 1000000000 ELSE 0 END), 0),"
               " COALESCE(SUM(CASE WHEN ((1 << state) & ?4) != 0 THEN amount % 1000000000 ELSE 0 END), 0)"
               " FROM matches m WHERE m.donor = ?1 AND ((1 << m.state) & (?2 | ?4)) != 0"
               " AND (?3 = 0 OR EXISTS (SELECT 1 FROM needs n WHERE n.name = m.need"
               " AND n.sensitivity != 2))";
    case ST_DONOR_PLEDGED:
        return "SELECT COALESCE(SUM(amount / 1000000000), 0), COALESCE(SUM(amount % 1000000000), 0)"
               " FROM pledges WHERE donor = ?1 AND state != 3";
    case ST_PRINCIPAL_SET_TOKEN:
        return "UPDATE principals SET token_hash=?2 WHERE name=?1";
    case ST_PRINCIPAL_BY_TOKEN:
        return "SELECT data FROM principals WHERE token_hash=?1";
    case ST_PRINCIPAL_BY_CERT:
        return "SELECT data FROM principals WHERE cert_identity=?1 AND cert_identity != ''";
    case ST_DONOR_HAS_MATCH:
        return "SELECT EXISTS(SELECT 1 FROM matches WHERE need=?1 AND donor=?2"
               " AND ((1 << state) & ?3) != 0)";
    case ST_AUDIT_APPEND:
        return "INSERT INTO audit_leaves(idx, data) VALUES(?1, ?2)";
    case ST_AUDIT_LEAF:
        return "SELECT data FROM audit_leaves WHERE idx=?1";
    case ST_AUDIT_SIZE:
        return "SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_leaves"; /* O(log n) on the rowid */
    case ST_AUDIT_COUNT:
        return "SELECT COUNT(*) FROM audit_leaves"; /* O(n): start-up only */
    case ST_AUDIT_SCAN:
        return "SELECT idx, data FROM audit_leaves WHERE idx >= ?1 AND idx < ?2 ORDER BY idx";
    case ST_TILE_PUT:
        return "INSERT OR REPLACE INTO audit_tiles(level, idx, hashes) VALUES(?1, ?2, ?3)";
    case ST_TILE_GET:
        return "SELECT hashes FROM audit_tiles WHERE level=?1 AND idx=?2";
    case ST_CKPT_PUT:
        return "INSERT INTO audit_checkpoints(size, note, time) VALUES(?1, ?2, ?3)";
    case ST_CKPT_GET:
        return "SELECT size, note FROM audit_checkpoints WHERE size=?1";
    case ST_CKPT_LATEST:
        return "SELECT size, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1";
    case ST_REQ_GET:
        return "SELECT request_hash, response FROM requests WHERE principal=?1 AND method=?2 AND request_id=?3";
    case ST_REQ_PUT:
        return "INSERT INTO requests(principal, method, request_id, request_hash, response, create_time)"
               " VALUES(?1,?2,?3,?4,?5,?6)";
    case ST_REQ_EXPIRE:
        return "DELETE FROM requests WHERE create_time < ?1";
    case ST_BEGIN:
        return "BEGIN";
    case ST_BEGIN_IMMEDIATE:
        return "BEGIN IMMEDIATE";
    case ST_COMMIT:
        return "COMMIT";
    case ST_ROLLBACK:
        return "ROLLBACK";
    case ST_SAVEPOINT_JOB:
        return "SAVEPOINT job";
    case ST_RELEASE_JOB:
        return "RELEASE job";
    case ST_ROLLBACK_JOB:
        return "ROLLBACK TO job";
    case ST_SAVEPOINT_INNER:
        return "SAVEPOINT inner";
    case ST_RELEASE_INNER:
        return "RELEASE inner";
    case ST_ROLLBACK_INNER:
        return "ROLLBACK TO inner";
    }
    return NULL;
}

#define LIST_CACHE 16 /* list statements kept prepared per connection */

typedef struct store_conn {
    sqlite3 *db;
    sqlite3_stmt *stmts[ST_COUNT];
    char *list_sql[LIST_CACHE];
    sqlite3_stmt *list_stmt[LIST_CACHE];
    unsigned list_next;
    int in_use;
} store_conn;

typedef struct store_job {
    store_job_fn fn;
    void *arg;
    int job_rc, store_rc, done;
    pthread_cond_t cv; /* its caller waits here: a batch wakes only its own */
    struct store_job *next;
} store_job;

struct store_tx {
    struct store *s;
    store_conn *conn;
    int write;
    int err; /* first storage error seen in this transaction */
};

struct store {
    store_options opts;
    char *path;
    store_conn writer;
    store_conn *readers;
    int n_readers;
    pthread_mutex_t rmu;
    pthread_cond_t rcv;

    pthread_t committer;
    int committer_started;
    pthread_mutex_t wmu;
    pthread_cond_t wcv;    /* jobs queued, or closing */
    store_job *head, **tail;
    int closing;
    store_batch_hook hook;
    store_batch_done hook_done;
    void *hook_ctx;
};

static int map_sqlite(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return STORE_OK;
    case SQLITE_CONSTRAINT:
        return STORE_EXISTS;
    case SQLITE_FULL:
        return STORE_FULL;
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
        return STORE_IO;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return STORE_BUSY;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return STORE_CORRUPT;
    case SQLITE_NOMEM:
        return STORE_NOMEM;
    default:
        return STORE_ERROR;
    }
}

const char *store_strerror(int rc)
{
    switch (rc) {
    case STORE_OK: return "ok";
    case STORE_NOT_FOUND: return "not found";
    case STORE_EXISTS: return "already exists";
    case STORE_FULL: return "storage is full";
    case STORE_IO: return "storage is not writable or failed";
    case STORE_BUSY: return "storage is busy";
    case STORE_CORRUPT: return "storage is corrupt";
    case STORE_NOMEM: return "out of memory";
    case STORE_SHUTDOWN: return "server is shutting down";
    case STORE_READONLY: return "the data directory is read-only";
    default: return "storage error";
    }
}

static int tx_fail(store_tx *tx, int sqlite_rc)
{
    int rc = map_sqlite(sqlite_rc);

    if (rc != STORE_OK && rc != STORE_EXISTS && tx->err == STORE_OK)
        tx->err = rc;
    if (rc == STORE_ERROR)
        fprintf(stderr, "level=error event=sqlite_error code=%d msg=\"%s\"\n", sqlite_rc,
                sqlite3_errmsg(tx->conn->db));
    return rc;
}

static sqlite3_stmt *stmt(store_conn *c, int id)
{
    if (c->stmts[id] == NULL &&
        sqlite3_prepare_v3(c->db, fixed_sql(id), -1, SQLITE_PREPARE_PERSISTENT, &c->stmts[id],
                           NULL) != SQLITE_OK) {
        fprintf(stderr, "level=error event=sqlite_prepare msg=\"%s\"\n", sqlite3_errmsg(c->db));
        return NULL;
    }
    sqlite3_reset(c->stmts[id]);
    sqlite3_clear_bindings(c->stmts[id]);
    return c->stmts[id];
}

/* Steps a bound statement that returns one row: its first column into *a
 * and, if b is not NULL, its second into *b. The statement is reset. */
static int step_row(store_tx *tx, sqlite3_stmt *st, int64_t *a, int64_t *b)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        *a = sqlite3_column_int64(st, 0);
        if (b != NULL)
            *b = sqlite3_column_int64(st, 1);
        rc = STORE_OK;
    } else {
        rc = tx_fail(tx, rc);
    }
    sqlite3_reset(st);
    return rc;
}

static void conn_close(store_conn *c)
{
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(c->stmts[i]);
    memset(c->stmts, 0, sizeof(c->stmts));
    for (int i = 0; i < LIST_CACHE; i++) {
        sqlite3_finalize(c->list_stmt[i]);
        free(c->list_sql[i]);
        c->list_stmt[i] = NULL;
        c->list_sql[i] = NULL;
    }
    if (c->db != NULL)
        sqlite3_close(c->db);
    c->db = NULL;
}

static int conn_open(store *s, store_conn *c, int write, char *err, size_t errlen)
{
    int flags = write ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
    char uri[4200];
    int rc;

    memset(c, 0, sizeof(*c));
    if (s->opts.read_only) {
        /* Read-only storage: SQLite cannot create the WAL index there, and
         * nothing can change the file, so it is opened as immutable. */
        snprintf(uri, sizeof(uri), "file:%s?immutable=1", s->path);
        rc = sqlite3_open_v2(uri, &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI |
                                              SQLITE_OPEN_NOMUTEX, NULL);
    } else {
        rc = sqlite3_open_v2(s->path, &c->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    }
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", s->path,
                 c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        conn_close(c);
        return map_sqlite(rc) == STORE_OK ? STORE_ERROR : map_sqlite(rc);
    }
    sqlite3_busy_timeout(c->db, s->opts.busy_timeout_ms);
    sqlite3_extended_result_codes(c->db, 1);
    rc = sqlite3_exec(c->db,
                      s->opts.read_only ? "PRAGMA query_only=ON;"
                      : write ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                              " PRAGMA foreign_keys=ON;"
                            : "PRAGMA foreign_keys=ON;",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot configure %s: %s", s->path, sqlite3_errmsg(c->db));
        conn_close(c);
        return map_sqlite(rc);
    }
    return STORE_OK;
}

/* Read-only storage cannot be migrated: it must already be current. */
static int check_schema(store *s, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int version = -1;

    if (sqlite3_prepare_v2(s->writer.db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            version = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    if (version != (int)N_MIGRATIONS) {
        snprintf(err, errlen, "%s is read-only and its schema (version %d) is not this tallinnd's "
                 "(%zu): it cannot be migrated there", s->path, version, N_MIGRATIONS);
        return STORE_IO;
    }
    return STORE_OK;
}

static int migrate(store *s, char *err, size_t errlen)
{
    sqlite3 *db = s->writer.db;
    sqlite3_stmt *st;
    int version = 0, rc;

    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        goto fail;
    if (sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > (int)N_MIGRATIONS) {
        snprintf(err, errlen, "%s has schema version %d, newer than this tallinnd (%zu)",
                 s->path, version, N_MIGRATIONS);
        return STORE_ERROR;
    }
    for (size_t i = (size_t)version; i < N_MIGRATIONS; i++) {
        char pragma[64];
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%zu", i + 1);
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
            goto fail;
        if (sqlite3_exec(db, migrations[i], NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, pragma, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            snprintf(err, errlen, "migration %zu failed: %s", i + 1, sqlite3_errmsg(db));
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return STORE_ERROR;
        }
        fprintf(stderr, "level=info event=migrated schema_version=%zu\n", i + 1);
    }
    return STORE_OK;
fail:
    rc = sqlite3_errcode(db);
    snprintf(err, errlen, "cannot read the schema version of %s: %s", s->path, sqlite3_errmsg(db));
    return map_sqlite(rc) == STORE_OK ? STORE_ERROR : map_sqlite(rc);
}

/* ---- The committer: group commit ---- */

/* Runs a transaction-control statement (prepared once per connection). */
static int exec_tx(store_tx *tx, int id)
{
    sqlite3_stmt *st = stmt(tx->conn, id);
    int rc;

    if (st == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_OK : tx_fail(tx, rc);
}

static void run_batch(store *s, store_job *batch)
{
    store_tx tx = {.s = s, .conn = &s->writer, .write = 1, .err = STORE_OK};
    int rc = exec_tx(&tx, ST_BEGIN_IMMEDIATE);

    for (store_job *j = batch; j != NULL; j = j->next) {
        j->store_rc = rc;
        if (rc != STORE_OK)
            continue;
        if (exec_tx(&tx, ST_SAVEPOINT_JOB) != STORE_OK) {
            rc = tx.err;
            j->store_rc = rc;
            continue;
        }
        j->job_rc = j->fn(&tx, j->arg);
        if (sqlite3_get_autocommit(s->writer.db)) {
            /* SQLite rolled the whole transaction back (disk full, I/O):
             * every job of the batch fails with that error. */
            rc = tx.err != STORE_OK ? tx.err : STORE_IO;
            j->store_rc = rc;
            continue;
        }
        if (j->job_rc != 0)
            exec_tx(&tx, ST_ROLLBACK_JOB);
        if (exec_tx(&tx, ST_RELEASE_JOB) != STORE_OK)
            rc = tx.err;
        j->store_rc = rc;
    }
    if (rc == STORE_OK && s->hook != NULL && s->hook(&tx, s->hook_ctx) != 0)
        rc = tx.err != STORE_OK ? tx.err : STORE_ERROR;
    if (rc == STORE_OK && exec_tx(&tx, ST_COMMIT) != STORE_OK)
        rc = tx.err;
    if (rc != STORE_OK) {
        if (!sqlite3_get_autocommit(s->writer.db))
            exec_tx(&tx, ST_ROLLBACK);
        fprintf(stderr, "level=error event=write_batch_failed error=\"%s\"\n", store_strerror(rc));
    }
    if (s->hook_done != NULL)
        s->hook_done(rc == STORE_OK, s->hook_ctx);
    pthread_mutex_lock(&s->wmu);
    for (store_job *j = batch, *next; j != NULL; j = next) {
        next = j->next; /* j may be gone once signalled */
        if (rc != STORE_OK)
            j->store_rc = rc;
        j->done = 1;
        pthread_cond_signal(&j->cv);
    }
    pthread_mutex_unlock(&s->wmu);
}

static void *committer_main(void *arg)
{
    store *s = arg;

    for (;;) {
        store_job *batch, **cut;
        int n = 0;

        pthread_mutex_lock(&s->wmu);
        while (s->head == NULL && !s->closing)
            pthread_cond_wait(&s->wcv, &s->wmu);
        if (s->head == NULL) {
            pthread_mutex_unlock(&s->wmu);
            break;
        }
        batch = s->head;
        for (cut = &s->head; *cut != NULL && n < s->opts.max_batch; cut = &(*cut)->next)
            n++;
        s->head = *cut;
        *cut = NULL;
        if (s->head == NULL)
            s->tail = &s->head;
        pthread_mutex_unlock(&s->wmu);
        run_batch(s, batch);
    }
    return NULL;
}

int store_write(store *s, store_job_fn fn, void *arg, int *job_rc)
{
    store_job j = {.fn = fn, .arg = arg};

    *job_rc = 0;
    if (s->opts.read_only)
        return STORE_READONLY;
    pthread_cond_init(&j.cv, NULL);
    pthread_mutex_lock(&s->wmu);
    if (s->closing) {
        pthread_mutex_unlock(&s->wmu);
        pthread_cond_destroy(&j.cv);
        return STORE_SHUTDOWN;
    }
    *s->tail = &j;
    s->tail = &j.next;
    pthread_cond_signal(&s->wcv);
    while (!j.done)
        pthread_cond_wait(&j.cv, &s->wmu);
    pthread_mutex_unlock(&s->wmu);
    pthread_cond_destroy(&j.cv);
    *job_rc = j.job_rc;
    return j.store_rc;
}

void store_set_batch_hook(store *s, store_batch_hook fn, store_batch_done done, void *ctx)
{
    s->hook = fn;
    s->hook_done = done;
    s->hook_ctx = ctx;
}

int store_savepoint(store_tx *tx)
{
    return exec_tx(tx, ST_SAVEPOINT_INNER);
}

int store_savepoint_end(store_tx *tx, int keep)
{
    if (!keep && exec_tx(tx, ST_ROLLBACK_INNER) != STORE_OK)
        return tx->err;
    return exec_tx(tx, ST_RELEASE_INNER);
}

/* ---- Open and close ---- */

int store_open(store **out, const store_options *opts, char *err, size_t errlen)
{
    store *s = calloc(1, sizeof(*s));
    int rc;

    *out = NULL;
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return STORE_NOMEM;
    }
    s->opts = *opts;
    if (s->opts.max_readers <= 0)
        s->opts.max_readers = STORE_DEFAULT_READERS;
    if (s->opts.busy_timeout_ms <= 0)
        s->opts.busy_timeout_ms = STORE_DEFAULT_BUSY_MS;
    if (s->opts.max_batch <= 0)
        s->opts.max_batch = STORE_DEFAULT_BATCH;
    s->path = strdup(opts->path);
    s->readers = calloc((size_t)s->opts.max_readers, sizeof(*s->readers));
    s->tail = &s->head;
    pthread_mutex_init(&s->rmu, NULL);
    pthread_cond_init(&s->rcv, NULL);
    pthread_mutex_init(&s->wmu, NULL);
    pthread_cond_init(&s->wcv, NULL);
    if (s->path == NULL || s->readers == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = STORE_NOMEM;
        goto fail;
    }
    if (s->opts.read_only) {
        /* No writer, no committer: every write is refused at once. */
        if ((rc = conn_open(s, &s->writer, 0, err, errlen)) != STORE_OK)
            goto fail;
        if ((rc = check_schema(s, err, errlen)) != STORE_OK)
            goto fail;
        *out = s;
        return STORE_OK;
    }
    if ((rc = conn_open(s, &s->writer, 1, err, errlen)) != STORE_OK)
        goto fail;
    if ((rc = migrate(s, err, errlen)) != STORE_OK)
        goto fail;
    if (pthread_create(&s->committer, NULL, committer_main, s) != 0) {
        snprintf(err, errlen, "cannot start the committer thread");
        rc = STORE_ERROR;
        goto fail;
    }
    s->committer_started = 1;
    *out = s;
    return STORE_OK;
fail:
    store_close(s);
    return rc;
}

void store_close(store *s)
{
    if (s == NULL)
        return;
    if (s->committer_started) {
        pthread_mutex_lock(&s->wmu);
        s->closing = 1; /* queued jobs still run: they were accepted */
        pthread_cond_signal(&s->wcv);
        pthread_mutex_unlock(&s->wmu);
        pthread_join(s->committer, NULL);
    }
    for (int i = 0; i < s->n_readers; i++)
        conn_close(&s->readers[i]);
    conn_close(&s->writer);
    free(s->readers);
    free(s->path);
    pthread_mutex_destroy(&s->rmu);
    pthread_cond_destroy(&s->rcv);
    pthread_mutex_destroy(&s->wmu);
    pthread_cond_destroy(&s->wcv);
    free(s);
}

const ProtobufCMessageDescriptor *store_kind_descriptor(store_kind kind)
{
    return kinds[kind].desc;
}

static filter_schema schemas[STORE_KIND_COUNT];
static pthread_once_t schemas_once = PTHREAD_ONCE_INIT;
static int schemas_ok;

/* Builds each kind's filter schema from its field table; enum values come
 * from the protobuf-c descriptors. The tables live as long as the process. */
static void schemas_init(void)
{
    schemas_ok = 1;
    for (int k = 0; k < STORE_KIND_COUNT; k++) {
        filter_field *ff = calloc(kinds[k].n_fields, sizeof(*ff));
        if (ff == NULL) {
            schemas_ok = 0;
            return;
        }
        for (size_t i = 0; i < kinds[k].n_fields; i++) {
            const field_def *d = &kinds[k].fields[i];
            ff[i].name = d->name;
            ff[i].type = d->type;
            ff[i].column = d->column;
            ff[i].enum_prefix = d->enum_prefix;
            if (d->enum_desc != NULL) {
                filter_enum_value *v = calloc(d->enum_desc->n_values, sizeof(*v));
                if (v == NULL) {
                    schemas_ok = 0;
                    return;
                }
                for (unsigned j = 0; j < d->enum_desc->n_values; j++) {
                    v[j].name = d->enum_desc->values[j].name;
                    v[j].number = d->enum_desc->values[j].value;
                }
                ff[i].values = v;
                ff[i].nvalues = d->enum_desc->n_values;
            }
        }
        schemas[k].fields = ff;
        schemas[k].nfields = kinds[k].n_fields;
        schemas[k].id_column = "name";
        if (filter_schema_check(&schemas[k]) != FILTER_OK) {
            fprintf(stderr, "level=error event=bad_filter_schema table=%s\n", kinds[k].table);
            schemas_ok = 0;
        }
    }
}

const filter_schema *store_filter_schema(store_kind kind)
{
    pthread_once(&schemas_once, schemas_init);
    return schemas_ok ? &schemas[kind] : NULL;
}

/* ---- Reads ---- */

int store_read_begin(store *s, store_tx **out)
{
    store_tx *tx = calloc(1, sizeof(*tx));
    store_conn *c = NULL;
    char err[256];
    int rc;

    *out = NULL;
    if (tx == NULL)
        return STORE_NOMEM;
    pthread_mutex_lock(&s->rmu);
    for (;;) {
        for (int i = 0; i < s->n_readers && c == NULL; i++)
            if (!s->readers[i].in_use)
                c = &s->readers[i];
        if (c != NULL || s->n_readers < s->opts.max_readers)
            break;
        pthread_cond_wait(&s->rcv, &s->rmu);
    }
    if (c == NULL) {
        c = &s->readers[s->n_readers];
        if ((rc = conn_open(s, c, 0, err, sizeof(err))) != STORE_OK) {
            pthread_mutex_unlock(&s->rmu);
            fprintf(stderr, "level=error event=reader_open error=\"%s\"\n", err);
            free(tx);
            return rc;
        }
        s->n_readers++;
    }
    c->in_use = 1;
    pthread_mutex_unlock(&s->rmu);
    tx->s = s;
    tx->conn = c;
    if ((rc = exec_tx(tx, ST_BEGIN)) != STORE_OK) {
        store_read_end(tx);
        return rc;
    }
    *out = tx;
    return STORE_OK;
}

void store_read_end(store_tx *tx)
{
    store *s;

    if (tx == NULL)
        return;
    s = tx->s;
    if (!sqlite3_get_autocommit(tx->conn->db))
        exec_tx(tx, ST_COMMIT);
    pthread_mutex_lock(&s->rmu);
    tx->conn->in_use = 0;
    pthread_cond_signal(&s->rcv);
    pthread_mutex_unlock(&s->rmu);
    free(tx);
}

/* ---- Resources ---- */

static const char *msg_name(const ProtobufCMessage *m)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "name");
    const char *const *p;

    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING)
        return NULL;
    p = (const char *const *)((const char *)m + f->offset);
    return *p;
}

int store_get(store_tx *tx, store_kind kind, const char *name, ProtobufCAllocator *alloc,
              ProtobufCMessage **out)
{
    sqlite3_stmt *st = stmt(tx->conn, ST_GET0 + kind);
    int rc;

    *out = NULL;
    if (st == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return STORE_NOT_FOUND;
    }
    if (rc != SQLITE_ROW) {
        rc = tx_fail(tx, rc);
        sqlite3_reset(st);
        return rc;
    }
    *out = protobuf_c_message_unpack(kinds[kind].desc, alloc, (size_t)sqlite3_column_bytes(st, 0),
                                     sqlite3_column_blob(st, 0));
    sqlite3_reset(st);
    if (*out == NULL) {
        fprintf(stderr, "level=error event=undecodable_row table=%s\n", kinds[kind].table);
        return STORE_CORRUPT;
    }
    return STORE_OK;
}

static int put(store_tx *tx, store_kind kind, const ProtobufCMessage *msg, int insert)
{
    sqlite3_stmt *st = stmt(tx->conn, (insert ? ST_INSERT0 : ST_UPDATE0) + kind);
    const char *name = msg_name(msg);
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf;
    int rc;

    if (!tx->write || name == NULL || msg->descriptor != kinds[kind].desc)
        return STORE_ERROR;
    if (st == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    buf = malloc(len ? len : 1);
    if (buf == NULL)
        return STORE_NOMEM;
    protobuf_c_message_pack(msg, buf);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, buf, (int)len, free);
    kinds[kind].bind(st, msg);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        rc = tx_fail(tx, rc);
        sqlite3_reset(st);
        return rc;
    }
    rc = sqlite3_changes(tx->conn->db);
    sqlite3_reset(st);
    return !insert && rc == 0 ? STORE_NOT_FOUND : STORE_OK;
}

int store_insert(store_tx *tx, store_kind kind, const ProtobufCMessage *msg)
{
    return put(tx, kind, msg, 1);
}

int store_update(store_tx *tx, store_kind kind, const ProtobufCMessage *msg)
{
    return put(tx, kind, msg, 0);
}

/* A list statement from the connection's small cache (the same filter and
 * order give the same text), else newly prepared in place of the oldest. */
static sqlite3_stmt *list_stmt(store_conn *c, const char *sql)
{
    unsigned slot;
    char *copy;

    for (unsigned i = 0; i < LIST_CACHE; i++) {
        if (c->list_sql[i] != NULL && strcmp(c->list_sql[i], sql) == 0) {
            sqlite3_reset(c->list_stmt[i]);
            sqlite3_clear_bindings(c->list_stmt[i]);
            return c->list_stmt[i];
        }
    }
    if ((copy = strdup(sql)) == NULL)
        return NULL;
    slot = c->list_next++ % LIST_CACHE;
    sqlite3_finalize(c->list_stmt[slot]);
    free(c->list_sql[slot]);
    c->list_sql[slot] = NULL;
    if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->list_stmt[slot], NULL) !=
        SQLITE_OK) {
        c->list_stmt[slot] = NULL;
        free(copy);
        return NULL;
    }
    c->list_sql[slot] = copy;
    return c->list_stmt[slot];
}

static void bind_values(sqlite3_stmt *st, int *at, const store_value *v, size_t n)
{
    for (size_t i = 0; i < n; i++, (*at)++) {
        if (v[i].type == STORE_V_INT)
            sqlite3_bind_int64(st, *at, v[i].i);
        else
            sqlite3_bind_text(st, *at, v[i].text, -1, SQLITE_STATIC);
    }
}

/* One statement of a list: the query's where and, if arm is not NULL, one
 * seek arm. Calls fn until it stops or *left rows were given. */
static int list_part(store_tx *tx, store_kind kind, const store_query *q, const store_seek_arm *arm,
                     int *left, int *stopped, store_row_fn fn, void *ctx)
{
    char sql[8192];
    sqlite3_stmt *st = NULL;
    int n, rc = SQLITE_DONE, at = 1;

    /* The fragments come from the filter module, built from store_filter_schema()
     * names and '?' placeholders only; values are bound below. Every arm has
     * the same LIMIT (the page's) so that its text, and statement, is reused;
     * reading stops when the page is full. */
    n = snprintf(sql, sizeof(sql), "SELECT data FROM %s%s%s%s%s%s%s ORDER BY %s LIMIT %d",
                 kinds[kind].table, q->where || arm ? " WHERE " : "", q->where ? "(" : "",
                 q->where ? q->where : "", q->where ? ")" : "", q->where && arm ? " AND " : "",
                 arm ? arm->where : "", q->order ? q->order : "name", q->limit);
    if (n < 0 || (size_t)n >= sizeof(sql))
        return STORE_ERROR;
    if ((st = list_stmt(tx->conn, sql)) == NULL) {
        rc = sqlite3_errcode(tx->conn->db);
        fprintf(stderr, "level=error event=list_prepare msg=\"%s\"\n", sqlite3_errmsg(tx->conn->db));
        return tx_fail(tx, rc);
    }
    bind_values(st, &at, q->binds, q->n_binds);
    if (arm != NULL)
        bind_values(st, &at, arm->binds, arm->n_binds);
    sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 1); /* count this run only */
    while (*left > 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        ProtobufCMessage *m = protobuf_c_message_unpack(
            kinds[kind].desc, q->alloc, (size_t)sqlite3_column_bytes(st, 0), sqlite3_column_blob(st, 0));
        if (m == NULL) {
            sqlite3_reset(st);
            return STORE_CORRUPT;
        }
        (*left)--;
        if (fn(m, ctx) != 0) {
            *stopped = 1;
            break;
        }
    }
    rc = *left == 0 || *stopped || rc == SQLITE_DONE ? STORE_OK : tx_fail(tx, rc);
    if (q->work != NULL)
        *q->work += sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 0);
    sqlite3_reset(st);
    return rc;
}

int store_list(store_tx *tx, store_kind kind, const store_query *q, store_row_fn fn, void *ctx)
{
    int left = q->limit, stopped = 0, rc = STORE_OK;

    if (q->limit <= 0)
        return STORE_ERROR;
    if (q->work != NULL)
        *q->work = 0;
    if (q->n_seek == 0)
        return list_part(tx, kind, q, NULL, &left, &stopped, fn, ctx);
    for (size_t i = 0; i < q->n_seek && rc == STORE_OK && left > 0 && !stopped; i++)
        rc = list_part(tx, kind, q, &q->seek[i], &left, &stopped, fn, ctx);
    return rc;
}

static store_sum wide(int64_t units, int64_t nanos)
{
    return (store_sum)units * 1000000000 + nanos;
}

/* Steps a bound statement that returns one row and reads its first n
 * integer columns. The statement is reset. */
static int step_ints(store_tx *tx, sqlite3_stmt *st, int n, int64_t *out)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        for (int i = 0; i < n; i++)
            out[i] = sqlite3_column_int64(st, i);
        rc = STORE_OK;
    } else {
        rc = tx_fail(tx, rc);
    }
    sqlite3_reset(st);
    return rc;
}

int store_match_sum(store_tx *tx, const char *need, const char *pledge, uint32_t state_mask,
                    store_sum *nanos)
{
    sqlite3_stmt *st = stmt(tx->conn, need != NULL ? ST_MATCH_SUM_NEED : ST_MATCH_SUM_PLEDGE);
    int64_t v[2] = {0, 0};
    int rc;

    *nanos = 0;
    if (st == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    sqlite3_bind_text(st, 1, need != NULL ? need : pledge, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, state_mask);
    if ((rc = step_ints(tx, st, 2, v)) == STORE_OK)
        *nanos = wide(v[0], v[1]);
    return rc;
}

int store_pledge_count(store_tx *tx, const char *donor, uint32_t except_mask, int64_t *count)
{
    sqlite3_stmt *st = stmt(tx->conn, ST_PLEDGE_COUNT);

    *count = 0;
    if (st == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    sqlite3_bind_text(st, 1, donor, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, except_mask);
    return step_row(tx, st, count, NULL);
}

int store_donor_record(store_tx *tx, const char *donor, int sector, uint32_t state_mask,
                       int64_t *all, int64_t *in_sector)
{
    sqlite3_stmt *st = stmt(tx->conn, ST_DONOR_RECORD);

    *all = *in_sector = 0;
    if (st == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    sqlite3_bind_text(st, 1, donor, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, state_mask);
    sqlite3_bind_int(st, 3, sector);
    return step_row(tx, st, all, in_sector);
}

static int view_code(const store_view *v)
{
    return v->scope == STORE_SCOPE_UNRESTRICTED ? 1 : v->scope == STORE_SCOPE_DONOR_NEEDS ? 2 : 0;
}

/* Binds ?1 need mask and the view (?2..?4) of the report cell statements. */
static void bind_view(sqlite3_stmt *st, uint32_t need_mask, const store_view *v)
{
    sqlite3_bind_int64(st, 1, need_mask);
    sqlite3_bind_int(st, 2, view_code(v));
    if (v->scope == STORE_SCOPE_DONOR_NEEDS && v->donor != NULL)
        sqlite3_bind_text(st, 3, v->donor, -1, SQLITE_STATIC);
    else
        sqlite3_bind_text(st, 3, "", 0, SQLITE_STATIC); /* no donor has this name */
    sqlite3_bind_int64(st, 4, v->live_mask);
}

typedef struct cell {
    int sector, category;
    store_totals t;
} cell;

int store_need_totals(store_tx *tx, const store_view *v, uint32_t need_mask,
                      uint32_t committed_mask, uint32_t delivered_mask,
                      void (*fn)(int sector, int category, const store_totals *t, void *ctx),
                      void *ctx)
{
    sqlite3_stmt *st = stmt(tx->conn, ST_TOTALS_NEEDS);
    cell *cells = NULL;
    size_t n = 0, cap = 0, at = 0;
    int rc;

    if (st == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    bind_view(st, need_mask, v);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) { /* at most one cell per (sector, category) pair */
            cell *grown = realloc(cells, (cap = cap ? 2 * cap : 32) * sizeof(*cells));
            if (grown == NULL) {
                sqlite3_reset(st);
                free(cells);
                return STORE_NOMEM;
            }
            cells = grown;
        }
        memset(&cells[n], 0, sizeof(cells[n]));
        cells[n].sector = sqlite3_column_int(st, 0);
        cells[n].category = sqlite3_column_int(st, 1);
        cells[n].t.count = sqlite3_column_int64(st, 2);
        cells[n].t.estimated = wide(sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4));
        n++;
    }
    rc = rc == SQLITE_DONE ? STORE_OK : tx_fail(tx, rc);
    sqlite3_reset(st);
    if (rc == STORE_OK && (st = stmt(tx->conn, ST_TOTALS_MATCHES)) == NULL)
        rc = tx_fail(tx, sqlite3_errcode(tx->conn->db));
    if (rc == STORE_OK) {
        bind_view(st, need_mask, v);
        sqlite3_bind_int64(st, 5, committed_mask);
        sqlite3_bind_int64(st, 6, delivered_mask);
        /* Both in key order, the match cells a subset of the need cells. */
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            int sector = sqlite3_column_int(st, 0), category = sqlite3_column_int(st, 1);
            while (at < n && (cells[at].sector != sector || cells[at].category != category))
                at++;
            if (at == n)
                break; /* cannot be: both read one snapshot */
            cells[at].t.committed = wide(sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3));
            cells[at].t.delivered = wide(sqlite3_column_int64(st, 4), sqlite3_column_int64(st, 5));
        }
        rc = rc == SQLITE_DONE ? STORE_OK : rc == SQLITE_ROW ? STORE_CORRUPT : tx_fail(tx, rc);
        sqlite3_reset(st);
    }
    for (size_t i = 0; rc == STORE_OK && i < n; i++)
        fn(cells[i].sector, cells[i].category, &cells[i].t, ctx);
    free(cells);
    return rc;
}

/* One donor's line (store_donor_totals). */
static int donor_line(store_tx *tx, const char *donor, int unrestricted, uint32_t committed_mask,
                      uint32_t delivered_mask, store_totals *t, store_sum *pledged)
{
    sqlite3_stmt *st;
    int64_t v[4] = {0, 0, 0, 0};
    int rc;

    memset(t, 0, sizeof(*t));
    *pledged = 0;
    if ((st = stmt(tx->conn, ST_DONOR_NEEDS)) == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    sqlite3_bind_text(st, 1, donor, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, committed_mask);
    sqlite3_bind_int(st, 3, unrestricted);
    if ((rc = step_ints(tx, st, 3, v)) != STORE_OK)
        return rc;
    t->count = v[0];
    t->estimated = wide(v[1], v[2]);
    if ((st = stmt(tx->conn, ST_DONOR_AMOUNTS)) == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    sqlite3_bind_text(st, 1, donor, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, committed_mask);
    sqlite3_bind_int(st, 3, unrestricted);
    sqlite3_bind_int64(st, 4, delivered_mask);
    if ((rc = step_ints(tx, st, 4, v)) != STORE_OK)
        return rc;
    t->committed = wide(v[0], v[1]);
    t->delivered = wide(v[2], v[3]);
    if ((st = stmt(tx->conn, ST_DONOR_PLEDGED)) == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    sqlite3_bind_text(st, 1, donor, -1, SQLITE_STATIC);
    if ((rc = step_ints(tx, st, 2, v)) != STORE_OK)
        return rc;
    *pledged = wide(v[0], v[1]);
    return STORE_OK;
}

int store_donor_totals(store_tx *tx, const store_view *v, uint32_t committed_mask,
                       uint32_t delivered_mask,
                       void (*fn)(const char *donor, const char *display_name,
                                  const store_totals *t, store_sum pledged, void *ctx),
                       void *ctx)
{
    sqlite3_stmt *st = stmt(tx->conn, ST_TOTALS_DONORS);
    int unrestricted = v->scope == STORE_SCOPE_UNRESTRICTED, rc;

    if (st == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    if (v->scope == STORE_SCOPE_DONOR_NEEDS)
        sqlite3_bind_text(st, 1, v->donor != NULL ? v->donor : "", -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_totals t;
        store_sum pledged = 0;
        int lrc = donor_line(tx, (const char *)sqlite3_column_text(st, 0), unrestricted,
                             committed_mask, delivered_mask, &t, &pledged);
        if (lrc != STORE_OK) {
            sqlite3_reset(st);
            return lrc;
        }
        fn((const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1), &t,
           pledged, ctx);
    }
    rc = rc == SQLITE_DONE ? STORE_OK : tx_fail(tx, rc);
    sqlite3_reset(st);
    return rc;
}

_Static_assert(TALLINN__V1__NEED__STATE__STATE_OPEN == 6 &&
                   TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_STANDARD == 1 &&
                   TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_RESTRICTED == 2 &&
                   TALLINN__V1__PLEDGE__STATE__STATE_WITHDRAWN == 3 &&
                   TALLINN__V1__DONOR__MEMBERSHIP__MEMBERSHIP_MEMBER == 1,
               "the scope and report SQL spell these enum numbers");

const char *store_scope_sql(store_kind kind, store_scope scope)
{
    switch (scope) {
    case STORE_SCOPE_ALL:
        return NULL;
    case STORE_SCOPE_DONOR_NEEDS:
        /* OPEN and STANDARD, or any need the donor has a live match on */
        return kind != STORE_NEED ? NULL
               : "(state = 6 AND sensitivity = 1) OR EXISTS (SELECT 1 FROM matches m"
                 " WHERE m.need = needs.name AND m.donor = ? AND ((1 << m.state) & ?) != 0)";
    case STORE_SCOPE_UNRESTRICTED:
        return kind != STORE_NEED ? NULL : "sensitivity != 2";
    case STORE_SCOPE_OF_DONOR:
        return kind == STORE_PLEDGE || kind == STORE_MATCH ? "donor = ?" : NULL;
    }
    return NULL;
}

/* ---- Principals ---- */

int store_principal_set_token(store_tx *tx, const char *name, const uint8_t hash[32])
{
    sqlite3_stmt *st = stmt(tx->conn, ST_PRINCIPAL_SET_TOKEN);
    int rc;

    if (st == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (hash != NULL)
        sqlite3_bind_blob(st, 2, hash, 32, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 2);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        rc = tx_fail(tx, rc);
        sqlite3_reset(st);
        return rc;
    }
    rc = sqlite3_changes(tx->conn->db) == 1 ? STORE_OK : STORE_NOT_FOUND;
    sqlite3_reset(st);
    return rc;
}

static int get_by(store_tx *tx, int id, const void *key, int keylen, ProtobufCAllocator *alloc,
                  ProtobufCMessage **out)
{
    sqlite3_stmt *st = stmt(tx->conn, id);
    int rc;

    *out = NULL;
    if (st == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    if (keylen < 0)
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    else
        sqlite3_bind_blob(st, 1, key, keylen, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = protobuf_c_message_unpack(&tallinn__v1__principal__descriptor, alloc,
                                         (size_t)sqlite3_column_bytes(st, 0),
                                         sqlite3_column_blob(st, 0));
        rc = *out != NULL ? STORE_OK : STORE_CORRUPT;
    } else {
        rc = rc == SQLITE_DONE ? STORE_NOT_FOUND : tx_fail(tx, rc);
    }
    sqlite3_reset(st);
    return rc;
}

int store_principal_by_token(store_tx *tx, const uint8_t hash[32], ProtobufCAllocator *alloc,
                             ProtobufCMessage **out)
{
    return get_by(tx, ST_PRINCIPAL_BY_TOKEN, hash, 32, alloc, out);
}

int store_principal_by_cert(store_tx *tx, const char *identity, ProtobufCAllocator *alloc,
                            ProtobufCMessage **out)
{
    return get_by(tx, ST_PRINCIPAL_BY_CERT, identity, -1, alloc, out);
}

int store_donor_has_match(store_tx *tx, const char *need, const char *donor, uint32_t state_mask,
                          int *yes)
{
    sqlite3_stmt *st = stmt(tx->conn, ST_DONOR_HAS_MATCH);
    int64_t v = 0;
    int rc;

    *yes = 0;
    if (st == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    sqlite3_bind_text(st, 1, need, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, donor, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, state_mask);
    rc = step_row(tx, st, &v, NULL);
    *yes = v != 0;
    return rc;
}

/* ---- The audit log ---- */

/* Steps a statement that returns nothing; rc mapped. */
static int step_done(store_tx *tx, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    rc = rc == SQLITE_DONE ? STORE_OK : tx_fail(tx, rc);
    sqlite3_reset(st);
    return rc;
}

/* Copies a blob column into a new buffer. */
static int blob_copy(sqlite3_stmt *st, int col, uint8_t **out, size_t *len)
{
    *len = (size_t)sqlite3_column_bytes(st, col);
    *out = malloc(*len ? *len : 1);
    if (*out == NULL)
        return STORE_NOMEM;
    if (*len > 0)
        memcpy(*out, sqlite3_column_blob(st, col), *len);
    return STORE_OK;
}

int store_audit_append(store_tx *tx, int64_t index, const uint8_t *data, size_t len)
{
    sqlite3_stmt *st = stmt(tx->conn, ST_AUDIT_APPEND);

    if (st == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    sqlite3_bind_int64(st, 1, index);
    sqlite3_bind_blob(st, 2, len ? (const void *)data : "", (int)len, SQLITE_STATIC);
    return step_done(tx, st);
}

int store_audit_leaf(store_tx *tx, int64_t index, uint8_t **data, size_t *len)
{
    sqlite3_stmt *st = stmt(tx->conn, ST_AUDIT_LEAF);
    int rc;

    *data = NULL;
    *len = 0;
    if (st == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    sqlite3_bind_int64(st, 1, index);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        rc = blob_copy(st, 0, data, len);
    else
        rc = rc == SQLITE_DONE ? STORE_NOT_FOUND : tx_fail(tx, rc);
    sqlite3_reset(st);
    return rc;
}

static int one_int(store_tx *tx, int id, int64_t *out)
{
    sqlite3_stmt *st = stmt(tx->conn, id);

    *out = 0;
    if (st == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    return step_row(tx, st, out, NULL);
}

int store_audit_size(store_tx *tx, int64_t *size, int64_t *count)
{
    int rc = one_int(tx, ST_AUDIT_SIZE, size);

    if (rc == STORE_OK && count != NULL)
        rc = one_int(tx, ST_AUDIT_COUNT, count);
    return rc;
}

int store_audit_scan(store_tx *tx, int64_t start, int64_t end, store_leaf_fn fn, void *ctx)
{
    sqlite3_stmt *st = stmt(tx->conn, ST_AUDIT_SCAN);
    int rc;

    if (st == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    sqlite3_bind_int64(st, 1, start);
    sqlite3_bind_int64(st, 2, end);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (fn(sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1),
               (size_t)sqlite3_column_bytes(st, 1), ctx) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    rc = rc == SQLITE_DONE ? STORE_OK : tx_fail(tx, rc);
    sqlite3_reset(st);
    return rc;
}

int store_tile_put(store_tx *tx, int level, int64_t index, const uint8_t *hashes, size_t n)
{
    sqlite3_stmt *st = stmt(tx->conn, ST_TILE_PUT);

    if (st == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    if (n == 0 || n > 256)
        return STORE_ERROR;
    sqlite3_bind_int(st, 1, level);
    sqlite3_bind_int64(st, 2, index);
    sqlite3_bind_blob(st, 3, hashes, (int)(n * 32), SQLITE_STATIC);
    return step_done(tx, st);
}

int store_tile_get(store_tx *tx, int level, int64_t index, uint8_t hashes[256 * 32], size_t *n)
{
    sqlite3_stmt *st = stmt(tx->conn, ST_TILE_GET);
    int rc, bytes;

    *n = 0;
    if (st == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    sqlite3_bind_int(st, 1, level);
    sqlite3_bind_int64(st, 2, index);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        bytes = sqlite3_column_bytes(st, 0);
        if (bytes <= 0 || bytes > 256 * 32 || bytes % 32 != 0) {
            rc = STORE_CORRUPT;
        } else {
            memcpy(hashes, sqlite3_column_blob(st, 0), (size_t)bytes);
            *n = (size_t)bytes / 32;
            rc = STORE_OK;
        }
    } else {
        rc = rc == SQLITE_DONE ? STORE_NOT_FOUND : tx_fail(tx, rc);
    }
    sqlite3_reset(st);
    return rc;
}

int store_checkpoint_put(store_tx *tx, int64_t size, const uint8_t *note, size_t len)
{
    sqlite3_stmt *st = stmt(tx->conn, ST_CKPT_PUT);

    if (st == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    sqlite3_bind_int64(st, 1, size);
    sqlite3_bind_blob(st, 2, note, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
    return step_done(tx, st);
}

int store_checkpoint_get(store_tx *tx, int64_t size, uint8_t **note, size_t *len,
                         int64_t *size_out)
{
    sqlite3_stmt *st = stmt(tx->conn, size < 0 ? ST_CKPT_LATEST : ST_CKPT_GET);
    int rc;

    *note = NULL;
    *len = 0;
    if (st == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    if (size >= 0)
        sqlite3_bind_int64(st, 1, size);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (size_out != NULL)
            *size_out = sqlite3_column_int64(st, 0);
        rc = blob_copy(st, 1, note, len);
    } else {
        rc = rc == SQLITE_DONE ? STORE_NOT_FOUND : tx_fail(tx, rc);
    }
    sqlite3_reset(st);
    return rc;
}

/* ---- Remembered requests ---- */

int store_request_get(store_tx *tx, const char *principal, const char *method,
                      const char *request_id, uint8_t hash[32], uint8_t **response,
                      size_t *response_len)
{
    sqlite3_stmt *st = stmt(tx->conn, ST_REQ_GET);
    int rc;

    *response = NULL;
    *response_len = 0;
    if (st == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    sqlite3_bind_text(st, 1, principal, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, method, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, request_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return STORE_NOT_FOUND;
    }
    if (rc != SQLITE_ROW) {
        rc = tx_fail(tx, rc);
        sqlite3_reset(st);
        return rc;
    }
    if (sqlite3_column_bytes(st, 0) != 32) {
        sqlite3_reset(st);
        return STORE_CORRUPT;
    }
    memcpy(hash, sqlite3_column_blob(st, 0), 32);
    *response_len = (size_t)sqlite3_column_bytes(st, 1);
    *response = malloc(*response_len ? *response_len : 1);
    if (*response == NULL) {
        sqlite3_reset(st);
        return STORE_NOMEM;
    }
    if (*response_len > 0)
        memcpy(*response, sqlite3_column_blob(st, 1), *response_len);
    sqlite3_reset(st);
    return STORE_OK;
}

int store_request_put(store_tx *tx, const char *principal, const char *method,
                      const char *request_id, const uint8_t hash[32], const uint8_t *response,
                      size_t response_len)
{
    sqlite3_stmt *st = stmt(tx->conn, ST_REQ_PUT);
    struct timespec ts;
    int rc;

    if (st == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    clock_gettime(CLOCK_REALTIME, &ts);
    sqlite3_bind_text(st, 1, principal, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, method, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, request_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, hash, 32, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, response_len ? (const void *)response : "", (int)response_len,
                      SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, (int64_t)ts.tv_sec);
    rc = sqlite3_step(st);
    rc = rc == SQLITE_DONE ? STORE_OK : tx_fail(tx, rc);
    sqlite3_reset(st);
    return rc;
}

int store_request_expire(store_tx *tx, int64_t max_age_s)
{
    sqlite3_stmt *st = stmt(tx->conn, ST_REQ_EXPIRE);
    struct timespec ts;
    int rc;

    if (st == NULL)
        return tx_fail(tx, sqlite3_errcode(tx->conn->db));
    clock_gettime(CLOCK_REALTIME, &ts);
    sqlite3_bind_int64(st, 1, (int64_t)ts.tv_sec - max_age_s);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        rc = tx_fail(tx, rc);
        sqlite3_reset(st);
        return rc;
    }
    rc = sqlite3_changes(tx->conn->db);
    sqlite3_reset(st);
    return rc;
}

/* ---- Online backup ---- */

int store_backup(const char *src, const char *dst, char *err, size_t errlen)
{
    sqlite3 *from = NULL, *to = NULL;
    sqlite3_backup *b = NULL;
    struct stat st;
    int rc = STORE_ERROR, step, fd;

    if (stat(dst, &st) == 0) {
        snprintf(err, errlen, "%s exists; back up to a new file", dst);
        return STORE_EXISTS;
    }
    if (sqlite3_open_v2(src, &from, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", src, sqlite3_errmsg(from));
        goto done;
    }
    sqlite3_busy_timeout(from, STORE_DEFAULT_BUSY_MS);
    if (sqlite3_open_v2(dst, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot create %s: %s", dst, sqlite3_errmsg(to));
        goto done;
    }
    b = sqlite3_backup_init(to, "main", from, "main");
    if (b == NULL) {
        snprintf(err, errlen, "cannot start the backup: %s", sqlite3_errmsg(to));
        goto done;
    }
    /* 256 pages (1 MiB) a step; between steps the server's writer may go on. */
    do {
        step = sqlite3_backup_step(b, 256);
        if (step == SQLITE_BUSY || step == SQLITE_LOCKED)
            sqlite3_sleep(10);
    } while (step == SQLITE_OK || step == SQLITE_BUSY || step == SQLITE_LOCKED);
    if (step != SQLITE_DONE) {
        snprintf(err, errlen, "backup failed: %s", sqlite3_errstr(step));
        goto done;
    }
    sqlite3_backup_finish(b);
    b = NULL;
    if (sqlite3_close(to) != SQLITE_OK) {
        snprintf(err, errlen, "cannot finish %s", dst);
        to = NULL;
        goto done;
    }
    to = NULL;
    /* The copy is only a backup once it is on disk. */
    if ((fd = open(dst, O_RDONLY)) < 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot sync %s: %s", dst, strerror(errno));
        if (fd >= 0)
            close(fd);
        goto done;
    }
    close(fd);
    rc = STORE_OK;
done:
    if (b != NULL)
        sqlite3_backup_finish(b);
    if (to != NULL)
        sqlite3_close(to);
    if (from != NULL)
        sqlite3_close(from);
    if (rc != STORE_OK)
        unlink(dst);
    return rc;
}
