/* textsafe.h — one rule for untrusted text that must be shown or recorded
 * safely: the audit log's bounded record fields (server) and tallinn-audit's
 * table output (an auditor's terminal) escape with the same function, so
 * what a record holds and what a screen shows cannot drift apart.
 *
 * Escaped (everything else is copied as is):
 *   - a byte that does not start a valid UTF-8 sequence (strict: no
 *     overlong forms, surrogates or code points above U+10FFFF): \xHH;
 *   - C0 controls U+0000..U+001F (ESC included) and DEL: \xHH;
 *   - C1 controls U+0080..U+009F, the line and paragraph separators
 *     U+2028/U+2029 and the bidirectional embedding, override and isolate
 *     controls U+202A..U+202E, U+2066..U+2069: \u{XXXX};
 *   - with TEXTSAFE_BACKSLASH, the backslash itself: \\ (then the escaped
 *     form is unambiguous: it can be decoded back to the original bytes).
 * The output is valid UTF-8 and holds none of the characters above. */
#ifndef TALLINN_TEXTSAFE_H
#define TALLINN_TEXTSAFE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TEXTSAFE_BACKSLASH 0x1u /* escape '\' as "\\" too */
#define TEXTSAFE_UNIT_MAX 9     /* the longest unit, "\u{202E}" (8 bytes), and a NUL */

/* Decodes one code point at s[i] (i < len); returns its length in bytes, or
 * 0 if the bytes there are not valid UTF-8. */
size_t textsafe_utf8_next(const char *s, size_t len, size_t i, uint32_t *cp);

/* 1 if s[0..len) is valid UTF-8 without a character textsafe_escape would
 * escape (the backslash aside), else 0. */
int textsafe_is_clean(const char *s, size_t len);

/* Escapes s[0..len) into out[0..cap) and NUL-terminates it (cap >= 1).
 * Stops before an escape unit (a character or its escape) that would not
 * fit, so the output never ends in half a character. Returns the number of
 * input bytes consumed (len when everything fit); *out_len (may be NULL)
 * gets the output length, without the NUL. */
size_t textsafe_escape(const char *s, size_t len, unsigned flags, char *out, size_t cap,
                       size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif
