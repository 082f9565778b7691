package dev.capwire.bench;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.regex.Pattern;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.CommandLineOptionException;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Runs every Capwire benchmark beside its baseline with short settings (1 fork, 2 x 1 s warm-up, 3 x 1 s
 * measurement) and ends with one Capwire/baseline ratio per line. Any JMH command-line option overrides
 * those settings, e.g. {@code -f 3 -wi 3 -i 5} for the figures in docs/benchmarks.md.
 */
public final class QuickRun {
    /**
     * What a comparison divides. Every ratio is Capwire over its baseline, so for {@code SCORE} its direction
     * follows the benchmark's mode (time per op: lower is better; ops per second: higher is better); the
     * other two are always times, lower is better.
     */
    enum Metric {
        /** JMH's primary score. */
        SCORE,
        /** The median sample of a sample-mode (latency) benchmark. */
        P50,
        /** A throughput benchmark's score turned into time per operation, for targets stated as costs. */
        TIME_PER_OP,
        /** A sample-mode benchmark's primary score, the mean time per operation, named as such. */
        MEAN
    }

    /**
     * A Capwire benchmark and the baseline it is measured against: two methods of one class, or (for the
     * transport benchmarks) two values of the class's {@code peer} parameter.
     */
    record Comparison(Class<?> benchmark, String capwire, String baseline, boolean byPeer, Metric metric) {
        static Comparison methods(Class<?> benchmark, String capwireMethod, String baselineMethod) {
            return new Comparison(benchmark, capwireMethod, baselineMethod, false, Metric.SCORE);
        }

        static Comparison peers(Class<?> benchmark, String capwirePeer, String baselinePeer, boolean p50) {
            return peers(benchmark, capwirePeer, baselinePeer, p50 ? Metric.P50 : Metric.SCORE);
        }

        static Comparison peers(Class<?> benchmark, String capwirePeer, String baselinePeer, Metric metric) {
            return new Comparison(benchmark, capwirePeer, baselinePeer, true, metric);
        }

        boolean p50() {
            return metric == Metric.P50;
        }

        String include() {
            String prefix = "^" + Pattern.quote(benchmark.getName() + ".");
            return byPeer ? prefix + ".*$" : prefix + "(" + capwire + "|" + baseline + ")$";
        }

        boolean matches(RunResult result, String side) {
            String name = result.getParams().getBenchmark();
            if (!name.startsWith(benchmark.getName() + ".")) {
                return false;
            }
            return byPeer ? side.equals(result.getParams().getParam("peer")) : name.equals(benchmark.getName() + "." + side);
        }

        String label() {
            String suffix = switch (metric) {
                case P50 -> ",p50";
                case TIME_PER_OP -> ",time/op";
                case MEAN -> ",mean";
                case SCORE -> "";
            };
            return benchmark.getSimpleName() + (byPeer ? "[" + capwire + "/" + baseline + suffix + "]" : "");
        }

        /** Capwire over baseline in this comparison's metric, from two scores in the benchmark's own unit. */
        double ratio(double capwireScore, double baselineScore) {
            // Time per op is the reciprocal of ops per time, so the time ratio is the inverse score ratio.
            return metric == Metric.TIME_PER_OP ? baselineScore / capwireScore : capwireScore / baselineScore;
        }
    }

