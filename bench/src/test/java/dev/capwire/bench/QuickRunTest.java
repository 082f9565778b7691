package dev.capwire.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Collection;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;

class QuickRunTest {
    private static final Pattern RATIO = Pattern.compile("^(\\S+): Capwire/baseline = (\\d+(?:\\.\\d+)?) ");

    /**
     * Runs every comparison for real, in this JVM and briefly: each must produce a finite, positive ratio. The
     * short warm-up iteration takes each trial's cold first operation (a fresh server JVM loading its classes:
     * one Netty echo took 329 ms), which would otherwise be the only sample and round the ratio to 0.00.
     */
    @Test
    void everyComparisonRunsAndYieldsARatio() throws Exception {
        Collection<RunResult> results = new Runner(QuickRun.options(new CommandLineOptions(
                "-f", "0", "-wi", "1", "-w", "100ms", "-i", "1", "-r", "100ms"))).run();

        List<String> lines = QuickRun.ratios(results);

        assertEquals(QuickRun.COMPARISONS.size(), lines.size(), lines.toString());
        for (int i = 0; i < lines.size(); i++) {
            Matcher ratio = RATIO.matcher(lines.get(i));
            assertTrue(ratio.find(), lines.get(i));
            assertEquals(QuickRun.COMPARISONS.get(i).label(), ratio.group(1));
            assertTrue(Double.parseDouble(ratio.group(2)) > 0, lines.get(i));
        }
    }
}
