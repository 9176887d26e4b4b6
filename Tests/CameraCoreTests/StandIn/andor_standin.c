/*
 * andor_standin.c: a stand-in for Andor's proprietary SDK2 library (libandor.so).
 *
 * Self-contained (no header, no other file): build it with
 *
 *     cc -shared -fPIC -O1 -o libandor.so andor_standin.c
 *
 * and load it where the real library would be loaded. It implements the SDK2 calls Aperture's
 * AndorSDK2Camera driver uses, with the signatures of Andor's atmcdLXd.h (all return an
 * unsigned int status; 20002 is DRV_SUCCESS), and simple, deterministic behaviour:
 *
 * - Every call but Initialize returns DRV_NOT_INITIALIZED (20075) before Initialize and after
 *   ShutDown. Initialize(dir) returns DRV_ERROR_FILELOAD (20006) unless `dir` is an existing
 *   directory (the real SDK loads its firmware files from there).
 * - Detector: 512 x 512 pixels (ANDOR_STANDIN_WIDTH / ANDOR_STANDIN_HEIGHT override it), pixels
 *   13.0 x 13.0 um, head model "DU934P-STANDIN", serial number 12345, horizontal readout speeds
 *   5.0, 3.0, 1.0 and 0.05 MHz (channel 0, amplifier type 0 or 1), pre-amp gains 1x, 2x, 4x,
 *   maximum binning 32 (capped at the detector size), maximum exposure 7200 s.
 * - Cooling: set-point range -100..20 C, initial set-point and sensor temperature 20 C. Each
 *   GetTemperatureF call moves the sensor 5 C towards the set-point when the cooler is on, towards
 *   +20 C when it is off, and returns DRV_TEMP_OFF (20034) with the cooler off,
 *   DRV_TEMP_NOT_REACHED (20037) away from the set-point, DRV_TEMP_NOT_STABILIZED (20035) for the
 *   first two readings at the set-point and DRV_TEMP_STABILIZED (20036) from the third.
 * - Acquisition: only image read mode (4) and single scan (1) can be started (others are accepted
 *   by SetReadMode/SetAcquisitionMode, then StartAcquisition returns DRV_NOT_SUPPORTED, 20991).
 *   StartAcquisition notes the time; GetStatus reports DRV_ACQUIRING (20072) until the exposure
 *   time has passed on the monotonic clock, then DRV_IDLE (20073); no readout time is simulated.
 *   The end of an acquisition raises one acquisition event, latched until a wait consumes it, as
 *   in the SDK: WaitForAcquisitionTimeOut(ms) returns DRV_SUCCESS at once if the event is
 *   pending, else sleeps until the acquisition ends (DRV_SUCCESS) or `ms` pass, or
 *   AbortAcquisition/ShutDown is called from another thread (DRV_NO_NEW_DATA, 20024).
 *   AbortAcquisition returns DRV_IDLE when nothing runs; an aborted acquisition has no data.
 *   Setters, CoolerON/OFF, SetTemperature and SetFanMode return DRV_ACQUIRING while an
 *   acquisition runs, StartAcquisition too; GetTemperatureF and IsCoolerOn work at any time.
 * - Pixels: GetAcquiredData16 returns DRV_ACQUIRING while acquiring, DRV_NO_NEW_DATA when no
 *   acquisition finished (none started, or aborted), DRV_P2INVALID unless `size` is exactly the
 *   number of binned pixels; otherwise it fills a ramp. For the binned output pixel (i, j)
 *   (0-based column and row, in the order the array is filled, row by row):
 *
 *       X = (hstart - 1) + i * hbin        Y = (vstart - 1) + j * vbin
 *       value = (X + Y * detector_width + frame) & 0xffff
 *
 *   where hbin, vbin, hstart, vstart are the SetImage arguments in force at StartAcquisition
 *   (1-based, as in the SDK) and `frame` is 0 for the first acquisition started after Initialize,
 *   1 for the second, and so on. A binned pixel holds the value of its first unbinned pixel (the
 *   stand-in does not sum). Rows come in SDK order: array row 0 is detector row vstart.
 * - Parameters are checked as the SDK documents, returning DRV_P1INVALID (20066) to DRV_P4INVALID
 *   (20069), DRV_P5INVALID (20076), DRV_P6INVALID (20077) for the first bad one; e.g.
 *   SetTemperature outside -100..20 returns DRV_P1INVALID, SetImage with vend beyond the
 *   detector returns DRV_P6INVALID, a width (height) that is not a multiple of hbin (vbin)
 *   returns DRV_P1INVALID (DRV_P2INVALID), binning above 32 DRV_P1INVALID / DRV_P2INVALID, and
 *   SetExposureTime below 0 or above 7200 s DRV_P1INVALID.
 *
 * Fault injection, read from the environment when the library is loaded:
 *
 *   ANDOR_STANDIN_HANG=<Function>        that call blocks for ever (pause() in a loop)
 *   ANDOR_STANDIN_CRASH=<Function>       that call kills the process with SIGSEGV (SIGABRT
 *                                        when SIGSEGV is blocked, ignored or handled)
 *   ANDOR_STANDIN_FAIL=<Function>:<code> that call returns <code> without doing anything, except
 *                                        GetTemperatureF, which still fills in the reading (so that
 *                                        e.g. 20040 DRV_TEMP_DRIFT can be injected)
 *   ANDOR_STANDIN_SLOW=<Function>:<ms>   that call first sleeps <ms> milliseconds (the real
 *                                        Initialize takes seconds)
 *   ANDOR_STANDIN_WIDTH=<n>, ANDOR_STANDIN_HEIGHT=<n>  detector size, used by Initialize
 *
 * Tests that load the library into their own process set the same keys without touching the
 * process environment through the one non-SDK export, andor_standin_configure(key, value), with
 * key "HANG", "CRASH", "FAIL", "SLOW", "WIDTH" or "HEIGHT" (an empty or NULL value clears it).
 * Each copy of the library file at its own path is a separate instance with its own state.
 *
 * Compile-time options, for testing a loader: -DOMIT_GETSTATUS leaves out GetStatus (a required
 * call); -DOMIT_OPTIONAL leaves out GetMaximumExposure and GetMaximumBinning (calls a driver may
 * use when present).
 */

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* Return codes, with the values of Andor's atmcdLXd.h. */
#define DRV_SUCCESS 20002
#define DRV_ERROR_FILELOAD 20006
#define DRV_NO_NEW_DATA 20024
#define DRV_TEMP_OFF 20034
#define DRV_TEMP_NOT_STABILIZED 20035
#define DRV_TEMP_STABILIZED 20036
#define DRV_TEMP_NOT_REACHED 20037
#define DRV_P1INVALID 20066
#define DRV_P2INVALID 20067
#define DRV_P3INVALID 20068
#define DRV_P4INVALID 20069
#define DRV_ACQUIRING 20072
#define DRV_IDLE 20073
#define DRV_NOT_INITIALIZED 20075
#define DRV_P5INVALID 20076
#define DRV_P6INVALID 20077
#define DRV_NOT_SUPPORTED 20991

