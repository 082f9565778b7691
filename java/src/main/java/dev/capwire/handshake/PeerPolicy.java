package dev.capwire.handshake;

import dev.capwire.bindings.PeerCredentials;
import dev.capwire.wire.proto.Hello;
import java.util.Arrays;
import java.util.function.BiPredicate;

/**
 * Who may connect, decided from the kernel-verified credentials and the Hello. A policy that needs
 * credentials fails closed where the platform gives none (TCP, or a field reported unknown): the peer is
 * refused PERMISSION_DENIED rather than let through unchecked.
 */
public interface PeerPolicy {
    /** Null to admit the peer, or the reason it is refused (sent to the client: name no secrets). */
    String refusal(PeerCredentials credentials, Hello hello);

    /** The default on Unix sockets: only processes running as this process's own uid. */
    static PeerPolicy sameUser() {
        long self = ProcessIdentity.uid();
        return uidAllowList(self);
    }

    /** Processes running as one of {@code uids}. */
    static PeerPolicy uidAllowList(long... uids) {
        long[] allowed = uids.clone();
        Arrays.sort(allowed);
        return (credentials, hello) -> {
            if (credentials == null || credentials.uid().isEmpty()) {
                return "the peer policy needs the peer's uid, which this connection cannot give (fail closed)";
            }
            long uid = credentials.uid().getAsLong();
            return Arrays.binarySearch(allowed, uid) >= 0 ? null : "uid " + uid + " is not allowed";
        };
    }

    /**
     * Any test over the credentials and the Hello. The credentials are null on TCP: a predicate that needs
     * them must refuse then. Runs on the event loop: keep it quick.
     */
    static PeerPolicy matching(String description, BiPredicate<PeerCredentials, Hello> admit) {
        return (credentials, hello) -> admit.test(credentials, hello) ? null : "refused by policy: " + description;
    }

    /** Everyone who gets this far; on TCP the shared secret is then the only check. */
    static PeerPolicy anyone() {
        return (credentials, hello) -> null;
    }
}
