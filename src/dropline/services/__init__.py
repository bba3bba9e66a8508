"""Use cases, one subpackage per capability; ``ports.py`` holds the protocols adapters implement."""
