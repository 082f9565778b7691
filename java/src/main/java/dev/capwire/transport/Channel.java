package dev.capwire.transport;

/**
 * Something registered with an event loop's poller: a connection or a listening socket. An abstract class rather
 * than an interface so that these loop-only methods stay package-private on the public classes that extend it.
 */
abstract class Channel {
    /** Poller tokens: the low bits say what kind of channel the token names. */
    static final long KIND_MASK = 0x3;
    static final long KIND_CONNECTION = 0x1;
    static final long KIND_LISTENER = 0x2;

    abstract long kind();

    abstract void onReady(int readyBits);

    abstract void abort(CloseReason reason);
}
