"""
Base types every part shares: the error tree, the records that cross boundaries, the config model.

Nothing here imports the rest of the project.
"""
