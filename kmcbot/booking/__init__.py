"""Booking rules (pure) and their PostgreSQL side."""
