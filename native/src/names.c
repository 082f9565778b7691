/* Deriving the Java class name from the library's file name, kept apart from JNI so C tests can run it. */
#include "capwire.h"

#include <errno.h>
#include <string.h>

#define LIBRARY_STEM "capwire"
#define CLASS_SUFFIX "dev/capwire/bindings/Native"

/*
 * A shaded copy of Capwire renames the library "lib<prefix>capwire..." where <prefix> is the relocated
 * package with '_' for '.', e.g. libcom_acme_shaded_capwire.so for com.acme.shaded.dev.capwire. The loader
 * may append a version or a random suffix after the stem, so the prefix is what stands between "lib" and
 * the last "capwire".
 */
int cw_native_class_name(const char *library_file, char *out, size_t out_len) {
    const char *base = library_file;
    for (const char *at = library_file; *at != '\0'; at++) {
        if (*at == '/' || *at == '\\') base = at + 1; /* Windows paths use either separator */
    }
    if (strncmp(base, "lib", 3) == 0) base += 3;
    const char *stem = NULL;
    for (const char *at = strstr(base, LIBRARY_STEM); at != NULL; at = strstr(at + 1, LIBRARY_STEM)) stem = at;
    size_t prefix_len = stem == NULL ? 0 : (size_t)(stem - base);
    size_t total = prefix_len + strlen(CLASS_SUFFIX);
    if (total + 1 > out_len) return -ENAMETOOLONG;
    for (size_t i = 0; i < prefix_len; i++) out[i] = base[i] == '_' ? '/' : base[i];
    memcpy(out + prefix_len, CLASS_SUFFIX, strlen(CLASS_SUFFIX) + 1);
    return (int)total;
}
