"""Load against real `roster serve` processes: the soak run (soak.soak) and the helpers it shares
with the two-server tests (soak.servers: server processes, a counting SMTP server)."""
