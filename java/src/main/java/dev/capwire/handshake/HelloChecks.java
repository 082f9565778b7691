package dev.capwire.handshake;

import dev.capwire.Configuration;
import dev.capwire.bindings.PeerCredentials;
import dev.capwire.transport.Connection;
import dev.capwire.transport.Transport;
import dev.capwire.wire.proto.Hello;
import dev.capwire.wire.proto.Negotiated;
import dev.capwire.wire.proto.RefusedCode;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.Supplier;

/**
 * The server side's checks of a first Hello, and the terms a passing Hello is negotiated on. One
 * implementation for every place a Hello is answered: {@link HandshakeServer} runs it for its own services, a
 * broker for the services its backends registered, so a client is judged the same whichever it reaches.
 *
 * <p>The order is the one docs/wire-protocol.md ("Handshake") gives, and the first check that fails decides
 * the Refused code: protocol range, field shapes, per-peer rate limit, connection limits (the caller's, since
 * only it counts its connections), service and its version, version policy, claimed pid, peer policy. The
 * shared secret, which needs a second round trip, is the caller's last step.
 */
public final class HelloChecks {
    private final Transport transport;
    private final int minProtocol;
    private final int maxProtocol;
    private final PeerPolicy unixPolicy;
    private final PeerPolicy tcpPolicy;
    private final long capabilities;
    private final int helloRateLimit;
    private final HelloRateLimiter rateLimiter;
    private final long keepaliveIntervalMs;
    private final long keepaliveMinIntervalMs;

    HelloChecks(Transport transport, int minProtocol, int maxProtocol, PeerPolicy policy, long capabilities,
            int helloRateLimit, long keepaliveIntervalMs, long keepaliveMinIntervalMs) {
        if (minProtocol < 1 || maxProtocol < minProtocol) {
            throw new IllegalArgumentException("protocol range [" + minProtocol + ", " + maxProtocol + "] is empty");
        }
        this.transport = transport;
        this.minProtocol = minProtocol;
        this.maxProtocol = maxProtocol;
        this.unixPolicy = policy != null ? policy : PeerPolicy.sameUser();
        this.tcpPolicy = policy != null ? policy : PeerPolicy.anyone();
        this.capabilities = capabilities;
        this.helloRateLimit = helloRateLimit;
        this.rateLimiter = new HelloRateLimiter(helloRateLimit);
        this.keepaliveIntervalMs = keepaliveIntervalMs;
        this.keepaliveMinIntervalMs = keepaliveMinIntervalMs;
    }

    /** Checks with every setting at its {@code capwire.*} property and the given peer policy (null: default). */
    public static HelloChecks withDefaults(Transport transport, PeerPolicy policy) {
        return withLimits(transport, policy, Configuration.helloRateLimit(), Configuration.keepaliveIntervalMs(),
                Configuration.keepaliveMinIntervalMs());
    }

    /**
     * Checks of the protocol's whole range and the default capabilities, with the given peer policy (null: default)
     * and limits: Hellos per second per peer, and the default and shortest keepalive interval granted (0: none).
     */
    public static HelloChecks withLimits(Transport transport, PeerPolicy policy, int helloRateLimit,
            long keepaliveIntervalMs, long keepaliveMinIntervalMs) {
        return new HelloChecks(transport, HandshakeServer.PROTOCOL_VERSION_MIN, HandshakeServer.PROTOCOL_VERSION_MAX,
                policy, Capabilities.DEFAULTS, helloRateLimit, keepaliveIntervalMs, keepaliveMinIntervalMs);
    }

    /** Why a Hello is refused: what goes into the Refused reply (besides the protocol range). */
    public record Refusal(RefusedCode code, String reason, long retryAfterMs, Map<String, String> details) {
    }

    public int minProtocol() {
        return minProtocol;
    }

    public int maxProtocol() {
        return maxProtocol;
    }

