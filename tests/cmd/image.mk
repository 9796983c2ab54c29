# skiff image load's archive reader (cmd/skiff_image.c), alone.
TESTS += test_image
test_image_SRCS := tests/cmd/test_image.c cmd/skiff_image.c
test_image_PKGS := jansson libcurl openssl zlib

FUZZERS += fuzz_image_archive
fuzz_image_archive_SRCS := tests/cmd/fuzz_image_archive.c cmd/skiff_image.c
fuzz_image_archive_PKGS := jansson libcurl openssl zlib
