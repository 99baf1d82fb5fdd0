"""The ``damsync`` sub-commands that drive the daemon (``run``, ``sync``, operators' tools)."""
