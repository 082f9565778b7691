/*
 * JNI glue: one JNI_OnLoad that registers every native of the Java class Native. Each native takes and
 * returns primitives (ints, longs, addresses of direct buffers), never touches Java objects, never throws:
 * failures come back as -errno and Java turns them into typed exceptions.
 *
 * JNI_OnLoad does not run Java code or initialise any class (that has deadlocked Netty); it only looks the
 * class up and registers. The class name carries any package prefix a shading tool added, read from this
 * library's own file name (see cw_native_class_name).
 */
#define _GNU_SOURCE
#include "capwire.h"

#include <errno.h>
#include <jni.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#elif defined(__linux__)
#include <link.h>
#else
#include <dlfcn.h>
#endif

#include "dev_capwire_bindings_Native.h"

#define CW_ABI_VERSION 3
/* The most handles one message carries (the kernel's SCM_MAX_FD; fdpass.c's record limit on Windows). */
#define CW_MAX_HANDLES 253

/* Java reads and writes these layouts directly; they must agree with the constants in Native.java. */
_Static_assert(sizeof(cw_iovec) == 16, "Native.IOV_BYTES assumes a 16-byte iovec");
_Static_assert(sizeof(void *) == 8, "Capwire's native library is built for 64-bit JVMs only");
_Static_assert(dev_capwire_bindings_Native_IOV_BYTES == 16, "Native.IOV_BYTES");
_Static_assert(dev_capwire_bindings_Native_EVENT_BYTES == sizeof(cw_event), "Native.EVENT_BYTES");
_Static_assert(dev_capwire_bindings_Native_INTEREST_READ == CW_INTEREST_READ, "Native.INTEREST_READ");
_Static_assert(dev_capwire_bindings_Native_INTEREST_WRITE == CW_INTEREST_WRITE, "Native.INTEREST_WRITE");
_Static_assert(dev_capwire_bindings_Native_READY_READ == CW_READY_READ, "Native.READY_READ");
_Static_assert(dev_capwire_bindings_Native_READY_WRITE == CW_READY_WRITE, "Native.READY_WRITE");
_Static_assert(dev_capwire_bindings_Native_READY_HANGUP == CW_READY_HANGUP, "Native.READY_HANGUP");
_Static_assert(dev_capwire_bindings_Native_READY_ERROR == CW_READY_ERROR, "Native.READY_ERROR");
_Static_assert(dev_capwire_bindings_Native_OPT_SNDBUF == CW_OPT_SNDBUF, "Native.OPT_SNDBUF");
_Static_assert(dev_capwire_bindings_Native_OPT_RCVBUF == CW_OPT_RCVBUF, "Native.OPT_RCVBUF");
_Static_assert(dev_capwire_bindings_Native_OPT_TCP_NODELAY == CW_OPT_TCP_NODELAY, "Native.OPT_TCP_NODELAY");
_Static_assert(dev_capwire_bindings_Native_OPT_REUSEADDR == CW_OPT_REUSEADDR, "Native.OPT_REUSEADDR");
_Static_assert(dev_capwire_bindings_Native_ADDR_UNIX == CW_ADDR_UNIX, "Native.ADDR_UNIX");
_Static_assert(dev_capwire_bindings_Native_ADDR_INET4 == CW_ADDR_INET4, "Native.ADDR_INET4");
_Static_assert(dev_capwire_bindings_Native_ADDR_INET6 == CW_ADDR_INET6, "Native.ADDR_INET6");
_Static_assert(dev_capwire_bindings_Native_ADDR_MAX_BYTES == CW_ADDR_MAX_BYTES, "Native.ADDR_MAX_BYTES");
_Static_assert(dev_capwire_bindings_Native_ABI_VERSION == CW_ABI_VERSION, "Native.ABI_VERSION");
_Static_assert(dev_capwire_bindings_Native_HANDLE_BYTES == sizeof(int64_t), "Native.HANDLE_BYTES");
_Static_assert(dev_capwire_bindings_Native_MAX_FDS_PER_MESSAGE == CW_MAX_HANDLES, "Native.MAX_FDS_PER_MESSAGE");
_Static_assert(dev_capwire_bindings_Native_BACKEND_EPOLL == CW_BACKEND_EPOLL, "Native.BACKEND_EPOLL");
_Static_assert(dev_capwire_bindings_Native_BACKEND_KQUEUE == CW_BACKEND_KQUEUE, "Native.BACKEND_KQUEUE");
_Static_assert(dev_capwire_bindings_Native_BACKEND_IOCP == CW_BACKEND_IOCP, "Native.BACKEND_IOCP");

