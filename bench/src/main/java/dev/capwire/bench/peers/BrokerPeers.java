package dev.capwire.bench.peers;

import dev.capwire.transport.Endpoint;

/**
 * A broker and a backend registered with it, each in its own JVM, for the broker benchmarks (issue 13). The
 * backend also listens on its own socket, so the direct baseline talks to the same process, service and code.
 */
public final class BrokerPeers implements AutoCloseable {
    private final PeerProcess broker;
    private final PeerProcess backend;

    private BrokerPeers(PeerProcess broker, PeerProcess backend) {
        this.broker = broker;
        this.backend = backend;
    }

    public static BrokerPeers start() throws Exception {
        PeerProcess broker = PeerProcess.start("broker", "backoff");
        try {
            return new BrokerPeers(broker, PeerProcess.start("broker-backend", broker.socket().toString()));
        } catch (Exception e) {
            broker.close();
            throw e;
        }
    }

    /** Where a client connects: the broker's socket, or with {@code direct} the backend's own. */
    public Endpoint endpoint(boolean direct) {
        return Endpoint.unix(direct ? backend.socket() : broker.socket());
    }

    public PeerProcess broker() {
        return broker;
    }

    public PeerProcess backend() {
        return backend;
    }

    @Override
    public void close() throws Exception {
        try {
            backend.close();
        } finally {
            broker.close();
        }
    }
}
