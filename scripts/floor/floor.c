/*
 * floor.c: the syscall floor of spinup's container setup, in plain C.
 *
 * Makes the same syscalls, in the same order and process shape, as `spinup run` does
 * (runc's shape: fork; one unshare; clone(CLONE_PARENT) of PID 1; / rslave, rootfs parent
 * walk, rootfs self-bind; overlay; openat2-resolved binds through /proc/self/fd; proc (and
 * with "full": sysfs, a /dev tmpfs with bound devices and symlinks, devpts);
 * pivot_root(".", "."), old root rslave and detached; sethostname; exit and reap; rmdir of
 * upper and work) with no instrumentation but one CLOCK_MONOTONIC read per phase boundary.
 * scripts/floor.sh compiles it and compares its total to spinup's on the same machine.
 *
 * usage: floor ITERATIONS LAYERS min|full
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { FORK, UNSHARE, FORK_PID1, PROPAGATION, OVERLAY, INJECT, MOUNTS, JAIL, POST_JAIL, EXIT_REAP, TEARDOWN, NPH };
static const char *names[NPH] = {"fork", "unshare", "fork_pid1", "propagation", "overlay", "inject",
                                 "mounts", "jail", "post_jail", "exit_reap", "teardown"};

struct rec {
    uint64_t end[NPH];
    int pid1;
    int failed_line;
    int failed_errno;
};

static struct rec *R;
static char root_dir[256], rootfs[300], upper[300], work[300], workwork[300], data[8192];
static char ancestors[16][300];
static int nanc;
static int full;

static uint64_t now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

#define CHECK(x) do { if ((x) < 0) { R->failed_line = __LINE__; R->failed_errno = errno; _exit(1); } } while (0)

static int open_in(int root, const char *path, int flags, unsigned long long resolve) {
    struct open_how how = {.flags = (unsigned long long)(flags | O_CLOEXEC), .resolve = resolve};
    return syscall(SYS_openat2, root, path, &how, sizeof how);
}

static void fdpath(char *buf, int fd) { sprintf(buf, "/proc/self/fd/%d", fd); }

static void kmount(int dir, const char *rel, const char *src, const char *type, unsigned long flags, const char *d) {
    char p[64];
    int fd = open_in(dir, rel, O_PATH | O_DIRECTORY | O_NOFOLLOW, RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS);
    if (fd < 0 && errno == ENOENT) {
        CHECK(mkdirat(dir, rel, 0755));
        fd = open_in(dir, rel, O_PATH | O_DIRECTORY | O_NOFOLLOW, RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS);
    }
    CHECK(fd);
    fdpath(p, fd);
    CHECK(mount(src, p, type, flags, d));
    close(fd);
}

static void pid1(void) {
    char p[64];
    static const char *binds[3][2] = {{"hosts", "etc/hosts"}, {"hostname", "etc/hostname"}, {"resolv.conf", "etc/resolv.conf"}};
    R->end[FORK_PID1] = now();
    CHECK(mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL));
    for (int i = 0; i < nanc; i++) {
        if (mount(NULL, ancestors[i], NULL, MS_SLAVE, NULL) == 0) break;
        if (errno != EINVAL) CHECK(-1);
    }
    CHECK(mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL));
    R->end[PROPAGATION] = now();
    CHECK(mount("overlay", rootfs, "overlay", 0, data));
    int root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    CHECK(root);
    R->end[OVERLAY] = now();
    for (int i = 0; i < 3; i++) {
        char src[400];
        snprintf(src, sizeof src, "%s/etc/%s", root_dir, binds[i][0]);
        int fd = open_in(root, binds[i][1], O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
        CHECK(fd);
        fdpath(p, fd);
        CHECK(mount(src, p, NULL, MS_BIND | MS_REC, NULL));
        close(fd);
    }
    R->end[INJECT] = now();
    kmount(root, "proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    if (full) {
        static const char *devs[] = {"null", "zero", "full", "random", "urandom", "tty"};
        static const char *links[][2] = {{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
                                         {"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"}};
        kmount(root, "sys", "sysfs", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL);
        kmount(root, "dev", "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
        int dev = open_in(root, "dev", O_PATH | O_DIRECTORY | O_NOFOLLOW, RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS);
        CHECK(dev);
        for (unsigned i = 0; i < sizeof devs / sizeof *devs; i++) {
            char host[64];
            int f = openat(dev, devs[i], O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0666);
            CHECK(f);
            fdpath(p, f);
            snprintf(host, sizeof host, "/dev/%s", devs[i]);
            CHECK(mount(host, p, NULL, MS_BIND, NULL));
            close(f);
        }
        for (unsigned i = 0; i < sizeof links / sizeof *links; i++) CHECK(symlinkat(links[i][0], dev, links[i][1]));
        kmount(dev, "pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5");
        close(dev);
    }
    R->end[MOUNTS] = now();
    int old = open("/", O_DIRECTORY | O_RDONLY | O_PATH | O_CLOEXEC);
    CHECK(old);
    CHECK(fchdir(root));
    CHECK(syscall(SYS_pivot_root, ".", "."));
    CHECK(fchdir(old));
    CHECK(mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL));
    CHECK(umount2(".", MNT_DETACH));
    CHECK(chdir("/"));
    close(old);
    R->end[JAIL] = now();
    CHECK(sethostname("spinup", 6));
    R->end[POST_JAIL] = now();
    _exit(0);
}

static int cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void mkfile(const char *dir, const char *name, const char *content) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (!f || fputs(content, f) < 0 || fclose(f)) { perror(p); exit(2); }
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: floor ITERATIONS LAYERS min|full\n"); return 2; }
    int iters = atoi(argv[1]), layers = atoi(argv[2]);
    full = strcmp(argv[3], "full") == 0;
    if (iters < 1 || layers < 1 || layers > 64) { fprintf(stderr, "floor: bad arguments\n"); return 2; }
    snprintf(root_dir, sizeof root_dir, "%s/floor-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root_dir)) { perror("mkdtemp"); return 2; }
    char p[512];
    snprintf(p, sizeof p, "%s/etc", root_dir); mkdir(p, 0755);
    mkfile(p, "hosts", "127.0.0.1\tlocalhost\n");
    mkfile(p, "hostname", "spinup\n");
    mkfile(p, "resolv.conf", "nameserver 10.0.2.3\n");
    snprintf(p, sizeof p, "%s/layers", root_dir); mkdir(p, 0755);
    int n = snprintf(data, sizeof data, "lowerdir=");
    for (int i = layers - 1; i >= 0; i--) {
        char l[400];
        snprintf(l, sizeof l, "%s/layers/%04d", root_dir, i);
        mkdir(l, 0755);
        if (i == 0) {
            const char *dirs[] = {"etc", "proc", "sys", "dev"};
            for (int d = 0; d < 4; d++) { snprintf(p, sizeof p, "%s/%s", l, dirs[d]); mkdir(p, 0755); }
            snprintf(p, sizeof p, "%s/etc", l);
            mkfile(p, "hosts", ""); mkfile(p, "hostname", ""); mkfile(p, "resolv.conf", "");
        }
        n += snprintf(data + n, sizeof data - n, "%s%s", i == layers - 1 ? "" : ":", l);
    }
    snprintf(rootfs, sizeof rootfs, "%s/rootfs", root_dir); mkdir(rootfs, 0755);
    snprintf(upper, sizeof upper, "%s/upper", root_dir);
    snprintf(work, sizeof work, "%s/work", root_dir);
    snprintf(workwork, sizeof workwork, "%s/work/work", root_dir);
    snprintf(data + n, sizeof data - n, ",upperdir=%s,workdir=%s", upper, work);
    /* Ancestors of the rootfs, nearest first. */
    char a[300];
    strcpy(a, rootfs);
    for (char *s; (s = strrchr(a, '/')) != NULL && nanc < 16;) {
        *s = 0;
        strcpy(ancestors[nanc++], *a ? a : "/");
        if (!*a) break;
    }
    R = mmap(NULL, sizeof *R, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    uint64_t *t = calloc((size_t)iters * (NPH + 1), sizeof *t);
    for (int it = 0; it < iters; it++) {
        memset(R, 0, sizeof *R);
        if (mkdir(upper, 0755) || mkdir(work, 0755)) { perror("mkdir"); return 2; }
        uint64_t t0 = now();
        pid_t a_pid = fork();
        if (a_pid == 0) {
            R->end[FORK] = now();
            CHECK(unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID));
            R->end[UNSHARE] = now();
            long b = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
            CHECK(b);
            if (b == 0) pid1();
            R->pid1 = (int)b;
            _exit(0);
        }
        int st;
        waitpid(a_pid, &st, 0);
        if (R->pid1) waitpid(R->pid1, &st, __WALL);
        uint64_t reaped = now();
        if (!WIFEXITED(st) || WEXITSTATUS(st) || R->failed_line) {
            fprintf(stderr, "floor: setup failed at line %d: %s\n", R->failed_line, strerror(R->failed_errno));
            return 1;
        }
        rmdir(upper); rmdir(workwork); rmdir(work);
        uint64_t done = now();
        uint64_t *row = t + (size_t)it * (NPH + 1), prev = t0;
        for (int ph = 0; ph <= POST_JAIL; ph++) { row[ph] = R->end[ph] - prev; prev = R->end[ph]; }
        row[EXIT_REAP] = reaped - R->end[POST_JAIL];
        row[TEARDOWN] = done - reaped;
        row[NPH] = done - t0;
    }
    printf("%-12s %10s\n", "phase", "p50");
    uint64_t *col = calloc(iters, sizeof *col), sum = 0;
    for (int ph = 0; ph <= NPH; ph++) {
        for (int it = 0; it < iters; it++) col[it] = t[(size_t)it * (NPH + 1) + ph];
        qsort(col, iters, sizeof *col, cmp);
        uint64_t p50 = col[iters / 2];
        if (ph < NPH) sum += p50;
        printf("%-12s %8.1f us\n", ph < NPH ? names[ph] : "total", p50 / 1e3);
    }
    printf("%-12s %8.1f us\n", "sum of p50s", sum / 1e3);
    snprintf(p, sizeof p, "rm -rf '%s'", root_dir);
    return system(p) == 0 ? 0 : 2;
}
