package dev.capwire.bindings;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * A child JVM running a main class from the test sources, driven over its stdin and stdout one line at a
 * time. The child side of the line protocol is {@link #serve}; the parent side is {@link #ask}. Closing
 * kills the child and waits for it, so no test leaves a process behind.
 */
final class ChildJvm implements AutoCloseable {
    /** Keeps Java 24+ from warning about JNI; harmless before. */
    static final String NATIVE_ACCESS_FLAG = StartupChecks.NATIVE_ACCESS_FLAG;
    /** The flags Capwire documents for every JVM that uses it (the same ones Surefire passes to this JVM). */
    static final List<String> CAPWIRE_FLAGS = Stream.concat(
            Arrays.stream(StartupChecks.ADD_OPENS_FLAG.split(" ")), Stream.of(NATIVE_ACCESS_FLAG))
            .collect(Collectors.toUnmodifiableList());

    /** Generous: the machine is shared and a child JVM may take seconds to start under load. */
    private static final long REPLY_TIMEOUT_MS = 60_000;
    private static final String OK = "OK";
    private static final String FAILED = "ERR";
    private static final String END_OF_OUTPUT = "\0end of output";

    private final Process process;
    private final String description;
    private final Path privateTmp;
    private final Writer stdin;
    private final BlockingQueue<String> stdout = new LinkedBlockingQueue<>();
    private final StringBuffer stderr = new StringBuffer();
    private final Thread stdoutPump;
    private final Thread stderrPump;

    private ChildJvm(Process process, String description, Path privateTmp) {
        this.process = process;
        this.description = description;
        this.privateTmp = privateTmp;
        this.stdin = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
        this.stdoutPump = pump(process.getInputStream(), "stdout", stdout::add, () -> stdout.add(END_OF_OUTPUT));
        this.stderrPump = pump(process.getErrorStream(), "stderr", line -> stderr.append(line).append('\n'), () -> { });
    }

    /** Starts {@code main} with the Capwire flags and this JVM's classpath. */
    static ChildJvm start(Class<?> main, String... args) throws IOException {
        return launch(main).args(args).start();
    }

    static Launch launch(Class<?> main) {
        return new Launch(main);
    }

    /** How to start a child: everything defaults to what this JVM was started with. */
    static final class Launch {
        private final Class<?> main;
        private List<String> jvmFlags = CAPWIRE_FLAGS;
        private String classpath = System.getProperty("java.class.path");
        private final Map<String, String> properties = new LinkedHashMap<>();
        private List<String> args = List.of();

        private Launch(Class<?> main) {
            this.main = main;
        }

        Launch jvmFlags(List<String> flags) {
            this.jvmFlags = List.copyOf(flags);
            return this;
        }

        Launch classpath(String classpath) {
            this.classpath = classpath;
            return this;
        }

        Launch property(String name, String value) {
            properties.put(name, value);
            return this;
        }

        Launch args(String... args) {
            this.args = List.of(args);
            return this;
        }

        ChildJvm start() throws IOException {
            // Its own temp dir, removed on close: the loader extracts the library there, and a killed JVM
            // never runs its delete-on-exit hooks.
            Path privateTmp = Files.createTempDirectory(Path.of("/tmp"), "cw-child");
            List<String> command = new ArrayList<>();
            command.add(javaBinary());
            // Quick start, small footprint: these children only move a few bytes.
            command.addAll(List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx64m"));
            command.addAll(jvmFlags);
            command.add("-Djava.io.tmpdir=" + privateTmp);
            properties.forEach((name, value) -> command.add("-D" + name + "=" + value));
            command.addAll(List.of("-cp", classpath, main.getName()));
            command.addAll(args);
            try {
                Process process = new ProcessBuilder(command).start();
                return new ChildJvm(process, main.getSimpleName() + " (pid " + process.pid() + ")", privateTmp);
            } catch (IOException | RuntimeException e) {
                deleteTree(privateTmp);
                throw e;
            }
        }
    }

    private static String javaBinary() {
        return ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    }

    private Thread pump(InputStream stream, String name, Consumer<String> sink, Runnable atEnd) {
        Thread thread = new Thread(() -> {
            try (BufferedReader reader = new BufferedReader(new InputStreamReader(stream, StandardCharsets.UTF_8))) {
                for (String line; (line = reader.readLine()) != null; ) {
                    sink.accept(line);
                }
            } catch (IOException e) {
                sink.accept("(" + name + " unreadable: " + e + ")");
            } finally {
                atEnd.run();
            }
        }, description + " " + name);
        thread.setDaemon(true);
        thread.start();
        return thread;
    }

    long pid() {
        return process.pid();
    }

    /** The child's own {@code java.io.tmpdir}, which nothing else uses; removed on close. */
    Path tmpDir() {
        return privateTmp;
    }

    /**
     * Sends one command line and returns the payload of the child's {@code OK} reply; a command the child
     * failed throws {@link CommandFailedException} carrying the child's exception chain.
     */
    String ask(String command) throws IOException {
        if (command.indexOf('\n') >= 0) {
            throw new IllegalArgumentException("one line per command: " + command);
        }
        try {
            stdin.write(command + "\n");
            stdin.flush();
        } catch (IOException e) {
            throw new IllegalStateException(description + " no longer reads commands ('" + command + "')"
                    + exitText() + stderrText(), e);
        }
        String reply = nextLine(command);
        if (reply.equals(OK) || reply.startsWith(OK + " ")) {
            return unescape(reply.substring(Math.min(reply.length(), OK.length() + 1)));
        }
        if (reply.startsWith(FAILED + " ")) {
            throw new CommandFailedException(description, command, reply.substring(FAILED.length() + 1));
        }
        throw new IllegalStateException(description + " answered '" + command + "' with an unexpected line: "
                + reply + stderrText());
    }

    private String nextLine(String command) {
        String line;
        try {
            line = stdout.poll(REPLY_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted waiting for " + description, e);
        }
        if (line == null) {
            throw new IllegalStateException(description + " did not answer '" + command + "' within "
                    + REPLY_TIMEOUT_MS + " ms" + stderrText());
        }
        if (line.equals(END_OF_OUTPUT)) {
            stdout.add(END_OF_OUTPUT);
            throw new IllegalStateException(description + " ended its output before answering '" + command
                    + "'" + exitText() + stderrText());
        }
        return line;
    }

    private String exitText() {
        try {
            return process.waitFor(5, TimeUnit.SECONDS) ? " (exit code " + process.exitValue() + ")" : "";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "";
        }
    }

    private String stderrText() {
        return stderr.length() == 0 ? "" : "\n--- child stderr ---\n" + stderr;
    }

    /** Kills the child (SIGKILL) and waits until it is gone: its sockets and fds are closed by then. */
    void kill() {
        process.destroyForcibly();
        boolean interrupted = false;
        for (;;) {
            try {
                process.waitFor();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() throws IOException {
        kill();
        try {
            stdoutPump.join(10_000);
            stderrPump.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            process.getOutputStream().close();
        } catch (IOException ignored) {
            // The child is dead: a failed flush of unread input does not matter.
        }
        process.getInputStream().close();
        process.getErrorStream().close();
        deleteTree(privateTmp);
    }

    private static void deleteTree(Path root) throws IOException {
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).collect(Collectors.toList())) {
                Files.deleteIfExists(path);
            }
        }
    }

    @Override
    public String toString() {
        return description;
    }

    /** A command the child answered with an exception, which it reports as its chain of causes. */
    static final class CommandFailedException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        private final List<String> thrown;

        CommandFailedException(String child, String command, String encodedChain) {
            this(child, command, Arrays.stream(encodedChain.split("\t")).map(ChildJvm::unescape)
                    .collect(Collectors.toList()));
        }

        private CommandFailedException(String child, String command, List<String> thrown) {
            super(child + " failed '" + command + "': " + String.join("\n  caused by ", thrown));
            this.thrown = thrown;
        }

        /** The class name of the exception the command threw. */
        String thrownClass() {
            return classOf(thrown.get(0));
        }

        /** The message of the first exception in the chain of the given class; fails if there is none. */
        String messageOf(Class<? extends Throwable> type) {
            for (String entry : thrown) {
                if (classOf(entry).equals(type.getName())) {
                    return entry.substring(type.getName().length() + 2);
                }
            }
            throw new AssertionError("no " + type.getName() + " in " + getMessage());
        }

        private static String classOf(String entry) {
            int colon = entry.indexOf(": ");
            return colon < 0 ? entry : entry.substring(0, colon);
        }
    }

    /** What a child main does with one command: its words in, the reply payload out (or an exception). */
    @FunctionalInterface
    interface Commands {
        String run(String[] words) throws Exception;
    }

    /**
     * The child side: answers each stdin line with {@code OK <payload>} or {@code ERR <exception chain>}
     * on stdout, until stdin ends. Nothing else may print to stdout.
     */
    static void serve(Commands commands) throws IOException {
        PrintStream out = System.out;
        System.setOut(System.err);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            String reply;
            try {
                String payload = commands.run(line.trim().split(" +"));
                reply = payload.isEmpty() ? OK : OK + " " + escape(payload);
            } catch (Throwable failure) {
                reply = FAILED + " " + encodeChain(failure);
            }
            out.println(reply);
            out.flush();
        }
    }

    private static String encodeChain(Throwable failure) {
        List<String> entries = new ArrayList<>();
        for (Throwable at = failure; at != null && entries.size() < 10; at = at.getCause()) {
            entries.add(escape(at.getClass().getName() + ": " + at.getMessage()));
        }
        return String.join("\t", entries);
    }

    private static String escape(String text) {
        return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t");
    }

    private static String unescape(String text) {
        StringBuilder out = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c != '\\' || i + 1 == text.length()) {
                out.append(c);
                continue;
            }
            char next = text.charAt(++i);
            out.append(next == 'n' ? '\n' : next == 'r' ? '\r' : next == 't' ? '\t' : next);
        }
        return out.toString();
    }
}