#define DEFAULT_WIDTH 512
#define DEFAULT_HEIGHT 512
#define PIXEL_SIZE_UM 13.0f
#define MIN_SETPOINT (-100)
#define MAX_SETPOINT 20
#define AMBIENT_C 20.0f
#define TEMPERATURE_STEP_C 5.0f
#define STABLE_AFTER_READINGS 3
#define MAX_BINNING 32
#define MAX_EXPOSURE_S 7200.0f
#define READ_MODE_IMAGE 4
#define ACQUISITION_MODE_SINGLE 1

static const float hs_speeds_mhz[] = {5.0f, 3.0f, 1.0f, 0.05f};
static const float preamp_gains[] = {1.0f, 2.0f, 4.0f};
#define COUNT(array) ((int)(sizeof(array) / sizeof((array)[0])))

/* ---- Fault injection ---------------------------------------------------------------------- */

#define NAME_LENGTH 64

static pthread_mutex_t config_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char hang[NAME_LENGTH];
    char crash[NAME_LENGTH];
    char fail[NAME_LENGTH];
    unsigned int fail_code;
    char slow[NAME_LENGTH];
    unsigned int slow_ms;
    int width;
    int height;
} config = {"", "", "", 0, "", 0, DEFAULT_WIDTH, DEFAULT_HEIGHT};

