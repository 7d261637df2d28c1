/*
 * uring_ceiling — the benchmark's ceiling: the smallest io_uring HTTP loop that
 * answers every request on a keep-alive connection with the same fixed bytes,
 * without parsing, routing or lookup. It only counts request ends ("\r\n\r\n"),
 * so it is meant for GET load (a POST body could contain that sequence). What it
 * reaches on this machine is the most any responder built on the same syscalls
 * could reach; bench/run.sh prints revokd's throughput as a fraction of it.
 *
 *   uring_ceiling --port 8090 --body resp.der [--cpu 0]
 *                 [--records N [--stride B] [--huge]]
 *
 * With --records N > 1 it is the floor of a store's size instead: the same bytes
 * sit in N records B bytes apart (default: the response rounded up to 64 bytes;
 * the responder's store holds ~1000 bytes per certificate) in one anonymous map,
 * and each answer is copied from a record picked at random (splitmix64, one
 * multiply-shift to the range), so the answers of a run walk a working set of
 * N x B bytes the way a responder's lookups across N certificates do, with no
 * parsing, no lookup and no dependent loads before the copy. The map is on 4 KiB
 * pages (MADV_NOHUGEPAGE), as the responder's store map is; --huge asks for 2 MiB
 * pages (MADV_HUGEPAGE) instead. bench/ceiling_scale.sh compares sizes.
 *
 * user_data packs op | generation | slot, so a completion for a connection that
 * was closed and whose slot was reused is recognised as stale and dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <liburing.h>

#define CEIL_SLOTS    4096
#define CEIL_RECV_BUF 16384
#define CEIL_SEND_BUF (256 * 1024)
#define CEIL_QUEUE    4096

enum ceil_op { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3 };

struct ceil_conn {
    int fd;
    uint32_t gen;
    unsigned tail; /* bytes of "\r\n\r\n" matched at the end of the last read */
    uint64_t owed; /* requests read but not yet answered */
    size_t out_len, out_off;
    uint8_t in[CEIL_RECV_BUF];
    uint8_t *out;
};

static struct io_uring ring;
static struct ceil_conn *conns;
static int free_slots[CEIL_SLOTS], n_free;
static uint8_t *resp;
static size_t resp_len;
static uint8_t *records; /* --records > 1: n_records copies of resp, stride bytes apart */
static uint64_t n_records = 1, stride, rng = 0x9e3779b97f4a7c15u;
static volatile sig_atomic_t stop;

static uint64_t ud_pack(enum ceil_op op, uint32_t gen, uint32_t slot)
{
    return (uint64_t)op << 56 | (uint64_t)(gen & 0xffffff) << 32 | slot;
}

static struct io_uring_sqe *ceil_sqe(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (!sqe) {
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
}

static void ceil_arm_accept(int lfd)
{
    struct io_uring_sqe *sqe = ceil_sqe();
    io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, 0);
    io_uring_sqe_set_data64(sqe, ud_pack(OP_ACCEPT, 0, 0));
}

static void ceil_arm_recv(uint32_t slot)
{
    struct ceil_conn *c = &conns[slot];
    struct io_uring_sqe *sqe = ceil_sqe();
    io_uring_prep_recv(sqe, c->fd, c->in, sizeof(c->in), 0);
    io_uring_sqe_set_data64(sqe, ud_pack(OP_RECV, c->gen, slot));
}

static void ceil_arm_send(uint32_t slot)
{
    struct ceil_conn *c = &conns[slot];
    struct io_uring_sqe *sqe = ceil_sqe();
    io_uring_prep_send(sqe, c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, ud_pack(OP_SEND, c->gen, slot));
}

static void ceil_close(uint32_t slot)
{
    struct ceil_conn *c = &conns[slot];
    close(c->fd);
    c->fd = -1;
    c->gen++;
    free_slots[n_free++] = (int)slot;
}

/* The bytes of the next answer: resp, or a random record of the --records map. */
static const uint8_t *ceil_pick(void)
{
    if (n_records == 1)
        return resp;
    uint64_t z = (rng += 0x9e3779b97f4a7c15u); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    return records + ((z >> 32) * n_records >> 32) * stride;
}

/* Fills the out buffer with as many owed responses as fit, then sends; else reads. */
static void ceil_next(uint32_t slot)
{
    struct ceil_conn *c = &conns[slot];
    if (c->owed == 0) {
        ceil_arm_recv(slot);
        return;
    }
    c->out_len = c->out_off = 0;
    while (c->owed && c->out_len + resp_len <= CEIL_SEND_BUF) {
        memcpy(c->out + c->out_len, ceil_pick(), resp_len);
        c->out_len += resp_len;
        c->owed--;
    }
    ceil_arm_send(slot);
}

