package dev.capwire.transport;

import static dev.capwire.transport.MaxConnectionsPerServerTest.assertEchoes;
import static dev.capwire.transport.MaxConnectionsPerServerTest.await;
import static dev.capwire.transport.MaxConnectionsPerServerTest.closedByPeer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.bindings.NativeSocket;
import dev.capwire.testing.ChildJvm;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A server out of resources (issue 11, item 5, and "Bounded memory and fds"), each in a child JVM: out of
 * fds it backs off instead of spinning, closes the clients waiting in its backlog, reports the episode once
 * and recovers; out of direct memory for a connection's buffers it refuses that connection, leaks nothing and
 * goes on.
 */
class AcceptUnderPressureAcrossProcessesTest {
    /** The child's fd limit: its JVM, classpath and loop take about 30, the rest fill up with connections. */
    private static final int FD_LIMIT = 128;
    private static final long CLOCK_TICKS_PER_SECOND = 100; // USER_HZ, 100 on every Linux we build on

    private static Path dir;

    @BeforeAll
    static void createDir() throws IOException {
        dir = Files.createTempDirectory(Path.of("/tmp"), "cwp");
    }

    @AfterAll
    static void removeDir() throws IOException {
        try (var files = Files.list(dir)) {
            for (Path file : (Iterable<Path>) files::iterator) {
                Files.deleteIfExists(file);
            }
        }
        Files.deleteIfExists(dir);
    }

    @Test
    void outOfFdsTheServerBacksOffClosesWaitingClientsReportsOnceAndRecovers() throws Exception {
        Endpoint endpoint = Endpoint.unix(dir.resolve("emfile.sock"));
        Path log = dir.resolve("emfile.log");
        try (ChildJvm server = ChildJvm.startWithFdLimit(FD_LIMIT, EchoServerMain.class,
                List.of("-Dcapwire.acceptBackoffMs=200"), log, endpoint.toString())) {
            server.expect("READY", 30);
            int fdsAtStart = openFds(server.pid());
            assertTrue(fdsAtStart < FD_LIMIT - 16, "the child starts with " + fdsAtStart + " fds open");
            List<NativeSocket> clients = new ArrayList<>();
            try {
                // More than the child can hold: it fills its table, then fails accept with EMFILE.
                for (int i = 0; i < FD_LIMIT; i++) {
                    clients.add(NativeSocket.connect(endpoint.socketAddress(), 5000));
                }
                try {
                    await(() -> linesContaining(log, "EMFILE") > 0, 15_000, "the child reported EMFILE");
                } catch (AssertionError e) {
                    throw new AssertionError(e.getMessage() + "; the child holds " + openFds(server.pid())
                            + " fds; its log ends:\n" + tail(log), e);
                }
                assertTrue(openFds(server.pid()) >= FD_LIMIT - 1, "the child's table is full");

                long cpuBefore = cpuTicks(server.pid());
                long start = System.nanoTime();
                Thread.sleep(2000);
                double seconds = (System.nanoTime() - start) / 1e9;
                double coreShare = (cpuTicks(server.pid()) - cpuBefore) / (double) CLOCK_TICKS_PER_SECOND / seconds;
                assertTrue(coreShare < 0.5, "the child spun while out of fds: " + Math.round(coreShare * 100)
                        + "% of a core");

                // A client arriving now is closed after at most about one back-off, instead of hanging.
                try (NativeSocket late = NativeSocket.connect(endpoint.socketAddress(), 5000)) {
                    long asked = System.nanoTime();
                    assertTrue(closedByPeer(late, 5000), "a client connecting to the full server was left hanging");
                    long tookMs = (System.nanoTime() - asked) / 1_000_000;
                    assertTrue(tookMs < 2000, "closed only after " + tookMs + " ms");
                }
                int reportLines = linesContaining(log, "EMFILE");
                // One report: its WARNING line and the exception's line in the stack trace below it.
                assertTrue(reportLines <= 4, "the episode was reported " + reportLines + " lines' worth:\n"
                        + tail(log));
            } finally {
                for (NativeSocket client : clients) {
                    client.close();
                }
            }
            try (Transport transport = Transport.create(TransportOptions.defaults())) {
                List<String> failures = new ArrayList<>();
                // Until the child has closed its side of the connections above, it may still be out of fds.
                await(() -> {
                    try (Connection fresh = transport.connect(endpoint, (c, f) -> { })) {
                        assertEchoes(fresh, "served again");
                        return true;
                    } catch (RuntimeException | IOException e) {
                        failures.add(e.toString());
                        return false;
                    }
                }, 15_000, () -> "the child serves a new client after the others closed; it has " + fdsOf(server)
                        + " fds open; attempts failed with " + failures.subList(Math.max(0, failures.size() - 3),
                        failures.size()) + "; its log ends:\n" + tail(log));
            }
            assertTrue(server.process().isAlive());
            assertEquals(0, server.finish(30));
        }
    }

    private static String fdsOf(ChildJvm child) {
        try {
            return Integer.toString(openFds(child.pid()));
        } catch (IOException e) {
            return "? (" + e + ")";
        }
    }

    private static int openFds(long pid) throws IOException {
        try (var fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            return (int) fds.count();
        }
    }

    /** utime + stime of the process, in clock ticks (fields 14 and 15 of /proc/PID/stat). */
    private static long cpuTicks(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(fields[11]) + Long.parseLong(fields[12]);
    }

    private static int linesContaining(Path file, String text) {
        try {
            if (!Files.exists(file)) {
                return 0;
            }
            try (var lines = Files.lines(file, StandardCharsets.UTF_8)) {
                return (int) lines.filter(line -> line.contains(text)).count();
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String tail(Path file) {
        try {
            List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        } catch (IOException e) {
            return "(unreadable: " + e + ")";
        }
    }
}
