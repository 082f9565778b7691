package dev.capwire.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;
import org.agrona.BufferUtil;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(LeakCheck.class)
class ErrnoTest {
    @Test
    void theLoadedLibraryHasTheAbiOfTheseBindings() {
        assertEquals(Native.ABI_VERSION, Native.abiVersion());
    }

    @Test
    void everyErrnoConstantHasANameThatMapsBackToItself() throws IllegalAccessException {
        int constants = 0;
        for (Field field : Errno.class.getFields()) {
            if (field.getType() != int.class || !Modifier.isStatic(field.getModifiers())) {
                continue;
            }
            int value = field.getInt(null);
            assertTrue(value > 0, field.getName() + " = " + value);
            assertEquals(field.getName(), Errno.name(value));
            assertEquals(value, Errno.value(field.getName()));
            constants++;
        }
        assertEquals(16, constants, "a new constant needs no test change, but this one must see them all");
    }

    @Test
    void everyEntryOfTheNativeTableIsAUniqueSymbolThatMapsToItsValue() {
        ByteBuffer name = ByteBuffer.allocateDirect(64);
        Set<String> seen = new HashSet<>();
        int index = 0;
        for (int value; (value = Native.errnoSymbol(index, BufferUtil.address(name), name.capacity())) >= 0; index++) {
            String symbol = cString(name);
            assertTrue(symbol.matches("E[A-Z0-9]+"), symbol);
            assertTrue(seen.add(symbol), "listed twice: " + symbol);
            assertEquals(value, Errno.value(symbol));
            assertEquals(value, Errno.value(Errno.name(value)), "the name " + Errno.name(value) + " of " + symbol);
        }
        assertTrue(index > 40, "the table ended early, at " + index);
        assertEquals(-Errno.EINVAL, Native.errnoSymbol(index, BufferUtil.address(name), name.capacity()));
        assertEquals(-Errno.value("ENAMETOOLONG"), Native.errnoSymbol(0, BufferUtil.address(name), 2),
                "a name buffer too small is refused, not overrun");
    }

    @Test
    void unknownNumbersAndSymbolsAreReportedAsSuch() {
        assertEquals("errno 9999", Errno.name(9999));
        assertEquals("EPIPE", Errno.name(-Errno.EPIPE), "a -errno result names the same errno");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Errno.value("ENOSUCH"));
        assertTrue(e.getMessage().contains("ENOSUCH"), e.getMessage());
    }

    private static String cString(ByteBuffer buffer) {
        int length = 0;
        while (buffer.get(length) != 0) {
            length++;
        }
        byte[] bytes = new byte[length];
        buffer.get(0, bytes);
        return new String(bytes, StandardCharsets.US_ASCII);
    }
}