    static final List<Comparison> COMPARISONS = List.of(
            Comparison.methods(JniCallBenchmark.class, "capwireJniCall", "javaStaticCall"),
            Comparison.methods(UnixSocketPingBenchmark.class, "capwireNative", "jdkSocketChannel"),
            Comparison.peers(RoundTripBenchmark.class, "capwire-backoff", "jdk", true),
            Comparison.peers(RoundTripBenchmark.class, "capwire-spin", "netty", true),
            Comparison.peers(PipelinedBenchmark.class, "capwire-backoff", "netty", false),
            // The ceiling for request/reply: the same frames echoed by plain JDK channels, no correlation.
            Comparison.peers(PipelinedBenchmark.class, "capwire-backoff", "jdk-raw", false),
            // Request/reply with correlation and deadlines, 1024 in flight: target at least 0.5 (issue 15).
            Comparison.peers(PipelinedBenchmark.class, "capwire-request", "jdk-raw", false),
            // The same with the benchmark thread as the loop (invoker mode): two threads, as the baseline.
            Comparison.peers(PipelinedBenchmark.class, "capwire-request-invoker", "jdk-raw", false),
            Comparison.peers(StreamBenchmark.class, "capwire-offer", "jdk-batch", false),
            Comparison.peers(StreamBenchmark.class, "capwire-batch", "jdk-batch", false),
            // The same with the benchmark thread as the loop (invoker mode): two threads a side, as the baseline.
            Comparison.peers(StreamBenchmark.class, "capwire-batch-invoker", "jdk-batch", false),
            // The lever itself, measured in the same run: the batch against one offer per frame.
            Comparison.peers(StreamBenchmark.class, "capwire-batch", "capwire-offer", false),
            // Bulk (issue 15): 1 MiB messages, fragmented, payload bytes per second (the C probe's line is after JMH).
            Comparison.peers(BulkBenchmark.class, "capwire-send", "jdk-batch", false),
            Comparison.peers(HandshakeBenchmark.class, "capwire", "jdk", Metric.TIME_PER_OP),
            Comparison.peers(HandshakeBenchmark.class, "capwire-secret", "jdk", Metric.TIME_PER_OP),
            // A client that runs its own loop (invoker mode): no hand-offs to a loop thread.
            Comparison.peers(HandshakeBenchmark.class, "capwire-invoker", "jdk", Metric.TIME_PER_OP),
            // Not the target; like for like: the JDK connect here also waits one round trip.
            Comparison.peers(HandshakeBenchmark.class, "capwire", "jdk-roundtrip", Metric.TIME_PER_OP),
            // RPC (issue 12). Spinning unary round trip: target p50 at most 1.3x the raw request/reply it rides on.
            // Its client already runs in invoker mode (the calling thread drives the loop while it waits), so
            // rpc/raw-request here is the invoker-mode ratio; there is no separate invoker peer to compare.
            Comparison.peers(RpcRoundTripBenchmark.class, "rpc", "raw-request", true),
            Comparison.peers(RpcRoundTripBenchmark.class, "rpc", "raw-notify", true),
            Comparison.peers(RpcRoundTripBenchmark.class, "rpc", "grpc", true),
            // Blocking calls with the defaults (a loop thread per side, backoff): what an application that tuned
            // nothing waits per call, against the JDK's blocking echo, the request/reply under it, and gRPC.
            Comparison.peers(BlockingCallBenchmark.class, "rpc", "jdk", true),
            Comparison.peers(BlockingCallBenchmark.class, "raw-request", "jdk", true),
            Comparison.peers(BlockingCallBenchmark.class, "rpc", "raw-request", true),
            Comparison.peers(BlockingCallBenchmark.class, "rpc", "grpc", true),
            Comparison.peers(BlockingCallBenchmark.class, "rpc-executor", "jdk", true),
            // 128 in flight, calls per second (higher is better): targets at least 0.7 and at least 40.
            Comparison.peers(RpcInFlightBenchmark.class, "rpc", "raw-request", false),
            // The same with the benchmark thread as the client's loop (invoker mode) on both sides of the ratio.
            Comparison.peers(RpcInFlightBenchmark.class, "rpc-invoker", "raw-request-invoker", false),
            Comparison.peers(RpcInFlightBenchmark.class, "rpc", "grpc", false),
            Comparison.peers(RpcInFlightBenchmark.class, "rpc-executor", "grpc", false),
            // Like with like: both asynchronous stubs in their callback form (a ResultSink, gRPC's StreamObserver),
            // and the invoker-mode client against gRPC.
            Comparison.peers(RpcInFlightBenchmark.class, "rpc-sink", "grpc", false),
            Comparison.peers(RpcInFlightBenchmark.class, "rpc-invoker", "grpc", false),
            // Server stream items per second (higher is better).
            Comparison.peers(RpcStreamBenchmark.class, "rpc", "grpc", false),
            // Broker (issue 13). Connect to the first answered call through the broker: target at most 2x direct,
            // at the median; the mean beside it carries the host's scheduling tail.
            Comparison.peers(BrokerConnectBenchmark.class, "broker", "direct", Metric.P50),
            Comparison.peers(BrokerConnectBenchmark.class, "broker-early", "direct", Metric.P50),
            Comparison.peers(BrokerConnectBenchmark.class, "broker", "direct", Metric.MEAN),
            Comparison.peers(BrokerConnectBenchmark.class, "broker-early", "direct", Metric.MEAN),
            // Round trip on a handed-off connection against a direct one: target 1 within noise (no proxy).
            Comparison.peers(BrokerRoundTripBenchmark.class, "handed-off", "direct", true),
            // Hand-offs per second (4 client threads) against direct handshakes per second (higher is better).
            Comparison.peers(BrokerHandoffRateBenchmark.class, "broker", "direct", false));

