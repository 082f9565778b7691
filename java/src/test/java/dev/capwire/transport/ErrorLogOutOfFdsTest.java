package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.testing.ChildJvm;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.agrona.ErrorHandler;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The default error handler must be able to report that a process is out of fds while it is out of fds: the
 * report is the only sign of the episode, and the accept back-off relies on it (see {@link Server}). A child
 * JVM under a small fd limit fills its table to the last fd, then reports through {@link ErrorLog}.
 */
class ErrorLogOutOfFdsTest {
    private static final String MARKER = "report-made-with-no-fd-free";

    @Test
    void theDefaultErrorHandlerReportsWithNoFdFree(@TempDir Path dir) throws Exception {
        Path log = dir.resolve("stderr.log");
        String line;
        try (ChildJvm child = ChildJvm.startWithFdLimit(64, FillFdsThenReportMain.class, List.of(), log, MARKER)) {
            line = child.expect("REPORTED", 30);
            assertTrue(line.contains("free 0"), "the child reported with fds still free: " + line);
            assertEquals(0, child.finish(30));
        }
        String written = Files.readString(log, StandardCharsets.UTF_8);
        assertTrue(written.contains(MARKER), "nothing reached the log (the child said: " + line + "); it holds:\n"
                + written);
        assertTrue(written.contains("WARNING"), "the report is not at WARNING:\n" + written);
    }

    /** Makes the error handler the transport uses by default, fills the fd table, reports, and says so. */
    public static final class FillFdsThenReportMain {
        private FillFdsThenReportMain() {
        }

        public static void main(String[] args) throws Exception {
            ErrorHandler handler = TransportOptions.defaults().errorHandler();
            List<FileInputStream> held = new ArrayList<>();
            int free = 0;
            try {
                while (true) {
                    held.add(new FileInputStream("/dev/null"));
                }
            } catch (IOException tableFull) {
                // Every fd is taken now. Probing once more proves none is left.
                try (FileInputStream probe = new FileInputStream("/dev/null")) {
                    free = 1;
                } catch (IOException stillFull) {
                    free = 0;
                }
            }
            String outcome;
            try {
                handler.onError(new IOException(args[0] + " (as a failed accept with EMFILE would be)"));
                outcome = "ok";
            } catch (RuntimeException | Error e) {
                outcome = "threw " + e;
            }
            for (FileInputStream stream : held) {
                stream.close();
            }
            System.out.println("REPORTED " + outcome + ", free " + free + ", held " + held.size());
            System.out.flush();
        }
    }
}
