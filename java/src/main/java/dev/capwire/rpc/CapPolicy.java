package dev.capwire.rpc;

import dev.capwire.bindings.PeerCredentials;
import java.util.Arrays;

/**
 * Who may bootstrap a served cap, decided from the kernel-verified credentials of the connection (null on
 * TCP, and a field may be unknown). A policy that needs what the connection lacks refuses: fail closed.
 * Evaluated on the event loop for each bootstrap: keep it quick.
 */
@FunctionalInterface
public interface CapPolicy {
    /** Null to admit the peer, or why it is refused (sent to the peer: name no secrets). */
    String refusal(PeerCredentials peer);

    /** Everyone the connection's handshake admitted. */
    static CapPolicy anyone() {
        return peer -> null;
    }

    /** Processes running as one of {@code uids}. */
    static CapPolicy uids(long... uids) {
        long[] allowed = uids.clone();
        Arrays.sort(allowed);
        return peer -> {
            if (peer == null || peer.uid().isEmpty()) {
                return "this cap's policy needs the peer's uid, which the connection cannot give (fail closed)";
            }
            long uid = peer.uid().getAsLong();
            return Arrays.binarySearch(allowed, uid) >= 0 ? null : "uid " + uid + " may not use this cap";
        };
    }
}
