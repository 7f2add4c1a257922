"""Thin AWS adapters of the sync: the client factory, the Organizations and StackSet readers, the executor,
the management stack and notifications. Each takes its clients as arguments and returns core records."""
