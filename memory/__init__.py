"""mixbridge memory."""
