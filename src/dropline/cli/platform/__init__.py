"""Platform commands: the database, the server and worker, API keys, the demo."""