#define PTR(address) ((void *)(uintptr_t)(address))

/*
 * Handles cross JNI as 64-bit values everywhere: jlong arguments and results, and arrays of int64 in native
 * memory (Native.HANDLE_BYTES each), so a Windows SOCKET or HANDLE above 2^31 is never truncated. On Unix a
 * value that is no int is no fd: it becomes -1, which every call refuses with EBADF, rather than being
 * truncated into another fd's number. Results are -errno or a handle, which fits either way.
 */
#ifdef _WIN32
#define FD(handle) ((cw_fd)(handle))
#else
#define FD(handle) ((handle) >= 0 && (handle) <= INT32_MAX ? (cw_fd)(handle) : (cw_fd)-1)
#endif

/* Writes handles into Java's int64 array at address (memcpy: the address need not be 8-byte aligned). */
static void put_handles(jlong address, const cw_fd *handles, int count) {
    for (int i = 0; i < count; i++) {
        int64_t value = (int64_t)handles[i];
        memcpy((char *)PTR(address) + (size_t)i * sizeof(value), &value, sizeof(value));
    }
}

static jint abiVersion(JNIEnv *env, jclass cls) {
    (void)env, (void)cls;
    return CW_ABI_VERSION;
}

static jint errnoSymbol(JNIEnv *env, jclass cls, jint index, jlong name, jint name_len) {
    (void)env, (void)cls;
    return cw_errno_symbol(index, PTR(name), (size_t)name_len);
}

static jlong pollerCreate(JNIEnv *env, jclass cls) {
    (void)env, (void)cls;
    cw_poller *poller;
    int rc = cw_poller_create(&poller);
    return rc < 0 ? rc : (jlong)(uintptr_t)poller;
}

static jint pollerAdd(JNIEnv *env, jclass cls, jlong poller, jlong fd, jint interest, jlong token) {
    (void)env, (void)cls;
    return cw_poller_add(PTR(poller), FD(fd), interest, (uint64_t)token);
}

static jint pollerModify(JNIEnv *env, jclass cls, jlong poller, jlong fd, jint interest, jlong token) {
    (void)env, (void)cls;
    return cw_poller_modify(PTR(poller), FD(fd), interest, (uint64_t)token);
}

static jint pollerRemove(JNIEnv *env, jclass cls, jlong poller, jlong fd) {
    (void)env, (void)cls;
    return cw_poller_remove(PTR(poller), FD(fd));
}

static jint pollerWait(JNIEnv *env, jclass cls, jlong poller, jlong events, jint max, jint timeout_ms) {
    (void)env, (void)cls;
    return cw_poller_wait(PTR(poller), PTR(events), max, timeout_ms);
}

static jint pollerWake(JNIEnv *env, jclass cls, jlong poller) {
    (void)env, (void)cls;
    return cw_poller_wake(PTR(poller));
}

static jint pollerClose(JNIEnv *env, jclass cls, jlong poller) {
    (void)env, (void)cls;
    return cw_poller_close(PTR(poller));
}

static jint pollerBackend(JNIEnv *env, jclass cls) {
    (void)env, (void)cls;
    return cw_poller_backend();
}

static jlong socketUnix(JNIEnv *env, jclass cls) {
    (void)env, (void)cls;
    return cw_socket_unix();
}

