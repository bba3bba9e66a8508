"""The ``dropline worker`` process: background jobs beside the API processes."""
