/* fcgicall.c - a minimal FastCGI client for the tests: sends one request to a FastCGI
 * server on a unix socket, as nginx would, and prints its answer.
 *
 *   fcgicall SOCKET NAME=VALUE... <body
 *
 * The NAME=VALUE arguments are the request's parameters (SCRIPT_FILENAME, REQUEST_METHOD,
 * ...), stdin its body (CONTENT_LENGTH is the caller's to set). The server's stdout
 * stream goes to stdout (the CGI headers, a blank line, the body), its stderr stream to
 * stderr. Exit status: the application's status from END_REQUEST (0 to 255), or 2 when the
 * server cannot be reached or breaks the protocol. Plain sockets, no libfcgi: this is the
 * other end of the wire. Single-threaded; everything is freed at exit. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define FCGI_VERSION_1 1
#define FCGI_BEGIN_REQUEST 1
#define FCGI_END_REQUEST 3
#define FCGI_PARAMS 4
#define FCGI_STDIN 5
#define FCGI_STDOUT 6
#define FCGI_STDERR 7
#define FCGI_RESPONDER 1
#define FCGI_REQUEST_ID 1
#define FCGI_CONTENT_MAX 65535 /* bytes of content in one record */

static int write_all(int fd, const void *buf, size_t len) {
        const unsigned char *p = buf;

        while (len) {
                ssize_t n = write(fd, p, len);
                if (n == -1 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return -1;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

static int read_all(int fd, void *buf, size_t len) {
        unsigned char *p = buf;

        while (len) {
                ssize_t n = read(fd, p, len);
                if (n == -1 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return -1;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

/* One record of type with len bytes of content (len 0: the end of a stream). */
static int send_record(int fd, int type, const void *content, size_t len) {
        unsigned char hdr[8] = {FCGI_VERSION_1,
                                (unsigned char)type,
                                0,
                                FCGI_REQUEST_ID,
                                (unsigned char)(len >> 8),
                                (unsigned char)len,
                                0,
                                0};

        return write_all(fd, hdr, sizeof(hdr)) == -1 || (len && write_all(fd, content, len) == -1)
                   ? -1
                   : 0;
}

/* Appends a name-value pair's length: one byte below 128, else four. */
static size_t put_len(unsigned char *p, size_t len) {
        if (len < 128) {
                p[0] = (unsigned char)len;
                return 1;
        }
        p[0] = (unsigned char)((len >> 24) | 0x80);
        p[1] = (unsigned char)(len >> 16);
        p[2] = (unsigned char)(len >> 8);
        p[3] = (unsigned char)len;
        return 4;
}

static int send_params(int fd, char **params, int cnt) {
        for (int i = 0; i < cnt; i++) {
                unsigned char buf[FCGI_CONTENT_MAX];
                const char *eq = strchr(params[i], '=');
                size_t nlen, vlen, len = 0;

                if (!eq) {
                        fprintf(stderr, "fcgicall: %s is not NAME=VALUE\n", params[i]);
                        return -1;
                }
                nlen = (size_t)(eq - params[i]);
                vlen = strlen(eq + 1);
                if (nlen + vlen + 8 > sizeof(buf)) {
                        fprintf(stderr, "fcgicall: %.40s... is too long\n", params[i]);
                        return -1;
                }
                len += put_len(buf + len, nlen);
                len += put_len(buf + len, vlen);
                memcpy(buf + len, params[i], nlen);
                memcpy(buf + len + nlen, eq + 1, vlen);
                if (send_record(fd, FCGI_PARAMS, buf, len + nlen + vlen) == -1)
                        return -1;
        }
        return send_record(fd, FCGI_PARAMS, NULL, 0);
}

static int send_stdin(int fd) {
        unsigned char buf[FCGI_CONTENT_MAX];
        ssize_t n;

        while ((n = read(STDIN_FILENO, buf, sizeof(buf))) > 0)
                if (send_record(fd, FCGI_STDIN, buf, (size_t)n) == -1)
                        return -1;
        return n == -1 ? -1 : send_record(fd, FCGI_STDIN, NULL, 0);
}

/* Copies the answer's streams until END_REQUEST. Returns the application's status, or -1. */
static int read_answer(int fd) {
        unsigned char hdr[8], buf[FCGI_CONTENT_MAX + 255];

        for (;;) {
                size_t len, pad;

                if (read_all(fd, hdr, sizeof(hdr)) == -1 || hdr[0] != FCGI_VERSION_1)
                        return -1;
                len = (size_t)hdr[4] << 8 | hdr[5];
                pad = hdr[6];
                if (read_all(fd, buf, len + pad) == -1)
                        return -1;
                if (hdr[1] == FCGI_STDOUT)
                        fwrite(buf, 1, len, stdout);
                else if (hdr[1] == FCGI_STDERR)
                        fwrite(buf, 1, len, stderr);
                else if (hdr[1] == FCGI_END_REQUEST && len >= 8)
                        return (int)((uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
                                     (uint32_t)buf[2] << 8 | buf[3]) &
                               0xff;
        }
}

int main(int argc, char **argv) {
        static const unsigned char begin[8] = {0, FCGI_RESPONDER, 0 /* close when done */};
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd, status;

        if (argc < 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "usage: fcgicall SOCKET NAME=VALUE... <body\n");
                return 2;
        }
        memcpy(sa.sun_path, argv[1], strlen(argv[1]) + 1);
        if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
            connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
                fprintf(stderr, "fcgicall: %s: %s\n", argv[1], strerror(errno));
                return 2;
        }
        /* A server may answer (e.g. refuse) before it reads the body: its answer counts,
         * not the write that found the connection closed. */
        signal(SIGPIPE, SIG_IGN);
        if (send_record(fd, FCGI_BEGIN_REQUEST, begin, sizeof(begin)) == 0 &&
            send_params(fd, argv + 2, argc - 2) == 0)
                send_stdin(fd);
        if ((status = read_answer(fd)) == -1) {
                fprintf(stderr, "fcgicall: %s: no whole answer\n", argv[1]);
                close(fd);
                return 2;
        }
        fflush(stdout);
        close(fd);
        return status;
}
