package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.Configuration;
import org.junit.jupiter.api.Test;

class TransportOptionsTest {
    @Test
    void systemPropertiesSetTheDefaultsAndBuildersOverrideThem() {
        System.setProperty(Configuration.MAX_IN_FLIGHT_PROP_NAME, "7");
        System.setProperty(Configuration.IDLE_STRATEGY_PROP_NAME, "yield");
        try {
            assertEquals(7, TransportOptions.defaults().maxInFlight());
            assertEquals("yield", TransportOptions.defaults().idleStrategy());
            assertEquals(9, TransportOptions.builder().maxInFlight(9).build().maxInFlight());
        } finally {
            System.clearProperty(Configuration.MAX_IN_FLIGHT_PROP_NAME);
            System.clearProperty(Configuration.IDLE_STRATEGY_PROP_NAME);
        }
        assertEquals(Configuration.MAX_IN_FLIGHT_DEFAULT, TransportOptions.defaults().maxInFlight());
        assertEquals(Configuration.IDLE_STRATEGY_DEFAULT, TransportOptions.defaults().idleStrategy());
    }

    @Test
    void replacingStaleSocketFilesIsOnByDefaultAndThePropertyOrTheBuilderTurnsItOff() {
        assertTrue(TransportOptions.defaults().replaceStaleSocketFile());
        assertFalse(TransportOptions.builder().replaceStaleSocketFile(false).build().replaceStaleSocketFile());
        System.setProperty(Configuration.REPLACE_STALE_SOCKET_FILE_PROP_NAME, "false");
        try {
            assertFalse(TransportOptions.defaults().replaceStaleSocketFile());
        } finally {
            System.clearProperty(Configuration.REPLACE_STALE_SOCKET_FILE_PROP_NAME);
        }
    }

    @Test
    void inconsistentSettingsAreRefusedWithTheReason() {
        IllegalArgumentException ring = assertThrows(IllegalArgumentException.class,
                () -> TransportOptions.builder().ringBytes(100_000).build());
        assertTrue(ring.getMessage().contains("power of two"), ring.getMessage());
        IllegalArgumentException small = assertThrows(IllegalArgumentException.class,
                () -> TransportOptions.builder().ringBytes(8192).build());
        assertTrue(small.getMessage().contains("at least 16384"), small.getMessage());
        IllegalArgumentException idle = assertThrows(IllegalArgumentException.class,
                () -> TransportOptions.builder().idleStrategy("no.such.Strategy").build());
        assertTrue(idle.getMessage().contains(Configuration.IDLE_STRATEGY_PROP_NAME), idle.getMessage());
        IllegalArgumentException early = assertThrows(IllegalArgumentException.class,
                () -> TransportOptions.builder().earlyWriteBytes(-1).build());
        assertTrue(early.getMessage().contains("earlyWriteBytes"), early.getMessage());
        assertEquals(Configuration.EARLY_WRITE_BYTES_DEFAULT, TransportOptions.defaults().earlyWriteBytes());
        assertEquals(0, TransportOptions.builder().earlyWriteBytes(0).build().earlyWriteBytes(), "0 turns it off");
    }
}
