/* test_http.c - the request/response glue, driven as CGI: query decoding, content types,
 * bounded and gzip bodies, the bearer check, request ids and the answer's framing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include "http.h"
#include "tap.h"
#include "vm_size.h"

/* What the test handler saw. */
static struct {
        int q_len;
        char q[64];
        int is_json;
        svc_body_err_t body_err;
        size_t body_len;
        char body[64];
        char errstr[128]; /* what svc_http_read_body said, "untouched" if nothing */
        int bearer_ok;
        char request_id[80];
} seen;

static const char *query_name;
static size_t body_max;
static const char *token;
static int answer_status = 418; /* the status the test handler answers with */

static void handler(svc_req_t *req, void *opaque) {
        char *body, errstr[128] = "untouched";
        (void)opaque;
        memset(&seen, 0, sizeof(seen));
        seen.q_len =
            query_name ? svc_http_query_param(req, query_name, seen.q, sizeof(seen.q)) : -1;
        seen.is_json = svc_http_content_type_is(req, "application/json");
        seen.body_err =
            svc_http_read_body(req, body_max, &body, &seen.body_len, errstr, sizeof(errstr));
        if (seen.body_err == SVC_BODY_OK)
                snprintf(seen.body, sizeof(seen.body), "%.*s", (int)seen.body_len, body);
        else
                snprintf(seen.errstr, sizeof(seen.errstr), "%s", errstr);
        seen.bearer_ok = token ? svc_http_bearer_ok(req, token) : 0;
        snprintf(seen.request_id, sizeof(seen.request_id), "%s", svc_http_request_id(req));
        svc_http_send_error(req, answer_status, "short and stout");
}

/* Runs one CGI request with `env` ("K=V" strings, NULL-terminated) and `in` on stdin;
 * returns what went to stdout (static buffer). */
static const char *run(const char *const *env, const char *in, size_t in_len) {
        static char out[4096];
        static const char *vars[] = {
            "REQUEST_METHOD",        "QUERY_STRING",       "CONTENT_TYPE",      "CONTENT_LENGTH",
            "HTTP_CONTENT_ENCODING", "HTTP_AUTHORIZATION", "HTTP_X_REQUEST_ID", NULL};
        FILE *fin = tmpfile(), *fout = tmpfile();
        int saved_out = dup(1);
        size_t n;

        for (const char **v = vars; *v; v++)
                unsetenv(*v);
        for (; *env; env++)
                putenv((char *)*env);
        fwrite(in, 1, in_len, fin);
        rewind(fin);
        dup2(fileno(fin), 0);
        clearerr(stdin);
        fflush(stdout);
        dup2(fileno(fout), 1);
        svc_http_serve("/test", NULL, 1, 1, handler, NULL);
        fflush(stdout);
        dup2(saved_out, 1);
        close(saved_out);
        rewind(fout);
        n = fread(out, 1, sizeof(out) - 1, fout);
        out[n] = '\0';
        fclose(fin);
        fclose(fout);
        return out;
}

static size_t gzip_of(const char *in, size_t len, char *out, size_t out_size) {
        z_stream zs = {0};
        deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
        zs.next_in = (Bytef *)in;
        zs.avail_in = (uInt)len;
        zs.next_out = (Bytef *)out;
        zs.avail_out = (uInt)out_size;
        deflate(&zs, Z_FINISH);
        deflateEnd(&zs);
        return zs.total_out;
}

/* A gzip body that inflates past the address space left: the inflated buffer's growth
 * fails, and the reason says so instead of leaving errstr as it was. Last in the test,
 * since the limit stays. */
static void test_gunzip_out_of_memory(void) {
#ifdef __SANITIZE_ADDRESS__
        ok(1, "gzip body out of memory: errstr says so # SKIP RLIMIT_AS and ASan's shadow "
              "memory do not mix");
#else
        size_t plain_len = (size_t)64 << 20, gz_size = (size_t)1 << 20, gz_len;
        char *plain = calloc(1, plain_len), *gz = malloc(gz_size), cl[64];
        struct rlimit rl = {0, RLIM_INFINITY};

        ok(plain && gz, "64 MiB of zeros and room for their gzip");
        if (!plain || !gz)
                return;
        gz_len = gzip_of(plain, plain_len, gz, gz_size);
        free(plain);
        snprintf(cl, sizeof(cl), "CONTENT_LENGTH=%zu", gz_len);
        body_max = plain_len;
        rl.rlim_cur = vm_size() + ((size_t)16 << 20);
        ok(setrlimit(RLIMIT_AS, &rl) == 0, "address space limited");
        {
                const char *env[] = {"REQUEST_METHOD=POST", cl, "HTTP_CONTENT_ENCODING=gzip", NULL};
                run(env, gz, gz_len);
        }
        ok(seen.body_err != SVC_BODY_OK, "gzip body out of memory: refused");
        is_str(seen.errstr, "out of memory", "gzip body out of memory: errstr says so");
        free(gz);
#endif
}

