package dev.capwire.bench;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.PeerCredentials;
import dev.capwire.broker.BrokerBackend;
import dev.capwire.examples.RpcExample.Counter;
import dev.capwire.examples.RpcExample.Greeter;
import dev.capwire.examples.RpcExample.LocalGreeter;
import dev.capwire.handshake.HandshakeServer;
import dev.capwire.handshake.Service;
import dev.capwire.rpc.CallContext;
import dev.capwire.rpc.IfExists;
import dev.capwire.rpc.Rpc;
import dev.capwire.rpc.StreamSink;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.io.InputStream;

/**
 * The demo's backend, started by the broker (activation): it serves the greeter cap on its own socket (the
 * fallback path), registers it with the broker, and adopts the client sockets the broker hands it. Its stdout goes
 * to the log the broker gave it, which the demo prints at the end.
 */
final class DemoBackend {
    /** The service the broker activates and the client asks for. */
    static final String SERVICE = "greeter";
    static final String VERSION = "1.0.0";

    private DemoBackend() {
    }

    /** The greeter, saying in this backend's log whom each call came from. */
    private static final class LoggingGreeter implements Greeter {
        private final LocalGreeter greeter = new LocalGreeter();

        @Override
        public String greet(String name) {
            PeerCredentials caller = CallContext.current().peer();
            say("greet(\"" + name + "\") from " + caller + " (SO_PEERCRED on the socket the broker handed over)");
            return greeter.greet(name);
        }

        @Override
        public Counter counter() {
            say("counter(): returning a Counter cap");
            return greeter.counter();
        }

        @Override
        public void countdown(String from, StreamSink<String> out) {
            say("countdown(\"" + from + "\"): streaming");
            greeter.countdown(from, out);
        }

        @Override
        public FileDescriptor motd() {
            say("motd(): returning a pipe's read end");
            return greeter.motd();
        }
    }

    static void run(String brokerAddress, String ownAddress) throws Exception {
        Endpoint own = Endpoint.parse(ownAddress);
        Rpc rpc = Rpc.create();
        rpc.serve(Greeter.class, new LoggingGreeter(), IfExists.THROW);
        try (Transport transport = Transport.create(TransportOptions.defaults());
                HandshakeServer server = HandshakeServer.builder(transport)
                        .service(Service.builder(SERVICE, VERSION, rpc.listener()).build()).build()) {
            server.listen(own);
            long start = System.nanoTime();
            try (BrokerBackend registration = BrokerBackend.register(transport, Endpoint.parse(brokerAddress), server,
                    own)) {
                say("pid " + ProcessHandle.current().pid() + " serves '" + SERVICE + "' on " + own
                        + ", registered with the broker in " + (System.nanoTime() - start) / 1_000 + " us");
                awaitBrokerGone(System.in);
                say("stdin closed: the broker is stopping, so this backend stops too");
            }
        }
    }

    /** The broker holds this process's stdin; it closes when the broker stops, whichever way it stops. */
    private static void awaitBrokerGone(InputStream in) throws Exception {
        while (in.read() >= 0) {
            // nothing to read: the broker never writes
        }
    }

    private static void say(String line) {
        System.out.println(line);
        System.out.flush();
    }
}
