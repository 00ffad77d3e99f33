/* fuzz_jbuf.c - fuzzes the shared JSON string escaper and UTF-8 check against jansson:
 * the input is UTF-8 exactly when json_stringn() takes it, and then svc_jbuf_str()
 * writes it byte for byte as json_dumps() does (the flags the service uses). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "jbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *s = (const char *)data;
        json_t *str = json_stringn(s, size);
        svc_jbuf_t b = SVC_JBUF_INIT;
        char *want;
        size_t i = 0, k;

        FUZZ_CHECK(svc_jbuf_utf8_valid(s, size) == (str != NULL));
        while (i < size) { /* the sequences tile a valid string, and only a valid one */
                if (!(k = svc_jbuf_utf8_seq(s + i, size - i)))
                        break;
                FUZZ_CHECK(k <= 4 && k <= size - i);
                i += k;
        }
        FUZZ_CHECK((i == size) == (str != NULL));
        if (!str)
                return 0;
        FUZZ_CHECK((want = json_dumps(str, JSON_COMPACT | JSON_ENCODE_ANY)) != NULL);
        SVC_JBUF_LIT(&b, "x");
        svc_jbuf_str(&b, s, size);
        FUZZ_CHECK(!b.err && b.len == strlen(want) + 1 && !memcmp(b.ptr + 1, want, b.len - 1));
        free(want);
        json_decref(str);
        svc_jbuf_free(&b);
        return 0;
}
