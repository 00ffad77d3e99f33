/* ingest.c - POST /api/ingest: streams a CSV file of the data directory (or a Google
 * Sheet) row by row, turns every valid tracking row into a CLICK or CONVERSION event and
 * produces it to Kafka (or the dev store), answering once every event is acknowledged.
 * The steps say what went wrong in a struct ingest_end; ingest_finish() alone answers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "csv.h"
#include "datadir.h"
#include "log.h"
#include "metrics.h"
#include "sheets.h"
#include "tracking.h"

#define INGEST_MAX_BODY (64 * 1024)    /* the request is a small JSON object */
#define INGEST_MAX_FIELD (64 * 1024)   /* a longer CSV field is a row error */
#define INGEST_MAX_RECORD (256 * 1024) /* a longer CSV record is a row error */
#define INGEST_MAX_REASON 256          /* characters */
#define INGEST_MAX_LISTED_ERRORS 100   /* row errors in the response; all go to ERROR_LOG */
#define INGEST_PING_MS 2000            /* longest wait for a first broker answer */
#define INGEST_STALL_CHECK 1000        /* events between two looks at Kafka's progress */

/* The process: settings and producer (app), and the Sheets reader. */
struct ingest_proc {
        svc_app_t app;
        svc_sheets_t *sh; /* NULL when GOOGLE_SERVICE_ACCOUNT_KEY is unusable */
};

/* How the answer to a failed request is shaped. */
typedef enum {
        INGEST_END_PLAIN = 0, /* {"status":"error","message":...} */
        INGEST_END_CUT_SHORT, /* events went out: the message and the body say how many
                               * Kafka acknowledged of those sent */
        INGEST_END_NO_VALID,  /* the row counts and the listed row errors */
        INGEST_END_ANSWERED,  /* the body reader answered already (413, 400) */
} ingest_end_kind_t;

/* What went wrong. Filled by the step that failed; status 0: nothing did. */
struct ingest_end {
        int status;
        ingest_end_kind_t kind;
        char message[768]; /* shown to the client */
};

/* The counts the answer reports. */
struct ingest_counts {
        size_t valid_cnt;   /* rows that passed the checks */
        size_t queued_cnt;  /* events handed to the producer */
        size_t acked_cnt;   /* of those, acknowledged: known once ingest_finish() waited */
        size_t error_cnt;   /* rows refused */
        size_t skipped_cnt; /* rows of another day than the date filter */
        json_t *errors;     /* the first INGEST_MAX_LISTED_ERRORS row errors */
};

/* Kafka's side of one request: the batch, and whether it still makes progress. */
struct ingest_kafka {
        svc_kafka_batch_t *kb;
        int checked;                 /* the broker answered before the first event */
        size_t acked_seen;           /* acknowledgements at the last progress check */
        struct timespec progress_at; /* when acked_seen last grew */
};

/* The request's parameters, borrowed from its JSON body. */
struct ingest_params {
        const char *path;   /* file_path */
        int a;              /* query_param_a, 0 when absent */
        const char *date;   /* date filter, or NULL */
        const char *reason; /* or NULL */
};

/* One request. */
struct ingest {
        struct ingest_proc *proc;
        svc_req_t *req;
        const svc_config_t *cfg;
        struct ingest_params prm;
        char ingested_at[40];
        int header_seen;
        svc_tracking_header_t hdr;
        long data_row;  /* 1-based number of the last data record */
        svc_jbuf_t buf; /* event JSON, reused from row to row */
        struct ingest_kafka kafka;
        struct ingest_counts cnt;
        struct ingest_end end;
};

