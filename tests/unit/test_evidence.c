/* Unit tests for textfold.c and evidence.c: the caseless form search
 * compares (known answers in Latin, Cyrillic, Greek, compatibility forms,
 * ignorables, decomposed input, bad UTF-8, wildcards left alone), and the
 * checks and digest of delivery evidence (a known answer computed apart, in
 * Python's hashlib, from the encoding docs/api.md gives). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "tallinn/evidence.h"
#include "tallinn/textfold.h"
#include "tallinn/validate.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static void expect_fold(const char *in, size_t len, const char *want)
{
    char *out = NULL;
    size_t n = 0;

    assert_int_equal(textfold(in, len, &out, &n), TEXTFOLD_OK);
    if (n != strlen(want) || memcmp(out, want, n) != 0)
        fail_msg("fold(\"%.*s\") = \"%s\", wanted \"%s\"", (int)len, in, out, want);
    assert_int_equal(out[n], '\0');
    /* folding a folded text changes nothing */
    {
        char *again = NULL;
        size_t m = 0;
        assert_int_equal(textfold(out, n, &again, &m), TEXTFOLD_OK);
        assert_int_equal(m, n);
        assert_memory_equal(again, out, n);
        free(again);
    }
    free(out);
}

static void test_textfold(void **state)
{
    (void)state;
    expect_fold(S(""), "");
    expect_fold(S("Odesa"), "odesa");
    expect_fold(S("ОДЕСА"), "одеса");
    expect_fold(S("Одеса"), "одеса");
    expect_fold(S("ҐЄІЇ ґєії"), "ґєії ґєії"); /* the Ukrainian letters */
    expect_fold(S("ХАРКІВ"), "харків");
    expect_fold(S("Straße"), "strasse");
    expect_fold(S("ΣΟΦΊΑ"), "σοφία");
    expect_fold(S("\xef\xac\x81le"), "file");        /* U+FB01 ﬁ ligature */
    expect_fold(S("\xef\xbc\xab\xef\xbd\x99\xef\xbd\x89\xef\xbd\x96"), "kyiv"); /* full-width */
    expect_fold(S("Ky\xc2\xadiv"), "kyiv");          /* a soft hyphen is ignorable */
    expect_fold(S("\xd0\xb8\xcc\x86"), "й");          /* и + combining breve -> й */
    expect_fold(S("50%_off \\ *?"), "50%_off \\ *?"); /* no pattern characters */
    expect_fold(S("a\xff" "b"), "a\xef\xbf\xbd" "b"); /* not UTF-8 -> U+FFFD */
}

static void test_textfold_contains(void **state)
{
    (void)state;
    assert_true(textfold_contains(S("одеса порт"), S("порт")));
    assert_true(textfold_contains(S("abc"), S("")));
    assert_false(textfold_contains(S("ab"), S("abc")));
    assert_false(textfold_contains(S("odesa"), S("o%")));
}

static void test_textfold_limit(void **state)
{
    char *big = malloc(TEXTFOLD_MAX_INPUT + 1), *out = (char *)1;
    size_t n = 7;
    (void)state;

    memset(big, 'A', TEXTFOLD_MAX_INPUT + 1);
    assert_int_equal(textfold(big, TEXTFOLD_MAX_INPUT + 1, &out, &n), TEXTFOLD_ERR_TOO_LONG);
    assert_null(out);
    assert_int_equal(n, 0);
    free(big);
}

static void test_sha256_check(void **state)
{
    const char *ok = "f83f07be16e270186d35b876916c461995ebc3af5b1798f898c33285a1847dbc";
    (void)state;

    assert_int_equal(evidence_check_sha256(ok, 64), VALIDATE_OK);
    assert_int_equal(evidence_check_sha256("", 0), VALIDATE_ERR_EMPTY);
    assert_int_equal(evidence_check_sha256(ok, 63), VALIDATE_ERR_SYNTAX);
    assert_int_equal(evidence_check_sha256(S("F83F07BE16E270186D35B876916C461995EBC3AF5B1798F898C33285A1847DBC")),
                     VALIDATE_ERR_SYNTAX);
    assert_int_equal(evidence_check_sha256(S("g83f07be16e270186d35b876916c461995ebc3af5b1798f898c33285a1847dbc")),
                     VALIDATE_ERR_SYNTAX);
}

static void test_media_type_check(void **state)
{
    char lower[EVIDENCE_MEDIA_TYPE_MAX + 1], big[300];
    (void)state;

    assert_int_equal(evidence_check_media_type(S("Application/PDF"), lower), VALIDATE_OK);
    assert_string_equal(lower, "application/pdf");
    assert_int_equal(evidence_check_media_type(S("application/vnd.oasis.opendocument.text"), NULL),
                     VALIDATE_OK);
    assert_int_equal(evidence_check_media_type(S("image/svg+xml"), NULL), VALIDATE_OK);
    assert_int_equal(evidence_check_media_type(S(""), NULL), VALIDATE_ERR_EMPTY);
    static const char *const bad[] = {"pdf", "/pdf", "application/", "application/pdf/x",
                                      "application/pdf; charset=x", ".a/pdf", "a/.pdf",
                                      "a b/pdf", "text/plaïn", "a//b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (evidence_check_media_type(bad[i], strlen(bad[i]), NULL) != VALIDATE_ERR_SYNTAX)
            fail_msg("\"%s\" was not refused as syntax", bad[i]);
    /* 127 on each side is the most */
    memset(big, 'a', sizeof big);
    big[127] = '/';
    assert_int_equal(evidence_check_media_type(big, 255, NULL), VALIDATE_OK);
    assert_int_equal(evidence_check_media_type(big, 256, NULL), VALIDATE_ERR_TOO_LONG);
    big[127] = 'a';
    big[128] = '/';
    assert_int_equal(evidence_check_media_type(big, 200, NULL), VALIDATE_ERR_SYNTAX);
}

static void test_digest_known_answer(void **state)
{
    evidence_doc d = {"f83f07be16e270186d35b876916c461995ebc3af5b1798f898c33285a1847dbc",
                      "act.pdf", "application/pdf"};
    uint8_t out[EVIDENCE_DIGEST_BYTES];
    char hex[2 * EVIDENCE_DIGEST_BYTES + 1];
    (void)state;

    assert_int_equal(evidence_digest("All 40 sites", &d, 1, out), 0);
    sodium_bin2hex(hex, sizeof hex, out, sizeof out);
    assert_string_equal(hex, "1ef1f54a550eda89784d7d0a4a378a3401382433e4cd13bc520c3649c745de8b");
    assert_int_equal(evidence_digest("", NULL, 0, out), 0);
    sodium_bin2hex(hex, sizeof hex, out, sizeof out);
    assert_string_equal(hex, "dd874a818014f73534905cba25969b852c74c772e5a04ef79a31763e1ddb6c82");
    d.sha256 = "not hex";
    assert_int_equal(evidence_digest("x", &d, 1, out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_textfold),
        cmocka_unit_test(test_textfold_contains),
        cmocka_unit_test(test_textfold_limit),
        cmocka_unit_test(test_sha256_check),
        cmocka_unit_test(test_media_type_check),
        cmocka_unit_test(test_digest_known_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
