package dev.capwire.bench.peers;

/**
 * The sending side of a one-way stream of frames to a sink in another JVM: Capwire, or a baseline that writes
 * the very same frames over the same kind of socket. Nothing comes back but the echo of {@link #sync()}.
 */
public interface StreamPeer extends AutoCloseable {
    /** Sends {@code frames} frames, waiting (spinning) while the transport pushes back. */
    void send(int frames);

    /** Pushes out anything batched and waits until the sink has received and decoded every frame sent. */
    void sync();

    @Override
    void close() throws Exception;
}