static int parse_size(const char *value, int *out) {
    char *end = NULL;
    errno = 0;
    long number = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || number < 1 || number > 65536) return -1;
    *out = (int)number;
    return 0;
}

/*
 * Parses "<Function>:<number>" (number 1 to 2^32-1) into `name` and `*number`; -1 if malformed.
 */
static int parse_function_number(const char *value, char name[NAME_LENGTH], unsigned int *number) {
    const char *colon = strchr(value, ':');
    char *end = NULL;
    unsigned long parsed = colon ? strtoul(colon + 1, &end, 10) : 0;
    if (colon == NULL || colon == value || colon - value >= NAME_LENGTH || end == colon + 1 ||
        *end != '\0' || parsed == 0 || parsed > 0xffffffffUL) {
        return -1;
    }
    snprintf(name, NAME_LENGTH, "%.*s", (int)(colon - value), value);
    *number = (unsigned int)parsed;
    return 0;
}

/*
 * Sets one fault-injection or detector key (see the top of this file); the one call that is not
 * part of the SDK. Returns 0, or -1 for an unknown key or a malformed value.
 */
EXPORT int andor_standin_configure(const char *key, const char *value) {
    if (key == NULL) return -1;
    int empty = value == NULL || value[0] == '\0';
    int result = 0;
    pthread_mutex_lock(&config_lock);
    if (strcmp(key, "HANG") == 0) {
        snprintf(config.hang, NAME_LENGTH, "%s", empty ? "" : value);
    } else if (strcmp(key, "CRASH") == 0) {
        snprintf(config.crash, NAME_LENGTH, "%s", empty ? "" : value);
    } else if (strcmp(key, "FAIL") == 0) {
        if (empty) {
            config.fail[0] = '\0';
            config.fail_code = 0;
        } else {
            result = parse_function_number(value, config.fail, &config.fail_code);
        }
    } else if (strcmp(key, "SLOW") == 0) {
        if (empty) {
            config.slow[0] = '\0';
            config.slow_ms = 0;
        } else {
            result = parse_function_number(value, config.slow, &config.slow_ms);
        }
    } else if (strcmp(key, "WIDTH") == 0) {
        if (empty) config.width = DEFAULT_WIDTH;
        else result = parse_size(value, &config.width);
    } else if (strcmp(key, "HEIGHT") == 0) {
        if (empty) config.height = DEFAULT_HEIGHT;
        else result = parse_size(value, &config.height);
    } else {
        result = -1;
    }
    pthread_mutex_unlock(&config_lock);
    return result;
}

/* Hangs, crashes or dawdles when `function` is the configured target. */
static void inject_hang_or_crash(const char *function) {
    pthread_mutex_lock(&config_lock);
    int hang = strcmp(config.hang, function) == 0;
    int crash = strcmp(config.crash, function) == 0;
    unsigned int slow_ms = strcmp(config.slow, function) == 0 ? config.slow_ms : 0;
    pthread_mutex_unlock(&config_lock);
    if (slow_ms > 0) {
        struct timespec pause_for = {slow_ms / 1000, (long)(slow_ms % 1000) * 1000000L};
        while (nanosleep(&pause_for, &pause_for) != 0 && errno == EINTR) {
        }
    }
    if (crash) {
        raise(SIGSEGV);
        abort();
    }
    if (hang) {
        for (;;) pause();
    }
}

/* The status to return instead of running `function`, or 0. */
static unsigned int injected_failure(const char *function) {
    pthread_mutex_lock(&config_lock);
    unsigned int code = strcmp(config.fail, function) == 0 ? config.fail_code : 0;
    pthread_mutex_unlock(&config_lock);
    return code;
}

