package dev.capwire.rpc;

import dev.capwire.Configuration;
import dev.capwire.transport.ErrorLog;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import org.agrona.ErrorHandler;

/**
 * The RPC layer's settings; each defaults to its {@code capwire.rpc.*} property (see {@link Configuration}).
 */
public final class RpcOptions {
    private final int maxCaps;
    private final int maxInFlight;
    private final int initialCredit;
    private final Executor executor;
    private final RpcObserver observer;
    private final ErrorHandler errorHandler;

    private RpcOptions(Builder b) {
        this.maxCaps = b.maxCaps;
        this.maxInFlight = b.maxInFlight;
        this.initialCredit = b.initialCredit;
        this.executor = b.executor != null ? b.executor : DefaultExecutor.INSTANCE;
        this.observer = b.observer;
        this.errorHandler = b.errorHandler;
    }

    public static RpcOptions defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public int maxCaps() {
        return maxCaps;
    }

    public int maxInFlight() {
        return maxInFlight;
    }

    public int initialCredit() {
        return initialCredit;
    }

    public Executor executor() {
        return executor;
    }

    public RpcObserver observer() {
        return observer;
    }

    public ErrorHandler errorHandler() {
        return errorHandler;
    }

    /**
     * Where handlers run unless given another executor: a {@link HandlerPool} of up to
     * {@code capwire.rpc.handlerThreads} daemon threads that end after a minute idle, or with
     * {@code capwire.rpc.virtualThreads=true} on Java 21+ a virtual thread per call. Either hands each call to a
     * thread free to run it or refuses it (the call is answered RESOURCE_EXHAUSTED): never to a thread that is
     * busy, because a call waiting behind a handler that waits for its own callback would never run.
     */
    public static Executor defaultExecutor() {
        return DefaultExecutor.INSTANCE;
    }

    private static final class DefaultExecutor {
        static final Executor INSTANCE = create();

        private static Executor create() {
            if (Configuration.rpcVirtualThreads()) {
                try {
                    java.lang.reflect.Method factory = java.util.concurrent.Executors.class
                            .getMethod("newVirtualThreadPerTaskExecutor");
                    return (ExecutorService) factory.invoke(null);
                } catch (ReflectiveOperationException e) {
                    // Java 17 to 20: no virtual threads, so the pool below after all.
                }
            }
            return new HandlerPool(Configuration.rpcHandlerThreads(), Configuration.parkAfterIdleMicros(), 60,
                    TimeUnit.SECONDS, "capwire-rpc-", ErrorLog.INSTANCE);
        }
    }

    public static final class Builder {
        private int maxCaps = Configuration.rpcMaxCaps();
        private int maxInFlight = Configuration.rpcMaxInFlight();
        private int initialCredit = Configuration.rpcInitialCredit();
        private Executor executor;
        private RpcObserver observer = RpcObserver.NONE;
        private ErrorHandler errorHandler = ErrorLog.INSTANCE;

        private Builder() {
        }

        /** Exports one side holds for its peer at once; see {@code capwire.rpc.maxCaps}. */
        public Builder maxCaps(int value) {
            maxCaps = positive(value, "maxCaps");
            return this;
        }

        /** Calls in flight per connection in each direction; see {@code capwire.rpc.maxInFlight}. */
        public Builder maxInFlight(int value) {
            maxInFlight = positive(value, "maxInFlight");
            return this;
        }

        /** Stream items granted up front when calling a streaming method; see {@code capwire.rpc.initialCredit}. */
        public Builder initialCredit(int value) {
            initialCredit = positive(value, "initialCredit");
            return this;
        }

        /** Where handlers run; {@link RpcOptions#defaultExecutor()} when not set. Never shut down by Capwire. */
        public Builder executor(Executor value) {
            executor = Objects.requireNonNull(value, "executor");
            return this;
        }

        /** Told of every bootstrap, call, stream and revocation (besides the JFR events). */
        public Builder observer(RpcObserver value) {
            observer = Objects.requireNonNull(value, "observer");
            return this;
        }

        /** Where failures no caller can be told of go (a hook that threw, say); {@link ErrorLog} by default. */
        public Builder errorHandler(ErrorHandler value) {
            errorHandler = Objects.requireNonNull(value, "errorHandler");
            return this;
        }

        public RpcOptions build() {
            return new RpcOptions(this);
        }

        private static int positive(int value, String name) {
            if (value < 1) {
                throw new IllegalArgumentException(name + " must be at least 1, not " + value);
            }
            return value;
        }
    }
}
