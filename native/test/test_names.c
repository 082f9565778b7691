/* Names shared with Java: the JNI class name derived from the library file, and the errno table. */
#include "cw_test.h"

#define NATIVE_CLASS "dev/capwire/bindings/Native"

static void check_class_name(const char *library_file, const char *expected) {
    char out[256];
    memset(out, 'x', sizeof(out));
    CHECK_EQ(cw_native_class_name(library_file, out, sizeof(out)), strlen(expected));
    CHECK_STR(out, expected);
}

static void class_name_from_library_file(void) {
    check_class_name("libcapwire.so", NATIVE_CLASS);
    /* hawtjni extracts to the temp dir with a version and a unique suffix after the stem. */
    check_class_name("/tmp/libcapwire-64-12345.so", NATIVE_CLASS);
    check_class_name("/home/user/.cache/libcapwire-64-1.2.3.so", NATIVE_CLASS);
    /* A shaded copy carries its relocated package before the stem, '_' standing for '.'. */
    check_class_name("libcom_acme_shaded_capwire-64-9.so", "com/acme/shaded/" NATIVE_CLASS);
    check_class_name("/opt/app/lib/libcom_acme_shaded_capwire-64-9.so", "com/acme/shaded/" NATIVE_CLASS);
    /* A directory named like the library does not count: only the file name is read. */
    check_class_name("/srv/libcom_x_capwire/libcapwire.so", NATIVE_CLASS);
    /* The prefix ends at the last stem, so a package that itself says "capwire" survives. */
    check_class_name("libio_capwire_capwire.so", "io/capwire/" NATIVE_CLASS);
}

static void class_name_buffer_too_small(void) {
    const char *expected = "com/acme/shaded/" NATIVE_CLASS;
    size_t fits = strlen(expected) + 1;
    char *exact = malloc(fits); /* heap-sized to the byte, so AddressSanitizer sees any overrun */
    CHECK(exact != NULL);
    CHECK_EQ(cw_native_class_name("libcom_acme_shaded_capwire-64-9.so", exact, fits), fits - 1);
    CHECK_STR(exact, expected);
    CHECK_ERRNO(cw_native_class_name("libcom_acme_shaded_capwire-64-9.so", exact, fits - 1), ENAMETOOLONG);
    CHECK_ERRNO(cw_native_class_name("libcapwire.so", exact, strlen(NATIVE_CLASS)), ENAMETOOLONG);
    CHECK_ERRNO(cw_native_class_name("libcapwire.so", exact, 0), ENAMETOOLONG);
    free(exact);
}

static void errno_table_walk(void) {
    enum { MOST_ENTRIES = 512 };
    char names[MOST_ENTRIES][32];
    int values[MOST_ENTRIES];
    int count = 0;
    for (;; count++) {
        CHECK(count < MOST_ENTRIES);
        int value = cw_errno_symbol(count, names[count], sizeof(names[count]));
        if (value == -EINVAL) break;
        CHECK(value > 0);
        values[count] = value;
        CHECK(names[count][0] == 'E' && strlen(names[count]) > 1);
        /* Java maps both ways, so neither a name nor a value may appear twice. */
        for (int earlier = 0; earlier < count; earlier++) {
            CHECK(strcmp(names[earlier], names[count]) != 0);
            CHECK(values[earlier] != value);
        }
    }
    CHECK(count > 0);
    fprintf(stderr, "   %d errno symbols\n", count);
    CHECK_ERRNO(cw_errno_symbol(count + 1, names[0], sizeof(names[0])), EINVAL);
    CHECK_ERRNO(cw_errno_symbol(-1, names[0], sizeof(names[0])), EINVAL);

    /* The errors the bindings turn into typed exceptions must be there under their own numbers. */
    const struct {
        const char *name;
        int value;
    } needed[] = {{"EPIPE", EPIPE}, {"ECONNRESET", ECONNRESET}, {"EADDRINUSE", EADDRINUSE},
                  {"ECONNREFUSED", ECONNREFUSED}, {"ENOENT", ENOENT}, {"EMSGSIZE", EMSGSIZE},
                  {"EAGAIN", EAGAIN}, {"EINPROGRESS", EINPROGRESS}, {"ENAMETOOLONG", ENAMETOOLONG}};
    for (size_t n = 0; n < sizeof(needed) / sizeof(needed[0]); n++) {
        int found = -1;
        for (int i = 0; i < count; i++) {
            if (strcmp(names[i], needed[n].name) == 0) found = i;
        }
        if (found < 0) fprintf(stderr, "   missing %s\n", needed[n].name);
        CHECK(found >= 0);
        CHECK_EQ(values[found], needed[n].value);
    }
}

static void errno_symbol_buffer_too_small(void) {
    char name[32];
    int value = cw_errno_symbol(0, name, sizeof(name));
    CHECK(value > 0);
    size_t fits = strlen(name) + 1;
    char *exact = malloc(fits);
    CHECK(exact != NULL);
    CHECK_EQ(cw_errno_symbol(0, exact, fits), value);
    CHECK_STR(exact, name);
    CHECK_ERRNO(cw_errno_symbol(0, exact, fits - 1), ENAMETOOLONG);
    free(exact);
}

int main(void) {
    cw_test_arm_watchdog();
    RUN(class_name_from_library_file);
    RUN(class_name_buffer_too_small);
    RUN(errno_table_walk);
    RUN(errno_symbol_buffer_too_small);
    return 0;
}
