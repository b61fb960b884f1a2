"""mixbridge rt."""
