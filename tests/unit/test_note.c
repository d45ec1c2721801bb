/* test_note.c — signed notes: the Tessera test log's published key and
 * checkpoints as known answers, the verification rules, strict parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tallinn/note.h"

static const char tessera_vkey[] =
    "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx";
static const char tessera_skey[] =
    "PRIVATE+KEY+example.com/log/testdata+33d7b496+AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg";

static const char *data_dir(void)
{
    const char *d = getenv("TALLINN_TEST_DATA");
    if (!d || !*d)
        fail_msg("TALLINN_TEST_DATA is not set");
    return d;
}

/* Reads tests/data/<rel> into a NUL-terminated buffer. */
static char *read_data(const char *rel, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", data_dir(), rel);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail_msg("%s: %s", path, strerror(errno));
    char *buf = malloc(65536);
    assert_non_null(buf);
    *len = fread(buf, 1, 65535, fp);
    buf[*len] = '\0';
    fclose(fp);
    return buf;
}

static note_verifier tessera_verifier(void)
{
    note_verifier v;
    char err[256];
    if (note_verifier_parse(tessera_vkey, &v, err, sizeof err) != 0)
        fail_msg("%s", err);
    return v;
}

static void assert_verifier_equal(const note_verifier *a, const note_verifier *b)
{
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->key_id, b->key_id);
    assert_memory_equal(a->public_key, b->public_key, NOTE_PUBLIC_KEY_SIZE);
}

static void test_verifier_key(void **state)
{
    (void)state;
    note_verifier v = tessera_verifier();
    assert_string_equal(v.name, "example.com/log/testdata");
    assert_int_equal(v.key_id, 0x33d7b496);
    uint32_t id = 0;
    assert_int_equal(note_key_id(v.name, v.public_key, &id), 0);
    assert_int_equal(id, 0x33d7b496);
    char buf[NOTE_VERIFIER_KEY_MAX];
    assert_int_equal(note_verifier_format(&v, buf, sizeof buf), 0);
    assert_string_equal(buf, tessera_vkey);
    assert_int_equal(note_verifier_format(&v, buf, 20), -ENOSPC);

    /* Rejections: each is the published key with one thing wrong. */
    static const char *bad[] = {
        "",
        "example.com/log/testdata",
        "example.com/log/testdata+33d7b496",
        "+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx",             /* no name */
        "example.com/log/testdata+33D7B496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx", /* caps */
        "example.com/log/testdata+33d7b497+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx", /* id */
        "example.com/log/testdata+33d7b49+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx",  /* 7 hex */
        "example.com/log/testdatx+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx", /* name */
        "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSy", /* key */
        "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkS",  /* short */
        "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx=",
        "example.com/log/testdata+33d7b496+AuHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx", /* alg */
        "example.com/log/testdata+33d7b496+ AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx",
        "example.com log+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        if (note_verifier_parse(bad[i], &v, err, sizeof err) != -EINVAL)
            fail_msg("accepted bad verifier key %zu: %s", i, bad[i]);
        assert_true(err[0] != '\0');
    }
}

static void test_names(void **state)
{
    (void)state;
    assert_int_equal(note_check_name("example.com/log", 15), 0);
    assert_int_equal(note_check_name("caf\xc3\xa9.example", 13), 0);
    assert_int_equal(note_check_name("", 0), -EINVAL);
    assert_int_equal(note_check_name("a+b", 3), -EINVAL);
    assert_int_equal(note_check_name("a b", 3), -EINVAL);
    assert_int_equal(note_check_name("a\tb", 3), -EINVAL);
    assert_int_equal(note_check_name("a\xc2\xa0" "b", 4), -EINVAL);     /* U+00A0 */
    assert_int_equal(note_check_name("a\xe3\x80\x80" "b", 5), -EINVAL); /* U+3000 */
    assert_int_equal(note_check_name("a\xe2\x80\xa8" "b", 5), -EINVAL); /* U+2028 */
    assert_int_equal(note_check_name("a\xc3", 2), -EINVAL);             /* truncated */
    assert_int_equal(note_check_name("\xc0\xaf", 2), -EINVAL);          /* overlong */
    assert_int_equal(note_check_name("\xed\xa0\x80", 3), -EINVAL);      /* surrogate */
    char longname[NOTE_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname);
    assert_int_equal(note_check_name(longname, NOTE_NAME_MAX), 0);
    assert_int_equal(note_check_name(longname, NOTE_NAME_MAX + 1), -EINVAL);
}

