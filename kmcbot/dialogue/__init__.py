"""The pure core: the conversation as a function of session, event and context."""
