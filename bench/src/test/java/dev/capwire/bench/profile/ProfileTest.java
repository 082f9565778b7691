package dev.capwire.bench.profile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramLogReader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The profiling tool end to end, briefly: a real server JVM, every output file, and a log that reads back. */
class ProfileTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"roundtrip", "pipelined", "stream", "connect", "multi"})
    void eachScenarioWritesALogThatReadsBackAndAPlot(String scenario) throws Exception {
        Path out = dir.resolve(scenario);
        Profile.main(new String[] {"--scenario=" + scenario, "--warmup=1", "--duration=2", "--inflight=16",
            "--out=" + out, "-Dcapwire.requestTimeoutMs=30000"});

        HistogramLogReader reader = new HistogramLogReader(out.resolve("latency.hlog").toFile());
        int intervals = 0;
        long samples = 0;
        for (Histogram interval; (interval = (Histogram) reader.nextIntervalHistogram()) != null; intervals++) {
            samples += interval.getTotalCount();
        }
        assertEquals(2, intervals, "one interval a second");
        assertTrue(samples > 0, "latencies were recorded");
        String svg = Files.readString(out.resolve("latency.svg"));
        assertTrue(svg.startsWith("<svg") && svg.contains("<polyline") && svg.trim().endsWith("</svg>"), svg);
        String summary = Files.readString(out.resolve("summary.txt"));
        assertTrue(summary.contains("throughput") && summary.contains("p99.9"), summary);
    }

    @Test
    void profilerWritesAFlameGraphOfEachSideCoveringCapwiresOwnFrames() throws Exception {
        Path out = dir.resolve("flame");
        // itimer: a signal timer, which every Linux host has (cpu needs perf events, which some hosts forbid).
        Profile.main(new String[] {"--scenario=pipelined", "--warmup=1", "--duration=2", "--inflight=64",
            "--profiler=itimer", "--out=" + out});

        for (String side : List.of("client", "server")) {
            String html = Files.readString(out.resolve(side + "-itimer.html"));
            assertTrue(html.contains("<html") || html.contains("<!DOCTYPE html"), side + ": " + html.substring(0,
                    Math.min(200, html.length())));
            String stacks = Files.readString(out.resolve(side + "-itimer.collapsed"));
            // Only the client sends requests and completes them (its request table); the server's loop decodes
            // frames. Each must show up in its own side's samples, which proves the server's profile was taken in
            // the server's JVM. Either client frame will do: a 2 s signal-timer profile once caught no sample in
            // Connection.request, the sending thread's share, in a fresh-clone CI run.
            List<String> expected = side.equals("client") ? List.of("dev/capwire/transport/Connection.request",
                    "dev/capwire/transport/RequestTable.complete") : List.of("dev/capwire/wire/FrameDecoder");
            assertTrue(expected.stream().anyMatch(stacks::contains), side + " samples lack all of " + expected);
        }
    }

    @Test
    void settingsRefuseWhatTheyDoNotKnow() {
        assertThrows(IllegalArgumentException.class, () -> Settings.parse(new String[] {"--scenario=bulk"}));
        assertThrows(IllegalArgumentException.class, () -> Settings.parse(new String[] {"--color=blue"}));
        assertThrows(IllegalArgumentException.class, () -> Settings.parse(new String[] {"--profiler=cycles"}));
        assertThrows(IllegalArgumentException.class, () -> Settings.parse(new String[] {"--scenario=stream",
            "--payload=4"}));
        Settings settings = Settings.parse(new String[] {"--loops=2", "--idle=spin", "-Dcapwire.ringBytes=65536"});
        assertEquals("2", settings.properties().get("capwire.eventLoops"));
        assertEquals("spin", settings.properties().get("capwire.idleStrategy"));
        assertEquals("65536", settings.properties().get("capwire.ringBytes"));
        assertEquals(List.of("roundtrip", "pipelined", "stream", "connect", "multi"), Settings.SCENARIOS);
    }
}
