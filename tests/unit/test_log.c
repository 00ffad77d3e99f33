/* test_log.c - log lines: every control byte (below 0x20, and 0x7f) is escaped, so that a
 * line is one line and carries no terminal sequence, whatever a message quotes. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"

#define C(s) s, sizeof(s) - 1 /* a literal and its length, NULs included */

static void test_escape(void) {
        static const struct {
                const char *in;
                size_t in_len;
                const char *want;
                const char *label;
        } cases[] = {
            {C("plain text"), "plain text", "printable ASCII is kept"},
            {C("a\nb\rc\td"), "a\\nb\\rc\\td", "newline, return and tab by name"},
            {C("\x1b[2J\x1b]0;owned\x07"), "\\x1b[2J\\x1b]0;owned\\x07", "ESC sequences and BEL"},
            {C("\x7f"), "\\x7f", "DEL"},
            {C("\x01\x1f"), "\\x01\\x1f", "the first and last C0 bytes"},
            {C("a\0b"), "a\\x00b", "a NUL inside the message"},
            {C(" ~"), " ~", "0x20 and 0x7e are printable"},
            {C("\xc3\xa9t\xc3\xa9"), "\xc3\xa9t\xc3\xa9", "UTF-8 is kept"},
            {"\x9b"
             "31m",
             4,
             "\x9b"
             "31m",
             "bytes from 0x80 are kept"},
            {C("back\\slash"), "back\\slash", "a backslash is kept"},
            {C(""), "", "nothing"},
            {NULL, 0, NULL, NULL},
        };
        char out[128];

        for (int i = 0; cases[i].in; i++) {
                size_t n = svc_log_escape(out, sizeof(out), cases[i].in, cases[i].in_len);
                is_str(out, cases[i].want, "%s", cases[i].label);
                is_int(n, strlen(cases[i].want), "%s: the length returned", cases[i].label);
        }
        /* Bounded: never half an escape, always terminated. */
        is_int(svc_log_escape(out, 4, "ab\x1b", 3), 2, "no room for \\x1b: stops before it");
        is_str(out, "ab", "and terminates what fits");
        is_int(svc_log_escape(out, 5, "ab\x1b", 3), 2, "\\x1b needs 4 bytes and the NUL");
        is_int(svc_log_escape(out, 7, "ab\x1b", 3), 6, "with 7 bytes it fits");
        is_int(svc_log_escape(out, 1, "abc", 3), 0, "a 1-byte buffer holds the NUL only");
        is_str(out, "", "empty");
}

/* svc_log itself: what reaches stderr for a hostile message. */
static void test_line(void) {
        char path[] = "/tmp/test_log.XXXXXX", buf[8192];
        int fd = mkstemp(path), saved = dup(STDERR_FILENO), clean = 1;
        char big[3000];
        ssize_t n;

        if (fd == -1 || saved == -1) {
                ok(0, "a temporary file for stderr");
                return;
        }
        dup2(fd, STDERR_FILENO);
        svc_log(SVC_LOG_WARN, "req\x1b-1", "/api/ingest", "body: %s",
                "\x1b[31mred\r\nforged 0 INFO\x7f");
        memset(big, '\x1b', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        svc_log(SVC_LOG_INFO, NULL, NULL, "%s", big);
        dup2(saved, STDERR_FILENO);
        close(saved);
        n = pread(fd, buf, sizeof(buf) - 1, 0);
        close(fd);
        unlink(path);
        buf[n > 0 ? n : 0] = '\0';
        for (ssize_t i = 0; i < n; i++)
                if (((unsigned char)buf[i] < 0x20 && buf[i] != '\n') || buf[i] == 0x7f)
                        clean = 0;
        ok(clean, "no control byte but the line ends reaches stderr");
        ok(strstr(buf,
                  " WARN [req\\x1b-1] /api/ingest: body: \\x1b[31mred\\r\\nforged 0 INFO\\x7f\n") !=
               NULL,
           "the message, its control bytes escaped, on one line");
        {
                char *second = strchr(buf, '\n');
                char *end = second ? strchr(second + 1, '\n') : NULL;
                ok(end && !end[1], "two events, two lines");
                ok(second && end && end - second < 4096 && !strncmp(end - 4, "\\x1b", 4),
                   "a long message is cut at a whole escape (%ld bytes)",
                   second && end ? (long)(end - second) : -1L);
        }
}

int main(void) {
        test_escape();
        test_line();
        return done_testing();
}
