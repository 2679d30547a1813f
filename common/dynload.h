/*
 * dynload.h - loading a library and the functions we call in it at run
 * time: libyaml for the policy, libcurl for the JWKS fetch. Neither is
 * linked, so a login that uses neither maps neither (see dynload.c).
 */
#ifndef PB_DYNLOAD_H
#define PB_DYNLOAD_H

#include <stddef.h>

/* A function pointer of any type, as dlsym's results are stored. */
typedef void (*pb_fn)(void);

/* dlopen(soname, flags) and dlsym of each of the n names into fns[i].
 * Returns the handle, or NULL with why saying "SONAME is not installed:
 * ERROR (apt-get install PACKAGE)" or "SONAME has no NAME" (the library
 * closed again). */
void *pb_dlopen_api(const char *soname, const char *package, int flags,
    const char *const *names, pb_fn *fns, size_t n, char *why,
    size_t whylen);

#endif
