/* ingest.c - POST /api/ingest: streams a CSV file of the data directory (or a Google
 * Sheet) row by row, turns every valid tracking row into a CLICK or CONVERSION event and
 * produces it to Kafka (or the dev store), answering once every event is acknowledged. */
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

#define INGEST_MAX_BODY (64 * 1024)     /* the request is a small JSON object */
#define INGEST_MAX_FIELD (64 * 1024)    /* a longer CSV field is a row error */
#define INGEST_MAX_RECORD (256 * 1024)  /* a longer CSV record is a row error */
#define INGEST_MAX_REASON 256           /* characters */
#define INGEST_MAX_LISTED_ERRORS 100    /* row errors in the response; all go to ERROR_LOG */
#define INGEST_PING_MS 2000             /* longest wait for a first broker answer */
#define INGEST_STALL_CHECK 1000         /* events between two looks at Kafka's progress */

/* The process: settings and producer (app), and the Sheets reader. */
struct ingest_proc {
        svc_app_t app;
        svc_sheets_t *sh; /* NULL when GOOGLE_SERVICE_ACCOUNT_KEY is unusable */
        char sheets_err[256];
};

/* Why the row callback stopped the source. */
typedef enum {
        STOP_NONE = 0,
        STOP_HEADER,  /* the header lacks a column or cannot be read: 422 */
        STOP_KAFKA,   /* the producer refused a message or Kafka is unreachable: 503 */
        STOP_MEMORY,  /* 500 */
        STOP_READ,    /* reading the file failed after events went out: 500 */
} ingest_stop_t;

/* One request. */
struct ingest {
        struct ingest_proc *proc;
        svc_req_t *req;
        const svc_config_t *cfg;
        int a;                    /* query_param_a, 0 when absent */
        const char *date;         /* date filter, or NULL */
        const char *reason;       /* or NULL */
        char ingested_at[40];

        int header_seen;
        svc_tracking_header_t hdr;
        long data_row;            /* 1-based number of the last data record */
        size_t valid_cnt;         /* rows that passed the checks */
        size_t queued_cnt;        /* events handed to the producer */
        size_t error_cnt;
        size_t skipped_cnt;
        json_t *errors;           /* the first INGEST_MAX_LISTED_ERRORS row errors */

        svc_kafka_batch_t *kb;
        int kafka_checked;        /* the broker answered before the first event */
        size_t acked_seen;        /* acknowledgements at the last progress check */
        struct timespec progress_at; /* when acked_seen last grew */
        svc_tracking_buf_t buf;   /* event JSON, reused from row to row */
        ingest_stop_t stop;
        char stop_msg[512];       /* shown to the client */
        char stop_detail[512];    /* logged only */
};

static void row_error(struct ingest *in, const char *field, const char *message) {
        in->error_cnt++;
        svc_log_persist_error(in->cfg->error_log, svc_http_endpoint(in->req),
                              svc_http_request_id(in->req), 422, message, in->data_row,
                              field);
        if (json_array_size(in->errors) < INGEST_MAX_LISTED_ERRORS)
                json_array_append_new(in->errors,
                                      json_pack("{s:I, s:s?, s:s}", "row",
                                                (json_int_t)in->data_row, "field", field,
                                                "message", message));
}

/* Kafka must answer once before the first event, so that an unreachable cluster is a
 * prompt 503 rather than a wait on every queued message. */
static int kafka_ready(struct ingest *in) {
        char errstr[256];
        int timeout = in->cfg->kafka_timeout_ms < INGEST_PING_MS ? in->cfg->kafka_timeout_ms
                                                                 : INGEST_PING_MS;
        if (in->kafka_checked)
                return 0;
        if (svc_kafka_ping(in->proc->app.kp, timeout, errstr, sizeof(errstr)) == -1) {
                in->stop = STOP_KAFKA;
                snprintf(in->stop_msg, sizeof(in->stop_msg),
                         "Kafka is unavailable; nothing was processed, try again later");
                snprintf(in->stop_detail, sizeof(in->stop_detail), "kafka ping: %s", errstr);
                return -1;
        }
        in->kafka_checked = 1;
        clock_gettime(CLOCK_MONOTONIC, &in->progress_at);
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

        if (in->queued_cnt % INGEST_STALL_CHECK != 0)
                return 0;
        if (svc_kafka_batch_wait(in->kb, 0, &acked, errstr, sizeof(errstr)) == 0 ||
            acked > in->acked_seen) {
                in->acked_seen = acked;
                clock_gettime(CLOCK_MONOTONIC, &in->progress_at);
                return 0;
        }
        if (ms_since(&in->progress_at) <= in->cfg->kafka_timeout_ms)
                return 0;
        in->stop = STOP_KAFKA;
        snprintf(in->stop_msg, sizeof(in->stop_msg), "Kafka stopped acknowledging events");
        snprintf(in->stop_detail, sizeof(in->stop_detail),
                 "no acknowledgement for %d ms after %zu events", in->cfg->kafka_timeout_ms,
                 in->queued_cnt);
        return -1;
}

