package dev.capwire.bench.rpc;

import dev.capwire.bench.peers.PeerProcess;
import dev.capwire.bench.peers.ProfilerCommand;
import java.io.IOException;

/**
 * A CPU profile of the server JVM over a trial's measured iterations, the half that JMH's {@code -prof async}
 * cannot see (it profiles the client's JVM only): with {@code -Dbench.serverProfile=FILE} on the benchmark's JVM
 * (through {@code -jvmArgsAppend}), the peer ({@link RpcPeerServer}) starts async-profiler at the first measured
 * iteration and writes collapsed stacks (1 ms CPU samples) to {@code FILE} when the trial ends. Without the
 * property it does nothing.
 */
public final class ServerProfile {
    public static final String FILE_PROP_NAME = "bench.serverProfile";

    private final PeerProcess server;
    private final String file;
    private boolean started;

    private ServerProfile(PeerProcess server, String file) {
        this.server = server;
        this.file = file;
    }

    /** A profile of {@code server} when {@link #FILE_PROP_NAME} names a file, else null. */
    public static ServerProfile ifAsked(PeerProcess server) {
        String file = System.getProperty(FILE_PROP_NAME);
        return file == null || file.isEmpty() ? null : new ServerProfile(server, file);
    }

    /** At an iteration's start: the first measured one starts the profiler. */
    public void startIteration(boolean measurement) throws IOException {
        if (measurement && !started) {
            command("start,event=cpu,interval=1ms");
            started = true;
        }
    }

    /** At the trial's end: writes the profile, and prints where. */
    public void finish() throws IOException {
        if (started) {
            command("stop,file=" + file + ",collapsed");
            System.out.printf("%nserver profile: %s%n", file);
        }
    }

    private void command(String command) throws IOException {
        String answer = server.ask(ProfilerCommand.PREFIX + command, ProfilerCommand.ANSWER);
        if (answer == null || answer.startsWith(ProfilerCommand.ANSWER + "failed")) {
            throw new IOException("the server's profiler did not take '" + command + "': " + answer);
        }
    }
}