static jlong socketTcp(JNIEnv *env, jclass cls, jboolean ipv6) {
    (void)env, (void)cls;
    return cw_socket_tcp(ipv6);
}

static jint socketPair(JNIEnv *env, jclass cls, jlong fds) {
    (void)env, (void)cls;
    cw_fd pair[2];
    int rc = cw_socketpair(pair);
    if (rc >= 0) put_handles(fds, pair, 2);
    return rc;
}

static jint pipeFds(JNIEnv *env, jclass cls, jlong fds) {
    (void)env, (void)cls;
    cw_fd pair[2];
    int rc = cw_pipe(pair);
    if (rc >= 0) put_handles(fds, pair, 2);
    return rc;
}

static jlong openFile(JNIEnv *env, jclass cls, jlong path, jint path_len, jboolean write) {
    (void)env, (void)cls;
    return cw_open(PTR(path), (size_t)path_len, write);
}

static jint bindUnix(JNIEnv *env, jclass cls, jlong fd, jlong path, jint path_len) {
    (void)env, (void)cls;
    return cw_bind_unix(FD(fd), PTR(path), (size_t)path_len);
}

static jint connectUnix(JNIEnv *env, jclass cls, jlong fd, jlong path, jint path_len) {
    (void)env, (void)cls;
    return cw_connect_unix(FD(fd), PTR(path), (size_t)path_len);
}

static jint bindInet(JNIEnv *env, jclass cls, jlong fd, jlong addr, jint addr_len, jint port, jint scope) {
    (void)env, (void)cls;
    return cw_bind_inet(FD(fd), PTR(addr), addr_len, port, scope);
}

static jint connectInet(JNIEnv *env, jclass cls, jlong fd, jlong addr, jint addr_len, jint port, jint scope) {
    (void)env, (void)cls;
    return cw_connect_inet(FD(fd), PTR(addr), addr_len, port, scope);
}

static jint listenFd(JNIEnv *env, jclass cls, jlong fd, jint backlog) {
    (void)env, (void)cls;
    return cw_listen(FD(fd), backlog);
}

static jlong acceptFd(JNIEnv *env, jclass cls, jlong fd) {
    (void)env, (void)cls;
    return cw_accept(FD(fd));
}

static jint finishConnect(JNIEnv *env, jclass cls, jlong fd) {
    (void)env, (void)cls;
    return cw_finish_connect(FD(fd));
}

static jint readFd(JNIEnv *env, jclass cls, jlong fd, jlong address, jint length) {
    (void)env, (void)cls;
    return (jint)cw_read(FD(fd), PTR(address), (size_t)length);
}

static jint writeFd(JNIEnv *env, jclass cls, jlong fd, jlong address, jint length) {
    (void)env, (void)cls;
    return (jint)cw_write(FD(fd), PTR(address), (size_t)length);
}

static jlong writevFd(JNIEnv *env, jclass cls, jlong fd, jlong iov, jint iov_count) {
    (void)env, (void)cls;
    return cw_writev(FD(fd), PTR(iov), iov_count);
}

static jint waitReady(JNIEnv *env, jclass cls, jlong fd, jint interest, jint timeout_ms) {
    (void)env, (void)cls;
    return cw_wait_ready(FD(fd), interest, timeout_ms);
}

static jint shutdownFd(JNIEnv *env, jclass cls, jlong fd, jboolean read, jboolean write) {
    (void)env, (void)cls;
    return cw_shutdown(FD(fd), read, write);
}

static jint closeFd(JNIEnv *env, jclass cls, jlong fd) {
    (void)env, (void)cls;
    return cw_close(FD(fd));
}

static jint setOption(JNIEnv *env, jclass cls, jlong fd, jint option, jint value) {
    (void)env, (void)cls;
    return cw_set_option(FD(fd), option, value);
}

static jint getOption(JNIEnv *env, jclass cls, jlong fd, jint option) {
    (void)env, (void)cls;
    return cw_get_option(FD(fd), option);
}

