"""Adapters: everything that talks to the outside (databases, the command line)."""
