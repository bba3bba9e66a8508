"""After-sales: cancellations, returns and refunds."""
