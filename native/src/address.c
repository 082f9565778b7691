/*
 * Socket addresses, the same on every platform: Capwire's arguments (a path, or 4 or 16 address bytes and a
 * port) into a sockaddr, and a sockaddr back into the normalized record Java reads (capwire.h).
 */
#define _GNU_SOURCE
#include "platform.h"

#include <stddef.h>
#include <string.h>

int cw_unix_address(struct sockaddr_un *sa, cw_socklen *sa_len, const char *path, size_t path_len) {
    /* A filesystem path needs room for its terminating NUL; an abstract name (Linux only) has none. */
    int abstract = path_len > 0 && path[0] == '\0';
#ifndef __linux__
    if (abstract) return -EINVAL;
#endif
    if (path_len == 0 || path_len + (abstract ? 0 : 1) > sizeof(sa->sun_path)) return -ENAMETOOLONG;
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, path_len);
    *sa_len = (cw_socklen)(offsetof(struct sockaddr_un, sun_path) + path_len + (abstract ? 0 : 1));
#if defined(__APPLE__) || defined(__FreeBSD__)
    sa->sun_len = (unsigned char)*sa_len;
#endif
    return 0;
}

int cw_inet_address(struct sockaddr_storage *ss, cw_socklen *ss_len, const uint8_t *addr, int addr_len, int port,
                    int scope_id) {
    if (port < 0 || port > 65535) return -EINVAL;
    memset(ss, 0, sizeof(*ss));
    if (addr_len == 4) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        memcpy(&in->sin_addr, addr, 4);
        *ss_len = sizeof(*in);
        return 0;
    }
    if (addr_len == 16) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        in6->sin6_scope_id = (uint32_t)scope_id;
        memcpy(&in6->sin6_addr, addr, 16);
        *ss_len = sizeof(*in6);
        return 0;
    }
    return -EINVAL;
}

static void put_int(uint8_t *out, int value) { memcpy(out, &value, sizeof(value)); }

int cw_normalize_address(const struct sockaddr_storage *ss, cw_socklen ss_len, uint8_t *out, size_t out_len) {
    if (out_len < CW_ADDR_MAX_BYTES) return -EINVAL;
    int kind, port = 0, scope = 0, len;
    const void *bytes;
    if (ss->ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)ss;
        len = (int)ss_len - (int)offsetof(struct sockaddr_un, sun_path);
        if (len < 0) len = 0;
        if (len > (int)sizeof(un->sun_path)) len = (int)sizeof(un->sun_path);
        /* Filesystem paths come back with their terminating NUL; abstract names start with one. */
        if (len > 0 && un->sun_path[0] != '\0') len = (int)strnlen(un->sun_path, (size_t)len);
        kind = CW_ADDR_UNIX;
        bytes = un->sun_path;
    } else if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        kind = CW_ADDR_INET4;
        port = ntohs(in->sin_port);
        len = 4;
        bytes = &in->sin_addr;
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        kind = CW_ADDR_INET6;
        port = ntohs(in6->sin6_port);
        scope = (int)in6->sin6_scope_id;
        len = 16;
        bytes = &in6->sin6_addr;
    } else {
        return -EAFNOSUPPORT;
    }
    put_int(out, kind);
    put_int(out + 4, port);
    put_int(out + 8, scope);
    put_int(out + 12, len);
    memcpy(out + CW_ADDR_HEADER_BYTES, bytes, (size_t)len);
    return CW_ADDR_HEADER_BYTES + len;
}
