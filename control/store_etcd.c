/* The etcd v3 backend. Not built yet: store_open("etcd://...") reports
 * that the protocol is not supported, rather than pretending. */
#include "control/store_backend.h"

#include <errno.h>

int store_etcd_open(const char *endpoints, struct store **out)
{
	(void)endpoints;
	(void)out;
	return -EPROTONOSUPPORT;
}
