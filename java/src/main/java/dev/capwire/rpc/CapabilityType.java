package dev.capwire.rpc;

import dev.capwire.handshake.Version;
import java.lang.invoke.LambdaMetafactory;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Pattern;
import org.agrona.collections.Int2ObjectHashMap;

/**
 * A {@link Capability} interface worked out once: its name, version and methods, with each method's codecs
 * and a method handle that serves it. Everything that would need reflection happens here, on first use of
 * the interface, so neither calling nor serving a method reflects per call. Interfaces that break the rules
 * fail here, with a message naming the method, rather than on the first call.
 */
final class CapabilityType<T> {
    private static final Pattern NAME = Pattern.compile("[A-Za-z][A-Za-z0-9._-]{0,127}");
    private static final MethodType INVOKER = MethodType.methodType(Object.class, Object.class, Object.class,
            Object.class);
    private static final ClassValue<CapabilityType<?>> TYPES = new ClassValue<>() {
        @Override
        protected CapabilityType<?> computeValue(Class<?> type) {
            return new CapabilityType<>(type);
        }
    };

    private final Class<T> type;
    private final String name;
    private final Version version;
    private final Int2ObjectHashMap<MethodSpec> byId = new Int2ObjectHashMap<>();
    private final Map<java.lang.reflect.Method, MethodSpec> byMethod = new HashMap<>();

    @SuppressWarnings("unchecked")
    static <T> CapabilityType<T> of(Class<T> type) {
        return (CapabilityType<T>) TYPES.get(type);
    }

    private CapabilityType(Class<T> type) {
        this.type = type;
        Capability capability = type.getAnnotation(Capability.class);
        if (!type.isInterface() || capability == null) {
            throw new IllegalArgumentException(type.getName() + " is not an interface annotated @Capability");
        }
        if (!NAME.matcher(capability.name()).matches()) {
            throw new IllegalArgumentException(type.getName() + ": cap name '" + capability.name()
                    + "' does not match " + NAME.pattern());
        }
        this.name = capability.name();
        this.version = Version.parseOrNull(capability.version());
        if (version == null) {
            throw new IllegalArgumentException(type.getName() + ": version '" + capability.version()
                    + "' is not MAJOR.MINOR.PATCH");
        }
        for (java.lang.reflect.Method method : type.getMethods()) {
            if (!Modifier.isAbstract(method.getModifiers())) {
                continue; // default and static methods run locally, on the proxy as on the implementation
            }
            if (AutoCloseable.class.isAssignableFrom(type) && method.getName().equals("close")
                    && method.getParameterCount() == 0) {
                continue; // a cap interface may extend AutoCloseable: closing a proxy releases it
            }
            MethodSpec spec = spec(method);
            MethodSpec clash = byId.put(spec.id, spec);
            if (clash != null) {
                throw new IllegalArgumentException(type.getName() + ": " + clash.name + " and " + spec.name
                        + " both have @Method(" + spec.id + ")");
            }
            byMethod.put(method, spec);
        }
        int highest = 0;
        for (MethodSpec spec : byId.values()) {
            highest = Math.max(highest, spec.id);
        }
        if (highest <= MAX_INDEXED_ID) {
            byIndex = new MethodSpec[highest + 1];
            for (MethodSpec spec : byId.values()) {
                byIndex[spec.id] = spec;
            }
        } else {
            byIndex = null;
        }
    }

    /** Method ids up to this are looked up by index (each incoming call looks its method up). */
    private static final int MAX_INDEXED_ID = 1024;
    /** The specs by method id, when every id is at most {@link #MAX_INDEXED_ID}; else null (then {@link #byId}). */
    private final MethodSpec[] byIndex;

