package dev.capwire.rpc;

import dev.capwire.wire.StatusCode;
import java.io.PrintStream;

/**
 * The server process of the RPC tests: serves {@link LocalFiles} as "files", a "secret" no uid may have,
 * "mine" for its own uid and "guarded" behind a policy that throws,
 * through a handshake service "app", on the endpoint given first; prints {@code READY <endpoint>}, then one
 * line per event (see {@link LocalFiles}, and from its observer {@code STREAM-START <cap>.<method>},
 * {@code STREAM-END <items> <status>} and {@code RPC-ERROR <exception or -> <what>}). Commands on stdin, each
 * answered with one line: {@code unserve} ({@code UNSERVED}), {@code replace} ({@code REPLACED}),
 * {@code exports} ({@code EXPORTS <n>}, summed over connections), {@code imports} ({@code IMPORTS <n>}, the
 * same), {@code fds} ({@code FDS <n>}, its open fds), {@code serveall-conflicting}
 * ({@code SERVEALL refused}: serveAll of a new cap and of files, which is served), {@code serve-skip}
 * ({@code SKIPPED []}: files again with IfExists.SKIP), {@code jfr-start} ({@code JFR-STARTED}: records the RPC JFR
 * events)
 * and {@code jfr-stop} ({@code JFR <name>=<count> ...}). Exits when stdin closes. With
 * {@code -Drpc.test.oneQueueingHandlerThread=true} its handlers run on an executor of the user's kind: one thread,
 * calls waiting in its queue behind a busy handler.
 */
public final class RpcServerMain {
    private RpcServerMain() {
    }

    public static void main(String[] args) throws Exception {
        PrintStream out = System.out;
        RpcOptions.Builder options = RpcOptions.builder();
        if (Boolean.getBoolean("rpc.test.oneQueueingHandlerThread")) {
            options.executor(java.util.concurrent.Executors.newSingleThreadExecutor(call -> {
                Thread thread = new Thread(call, "queueing-handler");
                thread.setDaemon(true);
                return thread;
            }));
        }
        Rpc rpc = Rpc.create(options.observer(new RpcObserver() {
            @Override
            public void streamStarted(long connectionId, String capName, String methodName) {
                print("STREAM-START " + capName + "." + methodName);
            }

            @Override
            public void streamEnded(long connectionId, String capName, String methodName, StatusCode status,
                    long items) {
                print("STREAM-END " + items + " " + status);
            }

            @Override
            public void error(long connectionId, String what, Throwable cause) {
                print("RPC-ERROR " + (cause == null ? "-" : cause.getClass().getSimpleName()) + " " + what);
            }

            private void print(String line) {
                synchronized (out) {
                    out.println(line);
                    out.flush();
                }
            }
        }).build());
        ServeHandle[] files = {rpc.serve(RemoteFiles.class, new LocalFiles(out), IfExists.THROW)};
        rpc.serve(OtherCaps.Secret.class, () -> new byte[] {1}, IfExists.THROW, CapPolicy.uids(-2));
        long myUid = ((Number) java.nio.file.Files.getAttribute(java.nio.file.Path.of("/proc/self"), "unix:uid"))
                .longValue();
        rpc.serve(OtherCaps.Mine.class, () -> new byte[] {2}, IfExists.THROW, CapPolicy.uids(myUid));
        rpc.serve(OtherCaps.Guarded.class, () -> new byte[] {3}, IfExists.THROW, peer -> {
            throw new IllegalStateException("a policy with a bug");
        });
        JfrCounts jfr = new JfrCounts();
        ChildServer.run(args[0], rpc.listener(), out, line -> {
            switch (line) {
                case "serveall-conflicting":
                    // "nobody" is new, "files" is served already: with THROW neither is served.
                    try {
                        rpc.serveAll(IfExists.THROW, Rpc.serving(OtherCaps.Nobody.class, () -> new byte[] {4},
                                CapPolicy.anyone()), Rpc.serving(RemoteFiles.class, new LocalFiles(out),
                                CapPolicy.anyone()));
                        return "SERVEALL served";
                    } catch (IllegalStateException e) {
                        return "SERVEALL refused";
                    }
                case "serve-skip":
                    return "SKIPPED " + rpc.serve(RemoteFiles.class, new LocalFiles(out), IfExists.SKIP).names();
                case "jfr-start":
                    jfr.start();
                    return "JFR-STARTED";
                case "jfr-stop":
                    return "JFR " + jfr.stopAndCount();
                case "unserve":
                    files[0].close();
                    return "UNSERVED";
                case "replace":
                    files[0] = rpc.serve(RemoteFiles.class, new LocalFiles(out), IfExists.REPLACE);
                    return "REPLACED";
                case "exports":
                    return "EXPORTS " + rpc.exportCount();
                case "imports":
                    return "IMPORTS " + rpc.importCount();
                case "fds":
                    try (var fds = java.nio.file.Files.list(java.nio.file.Path.of("/proc/self/fd"))) {
                        return "FDS " + fds.count();
                    }
                default:
                    return "UNKNOWN " + line;
            }
        });
    }

    /** A recording of the RPC layer's JFR events, told as counts per event name ("dev.capwire.rpc.Call=3 ..."). */
    private static final class JfrCounts {
        private jdk.jfr.Recording recording;

        void start() {
            recording = new jdk.jfr.Recording();
            for (String event : new String[] {"Bootstrap", "Call", "StreamStart", "Stream", "Revoke", "Error"}) {
                recording.enable("dev.capwire.rpc." + event);
            }
            recording.start();
        }

        String stopAndCount() throws java.io.IOException {
            recording.stop();
            java.nio.file.Path dump = java.nio.file.Path.of(System.getProperty("java.io.tmpdir"),
                    "capwire-rpc-" + ProcessHandle.current().pid() + ".jfr");
            try {
                recording.dump(dump);
                java.util.Map<String, Integer> counts = new java.util.TreeMap<>();
                for (jdk.jfr.consumer.RecordedEvent event : jdk.jfr.consumer.RecordingFile.readAllEvents(dump)) {
                    counts.merge(event.getEventType().getName(), 1, Integer::sum);
                }
                StringBuilder told = new StringBuilder();
                counts.forEach((name, n) -> told.append(name).append('=').append(n).append(' '));
                return told.toString().strip();
            } finally {
                recording.close();
                java.nio.file.Files.deleteIfExists(dump);
            }
        }
    }
}
