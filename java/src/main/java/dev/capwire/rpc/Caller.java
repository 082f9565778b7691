package dev.capwire.rpc;

import dev.capwire.Configuration;
import dev.capwire.bindings.FileDescriptor;
import dev.capwire.rpc.ImportTable.Import;
import dev.capwire.rpc.proto.BootstrapReply;
import dev.capwire.rpc.proto.BootstrapRequest;
import dev.capwire.transport.Connection;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.ReplyHandler;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * The calls one connection makes to its peer: encoding the argument, the call header with the deadline
 * inherited from {@link CallContext}, the question until its answer, decoding the result, and the streams
 * this side consumes; the callback form's answers are {@link CallbackCalls}'s. Any thread calls; answers and
 * stream items arrive as loop work.
 */
final class Caller {
    /** A stream call's transport deadline when the caller set none: streams may run as long as they like. */
    static final long NO_DEADLINE_MS = TimeUnit.DAYS.toMillis(365);

    private final RpcConnection rpc;
    private final RpcOptions options;
    /** The transport's requestTimeoutMs, read once: a call whose context sets no deadline gets it. */
    private final long defaultTimeoutNanos;
    /** The calls in flight, against {@code capwire.rpc.maxInFlight}. */
    private final CallsInFlight inFlight;

    /** The answer that loop work decodes replies in (see {@link Answer#take}). */
    private final Answer spareAnswer = new Answer();
    private final ConsumerStreams streams;
    private final CallbackCalls callbacks = new CallbackCalls(this);

    Caller(RpcConnection rpc, RpcOptions options, ConsumerStreams streams) {
        this.rpc = rpc;
        this.options = options;
        this.streams = streams;
        this.inFlight = new CallsInFlight(options.maxInFlight());
        this.defaultTimeoutNanos = TimeUnit.MILLISECONDS.toNanos(rpc.connection().options().requestTimeoutMs());
    }

    int inFlight() {
        return inFlight.count();
    }

    Connection connection() {
        return rpc.connection();
    }

    RpcConnection rpc() {
        return rpc;
    }

    /** Loop work: the answer to decode a reply in, reused (see {@link Answer#take}). */
    Answer spareAnswer() {
        return spareAnswer;
    }

    <T> T bootstrap(CapabilityType<T> type) {
        rpc.connection().ensureMayBlock("bootstrap of " + type.name()); // before anything is sent
        BootstrapRequest request = BootstrapRequest.newBuilder().setName(type.name())
                .setVersion(type.version().toString()).build();
        Question question = send(new Binding(this, rpc.caps().peerBootstrap(), answer -> {
                    Incoming in = answer.incoming();
                    try {
                        if (in.capsLeft() != 1) {
                            throw new Codec.MalformedException("a bootstrap answer carries one cap, not "
                                    + in.capsLeft());
                        }
                        BootstrapReply.parseFrom(answer.content());
                        Object cap = in.takeCap(type);
                        in.requireAllTaken();
                        return cap;
                    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
                        in.discard();
                        throw new Codec.MalformedException("the BootstrapReply does not parse", e);
                    } catch (RuntimeException e) {
                        in.discard();
                        throw e;
                    }
                }), RpcConnection.BOOTSTRAP_METHOD, BOOTSTRAP_REQUEST, request, 0, 0);
        return type.type().cast(await(question, "bootstrap of " + type.name()));
    }