/* Every SDK call starts with this: fault injection first, as if the SDK itself misbehaved. */
#define ENTER(function)                                                  \
    do {                                                                 \
        inject_hang_or_crash(function);                                  \
        unsigned int injected_ = injected_failure(function);             \
        if (injected_ != 0) return injected_;                            \
    } while (0)

/* ---- Camera state ------------------------------------------------------------------------- */

typedef struct {
    int hbin, vbin, hstart, hend, vstart, vend;
} image_area;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed;

static struct {
    int initialized;
    int width, height;
    int read_mode, acquisition_mode;
    float exposure;
    int hs_speed, preamp_gain, shutter_mode, fan_mode;
    image_area image;
    /* Cooling. */
    int cooler_on, setpoint, readings_at_setpoint;
    float temperature;
    /* Acquisition. */
    int acquiring;
    double started;
    float running_exposure;
    image_area running_image;
    int running_frame;
    int frames_started;
    int data_ready;
    image_area data_image;
    int data_frame;
    int event_pending;
    unsigned long aborts;
} cam;

__attribute__((constructor)) static void standin_load(void) {
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&changed, &attributes);
    pthread_condattr_destroy(&attributes);

    static const char *keys[] = {"HANG", "CRASH", "FAIL", "SLOW", "WIDTH", "HEIGHT"};
    for (int k = 0; k < COUNT(keys); k++) {
        char name[64];
        snprintf(name, sizeof name, "ANDOR_STANDIN_%s", keys[k]);
        const char *value = getenv(name);
        if (value != NULL && andor_standin_configure(keys[k], value) != 0) {
            fprintf(stderr, "andor_standin: ignoring malformed %s=%s\n", name, value);
        }
    }
}

static double monotonic_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* Ends the running acquisition if its exposure time has passed. Call with `lock` held. */
static void update_locked(void) {
    if (cam.acquiring && monotonic_now() - cam.started >= (double)cam.running_exposure) {
        cam.acquiring = 0;
        cam.data_ready = 1;
        cam.data_image = cam.running_image;
        cam.data_frame = cam.running_frame;
        cam.event_pending = 1;
        pthread_cond_broadcast(&changed);
    }
}

/* Stops the running acquisition without data. Call with `lock` held. */
static void abort_locked(void) {
    cam.acquiring = 0;
    cam.data_ready = 0;
    cam.event_pending = 0;
    cam.aborts++;
    pthread_cond_broadcast(&changed);
}

#define REQUIRE_INITIALIZED()                          \
    do {                                               \
        if (!cam.initialized) {                        \
            pthread_mutex_unlock(&lock);               \
            return DRV_NOT_INITIALIZED;                \
        }                                              \
    } while (0)

#define RETURN(status)                                 \
    do {                                               \
        pthread_mutex_unlock(&lock);                   \
        return (status);                               \
    } while (0)

/* Locks, checks initialisation, brings the acquisition up to date. */
#define BEGIN()                                        \
    pthread_mutex_lock(&lock);                         \
    REQUIRE_INITIALIZED();                             \
    update_locked()

/* As BEGIN, and refuses while an acquisition runs. */
#define BEGIN_IDLE()                                   \
    BEGIN();                                           \
    if (cam.acquiring) RETURN(DRV_ACQUIRING)

/* ---- Life cycle --------------------------------------------------------------------------- */

EXPORT unsigned int Initialize(char *dir) {
    ENTER("Initialize");
    if (dir == NULL) return DRV_P1INVALID;
    struct stat info;
    if (stat(dir, &info) != 0 || !S_ISDIR(info.st_mode)) return DRV_ERROR_FILELOAD;
    pthread_mutex_lock(&config_lock);
    int width = config.width, height = config.height;
    pthread_mutex_unlock(&config_lock);

    pthread_mutex_lock(&lock);
    if (cam.acquiring) abort_locked();
    unsigned long aborts = cam.aborts;
    memset(&cam, 0, sizeof cam);
    cam.aborts = aborts;
    cam.initialized = 1;
    cam.width = width;
    cam.height = height;
    cam.read_mode = READ_MODE_IMAGE;
    cam.acquisition_mode = ACQUISITION_MODE_SINGLE;
    cam.image = (image_area){1, 1, 1, width, 1, height};
    cam.setpoint = MAX_SETPOINT;
    cam.temperature = AMBIENT_C;
    RETURN(DRV_SUCCESS);
}

