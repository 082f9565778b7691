package dev.capwire.bench.peers;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A {@link PeerServer} in a child JVM, so client and server never share a process (or a GC). */
public final class PeerProcess implements AutoCloseable {
    private final Process process;
    private final Path socket;
    private final Path dir;
    private final BufferedReader out;

    private PeerProcess(Process process, Path dir, Path socket, BufferedReader out) {
        this.process = process;
        this.dir = dir;
        this.socket = socket;
        this.out = out;
    }

    public static PeerProcess start(String kind, String idleStrategy) throws IOException {
        return start(PeerServer.class, kind, idleStrategy, List.of());
    }

    /** As {@link #start(String, String)}, with more JVM options for the server (a flight recording, say). */
    public static PeerProcess start(String kind, String idleStrategy, List<String> jvmOptions) throws IOException {
        return start(PeerServer.class, kind, idleStrategy, jvmOptions);
    }

    /** A server whose main class is {@code server}, started as {@code server <kind> <socket> <idle strategy>}. */
    public static PeerProcess start(Class<?> server, String kind, String idleStrategy) throws IOException {
        return start(server, kind, idleStrategy, List.of());
    }

    private static PeerProcess start(Class<?> server, String kind, String idleStrategy, List<String> jvmOptions)
            throws IOException {
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "cwbench");
        Path socket = dir.resolve(kind + ".sock");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command = new java.util.ArrayList<>(List.of(java));
        command.addAll(dev.capwire.bench.JvmFlags.all());
        // Both ends run with the same capwire.* settings, so one -D on the benchmark's JVM tunes the pair.
        System.getProperties().stringPropertyNames().stream().filter(name -> name.startsWith("capwire.")).sorted()
                .forEach(name -> command.add("-D" + name + "=" + System.getProperty(name)));
        command.addAll(jvmOptions);
        command.addAll(List.of("-Xmx512m", "-cp", System.getProperty("java.class.path"), server.getName(),
                kind, socket.toString(), idleStrategy));
        Process process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        String line = out.readLine();
        while (line != null && (line.startsWith("[") || line.startsWith("Profiling started"))) {
            // The JVM's own logging (-Xlog, JFR started by JAVA_TOOL_OPTIONS) goes to stdout too, and so does an
            // async-profiler agent's greeting (-agentpath in JAVA_TOOL_OPTIONS: both sides of a run profiled).
            line = out.readLine();
        }
        if (!"READY".equals(line)) {
            process.destroyForcibly();
            Files.deleteIfExists(socket);
            Files.deleteIfExists(dir); // else every failed start leaves a /tmp/cwbench* directory behind
            throw new IOException("peer server " + kind + " did not start: " + line);
        }
        return new PeerProcess(process, dir, socket, out);
    }

    /**
     * Sends one line to a server that takes commands on stdin and returns its answer: the next line that starts
     * with {@code answerPrefix}. Other lines are skipped, since the JVM's own logging (a JFR warning, say)
     * also goes to stdout. Null if the server exits first.
     */
    public String ask(String command, String answerPrefix) throws IOException {
        process.getOutputStream().write((command + "\n").getBytes(StandardCharsets.UTF_8));
        process.getOutputStream().flush();
        String line;
        while ((line = out.readLine()) != null && !line.startsWith(answerPrefix)) {
            // not the answer
        }
        return line;
    }

    public Path socket() {
        return socket;
    }

    /** The server JVM's process id, so a tool can read what it spends (/proc). */
    public long pid() {
        return process.pid();
    }

    /** File descriptors the server holds open now (Linux), so a benchmark can prove its closes finished. */
    public int openFds() throws IOException {
        try (java.util.stream.Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(process.pid()), "fd"))) {
            return (int) fds.count();
        }
    }

    @Override
    public void close() throws Exception {
        process.getOutputStream().close();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor();
        }
        Files.deleteIfExists(socket);
        Files.deleteIfExists(dir);
    }
}