    /**
     * A call through a proxy; see {@link MethodSpec.Kind} for what each kind returns. {@code sink}: the
     * method's {@link StreamSink} or {@link ResultSink}, else null.
     */
    Object call(CapProxy proxy, Import target, MethodSpec spec, Object argument, Object sink) {
        if (spec.kind == MethodSpec.Kind.CALLBACK && sink == null) {
            throw new NullPointerException(spec + " was called without its ResultSink");
        }
        if (proxy.isClosed()) {
            return failed(spec, sink, new StatusException(StatusCode.UNAVAILABLE, "proxy.closed",
                    "this proxy was closed", null));
        }
        String revoked = target.revoked;
        if (revoked != null) {
            return failed(spec, sink, new StatusException(StatusCode.UNAVAILABLE, revoked, "the cap was revoked",
                    null));
        }
        if (spec.hasArgument && argument == null) {
            return failed(spec, sink, new StatusException(StatusCode.INVALID_ARGUMENT, "args.null",
                    spec + " was called with null", null));
        }
        if (spec.kind == MethodSpec.Kind.STREAM) {
            return stream(target, spec, argument, (StreamSink<?>) sink);
        }
        if (spec.kind == MethodSpec.Kind.CALLBACK) {
            @SuppressWarnings("unchecked")
            ResultSink<Object> results = (ResultSink<Object>) sink;
            try {
                callbacks.call(target, spec, argument, results);
            } catch (StatusException e) {
                results.failed(e);
            }
            return null;
        }
        // A blocking call is checked before it is sent, so that one refused (see Connection.ensureMayBlock)
        // costs the peer nothing.
        if (spec.kind == MethodSpec.Kind.UNARY) {
            rpc.connection().ensureMayBlock(spec);
        }
        Question question;
        try {
            question = send(proxy.binding(spec), spec.id, spec.argument, argument, 0, 0);
        } catch (StatusException e) {
            return failed(spec, sink, e);
        }
        return spec.kind == MethodSpec.Kind.ASYNC ? question : await(question, spec);
    }

    private static Object failed(MethodSpec spec, Object sink, StatusException why) {
        if (spec.kind == MethodSpec.Kind.ASYNC) {
            return CompletableFuture.failedFuture(why);
        }
        if (spec.kind == MethodSpec.Kind.CALLBACK) {
            ((ResultSink<?>) sink).failed(why);
            return null;
        }
        throw why;
    }

    /** How the answer of one question is decoded into its result. */
    interface Decoder {
        Object decode(Answer answer);
    }

    /**
     * What every call of one proxy method has in common: the connection's caller, the cap, and how its answer
     * decodes. A proxy keeps one per method ({@link CapProxy#binding}), and each {@link Question} refers to it.
     */
    static final class Binding {
        final Caller caller;
        final Import target;
        final Decoder decoder;

        Binding(Caller caller, Import target, Decoder decoder) {
            this.caller = caller;
            this.target = target;
            this.decoder = decoder;
        }
    }

    /** A stream's answer only ends it: its items were the results. */
    private static final Decoder NO_RESULT = answer -> null;
    private static final Codec BOOTSTRAP_REQUEST = Codecs.forType(BootstrapRequest.class, "bootstrap");

    /**
     * Encodes and sends one call and returns its question, completed (as loop work) with the decoded result
     * or the failure. Inherits the current {@link CallContext}: its deadline, and its cancellation.
     */
    Question send(Binding binding, int methodId, Codec argumentCodec, Object argument, int streamId,
            int initialCredit) {
        CallContext context = context();
        Import target = binding.target;
        Question question = new Question(binding);
        long requestId = request(target, methodId, argumentCodec, argument, streamId, initialCredit, context,
                question);
        question.sent(requestId); // cancels it at once if it was cancelled while being sent
        String revoked = target.revoked;
        if (revoked != null) {
            // Revoked while it was being sent: the REVOKE's sweep of the pending calls may have missed it.
            question.fail(new StatusException(StatusCode.UNAVAILABLE, revoked, "the cap was revoked", null));
        }
        if (context != null) {
            context.onCancel(new FailOnCancel(question, context));
        }
        return question;
    }

    /** Fails its question when the context it was asked under is cancelled; ended with the question. */
    private static final class FailOnCancel implements CallContext.CallHook {
        private final Question question;
        private final CallContext context;

        FailOnCancel(Question question, CallContext context) {
            this.question = question;
            this.context = context;
        }

        @Override
        public void run() {
            question.fail(context.cancellation());
        }

