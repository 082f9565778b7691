package dev.capwire.rpc;

/** One side of a chain of callbacks: each bounce calls the other side with one less to go. */
@Capability(name = "bouncer", version = "1.0.0")
public interface Bouncer {
    /** {@code depth} is one byte; returns the depths seen on the way down, one byte each. */
    @Method(1)
    byte[] bounce(byte[] depth);
}
