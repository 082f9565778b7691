package dev.capwire.transport;

import dev.capwire.Configuration;
import dev.capwire.bindings.FileDescriptor;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.StatusCode;
import java.util.concurrent.TimeUnit;
import org.agrona.DirectBuffer;

/**
 * Sends one REQUEST on a connection, from any thread: takes its slot in the {@link RequestTable} before the
 * frame leaves (so the reply finds its handler however fast it comes), sends it through the {@link MessageSender},
 * and settles the races with a close, so that exactly one of two things happens: the caller gets an exception and
 * the handler never hears of the request, or the caller gets the correlation id and the handler hears the outcome
 * once.
 */
final class RequestSender {
    private final CloseSequence closing;
    private final RequestTable requests;
    private final MessageSender messages;
    private final EventLoop loop;
    private final int maxInFlight;
    private final Object name; // the connection, for messages

    RequestSender(CloseSequence closing, RequestTable requests, MessageSender messages, EventLoop loop,
            int maxInFlight, Object name) {
        this.closing = closing;
        this.requests = requests;
        this.messages = messages;
        this.loop = loop;
        this.maxInFlight = maxInFlight;
        this.name = name;
    }

    /** See {@link Connection#request(int, int, DirectBuffer, int, int, long, ReplyHandler, FileDescriptor...)}. */
    long send(int capId, int methodId, DirectBuffer payload, int offset, int length, long timeoutMs,
            ReplyHandler handler, FileDescriptor[] fds) {
        if (!closing.state().acceptsSends()) {
            throw closing.unavailable();
        }
        long deadline = loop.clock().nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        long id = requests.start(deadline, handler);
        if (id == 0) {
            throw new StatusException(StatusCode.RESOURCE_EXHAUSTED, Configuration.MAX_IN_FLIGHT_PROP_NAME,
                    maxInFlight + " requests already in flight on " + name, null);
        }
        try {
            messages.send(FrameType.REQUEST, id, capId, methodId, payload, offset, length,
                    fds, deadline);
        } catch (RuntimeException e) {
            // Whatever the failure (a refusal, or a payload shorter than its length), the slot goes back: a sender
            // that left it SENDING would hold it for good, and its handler would hear of a request that threw.
            boolean ours = requests.abandon(id);
            requests.sent(id, false);
            if (ours) {
                throw e;
            }
            return id; // the connection closed meanwhile, and the handler heard of it
        }
        requests.sent(id, !loop.inLoop());
        // Closed while we sent: the loop may have failed the requests in flight before it could see this one.
        if (!closing.state().acceptsSends() && requests.abandon(id)) {
            throw closing.unavailable();
        }
        return id;
    }
}
