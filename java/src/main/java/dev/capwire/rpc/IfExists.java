package dev.capwire.rpc;

/** What {@link Rpc#serve} does when a cap of the same name is served already. */
public enum IfExists {
    /** Refuse with {@link IllegalStateException}, leaving the served cap in place. */
    THROW,
    /** Serve the new one and revoke the old one: every peer holding it sees {@code revoked: replace}. */
    REPLACE,
    /** Keep the one served; the returned handle serves nothing and its close does nothing. */
    SKIP
}
