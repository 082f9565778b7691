package dev.capwire.transport;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A serving transport and a connecting one in this JVM, and a socket path in a fresh directory: both ends of an
 * in-process test, closed and cleaned up together.
 */
final class TransportPair implements AutoCloseable {
    final Transport server;
    final Transport client;
    final Endpoint endpoint;
    private final Path dir;

    TransportPair() throws Exception {
        this(TransportOptions.defaults(), TransportOptions.defaults());
    }

    TransportPair(TransportOptions serverOptions, TransportOptions clientOptions) throws Exception {
        dir = Files.createTempDirectory(Path.of("/tmp"), "cw");
        endpoint = Endpoint.unix(dir.resolve("s"));
        server = Transport.create(serverOptions);
        client = Transport.create(clientOptions);
    }

    /** Serves {@code listener} and connects to it: the client's connection, which hears nothing itself. */
    Connection connect(FrameListener listener) throws Exception {
        server.listen(endpoint, listener);
        return client.connect(endpoint, (connection, frame) -> { });
    }

    @Override
    public void close() throws Exception {
        client.close();
        server.close();
        Files.deleteIfExists(dir.resolve("s"));
        Files.deleteIfExists(dir);
    }
}
