/* fuzz_devstore.c - fuzzes paging through a dev store file. The first bytes choose the
 * topic, offset and limit; the rest is the store. The count and the page are compared
 * with an independent line-by-line jansson reading, and the pages of `limit` records,
 * read one after the other, hold exactly `count` records: a line is counted if and only
 * if it is returned. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *topics[4] = {NULL, "t", "collect-topic1", ""};
        const char *topic, *store;
        size_t offset, limit, store_len, count = 0, want = 0, pos = 0;
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
                size_t len;
                json_t *obj, *t;
                if (!nl)
                        break;
                len = (size_t)(nl - line);
                pos += len + 1;
                if (len == 0 || len >= SVC_DEVSTORE_MAX_LINE) /* skipped as too long */
                        continue;
                obj = json_loadb(line, len, 0, NULL);
                t = json_object_get(obj, "topic");
                if (json_is_object(obj) && json_is_string(t) &&
                    (!topic || (json_string_length(t) == strlen(topic) &&
                                !memcmp(json_string_value(t), topic, strlen(topic))))) {
                        json_array_append(all, obj);
                        want++;
                }
                json_decref(obj);
        }
        FUZZ_CHECK(count == want);
        {
                size_t expect = offset >= count ? 0 : count - offset;
                if (expect > limit)
                        expect = limit;
                FUZZ_CHECK(json_array_size(events) == expect);
                for (size_t i = 0; i < expect; i++)
                        FUZZ_CHECK(
                            json_equal(json_array_get(events, i), json_array_get(all, offset + i)));
        }
        json_decref(events);

        /* Every page from the first: together they are the whole count, and no more. */
        if (limit > 0) {
                size_t seen = 0, page_cnt;
                do {
                        size_t page_count;
                        FUZZ_CHECK(svc_devstore_read(store_path, topic, seen, limit, &page_count,
                                                     &events, errstr, sizeof(errstr)) == 0);
                        FUZZ_CHECK(page_count == count);
                        page_cnt = json_array_size(events);
                        for (size_t i = 0; i < page_cnt; i++)
                                FUZZ_CHECK(json_equal(json_array_get(events, i),
                                                      json_array_get(all, seen + i)));
                        json_decref(events);
                        seen += page_cnt;
                } while (page_cnt == limit && seen <= count);
                FUZZ_CHECK(seen == count);
        }
        json_decref(all);
        unlink(store_path);
        return 0;
}
