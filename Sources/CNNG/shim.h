// The one door to libnng (Debian: libnng-dev, 1.5.x). Swift imports the C module internally.
#ifndef APERTURE_CNNG_SHIM_H
#define APERTURE_CNNG_SHIM_H

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>

// NNG_SOCKET_INITIALIZER and friends are brace-initialiser macros, which Swift cannot import;
// these give an "unset" handle whose id is 0, as the macros do.
static inline nng_socket aperture_nng_socket_unset(void) {
    nng_socket s = NNG_SOCKET_INITIALIZER;
    return s;
}

// nng_sub0_socket_set is not in 1.5; subscription goes through the generic option setter with
// a byte string, which Swift can call directly. This wrapper exists so that the option name
// (a macro from sub.h) and the pointer/length pairing live in one place.
static inline int aperture_nng_subscribe(nng_socket s, const void *prefix, size_t length) {
    return nng_socket_set(s, NNG_OPT_SUB_SUBSCRIBE, prefix, length);
}

#endif
