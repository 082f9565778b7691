package dev.capwire.rpc;

import java.util.List;

/**
 * What {@link Rpc#serve} and {@link Rpc#serveAll} put in place; closing it unserves them (revoking every
 * instance peers hold, reason {@code revoked: unserve}) unless they were replaced meanwhile.
 */
public final class ServeHandle implements AutoCloseable {
    private final Rpc rpc;
    private final List<Served> served;

    ServeHandle(Rpc rpc, List<Served> served) {
        this.rpc = rpc;
        this.served = served;
    }

    /** The names this handle serves (none when {@link IfExists#SKIP} kept an existing one). */
    public List<String> names() {
        return served.stream().map(s -> s.type.name()).toList();
    }

    @Override
    public void close() {
        rpc.unserve(served);
    }
}
