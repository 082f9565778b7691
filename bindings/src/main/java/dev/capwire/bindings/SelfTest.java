package dev.capwire.bindings;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * What works on this host: loads the native library and tries each capability once for real (the poller
 * back end and its wake-up, peer credentials, a pidfd for the peer, fd passing, TCP loopback), printing one
 * line per check. Run it when a
 * deployment misbehaves:
 *
 * <pre>java --add-opens java.base/jdk.internal.misc=ALL-UNNAMED -cp CLASSPATH dev.capwire.bindings.SelfTest</pre>
 *
 * It exits 0 when every check passed, 1 otherwise.
 */
public final class SelfTest {
    private SelfTest() {
    }

    /** One check's outcome: its name, whether it worked, and what it saw. */
    public record Check(String name, boolean passed, String detail) {
        @Override
        public String toString() {
            return (passed ? "ok    " : "FAILED") + "  " + name + ": " + detail;
        }
    }

    private interface Probe {
        String run() throws Exception;
    }

    public static void main(String[] args) {
        System.out.println("Capwire self-test on os.name=" + System.getProperty("os.name") + ", os.arch="
                + System.getProperty("os.arch") + ", java " + System.getProperty("java.version"));
        List<Check> checks = run();
        checks.forEach(System.out::println);
        System.exit(checks.stream().allMatch(Check::passed) ? 0 : 1);
    }

    /** Runs every check; a check that throws is reported as failed with the exception, never thrown on. */
    public static List<Check> run() {
        List<Check> checks = new ArrayList<>();
        checks.add(check("native library", () -> {
            Native.ensureLoaded();
            return "libcapwire ABI " + Native.abiVersion() + " loaded for " + Platform.current();
        }));
        if (!checks.get(0).passed()) {
            return checks; // nothing else can work without it
        }
        checks.add(check("poller", SelfTest::poller));
        checks.add(check("peer credentials", SelfTest::credentials));
        checks.add(check("peer pidfd", SelfTest::peerPidfd));
        checks.add(check("fd passing", SelfTest::fdPassing));
        checks.add(check("tcp loopback", SelfTest::tcpLoopback));
        return checks;
    }

    private static Check check(String name, Probe probe) {
        try {
            return new Check(name, true, probe.run());
        } catch (Throwable failure) {
            return new Check(name, false, String.valueOf(failure));
        }
    }

    private static String poller() throws Exception {
        try (Poller poller = new Poller(4)) {
            poller.wake();
            long start = System.nanoTime();
            int events = poller.await(5000);
            long micros = (System.nanoTime() - start) / 1000;
            if (events != 0 || micros > 4_000_000) {
                throw new IllegalStateException("a wake-up did not end the wait (" + events + " events, " + micros + " us)");
            }
            return backendName(Native.pollerBackend()) + " wait ended by its wake-up in " + micros + " us";
        }
    }

    static String backendName(int backend) {
        return switch (backend) {
            case Native.BACKEND_EPOLL -> "epoll";
            case Native.BACKEND_KQUEUE -> "kqueue";
            case Native.BACKEND_IOCP -> "IOCP (AFD poll)";
            default -> "unknown back end " + backend;
        };
    }

    private static String credentials() throws Exception {
        String mechanism = Platform.current().credentialsMechanism();
        NativeSocket[] pair = NativeSocket.pair();
        try (NativeSocket a = pair[0]; NativeSocket b = pair[1]) {
            PeerCredentials peer = a.peerCredentials();
            long self = ProcessHandle.current().pid();
            // getpeereid (the BSDs) gives no pid: unknown there, but never another process's.
            boolean pidExpected = !mechanism.equals("getpeereid");
            if ((pidExpected ? peer.pid().orElse(-1) != self : peer.pid().isPresent() && peer.pid().getAsLong() != self)
                    || !peer.equals(b.peerCredentials())) {
                throw new IllegalStateException(mechanism + " reported " + peer + ", this process is " + self);
            }
            return mechanism + ": " + peer;
        }
    }

    private static String peerPidfd() throws Exception {
        NativeSocket[] pair = NativeSocket.pair();
        try (NativeSocket a = pair[0]; NativeSocket b = pair[1]) {
            java.util.Optional<FileDescriptor> pidfd = a.peerPidfd();
            if (pidfd.isEmpty()) {
                return "none here (SO_PEERPIDFD needs Linux 6.5+): policies get the peer's pid only";
            }
            try (FileDescriptor owned = pidfd.get()) {
                return "SO_PEERPIDFD: a pidfd for the peer (close-on-exec " + owned.isCloseOnExec() + ")";
            }
        }
    }

    private static String fdPassing() throws Exception {
        NativeSocket[] pair = NativeSocket.pair();
        FileDescriptor[] pipe = FileDescriptor.pipe();
        try (NativeSocket a = pair[0]; NativeSocket b = pair[1]; FileDescriptor readEnd = pipe[0];
                FileDescriptor writeEnd = pipe[1]) {
            ByteBuffer one = ByteBuffer.allocateDirect(1).put(0, (byte) 42);
            if (a.send(one, writeEnd) != 1) {
                throw new IllegalStateException("sendmsg sent nothing");
            }
            b.fd().awaitReadable(5000);
            NativeSocket.Received received = b.receive(ByteBuffer.allocateDirect(1), 4);
            FileDescriptor[] fds = received.fds();
            if (fds.length != 1) {
                throw new IllegalStateException(fds.length + " fds arrived, 1 was sent");
            }
            try (FileDescriptor passed = fds[0]) {
                passed.write(ByteBuffer.allocateDirect(3).put(0, (byte) 'c').put(1, (byte) 'w').put(2, (byte) '!'));
                ByteBuffer back = ByteBuffer.allocateDirect(3);
                readEnd.read(back);
                if (back.position() != 3 || back.get(0) != 'c') {
                    throw new IllegalStateException("bytes written through the passed fd did not come out of the pipe");
                }
                return "SCM_RIGHTS: a pipe passed over a socket carried bytes (close-on-exec "
                        + passed.isCloseOnExec() + ")";
            }
        }
    }

    private static String tcpLoopback() throws Exception {
        try (NativeSocket listener = NativeSocket.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 1)) {
            try (NativeSocket client = NativeSocket.connect(listener.localAddress(), 5000);
                    NativeSocket server = listener.accept(5000)) {
                if (server == null) {
                    throw new IllegalStateException("no connection accepted");
                }
                return "connected " + client.localAddress() + " to " + server.localAddress();
            }
        }
    }
}
