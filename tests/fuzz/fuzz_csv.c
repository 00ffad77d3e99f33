/* fuzz_csv.c - fuzzes the streaming CSV parser: the input is fed whole, byte by byte and
 * in random chunks (each chunk an exact-size heap copy), with small max_field and
 * max_record so the bound paths run; every way must deliver the same records, bounded
 * as promised, and a record within the bounds must equal the one an unbounded parser
 * delivers (bounds never move record boundaries). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

#include "fuzz_check.h"

/* One delivered record, copied out of the callback. */
struct rec {
        char *data; /* fields back to back */
        size_t *lens;
        size_t field_cnt;
        char *error; /* NULL or a copy */
        long line;
};

struct run {
        struct rec *recs;
        size_t rec_cnt, rec_size;
        size_t max_field, max_record;
        long stop_after; /* return -1 on this record (1-based); 0 never */
};

static int on_row(void *opaque, const struct svc_field *fields, size_t field_cnt, const char *error,
                  long line) {
        struct run *run = opaque;
        struct rec *r;
        size_t total = 0, off = 0;

        FUZZ_CHECK(field_cnt <= SVC_CSV_MAX_FIELDS);
        FUZZ_CHECK(field_cnt == 0 || fields != NULL);
        FUZZ_CHECK(line >= 1);
        if (run->rec_cnt > 0)
                FUZZ_CHECK(line > run->recs[run->rec_cnt - 1].line);
        for (size_t i = 0; i < field_cnt; i++) {
                total += fields[i].len;
                if (!error)
                        FUZZ_CHECK(fields[i].len <= run->max_field);
        }
        if (!error)
                FUZZ_CHECK(total <= run->max_record);
        FUZZ_CHECK(!error || (strlen(error) > 0 && strlen(error) < 128));
        if (run->rec_cnt == run->rec_size) {
                run->rec_size = run->rec_size ? run->rec_size * 2 : 16;
                run->recs = realloc(run->recs, run->rec_size * sizeof(*run->recs));
                FUZZ_CHECK(run->recs);
        }
        r = &run->recs[run->rec_cnt++];
        r->data = malloc(total + 1);
        r->lens = malloc((field_cnt + 1) * sizeof(*r->lens));
        FUZZ_CHECK(r->data && r->lens);
        for (size_t i = 0; i < field_cnt; i++) {
                if (fields[i].len)
                        memcpy(r->data + off, fields[i].ptr, fields[i].len);
                off += fields[i].len;
                r->lens[i] = fields[i].len;
        }
        r->field_cnt = field_cnt;
        r->error = error ? strdup(error) : NULL;
        r->line = line;
        return run->stop_after && (long)run->rec_cnt == run->stop_after ? -1 : 0;
}

static void run_free(struct run *run) {
        for (size_t i = 0; i < run->rec_cnt; i++) {
                free(run->recs[i].data);
                free(run->recs[i].lens);
                free(run->recs[i].error);
        }
        free(run->recs);
}

static int rec_equal(const struct rec *a, const struct rec *b, int with_error) {
        size_t total = 0;

        if (a->field_cnt != b->field_cnt || a->line != b->line)
                return 0;
        for (size_t i = 0; i < a->field_cnt; i++) {
                if (a->lens[i] != b->lens[i])
                        return 0;
                total += a->lens[i];
        }
        if (total && memcmp(a->data, b->data, total))
                return 0;
        if (!with_error)
                return 1;
        if (!a->error || !b->error)
                return a->error == b->error;
        return strcmp(a->error, b->error) == 0;
}

/* xorshift: the chunk sizes, reproducible from the input. */
static uint32_t next_rand(uint32_t *s) {
        *s ^= *s << 13;
        *s ^= *s >> 17;
        *s ^= *s << 5;
        return *s;
}

