/* Naming: the JNI class a (possibly shaded) library registers, and the errno table Java reads. */
#include <errno.h>
#include <string.h>

#include "capwire.h"
#include "cw_test.h"

static void check_class(const char *file, const char *expected) {
    char out[256];
    int length = cw_native_class_name(file, out, sizeof(out));
    CHECK_EQ((long long)strlen(expected), length);
    if (strcmp(expected, out) != 0) {
        fprintf(stderr, "class for %s: expected %s, got %s\n", file, expected, out);
        exit(1);
    }
}

int main(void) {
    check_class("libcapwire.so", "dev/capwire/bindings/Native");
    check_class("/tmp/libcapwire-64-12345.so", "dev/capwire/bindings/Native");
    check_class("/opt/app/libcom_acme_shaded_capwire-64-9.so", "com/acme/shaded/dev/capwire/bindings/Native");
    char tiny[8];
    CHECK_EQ(-ENAMETOOLONG, cw_native_class_name("libcapwire.so", tiny, sizeof(tiny)));

    /* The errno table: every name unique, every value positive, and a clean end. */
    char names[128][32];
    int count = 0;
    for (;; count++) {
        CHECK(count < 128);
        int value = cw_errno_symbol(count, names[count], sizeof(names[count]));
        if (value == -EINVAL) break;
        CHECK(value > 0);
        CHECK(names[count][0] == 'E');
        for (int j = 0; j < count; j++) CHECK(strcmp(names[j], names[count]) != 0);
    }
    CHECK(count > 40);
    CHECK_EQ(EAGAIN, cw_errno_symbol(7, names[0], sizeof(names[0])));
    CHECK(strcmp(names[0], "EAGAIN") == 0);
    CHECK_EQ(-ENAMETOOLONG, cw_errno_symbol(0, names[0], 3));
    puts("test_names: ok");
    return 0;
}
