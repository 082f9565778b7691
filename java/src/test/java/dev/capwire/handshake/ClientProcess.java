package dev.capwire.handshake;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.capwire.testing.ChildJvm;
import dev.capwire.transport.Endpoint;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** A {@link HandshakeClientMain} process, and its outcome lines parsed back into values. */
final class ClientProcess implements AutoCloseable {
    private final ChildJvm jvm;

    private ClientProcess(ChildJvm jvm) {
        this.jvm = jvm;
    }

    static ClientProcess start() throws Exception {
        return start(List.of(), Map.of(), null);
    }

    /** With extra JVM flags and environment, and stderr to {@code stderrFile} when not null. */
    static ClientProcess start(List<String> jvmArgs, Map<String, String> environment, Path stderrFile)
            throws Exception {
        ChildJvm jvm = ChildJvm.start(HandshakeClientMain.class, jvmArgs, environment, stderrFile);
        try {
            jvm.expect("READY", 30);
        } catch (Exception | Error e) {
            jvm.close();
            throw e;
        }
        return new ClientProcess(jvm);
    }

    long pid() {
        return jvm.pid();
    }

    ChildJvm jvm() {
        return jvm;
    }

    /** One handshake with the given {@code key=value} options (see {@link HandshakeClientMain#options}). */
    Outcome connect(Endpoint endpoint, String... options) throws Exception {
        jvm.send("CONNECT " + endpoint + (options.length == 0 ? "" : " " + String.join(" ", options)));
        return Outcome.parse(jvm.readLine(30));
    }

    /** An echo call on the newest negotiated connection: "OK" or the failure. */
    String call() throws Exception {
        jvm.send("CALL");
        return jvm.readLine(30);
    }

    /** Closes the child's open connections; returns how many there were. */
    int closeAll() throws Exception {
        jvm.send("CLOSE");
        return Integer.parseInt(jvm.expect("CLOSED", 30));
    }

    /** Starts a flood of {@code count} handshakes and returns once the child says it has begun. */
    void startFlood(int count, Endpoint endpoint, String... options) throws Exception {
        jvm.send("FLOOD " + count + " " + endpoint + (options.length == 0 ? "" : " " + String.join(" ", options)));
        jvm.expect("FLOODING", 30);
    }

    /** The counts of a finished flood: outcome name (NEGOTIATED, a Refused code, FAILED_x) to count, and the retry hints. */
    Map<String, String> floodResult(long timeoutSeconds) throws Exception {
        return Outcome.parse("FLOOD " + jvm.expect("FLOOD", timeoutSeconds)).fields();
    }

    /** Asks the child to exit and reads up to its last line, so {@link ChildJvm#transcript()} is complete. */
    void exit() throws Exception {
        jvm.send("EXIT");
        jvm.expect("BYE", 30);
        assertEquals(0, jvm.finish(30), "exit status of client " + pid());
    }

    @Override
    public void close() {
        jvm.close();
    }

    /** An outcome line: NEGOTIATED, REFUSED or FAILED, the code, the fields and the raw message. */
    record Outcome(String kind, String code, Map<String, String> fields, String message, String line) {
        static Outcome parse(String line) {
            int bar = line.indexOf(" | ");
            String head = bar < 0 ? line : line.substring(0, bar);
            String message = bar < 0 ? "" : line.substring(bar + 3);
            String[] words = head.split(" ");
            Map<String, String> fields = new TreeMap<>();
            String code = null;
            for (int i = 1; i < words.length; i++) {
                int eq = words[i].indexOf('=');
                if (eq < 0) {
                    code = words[i];
                } else {
                    fields.put(words[i].substring(0, eq),
                            URLDecoder.decode(words[i].substring(eq + 1), StandardCharsets.UTF_8));
                }
            }
            return new Outcome(words[0], code, fields, message, line);
        }

        String field(String name) {
            return fields.get(name);
        }

        long number(String name) {
            return Long.parseLong(fields.get(name));
        }

        boolean negotiated() {
            return kind.equals("NEGOTIATED");
        }
    }
}
