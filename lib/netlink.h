/* libnl's error codes as the errno the rest of skiff speaks.
 *
 *   r = nl_errno(rtnl_link_delete(sk, l));   // -ENODEV: no such link
 *
 * The kernel's errno survives where libnl keeps it apart: a missing link
 * (ENODEV) is -ENODEV, a missing route, neighbour or address (ENOENT,
 * ESRCH: NLE_OBJ_NOTFOUND) is -ENOENT. Codes with no errno are -EIO. */
#ifndef SKIFF_NETLINK_H
#define SKIFF_NETLINK_H

/* nle: a libnl return value (0, or -NLE_*; the sign is ignored).
 * Returns 0 or a negative errno. */
int nl_errno(int nle);

#endif
