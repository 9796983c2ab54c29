#include "tests/harness/test.h"
#include "lib/log.h"
#include "lib/util.h"

#include <fcntl.h>

TEST(strscpy_refuses_overflow)
{
	char buf[4];

	CHECK_INT_EQ(strscpy(buf, "abc", sizeof(buf)), 0);
	CHECK_STR_EQ(buf, "abc");
	CHECK_INT_EQ(strscpy(buf, "abcd", sizeof(buf)), -ENAMETOOLONG);
}

TEST(read_all_reads_whole_file_and_enforces_limit)
{
	char path[512], *data = NULL;
	size_t len;
	int fd;

	snprintf(path, sizeof(path), "%s/f", test_tmpdir());
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	for (int i = 0; i < 3000; i++)
		CHECK_OK(write_all(fd, "0123456789", 10));
	close(fd);

	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK_OK(read_all(fd, 1 << 20, &data, &len));
	close(fd);
	CHECK_INT_EQ(len, 30000);
	CHECK_INT_EQ(data[29999], '9');
	CHECK_INT_EQ(data[30000], '\0');
	free(data);

	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK_INT_EQ(read_all(fd, 1000, &data, &len), -EFBIG);
	close(fd);
}

TEST(log_line_names_program_and_level)
{
	char path[512], *data = NULL;
	int fd;

	snprintf(path, sizeof(path), "%s/log", test_tmpdir());
	fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	log_init("/usr/bin/skiff-x", LOG_LEVEL_INFO);
	log_set_fd(fd);
	log_info("pod %s: ready", "default/a");
	log_debug("not shown");
	lseek(fd, 0, SEEK_SET);
	CHECK_OK(read_all(fd, 4096, &data, NULL));
	CHECK_STR_CONTAINS(data, "skiff-x info: pod default/a: ready\n");
	CHECK(strstr(data, "not shown") == NULL);
	free(data);
	close(fd);
}

TEST(log_level_parse_rejects_unknown)
{
	enum log_level l;

	CHECK_OK(log_level_parse("debug", &l));
	CHECK_INT_EQ(l, LOG_LEVEL_DEBUG);
	CHECK_INT_EQ(log_level_parse("loud", &l), -EINVAL);
}
