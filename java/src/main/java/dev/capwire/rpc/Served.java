package dev.capwire.rpc;

/** A cap served by name: its interface, the object that implements it and who may bootstrap it. */
final class Served {
    final CapabilityType<?> type;
    final Object implementation;
    final CapPolicy policy;
    /**
     * Why it is no longer served (unserved or replaced), or null. Set before the connections are swept for its
     * exports, and read under a connection's cap-table lock before a bootstrap exports it there: so an export a bootstrap
     * makes either comes before that connection's sweep, which revokes it, or sees this and is not made.
     */
    private volatile String withdrawn;

    Served(CapabilityType<?> type, Object implementation, CapPolicy policy) {
        this.type = type;
        this.implementation = implementation;
        this.policy = policy;
    }

    void withdraw(String reason) {
        withdrawn = reason;
    }

    boolean isWithdrawn() {
        return withdrawn != null;
    }

    @Override
    public String toString() {
        return type.toString();
    }
}
