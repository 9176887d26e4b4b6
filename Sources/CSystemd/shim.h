// The one door to libsystemd (Debian: libsystemd-dev). sd_notifyf and sd_journal_send are
// variadic, which Swift cannot call: Swift code uses sd_notify and sd_journal_sendv.
#ifndef APERTURE_CSYSTEMD_SHIM_H
#define APERTURE_CSYSTEMD_SHIM_H
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#endif
