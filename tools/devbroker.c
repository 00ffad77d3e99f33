/* devbroker.c - the development Kafka broker: librdkafka's mock cluster on loopback.
 *
 * A real Kafka-protocol server for `make run` and the tests, kept in memory (about 5 MB
 * per partition, older messages are dropped): never a place to keep data.
 *
 *   devbroker [-p partitions] [-b brokers] [-r rtt-ms] [-f bootstrap-file]
 *             [-c control-fifo] [-t topic[:partitions]]...
 *
 * -r delays every broker answer by rtt-ms, for tests that need requests in flight.
 * -c creates a named pipe that takes one command per line, for tests of faults:
 *      produce-errors CODE COUNT   the next COUNT produce requests fail with Kafka error
 *                                  CODE (e.g. 87 INVALID_RECORD, 19 NOT_ENOUGH_REPLICAS)
 *      down N / up N               broker N stops / resumes answering; data is kept
 *      broker-produce-errors N CODE COUNT
 *                                  the same, for the next COUNT produce requests to
 *                                  broker N only (the other brokers answer as usual)
 *      leader TOPIC PARTITION N    broker N leads that partition from now on
 * SIGUSR1 takes every broker down, SIGUSR2 brings them all back (a Kafka outage for a
 * person trying `make run`: pkill -USR1 devbroker). A broker that is down closes its
 * connections and refuses new ones; its topics and messages are kept.
 *
 * Creates the service's topics (names from the same settings as the handlers) and any
 * -t topic, prints "bootstrap=<host:port,...>" on stdout (and into -f), and runs until
 * SIGTERM or SIGINT. */
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define MAX_EXTRA_TOPICS 32

static volatile sig_atomic_t run = 1;
static volatile sig_atomic_t outage = -1; /* SIGUSR1: 1 (all down), SIGUSR2: 0 (all up) */

/* Sets TCP_NODELAY on the mock brokers' listening sockets, which their connections inherit.
 * Kafka's brokers send without Nagle's delay; the mock cluster does not, so an answer
 * that follows another unacknowledged one waited for the client's delayed ACK (up to
 * 40 ms), a latency no real broker adds. */
static void nodelay_listeners(void) {
        for (int fd = 3; fd < 1024; fd++) {
                int v = 0, one = 1;
                socklen_t len = sizeof(v);
                if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v &&
                    getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &len) == 0 && v == IPPROTO_TCP)
                        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
}

static void stop(int sig) {
        (void)sig;
        run = 0;
}

static void set_outage(int sig) {
        outage = sig == SIGUSR1;
}

/* Carries out the last SIGUSR1 or SIGUSR2. */
static void apply_outage(rd_kafka_mock_cluster_t *mcluster, int brokers) {
        int down = outage;

        if (down == -1)
                return;
        outage = -1;
        for (int b = 1; b <= brokers; b++) {
                if (down)
                        rd_kafka_mock_broker_set_down(mcluster, b);
                else
                        rd_kafka_mock_broker_set_up(mcluster, b);
        }
        fprintf(stderr, "devbroker: all %d broker(s) %s\n", brokers, down ? "down" : "up");
}

static int create_topic(rd_kafka_mock_cluster_t *mcluster, const char *topic_arg,
                        int default_partitions) {
        char name[256];
        const char *colon = strrchr(topic_arg, ':');
        int partitions = default_partitions;
        rd_kafka_resp_err_t err;

        snprintf(name, sizeof(name), "%.*s",
                 (int)(colon ? (size_t)(colon - topic_arg) : strlen(topic_arg)), topic_arg);
        if (colon && (partitions = atoi(colon + 1)) < 1) {
                fprintf(stderr, "devbroker: bad partition count in %s\n", topic_arg);
                return -1;
        }
        err = rd_kafka_mock_topic_create(mcluster, name, partitions, 1);
        if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS && !colon)
                return 0; /* a -t of the same name came first: its partition count stands */
        if (err) {
                fprintf(stderr, "devbroker: topic %s: %s\n", name, rd_kafka_err2str(err));
                return -1;
        }
        return 0;
}

