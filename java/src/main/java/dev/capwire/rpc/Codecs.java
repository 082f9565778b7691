package dev.capwire.rpc;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import dev.capwire.bindings.FileDescriptor;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

/** The codec for each type a cap method may take or return; see docs/rpc-protocol.md, "Content encodings". */
final class Codecs {
    private Codecs() {
    }

    /** No value: {@code void}, or a method without an argument. */
    static final Codec NONE = new Codec() {
        @Override
        public void encode(Object value, Outgoing out) {
        }

        @Override
        public Object decode(Incoming in) {
            return null;
        }
    };

    static final Codec BYTES = new Codec() {
        @Override
        public void encode(Object value, Outgoing out) {
            out.putContent((byte[]) value);
        }

        @Override
        public Object decode(Incoming in) {
            return in.contentBytes();
        }
    };

    static final Codec STRING = new Codec() {
        @Override
        public void encode(Object value, Outgoing out) {
            out.putContentString((String) value);
        }

        @Override
        public Object decode(Incoming in) {
            return new String(in.contentBytes(), StandardCharsets.UTF_8);
        }
    };

    /** Decoded into a buffer of its own, since the receive buffer is reused once the call is dispatched. */
    static final Codec DIRECT_BUFFER = new Codec() {
        @Override
        public void encode(Object value, Outgoing out) {
            DirectBuffer buffer = (DirectBuffer) value;
            out.putContent(buffer, 0, buffer.capacity());
        }

        @Override
        public Object decode(Incoming in) {
            return new UnsafeBuffer(in.contentBytes());
        }
    };

    /**
     * A {@code DirectBuffer} in the callback form ({@link ResultSink}): decoded as a view of the received message,
     * valid while the handler or the result's sink runs; no copy, no buffer per call.
     */
    static final Codec DIRECT_BUFFER_VIEW = new Codec() {
        @Override
        public void encode(Object value, Outgoing out) {
            DIRECT_BUFFER.encode(value, out);
        }

        @Override
        public Object decode(Incoming in) {
            return in.contentView();
        }
    };

    static final Codec FD = new Codec() {
        @Override
        public void encode(Object value, Outgoing out) {
            out.addFd((FileDescriptor) value);
        }

        @Override
        public Object decode(Incoming in) {
            return in.takeFd();
        }
    };

    /** The codec for a declared type, or IllegalArgumentException naming what is not supported. */
    static Codec forType(Type type, String where) {
        if (type == void.class || type == Void.class) {
            return NONE;
        }
        if (type == byte[].class) {
            return BYTES;
        }
        if (type == String.class) {
            return STRING;
        }
        if (type == DirectBuffer.class) {
            return DIRECT_BUFFER;
        }
        if (type == FileDescriptor.class) {
            return FD;
        }
        if (type instanceof Class && MessageLite.class.isAssignableFrom((Class<?>) type)) {
            return new Protobuf(parserOf((Class<?>) type, where));
        }
        if (type instanceof Class && ((Class<?>) type).isAnnotationPresent(Capability.class)) {
            return new Cap(CapabilityType.of((Class<?>) type));
        }
        if (type instanceof ParameterizedType) {
            ParameterizedType generic = (ParameterizedType) type;
            Type[] args = generic.getActualTypeArguments();
            if (generic.getRawType() == List.class && isCap(args[0])) {
                return new CapList(CapabilityType.of((Class<?>) args[0]));
            }
            if (generic.getRawType() == Map.class && args[0] == String.class && isCap(args[1])) {
                return new CapMap(CapabilityType.of((Class<?>) args[1]));
            }
        }
        throw new IllegalArgumentException(where + ": " + type.getTypeName() + " is not a type a cap method can "
                + "carry (a protobuf message, byte[], String, DirectBuffer, FileDescriptor, a @Capability interface, or a "
                + "List or Map<String, ...> of one)");
    }

    private static boolean isCap(Type type) {
        return type instanceof Class && ((Class<?>) type).isAnnotationPresent(Capability.class);
    }

    private static Parser<?> parserOf(Class<?> message, String where) {
        try {
            return (Parser<?>) message.getMethod("parser").invoke(null);
        } catch (ReflectiveOperationException | ClassCastException e) {
            throw new IllegalArgumentException(where + ": " + message.getName()
                    + " has no static parser() method; use a class generated by protoc", e);
        }
    }

    private static final class Protobuf implements Codec {
        private final Parser<?> parser;

        Protobuf(Parser<?> parser) {
            this.parser = parser;
        }

        @Override
        public void encode(Object value, Outgoing out) {
            out.putContent((MessageLite) value);
        }

        @Override
        public Object decode(Incoming in) {
            try {
                return in.parse(parser);
            } catch (InvalidProtocolBufferException e) {
                throw new MalformedException("the content is not a valid protobuf message: " + e.getMessage(), e);
            }
        }
    }

    private static final class Cap implements Codec {
        private final CapabilityType<?> type;

        Cap(CapabilityType<?> type) {
            this.type = type;
        }

        @Override
        public void encode(Object value, Outgoing out) {
            out.addCap(value, type);
        }

        @Override
        public Object decode(Incoming in) {
            return in.takeCap(type);
        }
    }

    private static final class CapList implements Codec {
        private final CapabilityType<?> type;

        CapList(CapabilityType<?> type) {
            this.type = type;
        }

        @Override
        public void encode(Object value, Outgoing out) {
            for (Object cap : (List<?>) value) {
                out.addCap(cap, type);
            }
        }

        @Override
        public Object decode(Incoming in) {
            List<Object> caps = new ArrayList<>(in.capsLeft());
            while (in.capsLeft() > 0) {
                caps.add(in.takeCap(type));
            }
            return caps;
        }
    }

    private static final class CapMap implements Codec {
        private final CapabilityType<?> type;

        CapMap(CapabilityType<?> type) {
            this.type = type;
        }

        @Override
        public void encode(Object value, Outgoing out) {
            for (Map.Entry<?, ?> entry : ((Map<?, ?>) value).entrySet()) {
                byte[] key = ((String) entry.getKey()).getBytes(StandardCharsets.UTF_8);
                if (key.length > 0xFFFF) {
                    throw new IllegalArgumentException("a map key longer than 65535 bytes");
                }
                out.putContentShort(key.length);
                out.putContent(key);
                out.addCap(entry.getValue(), type);
            }
        }

        @Override
        public Object decode(Incoming in) {
            Map<String, Object> caps = new LinkedHashMap<>();
            while (in.capsLeft() > 0) {
                String key = in.contentString(in.contentShort());
                if (caps.put(key, in.takeCap(type)) != null) {
                    throw new MalformedException("the map key " + key + " appears twice");
                }
            }
            in.requireContentConsumed();
            return caps;
        }
    }
}
