"""loadtnt.driver: an asynctnt 2.x compatible Tarantool connector (work in progress)."""