static void test_signer_key(void **state)
{
    (void)state;
    note_signer *s = NULL;
    char err[256];
    /* The published seed's base64 holds '+': split on '+' at most 4 times. */
    if (note_signer_create(tessera_skey, &s, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(note_signer_name(s), "example.com/log/testdata");
    assert_int_equal(note_signer_key_id(s), 0x33d7b496);
    note_verifier from_signer, published = tessera_verifier();
    note_signer_verifier(s, &from_signer);
    assert_verifier_equal(&from_signer, &published);
    note_signer_destroy(s);

    static const char *bad[] = {
        "PRIVATE+KEY+example.com/log/testdata+33d7b496",
        "PRIVATE+KEYS+example.com/log/testdata+33d7b496+AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg",
        "PRIVATE+KEY+example.com/log/testdata+33d7b497+AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg",
        "PRIVATE+KEY+example.com/log/testdatb+33d7b496+AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg",
        "PRIVATE+KEY+example.com/log/testdata+33d7b496+AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3e",
        "PRIVATE+KEY+example.com/log/testdata+33d7b496+AuymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg",
        tessera_vkey,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = NULL;
        if (note_signer_create(bad[i], &s, err, sizeof err) != -EINVAL)
            fail_msg("accepted bad private key %zu", i);
        assert_null(s);
    }
}

/* Re-signing every published checkpoint's text with the published seed
 * reproduces the file byte for byte (Ed25519 is deterministic). */
static void test_tessera_resign(void **state)
{
    (void)state;
    note_signer *s = NULL;
    note_verifier v = tessera_verifier();
    char err[256];
    assert_int_equal(note_signer_create(tessera_skey, &s, err, sizeof err), 0);
    for (int n = -1; n <= 15; n++) {
        char rel[64];
        if (n < 0)
            snprintf(rel, sizeof rel, "tessera/log/checkpoint");
        else
            snprintf(rel, sizeof rel, "tessera/log/checkpoint.%d", n);
        size_t len;
        char *msg = read_data(rel, &len);
        note_parsed *p = malloc(sizeof *p);
        assert_non_null(p);
        if (note_parse(msg, len, p, err, sizeof err) != 0)
            fail_msg("%s: %s", rel, err);
        assert_int_equal(p->sig_count, 1);
        assert_int_equal(p->sigs[0].key_id, 0x33d7b496);
        size_t verified = 0;
        assert_int_equal(note_verify(p, &v, 1, &verified, err, sizeof err), 0);
        assert_int_equal(verified, 1);

        char out[1024];
        size_t out_len = 0;
        assert_int_equal(note_sign(s, msg, p->text_len, out, sizeof out, &out_len, err,
                                   sizeof err),
                         0);
        assert_int_equal(out_len, len);
        assert_memory_equal(out, msg, len);
        size_t text_len = 0;
        assert_int_equal(note_open(msg, len, &v, 1, &text_len, err, sizeof err), 0);
        assert_int_equal(text_len, p->text_len);
        free(p);
        free(msg);
    }
    note_signer_destroy(s);
}

/* Signs text with a fresh key of `name`, returns its signature line. */
static void fresh_signature_line(const char *name, const char *text, char *line, size_t size,
                                 note_verifier *v)
{
    char skey[NOTE_PRIVATE_KEY_MAX], vkey[NOTE_VERIFIER_KEY_MAX], out[2048], err[256];
    note_signer *s = NULL;
    size_t out_len;
    assert_int_equal(note_keygen(name, skey, sizeof skey, vkey, sizeof vkey), 0);
    assert_int_equal(note_signer_create(skey, &s, err, sizeof err), 0);
    sodium_memzero(skey, sizeof skey);
    if (v)
        assert_int_equal(note_verifier_parse(vkey, v, err, sizeof err), 0);
    assert_int_equal(note_sign(s, text, strlen(text), out, sizeof out, &out_len, err, sizeof err),
                     0);
    note_signer_destroy(s);
    const char *sig = out + strlen(text) + 1; /* after the blank line */
    assert_true(strlen(sig) < size);
    strcpy(line, sig);
}

static void test_rules(void **state)
{
    (void)state;
    size_t len;
    char *msg = read_data("tessera/log/checkpoint", &len);
    note_verifier v = tessera_verifier();
    char err[512];
    size_t text_len = 0;
    const char *blank = strstr(msg, "\n\n");
    assert_non_null(blank);
    size_t body = (size_t)(blank - msg) + 1;
    char *text = strndup(msg, body);

    /* A wrong key (same name, other key) finds no signature of its own. */
    note_verifier other;
    char line[512];
    fresh_signature_line("example.com/log/testdata", text, line, sizeof line, &other);
    assert_int_equal(note_open(msg, len, &other, 1, &text_len, err, sizeof err), -ENOKEY);
    assert_non_null(strstr(err, "signature not verified by key example.com/log/testdata+"));

    /* Signatures by unknown keys are ignored, before or after the known. */
    char *two = malloc(len + 2 * sizeof line);
    assert_non_null(two);
    snprintf(two, len + 2 * sizeof line, "%s%s", msg, line);
    assert_int_equal(note_open(two, strlen(two), &v, 1, &text_len, err, sizeof err), 0);
    assert_int_equal(text_len, body);
    snprintf(two, len + 2 * sizeof line, "%s\n%s%s", text, line, msg + body + 1);
    assert_int_equal(note_open(two, strlen(two), &v, 1, &text_len, err, sizeof err), 0);
    /* Both keys known: both verify. */
    note_verifier both[2] = {v, other};
    size_t verified = 0;
    note_parsed *p = malloc(sizeof *p);
    assert_non_null(p);
    assert_int_equal(note_parse(two, strlen(two), p, err, sizeof err), 0);
    assert_int_equal(note_verify(p, both, 2, &verified, err, sizeof err), 0);
    assert_int_equal(verified, 2);

    /* A known key whose signature fails rejects, even next to a good one:
     * same name and ID as the published key, another public key. */
    note_verifier impostor = v;
    impostor.public_key[0] ^= 1;
    assert_int_equal(note_open(msg, len, &impostor, 1, &text_len, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "signature not verified by key example.com/log/testdata+33d7b496"));
    note_verifier mixed[2] = {v, other};
    mixed[1].public_key[3] ^= 0x20; /* the second line now fails under a known key */
    assert_int_equal(note_parse(two, strlen(two), p, err, sizeof err), 0);
    assert_int_equal(note_verify(p, mixed, 2, &verified, err, sizeof err), -EBADMSG);

    /* A changed text fails. */
    char *changed = strdup(msg);
    changed[0] = 'E';
    assert_int_equal(note_open(changed, len, &v, 1, &text_len, err, sizeof err), -EBADMSG);
    free(changed);

    /* No known keys at all. */
    assert_int_equal(note_open(msg, len, NULL, 0, &text_len, err, sizeof err), -ENOKEY);

    free(p);
    free(two);
    free(text);
    free(msg);
}

static void test_malformed(void **state)
{
    (void)state;
    size_t len;
    char *msg = read_data("tessera/log/checkpoint", &len);
    note_verifier v = tessera_verifier();
    const char *sig = strstr(msg, "\xe2\x80\x94 ");
    assert_non_null(sig);
    size_t body = (size_t)(sig - msg) - 1; /* text, without the blank line */
    const char *sigline = sig;
    char buf[4096], err[256];
    note_parsed *p = malloc(sizeof *p);
    assert_non_null(p);

    struct {
        const char *what;
        const char *fmt;
    } cases[] = {
        {"no blank line", "%.*s%s"},
        {"no signatures", "%.*s\n"},
        {"no em dash", "%.*s\n- example.com/log/testdata AAAA\n"},
        {"no space after name", "%.*s\n\xe2\x80\x94 example.com/log/testdata\n"},
        {"bad base64", "%.*s\n\xe2\x80\x94 example.com/log/testdata M9e0luh4!!!!\n"},
        {"too short", "%.*s\n\xe2\x80\x94 example.com/log/testdata AAAAAA==\n"},
        {"empty base64", "%.*s\n\xe2\x80\x94 example.com/log/testdata \n"},
        {"unpadded base64", "%.*s\n\xe2\x80\x94 example.com/log/testdata AAAAAAA\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n;
        if (i == 0)
            n = snprintf(buf, sizeof buf, cases[i].fmt, (int)body, msg, sigline);
        else
            n = snprintf(buf, sizeof buf, cases[i].fmt, (int)body, msg);
        assert_true(n > 0);
        err[0] = '\0';
        if (note_parse(buf, (size_t)n, p, err, sizeof err) != -EINVAL)
            fail_msg("accepted: %s", cases[i].what);
        assert_true(err[0] != '\0');
    }

    /* Missing final newline, control characters, invalid UTF-8, CR. */
    assert_int_equal(note_parse(msg, len - 1, p, err, sizeof err), -EINVAL);
    char *bad = strdup(msg);
    bad[3] = '\x01';
    assert_int_equal(note_parse(bad, len, p, err, sizeof err), -EINVAL);
    bad[3] = '\xff';
    assert_int_equal(note_parse(bad, len, p, err, sizeof err), -EINVAL);
    bad[3] = '\r';
    assert_int_equal(note_parse(bad, len, p, err, sizeof err), -EINVAL);
    free(bad);

    /* More than NOTE_MAX_SIGS lines. */
    size_t siglen = len - body - 1;
    char *many = malloc(body + 1 + (NOTE_MAX_SIGS + 1) * siglen + 1);
    assert_non_null(many);
    memcpy(many, msg, body + 1);
    size_t used = body + 1;
    for (int i = 0; i < NOTE_MAX_SIGS; i++, used += siglen)
        memcpy(many + used, sigline, siglen);
    assert_int_equal(note_parse(many, used, p, err, sizeof err), 0);
    assert_int_equal(p->sig_count, NOTE_MAX_SIGS);
    assert_int_equal(note_verify(p, &v, 1, NULL, err, sizeof err), 0);
    memcpy(many + used, sigline, siglen);
    used += siglen;
    assert_int_equal(note_parse(many, used, p, err, sizeof err), -EINVAL);
    free(many);

    /* Signing refuses text that would not parse back. */
    note_signer *s = NULL;
    size_t out_len;
    assert_int_equal(note_signer_create(tessera_skey, &s, err, sizeof err), 0);
    assert_int_equal(note_sign(s, "no newline", 10, buf, sizeof buf, &out_len, err, sizeof err),
                     -EINVAL);
    assert_int_equal(note_sign(s, "tab\there\n", 9, buf, sizeof buf, &out_len, err, sizeof err),
                     -EINVAL);
    assert_int_equal(note_sign(s, "ok\n", 3, buf, 20, &out_len, err, sizeof err), -ENOSPC);
    /* A text holding blank lines still splits at the last one. */
    const char *multi = "first\n\nsecond\n";
    assert_int_equal(note_sign(s, multi, strlen(multi), buf, sizeof buf, &out_len, err,
                               sizeof err),
                     0);
    size_t text_len = 0;
    assert_int_equal(note_open(buf, out_len, &v, 1, &text_len, err, sizeof err), 0);
    assert_int_equal(text_len, strlen(multi));
    note_signer_destroy(s);
    free(p);
    free(msg);
}

static void test_keygen_roundtrip(void **state)
{
    (void)state;
    char skey[NOTE_PRIVATE_KEY_MAX], vkey[NOTE_VERIFIER_KEY_MAX], err[256];
    assert_int_equal(note_keygen("tallinn.example/audit", skey, sizeof skey, vkey, sizeof vkey),
                     0);
    assert_int_equal(strncmp(skey, "PRIVATE+KEY+tallinn.example/audit+", 34), 0);
    note_signer *s = NULL;
    note_verifier v, from_signer;
    assert_int_equal(note_signer_create(skey, &s, err, sizeof err), 0);
    assert_int_equal(note_verifier_parse(vkey, &v, err, sizeof err), 0);
    note_signer_verifier(s, &from_signer);
    assert_verifier_equal(&v, &from_signer);
    const char *text = "tallinn.example/audit\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    char out[1024];
    size_t out_len = 0, text_len = 0;
    assert_int_equal(note_sign(s, text, strlen(text), out, sizeof out, &out_len, err, sizeof err),
                     0);
    assert_int_equal(note_open(out, out_len, &v, 1, &text_len, err, sizeof err), 0);
    assert_int_equal(text_len, strlen(text));
    note_signer_destroy(s);
    sodium_memzero(skey, sizeof skey);
    assert_int_equal(note_keygen("bad name", skey, sizeof skey, vkey, sizeof vkey), -EINVAL);
    assert_int_equal(note_keygen("ok", skey, 10, vkey, sizeof vkey), -ENOSPC);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verifier_key),   cmocka_unit_test(test_names),
        cmocka_unit_test(test_signer_key),     cmocka_unit_test(test_tessera_resign),
        cmocka_unit_test(test_rules),          cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_keygen_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