    private QuickRun() {
    }

    public static void main(String[] args) throws RunnerException, java.io.IOException {
        CommandLineOptions given;
        try {
            given = new CommandLineOptions(args);
        } catch (CommandLineOptionException e) {
            System.err.println(e.getMessage());
            System.exit(2);
            return;
        }
        if (given.shouldHelp()) {
            given.showHelp();
            return;
        }
        Collection<RunResult> results;
        try {
            results = new Runner(options(given)).run();
        } catch (org.openjdk.jmh.runner.NoBenchmarksException e) {
            results = List.of(); // the pattern names only what runs after JMH (MultiProducer)
        }
        System.out.println();
        ratios(results).forEach(System.out::println);
        socketFloor(results).ifPresent(System.out::println);
        streamFloor(results).ifPresent(System.out::println);
        bulkFloor(results).ifPresent(System.out::println);
        multiProducer(given).forEach(System.out::println);
    }

    /** Probe runs per quick run: its p50 moves between runs on these hosts (2.4 to 3.9 us within one hour). */
    static final int PROBE_RUNS = 3;

    /**
     * The spinning transport against the floor for any socket round trip on this host: the C busy-poll
     * probe (native/bench/pingpong_probe.c, built by the bindings module), run now, right after JMH,
     * {@link #PROBE_RUNS} times; the ratio uses the median of their p50s, as JMH's side is pooled over forks.
     */
    static java.util.Optional<String> socketFloor(Collection<RunResult> results) {
        java.nio.file.Path probe = java.nio.file.Path.of("bindings/target/cmake/capwire_pingpong_probe");
        Comparison spin = Comparison.peers(RoundTripBenchmark.class, "capwire-spin", "c-probe", true);
        RunResult capwire = find(results, spin, spin.capwire());
        if (capwire == null || !java.nio.file.Files.isExecutable(probe)) {
            return java.util.Optional.empty();
        }
        double[] floors = new double[PROBE_RUNS];
        List<String> outputs = new ArrayList<>();
        try {
            for (int i = 0; i < PROBE_RUNS; i++) {
                Process run = new ProcessBuilder(probe.toString(), "200000").redirectErrorStream(true).start();
                String output = new String(run.getInputStream().readAllBytes(),
                        java.nio.charset.StandardCharsets.UTF_8).trim();
                java.util.regex.Matcher p50 = Pattern.compile("p50_us=([0-9.]+)").matcher(output);
                if (run.waitFor() != 0 || !p50.find()) {
                    return java.util.Optional.of("socket floor: probe failed: " + output);
                }
                floors[i] = Double.parseDouble(p50.group(1));
                outputs.add(output);
            }
        } catch (java.io.IOException | InterruptedException e) {
            return java.util.Optional.of("socket floor: probe failed: " + e);
        }
        java.util.Arrays.sort(floors);
        double floor = floors[PROBE_RUNS / 2];
        double spinP50 = capwire.getPrimaryResult().getStatistics().getPercentile(50);
        return java.util.Optional.of(String.format(
                "RoundTripBenchmark[capwire-spin/c-busy-poll-probe,p50]: Capwire/baseline = %s (p50 %.3f vs %.3f us,"
                        + " the median of %d probe runs: %s)",
                ratioText(spinP50 / floor), spinP50, floor, PROBE_RUNS, String.join("; ", outputs)));
    }

