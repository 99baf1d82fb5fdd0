"""
Simulators of the Akeneo PIM and of DAMs, as ASGI apps.

They are product features (demo, users' dry runs of their mappings) and the test oracle. They
follow the written references in ``docs/``/``shared/reference``, never the client code: nothing
here imports ``daemon.pim`` or ``daemon.sources``, and they import nothing from here.
"""
