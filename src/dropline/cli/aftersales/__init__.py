"""After-sales commands: cancel orders, returns and refunds."""
