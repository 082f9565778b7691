package dev.capwire.rpc;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.rpc.testing.Line;
import dev.capwire.rpc.testing.OpenRequest;
import dev.capwire.rpc.testing.SlowRequest;
import dev.capwire.rpc.testing.StatReply;
import dev.capwire.rpc.testing.StatRequest;
import dev.capwire.rpc.testing.TailRequest;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/** The RPC tests' main cap: one method per kind of argument, result and behaviour the tests need. */
@Capability(name = "files", version = "1.2.0")
public interface RemoteFiles {
    /** The caller's pid and uid as the server's call context saw them, and the time it had left. */
    @Method(1)
    StatReply stat(StatRequest request);

    @Method(2)
    CompletableFuture<StatReply> statAsync(StatRequest request);

    /** A cap as the result: a reader of {@code request.content}. */
    @Method(3)
    Reader open(OpenRequest request);

    /** An fd as the result: the read end of a pipe holding {@code request.content}. */
    @Method(4)
    FileDescriptor openFd(OpenRequest request);

    /** {@code request.lines} lines (0: until cancelled), each as a stream item. */
    @Method(5)
    void tail(TailRequest request, StreamSink<Line> out);

    @Method(6)
    byte[] echo(byte[] bytes);

    /** Holds until its call is cancelled or {@code hold_ms} passes; prints what it saw. */
    @Method(7)
    StatReply slow(SlowRequest request);

    @Method(8)
    CompletableFuture<StatReply> slowAsync(SlowRequest request);

    /** Three readers, of the content's three thirds. */
    @Method(9)
    List<Reader> openAll(OpenRequest request);

    /** Readers named "a" and "b". */
    @Method(10)
    Map<String, Reader> openNamed(OpenRequest request);

    /** The server's half of a callback chain with the caller's {@code caller}. */
    @Method(11)
    Bouncer bouncer(Bouncer caller);

    /** Throws as {@code how} says: "status" a NOT_FOUND of its own, "runtime" an IllegalStateException. */
    @Method(12)
    byte[] fail(byte[] how);

    /** An fd as the argument: what it reads. */
    @Method(13)
    byte[] readFd(FileDescriptor fd);

    /** A cap as the argument: the server calls it back. */
    @Method(14)
    byte[] readFrom(Reader reader);

    /** Non-blocking: answered on the server's event loop. */
    @Method(value = 15, nonBlocking = true)
    byte[] echoOnLoop(byte[] bytes);

    /** Non-blocking: keeps the call's context after the call (and a cancel hook on it); answers at once. */
    @Method(value = 16, nonBlocking = true)
    byte[] holdContext(byte[] tag);

    /** Non-blocking: how the contexts {@link #holdContext} kept look now, as one line of text. */
    @Method(value = 17, nonBlocking = true)
    byte[] heldContexts(byte[] ignored);

    /** Non-blocking: a future that only the call's cancellation completes. */
    @Method(value = 18, nonBlocking = true)
    CompletableFuture<byte[]> parkOnLoop(byte[] tag);

    /** Non-blocking, asynchronous: the bytes back through a future already complete. */
    @Method(value = 19, nonBlocking = true)
    CompletableFuture<byte[]> echoOnLoopAsync(byte[] bytes);

    /** The callback form, non-blocking: the bytes back, answered from the argument's view before returning. */
    @Method(value = 20, nonBlocking = true)
    void echoView(org.agrona.DirectBuffer bytes, ResultSink<org.agrona.DirectBuffer> result);

    /**
     * The callback form, answered from another thread after the handler returned; each call first answers the
     * previous call's sink again (which must be ignored).
     */
    @Method(value = 21, nonBlocking = true)
    void echoLater(org.agrona.DirectBuffer bytes, ResultSink<byte[]> result);

    /** The callback form on the executor: "status" answers NOT_FOUND through the sink, "throw" throws. */
    @Method(22)
    void failThrough(byte[] how, ResultSink<byte[]> result);

    /** The callback form on the executor: {@link #slow}, answered through the sink once it returns. */
    @Method(23)
    void slowThrough(SlowRequest request, ResultSink<StatReply> result);

    /**
     * A cap as the argument, called back twice: inside {@code CallContext.withTimeout(60 s)}, which may not extend
     * this call's deadline, then inside {@code CallContext.detached}, which leaves it behind. Returns what each
     * callback returned, in that order.
     */
    @Method(24)
    byte[] readUnderScopes(Reader reader);
}
