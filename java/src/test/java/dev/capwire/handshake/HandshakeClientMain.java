package dev.capwire.handshake;

import dev.capwire.transport.EchoServerMain;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Response;
import dev.capwire.transport.StatusException;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.proto.RefusedCode;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * A client process for the handshake tests, driven line by line over stdin so that one JVM start serves
 * many attempts (a JVM start costs a second on the test machines). Commands:
 * <ul>
 * <li>{@code CONNECT <endpoint> [key=value ...]}: one handshake; prints its outcome line (see {@link #outcome})
 *     and keeps a negotiated connection open.
 * <li>{@code CALL}: an echo call on the newest open connection; prints {@code OK} or {@code FAILED ...}.
 * <li>{@code HOLD}: a request the echo server never answers, on the newest connection; prints {@code HELD},
 *     and later {@code HOLD-ENDED <code>} when it fails.
 * <li>{@code CLOSE}: closes every open connection; prints {@code CLOSED <count>}.
 * <li>{@code FLOOD <count> <endpoint> [key=value ...]}: prints {@code FLOODING}, runs {@code count} handshakes
 *     back to back (closing each negotiated one), then prints {@code FLOOD key=value ...} with the count of
 *     each outcome and the smallest and largest retry hint.
 * <li>{@code EXIT}: prints {@code BYE} and exits, so the parent has read every line the child wrote.
 * </ul>
 * The option keys are those of {@link #options}. The process also exits when stdin closes.
 */
public final class HandshakeClientMain {
    private HandshakeClientMain() {
    }

    public static void main(String[] args) throws Exception {
        List<NegotiatedConnection> open = new ArrayList<>();
        try (Transport transport = Transport.create(TransportOptions.defaults())) {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            System.out.println("READY " + ProcessHandle.current().pid());
            String line;
            while ((line = in.readLine()) != null) {
                String[] words = line.split(" ");
                switch (words[0]) {
                    case "CONNECT":
                        System.out.println(connect(transport, Endpoint.parse(words[1]),
                                options(Arrays.copyOfRange(words, 2, words.length)), open));
                        break;
                    case "CALL":
                        System.out.println(call(open.get(open.size() - 1)));
                        break;
                    case "HOLD":
                        hold(open.get(open.size() - 1));
                        break;
                    case "CLOSE":
                        open.forEach(NegotiatedConnection::close);
                        System.out.println("CLOSED " + open.size());
                        open.clear();
                        break;
                    case "FLOOD":
                        flood(transport, Integer.parseInt(words[1]), Endpoint.parse(words[2]),
                                options(Arrays.copyOfRange(words, 3, words.length)));
                        break;
                    case "EXIT":
                        open.forEach(NegotiatedConnection::close);
                        System.out.println("BYE");
                        return;
                    default:
                        System.out.println("UNKNOWN-COMMAND " + words[0]);
                }
            }
        }
    }

    /** Connects once; the outcome line says how it went, and a negotiated connection joins {@code open}. */
    private static String connect(Transport transport, Endpoint endpoint, ClientOptions options,
            List<NegotiatedConnection> open) {
        try {
            NegotiatedConnection connection = HandshakeClient.connect(transport, endpoint, options,
                    EchoServerMain::echo);
            open.add(connection);
            return outcome(connection);
        } catch (Exception e) {
            return outcome(e);
        }
    }

    /**
     * {@code NEGOTIATED key=value ...}, {@code REFUSED <code> key=value ... | <reason>} or
     * {@code FAILED <status> | <message>}. Values are URL-encoded so a line splits on spaces; the reason and
     * message stay raw after the bar because the secret tests search them as a person would read them.
     */
    static String outcome(NegotiatedConnection c) {
        return "NEGOTIATED" + fields(Map.of("protocol", c.protocolVersion(), "server", c.serverVersion(),
                "keepaliveMs", c.keepaliveIntervalMs(), "capabilities", c.capabilities(),
                "maxFrameBytes", c.maxFrameBytes(), "warnings", String.join(";", c.warnings())));
    }

    static String outcome(Exception e) {
        if (e instanceof HandshakeRefusedException) {
            HandshakeRefusedException r = (HandshakeRefusedException) e;
            Map<String, Object> fields = new TreeMap<>();
            fields.put("retryAfterMs", r.retryAfterMs());
            fields.put("serverMin", r.serverMinProtocolVersion());
            fields.put("serverMax", r.serverMaxProtocolVersion());
            r.details().forEach((key, value) -> fields.put("detail." + key, value));
            return "REFUSED " + r.refusedCode() + fields(fields) + " | " + r.getMessage();
        }
        if (e instanceof StatusException) {
            return "FAILED " + ((StatusException) e).code() + " | " + e.getMessage();
        }
        return "FAILED " + e.getClass().getSimpleName() + " | " + e.getMessage();
    }

    private static String fields(Map<String, ?> fields) {
        StringBuilder text = new StringBuilder();
        new TreeMap<>(fields).forEach((key, value) -> text.append(' ').append(key).append('=')
                .append(URLEncoder.encode(String.valueOf(value), StandardCharsets.UTF_8)));
        return text.toString();
    }

    private static String call(NegotiatedConnection connection) {
        UnsafeBuffer payload = new UnsafeBuffer("ping".getBytes(StandardCharsets.US_ASCII));
        try {
            Response reply = connection.connection().call(2, 1, payload, 0, 4, 10_000);
            return new String(reply.payload(), StandardCharsets.US_ASCII).equals("ping") ? "OK" : "FAILED WRONG-REPLY";
        } catch (StatusException e) {
            return "FAILED " + e.code() + " | " + e.getMessage();
        }
    }

    private static void hold(NegotiatedConnection connection) {
        UnsafeBuffer payload = new UnsafeBuffer(new byte[4]);
        connection.connection().request(2, EchoServerMain.METHOD_HOLD, payload, 0, 4, 600_000)
                .whenComplete((reply, failure) -> System.out.println("HOLD-ENDED " + (failure instanceof StatusException
                        ? ((StatusException) failure).code() : String.valueOf(failure))));
        System.out.println("HELD");
    }

    private static void flood(Transport transport, int count, Endpoint endpoint, ClientOptions options) {
        System.out.println("FLOODING");
        Map<String, Object> counts = new TreeMap<>();
        long minRetry = Long.MAX_VALUE;
        long maxRetry = 0;
        for (int i = 0; i < count; i++) {
            String key;
            try {
                HandshakeClient.connect(transport, endpoint, options, (c, f) -> { }).close();
                key = "NEGOTIATED";
            } catch (HandshakeRefusedException e) {
                key = e.refusedCode().toString();
                if (e.refusedCode() == RefusedCode.RATE_LIMITED) {
                    minRetry = Math.min(minRetry, e.retryAfterMs());
                    maxRetry = Math.max(maxRetry, e.retryAfterMs());
                }
            } catch (StatusException e) {
                key = "FAILED_" + e.code();
            } catch (Exception e) {
                key = "FAILED_" + e.getClass().getSimpleName();
            }
            counts.merge(key, 1, (a, b) -> (Integer) a + (Integer) b);
        }
        counts.put("minRetryAfterMs", minRetry == Long.MAX_VALUE ? -1 : minRetry);
        counts.put("maxRetryAfterMs", maxRetry);
        System.out.println("FLOOD" + fields(counts));
    }

    /**
     * Keys: service (default {@code echo}), clientVersion, wanted (service version), pid (claimed; default the
     * real one), min/max (protocol range, unsigned), libName/libVersion, keepaliveMs, maxMissed, timeoutMs (handshake),
     * capabilities, and secret: {@code none}, {@code file:PATH}, or absent for the capwire.secret.* properties.
     */
    static ClientOptions options(String... pairs) {
        Map<String, String> o = new TreeMap<>();
        for (String pair : pairs) {
            int eq = pair.indexOf('=');
            o.put(pair.substring(0, eq), pair.substring(eq + 1));
        }
        ClientOptions.Builder b = ClientOptions.builder(o.getOrDefault("service", "echo"));
        b.clientVersion(o.getOrDefault("clientVersion", ""));
        b.wantedServiceVersion(o.getOrDefault("wanted", ""));
        if (o.containsKey("pid")) {
            b.claimedPid(Long.parseLong(o.get("pid")));
        }
        // Unsigned, as on the wire: max=4294967295 sends 0xFFFFFFFF.
        b.protocolRange(Integer.parseUnsignedInt(o.getOrDefault("min", "1")),
                Integer.parseUnsignedInt(o.getOrDefault("max", "1")));
        b.library(o.getOrDefault("libName", ClientOptions.LIBRARY_NAME),
                o.getOrDefault("libVersion", ClientOptions.LIBRARY_VERSION));
        b.keepaliveIntervalMs(Long.parseLong(o.getOrDefault("keepaliveMs", "0")));
        if (o.containsKey("maxMissed")) {
            b.keepaliveMaxMissed(Integer.parseInt(o.get("maxMissed")));
        }
        if (o.containsKey("timeoutMs")) {
            b.handshakeTimeoutMs(Long.parseLong(o.get("timeoutMs")));
        }
        b.capabilities(Long.parseLong(o.getOrDefault("capabilities", "0")));
        String secret = o.get("secret");
        if ("none".equals(secret)) {
            b.noSecret();
        } else if (secret != null && secret.startsWith("file:")) {
            b.secret(SharedSecret.fromFile(Path.of(secret.substring("file:".length()))));
        } else if (secret != null) {
            throw new IllegalArgumentException("secret must be none or file:PATH; never the secret itself");
        }
        return b.build();
    }
}
