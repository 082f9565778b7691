package dev.capwire.rpc;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks an interface as a capability: something one process hosts and another calls through Capwire. The
 * name is what peers bootstrap it by; the version (Semantic Versioning {@code MAJOR.MINOR.PATCH}) is what they
 * check: a client built against 1.2.0 gets a cap served at 1.2.0 or 1.5.0, never at 1.1.0 or 2.0.0. Every
 * abstract method carries {@link Method}; see {@link Rpc} for the argument and result types it may use.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
public @interface Capability {
    /** {@code [A-Za-z][A-Za-z0-9._-]{0,127}}, unique among what one side serves. */
    String name();

    String version();
}
