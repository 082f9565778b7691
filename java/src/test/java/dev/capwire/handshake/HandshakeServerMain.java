package dev.capwire.handshake;

import dev.capwire.transport.EchoServerMain;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;

/**
 * A server process for the handshake tests: serves the echo service ({@link EchoServerMain#echo}, version
 * 1.4.0) behind a {@link HandshakeServer} on the endpoint given first, prints {@code READY <endpoint>}, and
 * exits when stdin closes. Later arguments are key=value: keepaliveMs, keepaliveMinMs, maxMissed.
 */
public final class HandshakeServerMain {
    private HandshakeServerMain() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> o = new TreeMap<>();
        for (int i = 1; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            o.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        try (Transport transport = Transport.create(TransportOptions.defaults());
                HandshakeServer server = HandshakeServer.builder(transport).noSecret()
                        .service(Service.builder("echo", "1.4.0", EchoServerMain::echo).build())
                        .keepaliveIntervalMs(Long.parseLong(o.getOrDefault("keepaliveMs", "10000")))
                        .keepaliveMinIntervalMs(Long.parseLong(o.getOrDefault("keepaliveMinMs", "100")))
                        .keepaliveMaxMissed(Integer.parseInt(o.getOrDefault("maxMissed", "3")))
                        .build()) {
            System.out.println("READY " + server.listen(Endpoint.parse(args[0])).endpoint());
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            while (in.readLine() != null) {
                // Lines are ignored; end of input means the parent is done or gone.
            }
        }
    }
}
