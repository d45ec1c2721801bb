"""Hostile field values for the chaos test (chaos_test.py) and the raw bytes
that carry them: invalid UTF-8 cannot live in a Python str, so a request is
built with a same-length ASCII placeholder and the serialized bytes are
patched afterwards (lengths, hence varint prefixes, stay the same).

Every generator draws from the random.Random it is given, so a seed replays
the same values. Each value comes with a short class name ("utf8.lone_ff")
that failure reports group by, and with what the API contract says of it
(docs/api-conventions.md, "Validation limits")."""
import string
import uuid

NANO = 10 ** 9
MONEY_MAX_UNITS = 10 ** 9
CENT = 10 ** 7  # nanos in one EUR cent: EUR amounts have two decimals
INT64_MAX, INT64_MIN = 2 ** 63 - 1, -2 ** 63
INT32_MAX, INT32_MIN = 2 ** 31 - 1, -2 ** 31


class Raw:
    """A string field's value as raw bytes: may be invalid UTF-8."""

    def __init__(self, b):
        self.b = b

    def __repr__(self):
        return "Raw(%r)" % self.b

    def __len__(self):
        return len(self.b)


def as_bytes(v):
    return v.b if isinstance(v, Raw) else v.encode("utf-8", "surrogatepass")


class Wire:
    """Builds one request: s() turns a value into something a Python message
    accepts, bytes() serializes and puts the raw values back."""

    ALPHABET = string.ascii_uppercase + string.digits

    def __init__(self, rng):
        self.rng = rng
        self.subs = []

    def s(self, v):
        if not isinstance(v, Raw):
            return v
        n = len(v.b)
        if n < 4:  # short placeholders of characters nothing else here uses
            ph = "".join(self.rng.choice("~^`|") for _ in range(n))
        else:
            ph = "".join(self.rng.choice(self.ALPHABET) for _ in range(n))
        self.subs.append((ph.encode(), v.b))
        return ph

    def bytes(self, msg):
        data = msg.SerializeToString()
        for ph, raw in self.subs:
            if data.count(ph) != 1:
                raise Collision()
            data = data.replace(ph, raw)
        return data


class Collision(Exception):
    """A placeholder occurred more than once: draw the request again."""


# ---- Text ----

# What validate_text refuses in every text field (single- or multi-line).
BAD_ANYWHERE = [
    ("nul.inner", "abc\x00def"),
    ("nul.trailing", "Valid title\x00"),
    ("ctl.escape", "\x1b[2J\x1b[31mFAKE RECORD\x1b[0m"),
    ("ctl.bell", "bell\x07"),
    ("ctl.del", "del\x7f"),
    ("ctl.c1", "c1\u0085x"),
    ("ctl.bidi", "abc\u202egnp.exe"),
    ("ctl.isolate", "x\u2066y\u2069"),
]
# ... and what only single-line fields refuse.
BAD_SINGLE_LINE = [
    ("ctl.newline", "line one\nline two"),
    ("ctl.cr", "fake\r2025-01-01 ADMIN ok"),
    ("ctl.tab", "a\tb"),
    ("ctl.linesep", "a\u2028b"),
]
BAD_UTF8 = [
    ("utf8.lone_ff", Raw(b"needs/\xff\xfe")),
    ("utf8.overlong", Raw(b"ab\xc0\xafcd")),
    ("utf8.surrogate", Raw(b"x\xed\xa0\x80y")),
    ("utf8.truncated", Raw(b"abc\xe2\x82")),
    ("utf8.five_byte", Raw(b"\xf8\x88\x80\x80\x80")),
    ("utf8.above_10ffff", Raw(b"\xf4\x90\x80\x80")),
]


def long_text(rng, n_chars, unit=None):
    """n_chars code points: ASCII, 2-, 3- or 4-byte characters."""
    unit = unit or rng.choice(["a", "\u00e9", "\u4e2d", "\U0001F512"])
    return unit * n_chars


def hostile_text(rng, limit, multiline=False):
    """(class, value, valid) for a text field with a limit in code points."""
    r = rng.random()
    if r < 0.25:
        c, v = rng.choice(BAD_ANYWHERE)
        return "text." + c, v, False
    if r < 0.35 and not multiline:
        c, v = rng.choice(BAD_SINGLE_LINE)
        return "text." + c, v, False
    if r < 0.35 and multiline:
        return "text.multiline_ok", "line one\nline two\r\n\tindented", True
    if r < 0.55:
        c, v = rng.choice(BAD_UTF8)
        return "text." + c, v, False
    if r < 0.65:
        return "text.at_limit", long_text(rng, limit), True
    if r < 0.75:
        return "text.over_limit", long_text(rng, limit + 1), False
    if r < 0.82:
        return "text.empty", "", False  # callers decide whether empty is allowed
    if r < 0.92:
        n = rng.choice([8 * 1024, 9000])
        return "text.huge_8k", "x" * n, n <= limit
    return "text.huge_70k", "y" * rng.choice([70 * 1024, 200 * 1024]), False


