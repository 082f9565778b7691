package dev.capwire.transport;

import org.agrona.concurrent.UnsafeBuffer;

/**
 * A child-JVM client that calls the server at the given endpoint in a loop and prints {@code OK <n>} after
 * every 500 correct replies, until it is killed or its stdin closes.
 */
public final class EchoClientMain {
    private EchoClientMain() {
    }

    public static void main(String[] args) throws Exception {
        Endpoint endpoint = Endpoint.parse(args[0]);
        try (Transport transport = Transport.create(TransportOptions.defaults())) {
            Connection connection = transport.connect(endpoint, (c, f) -> { });
            Thread watcher = new Thread(() -> {
                try {
                    while (System.in.read() >= 0) {
                        // Nothing to read; the end of stdin ends this process.
                    }
                } catch (java.io.IOException ignored) {
                    // Parent gone.
                }
                System.exit(0);
            });
            watcher.setDaemon(true);
            watcher.start();
            UnsafeBuffer payload = new UnsafeBuffer(new byte[16]);
            for (long n = 1; ; n++) {
                payload.putLong(0, n);
                Response reply = connection.call(2, 1, payload, 0, 16, 10_000);
                if (new UnsafeBuffer(reply.payload()).getLong(0) != n) {
                    System.out.println("WRONG " + n);
                    System.exit(1);
                }
                if (n % 500 == 0) {
                    System.out.println("OK " + n);
                    System.out.flush();
                }
            }
        }
    }
}
