"""The WhatsApp Cloud API edge: webhook signatures, inbound payloads, outbound bodies."""
