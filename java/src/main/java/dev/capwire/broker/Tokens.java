package dev.capwire.broker;

import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The hand-off tokens in flight: each is 16 random bytes, issued for one client connection, one service and
 * one backend, and taken at most once, by whichever comes first of its acknowledgement and its expiry. Spent
 * tokens are remembered for a while so that a late or replayed acknowledgement is told why it is refused.
 */
final class Tokens<T> {
    static final int LENGTH = 16;
    /** How many spent tokens are remembered for their refusal reason; older ones are just "unknown". */
    private static final int REMEMBERED = 1024;

    private final SecureRandom random = new SecureRandom();
    private final ConcurrentHashMap<ByteBuffer, T> pending = new ConcurrentHashMap<>();
    private final Map<ByteBuffer, String> spent = new LinkedHashMap<>(16, 0.75f, false) {
        private static final long serialVersionUID = 1L;

        @Override
        protected boolean removeEldestEntry(Map.Entry<ByteBuffer, String> eldest) {
            return size() > REMEMBERED;
        }
    };

    byte[] issue() {
        byte[] token = new byte[LENGTH];
        random.nextBytes(token);
        return token;
    }

    void hold(byte[] token, T handoff) {
        pending.put(ByteBuffer.wrap(token.clone()), handoff);
    }

    /** The hand-off of {@code token} when it is still pending, without taking it. */
    T peek(byte[] token) {
        return pending.get(ByteBuffer.wrap(token));
    }

    /** Takes {@code token} if it is still {@code handoff}'s; false when something else took it first. */
    boolean take(byte[] token, T handoff, String spentAs) {
        ByteBuffer key = ByteBuffer.wrap(token.clone());
        if (!pending.remove(key, handoff)) {
            return false;
        }
        synchronized (spent) {
            spent.put(key, spentAs);
        }
        return true;
    }

    /** Why a token that is not pending is refused. */
    String whyNotPending(byte[] token) {
        synchronized (spent) {
            String how = spent.get(ByteBuffer.wrap(token));
            return how != null ? "token already " + how : "unknown token";
        }
    }

    int pendingCount() {
        return pending.size();
    }

    Iterable<T> pendingHandoffs() {
        return pending.values();
    }
}
