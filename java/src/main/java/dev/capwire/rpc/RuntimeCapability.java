package dev.capwire.rpc;

import dev.capwire.rpc.proto.Diagnostics;
import dev.capwire.rpc.proto.ServedCaps;

/**
 * The runtime cap every RPC connection has at id 1 (docs/rpc-protocol.md, "Runtime"): get it with
 * {@link RpcConnection#runtime()}. Served on the event loop: each answer is a few table reads.
 */
@Capability(name = "capwire.runtime", version = "1.0.0")
public interface RuntimeCapability {
    /** Returns once the peer's RPC layer has answered: a round trip through both event loops. */
    @Method(value = 1, nonBlocking = true)
    void ping();

    /** What the peer serves: each cap's name, version and method ids. */
    @Method(value = 2, nonBlocking = true)
    ServedCaps servedCaps();

    /** The peer's view of this connection: its tables, streams and calls served. */
    @Method(value = 3, nonBlocking = true)
    Diagnostics diagnostics();
}
