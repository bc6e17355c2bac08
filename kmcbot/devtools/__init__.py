"""Tools for people trying or testing kmcbot.

The embedded servers, the terminal chat, seed and demo data, the Graph API
stand-in and the load generator.
"""