static jint localAddress(JNIEnv *env, jclass cls, jlong fd, jlong out, jint out_len) {
    (void)env, (void)cls;
    return cw_local_address(FD(fd), PTR(out), (size_t)out_len);
}

static jint remoteAddress(JNIEnv *env, jclass cls, jlong fd, jlong out, jint out_len) {
    (void)env, (void)cls;
    return cw_remote_address(FD(fd), PTR(out), (size_t)out_len);
}

static jlong dupFd(JNIEnv *env, jclass cls, jlong fd) {
    (void)env, (void)cls;
    return cw_dup(FD(fd));
}

static jint fdFlags(JNIEnv *env, jclass cls, jlong fd) {
    (void)env, (void)cls;
    return cw_fd_flags(FD(fd));
}

static jint peerCredentials(JNIEnv *env, jclass cls, jlong fd, jlong out) {
    (void)env, (void)cls;
    return cw_peer_credentials(FD(fd), PTR(out));
}

static jlong peerPidfd(JNIEnv *env, jclass cls, jlong fd) {
    (void)env, (void)cls;
    return cw_peer_pidfd(FD(fd));
}

/* The handles to send come as Java's int64 array; they are narrowed here, on the stack (no allocation). */
static jint sendFds(JNIEnv *env, jclass cls, jlong fd, jlong buf, jint len, jlong fds, jint fd_count) {
    (void)env, (void)cls;
    if (fd_count < 0 || fd_count > CW_MAX_HANDLES) return -EINVAL;
    cw_fd handles[CW_MAX_HANDLES];
    for (int i = 0; i < fd_count; i++) {
        int64_t value;
        memcpy(&value, (const char *)PTR(fds) + (size_t)i * sizeof(value), sizeof(value));
        handles[i] = FD(value);
    }
    return (jint)cw_send_fds(FD(fd), PTR(buf), (size_t)len, handles, fd_count);
}

/* The received handles go back as Java's int64 array; the count as an int at fd_count_out. */
static jint recvFds(JNIEnv *env, jclass cls, jlong fd, jlong buf, jint len, jlong fds_out, jint max_fds,
                    jlong fd_count_out) {
    (void)env, (void)cls;
    if (max_fds < 0 || max_fds > CW_MAX_HANDLES) return -EINVAL;
    cw_fd handles[CW_MAX_HANDLES];
    int count = 0;
    jint rc = (jint)cw_recv_fds(FD(fd), PTR(buf), (size_t)len, handles, max_fds, &count);
    put_handles(fds_out, handles, count);
    memcpy(PTR(fd_count_out), &count, sizeof(count));
    return rc;
}

static const JNINativeMethod methods[] = {
    {"abiVersion", "()I", (void *)abiVersion},
    {"errnoSymbol", "(IJI)I", (void *)errnoSymbol},
    {"pollerBackend", "()I", (void *)pollerBackend},
    {"pollerCreate", "()J", (void *)pollerCreate},
    {"pollerAdd", "(JJIJ)I", (void *)pollerAdd},
    {"pollerModify", "(JJIJ)I", (void *)pollerModify},
    {"pollerRemove", "(JJ)I", (void *)pollerRemove},
    {"pollerWait", "(JJII)I", (void *)pollerWait},
    {"pollerWake", "(J)I", (void *)pollerWake},
    {"pollerClose", "(J)I", (void *)pollerClose},
    {"socketUnix", "()J", (void *)socketUnix},
    {"socketTcp", "(Z)J", (void *)socketTcp},
    {"socketPair", "(J)I", (void *)socketPair},
    {"pipe", "(J)I", (void *)pipeFds},
    {"open", "(JIZ)J", (void *)openFile},
    {"bindUnix", "(JJI)I", (void *)bindUnix},
    {"connectUnix", "(JJI)I", (void *)connectUnix},
    {"bindInet", "(JJIII)I", (void *)bindInet},
    {"connectInet", "(JJIII)I", (void *)connectInet},
    {"listen", "(JI)I", (void *)listenFd},
    {"accept", "(J)J", (void *)acceptFd},
    {"finishConnect", "(J)I", (void *)finishConnect},
    {"read", "(JJI)I", (void *)readFd},
    {"write", "(JJI)I", (void *)writeFd},
    {"writev", "(JJI)J", (void *)writevFd},
    {"waitReady", "(JII)I", (void *)waitReady},
    {"shutdown", "(JZZ)I", (void *)shutdownFd},
    {"close", "(J)I", (void *)closeFd},
    {"setOption", "(JII)I", (void *)setOption},
    {"getOption", "(JI)I", (void *)getOption},
    {"localAddress", "(JJI)I", (void *)localAddress},
    {"remoteAddress", "(JJI)I", (void *)remoteAddress},
    {"dup", "(J)J", (void *)dupFd},
    {"fdFlags", "(J)I", (void *)fdFlags},
    {"peerCredentials", "(JJ)I", (void *)peerCredentials},
    {"peerPidfd", "(J)J", (void *)peerPidfd},
    {"sendFds", "(JJIJI)I", (void *)sendFds},
    {"recvFds", "(JJIJIJ)I", (void *)recvFds},
};

