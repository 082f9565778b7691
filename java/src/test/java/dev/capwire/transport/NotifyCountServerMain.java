package dev.capwire.transport;

import dev.capwire.wire.FrameType;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A child-JVM server that counts the NOTIFY frames it receives: it listens on the endpoint given as the first
 * argument, prints {@code READY}, answers each stdin line {@code count} with {@code COUNT <n>}, and exits when its
 * stdin closes. A test can so see what reached the peer without running its own side's loop.
 */
public final class NotifyCountServerMain {
    private NotifyCountServerMain() {
    }

    public static void main(String[] args) throws Exception {
        AtomicInteger notifies = new AtomicInteger();
        try (Transport transport = Transport.create(TransportOptions.defaults())) {
            transport.listen(Endpoint.parse(args[0]), (connection, frame) -> {
                if (frame.type() == FrameType.NOTIFY) {
                    notifies.incrementAndGet();
                }
            });
            System.out.println("READY");
            System.out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            String line;
            while ((line = in.readLine()) != null) {
                if (line.equals("count")) {
                    System.out.println("COUNT " + notifies.get());
                    System.out.flush();
                }
            }
        }
    }
}