/* Carries out one line of the control pipe. */
static void control(rd_kafka_mock_cluster_t *mcluster, const char *line) {
        int code, count, broker, partition;
        rd_kafka_resp_err_t errs[64];
        char topic[200];

        if (sscanf(line, "produce-errors %d %d", &code, &count) == 2 && count > 0 && count <= 64) {
                for (int i = 0; i < count; i++)
                        errs[i] = (rd_kafka_resp_err_t)code;
                rd_kafka_mock_push_request_errors_array(mcluster, 0 /* Produce */, (size_t)count,
                                                        errs);
        } else if (sscanf(line, "broker-produce-errors %d %d %d", &broker, &code, &count) == 3 &&
                   count > 0 && count <= 64) {
                for (int i = 0; i < count; i++)
                        rd_kafka_mock_broker_push_request_error_rtts(
                            mcluster, broker, 0 /* Produce */, 1, (rd_kafka_resp_err_t)code, 0);
        } else if (sscanf(line, "leader %199s %d %d", topic, &partition, &broker) == 3) {
                rd_kafka_mock_partition_set_leader(mcluster, topic, partition, broker);
        } else if (sscanf(line, "down %d", &broker) == 1) {
                rd_kafka_mock_broker_set_down(mcluster, broker);
        } else if (sscanf(line, "up %d", &broker) == 1) {
                rd_kafka_mock_broker_set_up(mcluster, broker);
        } else {
                fprintf(stderr, "devbroker: unknown control command: %s", line);
                return;
        }
        fprintf(stderr, "devbroker: %s", line);
}

/* Creates the control pipe; returns its fd, or -1. Opened read-write, the pipe never
 * reports end of file between writers. */
static int open_control(const char *path) {
        int fd;

        unlink(path);
        if (mkfifo(path, 0600) == -1 || (fd = open(path, O_RDWR | O_NONBLOCK)) == -1) {
                fprintf(stderr, "devbroker: %s: %s\n", path, strerror(errno));
                return -1;
        }
        return fd;
}

/* Reads what the pipe holds and carries out each whole line. */
static void read_control(rd_kafka_mock_cluster_t *mcluster, int fd, char *buf, size_t size,
                         size_t *len) {
        ssize_t n = read(fd, buf + *len, size - 1 - *len);
        char *nl;

        if (n <= 0)
                return;
        *len += (size_t)n;
        buf[*len] = '\0';
        while ((nl = strchr(buf, '\n'))) {
                char c = nl[1];
                nl[1] = '\0';
                control(mcluster, buf);
                nl[1] = c;
                *len -= (size_t)(nl + 1 - buf);
                memmove(buf, nl + 1, *len + 1);
        }
        if (*len == size - 1)
                *len = 0; /* a line that long is no command */
}

