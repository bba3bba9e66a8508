"""dropline: a live-commerce drop from the stream to the shipment."""
