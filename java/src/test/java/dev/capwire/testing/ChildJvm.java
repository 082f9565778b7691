package dev.capwire.testing;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * A child JVM running one of the test sources' main classes: the far end of a real socket in a real
 * process. It talks line by line over stdin/stdout, its stderr is echoed with a prefix, and closing it (or
 * the test dying) ends it: the children exit when stdin closes, and close() kills what is left.
 */
public final class ChildJvm implements AutoCloseable {
    private final Process process;
    private final BufferedReader out;
    private final PrintWriter in;
    private final List<String> transcript = new CopyOnWriteArrayList<>();

    private ChildJvm(Process process) {
        this.process = process;
        this.out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        this.in = new PrintWriter(new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8), true);
    }

    /** Starts {@code mainClass} with the test classpath and Capwire's JVM flags, plus {@code jvmArgs}. */
    public static ChildJvm start(Class<?> mainClass, List<String> jvmArgs, String... args) throws IOException {
        return start(mainClass, jvmArgs, Map.of(), null, args);
    }

    /**
     * Like {@link #start(Class, List, String...)}, with extra environment variables, and stderr written to
     * {@code stderrFile} (when not null) so a test can inspect everything the child logged.
     */
    public static ChildJvm start(Class<?> mainClass, List<String> jvmArgs, Map<String, String> environment,
            Path stderrFile, String... args) throws IOException {
        List<String> flags = new ArrayList<>(List.of("--add-opens", "java.base/jdk.internal.misc=ALL-UNNAMED"));
        flags.addAll(jvmArgs);
        return startBare(Path.of(System.getProperty("java.home")), mainClass, flags, environment, stderrFile, args);
    }

    /**
     * Starts {@code mainClass} on the JDK at {@code javaHome} with the test classpath and exactly
     * {@code jvmArgs} (heap and GC settings aside): none of Capwire's flags, for tests of what a JVM
     * started without them does.
     */
    public static ChildJvm startBare(Path javaHome, Class<?> mainClass, List<String> jvmArgs,
            Map<String, String> environment, Path stderrFile, String... args) throws IOException {
        return launch(List.of(), javaHome, mainClass, jvmArgs, environment, stderrFile, args);
    }

    /**
     * Like {@link #start(Class, List, Map, Path, String...)}, under {@code ulimit -n maxFds}: bash sets the
     * limit and execs the JVM, so {@link #pid()} is the JVM's.
     */
    public static ChildJvm startWithFdLimit(int maxFds, Class<?> mainClass, List<String> jvmArgs, Path stderrFile,
            String... args) throws IOException {
        List<String> flags = new ArrayList<>(List.of("--add-opens", "java.base/jdk.internal.misc=ALL-UNNAMED"));
        flags.addAll(jvmArgs);
        return launch(List.of("bash", "-c", "ulimit -n " + maxFds + " && exec \"$@\"", "bash"),
                Path.of(System.getProperty("java.home")), mainClass, flags, Map.of(), stderrFile, args);
    }

    /**
     * Like {@link #start(Class, List, String...)}, run by {@code wrapper} (a command that ends by exec'ing the
     * JVM command line it is given after its own arguments, so {@link #pid()} is the JVM's).
     */
    public static ChildJvm startWrapped(List<String> wrapper, Class<?> mainClass, String... args) throws IOException {
        return launch(wrapper, Path.of(System.getProperty("java.home")), mainClass,
                List.of("--add-opens", "java.base/jdk.internal.misc=ALL-UNNAMED"), Map.of(), null, args);
    }

    private static ChildJvm launch(List<String> wrapper, Path javaHome, Class<?> mainClass, List<String> jvmArgs,
            Map<String, String> environment, Path stderrFile, String... args) throws IOException {
        List<String> command = new ArrayList<>(wrapper);
        command.add(javaHome.resolve("bin").resolve("java").toString());
        command.add("-Xmx256m");
        command.add("-XX:+UseSerialGC");
        command.addAll(jvmArgs);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(mainClass.getName());
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).redirectError(stderrFile == null
                ? ProcessBuilder.Redirect.INHERIT : ProcessBuilder.Redirect.to(stderrFile.toFile()));
        builder.environment().putAll(environment);
        Process process = builder.start();
        return new ChildJvm(process);
    }

    public static ChildJvm start(Class<?> mainClass, String... args) throws IOException {
        return start(mainClass, List.of(), args);
    }

    public long pid() {
        return process.pid();
    }

    public Process process() {
        return process;
    }

    /** Sends one line to the child's stdin. */
    public void send(String line) {
        in.println(line);
    }

    /** Reads the child's next stdout line, failing after {@code timeoutSeconds} or at its end of output. */
    public String readLine(long timeoutSeconds) throws Exception {
        CompletableFuture<String> line = CompletableFuture.supplyAsync(() -> {
            try {
                return out.readLine();
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
        String result = line.get(timeoutSeconds, TimeUnit.SECONDS);
        if (result == null) {
            throw new IllegalStateException("child " + pid() + " ended its output (exit "
                    + (process.isAlive() ? "still running" : process.exitValue()) + ")");
        }
        transcript.add(result);
        return result;
    }

    /** Every stdout line read so far, in order. */
    public List<String> transcript() {
        return List.copyOf(transcript);
    }

    /** Reads lines until one starts with {@code prefix}; returns the rest of that line. */
    public String expect(String prefix, long timeoutSeconds) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds);
        for (;;) {
            long left = Math.max(1, TimeUnit.NANOSECONDS.toSeconds(deadline - System.nanoTime()));
            String line = readLine(left);
            if (line.startsWith(prefix)) {
                return line.substring(prefix.length()).trim();
            }
        }
    }

    /** SIGKILL, and wait for the process to be gone. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    /** Waits for a normal exit after stdin closes; returns the exit code. */
    public int finish(long timeoutSeconds) throws InterruptedException {
        in.close();
        if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            kill();
            throw new IllegalStateException("child " + pid() + " did not exit within " + timeoutSeconds + " s");
        }
        return process.exitValue();
    }

    /** Closes stdin (the children exit on it), and kills the child if it has not gone within 5 s. */
    @Override
    public void close() {
        in.close();
        try {
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                kill();
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
