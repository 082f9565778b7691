package dev.capwire.rpc;

import dev.capwire.transport.StatusException;

/**
 * The result of a call in the callback form: a method declared
 * {@code void echo(DirectBuffer request, ResultSink<DirectBuffer> result)}, for calls that must cost no object
 * per call (no future, no copied result).
 *
 * <p>On the calling side the caller passes its sink and the method returns at once; Capwire later calls
 * {@link #result} or {@link #failed} exactly once, on the connection's event loop (keep it short, and never
 * wait there). A {@code DirectBuffer} result is a view of the receive buffer, valid only until {@code result}
 * returns: copy what you keep. Pass the same sink to every call and no object is made per call on this side.
 * Calls in this form are not failed at once when the cap is revoked; the peer answers them with
 * {@code UNAVAILABLE} (or their deadline passes), as it does every call it receives on a revoked cap.
 *
 * <p>On the serving side the implementation is handed a sink for its call and answers through it, once, now or
 * later, from any thread: {@code result} with the value, or {@code failed} with the status to answer; later
 * calls of either are ignored. A {@code DirectBuffer} argument of a {@code nonBlocking} method is a view of the
 * receive buffer, valid only until the method returns: copy what you keep, or answer before returning (a
 * method that answers with its argument, as an echo does, answers before it returns). Returning without
 * answering leaves the call running; throwing answers it with the error.
 */
public interface ResultSink<T> {
    void result(T value);

    void failed(StatusException why);
}
