/* replay.c - runs a fuzz harness over files and directories without libFuzzer, so the
 * committed corpus and crash reproducers replay under a plain ASan/UBSan build. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Runs one file through the harness; each input gets an exact-size heap copy so an
 * over-read of even one byte is an ASan error. Returns the number of files run. */
static long replay_file(const char *path) {
        FILE *fp = fopen(path, "rb");
        uint8_t *buf = NULL;
        long n;

        if (!fp) {
                perror(path);
                exit(2);
        }
        if (fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0) {
                perror(path);
                exit(2);
        }
        buf = malloc(n ? (size_t)n : 1);
        if (!buf || fread(buf, 1, (size_t)n, fp) != (size_t)n) {
                perror(path);
                exit(2);
        }
        fclose(fp);
        fprintf(stderr, "# %s (%ld bytes)\n", path, n);
        LLVMFuzzerTestOneInput(buf, (size_t)n);
        free(buf);
        return 1;
}

static long replay_path(const char *path) {
        struct stat st;
        struct dirent **names;
        long cnt = 0;
        int n;

        if (stat(path, &st) != 0) {
                perror(path);
                exit(2);
        }
        if (!S_ISDIR(st.st_mode))
                return replay_file(path);
        if ((n = scandir(path, &names, NULL, alphasort)) < 0) {
                perror(path);
                exit(2);
        }
        for (int i = 0; i < n; i++) {
                char sub[4096];
                if (names[i]->d_name[0] != '.') {
                        snprintf(sub, sizeof(sub), "%s/%s", path, names[i]->d_name);
                        cnt += replay_path(sub);
                }
                free(names[i]);
        }
        free(names);
        return cnt;
}

int main(int argc, char **argv) {
        long cnt = 0;

        if (LLVMFuzzerInitialize)
                LLVMFuzzerInitialize(&argc, &argv);
        for (int i = 1; i < argc; i++)
                cnt += replay_path(argv[i]);
        printf("replayed %ld inputs\n", cnt);
        return 0;
}