static void ingest_log(struct ingest *in, svc_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void ingest_log(struct ingest *in, svc_log_level_t level, const char *fmt, ...) {
        char line[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        svc_log(level, svc_http_request_id(in->req), svc_http_endpoint(in->req), "%s", line);
}

/* Records why the request ends. Returns -1, what a failed step returns. */
static int ingest_fail(struct ingest *in, int status, ingest_end_kind_t kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int ingest_fail(struct ingest *in, int status, ingest_end_kind_t kind, const char *fmt,
                       ...) {
        va_list ap;

        in->end.status = status;
        in->end.kind = kind;
        va_start(ap, fmt);
        vsnprintf(in->end.message, sizeof(in->end.message), fmt, ap);
        va_end(ap);
        return -1;
}

static void row_error(struct ingest *in, const char *field, const char *message) {
        in->cnt.error_cnt++;
        svc_log_persist_error(in->cfg->error_log, svc_http_endpoint(in->req),
                              svc_http_request_id(in->req), 422, message, in->data_row, field);
        if (json_array_size(in->cnt.errors) < INGEST_MAX_LISTED_ERRORS)
                json_array_append_new(in->cnt.errors,
                                      json_pack("{s:I, s:s?, s:s}", "row", (json_int_t)in->data_row,
                                                "field", field, "message", message));
}

/* Kafka must answer once before the first event, so that an unreachable cluster is a
 * prompt 503 rather than a wait on every queued message. */
static int kafka_ready(struct ingest *in) {
        char errstr[256];
        int timeout =
            in->cfg->kafka_timeout_ms < INGEST_PING_MS ? in->cfg->kafka_timeout_ms : INGEST_PING_MS;
        if (in->kafka.checked)
                return 0;
        if (svc_kafka_ping(in->proc->app.kp, timeout, errstr, sizeof(errstr)) == -1) {
                ingest_log(in, SVC_LOG_ERROR, "kafka: kafka ping: %s", errstr);
                return ingest_fail(in, 503, INGEST_END_CUT_SHORT,
                                   "Kafka is unavailable; nothing was processed, try again later");
        }
        in->kafka.checked = 1;
        clock_gettime(CLOCK_MONOTONIC, &in->kafka.progress_at);
        return 0;
}

static long ms_since(const struct timespec *t) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* A broker that dies in the middle of a large file would otherwise keep the producer
 * blocked on a full queue, one message time-out after another: stop once no
 * acknowledgement has arrived for KAFKA_TIMEOUT_MS. */
static int kafka_progressing(struct ingest *in) {
        char errstr[256];
        size_t acked = 0;

        if (in->cnt.queued_cnt % INGEST_STALL_CHECK != 0)
                return 0;
        if (svc_kafka_batch_wait(in->kafka.kb, 0, &acked, errstr, sizeof(errstr)) == 0 ||
            acked > in->kafka.acked_seen) {
                in->kafka.acked_seen = acked;
                clock_gettime(CLOCK_MONOTONIC, &in->kafka.progress_at);
                return 0;
        }
        if (ms_since(&in->kafka.progress_at) <= in->cfg->kafka_timeout_ms)
                return 0;
        ingest_log(in, SVC_LOG_ERROR, "kafka: no acknowledgement for %d ms after %zu events",
                   in->cfg->kafka_timeout_ms, in->cnt.queued_cnt);
        return ingest_fail(in, 503, INGEST_END_CUT_SHORT, "Kafka stopped acknowledging events");
}

static int on_header(struct ingest *in, const struct svc_field *fields, size_t field_cnt,
                     const char *error) {
        char errstr[320];

        in->header_seen = 1;
        if (error)
                return ingest_fail(in, 422, INGEST_END_PLAIN,
                                   "the header row of the CSV cannot be read: %s", error);
        if (svc_tracking_map_header(fields, field_cnt, &in->hdr, errstr, sizeof(errstr)))
                return ingest_fail(in, 422, INGEST_END_PLAIN, "%s; nothing was processed", errstr);
        return 0;
}

/* Hands the event of a valid row to the producer. */
static int produce_row(struct ingest *in, const svc_tracking_row_t *row) {
        const struct svc_field *key = &row->v[SVC_TRACKING_USER_FP];
        const char *topic = row->is_click ? in->cfg->click_topic : in->cfg->conversion_topic;
        char errstr[320];

        if (kafka_ready(in) == -1)
                return -1;
        if (svc_tracking_event_json(row, in->prm.reason, in->ingested_at,
                                    svc_http_request_id(in->req), &in->buf) == -1)
                return ingest_fail(in, 500, INGEST_END_CUT_SHORT, "internal error");
        if (svc_kafka_batch_produce(in->kafka.kb, topic, key->ptr, key->len, in->buf.ptr,
                                    in->buf.len, errstr, sizeof(errstr)) == -1) {
                ingest_log(in, SVC_LOG_ERROR, "kafka: %s", errstr);
                return ingest_fail(in, 503, INGEST_END_CUT_SHORT,
                                   "the events could not be handed to Kafka");
        }
        in->cnt.queued_cnt++;
        return kafka_progressing(in);
}

/* The row callback of every source. Returns -1 to stop the source (in->end says why). */
static int on_row(void *opaque, const struct svc_field *fields, size_t field_cnt, const char *error,
                  long line) {
        struct ingest *in = opaque;
        svc_tracking_row_t row;
        const char *field = NULL;
        char errstr[320];

        (void)line;
        if (!in->header_seen)
                return on_header(in, fields, field_cnt, error);
        in->data_row++;
        if (error) {
                snprintf(errstr, sizeof(errstr), "the CSV record cannot be read: %s", error);
                row_error(in, NULL, errstr);
                return 0;
        }
        switch (svc_tracking_check_row(&in->hdr, fields, field_cnt, in->prm.a, in->prm.date, &row,
                                       &field, errstr, sizeof(errstr))) {
        case SVC_TRACKING_SKIPPED: in->cnt.skipped_cnt++; return 0;
        case SVC_TRACKING_INVALID: row_error(in, field, errstr); return 0;
        case SVC_TRACKING_VALID: break;
        }
        in->cnt.valid_cnt++;
        return produce_row(in, &row);
}

/* Streams file_path, a file inside the data directory. */
static int read_file(struct ingest *in) {
        static const char *const refusal[] = {
            [SVC_DATADIR_ABSOLUTE] = "file_path must be relative to the data directory "
                                     "(INGEST_DATA_DIR), not an absolute path",
            [SVC_DATADIR_DOTDOT] = "file_path must not contain '..': it names a file "
                                   "inside the data directory",
            [SVC_DATADIR_OUTSIDE] = "file_path leads outside the data directory, or to no "
                                    "file, through a symbolic link; refused",
            [SVC_DATADIR_NOT_FOUND] = "file_path does not name an existing file in the "
                                      "data directory",
            [SVC_DATADIR_DENIED] = "file_path cannot be read: permission denied",
            [SVC_DATADIR_TOO_LONG] = "file_path is too long",
            [SVC_DATADIR_IS_DIR] = "file_path names a directory, not a CSV file",
            [SVC_DATADIR_NOT_REGULAR] = "file_path does not name a regular file",
            [SVC_DATADIR_UNOPENABLE] = "file_path cannot be opened",
        };
        char errstr[512];
        svc_datadir_err_t err;
        svc_csv_err_t cerr;
        int fd = svc_datadir_open(in->cfg->data_dir, in->prm.path, &err, errstr, sizeof(errstr));

        if (fd == -1) {
                if (err == SVC_DATADIR_UNAVAILABLE || err == SVC_DATADIR_UNOPENABLE)
                        ingest_log(in, SVC_LOG_ERROR, "%s", errstr);
                if (err == SVC_DATADIR_UNAVAILABLE)
                        return ingest_fail(in, 500, INGEST_END_PLAIN,
                                           "the data directory of the service is not available");
                return ingest_fail(in, 400, INGEST_END_PLAIN, "%s", refusal[err]);
        }
        cerr = svc_csv_read_fd(fd, INGEST_MAX_FIELD, INGEST_MAX_RECORD, on_row, in, errstr,
                               sizeof(errstr));
        close(fd);
        if (cerr != SVC_CSV_IO)
                return in->end.status ? -1 : 0;
        ingest_log(in, SVC_LOG_ERROR, "%s", errstr);
        if (in->cnt.queued_cnt == 0)
                return ingest_fail(in, 500, INGEST_END_PLAIN, "the file could not be read");
        return ingest_fail(in, 500, INGEST_END_CUT_SHORT, "the file could not be read to the end");
}

/* Streams file_path, a Google Sheets URL. */
static int read_sheet(struct ingest *in) {
        static const int status[] = {
            [SVC_SHEETS_BAD_URL] = 400,  [SVC_SHEETS_DENIED] = 403,  [SVC_SHEETS_NOT_FOUND] = 404,
            [SVC_SHEETS_AUTH] = 502,     [SVC_SHEETS_TIMEOUT] = 504, [SVC_SHEETS_TOO_LARGE] = 413,
            [SVC_SHEETS_UPSTREAM] = 502,
        };
        char errstr[512], detail[512], id[SVC_SHEETS_ID_MAX + 1];
        long long gid;
        svc_sheets_url_err_t uerr;
        svc_sheets_err_t err;
        int code;

        /* A URL outside the allow-list is a 400 whatever state the key is in. */
        if ((uerr = svc_sheets_url_parse(in->prm.path, id, &gid)) != SVC_SHEETS_URL_OK)
                return ingest_fail(in, 400, INGEST_END_PLAIN, "%s", svc_sheets_url_strerror(uerr));
        if (!in->proc->sh)
                return ingest_fail(in, 502, INGEST_END_PLAIN,
                                   "Google Sheets cannot be read: the service account key "
                                   "of the service is unusable");
        err = svc_sheets_read(in->proc->sh, in->prm.path, on_row, in, errstr, sizeof(errstr),
                              detail, sizeof(detail));
        if (detail[0])
                ingest_log(in, SVC_LOG_WARN, "%s", detail);
        if (err == SVC_SHEETS_OK || err == SVC_SHEETS_STOPPED)
                return in->end.status ? -1 : 0;
        if (err > SVC_SHEETS_UPSTREAM || !status[err]) {
                code = 502;
                snprintf(errstr, sizeof(errstr), "reading the sheet failed");
        } else {
                code = status[err];
        }
        if (in->cnt.queued_cnt == 0)
                return ingest_fail(in, code, INGEST_END_PLAIN, "%s", errstr);
        /* The sheet broke off after some rows went out: say exactly what landed. */
        return ingest_fail(in, code, INGEST_END_CUT_SHORT, "%s; the sheet broke off", errstr);
}

/* Parses query_param_a: "1".."3" or 1..3; absent or null gives 0. -1 when invalid. */
static int parse_a(const json_t *v) {
        if (!v || json_is_null(v))
                return 0;
        if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 3)
                return (int)json_integer_value(v);
        if (json_is_string(v) && json_string_length(v) == 1) {
                char c = json_string_value(v)[0];
                if (c >= '1' && c <= '3')
                        return c - '0';
        }
        return -1;
}

static size_t utf8_chars(const char *s) {
        size_t n = 0;
        for (; *s; s++)
                n += ((unsigned char)*s & 0xC0) != 0x80;
        return n;
}

/* 1 when v is a string without a NUL byte in it. */
static int is_plain_string(const json_t *v) {
        return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v);
}

/* Checks date and reason, which may be left out. */
static int parse_optional(struct ingest *in, const json_t *body) {
        const json_t *date = json_object_get(body, "date");
        const json_t *reason = json_object_get(body, "reason");

        if (date && !json_is_null(date)) {
                if (!json_is_string(date) ||
                    !svc_tracking_is_date(json_string_value(date), json_string_length(date)))
                        return ingest_fail(in, 400, INGEST_END_PLAIN,
                                           "date must be a calendar date written YYYY-MM-DD");
                in->prm.date = json_string_value(date);
        }
        if (reason && !json_is_null(reason)) {
                if (!is_plain_string(reason))
                        return ingest_fail(in, 400, INGEST_END_PLAIN, "reason must be a string");
                if (utf8_chars(json_string_value(reason)) > INGEST_MAX_REASON)
                        return ingest_fail(in, 400, INGEST_END_PLAIN,
                                           "reason is longer than %d characters",
                                           INGEST_MAX_REASON);
                in->prm.reason = json_string_value(reason);
        }
        return 0;
}

/* Checks the request object and fills in->prm. */
static int parse_params(struct ingest *in, const json_t *body) {
        const json_t *path = json_object_get(body, "file_path");

        if (!json_is_object(body))
                return ingest_fail(in, 400, INGEST_END_PLAIN, "the body must be a JSON object");
        if (!path || json_is_null(path))
                return ingest_fail(in, 400, INGEST_END_PLAIN,
                                   "file_path is required: a CSV file relative to the data "
                                   "directory, or a Google Sheets URL");
        if (!is_plain_string(path) || json_string_length(path) == 0)
                return ingest_fail(in, 400, INGEST_END_PLAIN,
                                   "file_path must be a non-empty string");
        in->prm.path = json_string_value(path);
        if ((in->prm.a = parse_a(json_object_get(body, "query_param_a"))) == -1)
                return ingest_fail(in, 400, INGEST_END_PLAIN,
                                   "query_param_a must be 1, 2 or 3 (a string or an "
                                   "integer), or left out");
        return parse_optional(in, body);
}

/* Method, address or token, and media type, before the body is read. */
static int check_request(struct ingest *in) {
        const char *token = in->cfg->ingest_api_token;

        if (strcmp(svc_http_method(in->req), "POST"))
                return ingest_fail(in, 405, INGEST_END_PLAIN, "use POST to ingest a file");
        /* Without a token, only the addresses of INGEST_ALLOW (loopback by default). */
        if (!token && !svc_addrlist_has(&in->cfg->ingest_allow_list, svc_http_client_ip(in->req)))
                return ingest_fail(in, 403, INGEST_END_PLAIN,
                                   "forbidden for this address: without a token "
                                   "(INGEST_API_TOKEN) only the addresses of INGEST_ALLOW may "
                                   "ingest");
        if (token && !svc_http_bearer_ok(in->req, token))
                return ingest_fail(in, 401, INGEST_END_PLAIN,
                                   "a valid token is required: Authorization: Bearer <token>");
        if (!svc_http_content_type_is(in->req, "application/json"))
                return ingest_fail(in, 415, INGEST_END_PLAIN,
                                   "Content-Type must be application/json");
        return 0;
}

/* Reads and checks the request, then streams its source. *body receives the request's
 * JSON (the caller releases it). */
static void run(struct ingest *in, json_t **body) {
        if (check_request(in) == -1)
                return;
        if (!(*body = svc_http_read_json(in->req, INGEST_MAX_BODY))) {
                in->end.status = 400; /* or 413: svc_http_read_json() answered either */
                in->end.kind = INGEST_END_ANSWERED;
                return;
        }
        if (parse_params(in, *body) == -1)
                return;
        if (!(in->cnt.errors = json_array()) ||
            !(in->kafka.kb = svc_kafka_batch_new(in->proc->app.kp))) {
                ingest_fail(in, 500, INGEST_END_PLAIN, "internal error");
                return;
        }
        svc_log_iso_now(in->ingested_at, sizeof(in->ingested_at));
        if (svc_sheets_url_is_url(in->prm.path))
                read_sheet(in);
        else
                read_file(in);
}

/* Waits for what is in flight; a Kafka failure ends a request that had not ended. */
static void wait_kafka(struct ingest *in) {
        char errstr[512];

        /* Messages already queued are waited for even after a failure, so that the answer
         * can say how many were in fact acknowledged. */
        if (!in->kafka.kb || svc_kafka_batch_wait(in->kafka.kb, in->cfg->kafka_timeout_ms,
                                                  &in->cnt.acked_cnt, errstr, sizeof(errstr)) == 0)
                return;
        ingest_log(in, SVC_LOG_ERROR, "kafka: %s", errstr);
        if (!in->end.status)
                ingest_fail(in, 503, INGEST_END_CUT_SHORT, "Kafka did not acknowledge every event");
}

/* The source ended well: judges the rows. */
static void judge_rows(struct ingest *in) {
        const struct ingest_counts *c = &in->cnt;

        if (!in->header_seen)
                ingest_fail(in, 422, INGEST_END_PLAIN,
                            "the file is empty: it needs a header row naming the columns DATE, "
                            "REF_NUMBER, IP, USER_AGENT, USER_FP, URL, SOURCE");
        else if (c->queued_cnt == 0 && c->error_cnt > 0)
                ingest_fail(in, 422, INGEST_END_NO_VALID, "no row was valid: %zu row%s rejected%s",
                            c->error_cnt, c->error_cnt == 1 ? "" : "s",
                            c->error_cnt > INGEST_MAX_LISTED_ERRORS
                                ? " (the first 100 are listed, all are in the error log)"
                                : "");
}

/* Answers a request that ended in end. */
static void answer_error(struct ingest *in) {
        const struct ingest_counts *c = &in->cnt;
        char msg[1024];

        if (in->end.status == 405)
                svc_http_add_header(in->req, "Allow", "POST");
        if (in->end.status == 401)
                svc_http_add_header(in->req, "WWW-Authenticate", "Bearer");
        switch (in->end.kind) {
        case INGEST_END_PLAIN:
                svc_http_send_error(in->req, in->end.status, "%s", in->end.message);
                break;
        case INGEST_END_CUT_SHORT:
                snprintf(msg, sizeof(msg),
                         "%s; Kafka acknowledged %zu of the %zu events sent, so it was not "
                         "reliably processed: ingest it again (event_ids are stable, so "
                         "duplicates can be dropped downstream)",
                         in->end.message, c->acked_cnt, c->queued_cnt);
                svc_http_send_error_details(in->req, in->end.status, msg,
                                            json_pack("{s:I, s:I}", "acknowledged_count",
                                                      (json_int_t)c->acked_cnt, "queued_count",
                                                      (json_int_t)c->queued_cnt));
                break;
        case INGEST_END_NO_VALID:
                svc_http_send_error_details(in->req, in->end.status, in->end.message,
                                            json_pack("{s:i, s:I, s:I, s:O}", "processed_count", 0,
                                                      "error_count", (json_int_t)c->error_cnt,
                                                      "skipped_count", (json_int_t)c->skipped_cnt,
                                                      "errors", c->errors));
                break;
        case INGEST_END_ANSWERED: break;
        }
}

/* Answers a request whose rows were all produced, refused or skipped. */
static void answer_success(struct ingest *in) {
        const struct ingest_counts *c = &in->cnt;
        char msg[1024];

        if (c->error_cnt == 0)
                snprintf(msg, sizeof(msg), "%s",
                         c->acked_cnt     ? "Events processed successfully"
                         : c->skipped_cnt ? "No row matched the date filter"
                                          : "The file has no data rows");
        else
                snprintf(msg, sizeof(msg), "%zu event%s processed, %zu row%s rejected%s",
                         c->acked_cnt, c->acked_cnt == 1 ? "" : "s", c->error_cnt,
                         c->error_cnt == 1 ? "" : "s",
                         c->error_cnt > INGEST_MAX_LISTED_ERRORS
                             ? " (the first 100 are listed, all are in the error log)"
                             : "");
        ingest_log(in, SVC_LOG_INFO, "ingested: %zu processed, %zu rejected, %zu skipped",
                   c->acked_cnt, c->error_cnt, c->skipped_cnt);
        svc_http_send_json(in->req, 200,
                           json_pack("{s:s, s:I, s:I, s:I, s:s, s:O}", "status",
                                     c->error_cnt ? "partial" : "success", "processed_count",
                                     (json_int_t)c->acked_cnt, "error_count",
                                     (json_int_t)c->error_cnt, "skipped_count",
                                     (json_int_t)c->skipped_cnt, "message", msg, "errors",
                                     c->errors));
}

/* The one place a request is answered: after Kafka acknowledged what it was sent, from
 * what went wrong (in->end) or else from the counts. */
/* Counts the request's rows once Kafka said what it took, before the answer goes out:
 * every valid row was received, and is acknowledged or, when the request gives up on it,
 * unavailable (docs/metrics.md, "Accounting"). */
static void account(const struct ingest *in) {
        const struct ingest_counts *c = &in->cnt;
        svc_metrics_events(SVC_METRICS_EP_INGEST, SVC_METRICS_RECEIVED, c->valid_cnt);
        svc_metrics_events(SVC_METRICS_EP_INGEST, SVC_METRICS_ACKED, c->acked_cnt);
        svc_metrics_events(SVC_METRICS_EP_INGEST, SVC_METRICS_UNAVAILABLE,
                           c->valid_cnt - c->acked_cnt);
        svc_metrics_events(SVC_METRICS_EP_INGEST, SVC_METRICS_INVALID, c->error_cnt);
}

static void ingest_finish(struct ingest *in) {
        wait_kafka(in);
        account(in);
        if (!in->end.status)
                judge_rows(in);
        if (in->end.status)
                answer_error(in);
        else
                answer_success(in);
}

static void ingest(svc_req_t *req, void *opaque) {
        svc_app_t *app = opaque;
        struct ingest_proc *proc = app->opaque;
        struct ingest in = {.proc = proc, .req = req, .cfg = &proc->app.cfg};
        json_t *body = NULL;

        run(&in, &body);
        ingest_finish(&in);
        svc_kafka_batch_destroy(in.kafka.kb); /* ingest_finish() waited for it */
        svc_jbuf_free(&in.buf);
        json_decref(in.cnt.errors);
        json_decref(body);
}

/* Where a process that serves one request (CGI) keeps Google access tokens between
 * requests: the directory of ERROR_LOG. NULL for a pooled process (memory suffices). */
static char *token_cache_dir(const svc_config_t *cfg) {
        const char *log = cfg->error_log ? cfg->error_log : "./var/errors.jsonl";
        const char *slash = strrchr(log, '/');

        if (!svc_http_is_cgi())
                return NULL;
        return slash ? strndup(log, (size_t)(slash - log) + (slash == log)) : strdup(".");
}

int main(void) {
        struct ingest_proc proc = {0};
        char errstr[256], *cache_dir;
        int ret;

        if (svc_app_init(&proc.app, "/api/ingest", SVC_APP_F_KAFKA) == -1)
                return 1;
        /* Once per start of the pool (a CGI run would say it at every request). */
        if (!proc.app.cfg.ingest_api_token && !svc_http_is_cgi())
                svc_log(SVC_LOG_WARN, NULL, proc.app.endpoint,
                        "INGEST_API_TOKEN is unset: /api/ingest and /api/processed-events answer "
                        "only INGEST_ALLOW (%s); set a token to open them to other addresses",
                        proc.app.cfg.ingest_allow);
        proc.app.opaque = &proc;
        cache_dir = token_cache_dir(&proc.app.cfg);
        if (!(proc.sh = svc_sheets_new(&proc.app.cfg, cache_dir, errstr, sizeof(errstr))))
                svc_log(SVC_LOG_ERROR, NULL, proc.app.endpoint, "Google Sheets disabled: %s",
                        errstr);
        free(cache_dir);
        svc_app_prepare_topics(&proc.app, (const char *[]){proc.app.cfg.conversion_topic,
                                                           proc.app.cfg.click_topic, NULL});
        ret = svc_app_run(&proc.app, 8, ingest);
        svc_sheets_destroy(proc.sh);
        svc_app_close(&proc.app);
        return ret;
}
