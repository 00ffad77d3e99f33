/* cgitime.c - latency of a CGI executable invoked directly, the serverless way.
 *
 *   cgitime [-n runs] [-w warm-up runs] [-i body-file] [-s status] [-o times-file]
 *           -- program [args...]
 *
 * Runs the program `runs` times, one after the other, with the current environment (the
 * caller sets REQUEST_METHOD, CONTENT_TYPE, CONTENT_LENGTH, ...), the body file on stdin
 * and its stdout on a pipe read to the end, as fcgiwrap or a function adapter would.
 * Each run is timed from fork to the end of its output and its exit, on the monotonic
 * clock. Prints "p50_ms p99_ms mean_ms" on stdout; with -o, also appends each run's
 * milliseconds to times-file, one per line (to merge interleaved series). Exits 1 when a run
 * failed: an exit status other than 0, or (with -s) a first line other than "Status: <status>...".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CGITIME_MAX_RUNS 100000
#define CGITIME_OUT_SIZE 65536

static double now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

/* Runs the program once; returns its elapsed time in ms, or -1 after saying why. */
static double run_once(char **argv, const char *body_file, const char *status) {
        static char out[CGITIME_OUT_SIZE];
        size_t out_len = 0;
        int pfd[2], wstatus;
        double start;
        pid_t pid;
        ssize_t r;

        if (pipe(pfd) == -1) {
                perror("cgitime: pipe");
                return -1;
        }
        start = now_ms();
        pid = fork();
        if (pid == -1) {
                perror("cgitime: fork");
                return -1;
        }
        if (pid == 0) {
                int in = open(body_file ? body_file : "/dev/null", O_RDONLY);
                if (in == -1 || dup2(in, 0) == -1 || dup2(pfd[1], 1) == -1)
                        _exit(126);
                close(pfd[0]);
                close(pfd[1]);
                close(in);
                execvp(argv[0], argv);
                _exit(127);
        }
        close(pfd[1]);
        while ((r = read(pfd[0], out + out_len, sizeof(out) - 1 - out_len)) != 0) {
                if (r == -1 && errno == EINTR)
                        continue;
                if (r == -1)
                        break;
                out_len += (size_t)r;
                if (out_len == sizeof(out) - 1) /* keep the start, drain the rest */
                        out_len = sizeof(out) / 2;
        }
        close(pfd[0]);
        out[out_len] = '\0';
        if (waitpid(pid, &wstatus, 0) == -1) {
                perror("cgitime: waitpid");
                return -1;
        }
        if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
                fprintf(stderr, "cgitime: %s exited with status %d\n", argv[0],
                        WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus));
                return -1;
        }
        if (status && (strncmp(out, "Status: ", 8) || strncmp(out + 8, status, strlen(status)))) {
                fprintf(stderr, "cgitime: unexpected answer: %.200s\n", out);
                return -1;
        }
        return now_ms() - start;
}

int main(int argc, char **argv) {
        const char *body_file = NULL, *status = NULL, *times_file = NULL;
        int runs = 100, warm = 3, opt;
        double *ms, sum = 0;

        while ((opt = getopt(argc, argv, "n:w:i:s:o:")) != -1) {
                switch (opt) {
                case 'n': runs = atoi(optarg); break;
                case 'w': warm = atoi(optarg); break;
                case 'i': body_file = optarg; break;
                case 's': status = optarg; break;
                case 'o': times_file = optarg; break;
                default: goto usage;
                }
        }
        if (optind >= argc || runs < 1 || runs > CGITIME_MAX_RUNS || warm < 0)
                goto usage;
        if (!(ms = calloc((size_t)runs, sizeof(*ms)))) {
                fprintf(stderr, "cgitime: out of memory\n");
                return 1;
        }
        for (int i = 0; i < warm; i++)
                if (run_once(argv + optind, body_file, status) < 0) {
                        free(ms);
                        return 1;
                }
        for (int i = 0; i < runs; i++) {
                if ((ms[i] = run_once(argv + optind, body_file, status)) < 0) {
                        free(ms);
                        return 1;
                }
                sum += ms[i];
        }
        if (times_file) {
                FILE *fp = fopen(times_file, "a");
                if (!fp) {
                        perror(times_file);
                        free(ms);
                        return 1;
                }
                for (int i = 0; i < runs; i++)
                        fprintf(fp, "%.3f\n", ms[i]);
                if (fclose(fp) != 0) {
                        perror(times_file);
                        free(ms);
                        return 1;
                }
        }
        qsort(ms, (size_t)runs, sizeof(*ms), cmp_double);
        /* nearest-rank percentiles */
        printf("%.2f %.2f %.2f\n", ms[(runs * 50 + 99) / 100 - 1], ms[(runs * 99 + 99) / 100 - 1],
               sum / runs);
        free(ms);
        return 0;
usage:
        fprintf(stderr, "usage: cgitime [-n runs] [-w warm-up] [-i body-file] [-s status] "
                        "[-o times-file] -- program [args...]\n");
        return 2;
}
