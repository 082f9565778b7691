package dev.capwire.rpc;

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
    /** Calls the implementation's method, for serving without reflection per call (see {@link Invoker}). */
    final Invoker invoker;
    /** Decodes an answer into the result: made once here, not per call. */
    final Caller.Decoder resultDecoder;

    /** Its position among its interface's methods, 0 to the count less one: a proxy keeps per-method state by it. */
    final int ordinal;

    MethodSpec(int id, int ordinal, String name, Kind kind, boolean nonBlocking, boolean hasArgument, Codec argument,
            Codec result, Invoker invoker) {
        this.id = id;
        this.ordinal = ordinal;
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
        return invoker.invoke(implementation, argument, sink);
    }

    /**
     * {@code (impl, argument, sink) -> result} whatever the method's own shape, made once per method. Where the
     * interface allows (public, and visible from Capwire's class loader), {@code LambdaMetafactory} makes a class
     * that calls the method directly, behind one of the shapes below; otherwise it calls a method handle.
     * A method handle held in a field is not a constant to the JIT, so each call went through its lambda forms:
     * about a third of the serving JVM's execution samples in a profile of the non-blocking echo.
     */
    interface Invoker {
        Object invoke(Object implementation, Object argument, Object sink) throws Throwable;
    }

    /** The shapes LambdaMetafactory implements: a cap method's result or none, argument or none, sink or none. */
    interface Returns0 {
        Object call(Object implementation);
    }

    interface Returns1 {
        Object call(Object implementation, Object argument);
    }

    interface Void0 {
        void call(Object implementation);
    }

    interface Void1 {
        void call(Object implementation, Object argument);
    }

    interface Sink0 {
        void call(Object implementation, Object sink);
    }

    interface Sink1 {
        void call(Object implementation, Object argument, Object sink);
    }

    @Override
    public String toString() {
        return name + " (method " + id + ")";
    }
}
