package dev.capwire.rpc;

import dev.capwire.rpc.ImportTable.Import;
import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Proxy;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The proxy behind a peer's cap: a {@link Proxy} of the cap's interface and {@link RemoteCapability} that
 * turns each method call into a call on the connection. The method's codecs were worked out once for the
 * interface ({@link CapabilityType}); per call this only looks the method up. It owns one reference to the
 * peer's export and gives it back when closed, or when collected without being closed.
 */
final class CapProxy implements InvocationHandler {
    private final RpcConnection connection;
    private final CapabilityType<?> type;
    private final Import target;
    private final Release release;
    private Cleaner.Cleanable cleanable;
    /** Per method (by {@link MethodSpec#ordinal}), made at its first call; immutable, so a racy read is safe. */
    private final Caller.Binding[] bindings;

    private CapProxy(RpcConnection connection, CapabilityType<?> type, Import target) {
        this.connection = connection;
        this.type = type;
        this.target = target;
        this.release = new Release(connection, target);
        this.bindings = new Caller.Binding[type.methodCount()];
    }

    /** The binding every call of {@code spec} on this proxy shares (see {@link Question}). */
    Caller.Binding binding(MethodSpec spec) {
        Caller.Binding binding = bindings[spec.ordinal];
        if (binding == null) {
            binding = new Caller.Binding(connection.caller(), target, spec.resultDecoder);
            bindings[spec.ordinal] = binding;
        }
        return binding;
    }

    /** A new proxy holding one reference to {@code target}; {@code cleaner} null for a cap never released. */
    static Object create(RpcConnection connection, CapabilityType<?> type, Import target, Cleaner cleaner) {
        CapProxy handler = new CapProxy(connection, type, target);
        Object proxy = Proxy.newProxyInstance(type.type().getClassLoader(),
                new Class<?>[] {type.type(), RemoteCapability.class}, handler);
        if (cleaner != null) {
            handler.cleanable = cleaner.register(proxy, handler.release);
        }
        return proxy;
    }

    /** The handler behind {@code value} when it is a Capwire proxy, else null. */
    static CapProxy of(Object value) {
        if (value != null && Proxy.isProxyClass(value.getClass())) {
            InvocationHandler handler = Proxy.getInvocationHandler(value);
            if (handler instanceof CapProxy) {
                return (CapProxy) handler;
            }
        }
        return null;
    }

    RpcConnection connection() {
        return connection;
    }

    int exportId() {
        return target.id;
    }

    boolean isClosed() {
        return release.done.get();
    }

    /**
     * A cap method goes to the {@link Caller}; everything else to {@link #invokeOther}. Kept this small so that
     * the JIT inlines it into the proxy class's method, which then sees that {@code args}, the array
     * {@code Proxy} makes for every call, never escapes (only its elements are read here, and the other path is
     * never taken): the array is then not allocated at all.
     */
    @Override
    public Object invoke(Object proxy, java.lang.reflect.Method method, Object[] args) throws Throwable {
        MethodSpec spec = type.method(method);
        if (spec == null) {
            return invokeOther(proxy, method, args);
        }
        try {
            return connection.caller().call(this, target, spec, spec.hasArgument ? args[0] : null,
                    spec.kind == MethodSpec.Kind.STREAM || spec.kind == MethodSpec.Kind.CALLBACK
                            ? args[args.length - 1] : null);
        } finally {
            // The cleaner watches the proxy, which nothing on this path uses: in {@code maker.make().get()} the
            // JIT may treat it as unreachable once its method is entered, and the cleaner could then send RELEASE
            // ahead of this call's REQUEST, which the peer would refuse. Reachable until the call is queued.
            Reference.reachabilityFence(proxy);
        }
    }

    /** The methods of {@link RemoteCapability} and {@link Object}, and an interface's default methods. */
    private Object invokeOther(Object proxy, java.lang.reflect.Method method, Object[] args) throws Throwable {
        switch (method.getName()) {
            case "close":
                if (method.getParameterCount() == 0) {
                    close();
                    return null;
                }
                break;
            case "revocation":
                return method.getParameterCount() == 0 ? target.revoked : null;
            case "exportId":
                return target.id;
            case "toString":
                return "proxy for " + type.name() + " (export " + target.id + ") on " + connection.connection();
            case "hashCode":
                return System.identityHashCode(proxy);
            case "equals":
                return proxy == args[0];
            default:
                break;
        }
        if (method.isDefault()) {
            return InvocationHandler.invokeDefault(proxy, method, args);
        }
        throw new UnsupportedOperationException(method + " is not a cap method");
    }

    void close() {
        if (cleanable != null) {
            cleanable.clean();
        } else {
            release.run();
        }
    }

    /** Gives the proxy's one reference back, once; kept apart from the proxy so the cleaner can run it. */
    private static final class Release implements Runnable {
        private final RpcConnection connection;
        private final Import target;
        final AtomicBoolean done = new AtomicBoolean();

        Release(RpcConnection connection, Import target) {
            this.connection = connection;
            this.target = target;
        }

        @Override
        public void run() {
            if (done.compareAndSet(false, true)) {
                connection.release(target);
            }
        }
    }
}
