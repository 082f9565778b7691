package dev.capwire.fuzz;

import java.util.Arrays;
import java.util.Random;

/**
 * The decisions a fuzz harness makes, drawn either from a fuzzer's input bytes (so Jazzer's coverage-guided
 * mutation steers them, and a finding replays from its file) or from a seeded {@link Random} (the bounded
 * randomized run in the normal test run, reproducible from its seed).
 */
public interface Choices {
    /** Whether any decision is left; a harness stops when this turns false. */
    boolean more();

    /** A value in {@code [0, bound)}; 0 once the input is used up. */
    int nextInt(int bound);

    default boolean nextBoolean() {
        return nextInt(2) == 1;
    }

    /** A value in {@code [min, max]}. */
    default int between(int min, int max) {
        return min + nextInt(max - min + 1);
    }

    /** Up to {@code n} bytes: fewer when the input ends. */
    byte[] bytes(int n);

    long nextLong();

    /** Decisions read from a fuzzer's raw input, front to back. */
    static Choices of(byte[] input) {
        return new Choices() {
            private int at;

            @Override
            public boolean more() {
                return at < input.length;
            }

            @Override
            public int nextInt(int bound) {
                if (bound <= 1) {
                    return 0;
                }
                int width = bound <= 0x100 ? 1 : bound <= 0x10000 ? 2 : 4;
                long value = 0;
                for (int i = 0; i < width && at < input.length; i++) {
                    value = value << 8 | (input[at++] & 0xFF);
                }
                return (int) (value % bound);
            }

            @Override
            public byte[] bytes(int n) {
                int count = Math.max(0, Math.min(n, input.length - at));
                byte[] taken = Arrays.copyOfRange(input, at, at + count);
                at += count;
                return taken;
            }

            @Override
            public long nextLong() {
                long value = 0;
                for (int i = 0; i < 8 && at < input.length; i++) {
                    value = value << 8 | (input[at++] & 0xFF);
                }
                return value;
            }
        };
    }

    /** {@code steps} decisions... roughly: {@link #more()} turns false after that many calls to it. */
    static Choices of(Random random, int steps) {
        return new Choices() {
            private int left = steps;

            @Override
            public boolean more() {
                return left-- > 0;
            }

            @Override
            public int nextInt(int bound) {
                return bound <= 1 ? 0 : random.nextInt(bound);
            }

            @Override
            public byte[] bytes(int n) {
                byte[] bytes = new byte[Math.max(0, n)];
                random.nextBytes(bytes);
                return bytes;
            }

            @Override
            public long nextLong() {
                return random.nextLong();
            }
        };
    }
}