        @Override
        public boolean callEnded() {
            return question.isDone();
        }
    }

    /**
     * The peer revoked {@code target}: every call in flight on it fails now with {@code why}, whichever form it was
     * made in (a {@link Question} for the blocking, future and stream forms, a {@link CallbackCalls} handler for the
     * callback form). They are found in the transport's request table, where each handler names its target, so a call
     * costs no entry in a table of ours. Exactly once: a question completes once, and a callback call ends through
     * {@link Connection#cancelRequest}, whose claim on the request races its answer, its deadline and the close,
     * and only the winner reaches the sink (and ends the call's in-flight count).
     */
    void failCallsOn(Import target, StatusException why) {
        rpc.connection().forEachPendingRequest((handler, requestId) -> {
            if (handler instanceof Question question) {
                if (question.binding.target == target) {
                    question.fail(why);
                }
            } else {
                callbacks.failIfOn(target, handler, requestId, why);
            }
        });
    }

    /** The current {@link CallContext}, whose deadline and cancellation a call inherits; null when none. */
    CallContext context() {
        rpc.ensureOpen();
        CallContext context = CallContext.current();
        if (context != null && context.isCancelled()) {
            throw context.cancellation();
        }
        return context;
    }

    /**
     * Encodes and sends one call with {@code handler} as its transport request's handler; returns the request's
     * correlation id. Counts it in flight; throws (having counted nothing) when it could not be sent.
     */
    long request(Import target, int methodId, Codec argumentCodec, Object argument, int streamId,
            int initialCredit, CallContext context, ReplyHandler handler) {
        long timeoutNanos = timeoutNanos(context, streamId != 0);
        if (!inFlight.tryStart()) {
            throw new StatusException(StatusCode.RESOURCE_EXHAUSTED, Configuration.RPC_MAX_IN_FLIGHT_PROP_NAME,
                    options.maxInFlight() + " calls are in flight on " + rpc.connection() + " already", null);
        }
        Outgoing out = rpc.outgoing();
        try {
            UnsafeBuffer payload;
            FileDescriptor[] fds;
            try {
                argumentCodec.encode(argument, out);
                payload = out.call(timeoutNanos, streamId, initialCredit);
                fds = out.fds();
            } catch (RuntimeException e) {
                out.abandon();
                forget();
                throw e instanceof StatusException ? (StatusException) e
                        : new StatusException(StatusCode.INVALID_ARGUMENT, "args.unencodable",
                                "the argument cannot be sent: " + e.getMessage(), e);
            }
            long timeoutMs = timeoutNanos == 0 ? NO_DEADLINE_MS
                    : Math.max(1, TimeUnit.NANOSECONDS.toMillis(timeoutNanos));
            try {
                return rpc.connection().request(target.id, methodId, payload, 0, payload.capacity(), timeoutMs,
                        handler, fds);
            } catch (StatusException e) {
                // Refused before it was sent (closed, too many requests, no room): the peer never saw the caps it
                // carried. Once sent, the peer owns those references whatever happens to the call.
                out.abandon();
                forget();
                throw e;
            }
        } finally {
            out.recycle();
        }
    }

    /** Loop work: the answer to {@code question} arrived; {@code reply} is valid during this call only. */
    void answered(Question question, InboundFrame reply) {
        forget();
        Object value = null;
        StatusException failure = null;
        Answer answer = Answer.take(spareAnswer, rpc, reply);
        try {
            value = question.binding.decoder.decode(answer.check());
        } catch (RuntimeException e) {
            failure = decodeFailure(e);
        } finally {
            answer.release();
        }
        // After the release: the caller's callbacks run here, and may decode answers of their own.
        if (failure != null) {
            question.completeExceptionally(failure);
        } else {
            question.complete(value);
        }
    }

