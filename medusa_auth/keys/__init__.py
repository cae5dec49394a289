"""Key material and key sets; nothing here knows about Flask requests."""
