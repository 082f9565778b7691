/* The errno symbols Capwire can name. Java reads this table once (cw_errno_symbol); add new ones here only. */
#include "capwire.h"

#include <errno.h>
#include <string.h>

#define ERRNO(sym) {#sym, sym}

static const struct {
    const char *name;
    int value;
} table[] = {
    ERRNO(EPERM),        ERRNO(ENOENT),       ERRNO(ESRCH),        ERRNO(EINTR),          ERRNO(EIO),
    ERRNO(ENXIO),        ERRNO(EBADF),        ERRNO(EAGAIN),       ERRNO(ENOMEM),         ERRNO(EACCES),
    ERRNO(EFAULT),       ERRNO(EBUSY),        ERRNO(EEXIST),       ERRNO(ENOTDIR),        ERRNO(EISDIR),
    ERRNO(EINVAL),       ERRNO(ENFILE),       ERRNO(EMFILE),       ERRNO(ENOSPC),         ERRNO(EPIPE),
    ERRNO(ERANGE),       ERRNO(ENAMETOOLONG), ERRNO(ENOSYS),       ERRNO(ELOOP),          ERRNO(ENOTSOCK),
    ERRNO(EDESTADDRREQ), ERRNO(EMSGSIZE),     ERRNO(EPROTOTYPE),   ERRNO(ENOPROTOOPT),    ERRNO(EPROTONOSUPPORT),
    ERRNO(EOPNOTSUPP),   ERRNO(EAFNOSUPPORT), ERRNO(EADDRINUSE),   ERRNO(EADDRNOTAVAIL),  ERRNO(ENETDOWN),
    ERRNO(ENETUNREACH),  ERRNO(ECONNABORTED), ERRNO(ECONNRESET),   ERRNO(ENOBUFS),        ERRNO(EISCONN),
    ERRNO(ENOTCONN),     ERRNO(ETIMEDOUT),    ERRNO(ECONNREFUSED), ERRNO(EHOSTUNREACH),   ERRNO(EALREADY),
    ERRNO(EINPROGRESS),
};

int cw_errno_symbol(int index, char *name_out, size_t name_len) {
    if (index < 0 || (size_t)index >= sizeof(table) / sizeof(table[0])) return -EINVAL;
    size_t len = strlen(table[index].name);
    if (len + 1 > name_len) return -ENAMETOOLONG;
    memcpy(name_out, table[index].name, len + 1);
    return table[index].value;
}