static int on_header(struct ingest *in, const struct svc_field *fields, size_t field_cnt,
                     const char *error) {
        char errstr[320];

        in->header_seen = 1;
        if (error) {
                in->stop = STOP_HEADER;
                snprintf(in->stop_msg, sizeof(in->stop_msg),
                         "the header row of the CSV cannot be read: %s", error);
                return -1;
        }
        if (svc_tracking_map_header(fields, field_cnt, &in->hdr, errstr, sizeof(errstr))) {
                in->stop = STOP_HEADER;
                snprintf(in->stop_msg, sizeof(in->stop_msg), "%s; nothing was processed",
                         errstr);
                return -1;
        }
        return 0;
}

static int on_row(void *opaque, const struct svc_field *fields, size_t field_cnt,
                  const char *error, long line) {
        struct ingest *in = opaque;
        svc_tracking_row_t row;
        const char *field = NULL, *topic;
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
        switch (svc_tracking_check_row(&in->hdr, fields, field_cnt, in->a, in->date, &row,
                                       &field, errstr, sizeof(errstr))) {
        case SVC_TRACKING_SKIPPED: in->skipped_cnt++; return 0;
        case SVC_TRACKING_INVALID: row_error(in, field, errstr); return 0;
        case SVC_TRACKING_VALID: break;
        }
        in->valid_cnt++;
        if (kafka_ready(in) == -1)
                return -1;
        if (svc_tracking_event_json(&row, in->reason, in->ingested_at,
                                    svc_http_request_id(in->req), &in->buf) == -1) {
                in->stop = STOP_MEMORY;
                snprintf(in->stop_msg, sizeof(in->stop_msg), "internal error");
                return -1;
        }
        topic = row.is_click ? in->cfg->click_topic : in->cfg->conversion_topic;
        if (svc_kafka_batch_produce(in->kb, topic, row.v[SVC_TRACKING_USER_FP].ptr,
                                    row.v[SVC_TRACKING_USER_FP].len, in->buf.ptr, in->buf.len,
                                    errstr, sizeof(errstr)) == -1) {
                in->stop = STOP_KAFKA;
                snprintf(in->stop_msg, sizeof(in->stop_msg),
                         "the events could not be handed to Kafka");
                snprintf(in->stop_detail, sizeof(in->stop_detail), "%s", errstr);
                return -1;
        }
        in->queued_cnt++;
        return kafka_progressing(in);
}

/* Opens file_path inside the data directory. Returns the fd, or -1 after answering. */
static int open_data_file(struct ingest *in, const char *path) {
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
        int fd = svc_datadir_open(in->cfg->data_dir, path, &err, errstr, sizeof(errstr));

        if (fd != -1)
                return fd;
        if (err == SVC_DATADIR_UNAVAILABLE || err == SVC_DATADIR_UNOPENABLE)
                svc_log(SVC_LOG_ERROR, svc_http_request_id(in->req), svc_http_endpoint(in->req),
                        "%s", errstr);
        if (err == SVC_DATADIR_UNAVAILABLE)
                svc_http_send_error(in->req, 500,
                                    "the data directory of the service is not available");
        else
                svc_http_send_error(in->req, 400, "%s", refusal[err]);
        return -1;
}

/* Counts the request's rows once Kafka said what it took, before the answer goes out:
 * every valid row was received, and is acknowledged or, when the request gives up on it,
 * unavailable (docs/metrics.md, "Accounting"). */
