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
     * A Capwire benchmark and the baseline it is measured against: two methods of one class, or (for the
     * transport benchmarks) two values of the class's {@code peer} parameter. Latency comparisons use the
     * median sample (p50); the others the primary score.
     */
    record Comparison(Class<?> benchmark, String capwire, String baseline, boolean byPeer, boolean p50) {
        static Comparison methods(Class<?> benchmark, String capwireMethod, String baselineMethod) {
            return new Comparison(benchmark, capwireMethod, baselineMethod, false, false);
        }

        static Comparison peers(Class<?> benchmark, String capwirePeer, String baselinePeer, boolean p50) {
            return new Comparison(benchmark, capwirePeer, baselinePeer, true, p50);
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
            return benchmark.getSimpleName() + (byPeer ? "[" + capwire + "/" + baseline + (p50 ? ",p50" : "") + "]" : "");
        }
    }

    static final List<Comparison> COMPARISONS = List.of(
            Comparison.methods(JniCallBenchmark.class, "capwireJniCall", "javaStaticCall"),
            Comparison.methods(UnixSocketPingBenchmark.class, "capwireNative", "jdkSocketChannel"),
            Comparison.peers(RoundTripBenchmark.class, "capwire-backoff", "jdk", true),
            Comparison.peers(RoundTripBenchmark.class, "capwire-spin", "netty", true),
            Comparison.peers(PipelinedBenchmark.class, "capwire-backoff", "netty", false));

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
        Collection<RunResult> results = new Runner(options(given)).run();
        System.out.println();
        ratios(results).forEach(System.out::println);
        socketFloor(results).ifPresent(System.out::println);
    }

    /**
     * The spinning transport against the floor for any socket round trip on this host: the C busy-poll
     * probe (native/bench/pingpong_probe.c, built by the bindings module), run now, right after JMH.
     */
    static java.util.Optional<String> socketFloor(Collection<RunResult> results) {
        java.nio.file.Path probe = java.nio.file.Path.of("bindings/target/cmake/capwire_pingpong_probe");
        Comparison spin = Comparison.peers(RoundTripBenchmark.class, "capwire-spin", "c-probe", true);
        RunResult capwire = find(results, spin, spin.capwire());
        if (capwire == null || !java.nio.file.Files.isExecutable(probe)) {
            return java.util.Optional.empty();
        }
        try {
            Process run = new ProcessBuilder(probe.toString(), "200000").redirectErrorStream(true).start();
            String output = new String(run.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).trim();
            java.util.regex.Matcher p50 = Pattern.compile("p50_us=([0-9.]+)").matcher(output);
            if (run.waitFor() != 0 || !p50.find()) {
                return java.util.Optional.of("socket floor: probe failed: " + output);
            }
            double floor = Double.parseDouble(p50.group(1));
            double spinP50 = capwire.getPrimaryResult().getStatistics().getPercentile(50);
            return java.util.Optional.of(String.format(
                    "RoundTripBenchmark[capwire-spin/c-busy-poll-probe,p50]: Capwire/baseline = %.2f (p50 %.3f vs %.3f us; %s)",
                    spinP50 / floor, spinP50, floor, output));
        } catch (java.io.IOException | InterruptedException e) {
            return java.util.Optional.of("socket floor: probe failed: " + e);
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
            return String.format("%s: Capwire/baseline = %.2f (p50 %.3f vs %.3f %s; p99 %.3f vs %.3f)",
                    comparison.label(), capwireP50 / baselineP50, capwireP50, baselineP50,
                    capwireScore.getScoreUnit(), capwireScore.getStatistics().getPercentile(99),
                    baselineScore.getStatistics().getPercentile(99));
        }
        String line = String.format("%s: Capwire/baseline = %.2f (%s %s vs %s %s)",
                comparison.label(), capwireScore.getScore() / baselineScore.getScore(),
                comparison.capwire(), scoreText(capwireScore), comparison.baseline(), scoreText(baselineScore));
        int forks = capwire.getBenchmarkResults().size();
        if (forks > 1) {
            // The mean over all iterations can be dragged by one noisy fork; the median fork cannot.
            double capwireMedian = medianForkScore(capwire);
            double baselineMedian = medianForkScore(baseline);
            line += String.format("; median of %d forks: %.2f (%.3f vs %.3f %s)", forks,
                    capwireMedian / baselineMedian, capwireMedian, baselineMedian, capwireScore.getScoreUnit());
        }
        return line;
    }

    private static String scoreText(Result<?> score) {
        // JMH has no error estimate for a single iteration.
        String error = Double.isNaN(score.getScoreError()) ? "" : String.format(" ± %.3f", score.getScoreError());
        return String.format("%.3f%s %s", score.getScore(), error, score.getScoreUnit());
    }

    static double medianForkScore(RunResult result) {
        double[] scores = result.getBenchmarkResults().stream()
                .mapToDouble(fork -> fork.getPrimaryResult().getScore()).sorted().toArray();
        int middle = scores.length / 2;
        return scores.length % 2 == 1 ? scores[middle] : (scores[middle - 1] + scores[middle]) / 2;
    }
}