EXPORT unsigned int ShutDown(void) {
    ENTER("ShutDown");
    BEGIN();
    if (cam.acquiring) abort_locked();
    cam.initialized = 0;
    RETURN(DRV_SUCCESS);
}

/* ---- Detector description ----------------------------------------------------------------- */

EXPORT unsigned int GetDetector(int *xpixels, int *ypixels) {
    ENTER("GetDetector");
    BEGIN();
    if (xpixels == NULL) RETURN(DRV_P1INVALID);
    if (ypixels == NULL) RETURN(DRV_P2INVALID);
    *xpixels = cam.width;
    *ypixels = cam.height;
    RETURN(DRV_SUCCESS);
}

EXPORT unsigned int GetPixelSize(float *xSize, float *ySize) {
    ENTER("GetPixelSize");
    BEGIN();
    if (xSize == NULL) RETURN(DRV_P1INVALID);
    if (ySize == NULL) RETURN(DRV_P2INVALID);
    *xSize = PIXEL_SIZE_UM;
    *ySize = PIXEL_SIZE_UM;
    RETURN(DRV_SUCCESS);
}

EXPORT unsigned int GetHeadModel(char *name) {
    ENTER("GetHeadModel");
    BEGIN();
    if (name == NULL) RETURN(DRV_P1INVALID);
    strcpy(name, "DU934P-STANDIN");
    RETURN(DRV_SUCCESS);
}

EXPORT unsigned int GetCameraSerialNumber(int *number) {
    ENTER("GetCameraSerialNumber");
    BEGIN();
    if (number == NULL) RETURN(DRV_P1INVALID);
    *number = 12345;
    RETURN(DRV_SUCCESS);
}

EXPORT unsigned int GetTemperatureRange(int *mintemp, int *maxtemp) {
    ENTER("GetTemperatureRange");
    BEGIN();
    if (mintemp == NULL) RETURN(DRV_P1INVALID);
    if (maxtemp == NULL) RETURN(DRV_P2INVALID);
    *mintemp = MIN_SETPOINT;
    *maxtemp = MAX_SETPOINT;
    RETURN(DRV_SUCCESS);
}

EXPORT unsigned int GetNumberHSSpeeds(int channel, int typ, int *speeds) {
    ENTER("GetNumberHSSpeeds");
    BEGIN();
    if (channel != 0) RETURN(DRV_P1INVALID);
    if (typ != 0 && typ != 1) RETURN(DRV_P2INVALID);
    if (speeds == NULL) RETURN(DRV_P3INVALID);
    *speeds = COUNT(hs_speeds_mhz);
    RETURN(DRV_SUCCESS);
}

EXPORT unsigned int GetHSSpeed(int channel, int typ, int index, float *speed) {
    ENTER("GetHSSpeed");
    BEGIN();
    if (channel != 0) RETURN(DRV_P1INVALID);
    if (typ != 0 && typ != 1) RETURN(DRV_P2INVALID);
    if (index < 0 || index >= COUNT(hs_speeds_mhz)) RETURN(DRV_P3INVALID);
    if (speed == NULL) RETURN(DRV_P4INVALID);
    *speed = hs_speeds_mhz[index];
    RETURN(DRV_SUCCESS);
}

EXPORT unsigned int GetNumberPreAmpGains(int *noGains) {
    ENTER("GetNumberPreAmpGains");
    BEGIN();
    if (noGains == NULL) RETURN(DRV_P1INVALID);
    *noGains = COUNT(preamp_gains);
    RETURN(DRV_SUCCESS);
}

