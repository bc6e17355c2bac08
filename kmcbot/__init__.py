"""kmcbot: a WhatsApp bot for booking the second COVID-19 vaccine dose in Kolkata."""
