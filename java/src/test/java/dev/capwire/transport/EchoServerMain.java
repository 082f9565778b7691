package dev.capwire.transport;

import dev.capwire.bindings.FileDescriptor;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

/**
 * A child-JVM echo server for the transport tests: listens on the endpoint given as the first argument,
 * answers every REQUEST with its own payload and fds, prints {@code READY <endpoint>}, and exits when its
 * stdin closes (so a dying test never leaves it behind).
 */
public final class EchoServerMain {
    private EchoServerMain() {
    }

    public static void main(String[] args) throws Exception {
        Endpoint endpoint = Endpoint.parse(args[0]);
        try (Transport transport = Transport.create(TransportOptions.defaults())) {
            Server server = transport.listen(endpoint, (connection, frame) -> {
                if (frame.type() != dev.capwire.wire.FrameType.REQUEST) {
                    return;
                }
                FileDescriptor[] fds = frame.takeFds();
                try {
                    connection.respond(frame.correlationId(), frame.buffer(), frame.payloadOffset(),
                            frame.payloadLength(), fds);
                } finally {
                    for (FileDescriptor fd : fds) {
                        fd.close();
                    }
                }
            });
            System.out.println("READY " + server.endpoint());
            System.out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            while (in.readLine() != null) {
                // Lines are ignored; end of input means the parent is done or gone.
            }
        }
    }
}
