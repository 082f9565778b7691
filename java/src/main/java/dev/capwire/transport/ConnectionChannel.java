package dev.capwire.transport;

/**
 * A connection as its loop sees it: besides readiness, it is told to write out what producers put into its
 * ring or the loop staged for it, and a busy-polling loop reads it directly each cycle.
 */
abstract class ConnectionChannel extends Channel {
    @Override
    final long kind() {
        return KIND_CONNECTION;
    }

    abstract long fd();

    /** What the poller should report for it now. */
    abstract int interest();

    /** Producers put frames into its ring. */
    abstract void flush();

    /** The loop staged frames for it. */
    abstract void flushStaged();

    /** Reads (and, while it waits for the socket, writes) without the poller; 1 if anything moved. */
    abstract int pollDirectly();
}
