"""Where state is kept: the PostgreSQL pool and migrations, the Redis pipe and the session store."""
