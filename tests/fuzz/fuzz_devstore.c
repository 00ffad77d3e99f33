/* fuzz_devstore.c - fuzzes paging through a dev store file. The first bytes choose the
 * topic, offset and limit; the rest is the store. The count and the page are compared
 * with an independent line-by-line jansson reading. A line the reader's fast path
 * takes at its word ({"topic":"<plain>" ... that is not valid JSON, or names the topic
 * twice) is ambiguous by design and only widens the allowed count. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devstore.h"
#include "fuzz_check.h"

static char store_path[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void)argc;
        (void)argv;
        const char *dir = getenv("TMPDIR");
        snprintf(store_path, sizeof(store_path), "%s/fuzz-devstore-%ld.jsonl",
                 dir && *dir ? dir : "/tmp", (long)getpid());
        return 0;
}

/* The writer's usual form, as the reader's fast path sees it: 1 and the topic span. */
static int fast_topic(const char *line, size_t len, const char **t, size_t *t_len) {
        static const char prefix[] = "{\"topic\":\"";
        const size_t plen = sizeof(prefix) - 1;
        const char *end;

        if (len <= plen || memcmp(line, prefix, plen) != 0)
                return 0;
        if (!(end = memchr(line + plen, '"', len - plen)) ||
            memchr(line + plen, '\\', (size_t)(end - line) - plen))
                return 0;
        *t = line + plen;
        *t_len = (size_t)(end - *t);
        return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *topics[4] = {NULL, "t", "collect-topic1", ""};
        const char *topic, *store;
        size_t offset, limit, store_len, count = 0, want = 0, ambiguous = 0, pos = 0;
        json_t *events = NULL, *all;
        char errstr[256] = "";
        FILE *fp;
        int rc;

        if (size < 3 || !store_path[0])
                return 0;
        topic = topics[data[0] & 3];
        offset = data[1] % 8;
        limit = data[2] % 8;
        all = json_array();
        store = (const char *)data + 3;
        store_len = size - 3;
        FUZZ_CHECK((fp = fopen(store_path, "wb")) && all);
        FUZZ_CHECK(fwrite(store, 1, store_len, fp) == store_len && fclose(fp) == 0);

        rc = svc_devstore_read(store_path, topic, offset, limit, &count, &events, errstr,
                               sizeof(errstr));
        FUZZ_CHECK(rc == 0 && json_is_array(events));

        /* Independent reading: complete lines only (a last line without '\n' is torn). */
        while (pos < store_len) {
                const char *line = store + pos, *nl = memchr(line, '\n', store_len - pos);
                size_t len, ft_len = 0;
                const char *ft = NULL;
                int fast;
                json_t *obj, *t;
                if (!nl)
                        break;
                len = (size_t)(nl - line);
                pos += len + 1;
                if (len == 0 || len >= SVC_DEVSTORE_MAX_LINE) /* skipped as too long */
                        continue;
                fast = fast_topic(line, len, &ft, &ft_len);
                obj = json_loadb(line, len, 0, NULL);
                t = json_object_get(obj, "topic");
                if (json_is_object(obj) && json_is_string(t) &&
                    (!fast || (json_string_length(t) == ft_len &&
                               !memcmp(json_string_value(t), ft, ft_len)))) {
                        if (!topic || (json_string_length(t) == strlen(topic) &&
                                       !memcmp(json_string_value(t), topic, strlen(topic)))) {
                                json_array_append(all, obj);
                                want++;
                        }
                } else if (fast) {
                        ambiguous++;
                }
                json_decref(obj);
        }
        FUZZ_CHECK(count >= want && count <= want + ambiguous);
        FUZZ_CHECK(json_array_size(events) <= limit);
        if (ambiguous == 0) {
                size_t expect = offset >= count ? 0 : count - offset;
                if (expect > limit)
                        expect = limit;
                FUZZ_CHECK(json_array_size(events) == expect);
                for (size_t i = 0; i < expect; i++)
                        FUZZ_CHECK(json_equal(json_array_get(events, i),
                                              json_array_get(all, offset + i)));
        }
        for (size_t i = 0; ambiguous == 0 && i < json_array_size(events); i++) {
                json_t *t = json_object_get(json_array_get(events, i), "topic");
                FUZZ_CHECK(json_is_string(t));
                if (topic)
                        FUZZ_CHECK(!strcmp(json_string_value(t), topic));
        }
        json_decref(events);
        json_decref(all);
        unlink(store_path);
        return 0;
}
