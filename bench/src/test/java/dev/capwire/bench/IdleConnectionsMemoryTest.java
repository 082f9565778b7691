package dev.capwire.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class IdleConnectionsMemoryTest {
    private static final int COUNT = 200;
    private static final Pattern SUMMARY = Pattern.compile("^(client|server): per idle connection rss (-?\\d+) B, "
            + "heap (-?\\d+) B, direct (-?\\d+) B; rss after close (\\d+\\.\\d) % of before$", Pattern.MULTILINE);
    private static final Pattern ROW = Pattern.compile(
            "^(client|server) +(rss \\(B\\)|heap \\(B\\)|heap committed|direct \\(B\\)|direct buffers|fds) +(\\d+) +(\\d+) +(\\d+) "
            + "+(-?\\d+\\.\\d) +(\\d+\\.\\d %|-)$", Pattern.MULTILINE);

    /**
     * Runs the tool for real with a few connections: it must open and close them all on both sides and print
     * its table and summary with figures that make sense. No figure is held to a target here; the tool only
     * has to keep working.
     */
    @Test
    void measuresBothSidesAndPrintsTheTable() throws Exception {
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        IdleConnectionsMemory.Result result = IdleConnectionsMemory.run(COUNT,
                new PrintStream(printed, true, StandardCharsets.UTF_8));
        String output = printed.toString(StandardCharsets.UTF_8);

        assertTrue(output.startsWith("Idle connection memory: " + COUNT + " negotiated connections"), output);
        Matcher rows = ROW.matcher(output);
        int rowCount = 0;
        while (rows.find()) {
            rowCount++;
        }
        assertEquals(12, rowCount, output);
        Matcher summary = SUMMARY.matcher(output);
        for (String side : List.of("client", "server")) {
            assertTrue(summary.find(), output);
            assertEquals(side, summary.group(1));
            assertTrue(Double.parseDouble(summary.group(5)) > 0, summary.group());
        }

        assertEquals(COUNT, result.count());
        for (IdleConnectionsMemory.Side side : List.of(result.client(), result.server())) {
            for (IdleConnectionsMemory.Snapshot snapshot : List.of(side.before(), side.idle(), side.closed())) {
                assertTrue(snapshot.rssBytes() > 0 && snapshot.heapBytes() > 0
                        && snapshot.heapCommittedBytes() >= snapshot.heapBytes() && snapshot.directBytes() >= 0
                        && snapshot.directBuffers() >= 0 && snapshot.fds() > 0, side + " " + snapshot);
                // A few GiB at most: a unit mix-up (kB taken for bytes, or the reverse) would show here.
                assertTrue(snapshot.rssBytes() < (64L << 30) && snapshot.rssBytes() > (1L << 20), side.toString());
            }
            // Every connection held a socket while idle, and gave it back when closed. Against the lower of the
            // two baselines: an fd the JVM held for a moment during one snapshot (a run once counted 97 before,
            // 296 idle, 96 closed) is not a connection's.
            long baseline = Math.min(side.before().fds(), side.closed().fds());
            assertTrue(side.idle().fds() - baseline >= COUNT, side.toString());
            assertTrue(side.closed().fds() <= side.before().fds() + 2, side.toString());
            // A connection is at least a few Java objects, and the heap is measured after a full GC.
            assertTrue(side.heapPerConnection(COUNT) > 0, side.toString());
            assertTrue(Double.isFinite(side.rssPerConnection(COUNT)) && side.rssClosedPercent() > 0,
                    side.toString());
        }
    }
}
