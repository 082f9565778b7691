package dev.capwire.rpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;

/**
 * A thread reuses one {@link Outgoing}, but never while it is still encoding a message into it, and a connection's
 * {@link Outgoing.Shortcut} never hands one thread's to another.
 */
class OutgoingReuseTest {
    private static final Outgoing.CapExporter NO_CAPS = new Outgoing.CapExporter() {
        @Override
        public int descriptorFor(Object cap, CapabilityType<?> type) {
            throw new AssertionError("no caps here");
        }

        @Override
        public void unexport(int descriptor) {
        }
    };

    @Test
    void aMessageTakenWhileAnotherIsOpenGetsItsOwnBuffer() {
        Outgoing outer = Outgoing.take(NO_CAPS);
        outer.putContent(new byte[] {1, 2, 3});
        Outgoing inner = Outgoing.take(NO_CAPS); // a codec that sends while it encodes
        assertNotSame(outer, inner);
        inner.putContent(new byte[] {9, 9, 9, 9});
        UnsafeBuffer innerPayload = inner.answer();
        assertEquals(4 + 4, innerPayload.capacity());
        inner.recycle();
        UnsafeBuffer outerPayload = outer.answer();
        assertEquals(4 + 3, outerPayload.capacity());
        assertEquals(1, outerPayload.getByte(4));
        assertEquals(3, outerPayload.getByte(6));
        outer.recycle();
        assertSame(outer, Outgoing.take(NO_CAPS), "the thread's own is reused once recycled");
    }

    @Test
    void aRecycledMessageStartsEmpty() {
        Outgoing first = Outgoing.take(NO_CAPS);
        first.putContent(new byte[200_000]); // grows past what a thread keeps
        first.recycle();
        Outgoing next = Outgoing.take(NO_CAPS);
        next.putContent(new byte[] {5});
        UnsafeBuffer payload = next.answer();
        assertEquals(4 + 1, payload.capacity());
        assertEquals(5, payload.getByte(4));
        next.recycle();
    }

    /**
     * An export refused (the exporter's maxCaps) while encoding must leave nothing to give back: abandoning that
     * message once released the cap the thread's previous message had carried, whose descriptor was still in
     * the reused array.
     */
    @Test
    void anExportRefusedMidMessageGivesBackNothingOfTheMessageBefore() {
        java.util.List<Integer> givenBack = new java.util.ArrayList<>();
        int[] exported = {0};
        Outgoing.CapExporter oneThenFull = new Outgoing.CapExporter() {
            @Override
            public int descriptorFor(Object cap, CapabilityType<?> type) {
                if (exported[0]++ > 0) {
                    throw new IllegalStateException("maxCaps");
                }
                return 7;
            }

            @Override
            public void unexport(int descriptor) {
                givenBack.add(descriptor);
            }
        };
        Throwable[] failed = new Throwable[1];
        Thread fresh = new Thread(() -> { // a thread of its own: its Outgoing is free, and reused
            try {
                Outgoing first = Outgoing.take(oneThenFull);
                first.addCap(new CappedImpl(), CapabilityType.of(Capped.class));
                assertEquals(1, first.capCount());
                first.recycle(); // sent: the peer holds export 7 now
                Outgoing second = Outgoing.take(oneThenFull);
                assertSame(first, second, "the thread's own, reused");
                org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                        () -> second.addCap(new CappedImpl(), CapabilityType.of(Capped.class)));
                assertEquals(0, second.capCount());
                second.abandon();
                second.recycle();
            } catch (Throwable e) {
                failed[0] = e;
            }
        });
        fresh.start();
        try {
            fresh.join(10_000);
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
        assertEquals(null, failed[0]);
        assertEquals(java.util.List.of(), givenBack, "export 7 belongs to the message already sent");
    }

    @Capability(name = "capped", version = "1.0.0")
    interface Capped {
        @Method(1)
        byte[] get();
    }

    static final class CappedImpl implements Capped {
        @Override
        public byte[] get() {
            return new byte[0];
        }
    }

    @Test
    void theShortcutHandsEachThreadItsOwnAndNeverOneInUse() throws Exception {
        Outgoing.Shortcut shortcut = new Outgoing.Shortcut();
        Outgoing mine = shortcut.take(NO_CAPS);
        Outgoing nested = shortcut.take(NO_CAPS); // taken while the first is in use
        assertNotSame(mine, nested);
        nested.recycle();
        mine.recycle();
        assertSame(nested, shortcut.take(NO_CAPS), "the last one taken here, recycled, is taken again");
        nested.recycle();

        Outgoing[] theirs = new Outgoing[1];
        Thread other = new Thread(() -> {
            theirs[0] = shortcut.take(NO_CAPS);
            theirs[0].recycle();
        });
        other.start();
        other.join();
        assertNotSame(theirs[0], mine, "another thread gets its own");
        assertNotSame(theirs[0], nested);
        Outgoing again = shortcut.take(NO_CAPS); // the shortcut now points at the other thread's
        assertNotSame(theirs[0], again);
        again.recycle();
        Outgoing last = shortcut.take(NO_CAPS);
        last.recycle(); // before the assertion: this thread's own must be free for the tests after this one
        assertSame(again, last, "and this thread's own is the shortcut again");
    }
}
