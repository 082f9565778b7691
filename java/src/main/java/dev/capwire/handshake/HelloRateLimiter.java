package dev.capwire.handshake;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * A token bucket per peer: {@code perSecond} Hellos a second, with bursts of as many. Each peer has its own
 * bucket, so a noisy peer spends only its own tokens and costs others one hash lookup. Buckets that have
 * refilled are forgotten once many peers are tracked, which bounds the memory a pid-cycling flood can take.
 */
final class HelloRateLimiter {
    private static final int SWEEP_ABOVE = 4096;

    private final double perSecond;
    private final ConcurrentHashMap<Object, Bucket> buckets = new ConcurrentHashMap<>();

    HelloRateLimiter(int perSecond) {
        if (perSecond < 1) {
            throw new IllegalArgumentException("the Hello rate limit must be at least 1 per second: " + perSecond);
        }
        this.perSecond = perSecond;
    }

    /** 0 when the peer may go ahead (a token is taken), else the milliseconds until its next token. */
    long tryAcquire(Object peer, long nowNanos) {
        if (buckets.size() > SWEEP_ABOVE) {
            buckets.values().removeIf(bucket -> bucket.isFull(nowNanos));
        }
        return buckets.computeIfAbsent(peer, key -> new Bucket(nowNanos)).tryTake(nowNanos);
    }

    int trackedPeers() {
        return buckets.size();
    }

    private final class Bucket {
        private double tokens = perSecond;
        private long updatedNanos;

        Bucket(long nowNanos) {
            updatedNanos = nowNanos;
        }

        synchronized long tryTake(long nowNanos) {
            refill(nowNanos);
            if (tokens >= 1) {
                tokens -= 1;
                return 0;
            }
            double secondsToNext = (1 - tokens) / perSecond;
            return Math.max(1, (long) Math.ceil(TimeUnit.SECONDS.toMillis(1) * secondsToNext));
        }

        synchronized boolean isFull(long nowNanos) {
            refill(nowNanos);
            return tokens >= perSecond;
        }

        private void refill(long nowNanos) {
            long elapsed = nowNanos - updatedNanos;
            if (elapsed > 0) {
                tokens = Math.min(perSecond, tokens + elapsed * perSecond / TimeUnit.SECONDS.toNanos(1));
                updatedNanos = nowNanos;
            }
        }
    }
}
