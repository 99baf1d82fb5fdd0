"""
The sync engine: one pass of one source from its checkpoint to the PIM and back to the store.

It reaches the PIM, the DAM and the store only through the Protocols in :mod:`daemon.engine.seams`,
and never imports the service, the CLI or the settings.
"""