    private MethodSpec spec(java.lang.reflect.Method method) {
        String where = type.getName() + "." + method.getName();
        Method annotation = method.getAnnotation(Method.class);
        if (annotation == null) {
            throw new IllegalArgumentException(where + " has no @Method(id)");
        }
        if (annotation.value() < 1 || annotation.value() > 0xFFFF) {
            throw new IllegalArgumentException(where + ": @Method ids are 1 to 65535");
        }
        Type[] parameters = method.getGenericParameterTypes();
        Class<?> last = parameters.length > 0 ? rawClass(parameters[parameters.length - 1]) : null;
        boolean stream = last == StreamSink.class;
        boolean callback = last == ResultSink.class;
        int arguments = parameters.length - (stream || callback ? 1 : 0);
        if (arguments > 1) {
            throw new IllegalArgumentException(where + " takes " + arguments
                    + " arguments; a cap method takes at most one (put several values in one message)");
        }
        Codec argument = arguments == 0 ? Codecs.NONE : callback ? viewing(parameters[0], where)
                : Codecs.forType(parameters[0], where);
        Type returned = method.getGenericReturnType();
        MethodSpec.Kind kind;
        Codec result;
        if (stream) {
            if (returned != void.class) {
                throw new IllegalArgumentException(where + " streams its results through its StreamSink, so it "
                        + "must return void");
            }
            if (annotation.nonBlocking()) {
                throw new IllegalArgumentException(where + " streams, and a stream waits for credit, so it cannot"
                        + " be nonBlocking");
            }
            kind = MethodSpec.Kind.STREAM;
            result = Codecs.forType(typeArgument(parameters[parameters.length - 1], where), where);
        } else if (callback) {
            if (returned != void.class) {
                throw new IllegalArgumentException(where + " answers through its ResultSink, so it must return void");
            }
            kind = MethodSpec.Kind.CALLBACK;
            result = viewing(typeArgument(parameters[parameters.length - 1], where), where);
        } else if (rawClass(returned) == CompletableFuture.class) {
            kind = MethodSpec.Kind.ASYNC;
            result = Codecs.forType(typeArgument(returned, where), where);
        } else {
            kind = MethodSpec.Kind.UNARY;
            result = Codecs.forType(returned, where);
        }
        return new MethodSpec(annotation.value(), byId.size(), method.getName(), kind, annotation.nonBlocking(),
                arguments == 1, argument, result, invoker(method, arguments, stream || callback));
    }

    /** In the callback form a {@code DirectBuffer} is decoded as a view (see {@link ResultSink}). */
    private static Codec viewing(Type type, String where) {
        return type == org.agrona.DirectBuffer.class ? Codecs.DIRECT_BUFFER_VIEW : Codecs.forType(type, where);
    }

    /** {@code (impl, argument, sink) -> result} whatever the method's own shape (see {@link MethodSpec.Invoker}). */
    private static MethodSpec.Invoker invoker(java.lang.reflect.Method method, int arguments, boolean sink) {
        MethodHandle handle;
        try {
            method.setAccessible(true); // the interface may be package-private in the user's own package
            handle = MethodHandles.lookup().unreflect(method);
        } catch (IllegalAccessException | RuntimeException e) {
            throw new IllegalArgumentException("cannot serve " + method + ": " + e.getMessage(), e);
        }
        if (directlyCallable(method)) {
            try {
                return generated(handle, arguments, sink, method.getReturnType() == void.class);
            } catch (Throwable e) {
                // Not expected for a public interface; the method handle below serves it all the same.
            }
        }
        if (arguments == 0) {
            handle = MethodHandles.dropArguments(handle, 1, Object.class);
        }
        if (!sink) {
            handle = MethodHandles.dropArguments(handle, 2, Object.class);
        }
        MethodHandle invoker = handle.asType(INVOKER);
        return (implementation, argument, sinkOrNull) -> (Object) invoker.invokeExact(implementation, argument,
                sinkOrNull);
    }

    /**
     * True when a class defined beside this one may call {@code method} directly: its interface public (and any
     * class it is nested in), and it and every type in its signature the very classes this class loader finds.
     */
    private static boolean directlyCallable(java.lang.reflect.Method method) {
        for (Class<?> c = method.getDeclaringClass(); c != null; c = c.getEnclosingClass()) {
            if (!Modifier.isPublic(c.getModifiers())) {
                return false;
            }
        }
        java.util.List<Class<?>> types = new java.util.ArrayList<>(java.util.List.of(method.getParameterTypes()));
        types.add(method.getReturnType());
        types.add(method.getDeclaringClass());
        for (Class<?> c : types) {
            while (c.isArray()) {
                c = c.getComponentType();
            }
            if (c.isPrimitive()) {
                continue;
            }
            try {
                if (Class.forName(c.getName(), false, CapabilityType.class.getClassLoader()) != c) {
                    return false;
                }
            } catch (ClassNotFoundException | LinkageError e) {
                return false;
            }
        }
        return true;
    }

