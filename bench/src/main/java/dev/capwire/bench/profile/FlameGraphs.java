package dev.capwire.bench.profile;

import dev.capwire.bench.peers.PeerProcess;
import dev.capwire.bench.peers.ProfilerCommand;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import one.profiler.AsyncProfiler;

/**
 * async-profiler over the measured seconds of both JVMs: this one through its Java API, the server's through a
 * {@link ProfilerCommand} on its stdin. Each side's samples are split by thread ({@code threads}), because what a
 * reader wants to know first is which thread pays: the application's, the event loop's or the handler executor's.
 * The library comes from the async-profiler artifact on the class path, which carries it for Linux x64 and
 * arm64 and for macOS.
 */
final class FlameGraphs {
    /** The events {@code --profiler} takes: async-profiler's own names. */
    static final List<String> EVENTS = List.of("cpu", "wall", "alloc", "lock", "itimer", "ctimer");
    private static final List<String> TIMED = List.of("cpu", "wall", "itimer", "ctimer");

    private final String event;
    private final Path out;
    private final PeerProcess server;

    private FlameGraphs(String event, Path out, PeerProcess server) {
        this.event = event;
        this.out = out;
        this.server = server;
    }

    /** Starts both profiles; fails before anything is measured if either side cannot profile {@code event}. */
    static FlameGraphs start(String event, Path out, PeerProcess server) throws IOException {
        // A sample a millisecond for the time-based events (async-profiler's default is ten): a loop that is half
        // idle still gets thousands of samples in a ten-second run. alloc and lock keep their own thresholds.
        String command = "start,event=" + event + ",threads" + (TIMED.contains(event) ? ",interval=1ms" : "");
        try {
            AsyncProfiler.getInstance().execute(command);
        } catch (IllegalStateException | UnsatisfiedLinkError e) {
            throw new IOException("async-profiler could not start (" + command + ") in this JVM: " + e.getMessage(), e);
        }
        FlameGraphs graphs = new FlameGraphs(event, out, server);
        try {
            graphs.ask(command);
        } catch (IOException e) {
            AsyncProfiler.getInstance().execute("stop");
            throw e;
        }
        return graphs;
    }

    /**
     * Stops both profiles and writes each side's samples twice: a flame graph (a self-contained HTML page) to
     * look at, and the collapsed stacks (one line a stack, with its count) to grep and to compare between runs.
     * Returns the flame graphs' paths.
     */
    List<Path> stop() throws IOException {
        Path client = out.toAbsolutePath().resolve("client-" + event);
        Path serverSide = out.toAbsolutePath().resolve("server-" + event);
        AsyncProfiler.getInstance().execute("dump,file=" + client + ".collapsed");
        AsyncProfiler.getInstance().execute("stop,file=" + client + ".html");
        ask("dump,file=" + serverSide + ".collapsed");
        ask("stop,file=" + serverSide + ".html");
        return List.of(Path.of(client + ".html"), Path.of(serverSide + ".html"));
    }

    private void ask(String command) throws IOException {
        String answer = server.ask(ProfilerCommand.PREFIX + command, ProfilerCommand.ANSWER);
        if (answer == null || answer.startsWith(ProfilerCommand.ANSWER + "failed")) {
            throw new IOException("the server's profiler failed (" + command + "): " + answer);
        }
    }
}
