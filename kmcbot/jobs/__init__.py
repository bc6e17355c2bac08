"""Background jobs: the periodic loop, reminders, the sweep of missed bookings and the purge."""