/* mode 0: whole; 1: byte by byte; 2: random chunks of 0..16 bytes (empty chunks too). */
static svc_csv_err_t parse(const uint8_t *data, size_t size, int mode, uint32_t seed,
                           struct run *run) {
        char errstr[256];
        svc_csv_t *csv = svc_csv_new(run->max_field, run->max_record, on_row, run);
        svc_csv_err_t err = SVC_CSV_OK;
        size_t pos = 0;

        FUZZ_CHECK(csv);
        seed |= 1;
        while (err == SVC_CSV_OK && (pos < size || (mode == 2 && pos == 0 && size == 0))) {
                size_t n = mode == 0 ? size - pos : mode == 1 ? 1 : next_rand(&seed) % 17;
                char *chunk;
                if (n > size - pos)
                        n = size - pos;
                chunk = malloc(n ? n : 1);
                FUZZ_CHECK(chunk);
                if (n)
                        memcpy(chunk, data + pos, n);
                err = svc_csv_feed(csv, n ? chunk : NULL, n, errstr, sizeof(errstr));
                free(chunk);
                pos += n;
                if (size == 0)
                        break;
        }
        if (err == SVC_CSV_OK)
                err = svc_csv_finish(csv, errstr, sizeof(errstr));
        FUZZ_CHECK(err == SVC_CSV_OK || err == SVC_CSV_STOPPED);
        FUZZ_CHECK(err == SVC_CSV_OK || (run->stop_after && (long)run->rec_cnt == run->stop_after));
        FUZZ_CHECK(svc_csv_record_cnt(csv) == (long)run->rec_cnt);
        /* a stopped parser stays stopped */
        if (err == SVC_CSV_STOPPED) {
                FUZZ_CHECK(svc_csv_feed(csv, "a\n", 2, errstr, sizeof(errstr)) == SVC_CSV_STOPPED);
                FUZZ_CHECK(svc_csv_record_cnt(csv) == (long)run->rec_cnt);
        }
        svc_csv_destroy(csv);
        return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct run runs[3], big = {0};
        svc_csv_err_t errs[3];
        size_t max_field, max_record;
        long stop_after;
        uint32_t seed;

        if (size < 5)
                return 0;
        max_field = 1 + data[0] % 48;
        max_record = (data[1] & 0x80) ? data[1] % 64 : max_field + data[1] % 200;
        stop_after = data[2] < 200 ? 0 : data[2] % 8;
        seed = (uint32_t)data[3] << 8 | data[4];
        data += 5;
        size -= 5;

        for (int m = 0; m < 3; m++) {
                memset(&runs[m], 0, sizeof(runs[m]));
                runs[m].max_field = max_field;
                runs[m].max_record = max_record < max_field ? max_field : max_record;
                runs[m].stop_after = stop_after;
                errs[m] = parse(data, size, m, seed, &runs[m]);
        }
        for (int m = 1; m < 3; m++) {
                FUZZ_CHECK(errs[m] == errs[0]);
                FUZZ_CHECK(runs[m].rec_cnt == runs[0].rec_cnt);
                for (size_t i = 0; i < runs[0].rec_cnt; i++)
                        FUZZ_CHECK(rec_equal(&runs[m].recs[i], &runs[0].recs[i], 1));
        }

        /* Bounds must not move record boundaries: compare with an unbounded parse. */
        big.max_field = big.max_record = size + 1;
        big.stop_after = stop_after;
        FUZZ_CHECK(parse(data, size, 0, seed, &big) == errs[0]);
        FUZZ_CHECK(big.rec_cnt == runs[0].rec_cnt);
        for (size_t i = 0; i < big.rec_cnt; i++) {
                const struct rec *b = &big.recs[i], *s = &runs[0].recs[i];
                size_t total = 0, longest = 0;
                for (size_t f = 0; f < b->field_cnt; f++) {
                        total += b->lens[f];
                        if (b->lens[f] > longest)
                                longest = b->lens[f];
                }
                FUZZ_CHECK(b->line == s->line);
                if (!s->error) {
                        /* within the bounds: exactly the unbounded record */
                        FUZZ_CHECK(rec_equal(b, s, 1));
                } else if (!b->error) {
                        /* only the bounds can explain the error */
                        FUZZ_CHECK(longest > runs[0].max_field || total > runs[0].max_record);
                        FUZZ_CHECK(strstr(s->error, "longer than"));
                } else if (!strstr(s->error, "longer than")) {
                        /* a syntax error, before any bound was hit: same error */
                        FUZZ_CHECK(strcmp(s->error, b->error) == 0);
                }
                if (!b->error && (longest > runs[0].max_field || total > runs[0].max_record))
                        FUZZ_CHECK(s->error != NULL);
        }
        run_free(&big);
        for (int m = 0; m < 3; m++)
                run_free(&runs[m]);
        return 0;
}
