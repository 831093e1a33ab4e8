"""Support for the acceptance suite: the repository's connectors, how to run them, and protocol checks."""
