"""Replies and news on their way to WhatsApp.

The outbox streams and their sender, and the relay of PostgreSQL news.
"""
