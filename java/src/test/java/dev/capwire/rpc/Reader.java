package dev.capwire.rpc;

/** A cap returned by {@link Files#open}: closing the proxy releases it. */
@Capability(name = "reader", version = "1.0.0")
public interface Reader extends AutoCloseable {
    @Method(1)
    byte[] read();

    @Override
    void close();
}
