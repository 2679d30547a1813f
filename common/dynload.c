/*
 * dynload.c - a library and its functions, looked up at run time
 * (dynload.h).
 *
 * Every PostgreSQL backend loads the module afresh, and every library
 * it links costs each connection its mapping and relocations. libyaml
 * is needed only when a policy is read from YAML (not from its compiled
 * snapshot), libcurl only when the keys are fetched: both are opened
 * when that happens, all their functions are looked up at once, and a
 * missing one refuses the whole library rather than failing mid-way.
 */
#include "config.h"

#include <dlfcn.h>
#include <string.h>

#include "dynload.h"
#include "msg.h"

void *
pb_dlopen_api(const char *soname, const char *package, int flags,
    const char *const *names, pb_fn *fns, size_t n, char *why,
    size_t whylen)
{
	const char *e;
	void *lib, *f;
	size_t i;

	if ((lib = dlopen(soname, flags)) == NULL) {
		e = dlerror();
		pb_msg(why, whylen, "%s is not installed: %s (apt-get install "
		    "%s)", soname, e != NULL ? e : "dlopen failed", package);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		if ((f = dlsym(lib, names[i])) == NULL) {
			pb_msg(why, whylen, "%s has no %s", soname, names[i]);
			dlclose(lib);
			return NULL;
		}
		/* POSIX guarantees a data pointer from dlsym converts. */
		memcpy(&fns[i], &f, sizeof(f));
	}
	return lib;
}
