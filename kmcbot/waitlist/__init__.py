"""The waitlist: citizens who found no place wait in a fair order for places that appear."""
