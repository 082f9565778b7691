package dev.capwire.bench;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.bindings.PeerCredentials;
import dev.capwire.bindings.StartupChecks;
import dev.capwire.bindings.UnixAddress;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Capwire end to end, in two processes: this JVM listens on a Unix socket and starts a child JVM that
 * connects to it. The parent asks the kernel who connected (pid, uid, gid), hands the child the write end
 * of a pipe over the socket, and prints the greeting the child writes into that pipe.
 */
public final class Demo {
    private static final long TIMEOUT_MS = 30_000;
    private static final String CHILD = "child";

    /** What the parent saw: whom it started, whom the kernel says connected, and what came through the pipe. */
    record Outcome(long childPid, PeerCredentials peer, String greeting) {
    }

    private Demo() {
    }

    public static void main(String[] args) throws Exception {
        StartupChecks.run();
        if (args.length == 2 && args[0].equals(CHILD)) {
            child(UnixAddress.path(Path.of(args[1])));
        } else {
            parent(System.out);
        }
    }

    static Outcome parent(PrintStream out) throws IOException, InterruptedException {
        Path directory = Files.createTempDirectory("capwire-demo");
        Path socketPath = directory.resolve("demo.sock");
        try (NativeSocket server = NativeSocket.listen(UnixAddress.path(socketPath), 1)) {
            out.println("parent pid " + ProcessHandle.current().pid() + " listening on " + socketPath);
            Process child = startChild(socketPath);
            try (NativeSocket connection = server.accept(TIMEOUT_MS)) {
                if (connection == null) {
                    throw new IllegalStateException("the child did not connect within " + TIMEOUT_MS + " ms");
                }
                PeerCredentials peer = connection.peerCredentials();
                out.println("child pid " + child.pid() + " connected; kernel-verified peer (SO_PEERCRED): " + peer);
                String greeting = greetingThroughPipe(connection);
                out.println("the child wrote through the pipe we passed it: " + greeting);
                requireExitedCleanly(child);
                return new Outcome(child.pid(), peer, greeting);
            } finally {
                child.destroyForcibly();
            }
        } finally {
            Files.deleteIfExists(socketPath);
            Files.delete(directory);
        }
    }

    private static Process startChild(Path socketPath) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(JvmFlags.all());
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), Demo.class.getName(), CHILD,
                socketPath.toString()));
        return new ProcessBuilder(command).inheritIO().start();
    }

    /** Sends the write end of a new pipe to the peer and reads what arrives on the read end until the peer closes it. */
    private static String greetingThroughPipe(NativeSocket connection) throws NativeIoException {
        FileDescriptor[] pipe = FileDescriptor.pipe();
        try (FileDescriptor readEnd = pipe[0]) {
            // Our copy of the write end must close, or the read end would never see end of input.
            try (FileDescriptor writeEnd = pipe[1]) {
                // An fd travels attached to data: one byte carries it.
                if (connection.send(ByteBuffer.allocateDirect(1), writeEnd) != 1) {
                    throw new IllegalStateException("could not send the pipe to the child");
                }
            }
            ByteBuffer text = ByteBuffer.allocateDirect(4096);
            while (text.hasRemaining()) {
                if (!readEnd.awaitReadable(TIMEOUT_MS)) {
                    throw new IllegalStateException("no greeting within " + TIMEOUT_MS + " ms");
                }
                if (readEnd.read(text) < 0) {
                    break;
                }
            }
            byte[] bytes = new byte[text.flip().remaining()];
            text.get(bytes);
            return new String(bytes, StandardCharsets.UTF_8);
        }
    }

    private static void requireExitedCleanly(Process child) throws InterruptedException {
        if (!child.waitFor(TIMEOUT_MS, TimeUnit.MILLISECONDS) || child.exitValue() != 0) {
            throw new IllegalStateException("the child did not exit cleanly");
        }
    }

    /** The child: connect, receive the pipe, write a greeting into it, close it. */
    private static void child(UnixAddress address) throws NativeIoException {
        try (NativeSocket socket = NativeSocket.connect(address, TIMEOUT_MS)) {
            if (!socket.fd().awaitReadable(TIMEOUT_MS)) {
                throw new IllegalStateException("the parent sent no pipe within " + TIMEOUT_MS + " ms");
            }
            FileDescriptor[] fds = socket.receive(ByteBuffer.allocateDirect(1), 1).fds();
            if (fds.length != 1) {
                throw new IllegalStateException("expected one fd from the parent, got " + fds.length);
            }
            try (FileDescriptor pipe = fds[0]) {
                String greeting = "hello from pid " + ProcessHandle.current().pid() + ", written into "
                        + pipe + ", the pipe that arrived over the socket";
                ByteBuffer bytes = ByteBuffer.allocateDirect(greeting.length() * 4)
                        .put(greeting.getBytes(StandardCharsets.UTF_8)).flip();
                while (bytes.hasRemaining()) {
                    pipe.write(bytes);
                }
            }
        }
    }
}