int main(void) {
        static const struct {
                const char *query, *name, *want; /* want NULL: absent */
                int want_len;
        } queries[] = {
            {"a=1&b=x%20y+z", "b", "x y z", 5},
            {"a=1&b=2", "a", "1", 1},
            {"ab=1&a=2", "a", "2", 1},
            {"flag&b=1", "flag", "", 0},
            {"b=%2e%2e%2F", "b", "../", 3},
            {"b=%zz%4", "b", "%zz%4", 5},
            {"x=1", "b", NULL, -1},
            {"", "b", NULL, -1},
            {"b=0123456789012345678901234567890123456789012345678901234567890123456789", "b", NULL,
             -2},
            {NULL, NULL, NULL, 0},
        };
        const char *out;
        char gz[2048], big[8192];
        size_t gz_len;

        /* The handler's log lines are not what is tested here. */
        if (!freopen("/dev/null", "w", stderr))
                return 1;
        body_max = 16;
        for (int i = 0; queries[i].query; i++) {
                char q[200];
                snprintf(q, sizeof(q), "QUERY_STRING=%s", queries[i].query);
                const char *env[] = {"REQUEST_METHOD=GET", q, NULL};
                query_name = queries[i].name;
                run(env, "", 0);
                is_int(seen.q_len, queries[i].want_len, "query '%s' %s: length", queries[i].query,
                       queries[i].name);
                if (queries[i].want)
                        is_str(seen.q, queries[i].want, "query '%s' %s: value", queries[i].query,
                               queries[i].name);
        }
        query_name = NULL;

        static const struct {
                const char *ct;
                int json;
        } types[] = {{"application/json", 1},
                     {"application/json; charset=utf-8", 1},
                     {"Application/JSON", 1},
                     {"application/jsonp", 0},
                     {"text/plain", 0},
                     {"", 0},
                     {NULL, 0}};
        for (int i = 0; types[i].ct; i++) {
                char ct[100];
                snprintf(ct, sizeof(ct), "CONTENT_TYPE=%s", types[i].ct);
                const char *env[] = {"REQUEST_METHOD=POST", ct, NULL};
                run(env, "", 0);
                is_int(seen.is_json, types[i].json, "Content-Type '%s'", types[i].ct);
        }

        static const struct {
                const char *cl, *in, *label;
                svc_body_err_t err;
                const char *body;
        } bodies[] = {
            {"CONTENT_LENGTH=5", "hello", "exact body", SVC_BODY_OK, "hello"},
            {"CONTENT_LENGTH=0", "", "empty body", SVC_BODY_OK, ""},
            {"CONTENT_LENGTH=10", "hello", "truncated body", SVC_BODY_TRUNCATED, NULL},
            {"CONTENT_LENGTH=17", "01234567890123456", "one byte over the bound",
             SVC_BODY_TOO_LARGE, NULL},
            {"CONTENT_LENGTH=16", "0123456789012345", "exactly the bound", SVC_BODY_OK,
             "0123456789012345"},
            {"CONTENT_LENGTH=-1", "", "negative length", SVC_BODY_TRUNCATED, NULL},
            {"CONTENT_LENGTH=5x", "hello", "garbage length", SVC_BODY_TRUNCATED, NULL},
            {"CONTENT_LENGTH=99999999999999999999999", "", "huge length", SVC_BODY_TRUNCATED, NULL},
            {NULL, NULL, NULL, 0, NULL},
        };
        for (int i = 0; bodies[i].cl; i++) {
                const char *env[] = {"REQUEST_METHOD=POST", bodies[i].cl, NULL};
                run(env, bodies[i].in, strlen(bodies[i].in));
                is_int(seen.body_err, bodies[i].err, "%s: status", bodies[i].label);
                if (bodies[i].body)
                        is_str(seen.body, bodies[i].body, "%s: content", bodies[i].label);
        }

        /* gzip: decompressed within the bound, refused past it, broken, unknown coding. */
        char cl[64];
        body_max = 64;
        gz_len = gzip_of("hello, gzip", 11, gz, sizeof(gz));
        snprintf(cl, sizeof(cl), "CONTENT_LENGTH=%zu", gz_len);
        {
                const char *env[] = {"REQUEST_METHOD=POST", cl, "HTTP_CONTENT_ENCODING=gzip", NULL};
                run(env, gz, gz_len);
                is_int(seen.body_err, SVC_BODY_OK, "gzip body accepted");
                is_str(seen.body, "hello, gzip", "gzip body decompressed");
        }
        memset(big, 'a', sizeof(big));
        gz_len = gzip_of(big, sizeof(big), gz, sizeof(gz));
        snprintf(cl, sizeof(cl), "CONTENT_LENGTH=%zu", gz_len);
        {
                const char *env[] = {"REQUEST_METHOD=POST", cl, "HTTP_CONTENT_ENCODING=gzip", NULL};
                run(env, gz, gz_len);
                is_int(seen.body_err, SVC_BODY_TOO_LARGE,
                       "gzip bomb: small on the wire, over the bound inflated");
        }
        gz_len = gzip_of("hello, gzip", 11, gz, sizeof(gz));
        snprintf(cl, sizeof(cl), "CONTENT_LENGTH=%zu", gz_len - 4);
        {
                const char *env[] = {"REQUEST_METHOD=POST", cl, "HTTP_CONTENT_ENCODING=gzip", NULL};
                run(env, gz, gz_len - 4);
                is_int(seen.body_err, SVC_BODY_BAD_ENCODING, "truncated gzip stream refused");
        }
        {
                const char *env[] = {"REQUEST_METHOD=POST", "CONTENT_LENGTH=5",
                                     "HTTP_CONTENT_ENCODING=br", NULL};
                run(env, "hello", 5);
                is_int(seen.body_err, SVC_BODY_BAD_ENCODING, "unknown Content-Encoding refused");
        }

        static const struct {
                const char *auth;
                int ok;
        } auths[] = {{"HTTP_AUTHORIZATION=Bearer s3cret", 1},
                     {"HTTP_AUTHORIZATION=bearer s3cret", 1},
                     {"HTTP_AUTHORIZATION=Bearer s3cre", 0},
                     {"HTTP_AUTHORIZATION=Bearer s3cret2", 0},
                     {"HTTP_AUTHORIZATION=Bearer ", 0},
                     {"HTTP_AUTHORIZATION=Basic s3cret", 0},
                     {"HTTP_AUTHORIZATION=s3cret", 0},
                     {"X_NO_AUTH=1", 0},
                     {NULL, 0}};
        token = "s3cret";
        for (int i = 0; auths[i].auth; i++) {
                const char *env[] = {"REQUEST_METHOD=GET", auths[i].auth, NULL};
                run(env, "", 0);
                is_int(seen.bearer_ok, auths[i].ok, "bearer check: %s", auths[i].auth);
        }
        token = NULL;

        {
                const char *env[] = {"REQUEST_METHOD=GET", "HTTP_X_REQUEST_ID=abc-DEF_1.2", NULL};
                out = run(env, "", 0);
                is_str(seen.request_id, "abc-DEF_1.2", "a sane request id is kept");
                ok(strstr(out, "X-Request-Id: abc-DEF_1.2\r\n") != NULL,
                   "and answered in X-Request-Id");
        }
        static const char *insane[] = {
            "HTTP_X_REQUEST_ID=has space",
            "HTTP_X_REQUEST_ID=a\"b",
            "HTTP_X_REQUEST_ID=",
            "HTTP_X_REQUEST_ID=\xc3\xa9",
            "HTTP_X_REQUEST_ID="
            "0123456789012345678901234567890123456789012345678901234567890123456789",
            NULL};
        for (int i = 0; insane[i]; i++) {
                const char *env[] = {"REQUEST_METHOD=GET", insane[i], NULL};
                run(env, "", 0);
                ok(strlen(seen.request_id) == 32 &&
                       strspn(seen.request_id, "0123456789abcdef") == 32,
                   "an insane request id (%s) is replaced by 32 hex digits", insane[i]);
        }

        {
                const char *env[] = {"REQUEST_METHOD=GET", NULL};
                out = run(env, "", 0);
                ok(!strncmp(out, "Status: 418 ", 12), "status line first");
                ok(strstr(out, "Content-Type: application/json; charset=utf-8\r\n") != NULL,
                   "JSON content type");
                const char *body = strstr(out, "\r\n\r\n");
                ok(body &&
                       !strcmp(body + 4, "{\"status\":\"error\",\"message\":\"short and stout\"}"),
                   "the error body is the documented JSON");
                char want_cl[64];
                snprintf(want_cl, sizeof(want_cl), "Content-Length: %zu\r\n",
                         body ? strlen(body + 4) : 0);
                ok(strstr(out, want_cl) != NULL, "Content-Length matches the body");
                ok(strstr(out, "Retry-After") == NULL, "no Retry-After on a 418");
        }
        {
                const char *env[] = {"REQUEST_METHOD=GET", NULL};
                answer_status = 503;
                out = run(env, "", 0);
                answer_status = 418;
                ok(!strncmp(out, "Status: 503 ", 12), "a 503");
                ok(strstr(out, "\r\nRetry-After: 5\r\n") != NULL, "a 503 says Retry-After: 5");
        }
        static const struct {
                int status;
                const char *line;
        } lines[] = {{202, "Status: 202 Accepted\r\n"},
                     {413, "Status: 413 Payload Too Large\r\n"},
                     {429, "Status: 429 Too Many Requests\r\n"},
                     {418, "Status: 418 Status\r\n"}, /* not in the table */
                     {0, NULL}};
        for (int i = 0; lines[i].line; i++) {
                const char *env[] = {"REQUEST_METHOD=GET", NULL};
                answer_status = lines[i].status;
                out = run(env, "", 0);
                answer_status = 418;
                ok(!strncmp(out, lines[i].line, strlen(lines[i].line)), "status line of a %d",
                   lines[i].status);
        }
        test_gunzip_out_of_memory();
        return done_testing();
}
