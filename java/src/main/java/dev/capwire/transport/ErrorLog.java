package dev.capwire.transport;

import java.time.ZoneId;
import java.time.ZonedDateTime;
import org.agrona.ErrorHandler;

/**
 * The default error handler: every failure goes to the {@code dev.capwire} {@link System.Logger} at WARNING,
 * with its stack trace. The JDK routes it to java.util.logging unless the application installs a
 * {@code System.LoggerFinder} (SLF4J's and Log4j's bridges do), so library code never prints to the console.
 */
public final class ErrorLog implements ErrorHandler {
    public static final ErrorLog INSTANCE = new ErrorLog();
    private static final System.Logger LOGGER = System.getLogger("dev.capwire");

    static {
        // The logging backend initializes on first use, reading its configuration file (and looking for
        // providers on the class path). Done now, while fds are free: the report that a process is out of fds
        // must not be the first use, or it fails for want of one and nothing is logged.
        LOGGER.isLoggable(System.Logger.Level.WARNING);
        // The JDK's default formatter stamps each record with the local time, and the first use of the time
        // zone reads /etc/localtime and the JDK's tzdb.dat. Without a free fd that throws an Error out of the
        // logger (lost, since the loop survives a failing handler) and leaves the zone classes unusable, so the
        // process never logs again. Loaded now for the same reason as above.
        ZonedDateTime.now(ZoneId.systemDefault());
    }

    private ErrorLog() {
    }

    @Override
    public void onError(Throwable error) {
        LOGGER.log(System.Logger.Level.WARNING, error.getMessage(), error);
    }
}
