package dev.capwire.bindings;

import java.net.Inet6Address;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * A non-blocking, close-on-exec stream socket (Unix-domain or TCP) over libcapwire, for control-path use,
 * tests and tools. Reads and writes never block: they return 0 when they would. The transport's event loop
 * calls {@link Native} directly instead.
 */
public final class NativeSocket implements AutoCloseable {
    private final FileDescriptor fd;
    private final SocketAddress boundTo;

    private NativeSocket(FileDescriptor fd, SocketAddress boundTo) {
        this.fd = fd;
        this.boundTo = boundTo;
    }

    /** Wraps an fd that is known to be a connected or listening socket (for example one received by fd passing). */
    public static NativeSocket adopt(FileDescriptor fd) {
        return new NativeSocket(fd, null);
    }

    /** Binds and listens on a Unix path or abstract name ({@link UnixAddress}, {@link UnixDomainSocketAddress}) or TCP. */
    public static NativeSocket listen(SocketAddress address, int backlog) throws NativeIoException {
        SocketAddress target = normalize(address);
        FileDescriptor fd = FileDescriptor.adopt(Errors.check(open(target), "socket", target));
        try {
            long number = fd.acquire();
            try {
                if (target instanceof InetSocketAddress) {
                    Errors.check(Native.setOption(number, Native.OPT_REUSEADDR, 1), "setsockopt(SO_REUSEADDR)", target);
                }
                Errors.check(bindOrConnect(number, target, true), "bind", target);
                Errors.check(Native.listen(number, backlog), "listen", target);
            } finally {
                fd.release();
            }
            return new NativeSocket(fd, target);
        } catch (NativeIoException | RuntimeException e) {
            fd.close();
            throw e;
        }
    }

    /** Connects, waiting at most {@code timeoutMs} for the connection to complete. */
    public static NativeSocket connect(SocketAddress address, long timeoutMs) throws NativeIoException {
        SocketAddress target = normalize(address);
        FileDescriptor fd = FileDescriptor.adopt(Errors.check(open(target), "socket", target));
        try {
            long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
            long number = fd.acquire();
            try {
                int result = bindOrConnect(number, target, false);
                // A full Unix listen backlog answers EAGAIN, not EINPROGRESS: retry until the deadline.
                while (result == -Errno.EAGAIN && System.nanoTime() < deadline) {
                    Thread.onSpinWait();
                    result = bindOrConnect(number, target, false);
                }
                if (result == -Errno.EINPROGRESS) {
                    long remainingMs = Math.max(0, (deadline - System.nanoTime()) / 1_000_000L);
                    if (!fd.awaitWritable(remainingMs)) {
                        throw Errors.exception("connect", Errno.ETIMEDOUT, target);
                    }
                    result = Native.finishConnect(number);
                }
                Errors.check(result, "connect", target);
            } finally {
                fd.release();
            }
            return new NativeSocket(fd, null);
        } catch (NativeIoException | RuntimeException e) {
            fd.close();
            throw e;
        }
    }

    /** A connected pair of Unix stream sockets. */
    public static NativeSocket[] pair() throws NativeIoException {
        ByteBuffer scratch = Scratch.buffer();
        Errors.check(Native.socketPair(Scratch.address()), "socketpair", null);
        return new NativeSocket[] {
            adopt(FileDescriptor.adopt(scratch.getLong(0))),
            adopt(FileDescriptor.adopt(scratch.getLong(Native.HANDLE_BYTES)))
        };
    }

    private static SocketAddress normalize(SocketAddress address) {
        if (address instanceof UnixDomainSocketAddress) {
            return UnixAddress.path(((UnixDomainSocketAddress) address).getPath());
        }
        if (address instanceof UnixAddress) {
            return address;
        }
        if (address instanceof InetSocketAddress) {
            InetSocketAddress inet = (InetSocketAddress) address;
            if (inet.isUnresolved()) {
                throw new IllegalArgumentException("unresolved address: " + inet);
            }
            return inet;
        }
        throw new IllegalArgumentException("unsupported address type: " + address);
    }

    private static long open(SocketAddress address) {
        if (address instanceof UnixAddress) {
            return Native.socketUnix();
        }
        return Native.socketTcp(((InetSocketAddress) address).getAddress() instanceof Inet6Address);
    }