# ---- Resource names and ids ----

def hostile_name(rng, prefix):
    """(class, value) of a malformed resource name like prefix + id."""
    choices = [
        ("name.upper", prefix + "ABC"),
        ("name.slash", prefix + "a/b"),
        ("name.dash_start", prefix + "-ab"),
        ("name.dash_end", prefix + "ab-"),
        ("name.dots", prefix + "../etc"),
        ("name.id_64", prefix + "a" * 64),
        ("name.empty_id", prefix),
        ("name.no_prefix", "abc"),
        ("name.wrong_kind", "widgets/abc"),
        ("name.nul", prefix + "abc\x00def"),
        ("name.nul_trailing", prefix + "abc\x00"),
        ("name.escape", prefix + "a\x1b[2Jb"),
        ("name.newline", prefix + "a\nb"),
        ("name.utf8", Raw(prefix.encode() + b"\xff\xfe")),
        ("name.utf8_mid", Raw(prefix.encode() + b"ab\xc3(cd")),
        ("name.unicode", prefix + "\u00e9t\u00e9"),
        ("name.huge_8k", prefix + "a" * (8 * 1024)),
        ("name.huge_70k", prefix + "b" * (70 * 1024)),
        ("name.over_256", prefix + "c" * 300),
        ("name.space", prefix + "a b"),
    ]
    return rng.choice(choices)


def hostile_id(rng):
    """(class, value) of a malformed client-chosen {resource}_id."""
    return rng.choice([
        ("id.upper", "Abc"), ("id.digit_start", "1abc"), ("id.dash_end", "abc-"),
        ("id.too_long", "a" * 64), ("id.slash", "a/b"), ("id.nul", "abc\x00d"),
        ("id.utf8", Raw(b"ab\xffc")), ("id.unicode", "\u00e9t\u00e9"), ("id.space", "a b"),
        ("id.huge", "a" * 10000),
    ])


def new_rid(rng, upper=False):
    u = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return u.upper() if upper else u


def hostile_rid(rng):
    return rng.choice([
        ("rid.nil", "00000000-0000-0000-0000-000000000000"), ("rid.short", "1234"),
        ("rid.no_dashes", "0123456789abcdef0123456789abcdef"),
        ("rid.nul", new_rid(rng)[:-1] + "\x00"), ("rid.utf8", Raw(b"\xff" * 36)),
        ("rid.braces", "{" + new_rid(rng) + "}"), ("rid.huge", "a" * 70000),
        ("rid.trailing_nul", new_rid(rng) + "\x00junk"),
    ])


# ---- Money ----

def money_valid(cur, units, nanos, positive=True):
    """What docs/api-conventions.md says of one amount."""
    if isinstance(cur, Raw) or cur != "EUR":
        return False
    if not (-999999999 <= nanos <= 999999999):
        return False
    if nanos % CENT != 0:  # EUR has two decimals (common.proto Money)
        return False
    if (units > 0 and nanos < 0) or (units < 0 and nanos > 0):
        return False
    total = units * NANO + nanos
    if abs(total) > MONEY_MAX_UNITS * NANO:
        return False
    return total > 0 if positive else True


def good_money(rng, big_bias=0.3):
    """A valid positive amount; often the largest one allowed, because sums
    of those are what overflow (issue 10 item 3)."""
    r = rng.random()
    if r < big_bias:
        return ("EUR", MONEY_MAX_UNITS, 0)
    if r < big_bias + 0.1:
        return ("EUR", MONEY_MAX_UNITS - 1, 990000000)
    if r < big_bias + 0.15:
        return ("EUR", 0, rng.randint(1, 99) * CENT)
    return ("EUR", rng.randint(1, 5_000_000), rng.choice([0, 0, 500000000, rng.randint(1, 99) * CENT]))


def hostile_money(rng):
    """(class, (currency, units, nanos))."""
    return rng.choice([
        ("money.zero", ("EUR", 0, 0)),
        ("money.negative", ("EUR", -5, 0)),
        ("money.negative_nanos", ("EUR", 0, -1)),
        ("money.over_max", ("EUR", MONEY_MAX_UNITS, 1)),
        ("money.over_max_units", ("EUR", MONEY_MAX_UNITS + 1, 0)),
        ("money.int64_max", ("EUR", INT64_MAX, 999999999)),
        ("money.int64_min", ("EUR", INT64_MIN, -999999999)),
        ("money.int64_max_plain", ("EUR", INT64_MAX, 0)),
        ("money.nanos_1e9", ("EUR", 1, 10 ** 9)),
        ("money.nanos_int32_max", ("EUR", 0, INT32_MAX)),
        ("money.nanos_int32_min", ("EUR", 0, INT32_MIN)),
        ("money.sign_mismatch", ("EUR", 5, -1)),
        ("money.currency_lower", ("eur", 5, 0)),
        ("money.currency_other", ("XXX", 5, 0)),
        ("money.currency_unknown", ("ABC", 5, 0)),
        ("money.sub_cent", ("EUR", 5, 1)),
        ("money.currency_empty", ("", 5, 0)),
        ("money.currency_nul", ("EUR\x00", 5, 0)),
        ("money.currency_nul_junk", ("EUR\x00XX", 5, 0)),
        ("money.currency_long", ("EURO", 5, 0)),
        ("money.currency_utf8", (Raw(b"EU\xff"), 5, 0)),
        ("money.currency_symbol", ("\u20ac", 5, 0)),
    ])