static void account(const struct ingest *in, size_t acked) {
        svc_metrics_events(SVC_METRICS_EP_INGEST, SVC_METRICS_RECEIVED, in->valid_cnt);
        svc_metrics_events(SVC_METRICS_EP_INGEST, SVC_METRICS_ACKED, acked);
        svc_metrics_events(SVC_METRICS_EP_INGEST, SVC_METRICS_UNAVAILABLE, in->valid_cnt - acked);
        svc_metrics_events(SVC_METRICS_EP_INGEST, SVC_METRICS_INVALID, in->error_cnt);
}

/* Answers a failure after events went out: how many of them Kafka acknowledged. */
static void send_cut_short(struct ingest *in, int status, const char *what, size_t acked) {
        char msg[1024];

        snprintf(msg, sizeof(msg),
                 "%s; Kafka acknowledged %zu of the %zu events sent, so it was not reliably "
                 "processed: ingest it again (event_ids are stable, so duplicates can be "
                 "dropped downstream)",
                 what, acked, in->queued_cnt);
        svc_http_send_error_details(in->req, status, msg,
                                    json_pack("{s:I, s:I}", "acknowledged_count",
                                              (json_int_t)acked, "queued_count",
                                              (json_int_t)in->queued_cnt));
}

/* Reads the sheet; returns 0, or -1 after answering (a stop is left to the caller). */
static int read_sheet(struct ingest *in, const char *url) {
        static const int status[] = {
            [SVC_SHEETS_BAD_URL] = 400, [SVC_SHEETS_DENIED] = 403,
            [SVC_SHEETS_NOT_FOUND] = 404, [SVC_SHEETS_AUTH] = 502,
            [SVC_SHEETS_TIMEOUT] = 504,   [SVC_SHEETS_TOO_LARGE] = 413,
            [SVC_SHEETS_UPSTREAM] = 502,
        };
        char errstr[512], msg[1024], id[SVC_SHEETS_ID_MAX + 1];
        long long gid;
        size_t acked = 0;
        svc_sheets_err_t err;

        /* A URL outside the allow-list is a 400 whatever state the key is in. */
        if (svc_sheets_parse_url(url, id, &gid, errstr, sizeof(errstr)) == -1) {
                svc_http_send_error(in->req, 400, "%s", errstr);
                return -1;
        }
        if (!in->proc->sh) {
                svc_http_send_error(in->req, 502,
                                    "Google Sheets cannot be read: the service account key "
                                    "of the service is unusable");
                return -1;
        }
        err = svc_sheets_read(in->proc->sh, url, on_row, in, errstr, sizeof(errstr));
        if (err == SVC_SHEETS_OK || err == SVC_SHEETS_STOPPED)
                return 0;
        if (err > SVC_SHEETS_UPSTREAM || !status[err])
                snprintf(errstr, sizeof(errstr), "reading the sheet failed");
        if (in->queued_cnt == 0) {
                account(in, 0);
                svc_http_send_error(in->req, status[err] ? status[err] : 502, "%s", errstr);
                return -1;
        }
        /* The sheet broke off after some rows went out: say exactly what landed. */
        if (svc_kafka_batch_wait(in->kb, in->cfg->kafka_timeout_ms, &acked, msg,
                                 sizeof(msg)) == -1)
                svc_log(SVC_LOG_ERROR, svc_http_request_id(in->req),
                        svc_http_endpoint(in->req), "kafka: %s", msg);
        account(in, acked);
        snprintf(msg, sizeof(msg), "%s; the sheet broke off", errstr);
        send_cut_short(in, status[err] ? status[err] : 502, msg, acked);
        return -1;
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

/* Checks the request object; fills in; returns the file_path, or NULL after answering. */
static const char *parse_request(struct ingest *in, const json_t *body) {
        const json_t *path = json_object_get(body, "file_path");
        const json_t *date = json_object_get(body, "date");
        const json_t *reason = json_object_get(body, "reason");

        if (!json_is_object(body)) {
                svc_http_send_error(in->req, 400, "the body must be a JSON object");
                return NULL;
        }
        if (!path || json_is_null(path)) {
                svc_http_send_error(in->req, 400,
                                    "file_path is required: a CSV file relative to the data "
                                    "directory, or a Google Sheets URL");
                return NULL;
        }
        if (!json_is_string(path) || json_string_length(path) == 0 ||
            strlen(json_string_value(path)) != json_string_length(path)) {
                svc_http_send_error(in->req, 400, "file_path must be a non-empty string");
                return NULL;
        }
        if ((in->a = parse_a(json_object_get(body, "query_param_a"))) == -1) {
                svc_http_send_error(in->req, 400,
                                    "query_param_a must be 1, 2 or 3 (a string or an "
                                    "integer), or left out");
                return NULL;
        }
        if (date && !json_is_null(date)) {
                if (!json_is_string(date) ||
                    !svc_tracking_is_date(json_string_value(date), json_string_length(date))) {
                        svc_http_send_error(in->req, 400,
                                            "date must be a calendar date written YYYY-MM-DD");
                        return NULL;
                }
                in->date = json_string_value(date);
        }
        if (reason && !json_is_null(reason)) {
                if (!json_is_string(reason) ||
                    strlen(json_string_value(reason)) != json_string_length(reason)) {
                        svc_http_send_error(in->req, 400, "reason must be a string");
                        return NULL;
                }
                if (utf8_chars(json_string_value(reason)) > INGEST_MAX_REASON) {
                        svc_http_send_error(in->req, 400,
                                            "reason is longer than %d characters",
                                            INGEST_MAX_REASON);
                        return NULL;
                }
                in->reason = json_string_value(reason);
        }
        return json_string_value(path);
}

/* After the source ended: waits for Kafka and answers with the counts. */
static void finish(struct ingest *in) {
        char errstr[512], msg[1024];
        size_t acked = 0;
        int wait_rc;
        json_t *extra;

        /* Messages already queued are waited for even after a stop, so that a 503 can say
         * how many were in fact acknowledged. */
        wait_rc = svc_kafka_batch_wait(in->kb, in->cfg->kafka_timeout_ms, &acked, errstr,
                                       sizeof(errstr));
        account(in, acked);
        if (in->stop == STOP_HEADER) {
                svc_http_send_error(in->req, 422, "%s", in->stop_msg);
                return;
        }
        if (in->stop == STOP_MEMORY || in->stop == STOP_READ) {
                send_cut_short(in, 500, in->stop_msg, acked);
                return;
        }
        if (in->stop == STOP_KAFKA || wait_rc == -1) {
                svc_log(SVC_LOG_ERROR, svc_http_request_id(in->req), svc_http_endpoint(in->req),
                        "kafka: %s", in->stop == STOP_KAFKA ? in->stop_detail : errstr);
                send_cut_short(in, 503,
                               in->stop == STOP_KAFKA ? in->stop_msg
                                                      : "Kafka did not acknowledge every event",
                               acked);
                return;
        }
        if (!in->header_seen) {
                svc_http_send_error(in->req, 422,
                                    "the file is empty: it needs a header row naming the "
                                    "columns DATE, REF_NUMBER, IP, USER_AGENT, USER_FP, URL, "
                                    "SOURCE");
                return;
        }
        if (in->queued_cnt == 0 && in->error_cnt > 0) {
                snprintf(msg, sizeof(msg), "no row was valid: %zu row%s rejected%s",
                         in->error_cnt, in->error_cnt == 1 ? "" : "s",
                         in->error_cnt > INGEST_MAX_LISTED_ERRORS
                             ? " (the first 100 are listed, all are in the error log)"
                             : "");
                extra = json_pack("{s:i, s:I, s:I, s:O}", "processed_count", 0,
                                  "error_count", (json_int_t)in->error_cnt, "skipped_count",
                                  (json_int_t)in->skipped_cnt, "errors", in->errors);
                svc_http_send_error_details(in->req, 422, msg, extra);
                return;
        }
        if (in->error_cnt == 0)
                snprintf(msg, sizeof(msg), "%s",
                         acked ? "Events processed successfully"
                               : in->skipped_cnt ? "No row matched the date filter"
                                                 : "The file has no data rows");
        else
                snprintf(msg, sizeof(msg),
                         "%zu event%s processed, %zu row%s rejected%s", acked,
                         acked == 1 ? "" : "s", in->error_cnt, in->error_cnt == 1 ? "" : "s",
                         in->error_cnt > INGEST_MAX_LISTED_ERRORS
                             ? " (the first 100 are listed, all are in the error log)"
                             : "");
        svc_log(SVC_LOG_INFO, svc_http_request_id(in->req), svc_http_endpoint(in->req),
                "ingested: %zu processed, %zu rejected, %zu skipped", acked, in->error_cnt,
                in->skipped_cnt);
        svc_http_send_json(in->req, 200,
                           json_pack("{s:s, s:I, s:I, s:I, s:s, s:O}", "status",
                                     in->error_cnt ? "partial" : "success", "processed_count",
                                     (json_int_t)acked, "error_count",
                                     (json_int_t)in->error_cnt, "skipped_count",
                                     (json_int_t)in->skipped_cnt, "message", msg, "errors",
                                     in->errors));
}

static void ingest(svc_req_t *req, void *opaque) {
        svc_app_t *app = opaque;
        struct ingest_proc *proc = app->opaque;
        struct ingest in = {.proc = proc, .req = req, .cfg = &proc->app.cfg};
        const char *path;
        char errstr[512];
        json_t *request = NULL;
        int fd = -1;

        if (strcmp(svc_http_method(req), "POST")) {
                svc_http_add_header(req, "Allow", "POST");
                svc_http_send_error(req, 405, "use POST to ingest a file");
                return;
        }
        if (in.cfg->ingest_api_token && !svc_http_bearer_ok(req, in.cfg->ingest_api_token)) {
                svc_http_add_header(req, "WWW-Authenticate", "Bearer");
                svc_http_send_error(req, 401,
                                    "a valid token is required: Authorization: Bearer <token>");
                return;
        }
        if (!svc_http_content_type_is(req, "application/json")) {
                svc_http_send_error(req, 415, "Content-Type must be application/json");
                return;
        }
        if (!(request = svc_http_read_json(req, INGEST_MAX_BODY, NULL, NULL)))
                return;
        if (!(path = parse_request(&in, request)))
                goto out;
        if (!(in.errors = json_array()) || !(in.kb = svc_kafka_batch_new(proc->app.kp))) {
                svc_http_send_error(req, 500, "internal error");
                goto out;
        }
        svc_log_iso_now(in.ingested_at, sizeof(in.ingested_at));
        if (svc_sheets_is_url(path)) {
                if (read_sheet(&in, path) == -1)
                        goto out;
        } else {
                if ((fd = open_data_file(&in, path)) == -1)
                        goto out;
                if (svc_csv_read_fd(fd, INGEST_MAX_FIELD, INGEST_MAX_RECORD, on_row, &in,
                                    errstr, sizeof(errstr)) == SVC_CSV_IO) {
                        svc_log(SVC_LOG_ERROR, svc_http_request_id(req), svc_http_endpoint(req),
                                "%s", errstr);
                        if (in.queued_cnt == 0) {
                                account(&in, 0);
                                svc_http_send_error(req, 500, "the file could not be read");
                                goto out;
                        }
                        in.stop = STOP_READ;
                        snprintf(in.stop_msg, sizeof(in.stop_msg),
                                 "the file could not be read to the end");
                }
        }
        finish(&in);
        svc_kafka_batch_destroy(in.kb); /* finish() waited for it */
        in.kb = NULL;
out:
        if (fd != -1)
                close(fd);
        if (in.kb) {
                size_t acked;
                /* an early answer (e.g. a sheet error) may leave messages in flight */
                if (svc_kafka_batch_wait(in.kb, in.cfg->kafka_timeout_ms, &acked, errstr,
                                         sizeof(errstr)) == -1)
                        svc_log(SVC_LOG_WARN, svc_http_request_id(req), svc_http_endpoint(req),
                                "kafka: %s", errstr);
        }
        svc_kafka_batch_destroy(in.kb);
        svc_tracking_buf_free(&in.buf);
        json_decref(in.errors);
        json_decref(request);
}

int main(void) {
        struct ingest_proc proc = {0};
        int ret;

        if (svc_app_init(&proc.app, "/api/ingest", SVC_APP_F_KAFKA) == -1)
                return 1;
        proc.app.opaque = &proc;
        if (!(proc.sh = svc_sheets_new(&proc.app.cfg, proc.sheets_err, sizeof(proc.sheets_err))))
                svc_log(SVC_LOG_ERROR, NULL, proc.app.endpoint,
                        "Google Sheets disabled: %s", proc.sheets_err);
        svc_app_prepare_topics(&proc.app, (const char *[]){proc.app.cfg.conversion_topic,
                                                           proc.app.cfg.click_topic, NULL});
        ret = svc_app_run(&proc.app, 8, ingest);
        svc_sheets_destroy(proc.sh);
        svc_app_close(&proc.app);
        return ret;
}
