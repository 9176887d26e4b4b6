// SwiftPM builds a C target only when it has a source file; everything CFrameRing offers is
// `static inline` in include/CFrameRing.h. Compiling the header here also checks it in C.
#include "CFrameRing.h"
