package dev.capwire.rpc;

import dev.capwire.transport.AttributeKey;
import dev.capwire.transport.CloseReason;
import dev.capwire.transport.Connection;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.InboundFrame;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One process's RPC side: the caps it serves by name, and the RPC state of every connection whose listener
 * is {@link #listener()}. Either side of a connection may serve and call; a client that only calls still
 * needs one, to receive the caps the server returns and the streams it sends.
 *
 * <pre>{@code
 * Rpc rpc = Rpc.create();
 * try (ServeHandle files = rpc.serve(Files.class, new LocalFiles(), IfExists.THROW)) {
 *     HandshakeServer.builder(transport).service(Service.builder("files", "1.2.0", rpc.listener()).build())
 *             .build().listen(endpoint);
 *     ...
 * }
 * // the client
 * NegotiatedConnection c = HandshakeClient.connect(transport, endpoint, options, rpc.listener());
 * Files files = rpc.connection(c.connection()).bootstrap(Files.class);
 * }</pre>
 *
 * <p>Cap methods take at most one argument (and a {@link StreamSink} last for a server stream) and return a
 * value, nothing, or a {@code CompletableFuture} of a value; or, in the callback form for calls that make no
 * object per call, take a {@link ResultSink} last and return nothing. The values are protobuf messages,
 * {@code byte[]}, {@code String}, {@code DirectBuffer}, {@code FileDescriptor}, a {@link Capability} interface, or
 * a {@code List} or {@code Map<String, ...>} of one. The wire format is docs/rpc-protocol.md.
 */
public final class Rpc {
    private final AttributeKey<RpcConnection> stateKey = AttributeKey.create("rpc", RpcConnection.class);
    private final RpcOptions options;
    private final Map<String, Served> served = new LinkedHashMap<>(); // guarded by this
    private final Set<RpcConnection> connections = ConcurrentHashMap.newKeySet();
    /** The reasons a revocation gives the peer (docs/rpc-protocol.md). */
    private static final String UNSERVED = "revoked: unserve";
    private static final String REPLACED = "revoked: replace";
    private final FrameListener listener = new Listener();

    private Rpc(RpcOptions options) {
        this.options = Objects.requireNonNull(options, "options");
    }

    public static Rpc create() {
        return new Rpc(RpcOptions.defaults());
    }

    public static Rpc create(RpcOptions options) {
        return new Rpc(options);
    }

    public RpcOptions options() {
        return options;
    }

    /** The listener to give each connection (a handshake {@code Service}, a client's connect) that speaks RPC. */
    public FrameListener listener() {
        return listener;
    }

    /**
     * The RPC side of {@code connection}, whose listener must be {@link #listener()} (a connection with another
     * listener never hears the answers): bootstrap caps on it, ask its runtime cap, count its exports and imports.
     */
    public RpcConnection connection(Connection connection) {
        return stateOf(connection);
    }

    /**
     * The connection's RPC state, made by whichever comes first: the listener's onOpen, or a caller that got the
     * connection back from connect before its loop ran onOpen (connect returns once the socket is registered).
     */
    private RpcConnection stateOf(Connection connection) {
        RpcConnection state = connection.attribute(stateKey);
        if (state == null) {
            RpcConnection created = new RpcConnection(this, connection, options);
            state = connection.attributeIfAbsent(stateKey, created);
            if (state == created) {
                // Only here: a state that lost the race to attach must not take the late answers from the winner.
                connection.onLateReply(created.caller()::answeredLate);
                connections.add(created);
                // The listener's onClose lets go of the state, but only of one it can find: a state made after the
                // close (whose onClose found none, or raced this one's attaching) has only the close future left,
                // which runs at once when the connection has closed already.
                connection.closeFuture().thenAccept(reason -> closed(created, reason));
            }
        }
        return state;
    }

    /** The connection under {@code state} closed: it is no longer live, and its tables empty, once. */
    private void closed(RpcConnection state, CloseReason reason) {
        if (connections.remove(state)) {
            state.closed(reason);
        }
    }

    /** Serves {@code implementation} under its interface's {@link Capability} name, open to every peer. */
    public <T> ServeHandle serve(Class<T> type, T implementation, IfExists ifExists) {
        return serve(type, implementation, ifExists, CapPolicy.anyone());
    }

    /** Serves {@code implementation}; only peers {@code policy} admits may bootstrap it. */
    public <T> ServeHandle serve(Class<T> type, T implementation, IfExists ifExists, CapPolicy policy) {
        return serveAll(ifExists, serving(type, implementation, policy));
    }

    /** One cap for {@link #serveAll}. */
    public static <T> Serving serving(Class<T> type, T implementation, CapPolicy policy) {
        CapabilityType<T> capType = CapabilityType.of(type);
        if (!type.isInstance(Objects.requireNonNull(implementation, "implementation"))) {
            throw new IllegalArgumentException(implementation + " does not implement " + type.getName());
        }
        return new Serving(new Served(capType, implementation, Objects.requireNonNull(policy, "policy")));
    }

    /**
     * Serves several caps at once: all of them or, when one name is taken and {@code ifExists} is THROW, none
     * (nothing changes and nobody is revoked). With REPLACE every replaced cap is revoked; with SKIP the names
     * taken keep their cap and the handle leaves them alone.
     */
    public ServeHandle serveAll(IfExists ifExists, Serving... caps) {
        List<Served> added = new ArrayList<>();
        List<Served> replaced = new ArrayList<>();
        synchronized (this) {
            Set<String> names = new java.util.HashSet<>();
            for (Serving cap : caps) {
                String name = cap.served.type.name();
                if (!names.add(name)) {
                    throw new IllegalArgumentException(name + " appears twice in one serveAll");
                }
                if (ifExists == IfExists.THROW && served.containsKey(name)) {
                    throw new IllegalStateException(name + " is served already (" + served.get(name)
                            + "); use IfExists.REPLACE to replace it");
                }
            }
            for (Serving cap : caps) {
                Served old = served.get(cap.served.type.name());
                if (old != null && ifExists == IfExists.SKIP) {
                    continue;
                }
                served.put(cap.served.type.name(), cap.served);
                added.add(cap.served);
                if (old != null) {
                    old.withdraw(REPLACED);
                    replaced.add(old);
                }
            }
        }
        revoke(replaced, REPLACED);
        return new ServeHandle(this, List.copyOf(added));
    }

    /** Stops serving {@code name} and revokes every instance peers hold ({@code revoked: unserve}); false if not served. */
    public boolean unserve(String name) {
        Served removed;
        synchronized (this) {
            removed = served.remove(name);
            if (removed != null) {
                removed.withdraw(UNSERVED);
            }
        }
        if (removed != null) {
            revoke(List.of(removed), UNSERVED);
        }
        return removed != null;
    }

    void unserve(List<Served> caps) {
        List<Served> removed = new ArrayList<>();
        synchronized (this) {
            for (Served cap : caps) {
                if (served.remove(cap.type.name(), cap)) {
                    cap.withdraw(UNSERVED);
                    removed.add(cap);
                }
            }
        }
        revoke(removed, UNSERVED);
    }

    private void revoke(List<Served> caps, String reason) {
        if (caps.isEmpty()) {
            return;
        }
        for (RpcConnection connection : connections) {
            connection.revoke(caps, reason);
        }
    }

    /** The cap served under {@code name}, or null. */
    synchronized Served served(String name) {
        return served.get(name);
    }

    /** What is served now, in the order it was first served. */
    public synchronized List<String> servedNames() {
        return List.copyOf(served.keySet());
    }

    synchronized List<Served> servedCaps() {
        return List.copyOf(served.values());
    }

    /** Caps this side exports now, over all its connections (ids 0 and 1 not counted). */
    public int exportCount() {
        int exports = 0;
        for (RpcConnection connection : connections) {
            exports += connection.exportCount();
        }
        return exports;
    }

    /** Caps of peers this side holds now, over all its connections. */
    public int importCount() {
        int imports = 0;
        for (RpcConnection connection : connections) {
            imports += connection.importCount();
        }
        return imports;
    }

    /** Connections speaking RPC through this side now. */
    public int connectionCount() {
        return connections.size();
    }

    /** A cap and its implementation, for {@link #serveAll}. */
    public static final class Serving {
        final Served served;

        private Serving(Served served) {
            this.served = served;
        }
    }

    /** Attaches the RPC state to each connection and hands it every frame. */
    private final class Listener implements FrameListener {
        @Override
        public void onOpen(Connection connection) {
            stateOf(connection);
        }

        @Override
        public void onFrame(Connection connection, InboundFrame frame) {
            RpcConnection state = connection.attribute(stateKey);
            if (state != null) {
                state.onFrame(frame);
            }
        }

        @Override
        public void onClose(Connection connection, CloseReason reason) {
            RpcConnection state = connection.attribute(stateKey);
            if (state != null) {
                closed(state, reason);
            }
        }
    }
}
