package dev.capwire.bench.profile;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import jdk.jfr.Configuration;
import jdk.jfr.Recording;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramLogWriter;
import org.HdrHistogram.Recorder;

/**
 * The bench suite as a profiling tool: runs one cross-process scenario with the user's settings and any
 * {@code capwire.*} property, prints throughput and latency percentiles each second and at the end, and writes an
 * HdrHistogram log, a percentile plot (SVG) and, with {@code --jfr}, a flight recording of each side, with
 * {@code --profiler=EVENT} an async-profiler flame graph of each side ({@link FlameGraphs}). Run it with
 * {@code bash ci/demo.sh dev.capwire.bench.profile.Profile --help} for the options (see docs/benchmark-log.md, "Profiling tool").
 */
public final class Profile {
    private static final double[] PERCENTILES = {50, 90, 99, 99.9, 99.99};

    private Profile() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 1 && (args[0].equals("--help") || args[0].equals("-h"))) {
            System.out.println(Settings.USAGE);
            return;
        }
        Settings settings;
        try {
            settings = Settings.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.err.println(Settings.USAGE);
            System.exit(2);
            return;
        }
        // Before any Capwire class reads them; the server JVM gets the capwire.* ones too (PeerProcess).
        settings.properties().forEach(System::setProperty);
        Files.createDirectories(settings.out());
        // The JVM announces a recording on stdout, where the server's READY line is awaited: keep it quiet.
        List<String> serverJvmOptions = settings.jfr() ? List.of("-Xlog:jfr+startup=error",
                "-XX:StartFlightRecording=settings=profile,dumponexit=true,filename="
                        + settings.out().toAbsolutePath().resolve("server.jfr")) : List.of();
        try (Scenario scenario = create(settings, serverJvmOptions)) {
            run(settings, scenario);
        }
        if (settings.jfr()) {
            System.out.println("flight recordings: " + settings.out().resolve("client.jfr") + ", "
                    + settings.out().resolve("server.jfr"));
        }
    }

    private static Scenario create(Settings settings, List<String> serverJvmOptions) throws Exception {
        return switch (settings.scenario()) {
            case "roundtrip" -> new RequestScenario(settings, serverJvmOptions, false);
            case "pipelined" -> new RequestScenario(settings, serverJvmOptions, true);
            case "stream" -> new StreamScenario(settings, serverJvmOptions);
            case "connect" -> new ConnectScenario(settings, serverJvmOptions);
            case "multi" -> new MultiScenario(settings, serverJvmOptions);
            default -> throw new IllegalArgumentException(settings.scenario());
        };
    }

    private static void run(Settings settings, Scenario scenario) throws Exception {
        Recorder recorder = new Recorder(3);
        LongAdder done = new LongAdder();
        long start = System.nanoTime();
        long measureFrom = start + TimeUnit.SECONDS.toNanos(settings.warmupSeconds());
        long deadline = measureFrom + TimeUnit.SECONDS.toNanos(settings.durationSeconds());
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < settings.threads(); t++) {
            int thread = t;
            Thread worker = new Thread(() -> {
                try {
                    scenario.run(thread, deadline, recorder, done);
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }, "profile-" + t);
            worker.setDaemon(true);
            threads.add(worker);
        }
        PrintStream out = System.out;
        out.println("Profile: " + settings.describe());
        out.println("load average before: " + loadAverage());
        threads.forEach(Thread::start);
        sleepUntil(measureFrom, failure);
        scenario.interval(recorder); // the warm-up's latencies are dropped
        done.sumThenReset();
        Recording recording = settings.jfr() ? new Recording(Configuration.getConfiguration("profile")) : null;
        if (recording != null) {
            recording.start();
        }
        FlameGraphs flameGraphs = settings.profilerEvent() == null ? null
                : FlameGraphs.start(settings.profilerEvent(), settings.out(), scenario.server());
        Histogram total = new Histogram(3);
        long totalOps = 0;
        long clientCpuBefore = CpuTime.nanos(ProcessHandle.current().pid());
        long serverCpuBefore = CpuTime.nanos(scenario.server().pid());
        long startedMs = System.currentTimeMillis();
        try (PrintStream log = new PrintStream(Files.newOutputStream(settings.out().resolve("latency.hlog")), false,
                StandardCharsets.UTF_8)) {
            HistogramLogWriter writer = new HistogramLogWriter(log);
            writer.outputComment("Capwire profile: " + settings.describe() + "; values in nanoseconds");
            writer.outputLogFormatVersion();
            writer.outputStartTime(startedMs);
            writer.setBaseTime(startedMs);
            writer.outputLegend();
            for (int second = 1; second <= settings.durationSeconds(); second++) {
                long intervalStartMs = System.currentTimeMillis();
                sleepUntil(measureFrom + TimeUnit.SECONDS.toNanos(second), failure);
                long ops = done.sumThenReset();
                Histogram interval = scenario.interval(recorder);
                interval.setStartTimeStamp(intervalStartMs);
                interval.setEndTimeStamp(System.currentTimeMillis());
                writer.outputIntervalHistogram(interval);
                total.add(interval);
                totalOps += ops;
                out.printf(Locale.ROOT, "%3d s  %,14d ops/s  %s%n", second, ops, percentiles(interval));
            }
        }
        String cpu = cpuPerOperation(clientCpuBefore, CpuTime.nanos(ProcessHandle.current().pid()),
                serverCpuBefore, CpuTime.nanos(scenario.server().pid()), totalOps);
        List<Path> graphs = flameGraphs == null ? List.of() : flameGraphs.stop();
        for (Thread thread : threads) {
            thread.join(TimeUnit.SECONDS.toMillis(60));
        }
        if (recording != null) {
            recording.dump(settings.out().resolve("client.jfr"));
            recording.close();
        }
        if (failure.get() != null) {
            throw new IllegalStateException("a client thread failed", failure.get());
        }
        String summary = String.format(Locale.ROOT, "Profile: %s%nthroughput %,.0f ops/s over %d s; latency (%,d "
                + "samples) %s, max %s%n%s%nload average after: %s%n", settings.describe(),
                totalOps / (double) settings.durationSeconds(), settings.durationSeconds(), total.getTotalCount(),
                percentiles(total), micros(total.getMaxValue()), cpu, loadAverage()) + scenario.summary();
        out.print(summary);
        Files.writeString(settings.out().resolve("summary.txt"), summary);
        Files.writeString(settings.out().resolve("latency.svg"), LatencyPlot.svg(total, "Capwire "
                + settings.scenario() + ": " + settings.payloadBytes() + " B, " + String.format(Locale.ROOT,
                "%,.0f ops/s", totalOps / (double) settings.durationSeconds()) + ", " + total.getTotalCount()
                + " samples"));
        out.println("wrote " + settings.out().resolve("latency.hlog") + ", " + settings.out().resolve("latency.svg")
                + ", " + settings.out().resolve("summary.txt"));
        if (!graphs.isEmpty()) {
            out.println("flame graphs: " + graphs.get(0) + ", " + graphs.get(1));
        }
    }

    /** CPU time each JVM spent per operation while measured (all its threads: the loops, the JIT, the GC). */
    private static String cpuPerOperation(long clientBefore, long clientAfter, long serverBefore, long serverAfter,
            long ops) {
        if (clientBefore < 0 || clientAfter < 0 || serverBefore < 0 || serverAfter < 0 || ops == 0) {
            return "cpu per op: unknown (no /proc here)";
        }
        return String.format(Locale.ROOT, "cpu per op (user + system, whole JVM): client %.1f ns, server %.1f ns",
                (clientAfter - clientBefore) / (double) ops, (serverAfter - serverBefore) / (double) ops);
    }

    private static void sleepUntil(long nanos, AtomicReference<Throwable> failure) throws InterruptedException {
        for (long left; (left = nanos - System.nanoTime()) > 0; ) {
            if (failure.get() != null) {
                throw new IllegalStateException("a client thread failed", failure.get());
            }
            TimeUnit.NANOSECONDS.sleep(Math.min(left, TimeUnit.MILLISECONDS.toNanos(100)));
        }
    }

    private static String percentiles(Histogram histogram) {
        StringBuilder text = new StringBuilder();
        for (double percentile : PERCENTILES) {
            text.append(String.format(Locale.ROOT, "p%s %s  ", percentile == (long) percentile
                    ? Long.toString((long) percentile) : Double.toString(percentile),
                    micros(histogram.getValueAtPercentile(percentile))));
        }
        return text.toString().trim();
    }

    private static String micros(long nanos) {
        return String.format(Locale.ROOT, "%.2f us", nanos / 1000.0);
    }

    private static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim() + " (" + Runtime.getRuntime().availableProcessors()
                    + " CPUs)";
        } catch (IOException e) {
            return "unknown (" + e.getMessage() + ")";
        }
    }
}