int main(int argc, char **argv) {
        const char *extra[MAX_EXTRA_TOPICS], *bootstrap_file = NULL, *control_fifo = NULL;
        int extra_cnt = 0, partitions = 4, brokers = 1, rtt_ms = 0, opt, ret = 1;
        char errstr[512];
        svc_config_t cfg;
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk = NULL;
        rd_kafka_mock_cluster_t *mcluster = NULL;
        const char *bootstraps;
        struct sigaction sa = {.sa_handler = stop}, sa_outage = {.sa_handler = set_outage};
        sigset_t block, orig;
        char buf[256];
        size_t len = 0;
        int fd = -1;

        while ((opt = getopt(argc, argv, "p:b:r:f:c:t:")) != -1) {
                switch (opt) {
                case 'p': partitions = atoi(optarg); break;
                case 'b': brokers = atoi(optarg); break;
                case 'r': rtt_ms = atoi(optarg); break;
                case 'f': bootstrap_file = optarg; break;
                case 'c': control_fifo = optarg; break;
                case 't':
                        if (extra_cnt == MAX_EXTRA_TOPICS) {
                                fprintf(stderr, "devbroker: too many -t\n");
                                return 1;
                        }
                        extra[extra_cnt++] = optarg;
                        break;
                default:
                        fprintf(stderr,
                                "usage: %s [-p partitions] [-b brokers] "
                                "[-r rtt-ms] [-f bootstrap-file] [-c control-fifo] "
                                "[-t topic[:partitions]]...\n",
                                argv[0]);
                        return 1;
                }
        }
        if (partitions < 1 || brokers < 1) {
                fprintf(stderr, "devbroker: -p and -b must be at least 1\n");
                return 1;
        }
        if (svc_config_load(&cfg, errstr, sizeof(errstr)) == -1) {
                fprintf(stderr, "devbroker: %s\n", errstr);
                return 1;
        }

        /* The mock cluster lives inside a client instance that only hosts it. */
        conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
        if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr)))) {
                fprintf(stderr, "devbroker: %s\n", errstr);
                rd_kafka_conf_destroy(conf);
                goto out;
        }
        conf = NULL; /* now owned by rk */
        if (!(mcluster = rd_kafka_mock_cluster_new(rk, brokers))) {
                fprintf(stderr, "devbroker: cannot create the mock cluster\n");
                goto out;
        }
        /* The -t topics first: one may be a service topic with a partition count of its own. */
        for (int i = 0; i < extra_cnt; i++)
                if (create_topic(mcluster, extra[i], partitions) == -1)
                        goto out;
        /* The consumer's changelog has the raw topic's partitions; the mock cluster cannot
         * create topics on request (CreateTopics). */
        const char *dedupe = svc_config_get(&cfg, "COLLECT_DEDUPE_TOPIC");
        const char *topics[] = {
            cfg.collect_raw_topic, cfg.collect_out_topic,
            cfg.collect_dlq_topic, cfg.conversion_topic,
            cfg.click_topic,       dedupe && *dedupe ? dedupe : "collect-dedupe"};
        for (size_t i = 0; i < sizeof(topics) / sizeof(*topics); i++)
                if (create_topic(mcluster, topics[i], partitions) == -1)
                        goto out;

        nodelay_listeners();
        for (int b = 1; rtt_ms > 0 && b <= brokers; b++)
                rd_kafka_mock_broker_set_rtt(mcluster, b, rtt_ms);

        bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
        if (bootstrap_file) {
                FILE *fp = fopen(bootstrap_file, "w");
                if (!fp || fprintf(fp, "%s\n", bootstraps) < 0 || fclose(fp) != 0) {
                        perror(bootstrap_file);
                        goto out;
                }
        }
        printf("bootstrap=%s\n", bootstraps);
        fflush(stdout);

        /* The signals are let in only inside ppoll(), so none is missed between a check
         * and the wait. */
        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGUSR1);
        sigaddset(&block, SIGUSR2);
        sigprocmask(SIG_BLOCK, &block, &orig);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGUSR1, &sa_outage, NULL);
        sigaction(SIGUSR2, &sa_outage, NULL);
        if (control_fifo)
                fd = open_control(control_fifo);
        while (run) {
                struct pollfd pfd = {.fd = fd, .events = POLLIN};
                apply_outage(mcluster, brokers);
                if (ppoll(&pfd, fd == -1 ? 0 : 1, NULL, &orig) > 0)
                        read_control(mcluster, fd, buf, sizeof(buf), &len);
        }
        if (fd != -1) {
                close(fd);
                unlink(control_fifo);
        }
        ret = 0;
out:
        if (mcluster)
                rd_kafka_mock_cluster_destroy(mcluster);
        if (rk)
                rd_kafka_destroy(rk);
        svc_config_close(&cfg);
        return ret;
}