# ---- Dates ----

def hostile_date(rng):
    return rng.choice([
        ("date.feb29_common", (2025, 2, 29)), ("date.year0", (0, 1, 1)),
        ("date.year10000", (10000, 1, 1)), ("date.month13", (2025, 13, 1)),
        ("date.day0", (2025, 1, 0)), ("date.negative", (-1, -1, -1)),
        ("date.int32_max", (INT32_MAX, INT32_MAX, INT32_MAX)), ("date.apr31", (2025, 4, 31)),
    ])


def good_date(rng):
    return rng.choice([(2024, 2, 29), (2025, 6, 30), (9999, 12, 31), (1, 1, 1), (2026, 1, 15)])


# ---- Filters, order_by, page tokens ----

def garbage_filter(rng):
    """(class, text) of a filter that must be refused or at least not break
    anything (INVALID_ARGUMENT or OK)."""
    return rng.choice([
        ("filter.unbalanced", "(state = OPEN"),
        ("filter.deep_parens", "(" * 40 + "state = OPEN" + ")" * 40),
        ("filter.deep_not", "NOT " * 40 + "state = OPEN"),
        ("filter.many_cmps", " OR ".join(["state = OPEN"] * 100)),
        ("filter.too_long", "title = \"" + "x" * 3000 + "\""),
        ("filter.sql", "title = \"x\" OR 1=1; DROP TABLE needs; --"),
        ("filter.sql2", "state = OPEN) OR (1 = 1"),
        ("filter.unknown_field", "colour = \"red\""),
        ("filter.bad_enum", "state = PURPLE"),
        ("filter.nul", "state = OPEN\x00 OR 1"),
        ("filter.utf8", Raw(b"title = \"\xff\xfe\"")),
        ("filter.escape", "title = \"\x1b[2J\""),
        ("filter.huge_number", "estimated_cost > 99999999999999999999999999"),
        ("filter.money_many_decimals", "estimated_cost > 1.0000000001"),
        ("filter.neg_money", "estimated_cost > -9223372036854775808"),
        ("filter.bad_time", "create_time > \"2025-13-45T99:99:99Z\""),
        ("filter.has_op", "region:\"x\""),  # ':' on a field that cannot be searched
        ("filter.search_wild", "title : \"%_\\\\*\""),  # search: wildcards are text
        ("filter.implicit_and", "state = OPEN priority = HIGH"),
        ("filter.only_op", "="),
        ("filter.unterminated", "title = \"abc"),
        ("filter.backslash", "title = \"\\"),
        ("filter.empty_parens", "()"),
    ])


def garbage_order(rng):
    return rng.choice([
        ("order.unknown", "colour"), ("order.repeated", "priority, priority"),
        ("order.bad_dir", "priority sideways"), ("order.too_many", ", ".join(["priority"] * 20)),
        ("order.too_long", "x" * 600), ("order.nul", "priority\x00"),
        ("order.utf8", Raw(b"prio\xffrity")), ("order.comma", ","),
    ])


def tamper_token(rng, tok):
    """(class, token) derived from a real page token."""
    if not tok:
        return "token.empty_is_first_page", ""
    i = rng.randrange(0, max(1, len(tok) - 1))  # never the last character (padding bits)
    c = tok[i]
    flipped = "A" if c != "A" else "B"
    return rng.choice([
        ("token.flip", tok[:i] + flipped + tok[i + 1:]),
        ("token.truncate", tok[:len(tok) // 2]),
        ("token.append", tok + "AAAA"),
        ("token.prefix", "A" + tok),
        ("token.nul", tok[:i] + "\x00" + tok[i + 1:]),
        ("token.utf8", Raw(tok[:i].encode() + b"\xff" + tok[i + 1:].encode())),
    ])


def random_token(rng):
    return rng.choice([
        ("token.random", "".join(rng.choice(string.ascii_letters + string.digits + "-_")
                                 for _ in range(rng.randint(1, 200)))),
        ("token.huge", "A" * 5000),
        ("token.padding", "AAAA===="),
        ("token.binary", Raw(bytes(rng.randrange(1, 256) for _ in range(40)))),
    ])
