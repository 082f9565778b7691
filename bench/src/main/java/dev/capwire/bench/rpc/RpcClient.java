package dev.capwire.bench.rpc;

import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.rpc.Rpc;
import dev.capwire.transport.Connection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.nio.file.Path;

/**
 * The client end of the Capwire RPC benchmarks: a transport of its own (in invoker mode when the caller's
 * thread should drive it, as the spinning round trip's does), and either {@link BenchCap} bootstrapped over a
 * negotiated connection or, for the raw baseline, a plain transport connection.
 */
public final class RpcClient implements AutoCloseable {
    private final Transport transport;
    private final NegotiatedConnection negotiated;
    private final Connection connection;
    private final BenchCap cap;

    private RpcClient(Transport transport, NegotiatedConnection negotiated, Connection connection, BenchCap cap) {
        this.transport = transport;
        this.negotiated = negotiated;
        this.connection = connection;
        this.cap = cap;
    }

    /** Invoker mode: the calling thread runs the transport (it must also be the thread that makes the calls). */
    static Transport transport(String idleStrategy, boolean invoker) throws Exception {
        return Transport.create(TransportOptions.builder().idleStrategy(idleStrategy).eventLoops(invoker ? 0 : 1)
                .build());
    }

    /** Connects to an {@code rpc} {@link RpcPeerServer} and bootstraps {@link BenchCap}. */
    public static RpcClient rpc(Path socket, String idleStrategy, boolean invoker) throws Exception {
        Transport transport = transport(idleStrategy, invoker);
        try {
            Rpc rpc = Rpc.create();
            NegotiatedConnection negotiated = HandshakeClient.connect(transport, Endpoint.unix(socket),
                    ClientOptions.builder(RpcPeerServer.SERVICE).build(), rpc.listener());
            BenchCap cap = rpc.connection(negotiated.connection()).bootstrap(BenchCap.class);
            return new RpcClient(transport, negotiated, negotiated.connection(), cap);
        } catch (Exception | Error e) {
            transport.close();
            throw e;
        }
    }

    /** Connects to a {@code raw-request} {@link RpcPeerServer}: no handshake, no RPC, requests only. */
    public static RpcClient raw(Path socket, String idleStrategy, boolean invoker) throws Exception {
        Transport transport = transport(idleStrategy, invoker);
        try {
            Connection connection = transport.connect(Endpoint.unix(socket), (from, frame) -> { });
            return new RpcClient(transport, null, connection, null);
        } catch (Exception | Error e) {
            transport.close();
            throw e;
        }
    }

    public BenchCap cap() {
        return cap;
    }

    public Connection connection() {
        return connection;
    }

    /** The transport, when it is in invoker mode and the calling thread must run it; else null. */
    public Transport invokerTransport() {
        return transport.options().eventLoops() == 0 ? transport : null;
    }

    @Override
    public void close() {
        if (negotiated != null) {
            negotiated.close();
        }
        transport.close();
    }
}
