"""The waitlist: citizens who found no place wait in a fair order, and places that appear are offered to them."""