EXPORT unsigned int GetPreAmpGain(int index, float *gain) {
    ENTER("GetPreAmpGain");
    BEGIN();
    if (index < 0 || index >= COUNT(preamp_gains)) RETURN(DRV_P1INVALID);
    if (gain == NULL) RETURN(DRV_P2INVALID);
    *gain = preamp_gains[index];
    RETURN(DRV_SUCCESS);
}

#ifndef OMIT_OPTIONAL
EXPORT unsigned int GetMaximumExposure(float *MaxExp) {
    ENTER("GetMaximumExposure");
    BEGIN();
    if (MaxExp == NULL) RETURN(DRV_P1INVALID);
    *MaxExp = MAX_EXPOSURE_S;
    RETURN(DRV_SUCCESS);
}

EXPORT unsigned int GetMaximumBinning(int ReadMode, int HorzVert, int *MaxBinning) {
    ENTER("GetMaximumBinning");
    BEGIN();
    if (ReadMode < 0 || ReadMode > 4) RETURN(DRV_P1INVALID);
    if (HorzVert != 0 && HorzVert != 1) RETURN(DRV_P2INVALID);
    if (MaxBinning == NULL) RETURN(DRV_P3INVALID);
    int size = HorzVert == 0 ? cam.width : cam.height;
    *MaxBinning = size < MAX_BINNING ? size : MAX_BINNING;
    RETURN(DRV_SUCCESS);
}
#endif

/* ---- Acquisition set-up ------------------------------------------------------------------- */

EXPORT unsigned int SetHSSpeed(int typ, int index) {
    ENTER("SetHSSpeed");
    BEGIN_IDLE();
    if (typ != 0 && typ != 1) RETURN(DRV_P1INVALID);
    if (index < 0 || index >= COUNT(hs_speeds_mhz)) RETURN(DRV_P2INVALID);
    cam.hs_speed = index;
    RETURN(DRV_SUCCESS);
}

EXPORT unsigned int SetPreAmpGain(int index) {
    ENTER("SetPreAmpGain");
    BEGIN_IDLE();
    if (index < 0 || index >= COUNT(preamp_gains)) RETURN(DRV_P1INVALID);
    cam.preamp_gain = index;
    RETURN(DRV_SUCCESS);
}

EXPORT unsigned int SetReadMode(int mode) {
    ENTER("SetReadMode");
    BEGIN_IDLE();
    if (mode < 0 || mode > 4) RETURN(DRV_P1INVALID);
    cam.read_mode = mode;
    RETURN(DRV_SUCCESS);
}

EXPORT unsigned int SetAcquisitionMode(int mode) {
    ENTER("SetAcquisitionMode");
    BEGIN_IDLE();
    if (mode < 1 || mode > 5) RETURN(DRV_P1INVALID);
    cam.acquisition_mode = mode;
    RETURN(DRV_SUCCESS);
}

EXPORT unsigned int SetExposureTime(float time) {
    ENTER("SetExposureTime");
    BEGIN_IDLE();
    if (!(time >= 0.0f) || time > MAX_EXPOSURE_S) RETURN(DRV_P1INVALID);
    cam.exposure = time;
    RETURN(DRV_SUCCESS);
}

EXPORT unsigned int GetAcquisitionTimings(float *exposure, float *accumulate, float *kinetic) {
    ENTER("GetAcquisitionTimings");
    BEGIN();
    if (exposure == NULL) RETURN(DRV_P1INVALID);
    if (accumulate == NULL) RETURN(DRV_P2INVALID);
    if (kinetic == NULL) RETURN(DRV_P3INVALID);
    *exposure = cam.exposure;
    *accumulate = cam.exposure;
    *kinetic = cam.exposure;
    RETURN(DRV_SUCCESS);
}

EXPORT unsigned int SetShutter(int typ, int mode, int closingtime, int openingtime) {
    ENTER("SetShutter");
    BEGIN_IDLE();
    if (typ != 0 && typ != 1) RETURN(DRV_P1INVALID);
    if (mode < 0 || mode > 5 || mode == 3) RETURN(DRV_P2INVALID);
    if (closingtime < 0) RETURN(DRV_P3INVALID);
    if (openingtime < 0) RETURN(DRV_P4INVALID);
    cam.shutter_mode = mode;
    RETURN(DRV_SUCCESS);
}

