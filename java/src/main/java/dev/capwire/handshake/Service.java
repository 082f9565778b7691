package dev.capwire.handshake;

import dev.capwire.transport.FrameListener;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * A named service a server hosts: its version, which client versions it admits, and the listener that gets
 * the connections negotiated for it ({@link FrameListener#onOpen} fires once the handshake succeeds).
 */
public final class Service {
    static final Pattern NAME = Pattern.compile("[A-Za-z][A-Za-z0-9._-]{0,127}");

    private final String name;
    private final Version version;
    private final Version minimumClientVersion;
    private final Set<String> allowedClientVersions;
    private final FrameListener listener;

    private Service(Builder b) {
        if (!NAME.matcher(b.name).matches()) {
            throw new IllegalArgumentException("service name must match " + NAME + ": '" + b.name + "'");
        }
        this.name = b.name;
        this.version = b.version;
        this.minimumClientVersion = b.minimumClientVersion;
        this.allowedClientVersions = Set.copyOf(b.allowedClientVersions);
        this.listener = b.listener;
    }

    public static Builder builder(String name, String version, FrameListener listener) {
        return new Builder(name, Version.parse(version), listener);
    }

    public String name() {
        return name;
    }

    public Version version() {
        return version;
    }

    FrameListener listener() {
        return listener;
    }

    /**
     * Null when a client at {@code clientVersion} (null: it did not say) may use this service, else why not.
     * A client that does not say its version cannot pass a policy, or leaving the field empty would bypass it.
     */
    String versionRefusal(Version clientVersion) {
        if (clientVersion == null) {
            return minimumClientVersion == null && allowedClientVersions.isEmpty() ? null
                    : "the client did not state its version (client_version) and service '" + name
                            + "' admits only some versions";
        }
        if (!allowedClientVersions.isEmpty() && !allowedClientVersions.contains(clientVersion.toString())) {
            return "client version " + clientVersion + " is not on the allow list " + new TreeSet<>(allowedClientVersions);
        }
        if (minimumClientVersion != null && clientVersion.compareTo(minimumClientVersion) < 0) {
            return "client version " + clientVersion + " is below the minimum " + minimumClientVersion;
        }
        return null;
    }

    /** Clients below this version are refused; null: none. */
    public Version minimumClientVersion() {
        return minimumClientVersion;
    }

    /** When not empty, the only client versions admitted. */
    public Set<String> allowedClientVersions() {
        return allowedClientVersions;
    }

    public static final class Builder {
        private final String name;
        private final Version version;
        private final FrameListener listener;
        private Version minimumClientVersion;
        private final Set<String> allowedClientVersions = new TreeSet<>();

        private Builder(String name, Version version, FrameListener listener) {
            this.name = name;
            this.version = version;
            this.listener = listener;
        }

        /** Clients older than this are refused VERSION_BLOCKED (with the minimum in the reply's details). */
        public Builder minimumClientVersion(String value) {
            minimumClientVersion = Version.parse(value);
            return this;
        }

        /** When any are given, only these exact client versions are admitted. */
        public Builder allowClientVersions(String... versions) {
            for (String v : versions) {
                allowedClientVersions.add(Version.parse(v).toString());
            }
            return this;
        }

        public Service build() {
            return new Service(this);
        }
    }
}
