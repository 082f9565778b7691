package dev.capwire.rpc;

import java.lang.invoke.MethodHandle;

/** One method of a cap interface as Capwire calls and serves it, worked out once per interface. */
final class MethodSpec {
    enum Kind {
        /** Returns its result (or nothing); the caller's thread waits. */
        UNARY,
        /** Returns a {@code CompletableFuture} of its result; the caller's thread does not wait. */
        ASYNC,
        /** Takes a {@link StreamSink} last and returns nothing: a server stream. */
        STREAM,
        /** Takes a {@link ResultSink} last and returns nothing: the result goes to the sink (no future). */
        CALLBACK
    }

    final int id;
    final String name;
    final Kind kind;
    final boolean nonBlocking;
    final boolean hasArgument;
    final Codec argument;
    /** The result's codec; for a stream, each item's. */
    final Codec result;
    /** {@code (Object impl, Object argument, Object sink) -> Object}, for serving without reflection per call. */
    final MethodHandle invoker;
    /** Decodes an answer into the result: made once here, not per call. */
    final Caller.Decoder resultDecoder;

    MethodSpec(int id, String name, Kind kind, boolean nonBlocking, boolean hasArgument, Codec argument,
            Codec result, MethodHandle invoker) {
        this.id = id;
        this.name = name;
        this.kind = kind;
        this.nonBlocking = nonBlocking;
        this.hasArgument = hasArgument;
        this.argument = argument;
        this.result = result;
        this.invoker = invoker;
        this.resultDecoder = answer -> answer.decode(result);
    }

    /** {@code sink}: the method's {@link StreamSink} or {@link ResultSink}, else null. */
    Object invoke(Object implementation, Object argument, Object sink) throws Throwable {
        return (Object) invoker.invokeExact(implementation, argument, sink);
    }

    @Override
    public String toString() {
        return name + " (method " + id + ")";
    }
}