EXPORT unsigned int SetImage(int hbin, int vbin, int hstart, int hend, int vstart, int vend) {
    ENTER("SetImage");
    BEGIN_IDLE();
    int max_hbin = cam.width < MAX_BINNING ? cam.width : MAX_BINNING;
    int max_vbin = cam.height < MAX_BINNING ? cam.height : MAX_BINNING;
    if (hbin < 1 || hbin > max_hbin) RETURN(DRV_P1INVALID);
    if (vbin < 1 || vbin > max_vbin) RETURN(DRV_P2INVALID);
    if (hstart < 1 || hstart > cam.width) RETURN(DRV_P3INVALID);
    if (hend < hstart || hend > cam.width) RETURN(DRV_P4INVALID);
    if (vstart < 1 || vstart > cam.height) RETURN(DRV_P5INVALID);
    if (vend < vstart || vend > cam.height) RETURN(DRV_P6INVALID);
    if ((hend - hstart + 1) % hbin != 0) RETURN(DRV_P1INVALID);
    if ((vend - vstart + 1) % vbin != 0) RETURN(DRV_P2INVALID);
    cam.image = (image_area){hbin, vbin, hstart, hend, vstart, vend};
    RETURN(DRV_SUCCESS);
}

/* ---- Acquisition -------------------------------------------------------------------------- */

EXPORT unsigned int StartAcquisition(void) {
    ENTER("StartAcquisition");
    BEGIN_IDLE();
    if (cam.read_mode != READ_MODE_IMAGE || cam.acquisition_mode != ACQUISITION_MODE_SINGLE) {
        RETURN(DRV_NOT_SUPPORTED);
    }
    cam.acquiring = 1;
    cam.started = monotonic_now();
    cam.running_exposure = cam.exposure;
    cam.running_image = cam.image;
    cam.running_frame = cam.frames_started++;
    cam.data_ready = 0;
    cam.event_pending = 0;
    pthread_cond_broadcast(&changed);
    RETURN(DRV_SUCCESS);
}

#ifndef OMIT_GETSTATUS
EXPORT unsigned int GetStatus(int *status) {
    ENTER("GetStatus");
    BEGIN();
    if (status == NULL) RETURN(DRV_P1INVALID);
    *status = cam.acquiring ? DRV_ACQUIRING : DRV_IDLE;
    RETURN(DRV_SUCCESS);
}
#endif

EXPORT unsigned int WaitForAcquisitionTimeOut(int iTimeOutMs) {
    ENTER("WaitForAcquisitionTimeOut");
    BEGIN();
    double deadline = monotonic_now() + (iTimeOutMs > 0 ? iTimeOutMs : 0) / 1000.0;
    unsigned long aborts = cam.aborts;
    for (;;) {
        update_locked();
        if (!cam.initialized || cam.aborts != aborts) RETURN(DRV_NO_NEW_DATA);
        if (cam.event_pending) {
            cam.event_pending = 0;
            RETURN(DRV_SUCCESS);
        }
        double now = monotonic_now();
        if (now >= deadline) RETURN(DRV_NO_NEW_DATA);
        double wake = deadline;
        if (cam.acquiring && cam.started + cam.running_exposure < wake) {
            wake = cam.started + cam.running_exposure;
        }
        struct timespec until;
        until.tv_sec = (time_t)wake;
        until.tv_nsec = (long)((wake - (double)until.tv_sec) * 1e9);
        if (until.tv_nsec >= 1000000000L) until.tv_nsec = 999999999L;
        pthread_cond_timedwait(&changed, &lock, &until);
    }
}

EXPORT unsigned int AbortAcquisition(void) {
    ENTER("AbortAcquisition");
    BEGIN();
    if (!cam.acquiring) RETURN(DRV_IDLE);
    abort_locked();
    RETURN(DRV_SUCCESS);
}

