"""HTTP handlers: webhook, health, dev pages."""