/* Counts request ends in a byte stream, carrying partial matches across reads. */
static void ceil_count(struct ceil_conn *c, const uint8_t *p, size_t n)
{
    static const uint8_t pat[4] = {'\r', '\n', '\r', '\n'};
    unsigned m = c->tail;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == pat[m]) {
            if (++m == 4) {
                c->owed++;
                m = 0;
            }
        } else {
            m = p[i] == '\r' ? 1 : 0;
        }
    }
    c->tail = m;
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    int port = 8090, cpu = -1, huge = 0, opt;
    const char *body = NULL;
    static const struct option opts[] = {{"port", required_argument, NULL, 'p'},
                                         {"body", required_argument, NULL, 'b'},
                                         {"cpu", required_argument, NULL, 'c'},
                                         {"records", required_argument, NULL, 'n'},
                                         {"stride", required_argument, NULL, 's'},
                                         {"huge", no_argument, NULL, 'H'},
                                         {NULL, 0, NULL, 0}};
    while ((opt = getopt_long(argc, argv, "p:b:c:n:s:H", opts, NULL)) != -1) {
        if (opt == 'p')
            port = atoi(optarg);
        else if (opt == 'b')
            body = optarg;
        else if (opt == 'c')
            cpu = atoi(optarg);
        else if (opt == 'n')
            n_records = strtoull(optarg, NULL, 10);
        else if (opt == 's')
            stride = strtoull(optarg, NULL, 10);
        else if (opt == 'H')
            huge = 1;
        else
            return 2;
    }
    if (!body || n_records < 1 || n_records > UINT32_MAX) {
        fprintf(stderr, "usage: uring_ceiling --port P --body FILE [--cpu N] "
                        "[--records N [--stride B] [--huge]]\n");
        return 2;
    }
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof(set), &set);
    }
    int bfd = open(body, O_RDONLY);
    struct stat st;
    if (bfd < 0 || fstat(bfd, &st) < 0 || st.st_size <= 0 || st.st_size > 65536) {
        fprintf(stderr, "uring_ceiling: cannot use body %s\n", body);
        return 1;
    }
    char hdr[256];
    int hl = snprintf(hdr, sizeof(hdr),
                      "HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\n"
                      "Content-Length: %lld\r\n\r\n",
                      (long long)st.st_size);
    resp_len = (size_t)hl + (size_t)st.st_size;
    resp = malloc(resp_len);
    memcpy(resp, hdr, (size_t)hl);
    if (read(bfd, resp + hl, (size_t)st.st_size) != st.st_size)
        return 1;
    close(bfd);
    if (n_records > 1) {
        if (stride == 0)
            stride = (resp_len + 63) & ~(uint64_t)63;
        if (stride < resp_len) {
            fprintf(stderr, "uring_ceiling: --stride %llu < the %zu-byte response\n",
                    (unsigned long long)stride, resp_len);
            return 2;
        }
        /* The advice first, then the pages: a MAP_POPULATE map would be faulted in
         * before the advice could choose their size. Filling every record touches
         * every page. */
        size_t len = (size_t)(n_records * stride);
        records = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (records == MAP_FAILED ||
            madvise(records, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) < 0) {
            perror("uring_ceiling: records map");
            return 1;
        }
        for (uint64_t i = 0; i < n_records; i++)
            memcpy(records + i * stride, resp, resp_len);
        unsigned long long thp = 0, kb;
        char line[256];
        FILE *sm = fopen("/proc/self/smaps_rollup", "r");
        while (sm && fgets(line, sizeof(line), sm))
            if (sscanf(line, "AnonHugePages: %llu kB", &kb) == 1)
                thp = kb;
        if (sm)
            fclose(sm);
        fprintf(stderr,
                "uring_ceiling: %llu records %llu bytes apart (%zu MB), %llu MB of it on 2 MiB "
                "pages\n",
                (unsigned long long)n_records, (unsigned long long)stride, len >> 20, thp >> 10);
    }

    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0) {
        perror("uring_ceiling: bind/listen");
        return 1;
    }
    conns = calloc(CEIL_SLOTS, sizeof(*conns));
    for (int i = CEIL_SLOTS - 1; i >= 0; i--) {
        conns[i].fd = -1;
        conns[i].out = malloc(CEIL_SEND_BUF);
        free_slots[n_free++] = i;
    }
    /* One thread submits and reaps: let the kernel run completion work only when
     * we wait (DEFER_TASKRUN) instead of interrupting us for it; fall back on
     * kernels before 6.1. */
    struct io_uring_params params = {.flags =
                                         IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
    if (io_uring_queue_init_params(CEIL_QUEUE, &ring, &params) < 0 &&
        io_uring_queue_init(CEIL_QUEUE, &ring, 0) < 0) {
        fprintf(stderr, "uring_ceiling: io_uring unavailable\n");
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    ceil_arm_accept(lfd);
    fprintf(stderr, "uring_ceiling: 127.0.0.1:%d, %zu-byte responses\n", port, resp_len);

    while (!stop) {
        struct io_uring_cqe *cqe;
        io_uring_submit_and_wait(&ring, 1);
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            seen++;
            uint64_t ud = io_uring_cqe_get_data64(cqe);
            enum ceil_op op = (enum ceil_op)(ud >> 56);
            uint32_t gen = (uint32_t)(ud >> 32) & 0xffffff, slot = (uint32_t)ud;
            int res = cqe->res;
            if (op == OP_ACCEPT) {
                if (!(cqe->flags & IORING_CQE_F_MORE))
                    ceil_arm_accept(lfd); /* multishot ended: re-arm */
                if (res < 0)
                    continue;
                if (n_free == 0) {
                    close(res);
                    continue;
                }
                uint32_t s = (uint32_t)free_slots[--n_free];
                setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                conns[s].fd = res;
                conns[s].tail = 0;
                conns[s].owed = 0;
                ceil_arm_recv(s);
                continue;
            }
            if (slot >= CEIL_SLOTS)
                continue;
            struct ceil_conn *c = &conns[slot];
            if (c->fd < 0 || (c->gen & 0xffffff) != gen)
                continue; /* stale completion for a reused slot */
            if (res <= 0) {
                ceil_close(slot);
                continue;
            }
            if (op == OP_RECV) {
                ceil_count(c, c->in, (size_t)res);
                ceil_next(slot);
            } else {
                c->out_off += (size_t)res;
                if (c->out_off < c->out_len)
                    ceil_arm_send(slot); /* short send: finish it */
                else
                    ceil_next(slot);
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
    io_uring_queue_exit(&ring);
    return 0;
}
