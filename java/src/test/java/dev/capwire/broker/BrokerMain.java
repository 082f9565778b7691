package dev.capwire.broker;

import dev.capwire.handshake.PeerPolicy;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A child-JVM broker: {@code BrokerMain <unix endpoint> <handoffAckMs> [registration uid]} (the uid, when
 * given, is the only one allowed to register), or {@code BrokerMain <unix endpoint> <handoffAckMs>
 * activate:<mode>:<backend endpoint> [idleStopMs]}, which activates service {@value BackendMain#SERVICE} as a
 * {@link BackendMain} in that mode, on this JVM's flags and class path ({@code LAUNCHED <service> <pid>},
 * {@code EXITED <service> <pid> <code> <restart in ms>}, {@code LAUNCH_FAILED <service> <why>},
 * {@code IDLE_STOPPED <service> <pid>}), or
 * {@code BrokerMain <unix endpoint> <handoffAckMs> inherited}, which serves the socket a service manager passed
 * (LISTEN_FDS) instead of binding the endpoint. Prints {@code READY}, then one line per event
 * ({@code REGISTERED <services>}, {@code HANDED_OFF <service> <client pid>}, {@code FALLBACK <service> <why>},
 * {@code TOKEN_REFUSED <why>}, {@code REGISTRATION_REFUSED <why>}, {@code DEREGISTERED <services>}); stdin
 * {@code status} prints {@code STATUS <backends> <pending>}, {@code fds} prints {@code FDS <open fds>}, {@code live}
 * prints {@code LIVE <Leaks.Live>}.
 * Exits when stdin closes.
 */
public final class BrokerMain {
    private BrokerMain() {
    }

    public static void main(String[] args) throws Exception {
        if (!(args.length > 2 && args[2].equals("inherited"))) {
            Files.deleteIfExists(Path.of(args[0].substring("unix:".length())));
        }
        BrokerListener printing = new BrokerListener() {
            @Override
            public void onRegistered(long pid, List<String> services, String backendAddress) {
                say("REGISTERED " + String.join(",", services));
            }

            @Override
            public void onRegistrationRefused(long pid, String reason) {
                say("REGISTRATION_REFUSED " + reason);
            }

            @Override
            public void onDeregistered(long pid, List<String> services) {
                say("DEREGISTERED " + String.join(",", services));
            }

            @Override
            public void onHandedOff(String service, long clientPid, long helloToAckNanos) {
                say("HANDED_OFF " + service + " " + clientPid);
            }

            @Override
            public void onFallback(String service, long clientPid, String why) {
                say("FALLBACK " + service + " " + why);
            }

            @Override
            public void onTokenRefused(long backendPid, String why) {
                say("TOKEN_REFUSED " + why);
            }

            @Override
            public void onLaunched(String service, long pid) {
                say("LAUNCHED " + service + " " + pid);
            }

            @Override
            public void onLaunchFailed(String service, long pid, String why) {
                say("LAUNCH_FAILED " + service + " " + why);
            }

            @Override
            public void onIdleStopped(String service, long pid, long idleMs) {
                say("IDLE_STOPPED " + service + " " + pid);
            }

            @Override
            public void onExited(String service, long pid, int exitCode, long restartInMs) {
                say("EXITED " + service + " " + pid + " " + exitCode + " " + restartInMs);
            }
        };
        try (Transport transport = Transport.create(TransportOptions.defaults())) {
            Broker.Builder builder = Broker.builder(transport).handoffAckMs(Long.parseLong(args[1])).listener(printing);
            if (args.length > 2 && args[2].startsWith("activate:")) {
                String[] parts = args[2].split(":", 3);
                List<String> command = new java.util.ArrayList<>();
                command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
                command.addAll(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
                command.addAll(List.of("-cp", System.getProperty("java.class.path"), BackendMain.class.getName(),
                        parts[1], args[0], parts[2]));
                if (args.length > 3) {
                    builder.idleStopMs(Long.parseLong(args[3]));
                }
                builder.activate(Activation.builder(BackendMain.SERVICE, "1.0.0", command)
                        .log(Path.of(parts[2].substring("unix:".length()) + ".log")).build());
            } else if (args.length > 2 && !args[2].equals("inherited")) {
                builder.registrationPolicy(PeerPolicy.uidAllowList(Long.parseLong(args[2])));
            }
            try (Broker broker = builder.build()) {
                if (args.length > 2 && args[2].equals("inherited")) {
                    broker.listen(dev.capwire.transport.InheritedSockets.take().get(0)); // socket activation
                } else {
                    broker.listen(Endpoint.parse(args[0]));
                }
                say("READY");
                BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
                String line;
                while ((line = in.readLine()) != null) {
                    if (line.equals("status")) {
                        say("STATUS " + broker.backends() + " " + broker.pendingHandoffs());
                    } else if (line.equals("fds")) {
                        say("FDS " + openFds());
                    } else if (line.equals("fdkinds")) {
                        say("FDKINDS " + fdKinds());
                    } else if (line.equals("live")) {
                        say("LIVE " + dev.capwire.testing.Leaks.live().encode());
                    }
                }
            }
        }
    }

    /** How many open fds of each kind (socket, pipe, anon_inode, file), for a failure message. */
    static String fdKinds() throws java.io.IOException {
        java.util.Map<String, Integer> kinds = new java.util.TreeMap<>();
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : (Iterable<Path>) fds::iterator) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    kinds.merge(target.contains(":") ? target.substring(0, target.indexOf(':')) : "file", 1,
                            Integer::sum);
                } catch (java.io.IOException gone) {
                    // the listing's own fd, closed by now
                }
            }
        }
        return kinds.toString();
    }

    /** Open fds now (the listing's own one included, as in every count). */
    static long openFds() throws java.io.IOException {
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }

    static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }
}
