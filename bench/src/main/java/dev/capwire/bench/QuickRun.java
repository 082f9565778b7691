package dev.capwire.bench;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
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
    /** Each benchmark class with its Capwire method and the baseline method it is measured against. */
    record Comparison(Class<?> benchmark, String capwire, String baseline) {
        String include() {
            return "^" + Pattern.quote(benchmark.getName() + ".") + "(" + capwire + "|" + baseline + ")$";
        }

        String name(String method) {
            return benchmark.getName() + "." + method;
        }
    }

    static final List<Comparison> COMPARISONS = List.of(
            new Comparison(JniCallBenchmark.class, "capwireJniCall", "javaStaticCall"),
            new Comparison(UnixSocketPingBenchmark.class, "capwireNative", "jdkSocketChannel"));

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
        Map<String, RunResult> byName = results.stream()
                .collect(Collectors.toMap(result -> result.getParams().getBenchmark(), Function.identity()));
        List<String> lines = new ArrayList<>();
        for (Comparison comparison : COMPARISONS) {
            RunResult capwire = byName.get(comparison.name(comparison.capwire()));
            RunResult baseline = byName.get(comparison.name(comparison.baseline()));
            if (capwire != null && baseline != null) {
                lines.add(ratio(comparison, capwire, baseline));
            }
        }
        return lines;
    }

    private static String ratio(Comparison comparison, RunResult capwire, RunResult baseline) {
        Result<?> capwireScore = capwire.getPrimaryResult();
        Result<?> baselineScore = baseline.getPrimaryResult();
        String line = String.format("%s: Capwire/baseline = %.2f (%s %s vs %s %s)",
                comparison.benchmark().getSimpleName(), capwireScore.getScore() / baselineScore.getScore(),
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