    private static MethodSpec.Invoker generated(MethodHandle method, int arguments, boolean sink, boolean isVoid)
            throws Throwable {
        Class<?> shape;
        if (sink) {
            shape = arguments == 0 ? MethodSpec.Sink0.class : MethodSpec.Sink1.class;
        } else if (isVoid) {
            shape = arguments == 0 ? MethodSpec.Void0.class : MethodSpec.Void1.class;
        } else {
            shape = arguments == 0 ? MethodSpec.Returns0.class : MethodSpec.Returns1.class;
        }
        int parameters = method.type().parameterCount();
        MethodType erased = MethodType.genericMethodType(parameters).changeReturnType(
                sink || isVoid ? void.class : Object.class);
        Object call = LambdaMetafactory.metafactory(MethodHandles.lookup(), "call", MethodType.methodType(shape),
                erased, method, method.type()).getTarget().invoke();
        if (shape == MethodSpec.Returns0.class) {
            MethodSpec.Returns0 f = (MethodSpec.Returns0) call;
            return (implementation, argument, sinkOrNull) -> f.call(implementation);
        }
        if (shape == MethodSpec.Returns1.class) {
            MethodSpec.Returns1 f = (MethodSpec.Returns1) call;
            return (implementation, argument, sinkOrNull) -> f.call(implementation, argument);
        }
        if (shape == MethodSpec.Void0.class) {
            MethodSpec.Void0 f = (MethodSpec.Void0) call;
            return (implementation, argument, sinkOrNull) -> {
                f.call(implementation);
                return null;
            };
        }
        if (shape == MethodSpec.Void1.class) {
            MethodSpec.Void1 f = (MethodSpec.Void1) call;
            return (implementation, argument, sinkOrNull) -> {
                f.call(implementation, argument);
                return null;
            };
        }
        if (shape == MethodSpec.Sink0.class) {
            MethodSpec.Sink0 f = (MethodSpec.Sink0) call;
            return (implementation, argument, sinkOrNull) -> {
                f.call(implementation, sinkOrNull);
                return null;
            };
        }
        MethodSpec.Sink1 f = (MethodSpec.Sink1) call;
        return (implementation, argument, sinkOrNull) -> {
            f.call(implementation, argument, sinkOrNull);
            return null;
        };
    }

    private static Class<?> rawClass(Type type) {
        if (type instanceof Class) {
            return (Class<?>) type;
        }
        return type instanceof ParameterizedType ? (Class<?>) ((ParameterizedType) type).getRawType() : null;
    }

    private static Type typeArgument(Type type, String where) {
        if (!(type instanceof ParameterizedType)) {
            throw new IllegalArgumentException(where + ": " + type.getTypeName() + " needs its type argument");
        }
        return ((ParameterizedType) type).getActualTypeArguments()[0];
    }

    Class<T> type() {
        return type;
    }

    String name() {
        return name;
    }

    Version version() {
        return version;
    }

    /** Null when the interface has no method with this id. */
    /** How many methods Capwire carries; their {@link MethodSpec#ordinal}s are 0 to this less one. */
    int methodCount() {
        return byId.size();
    }

    MethodSpec method(int id) {
        MethodSpec[] index = byIndex;
        if (index != null) {
            return id >= 0 && id < index.length ? index[id] : null;
        }
        return byId.get(id);
    }

    /**
     * Null for a method Capwire does not carry (one of Object's, a default method). A proxy class passes the
     * same {@code Method} object for a method every time, so that object is looked up by identity first, in
     * a small array: a few reference comparisons instead of {@code Method.equals}, which compares names and
     * parameter arrays. The first call with a new object goes to the map and adds it.
     */
    MethodSpec method(java.lang.reflect.Method method) {
        Seen seen = this.seen;
        for (int i = 0; i < seen.methods.length; i++) {
            if (seen.methods[i] == method) {
                return seen.specs[i];
            }
        }
        return firstSeen(method, seen);
    }

    /** Apart from {@link #method}, so that the per-call search stays small enough to inline into the proxy. */
    private MethodSpec firstSeen(java.lang.reflect.Method method, Seen seen) {
        MethodSpec spec = byMethod.get(method);
        if (spec != null && seen.methods.length < MAX_SEEN) {
            synchronized (byMethod) {
                Seen now = this.seen;
                if (now.methods.length >= MAX_SEEN || java.util.Arrays.asList(now.methods).contains(method)) {
                    return spec; // another thread added it (contains compares with equals: the same method)
                }
                java.lang.reflect.Method[] methods = java.util.Arrays.copyOf(now.methods, now.methods.length + 1);
                MethodSpec[] specs = java.util.Arrays.copyOf(now.specs, now.specs.length + 1);
                methods[methods.length - 1] = method;
                specs[specs.length - 1] = spec;
                this.seen = new Seen(methods, specs);
            }
        }
        return spec;
    }

    /** The {@code Method} objects met so far and their specs, replaced whole (never changed) when one is added. */
    private static final class Seen {
        final java.lang.reflect.Method[] methods;
        final MethodSpec[] specs;

        Seen(java.lang.reflect.Method[] methods, MethodSpec[] specs) {
            this.methods = methods;
            this.specs = specs;
        }
    }

    /** Past this many, further {@code Method} objects are looked up in the map only (a proxy class per loader). */
    private static final int MAX_SEEN = 64;
    private volatile Seen seen = new Seen(new java.lang.reflect.Method[0], new MethodSpec[0]);

    int[] methodIds() {
        return byId.keySet().stream().mapToInt(Integer::intValue).sorted().toArray();
    }

    @Override
    public String toString() {
        return name + " " + version + " (" + type.getName() + ")";
    }
}
