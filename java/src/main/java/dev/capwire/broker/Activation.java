package dev.capwire.broker;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A service a broker starts on demand: the command that launches its backend (which then registers the
 * service, e.g. through {@link BrokerBackend}), the environment and working directory it runs with, and the file
 * its stdout and stderr go to. The broker keeps the backend's stdin open and closes it when it stops, so a
 * backend may take its end of stdin as the broker's end.
 */
public final class Activation {
    private final String service;
    private final String version;
    private final List<String> command;
    private final Map<String, String> environment;
    private final Path workingDirectory;
    private final Path log;

    private Activation(Builder b) {
        if (b.command.isEmpty()) {
            throw new IllegalArgumentException("an activation needs a command");
        }
        this.service = b.service;
        this.version = b.version;
        this.command = List.copyOf(b.command);
        this.environment = Map.copyOf(b.environment);
        this.workingDirectory = b.workingDirectory;
        this.log = b.log;
    }

    /**
     * {@code version}: the version the backend will register, which clients' Hellos are checked against before
     * it runs (so an unchecked client cannot make the broker start anything).
     */
    public static Builder builder(String service, String version, List<String> command) {
        return new Builder(service, version, command);
    }

    public String service() {
        return service;
    }

    public String version() {
        return version;
    }

    public List<String> command() {
        return command;
    }

    public Map<String, String> environment() {
        return environment;
    }

    /** Null: the broker's own. */
    public Path workingDirectory() {
        return workingDirectory;
    }

    /** Null: the output is discarded. */
    public Path log() {
        return log;
    }

    public static final class Builder {
        private final String service;
        private final String version;
        private final List<String> command;
        private final Map<String, String> environment = new LinkedHashMap<>();
        private Path workingDirectory;
        private Path log;

        private Builder(String service, String version, List<String> command) {
            this.service = service;
            this.version = version;
            this.command = command;
        }

        /** Added to (or replacing in) the broker's own environment. */
        public Builder environment(String name, String value) {
            environment.put(name, value);
            return this;
        }

        public Builder workingDirectory(Path value) {
            workingDirectory = value;
            return this;
        }

        /** Where the backend's stdout and stderr are appended. */
        public Builder log(Path value) {
            log = value;
            return this;
        }

        public Activation build() {
            return new Activation(this);
        }
    }
}