    /**
     * Null when {@code hello}, the first on {@code connection}, passes every check, else the first refusal.
     * {@code limits} is asked between the rate limit and the service check (null: no limits refused it).
     */
    public Refusal check(Connection connection, Hello hello, Map<String, Service> services,
            Supplier<Refusal> limits) {
        // 1. Protocol ranges overlap.
        String noOverlap = HandshakeFields.protocolRangeRefusal(hello.getMinProtocolVersion(),
                hello.getMaxProtocolVersion(), minProtocol, maxProtocol);
        if (noOverlap != null) {
            return new Refusal(RefusedCode.VERSION_UNSUPPORTED, noOverlap, 0, Map.of());
        }
        // 2. Field shapes.
        String badField = badField(hello);
        if (badField != null) {
            int space = badField.indexOf(' ');
            return new Refusal(RefusedCode.PEER_REJECTED, badField, 0, Map.of("field", badField.substring(0, space)));
        }
        // 3. Rate limit per peer.
        long retryAfterMs = rateLimiter.tryAcquire(rateKey(connection), transport.options().clock().nanoTime());
        if (retryAfterMs > 0) {
            return new Refusal(RefusedCode.RATE_LIMITED, "more than " + helloRateLimit
                    + " Hellos per second from this peer", retryAfterMs, Map.of());
        }
        // 3b. The caller's connection limits.
        Refusal limited = limits.get();
        if (limited != null) {
            return limited;
        }
        // 4. Service known, at a version compatible with the one the client was built against.
        Service service = services.get(hello.getServiceName());
        if (service == null) {
            return new Refusal(RefusedCode.SERVICE_UNKNOWN, "no service named '" + hello.getServiceName() + "' here",
                    0, Map.of("services", String.join(",", new TreeSet<>(services.keySet()))));
        }
        if (!hello.getWantedServiceVersion().isEmpty()
                && !service.version().satisfies(Version.parse(hello.getWantedServiceVersion()))) {
            return new Refusal(RefusedCode.SERVICE_UNKNOWN, "service '" + service.name() + "' is at version "
                    + service.version() + ", not compatible with the wanted " + hello.getWantedServiceVersion(), 0,
                    Map.of("served_version", service.version().toString()));
        }
        // 5. Version policy for the client's own version.
        String blocked = service.versionRefusal(Version.parseOrNull(hello.getClientVersion()));
        if (blocked != null) {
            Map<String, String> details = new LinkedHashMap<>();
            if (service.minimumClientVersion() != null) {
                details.put("minimum_client_version", service.minimumClientVersion().toString());
            }
            details.put("hint", "upgrade the client to a version the server admits, then reconnect");
            return new Refusal(RefusedCode.VERSION_BLOCKED, blocked, 0, details);
        }
        // 6. The claimed pid is the real one, where both are known.
        PeerCredentials credentials = connection.peerCredentials();
        String wrongPid = HandshakeFields.claimedPidRefusal(hello.getClaimedPid(), credentials);
        if (wrongPid != null) {
            return new Refusal(RefusedCode.PEER_REJECTED, wrongPid, 0, Map.of("field", "claimed_pid"));
        }
        // 7. Peer policy.
        PeerPolicy policy = connection.endpoint().isUnix() ? unixPolicy : tcpPolicy;
        String denied;
        try {
            denied = policy.refusal(credentials, hello);
        } catch (RuntimeException e) {
            // The application's code: reported, and the client refused at once. Here, not in each caller, so that
            // the broker, which would otherwise leave the client unanswered until its handshake timed out, refuses
            // it as a direct server does.
            ListenerFailure.report(transport, "PeerPolicy " + policy.getClass().getName() + " checking " + credentials, e,
                    "the Hello is refused INTERNAL");
            return new Refusal(RefusedCode.INTERNAL, "the server failed while checking the Hello: "
                    + e.getClass().getSimpleName(), 0, Map.of());
        }
        if (denied != null) {
            return new Refusal(RefusedCode.PERMISSION_DENIED, denied, 0, Map.of());
        }
        return null;
    }

    /**
     * Step 8, the shared secret: null when {@code answer}, the Hello that answers a Challenge with
     * {@code serverNonce}, is {@code first} again with a proof of {@code secret}; else the refusal. The caller
     * then sends {@link #serverProof} in its Negotiated.
     */
    public static Refusal proofRefusal(Hello first, Hello answer, byte[] serverNonce, SharedSecret secret) {
        if (!answer.toBuilder().clearSecretProof().build().equals(first)) {
            return new Refusal(RefusedCode.PEER_REJECTED, "the Hello answering the Challenge differs from the first"
                    + " Hello in more than secret_proof", 0, Map.of("field", "secret_proof"));
        }
        byte[] proof = answer.getSecretProof().toByteArray();
        if (proof.length == 0) {
            return new Refusal(RefusedCode.UNAUTHENTICATED, "this server requires the shared secret and the client"
                    + " proved none", 0, Map.of());
        }
        if (!SharedSecret.sameProof(secret.clientProof(serverNonce, answer.getClientNonce().toByteArray()), proof)) {
            return new Refusal(RefusedCode.UNAUTHENTICATED, "the shared-secret proof is wrong", 0, Map.of());
        }
        return null;
    }

    /** What the server sends back in its Negotiated for an {@code answer} {@link #proofRefusal} passed. */
    public static byte[] serverProof(Hello answer, byte[] serverNonce, SharedSecret secret) {
        return secret.serverProof(serverNonce, answer.getClientNonce().toByteArray());
    }

