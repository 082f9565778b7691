package dev.capwire.rpc;

import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.rpc.testing.SlowRequest;
import dev.capwire.rpc.testing.TailRequest;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.util.concurrent.CountDownLatch;

/**
 * A client process for the tests that kill one mid-call: connects to {@link RpcServerMain} at the endpoint given,
 * hands the server a cap of its own to hold (a {@link Bouncer}), starts an endless stream it consumes slowly and,
 * once items flow, a slow call (tag "killed"), prints {@code CALLING}, and waits to be killed.
 */
public final class RpcCallerMain {
    private RpcCallerMain() {
    }

    public static void main(String[] args) throws Exception {
        Transport transport = Transport.create(TransportOptions.defaults());
        Rpc rpc = Rpc.create(RpcOptions.defaults());
        NegotiatedConnection connection = HandshakeClient.connect(transport, Endpoint.parse(args[0]),
                ClientOptions.builder("app").build(), rpc.listener());
        RemoteFiles files = rpc.connection(connection.connection()).bootstrap(RemoteFiles.class);
        Bouncer mine = depth -> depth;
        Bouncer theirs = files.bouncer(mine); // the server now holds mine
        theirs.bounce(new byte[] {0});
        CountDownLatch flowing = new CountDownLatch(1);
        Thread consumer = new Thread(() -> files.tail(TailRequest.newBuilder().setLines(0).build(), line -> {
            flowing.countDown();
            RpcTestClient.sleepQuietly(10);
        }));
        consumer.setDaemon(true);
        consumer.start();
        flowing.await(); // so the server reports the stream's start before the slow call's
        files.slowAsync(SlowRequest.newBuilder().setHoldMs(60_000).setTag("killed").build());
        System.out.println("CALLING");
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
