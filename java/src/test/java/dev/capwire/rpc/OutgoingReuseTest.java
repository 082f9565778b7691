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
