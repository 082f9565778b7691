package dev.capwire.bench;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.examples.RpcExample.Counter;
import dev.capwire.examples.RpcExample.Greeter;
import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.HandshakeRefusedException;
import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.rpc.Rpc;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The demo's client: says Hello to the broker, is handed to the backend (waiting while the broker starts it),
 * and uses the greeter cap the backend serves, printing each step and how long it took. The broker relays these
 * lines; {@link DemoBroker} reads the ones that start with {@value #HANDED_OFF} and {@value #GREET}.
 */
final class DemoClient {
    static final String HANDED_OFF = "handed off: ";
    static final String GREET = "greet: ";
    private static final long GIVE_UP_MS = 30_000;

    private DemoClient() {
    }

    static void run(String brokerAddress) throws Exception {
        System.out.println("pid " + ProcessHandle.current().pid() + " says Hello to the broker for '"
                + DemoBackend.SERVICE + "'");
        Rpc rpc = Rpc.create();
        try (Transport transport = Transport.create(TransportOptions.defaults())) {
            long start = System.nanoTime();
            try (NegotiatedConnection connection = connect(transport, Endpoint.parse(brokerAddress), rpc)) {
                start = step(HANDED_OFF + connection.handedOff() + " (the broker passed this socket to the backend;"
                        + " from here on the client and the backend talk directly; time since the first Hello)", start);
                Greeter greeter = rpc.connection(connection.connection()).bootstrap(Greeter.class);
                start = step("greeter cap bootstrapped", start);
                start = step(GREET + greeter.greet("demo client"), start);
                try (Counter counter = greeter.counter()) {
                    String first = counter.next();
                    start = step("counter (a cap the greeter returned): " + first + ", " + counter.next(), start);
                }
                List<String> items = new ArrayList<>();
                greeter.countdown("5", items::add);
                start = step("countdown (a server stream, with credit): " + String.join(" ", items), start);
                try (FileDescriptor motd = greeter.motd()) {
                    ByteBuffer text = ByteBuffer.allocateDirect(256);
                    motd.read(text);
                    step("motd (" + motd + ", an fd the backend passed): "
                            + StandardCharsets.UTF_8.decode(text.flip()), start);
                }
            }
        }
    }

    /**
     * The first Hello finds no backend: the broker starts one and refuses with UNAVAILABLE and a retry_after_ms,
     * so the client waits that long and says Hello again until the backend registered and the hand-off happens.
     */
    private static NegotiatedConnection connect(Transport transport, Endpoint broker, Rpc rpc) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(GIVE_UP_MS);
        while (true) {
            long start = System.nanoTime();
            try {
                return HandshakeClient.connect(transport, broker, ClientOptions.builder(DemoBackend.SERVICE)
                        .wantedServiceVersion(DemoBackend.VERSION).build(), rpc.listener());
            } catch (HandshakeRefusedException refused) {
                if (!refused.isRetryable() || System.nanoTime() > deadline) {
                    throw refused;
                }
                step("broker refused " + refused.refusedCode() + " (" + refused.reason() + "), retry in "
                        + refused.retryAfterMs() + " ms", start);
                Thread.sleep(Math.max(1, refused.retryAfterMs()));
            }
        }
    }

    private static long step(String what, long since) {
        long now = System.nanoTime();
        System.out.println(what + " (" + TimeUnit.NANOSECONDS.toMicros(now - since) + " us)");
        System.out.flush();
        return now;
    }
}
