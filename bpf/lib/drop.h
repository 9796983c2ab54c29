/* Why the datapath refused something: negative codes, counted in exactly
 * one place (lb_drop() in lib/maps.h, map lb_drops indexed by -reason). */
#ifndef SKIFF_BPF_LIB_DROP_H
#define SKIFF_BPF_LIB_DROP_H

enum lb_drop_reason {
	LB_DROP_NO_BACKEND = -1,     /* known frontend, zero backends */
	LB_DROP_UNKNOWN_PORT = -2,   /* known service address, unknown port */
	LB_DROP_SLOT_MISS = -3,      /* backend set changed under us twice */
	LB_DROP_BACKEND_FAMILY = -4, /* IPv6 backend for an IPv4 socket */
	LB_DROP_SNAT_PORTS = -5,     /* no free SNAT port for the tuple */
	LB_DROP_CT_FULL = -6,        /* conntrack entry could not be written */
	LB_DROP_MAX = 7,
};

#endif