    /**
     * Each Capwire stream peer against the C stream probe (native/bench/stream_probe.c): one process writing the
     * same frames in 64 KiB batches to another that walks every header, for the same number of seconds as one
     * measured iteration, run {@link #PROBE_RUNS} times right after JMH; the ratio uses the median rate.
     */
    static java.util.Optional<String> streamFloor(Collection<RunResult> results) {
        java.nio.file.Path probe = java.nio.file.Path.of("bindings/target/cmake/capwire_stream_probe");
        List<RunResult> capwire = results.stream()
                .filter(result -> result.getParams().getBenchmark().startsWith(StreamBenchmark.class.getName() + ".")
                        && result.getParams().getParam("peer").startsWith("capwire"))
                .toList();
        if (capwire.isEmpty() || !java.nio.file.Files.isExecutable(probe)) {
            return java.util.Optional.empty();
        }
        String payload = capwire.get(0).getParams().getParam("payloadBytes");
        List<String> outputs = new ArrayList<>();
        double floor = streamProbe(probe, payload, outputs);
        if (Double.isNaN(floor)) {
            return java.util.Optional.of("stream floor: probe failed: " + outputs);
        }
        StringBuilder lines = new StringBuilder();
        for (RunResult result : capwire) {
            double score = result.getPrimaryResult().getScore();
            if (lines.length() > 0) {
                lines.append(System.lineSeparator());
            }
            lines.append(String.format("StreamBenchmark[%s/c-stream-probe]: Capwire/baseline = %s (%.0f vs %.0f"
                    + " frames/s, the median of %d probe runs: %s)", result.getParams().getParam("peer"),
                    ratioText(score / floor), score, floor, PROBE_RUNS, String.join("; ", outputs)));
        }
        return java.util.Optional.of(lines.toString());
    }

    /**
     * Runs the C stream probe {@link #PROBE_RUNS} times with {@code payload} bytes a frame, each for one second,
     * adding each run's output line to {@code outputs}; returns the median frames per second, or NaN if a run
     * failed (its output, or the exception, is then the last line in {@code outputs}).
     */
    static double streamProbe(java.nio.file.Path probe, String payload, List<String> outputs) {
        double[] rates = new double[PROBE_RUNS];
        try {
            for (int i = 0; i < PROBE_RUNS; i++) {
                Process run = new ProcessBuilder(probe.toString(), payload, "1").redirectErrorStream(true).start();
                String output = new String(run.getInputStream().readAllBytes(),
                        java.nio.charset.StandardCharsets.UTF_8).trim();
                outputs.add(output);
                java.util.regex.Matcher rate = Pattern.compile("frames_per_s=([0-9.]+)").matcher(output);
                if (run.waitFor() != 0 || !rate.find()) {
                    return Double.NaN;
                }
                rates[i] = Double.parseDouble(rate.group(1));
            }
        } catch (java.io.IOException | InterruptedException e) {
            outputs.add(e.toString());
            return Double.NaN;
        }
        java.util.Arrays.sort(rates);
        return rates[PROBE_RUNS / 2];
    }

    /**
     * Bulk (issue 15): {@code BulkBenchmark}'s {@code capwire-send} (1 MiB messages, fragmented; payload bytes per
     * second) against the C stream probe writing 1 MiB frames whole, run right after JMH; the probe's rate is its
     * median frames per second times the payload, so both sides count payload bytes. Goal: at least 0.7.
     */
    static java.util.Optional<String> bulkFloor(Collection<RunResult> results) {
        java.nio.file.Path probe = java.nio.file.Path.of("bindings/target/cmake/capwire_stream_probe");
        Comparison bulk = Comparison.peers(BulkBenchmark.class, "capwire-send", "c-stream-probe", false);
        RunResult capwire = find(results, bulk, bulk.capwire());
        if (capwire == null || !java.nio.file.Files.isExecutable(probe)) {
            return java.util.Optional.empty();
        }
        List<String> outputs = new ArrayList<>();
        double frames = streamProbe(probe, Integer.toString(BulkBenchmark.MESSAGE_BYTES), outputs);
        if (Double.isNaN(frames)) {
            return java.util.Optional.of("bulk floor: probe failed: " + outputs);
        }
        double floor = frames * BulkBenchmark.MESSAGE_BYTES;
        double score = capwire.getPrimaryResult().getScore();
        return java.util.Optional.of(String.format("%s: Capwire/baseline = %s (%.1f vs %.1f MB/s of payload, the"
                + " median of %d probe runs: %s)", bulk.label(), ratioText(score / floor), score / 1e6, floor / 1e6,
                PROBE_RUNS, String.join("; ", outputs)));
    }

