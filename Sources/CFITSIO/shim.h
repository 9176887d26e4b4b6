// The one door to cfitsio (Debian: libcfitsio-dev). cfitsio's long names (fits_create_file...)
// are macros over the short ones (ffinit...); Swift code calls the short names, so no shim
// functions are needed yet.
#ifndef APERTURE_CFITSIO_SHIM_H
#define APERTURE_CFITSIO_SHIM_H
#include <fitsio.h>
#endif
