"""mixbridge bridge."""
