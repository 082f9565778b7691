package dev.capwire.bindings;

import java.util.OptionalLong;

/**
 * The kernel-verified identity of the process at the other end of a Unix-domain socket, as it was when the
 * connection was made. A field the platform cannot report is empty, never 0 (0 is root).
 */
public final class PeerCredentials {
    static final long UNKNOWN = -1;

    private final long pid;
    private final long uid;
    private final long gid;

    public PeerCredentials(long pid, long uid, long gid) {
        this.pid = pid;
        this.uid = uid;
        this.gid = gid;
    }

    public OptionalLong pid() {
        return known(pid);
    }

    public OptionalLong uid() {
        return known(uid);
    }

    public OptionalLong gid() {
        return known(gid);
    }

    private static OptionalLong known(long value) {
        return value == UNKNOWN ? OptionalLong.empty() : OptionalLong.of(value);
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof PeerCredentials
                && ((PeerCredentials) other).pid == pid
                && ((PeerCredentials) other).uid == uid
                && ((PeerCredentials) other).gid == gid;
    }

    @Override
    public int hashCode() {
        return Long.hashCode(pid) * 31 * 31 + Long.hashCode(uid) * 31 + Long.hashCode(gid);
    }

    @Override
    public String toString() {
        return "PeerCredentials{pid=" + text(pid) + ", uid=" + text(uid) + ", gid=" + text(gid) + "}";
    }

    private static String text(long value) {
        return value == UNKNOWN ? "unknown" : Long.toString(value);
    }
}
