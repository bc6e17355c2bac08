"""What operators see of what citizens experience: business events, delivery, the funnel."""
