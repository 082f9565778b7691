package dev.capwire.bench.peers;

import one.profiler.AsyncProfiler;

/**
 * The server half of the profiling tool's flame graphs: a peer server that takes commands on stdin runs
 * {@code profiler <command>} through async-profiler in its own JVM and answers {@code PROFILER <output>} on one
 * line. Started on command, not as a JVM agent, so that the server's profile covers the same measured seconds as
 * the client's and leaves the warm-up out.
 */
public final class ProfilerCommand {
    public static final String PREFIX = "profiler ";
    public static final String ANSWER = "PROFILER ";

    private ProfilerCommand() {
    }

    public static boolean handles(String line) {
        return line.startsWith(PREFIX);
    }

    /** Runs the command; a failure (no such event on this host, say) is the answer, not an exception. */
    public static String run(String line) {
        String command = line.substring(PREFIX.length());
        try {
            return ANSWER + oneLine(AsyncProfiler.getInstance().execute(command));
        } catch (Exception | UnsatisfiedLinkError e) {
            return ANSWER + "failed: " + oneLine(String.valueOf(e.getMessage()));
        }
    }

    private static String oneLine(String text) {
        return text.trim().replace(System.lineSeparator(), "; ");
    }
}
