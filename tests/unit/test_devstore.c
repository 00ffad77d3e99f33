/* test_devstore.c - paging and topic filtering over a dev store file. */
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "devstore.h"
#include "tap.h"

struct page_case {
        const char *topic;
        size_t offset, limit, count;
        const char *keys; /* keys of the page, space-separated; NULL ends a table */
};

/* Keys of the records in a page, joined with spaces. */
static void keys(json_t *events, char *out, size_t size) {
        size_t i;
        json_t *e;
        out[0] = '\0';
        json_array_foreach(events, i, e) {
                const char *k = json_string_value(json_object_get(e, "key"));
                if (i)
                        strncat(out, " ", size - strlen(out) - 1);
                strncat(out, k ? k : "?", size - strlen(out) - 1);
        }
}

/* Writes `store` to a file and reads each case's page from it. */
static void check_pages(const char *name, const char *store, const struct page_case *t) {
        char path[] = "/tmp/test_devstore.XXXXXX", err[256], got[256];
        int fd = mkstemp(path);
        json_t *events;
        size_t count;

        ok(fd >= 0 && write(fd, store, strlen(store)) == (ssize_t)strlen(store),
           "%s: store written", name);
        close(fd);
        for (int i = 0; t[i].keys; i++) {
                const char *topic = t[i].topic ? t[i].topic : "*";
                int rc = svc_devstore_read(path, t[i].topic, t[i].offset, t[i].limit, &count,
                                           &events, err, sizeof(err));
                is_int(rc, 0, "%s: read topic=%s offset=%zu limit=%zu", name, topic, t[i].offset,
                       t[i].limit);
                is_int(count, t[i].count, "%s: count topic=%s", name, topic);
                keys(events, got, sizeof(got));
                is_str(got, t[i].keys, "%s: keys topic=%s offset=%zu limit=%zu", name, topic,
                       t[i].offset, t[i].limit);
                if (i == 0 && json_array_size(events) > 1)
                        is_int(json_integer_value(json_object_get(
                                   json_object_get(json_array_get(events, 1), "value"), "n")),
                               2, "%s: value kept as an object", name);
                json_decref(events);
        }
        unlink(path);
}

int main(void) {
        static const char store[] =
            "{\"topic\":\"clicks\",\"key\":\"k1\",\"value\":{\"n\":1}}\n"
            "{\"topic\":\"conv\",\"key\":\"k2\",\"value\":{\"n\":2}}\n"
            "not json at all\n"
            "\n"
            "{\"key\":\"k-no-topic\",\"value\":{}}\n"
            "{\"key\":\"k3\",\"topic\":\"clicks\",\"value\":{\"n\":3}}\n"
            "{\"topic\":\"cl\\u0069cks\",\"key\":\"k4\",\"value\":{\"n\":4}}\n"
            "{\"topic\":\"conv\",\"key\":\"k5\",\"value\":{\"n\":5}}\n"
            "{\"topic\":\"clicks\",\"key\":\"torn\",\"val";
        static const struct page_case t[] = {
            {NULL, 0, 100, 5, "k1 k2 k3 k4 k5"},
            {NULL, 1, 2, 5, "k2 k3"},
            {NULL, 4, 100, 5, "k5"},
            {NULL, 5, 100, 5, ""},
            {NULL, 99, 100, 5, ""},
            {NULL, 0, 0, 5, ""},
            {"clicks", 0, 100, 3, "k1 k3 k4"},
            {"clicks", 1, 1, 3, "k3"},
            {"conv", 0, 100, 2, "k2 k5"},
            {"nope", 0, 100, 0, ""},
            {"click", 0, 100, 0, ""},
            {NULL, 0, 0, 0, NULL},
        };
        /* Lines that begin like a record and are not one (a writer died in the middle of
         * an append, or worse) are neither counted nor returned. */
        static const char torn[] = "{\"topic\":\"x\",\"key\":\"a\",\"value\":{\"n\":1}}\n"
                                   "{\"topic\":\"x\",\"key\":\"k\",\"value\":{\"a\"\n"
                                   "{\"topic\":\"x\",\"key\":\"b\",\"value\":{\"n\":2}}\n"
                                   "{\"topic\":\"x\",\"key\":\"k\",\"value\":{\"a\":1}\n"
                                   "{\"topic\":\"x\"}{\"topic\":\"x\",\"key\":\"k\",\"value\":{}}\n"
                                   "{\"topic\":\"x\"\n"
                                   "{\"topic\":\"x\",\"key\":\"c\",\"value\":{\"n\":3}}\n";
        static const struct page_case torn_t[] = {
            {NULL, 0, 100, 3, "a b c"}, {NULL, 1, 1, 3, "b"},      {NULL, 2, 1, 3, "c"},
            {NULL, 3, 100, 3, ""},      {"x", 0, 100, 3, "a b c"}, {"x", 1, 100, 3, "b c"},
            {NULL, 0, 0, 0, NULL},
        };
        /* A topic named twice is read as jansson reads it (the last one), by the count
         * and the page alike. */
        static const char twice[] =
            "{\"topic\":\"conv\",\"key\":\"a\",\"value\":{\"n\":1},\"topic\":\"clicks\"}\n"
            "{\"topic\":\"conv\",\"key\":\"b\",\"value\":{\"n\":2}}\n";
        static const struct page_case twice_t[] = {
            {"clicks", 0, 100, 1, "a"},
            {"conv", 0, 100, 1, "b"},
            {NULL, 0, 100, 2, "a b"},
            {NULL, 0, 0, 0, NULL},
        };
        char err[256];
        json_t *events;
        size_t count;

        check_pages("mixed", store, t);
        check_pages("torn", torn, torn_t);
        check_pages("topic twice", twice, twice_t);

        is_int(svc_devstore_read("/tmp/test_devstore.no-such-file", NULL, 0, 10, &count, &events,
                                 err, sizeof(err)),
               0, "missing store reads as empty");
        ok(count == 0 && json_array_size(events) == 0, "missing store: no events");
        json_decref(events);
        is_int(svc_devstore_read("/proc/self", NULL, 0, 10, &count, &events, err, sizeof(err)), -1,
               "a directory is an error");
        ok(events == NULL, "no page on error");
        return done_testing();
}
