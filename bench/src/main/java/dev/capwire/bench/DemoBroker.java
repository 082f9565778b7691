package dev.capwire.bench;

import dev.capwire.broker.Activation;
import dev.capwire.broker.Broker;
import dev.capwire.broker.BrokerListener;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The demo's broker, and its narrator: it listens on a Unix socket with the greeter service registered as an
 * activation (its backend is this jar's Demo in backend mode), starts the client JVM, relays what the client
 * prints, prints each broker event as it happens, then stops (which stops the backend it started) and prints the
 * backend's log.
 */
final class DemoBroker {
    private static final long TIMEOUT_MS = 60_000;

    /**
     * What the demo saw, for its test: the three pids, the client pid the broker handed off (with its Hello-to-ACK
     * time), whether the client found its connection handed off, the greeting the backend returned, and the
     * processes this one still had after it stopped (none, when the broker stopped its children).
     */
    record Outcome(long brokerPid, long clientPid, long backendPid, long handedOffClientPid, long helloToAckNanos,
            boolean clientHandedOff, String greeting, List<Long> childrenLeft) {
    }

    private DemoBroker() {
    }

    /** The broker's events as the demo prints them, and the ones its outcome needs. */
    private static final class Narrator implements BrokerListener {
        private final PrintStream out;
        private final long started = System.nanoTime();
        private volatile long launchedAt;
        volatile long backendPid = -1;
        volatile long handedOffClientPid = -1;
        volatile long helloToAckNanos = -1;
        final CountDownLatch backendExited = new CountDownLatch(1);

        Narrator(PrintStream out) {
            this.out = out;
        }

        private void say(String what) {
            out.println("  broker event at +" + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started) + " ms: "
                    + what);
        }

        @Override
        public void onLaunched(String service, long pid) {
            launchedAt = System.nanoTime();
            backendPid = pid;
            say("a client asked for '" + service + "', which no backend serves: launched backend pid " + pid);
        }

        @Override
        public void onRegistered(long pid, List<String> services, String backendAddress) {
            String sinceLaunch = launchedAt == 0 ? ""
                    : ", " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - launchedAt) + " ms after its launch";
            say("backend pid " + pid + " registered " + services + " (fallback address " + backendAddress + ")"
                    + sinceLaunch);
        }

        @Override
        public void onHandedOff(String service, long clientPid, long helloToAckNanos) {
            this.handedOffClientPid = clientPid;
            this.helloToAckNanos = helloToAckNanos;
            say("handed client pid " + clientPid + "'s socket to the '" + service + "' backend (Hello to ACK "
                    + TimeUnit.NANOSECONDS.toMicros(helloToAckNanos) + " us)");
        }

        @Override
        public void onFallback(String service, long clientPid, String why) {
            say("sent client pid " + clientPid + " to the '" + service + "' backend's own address: " + why);
        }

        @Override
        public void onLaunchFailed(String service, long pid, String why) {
            say("backend pid " + pid + " for '" + service + "' failed: " + why);
        }

        @Override
        public void onDeregistered(long pid, List<String> services) {
            say("backend pid " + pid + " deregistered " + services);
        }

        @Override
        public void onExited(String service, long pid, int exitCode, long restartInMs) {
            // 128 + n is how a JVM ends on signal n: the broker's SIGTERM, if it stopped the backend that way.
            say("backend pid " + pid + " exited with " + exitCode + (exitCode > 128 ? " (signal "
                    + (exitCode - 128) + ")" : ""));
            backendExited.countDown();
        }
    }

    static Outcome run(PrintStream out) throws Exception {
        Path directory = Files.createTempDirectory("capwire-demo");
        Path brokerSocket = directory.resolve("broker.sock");
        Path backendSocket = directory.resolve("backend.sock");
        Path backendLog = directory.resolve("backend.log");
        Endpoint endpoint = Endpoint.parse("unix:" + brokerSocket);
        Narrator narrator = new Narrator(out);
        Activation greeter = Activation.builder(DemoBackend.SERVICE, DemoBackend.VERSION,
                Demo.command(Demo.BACKEND, endpoint.toString(), "unix:" + backendSocket)).log(backendLog).build();
        long clientPid;
        ClientTranscript client;
        try (Transport transport = Transport.create(TransportOptions.defaults())) {
            try (Broker broker = Broker.builder(transport).activate(greeter).listener(narrator).build()) {
                broker.listen(endpoint);
                out.println("broker pid " + ProcessHandle.current().pid() + " listens on " + endpoint + "; '"
                        + DemoBackend.SERVICE + "' is activatable (no backend runs yet)");
                Process process = new ProcessBuilder(Demo.command(Demo.CLIENT, endpoint.toString()))
                        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
                clientPid = process.pid();
                out.println("started client pid " + clientPid);
                client = ClientTranscript.relay(process, out);
                out.println("client pid " + clientPid + " exited; stopping the broker, which stops its backend");
            }
        }
        // The broker waited for its backend to exit, but reports the exit from another thread: wait for that
        // event too, so the story prints in the order it happened.
        if (narrator.backendPid > 0) {
            narrator.backendExited.await(5, TimeUnit.SECONDS);
        }
        List<Long> left = ProcessHandle.current().children().filter(ProcessHandle::isAlive)
                .map(ProcessHandle::pid).toList();
        out.println("the backend's log (pid " + narrator.backendPid + "):");
        if (Files.exists(backendLog)) {
            Files.readAllLines(backendLog).forEach(line -> out.println("  backend " + narrator.backendPid + ": "
                    + line));
        }
        out.println("pids: broker " + ProcessHandle.current().pid() + ", backend " + narrator.backendPid + ", client "
                + clientPid + "; " + (left.isEmpty() ? "no child process left" : "child processes left: " + left));
        deleteQuietly(directory, brokerSocket, backendSocket, backendLog);
        return new Outcome(ProcessHandle.current().pid(), clientPid, narrator.backendPid, narrator.handedOffClientPid,
                narrator.helloToAckNanos, client.handedOff(), client.greeting(), left);
    }

    /** What the client printed that the outcome needs. */
    private record ClientTranscript(boolean handedOff, String greeting) {
        /** Prints the client's lines as they come, and waits for it to exit cleanly. */
        static ClientTranscript relay(Process client, PrintStream out) throws IOException, InterruptedException {
            boolean handedOff = false;
            String greeting = null;
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(client.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String line;
                while ((line = lines.readLine()) != null) {
                    out.println("  client " + client.pid() + ": " + line);
                    if (line.startsWith(DemoClient.HANDED_OFF)) {
                        handedOff = line.startsWith(DemoClient.HANDED_OFF + "true");
                    } else if (line.startsWith(DemoClient.GREET)) {
                        greeting = line.substring(DemoClient.GREET.length(), line.lastIndexOf(" ("));
                    }
                }
                if (!client.waitFor(TIMEOUT_MS, TimeUnit.MILLISECONDS) || client.exitValue() != 0) {
                    throw new IllegalStateException("the client did not exit cleanly");
                }
            } finally {
                client.destroyForcibly();
            }
            return new ClientTranscript(handedOff, greeting);
        }
    }

    private static void deleteQuietly(Path directory, Path... files) throws IOException {
        for (Path file : files) {
            Files.deleteIfExists(file);
        }
        Files.deleteIfExists(directory);
    }
}
