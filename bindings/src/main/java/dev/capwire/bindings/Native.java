package dev.capwire.bindings;

/**
 * The JNI surface of libcapwire: static natives over primitives only (ints, longs and addresses of direct
 * buffers). Each returns a non-negative result, or {@code -errno} on failure; nothing here throws or
 * allocates. Callers that want exceptions use {@link Errors#check}; the transport's hot path calls these
 * directly.
 *
 * <p>Handles are longs everywhere: an fd on Unix, a {@code SOCKET} or {@code HANDLE} on Windows, which is
 * pointer-sized. Calls that create one return it as a long (or {@code -errno}), and arrays of handles in
 * native memory ({@link #socketPair}, {@link #pipe}, {@link #sendFds}, {@link #recvFds}) hold
 * {@link #HANDLE_BYTES} per handle in native order, so no handle is ever truncated. On Unix a value that is
 * not an int is no fd, and every call refuses it with {@code EBADF}.
 *
 * <p>The constants are shared with C: {@code javac -h} turns them into macros that the C glue checks with
 * static assertions, so the two sides cannot drift apart.
 */
public final class Native {
    /** Bumped whenever a native's signature or a shared layout changes. */
    public static final int ABI_VERSION = 3;

    /** The poller back end compiled into the loaded library ({@link #pollerBackend}). */
    public static final int BACKEND_EPOLL = 1;
    public static final int BACKEND_KQUEUE = 2;
    public static final int BACKEND_IOCP = 3;

    public static final int INTEREST_READ = 1;
    public static final int INTEREST_WRITE = 2;

    public static final int READY_READ = 1;
    public static final int READY_WRITE = 2;
    public static final int READY_HANGUP = 4;
    public static final int READY_ERROR = 8;

    /** One poller event: token (8 bytes, native order), ready bits (4), reserved (4). */
    public static final int EVENT_BYTES = 16;
    /** One iovec for {@link #writev}: address (8 bytes), length (8), native order. */
    public static final int IOV_BYTES = 16;

    public static final int OPT_SNDBUF = 1;
    public static final int OPT_RCVBUF = 2;
    public static final int OPT_TCP_NODELAY = 3;
    public static final int OPT_REUSEADDR = 4;

    public static final int ADDR_UNIX = 1;
    public static final int ADDR_INET4 = 2;
    public static final int ADDR_INET6 = 3;
    /** Normalized address record: kind, port, scope id, byte length (4 ints), then up to 108 bytes. */
    public static final int ADDR_MAX_BYTES = 16 + 108;

    /** Bytes of one handle in native memory: a native-order 64-bit value. */
    public static final int HANDLE_BYTES = 8;

    /** The most fds one message may carry (the kernel's SCM_MAX_FD). */
    public static final int MAX_FDS_PER_MESSAGE = 253;

    static {
        NativeLibrary.load();
        int abi = abiVersion();
        if (abi != ABI_VERSION) {
            throw new LinkageError("libcapwire ABI " + abi + " does not match the Java bindings' ABI "
                    + ABI_VERSION + ": a stale library was loaded (check -Dlibrary.capwire.path)");
        }
    }

    private Native() {
    }

    /** Forces the library to load; throws {@link UnsatisfiedLinkError} with the reasons if it cannot. */
    public static void ensureLoaded() {
        // Running this method runs the static initializer, which loads the library.
    }

    public static native int abiVersion();

    public static native int errnoSymbol(int index, long nameAddress, int nameLength);

    /** {@link #BACKEND_EPOLL}, {@link #BACKEND_KQUEUE} or {@link #BACKEND_IOCP}. */
    public static native int pollerBackend();

    /** Returns the poller handle, or {@code -errno}. */
    public static native long pollerCreate();

    public static native int pollerAdd(long poller, long fd, int interest, long token);

    public static native int pollerModify(long poller, long fd, int interest, long token);

    public static native int pollerRemove(long poller, long fd);

    public static native int pollerWait(long poller, long eventsAddress, int maxEvents, int timeoutMs);

    public static native int pollerWake(long poller);

    public static native int pollerClose(long poller);

    public static native long socketUnix();

    public static native long socketTcp(boolean ipv6);

    /** Writes two connected Unix stream socket fds (two handles of {@link #HANDLE_BYTES}) at {@code fdsAddress}. */
    public static native int socketPair(long fdsAddress);

    /** Writes a pipe's read and write fds (two handles of {@link #HANDLE_BYTES}) at {@code fdsAddress}. */
    public static native int pipe(long fdsAddress);

    public static native long open(long pathAddress, int pathLength, boolean write);

    public static native int bindUnix(long fd, long pathAddress, int pathLength);

    public static native int connectUnix(long fd, long pathAddress, int pathLength);

    public static native int bindInet(long fd, long addressAddress, int addressLength, int port, int scopeId);

    public static native int connectInet(long fd, long addressAddress, int addressLength, int port, int scopeId);

    public static native int listen(long fd, int backlog);

    public static native long accept(long fd);

    public static native int finishConnect(long fd);

    public static native int read(long fd, long address, int length);

    public static native int write(long fd, long address, int length);

    public static native long writev(long fd, long iovAddress, int iovCount);

    /** Blocks up to {@code timeoutMs} (-1: forever) for readiness; returns READY_* bits, 0 on timeout. */
    public static native int waitReady(long fd, int interest, int timeoutMs);

    public static native int shutdown(long fd, boolean read, boolean write);

    public static native int close(long fd);

    public static native int setOption(long fd, int option, int value);

    public static native int getOption(long fd, int option);

    public static native int localAddress(long fd, long outAddress, int outLength);

    public static native int remoteAddress(long fd, long outAddress, int outLength);

    /** A close-on-exec duplicate of {@code fd}. */
    public static native long dup(long fd);

    public static native int fdFlags(long fd);

    /** Writes pid, uid, gid as three native-order longs at {@code outAddress}, -1 where unknown. */
    public static native int peerCredentials(long fd, long outAddress);

    /**
     * A close-on-exec pidfd for the peer process of a connected Unix socket (Linux 6.5+ {@code SO_PEERPIDFD}),
     * or {@code -ENOPROTOOPT} where the kernel or platform has none.
     */
    public static native long peerPidfd(long fd);

    /** Sends bytes with {@code fdCount} handles ({@link #HANDLE_BYTES} each) read from {@code fdsAddress}. */
    public static native int sendFds(long fd, long address, int length, long fdsAddress, int fdCount);

    /**
     * Receives bytes and fds: the fds are written at {@code fdsAddress} ({@link #HANDLE_BYTES} each), their
     * number as an int at {@code fdCountAddress}.
     */
    public static native int recvFds(long fd, long address, int length, long fdsAddress, int maxFds,
            long fdCountAddress);
}
