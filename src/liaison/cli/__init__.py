"""The ``liaison`` command line (Typer and Rich): commands by subject that talk to a node
over its HTTP API, the commands that set up and start a node (through ``node``), and the
demo.

The outermost layer: it may import any package, and nothing imports it.
"""
