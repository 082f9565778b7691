package dev.capwire.bench;

import java.util.List;

/**
 * The JVM flags every process that loads Capwire needs: Agrona reaches the JDK's internal Unsafe, and Java
 * 24+ warns on JNI without native access enabled. They are compile-time constants so JMH's {@code @Fork}
 * annotations can name them; {@link #all()} gives the same flags to child processes.
 */
public final class JvmFlags {
    public static final String ADD_OPENS = "--add-opens";
    public static final String OPENS_INTERNAL_MISC = "java.base/jdk.internal.misc=ALL-UNNAMED";
    public static final String ENABLE_NATIVE_ACCESS = "--enable-native-access=ALL-UNNAMED";

    private JvmFlags() {
    }

    public static List<String> all() {
        return List.of(ADD_OPENS, OPENS_INTERNAL_MISC, ENABLE_NATIVE_ACCESS);
    }
}
