package dev.capwire.rpc;

/** A cap served by name: its interface, the object that implements it and who may bootstrap it. */
final class Served {
    final CapabilityType<?> type;
    final Object implementation;
    final CapPolicy policy;

    Served(CapabilityType<?> type, Object implementation, CapPolicy policy) {
        this.type = type;
        this.implementation = implementation;
        this.policy = policy;
    }

    @Override
    public String toString() {
        return type.toString();
    }
}
