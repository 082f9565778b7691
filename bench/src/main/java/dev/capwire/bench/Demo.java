package dev.capwire.bench;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.PeerCredentials;
import dev.capwire.bindings.StartupChecks;
import dev.capwire.examples.RpcExample.Counter;
import dev.capwire.examples.RpcExample.Greeter;
import dev.capwire.examples.RpcExample.LocalGreeter;
import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.HandshakeServer;
import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.handshake.Service;
import dev.capwire.rpc.CallContext;
import dev.capwire.rpc.IfExists;
import dev.capwire.rpc.Rpc;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Capwire end to end, in two processes: this JVM serves the {@link Greeter} cap on a Unix socket and starts a
 * child JVM that connects, checks in through the handshake, and uses the cap: a call, a cap it gets back, a
 * server stream, and a pipe fd returned by a method. The parent prints what the child did (with the time each
 * step took) and whom the kernel says called.
 */
public final class Demo {
    private static final long TIMEOUT_MS = 30_000;
    private static final String CHILD = "child";

    /** What the parent saw: whom it started, whom its handler saw calling, and the child's greeting reply. */
    record Outcome(long childPid, PeerCredentials peer, String greeting) {
    }

    private Demo() {
    }

    public static void main(String[] args) throws Exception {
        StartupChecks.run();
        if (args.length == 2 && args[0].equals(CHILD)) {
            child(Endpoint.parse(args[1]));
        } else {
            parent(System.out);
        }
    }

    /** The handler of the demo's greeter also notes who called, for the parent to print. */
    private static final class WatchedGreeter implements Greeter {
        private final LocalGreeter greeter = new LocalGreeter();
        private volatile PeerCredentials caller;

        @Override
        public String greet(String name) {
            caller = CallContext.current().peer();
            return greeter.greet(name);
        }

        @Override
        public Counter counter() {
            return greeter.counter();
        }

        @Override
        public void countdown(String from, dev.capwire.rpc.StreamSink<String> out) {
            greeter.countdown(from, out);
        }

        @Override
        public FileDescriptor motd() {
            return greeter.motd();
        }
    }

    static Outcome parent(PrintStream out) throws Exception {
        Path directory = Files.createTempDirectory("capwire-demo");
        Endpoint endpoint = Endpoint.parse("unix:" + directory.resolve("demo.sock"));
        WatchedGreeter greeter = new WatchedGreeter();
        Rpc rpc = Rpc.create();
        rpc.serve(Greeter.class, greeter, IfExists.THROW);
        try (Transport transport = Transport.create(TransportOptions.defaults());
                HandshakeServer server = HandshakeServer.builder(transport)
                        .service(Service.builder("demo", "1.0.0", rpc.listener()).build()).build()) {
            server.listen(endpoint);
            out.println("parent pid " + ProcessHandle.current().pid() + " serves the greeter cap on " + endpoint);
            Process child = startChild(endpoint);
            String greeting = null;
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(child.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String line;
                while ((line = lines.readLine()) != null) {
                    out.println("  child " + child.pid() + ": " + line);
                    if (line.startsWith("greet: ")) {
                        greeting = line.substring("greet: ".length(), line.lastIndexOf(" ("));
                    }
                }
                requireExitedCleanly(child);
            } finally {
                child.destroyForcibly();
            }
            PeerCredentials caller = greeter.caller;
            out.println("the parent's handler saw the caller as (SO_PEERCRED, kernel-verified): " + caller);
            return new Outcome(child.pid(), caller, greeting);
        } finally {
            Files.deleteIfExists(directory.resolve("demo.sock"));
            Files.delete(directory);
        }
    }

    private static Process startChild(Endpoint endpoint) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(JvmFlags.all());
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), Demo.class.getName(), CHILD,
                endpoint.toString()));
        return new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }

    private static void requireExitedCleanly(Process child) throws InterruptedException {
        if (!child.waitFor(TIMEOUT_MS, TimeUnit.MILLISECONDS) || child.exitValue() != 0) {
            throw new IllegalStateException("the child did not exit cleanly");
        }
    }

    /** The child: connect, bootstrap the greeter, use each kind of method, and say how long each took. */
    private static void child(Endpoint endpoint) throws Exception {
        Rpc rpc = Rpc.create();
        try (Transport transport = Transport.create(TransportOptions.defaults())) {
            long start = System.nanoTime();
            try (NegotiatedConnection connection = HandshakeClient.connect(transport, endpoint,
                    ClientOptions.builder("demo").build(), rpc.listener())) {
                Greeter greeter = rpc.connection(connection.connection()).bootstrap(Greeter.class);
                start = step("connected, handshake done, greeter bootstrapped", start);
                String greeting = greeter.greet("demo child");
                start = step("greet: " + greeting, start);
                try (Counter counter = greeter.counter()) {
                    String first = counter.next();
                    start = step("counter (a cap the greeter returned): " + first + ", " + counter.next(), start);
                }
                List<String> items = new ArrayList<>();
                greeter.countdown("5", items::add);
                start = step("countdown (a server stream, with credit): " + String.join(" ", items), start);
                try (FileDescriptor motd = greeter.motd()) {
                    ByteBuffer text = ByteBuffer.allocateDirect(256);
                    motd.read(text);
                    step("motd (" + motd + ", an fd the server passed): "
                            + StandardCharsets.UTF_8.decode(text.flip()), start);
                }
            }
        }
    }

    private static long step(String what, long since) {
        long now = System.nanoTime();
        System.out.println(what + " (" + TimeUnit.NANOSECONDS.toMicros(now - since) + " us)");
        System.out.flush();
        return now;
    }
}
