package dev.capwire.transport;

import dev.capwire.bindings.FileDescriptor;
import java.util.concurrent.CompletableFuture;

/**
 * The future form of a request: a {@link ReplyHandler} that copies the reply out of the receive buffer into a
 * {@link Response}. Cancelling it cancels the request, so the loop frees its slot and tells the peer.
 */
final class ReplyFuture extends CompletableFuture<Response> implements ReplyHandler {
    private static final FileDescriptor[] NO_FDS = new FileDescriptor[0];

    private final Connection connection;
    /** Set once the request is sent; a reply may complete the future before. */
    volatile long correlationId;

    ReplyFuture(Connection connection) {
        this.connection = connection;
    }

    @Override
    public void onReply(long id, InboundFrame reply) {
        FileDescriptor[] fds = reply.fdCount() == 0 ? NO_FDS : reply.takeFds();
        if (!complete(new Response(reply.payloadBytes(), fds))) {
            // Cancelled after the loop had claimed the reply: no caller will ever see these fds, and nothing
            // else closes a FileDescriptor.
            for (FileDescriptor fd : fds) {
                fd.close();
            }
        }
    }

    @Override
    public void onFailure(long id, StatusException failure) {
        completeExceptionally(failure);
    }

    @Override
    public boolean cancel(boolean mayInterruptIfRunning) {
        boolean cancelled = super.cancel(mayInterruptIfRunning);
        long id = correlationId;
        if (cancelled && id != 0) {
            connection.cancelRequest(id);
        }
        return cancelled;
    }
}