    /**
     * The terms a Hello that passed is granted for {@code service}: the protocol both speak, the capability
     * bits both offer, the keepalive and frame size both accept. Proof and hand-off fields are the caller's.
     */
    public Negotiated.Builder negotiated(Connection connection, Hello hello, Service service) {
        List<String> warnings = new ArrayList<>();
        long keepalive = grantedKeepalive(HandshakeFields.unsigned(hello.getKeepaliveIntervalMs()), warnings);
        int maxFrame = HandshakeFields.negotiatedMaxFrameBytes(hello.getMaxFrameBytes(),
                transport.options().maxFrameBytes());
        return Negotiated.newBuilder()
                .setProtocolVersion(HandshakeFields.chosenProtocol(hello.getMaxProtocolVersion(), maxProtocol))
                .setServerVersion(service.version().toString())
                .setCapabilities(capabilities & hello.getCapabilities())
                .setKeepaliveIntervalMs((int) keepalive)
                .setMaxFrameBytes(maxFrame)
                .setConnectionId(connection.id())
                .addAllWarnings(warnings);
    }

    private long grantedKeepalive(long wanted, List<String> warnings) {
        if (keepaliveIntervalMs == 0) {
            if (wanted != 0) {
                warnings.add("keepalive is off on this server; asked for " + wanted + " ms");
            }
            return 0;
        }
        if (wanted == 0) {
            return keepaliveIntervalMs;
        }
        long granted = Math.max(keepaliveMinIntervalMs, Math.min(keepaliveIntervalMs, wanted));
        if (granted != wanted) {
            warnings.add("keepalive interval " + wanted + " ms clamped to " + granted + " ms (server allows "
                    + keepaliveMinIntervalMs + " to " + keepaliveIntervalMs + ")");
        }
        return granted;
    }

    /** Null when every field has a valid shape, else "field_name what is wrong". */
    private static String badField(Hello hello) {
        String service = hello.getServiceName();
        if (!Service.NAME.matcher(service).matches()) {
            return "service_name must match " + Service.NAME + " (got " + quoted(service, 40) + ")";
        }
        if (!hello.getWantedServiceVersion().isEmpty()
                && (bytes(hello.getWantedServiceVersion()) > HandshakeServer.MAX_VERSION_BYTES
                || Version.parseOrNull(hello.getWantedServiceVersion()) == null)) {
            return "wanted_service_version is not MAJOR.MINOR.PATCH (got " + quoted(hello.getWantedServiceVersion(), 40)
                    + ")";
        }
        if (bytes(hello.getClientVersion()) > HandshakeServer.MAX_VERSION_BYTES) {
            return "client_version is longer than " + HandshakeServer.MAX_VERSION_BYTES + " bytes";
        }
        if (!hello.getClientVersion().isEmpty() && Version.parseOrNull(hello.getClientVersion()) == null) {
            return "client_version is not MAJOR.MINOR.PATCH (got " + quoted(hello.getClientVersion(), 40) + ")";
        }
        int maxLibrary = HandshakeServer.MAX_LIBRARY_FIELD_BYTES;
        if (!printable(hello.getLibraryName(), maxLibrary)) {
            return "library_name must be at most " + maxLibrary + " printable ASCII bytes";
        }
        if (!printable(hello.getLibraryVersion(), maxLibrary)) {
            return "library_version must be at most " + maxLibrary + " printable ASCII bytes";
        }
        String badMaxFrame = HandshakeFields.badMaxFrameBytes(hello.getMaxFrameBytes());
        if (badMaxFrame != null) {
            return badMaxFrame;
        }
        if (hello.getClientNonce().size() != HandshakeServer.NONCE_LENGTH) {
            return "client_nonce must be " + HandshakeServer.NONCE_LENGTH + " bytes (got "
                    + hello.getClientNonce().size() + ")";
        }
        if (!hello.getSecretProof().isEmpty()) {
            return "secret_proof must be empty in the first Hello";
        }
        return null;
    }

    private static int bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8).length;
    }

    private static boolean printable(String text, int maxBytes) {
        return text.length() <= maxBytes && text.chars().allMatch(c -> c >= 0x20 && c < 0x7F);
    }

    private static String quoted(String text, int max) {
        String shown = text.length() > max ? text.substring(0, max) + "..." : text;
        return "'" + shown.replaceAll("[^\\x20-\\x7E]", "?") + "'";
    }

    /** Unix: the kernel-verified uid and pid. TCP: the remote host (its port changes per connection). */
    private static Object rateKey(Connection connection) {
        PeerCredentials credentials = connection.peerCredentials();
        if (credentials != null) {
            return credentials.uid().orElse(-1) << 32 ^ credentials.pid().orElse(-1);
        }
        if (connection.remoteAddress() instanceof InetSocketAddress) {
            return ((InetSocketAddress) connection.remoteAddress()).getAddress();
        }
        return "unknown peer";
    }
}
