package dev.capwire.rpc;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * A method of a {@link Capability}, with the id it has on the wire. Ids are the interface's contract with
 * its peers: keep them when renaming a method, and never give a removed method's id to a new one.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
public @interface Method {
    /** 1 to 65535, unique within the interface. */
    int value();

    /**
     * The implementation never blocks and returns quickly, so it may run on the event loop that received the
     * call, saving the hand-over to a handler thread. A method so marked that blocks stalls every connection of
     * that loop; calls it makes itself must be asynchronous.
     */
    boolean nonBlocking() default false;
}
