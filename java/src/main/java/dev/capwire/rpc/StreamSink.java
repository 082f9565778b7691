package dev.capwire.rpc;

/**
 * The items of a server stream: a method declared {@code void tail(TailRequest r, StreamSink<Line> out)}.
 *
 * <p>On the serving side the implementation is handed a sink and calls {@link #next} for each item. Each item
 * uses one unit of the credit the caller granted; out of credit, {@code next} waits until the caller grants
 * more, so a slow consumer slows the producer instead of filling memory. It throws {@link
 * dev.capwire.transport.StatusException} once the call is over (cancelled, past its deadline, revoked, or the
 * connection closed): stop producing then. Returning from the method ends the stream with OK; throwing ends it
 * with the error.
 *
 * <p>On the calling side the caller passes its own sink; the call returns when the stream has ended, after
 * calling {@code next} on the caller's thread for every item in order. Throwing from {@code next} cancels the
 * stream (the producer sees its call cancelled) and the call rethrows it.
 */
@FunctionalInterface
public interface StreamSink<T> {
    void next(T item);
}
