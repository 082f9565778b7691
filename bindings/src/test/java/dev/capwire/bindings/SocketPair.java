package dev.capwire.bindings;

/** {@link NativeSocket#pair()} as one resource: both ends close together. */
final class SocketPair implements AutoCloseable {
    final NativeSocket first;
    final NativeSocket second;

    SocketPair() throws NativeIoException {
        NativeSocket[] ends = NativeSocket.pair();
        this.first = ends[0];
        this.second = ends[1];
    }

    @Override
    public void close() {
        first.close();
        second.close();
    }
}
