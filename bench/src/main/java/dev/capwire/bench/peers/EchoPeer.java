package dev.capwire.bench.peers;

/**
 * One side of an echo conversation in the benchmarks: Capwire, or a baseline that moves the very same
 * Capwire frames (24-byte little-endian header, then the payload) over the same kind of socket.
 */
public interface EchoPeer extends AutoCloseable {
    /** Sends one frame and waits for its echo. */
    void roundTrip();

    /** Sends one frame without waiting; false when the transport pushed back. */
    boolean send();

    /** Echoes received so far. */
    long received();

    /** Pushes out anything a peer batches (a pipelined sender calls it before it waits). */
    default void flush() {
    }

    @Override
    void close() throws Exception;
}
