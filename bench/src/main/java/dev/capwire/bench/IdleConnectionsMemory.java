package dev.capwire.bench;

import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.HandshakeServer;
import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.handshake.Service;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.Writer;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * What an idle negotiated connection costs in memory, on both ends:
 * {@code java <flags> -cp bench/target/benchmarks.jar dev.capwire.bench.IdleConnectionsMemory [count]}.
 *
 * <p>A {@link HandshakeServer} with one service runs in a child JVM; this JVM opens {@code count} (default
 * 10,000) negotiated connections to it on one {@link Transport} and leaves them idle. Each side is measured
 * three times, each time after {@code System.gc()} (three rounds, then a wait until the cleaner has freed the
 * direct buffers the GC found): before opening, with all connections open and idle, and after closing them all (once
 * the server has released every socket, and a settle). A measure is the resident set ({@code VmRSS} in
 * {@code /proc/<pid>/status}), the heap in use (and committed), the direct buffers in use ({@code BufferPoolMXBean "direct"}:
 * bytes and count) and the open file descriptors. The child measures itself when it reads {@code MEASURE} on
 * its stdin.
 *
 * <p>A warm-up of {@link #WARM_UP} connections is opened and closed before the first measure, so one-time costs
 * (class loading, the transports' buffer pools filling) fall before it and are not charged to the connections.
 * The child gets the {@link JvmFlags}, and the heap, GC and {@code capwire.*} settings this JVM was started
 * with, so both ends run alike.
 */
public final class IdleConnectionsMemory {
    static final int DEFAULT_COUNT = 10_000;
    static final int WARM_UP = 64;
    static final String SERVICE = "idle";
    private static final long SETTLE_MS = 1_000;
    private static final long CLOSE_TIMEOUT_MS = 60_000;
    private static final long CLEANER_QUIET_MS = 500;
    private static final long CLEANER_TIMEOUT_MS = 30_000;

    private IdleConnectionsMemory() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 2 && args[0].equals("server")) {
            server(Path.of(args[1]));
            return;
        }
        int count = args.length > 0 ? Integer.parseInt(args[0]) : DEFAULT_COUNT;
        // "second-cycle": open and close all of them once before measuring, so that what the first cycle costs
        // once (compiled code, the collector's own structures grown with the heap, malloc arenas) is not read as
        // memory the connections kept.
        boolean secondCycle = args.length > 1 && args[1].equals("second-cycle");
        run(count, secondCycle ? count : WARM_UP, System.out);
    }

    /** One side's memory at one moment, after a full GC. */
    record Snapshot(long rssBytes, long heapBytes, long heapCommittedBytes, long directBytes, long directBuffers,
            long fds) {
        static final String PREFIX = "MEASURED ";

        String format() {
            return PREFIX + "rss=" + rssBytes + " heap=" + heapBytes + " heapCommitted=" + heapCommittedBytes
                    + " direct=" + directBytes + " directBuffers=" + directBuffers + " fds=" + fds;
        }

        static Snapshot parse(String line) {
            if (line == null || !line.startsWith(PREFIX)) {
                throw new IllegalStateException("server did not measure: " + line);
            }
            long[] values = new long[6];
            String[] fields = line.substring(PREFIX.length()).split(" ");
            for (int i = 0; i < values.length; i++) {
                values[i] = Long.parseLong(fields[i].substring(fields[i].indexOf('=') + 1));
            }
            return new Snapshot(values[0], values[1], values[2], values[3], values[4], values[5]);
        }

        long get(int measure) {
            switch (measure) {
                case 0: return rssBytes;
                case 1: return heapBytes;
                case 2: return heapCommittedBytes;
                case 3: return directBytes;
                case 4: return directBuffers;
                default: return fds;
            }
        }
    }

    /** The three measures of one side. */
    record Side(String name, Snapshot before, Snapshot idle, Snapshot closed) {
        double perConnection(long idleValue, long beforeValue, int count) {
            return (double) (idleValue - beforeValue) / count;
        }

        double rssPerConnection(int count) {
            return perConnection(idle.rssBytes, before.rssBytes, count);
        }

        double heapPerConnection(int count) {
            return perConnection(idle.heapBytes, before.heapBytes, count);
        }

        double directPerConnection(int count) {
            return perConnection(idle.directBytes, before.directBytes, count);
        }

        /** RSS after closing every connection, in percent of RSS before opening them. */
        double rssClosedPercent() {
            return 100.0 * closed.rssBytes / before.rssBytes;
        }
    }

    record Result(int count, Side client, Side server) {
    }

    private static final String[] MEASURES = {"rss (B)", "heap (B)", "heap committed", "direct (B)",
        "direct buffers", "fds"};

    static Result run(int count, PrintStream out) throws Exception {
        return run(count, WARM_UP, out);
    }

    /** Measures {@code count} connections after a warm-up cycle of {@code warmUp} opened and closed. */
    static Result run(int count, int warmUp, PrintStream out) throws Exception {
        if (count <= 0) {
            throw new IllegalArgumentException("count must be positive: " + count);
        }
        double loadBefore = loadAverage();
        try (Child child = Child.start();
                Transport transport = Transport.create(TransportOptions.defaults())) {
            Endpoint endpoint = Endpoint.unix(child.socket);
            ClientOptions options = ClientOptions.builder(SERVICE).build();
            long serverFdsAtStart = child.openFds();
            closeAll(open(transport, endpoint, options, warmUp), child, serverFdsAtStart);

            Snapshot clientBefore = measureSelf();
            Snapshot serverBefore = child.measure();

            long openStart = System.nanoTime();
            List<NegotiatedConnection> connections = open(transport, endpoint, options, count);
            long openNanos = System.nanoTime() - openStart;
            Thread.sleep(SETTLE_MS);
            Snapshot clientIdle = measureSelf();
            Snapshot serverIdle = child.measure();

            long closeStart = System.nanoTime();
            closeAll(connections, child, serverBefore.fds);
            long closeNanos = System.nanoTime() - closeStart;
            connections = null;
            Thread.sleep(SETTLE_MS);
            Snapshot clientClosed = measureSelf();
            Snapshot serverClosed = child.measure();
            double loadAfter = loadAverage();

            Result result = new Result(count, new Side("client", clientBefore, clientIdle, clientClosed),
                    new Side("server", serverBefore, serverIdle, serverClosed));
            print(result, out, loadBefore, loadAfter, openNanos, closeNanos);
            return result;
        }
    }

    private static List<NegotiatedConnection> open(Transport transport, Endpoint endpoint, ClientOptions options,
            int count) throws Exception {
        List<NegotiatedConnection> connections = new ArrayList<>(count);
        try {
            for (int i = 0; i < count; i++) {
                connections.add(HandshakeClient.connect(transport, endpoint, options, (connection, frame) -> { }));
            }
        } catch (Exception | Error e) {
            connections.forEach(NegotiatedConnection::close);
            throw new IOException("connection " + (connections.size() + 1) + " of " + count + " failed", e);
        }
        return connections;
    }

    /** Closes every connection, waits until each has fully closed here and the server holds {@code serverFds}. */
    private static void closeAll(List<NegotiatedConnection> connections, Child child, long serverFds)
            throws Exception {
        connections.forEach(NegotiatedConnection::close);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(CLOSE_TIMEOUT_MS);
        for (NegotiatedConnection connection : connections) {
            connection.connection().closeFuture().get(Math.max(1, deadline - System.nanoTime()),
                    TimeUnit.NANOSECONDS);
        }
        while (child.openFds() > serverFds) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the server still holds " + child.openFds() + " fds, " + serverFds
                        + " before the connections were opened");
            }
            Thread.sleep(10);
        }
    }

    private static void print(Result r, PrintStream out, double loadBefore, double loadAfter, long openNanos,
            long closeNanos) {
        out.printf(Locale.ROOT, "Idle connection memory: %d negotiated connections over a Unix socket, "
                + "client in this JVM (pid %d), server in a child JVM%n", r.count, ProcessHandle.current().pid());
        out.printf(Locale.ROOT, "load average (1 min) %.2f before, %.2f after; %d CPUs; opened in %.0f ms "
                + "(%.1f us each), closed in %.0f ms%n", loadBefore, loadAfter,
                Runtime.getRuntime().availableProcessors(), openNanos / 1e6, openNanos / 1e3 / r.count,
                closeNanos / 1e6);
        out.printf(Locale.ROOT, "%-7s %-15s %14s %14s %14s %16s %14s%n", "side", "measure", "before", "idle",
                "closed", "per connection", "closed/before");
        for (Side side : List.of(r.client, r.server)) {
            for (int m = 0; m < MEASURES.length; m++) {
                long before = side.before.get(m);
                long idle = side.idle.get(m);
                long closed = side.closed.get(m);
                out.printf(Locale.ROOT, "%-7s %-15s %14d %14d %14d %16.1f %14s%n", side.name, MEASURES[m], before,
                        idle, closed, side.perConnection(idle, before, r.count),
                        before == 0 ? "-" : String.format(Locale.ROOT, "%.1f %%", 100.0 * closed / before));
            }
        }
        for (Side side : List.of(r.client, r.server)) {
            out.printf(Locale.ROOT, "%s: per idle connection rss %.0f B, heap %.0f B, direct %.0f B; "
                    + "rss after close %.1f %% of before%n", side.name, side.rssPerConnection(r.count),
                    side.heapPerConnection(r.count), side.directPerConnection(r.count), side.rssClosedPercent());
        }
    }

    /**
     * Full GCs, then a wait until the cleaner has freed the direct buffers they found (the count has not moved
     * for {@link #CLEANER_QUIET_MS}; at most {@link #CLEANER_TIMEOUT_MS}), then this process's figures. The
     * cleaner is one thread: on a loaded host freeing 20,000 buffers took seconds, and a fixed pause measured
     * thousands of them as still in use.
     */
    static Snapshot measureSelf() throws IOException, InterruptedException {
        BufferPoolMXBean direct = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class).stream()
                .filter(pool -> pool.getName().equals("direct")).findFirst().orElseThrow();
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(100);
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(CLEANER_TIMEOUT_MS);
        long lastCount = direct.getCount();
        long quietSince = System.nanoTime();
        while (System.nanoTime() - quietSince < TimeUnit.MILLISECONDS.toNanos(CLEANER_QUIET_MS)
                && System.nanoTime() < deadline) {
            Thread.sleep(50);
            long nowCount = direct.getCount();
            if (nowCount != lastCount) {
                lastCount = nowCount;
                quietSince = System.nanoTime();
            }
        }
        System.gc();
        java.lang.management.MemoryUsage heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
        return new Snapshot(rssBytes(Path.of("/proc/self/status")), heap.getUsed(), heap.getCommitted(),
                direct.getMemoryUsed(),
                direct.getCount(), openFds(Path.of("/proc/self/fd")));
    }

    static long rssBytes(Path status) throws IOException {
        for (String line : Files.readAllLines(status)) {
            if (line.startsWith("VmRSS:")) {
                String[] fields = line.trim().split("\\s+");
                if (!fields[2].equals("kB")) {
                    throw new IllegalStateException("unexpected unit in " + line);
                }
                return Long.parseLong(fields[1]) * 1024;
            }
        }
        throw new IllegalStateException("no VmRSS in " + status);
    }

    static long openFds(Path fdDirectory) throws IOException {
        try (Stream<Path> fds = Files.list(fdDirectory)) {
            return fds.count();
        }
    }

    private static double loadAverage() {
        try {
            return Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
        } catch (IOException | RuntimeException e) {
            return ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        }
    }

    /**
     * The child's side: a handshake server with one service and no limits in the way of 10,000 connections from
     * one process (rate, total and per-uid limits lifted, the transport's per-server limit too). Prints {@code READY}, answers each {@code MEASURE}
     * line with a {@link Snapshot}, and closes when its stdin does.
     */
    private static void server(Path socket) throws Exception {
        try (Transport transport = Transport.create(TransportOptions.builder()
                .maxConnectionsPerServer(Integer.MAX_VALUE).build())) {
            HandshakeServer server = HandshakeServer.builder(transport).noSecret()
                    .helloRateLimit(Integer.MAX_VALUE).maxConnections(Integer.MAX_VALUE)
                    .maxConnectionsPerUid(Integer.MAX_VALUE)
                    .service(Service.builder(SERVICE, "1.0.0", (connection, frame) -> { }).build())
                    .build();
            server.listen(Endpoint.unix(socket));
            System.out.println("READY");
            System.out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                if (line.equals("MEASURE")) {
                    System.out.println(measureSelf().format());
                    System.out.flush();
                }
            }
            server.close();
        } finally {
            Files.deleteIfExists(socket);
        }
    }

    /** The server JVM. */
    private static final class Child implements AutoCloseable {
        private final Process process;
        private final Path dir;
        final Path socket;
        private final BufferedReader out;
        private final Writer in;

        private Child(Process process, Path dir, Path socket) {
            this.process = process;
            this.dir = dir;
            this.socket = socket;
            this.out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            this.in = new java.io.OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
        }

        static Child start() throws IOException {
            Path dir = Files.createTempDirectory(Path.of("/tmp"), "cwidle");
            Path socket = dir.resolve("idle.sock");
            List<String> command = new ArrayList<>();
            command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            command.addAll(JvmFlags.all());
            command.addAll(forwardedFlags());
            command.addAll(List.of("-cp", System.getProperty("java.class.path"),
                    IdleConnectionsMemory.class.getName(), "server", socket.toString()));
            Process process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            Child child = new Child(process, dir, socket);
            String line = child.out.readLine();
            if (!"READY".equals(line)) {
                process.destroyForcibly();
                throw new IOException("server JVM did not start: " + line);
            }
            return child;
        }

        /** This JVM's heap, GC and other -XX settings and its capwire.* properties, for the child to run alike. */
        private static List<String> forwardedFlags() {
            List<String> flags = new ArrayList<>();
            for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
                if (arg.startsWith("-Xms") || arg.startsWith("-Xmx") || arg.startsWith("-Xss")
                        || arg.startsWith("-XX:") || arg.startsWith("-Dcapwire.")) {
                    flags.add(arg);
                }
            }
            return flags;
        }

        Snapshot measure() throws IOException {
            in.write("MEASURE\n");
            in.flush();
            return Snapshot.parse(out.readLine());
        }

        long openFds() throws IOException {
            return IdleConnectionsMemory.openFds(Path.of("/proc", Long.toString(process.pid()), "fd"));
        }

        @Override
        public void close() throws Exception {
            in.close();
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
            }
            Files.deleteIfExists(socket);
            Files.deleteIfExists(dir);
        }
    }
}