EXPORT unsigned int GetAcquiredData16(unsigned short *arr, unsigned int size) {
    ENTER("GetAcquiredData16");
    BEGIN_IDLE();
    if (!cam.data_ready) RETURN(DRV_NO_NEW_DATA);
    image_area area = cam.data_image;
    unsigned int columns = (unsigned int)((area.hend - area.hstart + 1) / area.hbin);
    unsigned int rows = (unsigned int)((area.vend - area.vstart + 1) / area.vbin);
    if (arr == NULL) RETURN(DRV_P1INVALID);
    if (size != columns * rows) RETURN(DRV_P2INVALID);
    for (unsigned int j = 0; j < rows; j++) {
        unsigned int y = (unsigned int)(area.vstart - 1) + j * (unsigned int)area.vbin;
        for (unsigned int i = 0; i < columns; i++) {
            unsigned int x = (unsigned int)(area.hstart - 1) + i * (unsigned int)area.hbin;
            arr[j * columns + i] =
                (unsigned short)((x + y * (unsigned int)cam.width + (unsigned int)cam.data_frame) & 0xffffu);
        }
    }
    RETURN(DRV_SUCCESS);
}

/* ---- Cooling ------------------------------------------------------------------------------ */

EXPORT unsigned int CoolerON(void) {
    ENTER("CoolerON");
    BEGIN_IDLE();
    if (!cam.cooler_on) cam.readings_at_setpoint = 0;
    cam.cooler_on = 1;
    RETURN(DRV_SUCCESS);
}

EXPORT unsigned int CoolerOFF(void) {
    ENTER("CoolerOFF");
    BEGIN_IDLE();
    cam.cooler_on = 0;
    cam.readings_at_setpoint = 0;
    RETURN(DRV_SUCCESS);
}

EXPORT unsigned int IsCoolerOn(int *iCoolerStatus) {
    ENTER("IsCoolerOn");
    BEGIN();
    if (iCoolerStatus == NULL) RETURN(DRV_P1INVALID);
    *iCoolerStatus = cam.cooler_on;
    RETURN(DRV_SUCCESS);
}

EXPORT unsigned int SetTemperature(int temperature) {
    ENTER("SetTemperature");
    BEGIN_IDLE();
    if (temperature < MIN_SETPOINT || temperature > MAX_SETPOINT) RETURN(DRV_P1INVALID);
    if (temperature != cam.setpoint) cam.readings_at_setpoint = 0;
    cam.setpoint = temperature;
    RETURN(DRV_SUCCESS);
}

EXPORT unsigned int GetTemperatureF(float *temperature) {
    inject_hang_or_crash("GetTemperatureF");
    pthread_mutex_lock(&lock);
    REQUIRE_INITIALIZED();
    if (temperature == NULL) RETURN(DRV_P1INVALID);
    float target = cam.cooler_on ? (float)cam.setpoint : AMBIENT_C;
    float difference = target - cam.temperature;
    if (difference <= TEMPERATURE_STEP_C && difference >= -TEMPERATURE_STEP_C) {
        cam.temperature = target;
    } else {
        cam.temperature += difference > 0 ? TEMPERATURE_STEP_C : -TEMPERATURE_STEP_C;
    }
    *temperature = cam.temperature;
    unsigned int status;
    if (!cam.cooler_on) {
        status = DRV_TEMP_OFF;
    } else if (cam.temperature != (float)cam.setpoint) {
        cam.readings_at_setpoint = 0;
        status = DRV_TEMP_NOT_REACHED;
    } else {
        cam.readings_at_setpoint++;
        status = cam.readings_at_setpoint < STABLE_AFTER_READINGS ? DRV_TEMP_NOT_STABILIZED
                                                                   : DRV_TEMP_STABILIZED;
    }
    unsigned int injected = injected_failure("GetTemperatureF");
    RETURN(injected != 0 ? injected : status);
}

EXPORT unsigned int SetFanMode(int mode) {
    ENTER("SetFanMode");
    BEGIN_IDLE();
    if (mode < 0 || mode > 2) RETURN(DRV_P1INVALID);
    cam.fan_mode = mode;
    RETURN(DRV_SUCCESS);
}
