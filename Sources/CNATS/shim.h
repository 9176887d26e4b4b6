// The NATS C client (Debian's libnats-dev), used only through the FacilityBus module.
#include <nats/nats.h>