    /**
     * Loop work: an answer that came after its call ended here (its deadline passed, or it was cancelled), which
     * nobody decodes. Each sender-hosted cap in it gave this side a reference all the same: given back now, or the
     * peer would keep the cap, and count it against its maxCaps, for as long as the connection lasts.
     */
    void answeredLate(InboundFrame reply, long correlationId) {
        Incoming.releaseSenderHosted(rpc.importer(), reply.buffer(), reply.payloadOffset(), reply.payloadLength(),
                Outgoing.ANSWER_HEADER_BYTES, 0);
    }

    static StatusException decodeFailure(RuntimeException e) {
        if (e instanceof Codec.MalformedException) {
            return new StatusException(StatusCode.INVALID_ARGUMENT, "args.malformed",
                    "the answer does not decode: " + e.getMessage(), e);
        }
        if (e instanceof StatusException) {
            return (StatusException) e;
        }
        return new StatusException(StatusCode.INTERNAL, "answer.failed", "decoding the answer failed: " + e, e);
    }

    /** Loop work: the transport's request for {@code question} failed (an ERROR, its deadline, the close). */
    void failed(Question question, StatusException failure) {
        forget();
        question.completeExceptionally(failure);
    }

    /** A call's request is over, one way or another: it no longer counts against the limit. */
    void forget() {
        inFlight.end();
    }

    private long timeoutNanos(CallContext context, boolean stream) {
        if (context != null && context.deadlineNanos() != Long.MAX_VALUE) {
            return Math.max(1, context.deadlineNanos() - System.nanoTime());
        }
        return stream ? 0 : defaultTimeoutNanos;
    }

    /**
     * Waits for a question on the caller's thread, which {@link Connection#ensureMayBlock} allowed before the
     * call was sent, through {@link Connection#await}: it runs the loop meanwhile when this thread must (invoker
     * mode), else yields a while before it blocks; the question's transport deadline ends the wait. Interruption
     * cancels it. {@code what} names the call in a failure, by its {@code toString}, only then.
     */
    private Object await(Question question, Object what) {
        try {
            return rpc.connection().await(question, NO_DEADLINE_MS);
        } catch (ExecutionException e) {
            throw asStatus(e.getCause());
        } catch (CancellationException e) {
            throw new StatusException(StatusCode.CANCELLED, "call.cancelled", what + " was cancelled", e);
        } catch (InterruptedException e) {
            question.cancel(true);
            Thread.currentThread().interrupt();
            throw new StatusException(StatusCode.CANCELLED, "call.interrupted", "interrupted waiting for " + what, e);
        } catch (TimeoutException e) {
            question.cancel(true);
            throw new StatusException(StatusCode.DEADLINE_EXCEEDED, "call.deadline", "no answer to " + what, e);
        }
    }

    static StatusException asStatus(Throwable failure) {
        return failure instanceof StatusException ? (StatusException) failure
                : new StatusException(StatusCode.INTERNAL, "call.failed", String.valueOf(failure), failure);
    }

    // ---------------------------------------------------------------------------------------------------
    // Streams this side consumes
    // ---------------------------------------------------------------------------------------------------

    /**
     * A stream call: the call opens the stream and its answer ends it, with the status the stream ended with; the
     * items in between arrive through {@link ConsumerStreams}, and this thread hands them to {@code sink}.
     */
    private Object stream(Import target, MethodSpec spec, Object argument, StreamSink<?> sink) {
        boolean drivesLoop = rpc.connection().ensureMayBlock(spec); // the consumer blocks for every item
        int window = options.initialCredit();
        ConsumerStream stream = streams.open(window); // before the call: its first items may beat send's return
        Question question;
        try {
            question = send(new Binding(this, target, NO_RESULT), spec.id, spec.argument, argument, stream.id(),
                    window);
        } catch (StatusException e) {
            streams.forget(stream);
            throw e;
        }
        question.whenComplete((ignored, failure) -> stream.end(failure));
        try {
            stream.drain(spec.result, sink, question, drivesLoop);
        } finally {
            streams.forget(stream);
        }
        return null;
    }
}