#define DEFAULT_CLASS "dev/capwire/bindings/Native"

/*
 * This library's own file name (the shading prefix is read from it), found from the address of one of its
 * functions. Linux walks the loaded objects with dl_iterate_phdr rather than calling dladdr: dladdr moved
 * into libc in glibc 2.34 and would make the library refuse to load on any older system
 * (ci/check-glibc.sh guards the floor). macOS and the BSDs have dladdr in libc; Windows asks for the
 * module that holds the address.
 */
#if defined(__linux__)
struct self_lookup {
    uintptr_t address;
    char file[512];
};

static int find_self(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct self_lookup *lookup = data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + segment->p_vaddr;
        if (segment->p_type == PT_LOAD && lookup->address >= start && lookup->address < start + segment->p_memsz) {
            snprintf(lookup->file, sizeof(lookup->file), "%s", info->dlpi_name);
            return 1;
        }
    }
    return 0;
}

static int own_file(char *out, size_t out_len) {
    struct self_lookup self = {.address = (uintptr_t)find_self, .file = {0}};
    if (dl_iterate_phdr(find_self, &self) != 1) return -ENOENT;
    snprintf(out, out_len, "%s", self.file);
    return 0;
}
#elif defined(_WIN32)
static int own_file(char *out, size_t out_len) {
    HMODULE self = NULL;
    if (!GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                            (LPCSTR)(uintptr_t)own_file, &self)) {
        return -ENOENT;
    }
    DWORD len = GetModuleFileNameA(self, out, (DWORD)out_len);
    if (len == 0 || len >= out_len) return -ENAMETOOLONG;
    return 0;
}
#else
static int own_file(char *out, size_t out_len) {
    Dl_info info;
    if (dladdr((const void *)(uintptr_t)own_file, &info) == 0 || info.dli_fname == NULL) return -ENOENT;
    snprintf(out, out_len, "%s", info.dli_fname);
    return 0;
}
#endif

static jclass find_native_class(JNIEnv *env) {
    char file[512], name[512];
    if (own_file(file, sizeof(file)) == 0 && cw_native_class_name(file, name, sizeof(name)) > 0) {
        jclass cls = (*env)->FindClass(env, name);
        if (cls != NULL) return cls;
        (*env)->ExceptionClear(env);
    }
    return (*env)->FindClass(env, DEFAULT_CLASS);
}

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved) {
    (void)reserved;
    JNIEnv *env;
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_8) != JNI_OK) return JNI_ERR;
    jclass cls = find_native_class(env);
    if (cls == NULL) return JNI_ERR; /* FindClass left a NoClassDefFoundError pending: it names the class */
    jint count = (jint)(sizeof(methods) / sizeof(methods[0]));
    if ((*env)->RegisterNatives(env, cls, methods, count) != 0) return JNI_ERR;
    return JNI_VERSION_1_8;
}