    private static int bindOrConnect(long fd, SocketAddress address, boolean bind) {
        if (address instanceof UnixAddress) {
            int length = Scratch.put(((UnixAddress) address).bytes());
            return bind ? Native.bindUnix(fd, Scratch.address(), length) : Native.connectUnix(fd, Scratch.address(), length);
        }
        InetSocketAddress inet = (InetSocketAddress) address;
        byte[] ip = inet.getAddress().getAddress();
        int scope = inet.getAddress() instanceof Inet6Address ? ((Inet6Address) inet.getAddress()).getScopeId() : 0;
        int length = Scratch.put(ip);
        return bind
                ? Native.bindInet(fd, Scratch.address(), length, inet.getPort(), scope)
                : Native.connectInet(fd, Scratch.address(), length, inet.getPort(), scope);
    }

    /** Accepts one pending connection, or returns null when none is pending. */
    public NativeSocket accept() throws NativeIoException {
        long number = fd.acquire();
        try {
            long result = Native.accept(number);
            if (result == -Errno.EAGAIN) {
                return null;
            }
            return new NativeSocket(FileDescriptor.adopt(Errors.check(result, "accept", boundTo)), null);
        } finally {
            fd.release();
        }
    }

    /** Accepts one connection, waiting up to {@code timeoutMs}; null on timeout. */
    public NativeSocket accept(long timeoutMs) throws NativeIoException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        for (;;) {
            NativeSocket accepted = accept();
            long remainingMs = (deadline - System.nanoTime()) / 1_000_000L;
            if (accepted != null || remainingMs <= 0) {
                return accepted;
            }
            fd.awaitReadable(remainingMs);
        }
    }

    public FileDescriptor fd() {
        return fd;
    }

    /** See {@link FileDescriptor#read}: -1 at end of input, 0 if it would block. */
    public int read(ByteBuffer buffer) throws NativeIoException {
        return fd.read(buffer);
    }

    /** See {@link FileDescriptor#write}: 0 if it would block; a gone peer throws, never raises SIGPIPE. */
    public int write(ByteBuffer buffer) throws NativeIoException {
        return fd.write(buffer);
    }

    /**
     * Sends the buffer's remaining bytes with {@code fds} attached, in one sendmsg. The fds arrive with the
     * first byte sent; returns the bytes sent, 0 if it would block (nothing, not even the fds, was sent).
     */
    public int send(ByteBuffer buffer, FileDescriptor... fds) throws NativeIoException {
        if (fds.length > Native.MAX_FDS_PER_MESSAGE) {
            throw new IllegalArgumentException("at most " + Native.MAX_FDS_PER_MESSAGE + " fds per message");
        }
        long number = fd.acquire();
        int acquired = 0;
        try {
            ByteBuffer scratch = Scratch.buffer();
            for (; acquired < fds.length; acquired++) {
                scratch.putLong(acquired * Native.HANDLE_BYTES, fds[acquired].acquire());
            }
            int result = Native.sendFds(number, Scratch.addressOf(buffer) + buffer.position(), buffer.remaining(),
                    Scratch.address(), fds.length);
            if (result == -Errno.EAGAIN) {
                return 0;
            }
            Errors.check(result, "sendmsg", this);
            buffer.position(buffer.position() + result);
            return result;
        } finally {
            for (int i = 0; i < acquired; i++) {
                fds[i].release();
            }
            fd.release();
        }
    }

    /**
     * Receives into the buffer's remaining space with room for up to {@code maxFds} descriptors. If more
     * arrive than that, all of them are closed and {@link NativeIoException.FdsTruncatedException} is thrown.
     */
    public Received receive(ByteBuffer buffer, int maxFds) throws NativeIoException {
        if (maxFds < 0 || maxFds > Native.MAX_FDS_PER_MESSAGE) {
            throw new IllegalArgumentException("maxFds must be 0.." + Native.MAX_FDS_PER_MESSAGE);
        }
        long number = fd.acquire();
        try {
            ByteBuffer scratch = Scratch.buffer();
            long fdsAddress = Scratch.address();
            long countAddress = fdsAddress + Native.MAX_FDS_PER_MESSAGE * (long) Native.HANDLE_BYTES;
            int result = Native.recvFds(number, Scratch.addressOf(buffer) + buffer.position(), buffer.remaining(),
                    fdsAddress, maxFds, countAddress);
            if (result == -Errno.EAGAIN) {
                return Received.NOTHING;
            }
            Errors.check(result, "recvmsg", this);
            int count = scratch.getInt(Native.MAX_FDS_PER_MESSAGE * Native.HANDLE_BYTES);
            FileDescriptor[] fds = new FileDescriptor[count];
            for (int i = 0; i < count; i++) {
                fds[i] = FileDescriptor.adopt(scratch.getLong(i * Native.HANDLE_BYTES));
            }
            buffer.position(buffer.position() + result);
            return new Received(result == 0 && buffer.hasRemaining() ? -1 : result, fds);
        } finally {
            fd.release();
        }
    }

    /** The kernel-verified credentials of the peer process (Unix-domain sockets). */
    public PeerCredentials peerCredentials() throws NativeIoException {
        long number = fd.acquire();
        try {
            ByteBuffer scratch = Scratch.buffer();
            Errors.check(Native.peerCredentials(number, Scratch.address()),
                    "peer credentials (" + Platform.current().credentialsMechanism() + ")", this);
            return new PeerCredentials(scratch.getLong(0), scratch.getLong(8), scratch.getLong(16));
        } finally {
            fd.release();
        }
    }

    /**
     * A pidfd for the peer process (Linux 6.5+ {@code SO_PEERPIDFD}): unlike the pid of
     * {@link #peerCredentials()} it cannot come to name another process once the peer exits and its pid is
     * reused. Empty where the kernel (before 6.5) or the platform has none; the pid is then all a policy has.
     * The caller owns the returned descriptor and closes it.
     */
    public java.util.Optional<FileDescriptor> peerPidfd() throws NativeIoException {
        long number = fd.acquire();
        try {
            long result = Native.peerPidfd(number);
            if (result == -Errno.ENOPROTOOPT) {
                return java.util.Optional.empty();
            }
            return java.util.Optional.of(FileDescriptor.adopt(Errors.check(result, "getsockopt(SO_PEERPIDFD)", this)));
        } finally {
            fd.release();
        }
    }

    public SocketAddress localAddress() throws NativeIoException {
        return address(true);
    }

    public SocketAddress remoteAddress() throws NativeIoException {
        return address(false);
    }

    private SocketAddress address(boolean local) throws NativeIoException {
        long number = fd.acquire();
        try {
            ByteBuffer scratch = Scratch.buffer();
            long out = Scratch.address();
            int result = local
                    ? Native.localAddress(number, out, Native.ADDR_MAX_BYTES)
                    : Native.remoteAddress(number, out, Native.ADDR_MAX_BYTES);
            Errors.check(result, local ? "getsockname" : "getpeername", this);
            return decodeAddress(scratch);
        } finally {
            fd.release();
        }
    }

    private static SocketAddress decodeAddress(ByteBuffer record) throws NativeIoException {
        int kind = record.getInt(0);
        int port = record.getInt(4);
        int scope = record.getInt(8);
        byte[] bytes = new byte[record.getInt(12)];
        record.get(16, bytes);
        if (kind == Native.ADDR_UNIX) {
            return UnixAddress.ofRaw(bytes);
        }
        try {
            // Scope 0 is no scope: given explicitly, Inet6Address would print "::1%0", unlike the JDK's sockets.
            java.net.InetAddress ip = kind == Native.ADDR_INET6 && scope != 0
                    ? Inet6Address.getByAddress(null, bytes, scope)
                    : java.net.InetAddress.getByAddress(bytes);
            return new InetSocketAddress(ip, port);
        } catch (java.net.UnknownHostException e) {
            throw new IllegalStateException("malformed address record " + Arrays.toString(bytes), e);
        }
    }

    /** Sets a {@code Native.OPT_*} option. */
    public void setOption(int option, int value) throws NativeIoException {
        long number = fd.acquire();
        try {
            Errors.check(Native.setOption(number, option, value), "setsockopt", this);
        } finally {
            fd.release();
        }
    }

    public int getOption(int option) throws NativeIoException {
        long number = fd.acquire();
        try {
            return Errors.check(Native.getOption(number, option), "getsockopt", this);
        } finally {
            fd.release();
        }
    }

    public void shutdownOutput() throws NativeIoException {
        shutdown(false, true);
    }

    public void shutdownInput() throws NativeIoException {
        shutdown(true, false);
    }

    private void shutdown(boolean read, boolean write) throws NativeIoException {
        long number = fd.acquire();
        try {
            Errors.check(Native.shutdown(number, read, write), "shutdown", this);
        } finally {
            fd.release();
        }
    }

    @Override
    public void close() {
        fd.close();
    }

    @Override
    public String toString() {
        return "socket " + fd + (boundTo != null ? " on " + boundTo : "");
    }

    /** What one {@link #receive} got: a byte count (-1 at end of input, 0 if nothing was ready) and the fds. */
    public static final class Received {
        static final Received NOTHING = new Received(0, new FileDescriptor[0]);

        private final int bytes;
        private final FileDescriptor[] fds;

        Received(int bytes, FileDescriptor[] fds) {
            this.bytes = bytes;
            this.fds = fds;
        }

        public int bytes() {
            return bytes;
        }

        /** The received descriptors, owned by the caller from now on. */
        public FileDescriptor[] fds() {
            return fds.clone();
        }
    }
}
