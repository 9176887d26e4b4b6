/*
 * standin_probe.c: loads an SDK2 library (the stand-in, normally) with dlopen in a process of its
 * own and makes one call, so that the stand-in's injected hangs and crashes can be observed
 * without wedging or killing the test runner.
 *
 *     cc -O1 -o standin_probe standin_probe.c -ldl
 *     ANDOR_STANDIN_CRASH=GetStatus ./standin_probe ./libandor.so GetStatus
 *
 * Usage: standin_probe LIBRARY FUNCTION [CONFIG_DIRECTORY]. Calls Initialize(CONFIG_DIRECTORY,
 * default /tmp), then FUNCTION unless it is Initialize, printing "calling NAME" before and
 * "NAME returned CODE" after each call (GetDetector also prints the size). Exit status: 0 when
 * both calls returned, 2 when the library or a symbol cannot be loaded, 3 for a FUNCTION it does
 * not know.
 */

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef unsigned int (*no_arguments)(void);
typedef unsigned int (*one_int)(int);
typedef unsigned int (*int_pointer)(int *);
typedef unsigned int (*two_int_pointers)(int *, int *);
typedef unsigned int (*float_pointer)(float *);
typedef unsigned int (*char_pointer)(char *);

static void *library;

static void *symbol(const char *name) {
    void *address = dlsym(library, name);
    if (address == NULL) {
        fprintf(stderr, "standin_probe: %s: %s\n", name, dlerror());
    }
    return address;
}

static void announce(const char *name) {
    printf("calling %s\n", name);
    fflush(stdout);
}

static void report(const char *name, unsigned int code) {
    printf("%s returned %u\n", name, code);
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: standin_probe LIBRARY FUNCTION [CONFIG_DIRECTORY]\n");
        return 3;
    }
    const char *function = argv[2];
    char *directory = argc > 3 ? argv[3] : "/tmp";
    library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        fprintf(stderr, "standin_probe: %s\n", dlerror());
        return 2;
    }

    char_pointer initialize = (char_pointer)symbol("Initialize");
    if (initialize == NULL) return 2;
    announce("Initialize");
    report("Initialize", initialize(directory));
    if (strcmp(function, "Initialize") == 0) return 0;

    void *address = symbol(function);
    if (address == NULL) return 2;
    unsigned int code;
    if (strcmp(function, "GetDetector") == 0) {
        int width = 0, height = 0;
        announce(function);
        code = ((two_int_pointers)address)(&width, &height);
        printf("detector %d x %d\n", width, height);
    } else if (strcmp(function, "GetStatus") == 0 || strcmp(function, "IsCoolerOn") == 0) {
        int value = 0;
        announce(function);
        code = ((int_pointer)address)(&value);
    } else if (strcmp(function, "GetTemperatureF") == 0) {
        float value = 0;
        announce(function);
        code = ((float_pointer)address)(&value);
    } else if (strcmp(function, "WaitForAcquisitionTimeOut") == 0) {
        announce(function);
        code = ((one_int)address)(100);
    } else if (strcmp(function, "StartAcquisition") == 0 || strcmp(function, "AbortAcquisition") == 0 ||
               strcmp(function, "CoolerON") == 0 || strcmp(function, "CoolerOFF") == 0 ||
               strcmp(function, "ShutDown") == 0) {
        announce(function);
        code = ((no_arguments)address)();
    } else {
        fprintf(stderr, "standin_probe: cannot call %s\n", function);
        return 3;
    }
    report(function, code);
    return 0;
}
