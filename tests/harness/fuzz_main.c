/* Corpus replay main for fuzz harnesses, so every corpus runs in plain
 * `make test`. Built with `make fuzz`, the same harness links libFuzzer's
 * main instead. Usage: fuzz_x DIR|FILE...; prints one PASS line per harness
 * (a crash or sanitizer report fails it). */
#include <dirent.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	const char *prog = basename(argv[0]);
	int count = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		struct dirent *de;
		DIR *d;

		if (stat(argv[i], &st) < 0) {
			printf("FAIL %s/replay: %s: cannot stat\n", prog, argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			count += replay_file(argv[i]) == 0;
			continue;
		}
		d = opendir(argv[i]);
		while (d && (de = readdir(d))) {
			char path[4096];

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
			count += replay_file(path) == 0;
		}
		if (d)
			closedir(d);
	}
	if (count == 0) {
		printf("FAIL %s/replay: empty corpus\n", prog);
		return 1;
	}
	printf("PASS %s/replay (%d inputs)\n", prog, count);
	return 0;
}
