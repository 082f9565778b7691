package dev.capwire.rpc;

import dev.capwire.handshake.HandshakeServer;
import dev.capwire.handshake.Service;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/**
 * What the RPC tests' child JVMs share: a handshake service "app" with the given listener on the endpoint, the
 * line {@code READY <endpoint>}, then one answer line for each command line on stdin, until stdin closes.
 */
final class ChildServer {
    /** Answers one command line. */
    interface Commands {
        String answer(String line) throws Exception;
    }

    private ChildServer() {
    }

    static void run(String endpoint, FrameListener listener, PrintStream out, Commands commands) throws Exception {
        try (Transport transport = Transport.create(TransportOptions.defaults());
                HandshakeServer server = HandshakeServer.builder(transport).noSecret()
                        .service(Service.builder("app", "1.0.0", listener).build()).build()) {
            out.println("READY " + server.listen(Endpoint.parse(endpoint)).endpoint());
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            String line;
            while ((line = in.readLine()) != null) {
                String answer = commands.answer(line.trim());
                synchronized (out) { // the server's own event lines come from other threads
                    out.println(answer);
                    out.flush();
                }
            }
        }
    }
}