    /**
     * Many producers (issue 15), no baseline: the profiling tool's {@code multi} scenario in its own JVM, right after
     * JMH, for 4 threads on one connection and for 4 threads over 64 connections on 2 event loops a side, each frame
     * one {@code offerNotify}; one line each with the frames per second, the round trips of the probe connection
     * that ran meanwhile, and the frames the server counted per connection. Runs when no benchmark is named or a
     * named pattern matches {@code MultiProducer}.
     */
    static List<String> multiProducer(CommandLineOptions given) {
        if (!given.getIncludes().isEmpty() && given.getIncludes().stream()
                .noneMatch(include -> Pattern.compile(include).matcher("MultiProducer").find())) {
            return List.of();
        }
        List<String> lines = new ArrayList<>();
        lines.add(multiProducer("MultiProducer[4 threads, 1 connection]", "--connections=1", "--loops=1"));
        lines.add(multiProducer("MultiProducer[4 threads, 64 connections, 2 loops]", "--connections=64", "--loops=2"));
        return lines;
    }

    private static String multiProducer(String label, String connections, String loops) {
        List<String> command = new ArrayList<>(List.of(
                java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        command.addAll(JvmFlags.all());
        try {
            java.nio.file.Path out = java.nio.file.Files.createTempDirectory("quickrun-multi");
            command.addAll(List.of("-cp", System.getProperty("java.class.path"),
                    dev.capwire.bench.profile.Profile.class.getName(), "--scenario=multi", "--threads=4", connections,
                    loops, "--batch=false", "--warmup=2", "--duration=5", "--out=" + out));
            Process run = new ProcessBuilder(command).redirectErrorStream(true).start();
            String output = new String(run.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            try (java.util.stream.Stream<java.nio.file.Path> files = java.nio.file.Files.walk(out)) {
                for (java.nio.file.Path file : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    java.nio.file.Files.delete(file); // the log and plot: only the line below is wanted here
                }
            }
            java.util.regex.Matcher throughput = Pattern.compile("throughput ([0-9,]+) ops/s").matcher(output);
            java.util.regex.Matcher latency = Pattern.compile("samples\\) p50 ([0-9.]+ us).*?p99 ([0-9.]+ us)")
                    .matcher(output);
            java.util.regex.Matcher counted = Pattern.compile("server counted .*").matcher(output);
            java.util.regex.Matcher load = Pattern.compile("load average after: ([0-9.]+)").matcher(output);
            if (run.waitFor() != 0 || !throughput.find() || !latency.find() || !counted.find() || !load.find()) {
                return label + ": failed: " + output.trim();
            }
            return String.format("%s: %s frames/s sent; probe round trip p50 %s, p99 %s; %s (load %s)", label,
                    throughput.group(1), latency.group(1), latency.group(2), counted.group(), load.group(1));
        } catch (java.io.IOException | InterruptedException e) {
            return label + ": failed: " + e;
        }
    }

    /** The quick settings, each overridden by the same option on the command line. */
    static Options options(CommandLineOptions given) {
        ChainedOptionsBuilder options = new OptionsBuilder().parent(given);
        if (given.getIncludes().isEmpty()) {
            COMPARISONS.forEach(comparison -> options.include(comparison.include()));
        }
        if (!given.getForkCount().hasValue()) {
            options.forks(1);
        }
        if (!given.getWarmupIterations().hasValue()) {
            options.warmupIterations(2);
        }
        if (!given.getWarmupTime().hasValue()) {
            options.warmupTime(TimeValue.seconds(1));
        }
        if (!given.getMeasurementIterations().hasValue()) {
            options.measurementIterations(3);
        }
        if (!given.getMeasurementTime().hasValue()) {
            options.measurementTime(TimeValue.seconds(1));
        }
        if (!given.shouldFailOnError().hasValue()) {
            options.shouldFailOnError(true);
        }
        return options.build();
    }

    /** One line per comparison whose two benchmarks both ran. */
    static List<String> ratios(Collection<RunResult> results) {
        List<String> lines = new ArrayList<>();
        for (Comparison comparison : COMPARISONS) {
            RunResult capwire = find(results, comparison, comparison.capwire());
            RunResult baseline = find(results, comparison, comparison.baseline());
            if (capwire != null && baseline != null) {
                lines.add(ratio(comparison, capwire, baseline));
            }
        }
        return lines;
    }

    private static RunResult find(Collection<RunResult> results, Comparison comparison, String side) {
        return results.stream().filter(result -> comparison.matches(result, side)).findFirst().orElse(null);
    }

    private static String ratio(Comparison comparison, RunResult capwire, RunResult baseline) {
        Result<?> capwireScore = capwire.getPrimaryResult();
        Result<?> baselineScore = baseline.getPrimaryResult();
        if (comparison.p50()) {
            double capwireP50 = capwireScore.getStatistics().getPercentile(50);
            double baselineP50 = baselineScore.getStatistics().getPercentile(50);
            return String.format("%s: Capwire/baseline = %s (p50 %.3f vs %.3f %s; p99 %.3f vs %.3f)",
                    comparison.label(), ratioText(capwireP50 / baselineP50), capwireP50, baselineP50,
                    capwireScore.getScoreUnit(), capwireScore.getStatistics().getPercentile(99),
                    baselineScore.getStatistics().getPercentile(99));
        }
        String line = String.format("%s: Capwire/baseline = %s (%s %s vs %s %s)",
                comparison.label(), ratioText(comparison.ratio(capwireScore.getScore(), baselineScore.getScore())),
                comparison.capwire(), scoreText(comparison, capwireScore), comparison.baseline(),
                scoreText(comparison, baselineScore));
        int forks = capwire.getBenchmarkResults().size();
        if (forks > 1) {
            // The mean over all iterations can be dragged by one noisy fork; the median fork cannot.
            double capwireMedian = medianForkScore(capwire);
            double baselineMedian = medianForkScore(baseline);
            line += String.format("; median of %d forks: %.2f (%.3f vs %.3f %s%s)", forks,
                    comparison.ratio(capwireMedian, baselineMedian), capwireMedian, baselineMedian,
                    capwireScore.getScoreUnit(), comparison.metric() != Metric.TIME_PER_OP ? "" : String.format(
                            " = %.2f vs %.2f us/op", 1e6 / opsPerSecond(capwireMedian, capwireScore.getScoreUnit()),
                            1e6 / opsPerSecond(baselineMedian, capwireScore.getScoreUnit())));
        }
        return line;
    }

    private static String scoreText(Comparison comparison, Result<?> score) {
        // JMH has no error estimate for a single iteration.
        String error = Double.isNaN(score.getScoreError()) ? "" : String.format(" ± %.3f", score.getScoreError());
        String text = String.format("%.3f%s %s", score.getScore(), error, score.getScoreUnit());
        if (comparison.metric() == Metric.TIME_PER_OP) {
            text += String.format(" = %.2f us/op", 1e6 / opsPerSecond(score.getScore(), score.getScoreUnit()));
        }
        return text;
    }

    private static double opsPerSecond(double score, String unit) {
        double perSecond = switch (unit) {
            case "ops/s" -> 1;
            case "ops/ms" -> 1e3;
            case "ops/us" -> 1e6;
            case "ops/ns" -> 1e9;
            case "ops/min" -> 1 / 60.0;
            default -> throw new IllegalStateException("a time/op comparison needs a throughput score, got " + unit);
        };
        return score * perSecond;
    }

    static double medianForkScore(RunResult result) {
        double[] scores = result.getBenchmarkResults().stream()
                .mapToDouble(fork -> fork.getPrimaryResult().getScore()).sorted().toArray();
        int middle = scores.length / 2;
        return scores.length % 2 == 1 ? scores[middle] : (scores[middle - 1] + scores[middle]) / 2;
    }

    /**
     * A ratio with three significant digits and never in exponent form: two decimals would print a real but
     * lopsided ratio (Capwire against a slow peer on a loaded host) as 0.00.
     */
    static String ratioText(double ratio) {
        if (!Double.isFinite(ratio)) {
            return String.valueOf(ratio);
        }
        return new java.math.BigDecimal(ratio).round(new java.math.MathContext(3)).stripTrailingZeros()
                .toPlainString();
    }
}
